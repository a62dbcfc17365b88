/**
 * The names of temp files: the one scheme for every partial write trove makes, two shapes for the two
 * places they go:
 * - `tempBeside(file)`: `<dir>/.<name>.<pid>.<unique>.tmp`, beside the file it will replace by rename (same
 *   folder, so same filesystem: the rename is atomic). Hidden, and `.trove/.gitignore`'s `/.status-index.*`
 *   style patterns match it. Used for small files (atomicWrite.ts, the status index, the cache's layout
 *   file) and for a workspace file whose store is on another filesystem (EXDEV).
 * - `tempIn(dir, tag)`: `<dir>/<pid>-<tag>-<unique>`, inside a temp folder (the cache's `tmp/`, a folder
 *   remote's `<root>/tmp/`); `tag` says what is being written (`s`mall object, `m`aterialized copy,
 *   `pack`, `idx`, `c`hunk…), for whoever looks at a leftover.
 * `<unique>` is a random token drawn once per process plus a counter: unique within the process, and across
 * processes even when a pid is reused (a new process with a dead writer's pid would otherwise meet its
 * leftovers and fail on O_EXCL), without a random draw per file (add names 100,000 of them).
 * Both carry the writer's pid so that a sweep can tell a dead writer's leftovers from a live one's:
 * `writerPid(name)`, and `pidIsAlive` (pidAlive.ts). Names written by earlier versions (`<pid>-<hex>-<n>`,
 * `<pid>-s-<n>`, `<pid>-pack-<hex>-<n>`, `<pid>-c-<n>`, `<pid>-<hex>` on a folder remote) start with the pid too,
 * so the sweep still recognises them.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';

const token = randomBytes(4).toString('hex');
let counter = 0;
const unique = (): string => `${token}${(++counter).toString(16)}`;

/** A temp path beside `file`, for write-then-rename. */
export function tempBeside(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${unique()}.tmp`);
}

/** A temp path inside the temp folder `dir`; `tag` (letters) names what is written. */
export function tempIn(dir: string, tag = 't'): string {
  return path.join(dir, `${process.pid}-${tag}-${unique()}`);
}

/** The pid of the process that named a temp file (either shape, this version's or an earlier one), or null for a name of neither. */
export function writerPid(name: string): number | null {
  const m = /^(\d+)-/.exec(name) ?? /^\..+\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name);
  const pid = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}
