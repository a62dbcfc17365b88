import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import Database from 'better-sqlite3';
import { describe, expect, it, onTestFinished } from 'vitest';
import { hashBytes } from '../../src/core/oid.js';
import { migrateStateDb } from '../../src/core/state.js';
import { RACY_MS, STATUS_INDEX_VERSION, StatusIndex } from '../../src/core/statusIndex.js';

function tmp(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'trove-sidx-'));
  onTestFinished(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const A = hashBytes('a');
const B = hashBytes('b');
const T = hashBytes('tree');
const key = (ino: number, mtime = 1_700_000_000_000.25) => ({ dev: 2049, ino, size: 10, mtime, ctime: mtime + 0.5 });
const later = 1_700_000_000_000.25 + 5 * RACY_MS; // recorded well after the mtime: not racy

describe('status index format', () => {
  it('round-trips rows, folder trees and the complete-tree memo through one file', () => {
    const file = path.join(tmp(), 'status-index');
    const idx = StatusIndex.load(file);
    expect(idx.loadProblem).toBe('missing');
    idx.record([{ path: 'data/a.bin', key: key(1), oid: A }, { path: 'data/sub/ü b.bin', key: key(2), oid: B, exec: true }], later);
    idx.recordTree('data/sub', { oid: T, size: 10, count: 1, subdirs: 0 });
    idx.markComplete([T], 'gen-1');
    idx.save();
    expect(idx.isDirty).toBe(false);

    const back = StatusIndex.load(file);
    expect(back.loadProblem).toBeNull();
    expect(back.size).toBe(2);
    expect(back.lookup('data/a.bin', key(1))).toBe(A);
    expect(back.lookup('data/sub/ü b.bin', key(2))).toBe(B);
    expect(back.rowsOf('data/sub')!.get('ü b.bin')!.exec).toBe(true);
    expect(back.treeOf('data/sub')).toEqual({ oid: T, size: 10, count: 1, subdirs: 0 });
    expect(back.treeOf('data')).toBeNull();
    expect(back.knownComplete(T, 'gen-1')).toBe(true);
    expect(back.knownComplete(T, 'gen-2')).toBe(false); // another cache generation: not trusted
    // a stat that differs in any field is not vouched for
    expect(back.lookup('data/a.bin', { ...key(1), ino: 9 })).toBeNull();
    expect(back.lookup('data/a.bin', { ...key(1), size: 11 })).toBeNull();
    expect(back.lookup('data/a.bin', { ...key(1), ctime: 1 })).toBeNull();
    // an untouched load writes nothing; re-encoding the undecoded folders gives the same bytes
    expect(back.isDirty).toBe(false);
    expect(back.encode().equals(readFileSync(file))).toBe(true);
  });

  it("keeps git's racy rule: a row recorded within RACY_MS of the file's mtime is not trusted", () => {
    const idx = StatusIndex.empty(path.join(tmp(), 'i'));
    const k = key(1);
    idx.record([{ path: 'a', key: k, oid: A }], k.mtime + RACY_MS / 2);
    expect(idx.lookup('a', k)).toBeNull();
    expect(idx.lookupLoose('a', k)).toBe(A);
    idx.record([{ path: 'a', key: k, oid: A }], k.mtime + RACY_MS);
    expect(idx.lookup('a', k)).toBe(A);
  });

  it('a row change drops the tree oid of its folder and of every folder above', () => {
    const idx = StatusIndex.empty(path.join(tmp(), 'i'));
    for (const d of ['data', 'data/x', 'data/x/y', 'other']) idx.recordTree(d, { oid: T, size: 0, count: 0, subdirs: 0 });
    idx.record([{ path: 'data/x/y/f', key: key(1), oid: A }], later);
    expect(idx.treeOf('data/x/y')).toBeNull();
    expect(idx.treeOf('data/x')).toBeNull();
    expect(idx.treeOf('data')).toBeNull();
    expect(idx.treeOf('other')).not.toBeNull();
    idx.forget('data');
    expect(idx.rowsOf('data/x/y')).toBeNull();
    expect(idx.treeOf('other')).not.toBeNull();
  });

  it('a truncated, corrupt or foreign file is not trusted: empty index, rewritten on save', () => {
    const dir = tmp();
    const file = path.join(dir, 'status-index');
    const idx = StatusIndex.empty(file);
    idx.record([{ path: 'data/a.bin', key: key(1), oid: A }], later);
    idx.recordTree('data', { oid: T, size: 10, count: 1, subdirs: 0 });
    idx.save();
    const good = readFileSync(file);
    const cases: [string, Buffer, RegExp][] = [
      ['truncated', good.subarray(0, good.length - 9), /checksum|truncated/],
      ['cut to the header', good.subarray(0, 10), /not a status index/],
      ['one flipped byte', Buffer.from(good.map((b, i) => (i === 40 ? b ^ 1 : b))), /checksum/],
      ['empty', Buffer.alloc(0), /not a status index/],
      ['another format', Buffer.from('SQLite format 3\0' + 'x'.repeat(100)), /not a status index/],
    ];
    for (const [label, bytes, why] of cases) {
      writeFileSync(file, bytes);
      const bad = StatusIndex.load(file);
      expect(bad.loadProblem, label).toMatch(why);
      expect(bad.size, label).toBe(0);
      expect(bad.lookup('data/a.bin', key(1)), label).toBeNull();
      expect(bad.treeOf('data'), label).toBeNull();
      bad.save(); // replaced by a valid (empty) index even with nothing new
      expect(StatusIndex.load(file).loadProblem, label).toBeNull();
    }
  });

  it('a file of another version is not trusted even with a valid checksum', () => {
    const file = path.join(tmp(), 'status-index');
    const idx = StatusIndex.empty(file);
    idx.record([{ path: 'a', key: key(1), oid: A }], later);
    const buf = idx.encode();
    buf.writeUInt32LE(STATUS_INDEX_VERSION + 1, 8);
    buf.writeUInt32LE(crc32(buf.subarray(0, buf.length - 4)), buf.length - 4);
    writeFileSync(file, buf);
    const back = StatusIndex.load(file);
    expect(back.loadProblem).toBe(`version ${STATUS_INDEX_VERSION + 1}`);
    expect(back.lookup('a', key(1))).toBeNull();
  });
});

describe('migration from wave 1 state.db', () => {
  it('copies every row with its recorded time, then removes state.db and its WAL files', () => {
    const dir = tmp();
    const dbFile = path.join(dir, 'state.db');
    const db = new Database(dbFile);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE files2 (path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, size INTEGER, mtime REAL, ctime REAL, oid TEXT, recorded REAL) WITHOUT ROWID');
    const k1 = key(1);
    const k2 = key(2);
    const ins = db.prepare('INSERT INTO files2 VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    ins.run('data/a.bin', k1.dev, k1.ino, k1.size, k1.mtime, k1.ctime, A.slice(7), later);
    ins.run('data/racy.bin', k2.dev, k2.ino, k2.size, k2.mtime, k2.ctime, B.slice(7), k2.mtime + 1); // racy in wave 1 too
    ins.run('data/bad.bin', 1, 1, 1, 1, 1, 'not-hex', later); // a hostile row is skipped
    db.close();

    const idx = StatusIndex.load(path.join(dir, 'status-index'));
    expect(migrateStateDb(dbFile, idx)).toBe(2);
    for (const f of ['state.db', 'state.db-wal', 'state.db-shm']) expect(existsSync(path.join(dir, f)), f).toBe(false);
    const back = StatusIndex.load(path.join(dir, 'status-index'));
    expect(back.loadProblem).toBeNull();
    expect(back.lookup('data/a.bin', k1)).toBe(A);
    expect(back.lookup('data/racy.bin', k2)).toBeNull(); // still racy: recorded time kept
    expect(back.lookupLoose('data/racy.bin', k2)).toBe(B);
    expect(back.lookupLoose('data/bad.bin', { dev: 1, ino: 1, size: 1, mtime: 1, ctime: 1 })).toBeNull();
    expect(migrateStateDb(dbFile, back)).toBeNull(); // once only
  });

  it('a corrupt state.db is dropped (it was a cache) and the index starts empty', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'state.db'), 'garbage, not SQLite');
    const idx = StatusIndex.load(path.join(dir, 'status-index'));
    expect(migrateStateDb(path.join(dir, 'state.db'), idx)).toBe(0);
    expect(existsSync(path.join(dir, 'state.db'))).toBe(false);
    expect(StatusIndex.load(path.join(dir, 'status-index')).loadProblem).toBeNull();
  });
});
