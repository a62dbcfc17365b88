/**
 * The names of temp files, one scheme each for the two places they go:
 * - `tempBeside(file)`: `<dir>/.<name>.<pid>.<random>.tmp`, beside the file it will replace by rename (same
 *   folder, so same filesystem: the rename is atomic). Hidden, and `.trove/.gitignore`'s `/.status-index.*`
 *   style patterns match it.
 * - `tempIn(dir)`: `<dir>/<pid>-<random>`, inside a temp folder (`.trove/tmp/`).
 * Both start with (or carry) the writer's pid so that a sweep can tell a dead writer's leftovers from a live
 * one's: `writerPid(name)`, and `pidIsAlive` (pidAlive.ts).
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';

/** A temp path beside `file`, for write-then-rename. */
export function tempBeside(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** A temp path inside the temp folder `dir`. */
export function tempIn(dir: string): string {
  return path.join(dir, `${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** The pid of the process that named a temp file (either scheme), or null for a name of neither. */
export function writerPid(name: string): number | null {
  const m = /^(\d+)-/.exec(name) ?? /^\..+\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name);
  const pid = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}
