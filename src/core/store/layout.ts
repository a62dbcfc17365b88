/**
 * The local store's on-disk layout version, and the one migration from wave 1's layout.
 *
 * Format: `<cache>/layout` holds one line of JSON, `{"format":"trove-cache","version":2}`.
 * - version 1 (wave 1, no `layout` file): every object in `objects/sha256/ab/cdef…`, blobs and trees alike.
 * - version 2: blobs stay in `objects/sha256/…` (so workspace symlinks made by `cache.link: symlink`
 *   keep resolving, and hardlinks are untouched), trees in `trees/sha256/…`. The kind is the folder:
 *   gc and fsck never read bytes to tell a tree from a file.
 * A store whose version is newer than this trove knows is refused (`CONFIG`), naming the file.
 *
 * Migration 1 → 2 (`ensureLayout`, run when a repo is opened, under the repo lock):
 * 1. Every object in `objects/` whose bytes start like a tree (`{"version":1,"entries":[`, wave 1's own
 *    test in gc) is hard-linked into `trees/` (EEXIST: done by an earlier, interrupted run). This is
 *    the only place bytes decide a kind, once, because wave 1 did not record kinds. The object also
 *    stays in `objects/`: a user file with exactly those bytes is a blob too, and a symlink to it must
 *    not dangle; the blob copy of a real tree is unreachable and the next gc removes it.
 * 2. The links are made durable (syncfs), then `layout` is written (temp + fsync + rename).
 * Until step 2 the store is still version 1, so a kill -9 anywhere means the next command migrates
 * again; step 1 is idempotent. Two processes migrating the same shared cache (two clones with one
 * `cache.dir`) do the same links and write the same file: harmless.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants as fsc, existsSync, fstatSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { TroveError, isErrno } from '../errors.js';
import { tempBeside } from '../tempName.js';
import { fanoutFolders } from './fanout.js';
import type { ObjectKind } from './objectStore.js';

/** The layout this trove writes. */
export const LAYOUT_VERSION = 2;
export const LAYOUT_FILE = 'layout';
/** Where each kind lives under the store's folder (version 2). */
export const LAYOUT_DIRS: Record<ObjectKind, string> = { blob: 'objects', tree: 'trees' };

const TREE_PREFIX = Buffer.from('{"version":1,"entries":[');

/** The store's layout version: 2 from its `layout` file, 1 for wave 1's (objects, no file), null for no store yet. */
export function readLayoutVersion(dir: string): number | null {
  const file = path.join(dir, LAYOUT_FILE);
  let text: string;
  try {
    // O_NONBLOCK + fstat: a FIFO or folder named `layout` is refused, never waited on; a few bytes at most
    const fd = openSync(file, fsc.O_RDONLY | fsc.O_NONBLOCK);
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw badLayout(file, 'is not a regular file');
      if (st.size > 4096) throw badLayout(file, `is ${st.size} bytes, not a layout file`);
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if (err instanceof TroveError) throw err;
    if (isErrno(err, 'EISDIR')) throw badLayout(file, 'is not a regular file');
    if (!isErrno(err, 'ENOENT', 'ENOTDIR')) throw ioError(file, err);
    return existsSync(path.join(dir, LAYOUT_DIRS.blob)) ? 1 : null;
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw badLayout(file, 'is not JSON');
  }
  const version = (v as { version?: unknown } | null)?.version;
  if (typeof v !== 'object' || v === null || (v as { format?: unknown }).format !== 'trove-cache' || !Number.isInteger(version) || (version as number) < 2) {
    throw badLayout(file, `is not a trove cache layout (expected {"format":"trove-cache","version":${LAYOUT_VERSION}})`);
  }
  if ((version as number) > LAYOUT_VERSION) {
    throw new TroveError('CONFIG', `${file}: the cache has layout version ${version}, newer than this trove understands (${LAYOUT_VERSION})`,
      'upgrade trove (`npm install -g trove@latest`), or point cache.dir at another folder', { data: { file, version } });
  }
  return version as number;
}

function ioError(file: string, err: unknown): TroveError {
  return new TroveError('IO', `${file}: ${(err as Error).message}`, 'check the permissions of the cache folder (cache.dir), or point cache.dir at a folder of your own', { cause: err });
}

