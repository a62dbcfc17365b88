import Database from 'better-sqlite3';
import type { Stats } from 'node:fs';
import { hexOf, oidFromHex, type Oid } from './oid.js';

/**
 * The stat cache (`.trove/state.db`): repo-relative path → (dev, ino, size, mtime ns, ctime ns) → oid.
 * A file whose stat matches its row is not re-hashed. git's "racy" rule: a row recorded less than
 * RACY_NS after the file's mtime is not trusted, because an edit in the same clock tick would keep
 * the same mtime; such files are re-hashed (and re-recorded) once.
 */
export interface StatKey {
  dev: number;
  ino: number;
  size: number;
  /** ms since the epoch as the double lstat gives (sub-µs resolution; compared for equality only) */
  mtime: number;
  ctime: number;
}

/** path, dev, ino, size, mtime, ctime, oid hex, recorded (ms) */
type Row = [string, number, number, number, number, number, string, number];

/** Rows recorded less than this after the file's mtime are "racy" and not trusted (ms). */
const RACY_MS = 1000;

/**
 * Plain-number stats: BigInt stats (exact ns) cost one BigInt per field per file, which made the
 * garbage collector the top entry of a `status` profile on 20,000 files. A double holds ms since the
 * epoch to ~0.2 µs, and the values are only compared for equality with what the same call returned.
 */
export function statKey(st: Stats): StatKey {
  return { dev: st.dev, ino: st.ino, size: st.size, mtime: st.mtimeMs, ctime: st.ctimeMs };
}

export class StateDb {
  private db: Database.Database;
  private getStmt: Database.Statement;
  private upsertStmt: Database.Statement;
  private delStmt: Database.Statement;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('busy_timeout = 10000');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec('DROP TABLE IF EXISTS files'); // the first layout (BigInt ns); rebuilt as files2 on use
    this.db.exec(`CREATE TABLE IF NOT EXISTS files2 (
      path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, size INTEGER,
      mtime REAL, ctime REAL, oid TEXT, recorded REAL) WITHOUT ROWID`);
    this.getStmt = this.db.prepare('SELECT * FROM files2 WHERE path = ?').raw();
    this.upsertStmt = this.db.prepare('INSERT OR REPLACE INTO files2 VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.delStmt = this.db.prepare('DELETE FROM files2 WHERE path = ? OR (path >= ? AND path < ?)');
  }

  /** Rows for one path and everything below it, keyed by path. */
  loadPrefix(prefix: string): Map<string, Row> {
    const rows = (prefix === ''
      ? this.db.prepare('SELECT * FROM files2').raw().all()
      : this.db.prepare('SELECT * FROM files2 WHERE path = ? OR (path >= ? AND path < ?)').raw().all(prefix, prefix + '/', prefix + '0')) as Row[];
    const m = new Map<string, Row>();
    for (const r of rows) m.set(r[0], r);
    return m;
  }

  lookup(path: string, key: StatKey, rows?: Map<string, Row>): Oid | null {
    const r = rows ? rows.get(path) : (this.getStmt.get(path) as Row | undefined);
    return r ? matches(r, key, false) : null;
  }

  /** Like lookup, but trusts racily-clean rows: for listings that say "probably", never for decisions. */
  lookupLoose(path: string, key: StatKey, rows?: Map<string, Row>): Oid | null {
    const r = rows ? rows.get(path) : (this.getStmt.get(path) as Row | undefined);
    return r ? matches(r, key, true) : null;
  }

  record(entries: Iterable<{ path: string; key: StatKey; oid: Oid }>): void {
    const now = Date.now();
    const tx = this.db.transaction(() => {
      for (const e of entries) {
        this.upsertStmt.run(e.path, e.key.dev, e.key.ino, e.key.size, e.key.mtime, e.key.ctime, hexOf(e.oid), now);
      }
    });
    tx();
  }

  /** Forgets a path and everything below it. */
  forget(path: string): void {
    this.delStmt.run(path, path + '/', path + '0');
  }

  close(): void {
    this.db.close();
  }
}

function matches(r: Row, k: StatKey, loose: boolean): Oid | null {
  if (r[3] !== k.size || r[4] !== k.mtime || r[5] !== k.ctime || r[2] !== k.ino || r[1] !== k.dev) return null;
  if (!loose && r[7] - r[4] < RACY_MS) return null;
  return oidFromHex(r[6]);
}
