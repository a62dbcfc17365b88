import Database from 'better-sqlite3';
import type { BigIntStats } from 'node:fs';
import { hexOf, oidFromHex, type Oid } from './oid.js';

/**
 * The stat cache (`.trove/state.db`): repo-relative path → (dev, ino, size, mtime ns, ctime ns) → oid.
 * A file whose stat matches its row is not re-hashed. git's "racy" rule: a row recorded less than
 * RACY_NS after the file's mtime is not trusted, because an edit in the same clock tick would keep
 * the same mtime; such files are re-hashed (and re-recorded) once.
 */
export interface StatKey {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

interface Row {
  path: string;
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtime: bigint;
  ctime: bigint;
  oid: string;
  recorded: bigint;
}

const RACY_NS = 1_000_000_000n;

export function statKey(st: BigIntStats): StatKey {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

export class StateDb {
  private db: Database.Database;
  private getStmt: Database.Statement;
  private upsertStmt: Database.Statement;
  private delStmt: Database.Statement;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.defaultSafeIntegers(true);
    this.db.pragma('busy_timeout = 10000');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS files (
      path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, size INTEGER,
      mtime INTEGER, ctime INTEGER, oid TEXT, recorded INTEGER) WITHOUT ROWID`);
    this.getStmt = this.db.prepare('SELECT * FROM files WHERE path = ?');
    this.upsertStmt = this.db.prepare('INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.delStmt = this.db.prepare('DELETE FROM files WHERE path = ? OR (path >= ? AND path < ?)');
  }

  /** Rows for one path and everything below it, keyed by path. */
  loadPrefix(prefix: string): Map<string, Row> {
    const rows = (prefix === ''
      ? this.db.prepare('SELECT * FROM files').all()
      : this.db.prepare('SELECT * FROM files WHERE path = ? OR (path >= ? AND path < ?)').all(prefix, prefix + '/', prefix + '0')) as Row[];
    return new Map(rows.map((r) => [r.path, r]));
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
    const now = BigInt(Date.now()) * 1_000_000n;
    const tx = this.db.transaction(() => {
      for (const e of entries) {
        this.upsertStmt.run(e.path, e.key.dev, e.key.ino, e.key.size, e.key.mtimeNs, e.key.ctimeNs, hexOf(e.oid), now);
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
  if (r.size !== k.size || r.mtime !== k.mtimeNs || r.ctime !== k.ctimeNs || r.ino !== k.ino || r.dev !== k.dev) return null;
  if (!loose && r.recorded - r.mtime < RACY_NS) return null;
  return oidFromHex(r.oid);
}
