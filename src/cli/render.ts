import type { OnProgress } from '../core/workspace.js';

/** Output helpers: the CLI is the only place that prints. */
export const out = (s = ""): void => void process.stdout.write(s + "\n");
export const err = (s = ""): void => void process.stderr.write(s + "\n");
export const json = (v: unknown): void => void process.stdout.write(JSON.stringify(v, null, 2) + "\n");

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function plural(n: number, word: string, many = word + 's'): string {
  return `${n} ${n === 1 ? word : many}`;
}

/**
 * A progress bar on stderr, only when stderr is a terminal (never in pipes, logs or CI).
 * Returns the callback to hand to core and a `stop` to call when the work ends.
 */
export async function progressBar(label: string, opts: { quiet?: boolean } = {}): Promise<{ onProgress?: OnProgress; stop: () => void }> {
  if (opts.quiet || !process.stderr.isTTY || process.env.CI) return { stop: () => {} };
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% {phase} {bytes}`, stream: process.stderr, hideCursor: true, clearOnComplete: true, etaBuffer: 50, fps: 10 },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    onProgress: (p) => {
      // with a byte total the bar moves with bytes (one 10 GiB file is one "file" for minutes)
      const byBytes = !!p.totalBytes;
      const total = byBytes ? p.totalBytes! : p.total;
      const value = byBytes ? Math.min(p.bytes ?? 0, total) : p.done;
      const detail = byBytes ? `${humanBytes(value)}/${humanBytes(total)}, ${p.done}/${p.total} files` : `${p.done}/${p.total}${p.bytes !== undefined ? `, ${humanBytes(p.bytes)}` : ''}`;
      if (!started) {
        bar.start(total, 0, { phase: p.phase, bytes: detail });
        started = true;
      }
      bar.setTotal(total);
      bar.update(value, { phase: p.phase, bytes: detail });
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

/**
 * The frame of a long command: the repo, a progress bar (terminal only) and an AbortSignal that
 * Ctrl-C fires, so that work in flight stops cleanly (temp files removed, nothing half-visible).
 * Everything is released whatever happens.
 */
export async function withRepoWork<T>(
  label: string,
  o: { json?: boolean },
  fn: (ctx: { repo: import('../core/repo.js').Repo; onProgress?: OnProgress; signal: AbortSignal; stopBar: () => void }) => Promise<T>,
): Promise<T> {
  const { Repo } = await import('../core/repo.js');
  const repo = await Repo.open();
  const bar = await progressBar(label, { quiet: o.json });
  const ac = new AbortController();
  const onSig = () => ac.abort();
  process.once('SIGINT', onSig);
  try {
    return await fn({ repo, onProgress: bar.onProgress, signal: ac.signal, stopBar: bar.stop });
  } finally {
    bar.stop();
    process.off('SIGINT', onSig);
    repo.close();
  }
}
