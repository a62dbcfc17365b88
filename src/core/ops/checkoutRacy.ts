/**
 * Status-index rows for the files a checkout wrote, trusted at once where git's racy rule allows.
 *
 * The index does not trust a row recorded less than RACY_MS after the file's mtime (statusIndex.ts):
 * an edit in the same clock tick as the stat keeps mtime and size. Right after a checkout every file
 * it wrote is that young, so an immediate `add` or `status` re-hashed all of them.
 *
 * git's rule is the other way round: an entry is racy when its mtime is not older than the index
 * file's own timestamp (same filesystem clock). Here: once every file is written, a probe file is
 * created beside the tracked path (so on the workspace's filesystem and clock) and its mtime `P` read;
 * only then is each written file stat'ed. A file whose mtime and ctime are both before `P` cannot
 * change again without getting a timestamp of at least `P` (the clock does not go back), which no
 * row recorded now matches: such a row is safe to trust now, and it is recorded as settled (its
 * `recorded` time put RACY_MS past its mtime). A file touched in `P`'s tick or later, by checkout or
 * anyone, keeps the normal rule (racy for RACY_MS). A clock set backwards breaks this as it breaks git.
 */
import { closeSync, fstatSync, openSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Oid } from '../oid.js';
import { RACY_MS, statKey, type StatKey, type StatusIndex } from '../statusIndex.js';

/** A file the checkout wrote, by its repo-relative path. */
export interface WrittenFile {
  rel: string;
  oid: Oid;
  exec: boolean;
}

/**
 * The workspace filesystem's clock now (ms, as lstat reports it): the mtime of a new file created in
 * `dir`, removed again. Its name is a staging folder's (`.trove-stage-<pid>-<hex>`): a kill leaves
 * nothing git lists, and the next checkout removes it. null when `dir` cannot take a file.
 */
export function fsClockAt(dir: string): number | null {
  const probe = path.join(dir, `.trove-stage-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const fd = openSync(probe, 'wx', 0o600);
    try {
      return fstatSync(fd).mtimeMs;
    } finally {
      closeSync(fd);
      rmSync(probe, { force: true });
    }
  } catch {
    return null;
  }
}

/**
 * Stats each written file (after the probe) and records its row: settled when its mtime and ctime are
 * older than the probe, racy (the usual rule) otherwise. `abs` maps a repo path to where it is now.
 * Rows go to the index in two batches, settled and racy.
 * @example recordWritten(ctx.state, files, (rel) => ctx.abs(rel), fsClockAt(ctx.abs('.')))
 */
export function recordWritten(state: StatusIndex, files: readonly WrittenFile[], abs: (rel: string) => string, clock: number | null): { settled: number } {
  const now = Date.now();
  type Row = { path: string; key: StatKey; oid: Oid; exec: boolean };
  const settled: Row[] = [];
  const fresh: Row[] = [];
  // a settled row may carry any recorded time past its own mtime + RACY_MS: the probe proves the file
  // cannot match it after a change, so one time (the latest any of them needs) serves them all
  let settledAt = now;
  for (const f of files) {
    let st;
    try {
      st = statSync(abs(f.rel));
    } catch {
      continue; // removed since (by someone else): no row
    }
    const key = statKey(st);
    const row = { path: f.rel, key, oid: f.oid, exec: f.exec };
    if (clock !== null && key.mtime < clock && key.ctime < clock) {
      settled.push(row);
      settledAt = Math.max(settledAt, key.mtime + RACY_MS, key.ctime + RACY_MS);
    } else fresh.push(row);
  }
  if (settled.length) state.record(settled, settledAt);
  if (fresh.length) state.record(fresh, now);
  return { settled: settled.length };
}
