import { promises as fsp } from 'node:fs';
import os from 'node:os';
import { TroveError, isErrno } from './errors.js';
import { pidIsAlive } from './pidAlive.js';

/**
 * A repository lock (`.trove/lock`) for commands that change the workspace, pointers or cache
 * index, so that two `trove add`s on overlapping folders serialize instead of interleaving.
 * Created with O_EXCL; holds `pid@host`. A lock whose process is gone (same host) is stale and taken
 * over, so a kill -9 never leaves the repo locked.
 */
export async function acquireLock(file: string, what: string, timeoutMs = 120_000): Promise<() => Promise<void>> {
  const me = `${process.pid}@${os.hostname()}\n${what}\n`;
  const deadline = Date.now() + timeoutMs;
  let delay = 20;
  for (;;) {
    try {
      await fsp.writeFile(file, me, { flag: 'wx' });
      return async () => {
        await fsp.rm(file, { force: true });
      };
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    const holder = await fsp.readFile(file, 'utf8').catch(() => '');
    if (isStale(holder)) {
      // Two waiters may both see it stale: rename is atomic, so only one removes this exact file.
      const aside = `${file}.stale.${process.pid}`;
      await fsp.rename(file, aside).then(() => fsp.rm(aside, { force: true }), () => {});
      continue;
    }
    if (Date.now() > deadline) {
      const [owner, cmd] = holder.split('\n');
      throw new TroveError('LOCKED', `the repository is locked by another trove process (${owner || 'unknown'}${cmd ? `: ${cmd}` : ''})`, `wait for it to finish; if no trove is running, remove ${file}`);
    }
    await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
    delay = Math.min(delay * 2, 500);
  }
}

function isStale(holder: string): boolean {
  const m = /^(\d+)@(.*)$/.exec(holder.split('\n')[0] ?? '');
  if (!m) return holder === '' ? false : true;
  if (m[2] !== os.hostname()) return false;
  return !pidIsAlive(Number(m[1]));
}
