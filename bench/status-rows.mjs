/**
 * The "status after one file changed" row of bench/run.mjs (issue 9: ≤ 1.2× the unchanged status):
 * one file of the tracked folder gets other content of the same size, status is timed, the file is
 * put back and an untimed status settles the index, so that every round starts from the same state.
 * Each changed run is paired with an unchanged status timed right beside it, alternating who goes
 * first; the report gives the median of the per-pair ratios.
 */
import { readFileSync, renameSync, utimesSync, writeFileSync } from 'node:fs';

/**
 * @param {{ runs: number, file: string, status: () => { s: number, rssMb?: number } }} o
 *   `file`: a tracked file (absolute); `status`: runs `trove status` once, timed
 * @returns {{ changed: { s: number, all: number[], rssMb?: number }, unchanged: { s: number, all: number[] } }}
 */
export function oneChangeRows({ runs, file, status }) {
  const original = readFileSync(file);
  // mtime 10 s in the past: the rows recorded for it are not racy, so the settled state is the
  // unchanged one (a fresh mtime would make the next few statuses hash it again)
  const put = (bytes) => {
    writeFileSync(file + '.bench-tmp', bytes);
    renameSync(file + '.bench-tmp', file);
    const past = new Date(Date.now() - 10_000);
    utimesSync(file, past, past);
  };
  const changed = [];
  const unchanged = [];
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  let rss = 0;
  try {
    for (let i = 0; i < runs; i++) {
      const steps = [
        () => unchanged.push(status().s),
        () => {
          const other = Buffer.from(original);
          other.writeUInt32LE((other.readUInt32LE(0) ^ 0xffffffff) >>> 0, 0); // same size, other bytes
          other.writeUInt32LE(i, Math.min(4, Math.max(0, other.length - 4)));
          put(other);
          const t = status();
          changed.push(t.s);
          rss = Math.max(rss, t.rssMb ?? 0);
          put(original);
          status(); // settle: the restored file is hashed once and its row recorded
        },
      ];
      for (const step of i % 2 ? steps.reverse() : steps) step();
    }
  } finally {
    put(original);
  }
  return { changed: { s: median(changed), all: changed, rssMb: rss || undefined }, unchanged: { s: median(unchanged), all: unchanged } };
}