function badLayout(file: string, why: string): TroveError {
  return new TroveError('CONFIG', `${file}: ${why}`, 'restore the file from a backup, or move the cache folder aside and `trove pull` again');
}

/**
 * Writes the version-2 layout file if it is not there (temp + fsync + rename). Called by the store
 * before its first object goes in, so an empty store never looks like wave 1's.
 */
export function writeLayoutFileSync(dir: string): void {
  const file = path.join(dir, LAYOUT_FILE);
  if (existsSync(file)) return;
  mkdirSync(dir, { recursive: true });
  const tmp = tempBeside(file);
  try {
    const fd = openSync(tmp, 'w', 0o644);
    try {
      writeSync(fd, `${JSON.stringify({ format: 'trove-cache', version: LAYOUT_VERSION })}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
  fsyncDir(dir);
}

export interface MigrationReport {
  from: number;
  to: number;
  /** objects seen in objects/, and those linked as trees */
  objects: number;
  trees: number;
}

/**
 * Brings the store at `dir` to the current layout. Fast when it is current (one file read); a wave-1
 * store is migrated once under `lock` (the repo lock), re-checked once the lock is held.
 * @example await ensureLayout(cacheDir, () => acquireLock(path.join(troveDir, 'lock'), 'migrate cache'))
 */
export async function ensureLayout(dir: string, lock: () => Promise<() => Promise<void>>): Promise<MigrationReport | null> {
  if (readLayoutVersion(dir) !== 1) return null;
  const unlock = await lock();
  try {
    if (readLayoutVersion(dir) !== 1) return null; // another process finished it meanwhile
    try {
      return migrateV1(dir);
    } catch (err) {
      // e.g. a shared cache this user may read but not write: say so, naming the folder
      if (isErrno(err)) throw new TroveError('IO', `${dir}: cannot migrate the cache to layout ${LAYOUT_VERSION} (${err.message})`,
        'run trove once as a user who may write the cache folder (the migration is quick and happens once), or point cache.dir elsewhere', { cause: err });
      throw err;
    }
  } finally {
    await unlock();
  }
}

/** Step 1 and 2 of the migration (see the header). Exported for the crash test, which interrupts it. */
export function migrateV1(dir: string, o: { afterLink?: (n: number) => void } = {}): MigrationReport {
  const blobs = path.join(dir, LAYOUT_DIRS.blob, 'sha256');
  const trees = path.join(dir, LAYOUT_DIRS.tree, 'sha256');
  const report: MigrationReport = { from: 1, to: LAYOUT_VERSION, objects: 0, trees: 0 };
  const head = Buffer.alloc(TREE_PREFIX.length);
  for (const { fan, dir: fanDir, names } of fanoutFolders(blobs)) {
    for (const name of names) {
      if (!/^[0-9a-f]{62}$/.test(name)) continue;
      const src = path.join(fanDir, name);
      report.objects++;
      if (!startsLikeTree(src, head)) continue;
      mkdirSync(path.join(trees, fan), { recursive: true });
      try {
        linkSync(src, path.join(trees, fan, name));
      } catch (err) {
        // EEXIST: linked by an interrupted run; ENOENT: removed meanwhile (a concurrent gc after its own migration)
        if (!isErrno(err, 'EEXIST', 'ENOENT')) throw err;
      }
      report.trees++;
      o.afterLink?.(report.trees);
    }
  }
  // the links must survive a power cut before the file that says they exist
  try {
    execFileSync('sync', ['-f', dir], { stdio: 'ignore' });
  } catch {
    for (const { dir: fanDir } of fanoutFolders(trees)) fsyncDir(fanDir);
    if (existsSync(trees)) fsyncDir(trees);
  }
  writeLayoutFileSync(dir);
  return report;
}

/** The first bytes are a tree's (wave 1's test); regular files only: a FIFO is never opened. */
function startsLikeTree(file: string, head: Buffer): boolean {
  let st;
  try {
    st = lstatSync(file);
  } catch {
    return false;
  }
  if (!st.isFile() || st.size < head.length) return false;
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return false;
  }
  try {
    return readSync(fd, head, 0, head.length, 0) === head.length && head.equals(TREE_PREFIX);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* best effort: not every filesystem lets a folder be fsynced */
  }
}
