import { chmodSync, existsSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { Repo } from '../../src/core/repo.js';
import { RACY_MS, StatusIndex, statKey } from '../../src/core/statusIndex.js';
import { findMissingObjects } from '../../src/core/treeCompleteness.js';
import { hashBytes, type Oid } from '../../src/core/oid.js';
import { git, newLooseRepo as newRepo, trove, write } from '../helpers/repo.js';
import { objectFile } from '../helpers/cacheLayout.js';

/** A repo with data/ (two levels of folders) added and committed, its mtimes in the past (no racy rows). */
async function repoWithData(): Promise<string> {
  const dir = await newRepo();
  for (const [rel, text] of [['data/a.txt', 'alpha'], ['data/sub/b.txt', 'bravo'], ['data/sub/deep/c.txt', 'charlie'], ['data/other/d.txt', 'delta']]) await write(dir, rel, text);
  const past = new Date(Date.now() - 60_000);
  for (const f of ['data/a.txt', 'data/sub/b.txt', 'data/sub/deep/c.txt', 'data/other/d.txt']) utimesSync(path.join(dir, f), past, past);
  expect((await trove(dir, 'add', 'data')).code).toBe(0);
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-qm', 'data');
  return dir;
}

async function statusOf(dir: string) {
  const repo = await Repo.open(dir);
  try {
    const [s] = await repo.status();
    return s;
  } finally {
    repo.close();
  }
}

/** Replaces a file's bytes keeping size and mtime (a new inode; ctime moves, as it always does). */
function rewriteKeepingMtime(file: string, text: string): void {
  const st = statSync(file);
  writeFileSync(file + '.new', text);
  renameSync(file + '.new', file);
  utimesSync(file, st.atime, st.mtime);
}

describe('status with the status index', () => {
  it('an unchanged folder is vouched for by the index: nothing hashed, no tree built, index not rewritten', async () => {
    const dir = await repoWithData();
    const index = path.join(dir, '.trove/status-index');
    expect((await statusOf(dir)).workspace).toBe('unchanged');
    const before = statSync(index);
    const repo = await Repo.open(dir);
    const scanned = await repo.scanTracked('data');
    repo.close();
    expect(scanned!.hashed).toBe(0);
    expect(scanned!.node!.known).toBe(true); // the root tree oid came from the index
    expect((await statusOf(dir)).workspace).toBe('unchanged');
    const after = statSync(index);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
  });

  it('detects every change class: same size and mtime, new inode, deleted, new, mode, renamed folder', async () => {
    const cases: [string, (dir: string) => void, Partial<{ added: string[]; modified: string[]; deleted: string[] }>][] = [
      ['same size and mtime, other bytes', (d) => rewriteKeepingMtime(path.join(d, 'data/sub/deep/c.txt'), 'CHARLIE'), { modified: ['data/sub/deep/c.txt'] }],
      ['deleted file', (d) => rmSync(path.join(d, 'data/sub/b.txt')), { deleted: ['data/sub/b.txt'] }],
      ['new file', (d) => writeFileSync(path.join(d, 'data/sub/deep/new.txt'), 'x'), { added: ['data/sub/deep/new.txt'] }],
      ['mode change', (d) => {
        const f = path.join(d, 'data/other/d.txt');
        const st = statSync(f);
        chmodSync(f, 0o755);
        utimesSync(f, st.atime, st.mtime);
      }, { modified: ['data/other/d.txt'] }],
      ['renamed folder', (d) => renameSync(path.join(d, 'data/sub/deep'), path.join(d, 'data/sub/deeper')), { added: ['data/sub/deeper/c.txt'], deleted: ['data/sub/deep/c.txt'] }],
    ];
    for (const [label, change, want] of cases) {
      const dir = await repoWithData();
      expect((await statusOf(dir)).workspace, label).toBe('unchanged'); // index filled and trusted
      change(dir);
      const s = await statusOf(dir);
      expect(s.workspace, label).toBe('modified');
      expect(s.changes, label).toEqual({ added: [], modified: [], deleted: [], ...want });
      // and the next status (rows now recorded for the changed files) says the same
      expect((await statusOf(dir)).changes, label).toEqual(s.changes);
    }
  });

  it('a pointer switched to another version diffs correctly inside folders the index vouched for', async () => {
    const dir = await repoWithData();
    await write(dir, 'data/sub/b.txt', 'bravo two');
    const past = new Date(Date.now() - 30_000);
    utimesSync(path.join(dir, 'data/sub/b.txt'), past, past); // not racy: the index may vouch for it
    expect((await trove(dir, 'add', 'data')).code).toBe(0);
    expect((await statusOf(dir)).workspace).toBe('unchanged');
    const repo = await Repo.open(dir);
    const scanned = await repo.scanTracked('data');
    repo.close();
    expect(scanned!.node!.known).toBe(true);
    await git(dir, 'checkout', 'HEAD', '--', 'data.trove'); // the committed (older) version
    const s = await statusOf(dir);
    expect(s.workspace).toBe('modified');
    expect(s.changes).toEqual({ added: [], modified: ['data/sub/b.txt'], deleted: [] });
  });

  it('an inode change with the same bytes, size and mtime is re-hashed once and found unchanged', async () => {
    const dir = await repoWithData();
    const f = path.join(dir, 'data/a.txt');
    const ino = statSync(f).ino;
    rewriteKeepingMtime(f, 'alpha');
    expect(statSync(f).ino).not.toBe(ino);
    const repo = await Repo.open(dir);
    const scanned = await repo.scanTracked('data');
    repo.close();
    expect(scanned!.hashed).toBe(1);
    expect((await statusOf(dir)).workspace).toBe('unchanged');
  });

  it("racy rule: a row recorded within a second of the file's mtime is not trusted, an older one is", async () => {
    const dir = await repoWithData();
    const file = path.join(dir, '.trove/status-index');
    const f = path.join(dir, 'data/a.txt');
    const lie = hashBytes('not alpha') as Oid;
    for (const [recordedAfterMtime, want] of [[RACY_MS / 2, 'unchanged'], [RACY_MS * 2, 'modified']] as const) {
      // a row that matches the file's stat but names other content
      const idx = StatusIndex.load(file);
      const k = statKey(statSync(f));
      idx.record([{ path: 'data/a.txt', key: k, oid: lie }], k.mtime + recordedAfterMtime);
      idx.save();
      const s = await statusOf(dir);
      // racy: the file is hashed again and the lie is not believed; not racy: the row is trusted
      expect(s.workspace, `recorded ${recordedAfterMtime} ms after mtime`).toBe(want);
    }
  });

  it('a corrupt or truncated index is rebuilt, never trusted', async () => {
    const dir = await repoWithData();
    const file = path.join(dir, '.trove/status-index');
    const good = readFileSync(file);
    writeFileSync(file, good.subarray(0, good.length >> 1));
    rewriteKeepingMtime(path.join(dir, 'data/sub/b.txt'), 'BRAVO');
    const s = await statusOf(dir);
    expect(s.changes?.modified).toEqual(['data/sub/b.txt']);
    expect(StatusIndex.load(file).loadProblem).toBeNull(); // rewritten whole
  });

  it("migrates wave 1's state.db: rows carried over (no re-hash), state.db removed, .gitignore updated", async () => {
    const dir = await repoWithData();
    const troveDir = path.join(dir, '.trove');
    // make this repo look like wave 1 left it: state.db rows for every file, no status index
    const db = new Database(path.join(troveDir, 'state.db'));
    db.exec('CREATE TABLE files2 (path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, size INTEGER, mtime REAL, ctime REAL, oid TEXT, recorded REAL) WITHOUT ROWID');
    const idx = StatusIndex.load(path.join(troveDir, 'status-index'));
    for (const d of ['data', 'data/sub', 'data/sub/deep', 'data/other']) {
      for (const [name, r] of idx.rowsOf(d) ?? []) db.prepare('INSERT INTO files2 VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(`${d}/${name}`, r.dev, r.ino, r.size, r.mtime, r.ctime, r.oid.slice(7), r.recorded);
    }
    db.close();
    rmSync(path.join(troveDir, 'status-index'));
    const gi = path.join(troveDir, '.gitignore');
    writeFileSync(gi, readFileSync(gi, 'utf8').replace('/status-index\n/.status-index.*\n', ''));

    const repo = await Repo.open(dir);
    const scanned = await repo.scanTracked('data');
    repo.close();
    expect(scanned!.hashed).toBe(0); // every row came over
    expect(existsSync(path.join(troveDir, 'state.db'))).toBe(false);
    expect(StatusIndex.load(path.join(troveDir, 'status-index')).size).toBe(4);
    expect(readFileSync(gi, 'utf8')).toContain('/status-index\n');
    expect(await git(dir, 'status', '--porcelain', '--untracked-files=all', '.trove')).not.toMatch(/status-index/); // ignored, never committed by accident
  });
});

describe('status names objects missing from the cache at file level', () => {
  it('a file object deleted inside a folder is named; whole subtrees are remembered and not re-checked', async () => {
    const dir = await repoWithData();
    const repo = await Repo.open(dir);
    const ptrOid = (await repo.listTracked())[0].pointer.oid;
    // add left every tree of data/ known complete: status checks nothing
    let m = await findMissingObjects(repo.cache, repo.state, ptrOid, 'data');
    expect(m).toMatchObject({ paths: [], treesRead: 0, filesChecked: 0, treesSkipped: 1 });

    const deep = (await repo.ls('data')).find((e) => e.path === 'data/sub/deep/c.txt')!;
    await repo.cache.delete([{ oid: deep.oid, kind: 'blob' }]); // a delete through the cache changes its generation
    m = await findMissingObjects(repo.cache, repo.state, ptrOid, 'data');
    expect(m.paths).toEqual(['data/sub/deep/c.txt']);
    expect(m.oids).toEqual([deep.oid]);
    expect(m.treesRead).toBe(4); // data, sub, deep, other: the generation changed, so all are walked once
    repo.close();

    const s = await statusOf(dir);
    expect(s.cache).toBe('missing');
    expect(s.workspace).toBe('unchanged');
    expect(s.missingObjects).toEqual(['data/sub/deep/c.txt']);
    const r = await trove(dir, 'status');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/data: not in cache/);
    expect(r.stdout).toMatch(/\tnot in cache: data\/sub\/deep\/c\.txt/);
    expect(r.stdout).not.toMatch(/not in cache: data\/a\.txt/);

    // the whole subtrees found on the way (data/other) are remembered: the next walk skips them
    const again = await Repo.open(dir);
    m = await findMissingObjects(again.cache, again.state, ptrOid, 'data');
    expect(m.paths).toEqual(['data/sub/deep/c.txt']);
    expect(m.treesSkipped).toBe(1); // data/other
    expect(m.filesChecked).toBe(3); // a.txt, sub/b.txt, sub/deep/c.txt: only what is not known complete
    again.close();

    // re-add puts the object back (the file is still in the workspace) and the folder is whole again
    expect((await trove(dir, 'add', 'data')).code).toBe(0);
    expect((await statusOf(dir)).missingObjects).toBeUndefined();
    expect((await statusOf(dir)).cache).toBe('present');
  });

  it('known-complete trees are trusted until the cache generation changes (an rm by hand is not seen until then)', async () => {
    const dir = await repoWithData();
    const repo = await Repo.open(dir);
    const ptrOid = (await repo.listTracked())[0].pointer.oid;
    const files = await repo.ls('data');
    const b = files.find((e) => e.path === 'data/sub/b.txt')!;
    rmSync(objectFile(repo.cache.dir, b.oid), { force: true }); // behind trove's back
    expect((await findMissingObjects(repo.cache, repo.state, ptrOid, 'data')).paths).toEqual([]); // memo: not re-checked
    // any delete through the cache (gc, fsck's quarantine) drops the memo
    await repo.cache.delete([{ oid: files.find((e) => e.path === 'data/other/d.txt')!.oid, kind: 'blob' }]);
    expect((await findMissingObjects(repo.cache, repo.state, ptrOid, 'data')).paths).toEqual(['data/other/d.txt', 'data/sub/b.txt']);
    repo.close();
  });

  it('re-add of a folder whose object was deleted stores it again', async () => {
    const dir = await repoWithData();
    const repo = await Repo.open(dir);
    const a = (await repo.ls('data')).find((e) => e.path === 'data/a.txt')!;
    await repo.cache.delete([{ oid: a.oid, kind: 'blob' }]);
    repo.close();
    expect((await trove(dir, 'add', 'data')).code).toBe(0);
    const again = await Repo.open(dir);
    expect(existsSync(objectFile(again.cache.dir, a.oid))).toBe(true);
    again.close();
  });
});
