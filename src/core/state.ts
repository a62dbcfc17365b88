import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { oidFromHex } from './oid.js';
import type { StatusIndex } from './statusIndex.js';

/**
 * Wave 1's stat cache, `.trove/state.db` (SQLite, table `files2`: path, dev, ino, size, mtime ms,
 * ctime ms, oid hex, recorded ms), read once to migrate it into the status index (statusIndex.ts),
 * then deleted. better-sqlite3 is loaded only here, and only when such a file exists: loading it cost
 * a measurable share of every `status` start-up.
 */
export const LEGACY_STATE_FILE = 'state.db';

/**
 * Copies the rows of `dbFile` into `index` (keeping each row's recorded time, so the racy rule still
 * holds) and removes the old files. Returns the number of rows, or null when there was no state.db.
 * An unreadable state.db is removed too: it was a cache, and the next scan re-hashes what it knew.
 */
export function migrateStateDb(dbFile: string, index: StatusIndex): number | null {
  if (!existsSync(dbFile)) return null;
  let n = 0;
  try {
    const Database = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      const has = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'files2'").get();
      if (has) {
        type Row = [string, number, number, number, number, number, string, number];
        for (const r of db.prepare('SELECT path, dev, ino, size, mtime, ctime, oid, recorded FROM files2').raw().iterate() as Iterable<Row>) {
          if (typeof r[0] !== 'string' || !/^[0-9a-f]{64}$/.test(String(r[6]))) continue;
          index.record([{ path: r[0], key: { dev: r[1], ino: r[2], size: r[3], mtime: r[4], ctime: r[5] }, oid: oidFromHex(r[6]) }], r[7]);
          n++;
        }
      }
    } finally {
      db.close();
    }
  } catch {
    // a corrupt or foreign state.db: nothing in it is worth more than a re-hash
  }
  index.touch();
  index.save();
  for (const f of [dbFile, dbFile + '-wal', dbFile + '-shm']) rmSync(f, { force: true });
  return n;
}
