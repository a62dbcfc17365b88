import { promises as fsp, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Repo } from '../../src/core/repo.js';
import { TroveError } from '../../src/core/errors.js';
import { git, newLooseRepo as newRepo, sha256File, snapshot, tempDir, trove, write } from '../helpers/repo.js';
import { objectFile } from '../helpers/cacheLayout.js';

async function open(dir: string): Promise<Repo> {
  return Repo.open(dir);
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof TroveError) return e.code;
    throw e;
  }
  return 'OK';
}

describe('init', () => {
  it('refuses outside a git work tree and is harmless twice', async () => {
    const plain = tempDir();
    const r = await trove(plain, 'init');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not inside a git work tree/);
    expect(existsSync(path.join(plain, '.trove'))).toBe(false);

    const dir = await newRepo();
    const before = await fsp.readFile(path.join(dir, '.trove/config'), 'utf8');
    expect((await trove(dir, 'init')).code).toBe(0);
    expect(await fsp.readFile(path.join(dir, '.trove/config'), 'utf8')).toBe(before);
    const gi = await fsp.readFile(path.join(dir, '.trove/.gitignore'), 'utf8');
    for (const p of ['/cache/', '/tmp/', '/state.db', '/config.local', '/index.db', '/runs/']) expect(gi).toContain(p);
  });
});

describe('add', () => {
  it('stores a folder as trees + read-only objects, writes the pointer and .gitignore', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a.csv', 'x,y\n1,2\n');
    await write(dir, 'data/sub/b.csv', 'b\n');
    await write(dir, 'data/sub/deeper/c.bin', Buffer.alloc(0));
    const r = await trove(dir, 'add', 'data', '--json');
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.results[0]).toMatchObject({ path: 'data', type: 'dir', files: 3, size: 10 });
    expect(res.gitAdd).toEqual(['data.trove', '.gitignore']);
    const ptr = await fsp.readFile(path.join(dir, 'data.trove'), 'utf8');
    expect(ptr).toContain(`oid: ${res.results[0].oid}`);
    expect(await fsp.readFile(path.join(dir, '.gitignore'), 'utf8')).toBe('/data\n');
    // git sees the pointer but not the data
    const st = await git(dir, 'status', '--porcelain', '--untracked-files=all');
    expect(st).toContain('data.trove');
    expect(st).not.toContain('data/a.csv');
    // each file's object is there, read-only, with the right bytes
    const repo = await open(dir);
    for (const f of ['data/a.csv', 'data/sub/b.csv']) {
      const hex = await sha256File(path.join(dir, f));
      const obj = objectFile(repo.cache.dir, `sha256:${hex}`);
      expect(await sha256File(obj)).toBe(hex);
      expect(statSync(obj).mode & 0o777).toBe(0o444);
    }
    repo.close();
  });

  it('re-adding hashes only files whose stat changed and stores only new objects', async () => {
    const dir = await newRepo();
    for (let i = 0; i < 50; i++) await write(dir, `data/f${i}.txt`, `file ${i}\n`);
    let repo = await open(dir);
    const first = (await repo.add(['data'])).results[0];
    expect(first.hashed).toBe(50);
    repo.close();
    // Age the files past the racy window so that the stat cache is trusted.
    const old = new Date(Date.now() - 10_000);
    for (let i = 0; i < 50; i++) await fsp.utimes(path.join(dir, `data/f${i}.txt`), old, old);
    repo = await open(dir);
    await repo.add(['data']); // records the aged stats
    repo.close();
    await write(dir, 'data/f7.txt', 'changed\n');
    await write(dir, 'data/new.txt', 'new\n');
    repo = await open(dir);
    const again = (await repo.add(['data'])).results[0];
    expect(again.hashed).toBe(2);
    expect(again.stored).toBe(2);
    expect(again.changed).toBe(true);
    expect(again.files).toBe(51);
    const st = await repo.status();
    expect(st[0].workspace).toBe('unchanged');
    repo.close();
  });

  it('honours .troveignore (root and nested)', async () => {
    const dir = await newRepo();
    await write(dir, '.troveignore', '*.tmp\n');
    await write(dir, 'data/keep.csv', 'k');
    await write(dir, 'data/skip.tmp', 's');
    await write(dir, 'data/logs/.troveignore', '*.log\n');
    await write(dir, 'data/logs/run.log', 'l');
    await write(dir, 'data/logs/ok.txt', 'o');
    const repo = await open(dir);
    const res = (await repo.add(['data'])).results[0];
    expect(res.files).toBe(3); // keep.csv, logs/.troveignore, logs/ok.txt
    const ls = (await repo.ls('data')).map((e) => e.path);
    expect(ls).toEqual(['data/keep.csv', 'data/logs/.troveignore', 'data/logs/ok.txt']);
    repo.close();
  });

  it('handles names with spaces, unicode and leading dashes, empty files and empty folders', async () => {
    const dir = await newRepo();
    await write(dir, 'data/with space.csv', 'a');
    await write(dir, 'data/ünïcödé-日本.txt', 'b');
    await write(dir, 'data/-rf', 'c');
    await write(dir, 'data/empty', '');
    await fsp.mkdir(path.join(dir, 'data/empty-dir/nested'), { recursive: true });
    await write(dir, '-model.bin', 'm');
    const r = await trove(dir, 'add', '--', 'data', '-model.bin');
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(path.join(dir, '-model.bin.trove'))).toBe(true);
    const before = await snapshot(path.join(dir, 'data'));
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    await fsp.rm(path.join(dir, '-model.bin'));
    expect((await trove(dir, 'checkout')).code).toBe(0);
    expect(await snapshot(path.join(dir, 'data'))).toEqual(before);
    expect(await fsp.readFile(path.join(dir, '-model.bin'), 'utf8')).toBe('m');
    const st = JSON.parse((await trove(dir, 'status', '--json')).stdout);
    expect(st.every((s: { workspace: string }) => s.workspace === 'unchanged')).toBe(true);
  });

  it('accepts globs and keeps executable bits', async () => {
    const dir = await newRepo();
    await write(dir, 'models/a.pkl', 'a');
    await write(dir, 'models/b.pkl', 'b');
    await write(dir, 'models/c.txt', 'c');
    await write(dir, 'run.sh', '#!/bin/sh\n');
    await fsp.chmod(path.join(dir, 'run.sh'), 0o755);
    expect((await trove(dir, 'add', 'models/*.pkl', 'run.sh')).code).toBe(0);
    expect(existsSync(path.join(dir, 'models/a.pkl.trove'))).toBe(true);
    expect(existsSync(path.join(dir, 'models/b.pkl.trove'))).toBe(true);
    expect(existsSync(path.join(dir, 'models/c.txt.trove'))).toBe(false);
    expect(await fsp.readFile(path.join(dir, 'run.sh.trove'), 'utf8')).toContain('exec: true');
    await fsp.rm(path.join(dir, 'run.sh'));
    expect((await trove(dir, 'checkout', 'run.sh')).code).toBe(0);
    expect(statSync(path.join(dir, 'run.sh')).mode & 0o777).toBe(0o755);
  });

  it.each([
    ['a path outside the repo', async (_d: string) => ['../outside'], 'PATH_OUTSIDE_REPO'],
    ['an absolute path outside the repo', async (_d: string) => ['/etc/hostname'], 'PATH_OUTSIDE_REPO'],
    ['.trove itself', async (_d: string) => ['.trove/config'], 'BAD_ARGS'],
    ['a path git tracks', async (d: string) => {
      await write(d, 'code.py', 'print(1)');
      await git(d, 'add', 'code.py');
      return ['code.py'];
    }, 'PATH_TRACKED_BY_GIT'],
    ['a folder containing a file git tracks', async (d: string) => {
      await write(d, 'src/x.py', 'x');
      await git(d, 'add', 'src/x.py');
      return ['src'];
    }, 'PATH_TRACKED_BY_GIT'],
    ['a path inside a tracked folder', async (d: string) => {
      await write(d, 'data/sub/x', 'x');
      expect((await trove(d, 'add', 'data')).code).toBe(0);
      return ['data/sub'];
    }, 'PATH_ALREADY_TRACKED'],
    ['a folder containing a tracked path', async (d: string) => {
      await write(d, 'data/sub/x', 'x');
      expect((await trove(d, 'add', 'data/sub')).code).toBe(0);
      return ['data'];
    }, 'PATH_ALREADY_TRACKED'],
    ['a symlink', async (d: string) => {
      await fsp.symlink('/etc', path.join(d, 'link'));
      return ['link'];
    }, 'SYMLINK'],
    ['a folder holding a symlink out of the repo', async (d: string) => {
      await write(d, 'data/ok', 'x');
      await fsp.symlink('/etc/passwd', path.join(d, 'data/evil'));
      return ['data'];
    }, 'SYMLINK'],
    ['a missing path', async (_d: string) => ['nope'], 'NOT_FOUND'],
    ['a pointer file', async (d: string) => {
      await write(d, 'm.bin', 'x');
      expect((await trove(d, 'add', 'm.bin')).code).toBe(0);
      return ['m.bin.trove'];
    }, 'BAD_ARGS'],
  ])('refuses %s, naming what to do, and writes nothing', async (_name, setup, code) => {
    const dir = await newRepo();
    const args = await setup(dir);
    const before = await snapshot(dir, (p) => p === '.git' || p.startsWith('.trove/'));
    const repo = await open(dir);
    const err = await repo.add(args).then(() => null, (e: TroveError) => e);
    repo.close();
    expect(err?.code).toBe(code);
    expect(err?.message.length).toBeGreaterThan(10);
    expect(await snapshot(dir, (p) => p === '.git' || p.startsWith('.trove/'))).toEqual(before);
    // the CLI says error + exit 1 (2 for usage)
    const cli = await trove(dir, 'add', ...args);
    expect(cli.code).toBe(code === 'BAD_ARGS' ? 2 : 1);
    expect(cli.stderr).toMatch(/^error: /m);
  });

  it('a git-tracked path error shows the git rm --cached command', async () => {
    const dir = await newRepo();
    await write(dir, 'big.csv', 'x');
    await git(dir, 'add', 'big.csv');
    const r = await trove(dir, 'add', 'big.csv');
    expect(r.stderr).toContain('git rm -r --cached big.csv');
  });
});

describe('status', () => {
  it('reports modified / added / deleted files, missing data and data not in cache', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a', 'a');
    await write(dir, 'data/b', 'b');
    await write(dir, 'm.bin', 'm');
    expect((await trove(dir, 'add', 'data', 'm.bin')).code).toBe(0);
    await write(dir, 'data/a', 'A');
    await fsp.rm(path.join(dir, 'data/b'));
    await write(dir, 'data/c', 'c');
    await fsp.rm(path.join(dir, 'm.bin'));
    const r = await trove(dir, 'status', '--json');
    expect(r.code).toBe(0);
    const st = JSON.parse(r.stdout);
    const data = st.find((s: { path: string }) => s.path === 'data');
    expect(data.workspace).toBe('modified');
    expect(data.changes).toEqual({ added: ['data/c'], modified: ['data/a'], deleted: ['data/b'] });
    expect(st.find((s: { path: string }) => s.path === 'm.bin').workspace).toBe('missing');
    // text form
    const t = await trove(dir, 'status');
    expect(t.stdout).toMatch(/data: modified/);
    expect(t.stdout).toMatch(/added: +data\/c/);
    expect(t.stdout).toMatch(/m\.bin: missing/);
    // not in cache: drop the cache
    await fsp.rm(path.join(dir, '.trove/cache'), { recursive: true });
    const st2 = JSON.parse((await trove(dir, 'status', '--json', 'm.bin')).stdout);
    expect(st2[0].cache).toBe('missing');
  });

  it('exits non-zero for an unknown path or an unreadable pointer', async () => {
    const dir = await newRepo();
    await write(dir, 'x', 'x');
    expect((await trove(dir, 'add', 'x')).code).toBe(0);
    const r = await trove(dir, 'status', 'nope');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nope: not tracked/);
    await write(dir, 'bad.trove', 'version: 1\npath: ../../etc\ntype: file\noid: sha256:' + 'a'.repeat(64) + '\nsize: 1\n');
    const r2 = await trove(dir, 'status');
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/bad\.trove: field 'path'/);
  });

  it('notices an edit made through a hardlink-mode checkout, without re-hashing unchanged files', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a', 'a');
    await write(dir, 'data/b', 'b');
    expect((await trove(dir, 'add', 'data')).code).toBe(0);
    expect((await trove(dir, 'config', 'cache.link', 'hardlink')).code).toBe(0);
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    expect((await trove(dir, 'checkout')).code).toBe(0);
    const repo = await open(dir);
    const obj = objectFile(repo.cache.dir, (await repo.listTracked())[0].pointer.oid, 'tree');
    repo.close();
    // the workspace file is the cache object (same inode), still read-only
    const ws = statSync(path.join(dir, 'data/a'));
    expect(ws.nlink).toBeGreaterThan(1);
    expect(ws.mode & 0o222).toBe(0);
    expect(existsSync(obj)).toBe(true);
    // an edit replaces the file (as editors do): status sees it; the cache keeps its bytes
    await fsp.rm(path.join(dir, 'data/a'));
    await write(dir, 'data/a', 'edited');
    const st = JSON.parse((await trove(dir, 'status', '--json')).stdout);
    expect(st[0].changes.modified).toEqual(['data/a']);
    expect((await trove(dir, 'fsck')).code).toBe(0);
  });
});

describe('checkout', () => {
  it('restores deleted and changed files, removes files the pointer no longer lists', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a', 'a');
    await write(dir, 'data/sub/b', 'b');
    expect((await trove(dir, 'add', 'data')).code).toBe(0);
    const good = await snapshot(path.join(dir, 'data'));
    // extra file whose content is in the cache (a copy of a), a deleted file, a changed file in cache
    await write(dir, 'data/extra', 'a');
    await fsp.rm(path.join(dir, 'data/sub/b'));
    expect((await trove(dir, 'checkout')).code).toBe(0);
    expect(await snapshot(path.join(dir, 'data'))).toEqual(good);
  });

  it('never overwrites content that is not in the cache without --force, and names the files', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a', 'a');
    await write(dir, 'model.pkl', 'v1');
    expect((await trove(dir, 'add', 'data', 'model.pkl')).code).toBe(0);
    await write(dir, 'data/a', 'precious edit');
    await write(dir, 'data/new', 'precious new file');
    await write(dir, 'model.pkl', 'v2 not added');
    const before = await snapshot(dir, (p) => p === '.git' || p.startsWith('.trove'));
    const r = await trove(dir, 'checkout');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('data/a');
    expect(r.stderr).toContain('data/new');
    expect(r.stderr).toContain('model.pkl');
    expect(r.stderr).toContain('--force');
    expect(await snapshot(dir, (p) => p === '.git' || p.startsWith('.trove'))).toEqual(before);
    const f = await trove(dir, 'checkout', '--force');
    expect(f.code).toBe(0);
    expect(await fsp.readFile(path.join(dir, 'data/a'), 'utf8')).toBe('a');
    expect(existsSync(path.join(dir, 'data/new'))).toBe(false);
    expect(await fsp.readFile(path.join(dir, 'model.pkl'), 'utf8')).toBe('v1');
  });

  it('restores what it can and names what is not in the cache (exit 1)', async () => {
    const dir = await newRepo();
    await write(dir, 'a.bin', 'a');
    await write(dir, 'b.bin', 'b');
    expect((await trove(dir, 'add', 'a.bin', 'b.bin')).code).toBe(0);
    await fsp.rm(path.join(dir, 'a.bin'));
    await fsp.rm(path.join(dir, 'b.bin'));
    const repo = await open(dir);
    const b = (await repo.listTracked()).find((t) => t.path === 'b.bin')!;
    await fsp.chmod(path.dirname(objectFile(repo.cache.dir, b.pointer.oid)), 0o755);
    await repo.cache.delete([{ oid: b.pointer.oid, kind: 'blob' }]);
    repo.close();
    const r = await trove(dir, 'checkout');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/b\.bin/);
    expect(r.stderr).toMatch(/trove pull/);
    expect(await fsp.readFile(path.join(dir, 'a.bin'), 'utf8')).toBe('a');
    expect(existsSync(path.join(dir, 'b.bin'))).toBe(false);
  });

  it.each(['copy', 'hardlink', 'symlink'])('cache.link %s gives the same bytes and a clean status', async (mode) => {
    const dir = await newRepo();
    await write(dir, 'data/a', 'alpha');
    await write(dir, 'data/s/b', 'beta');
    expect((await trove(dir, 'add', 'data')).code).toBe(0);
    expect((await trove(dir, 'config', 'cache.link', mode)).code).toBe(0);
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    expect((await trove(dir, 'checkout')).code).toBe(0);
    expect(await fsp.readFile(path.join(dir, 'data/s/b'), 'utf8')).toBe('beta');
    const st = JSON.parse((await trove(dir, 'status', '--json')).stdout);
    expect(st[0].workspace).toBe('unchanged');
  });
});

describe('hostile pointers and trees', () => {
  const OID = 'sha256:' + 'c'.repeat(64);
  it.each([
    ['path: ../x', `version: 1\npath: ../x\ntype: file\noid: ${OID}\nsize: 1\n`],
    ['absolute path', `version: 1\npath: /tmp/evil\ntype: file\noid: ${OID}\nsize: 1\n`],
    ['path with NUL', `version: 1\npath: "a\\0b"\ntype: file\noid: ${OID}\nsize: 1\n`],
    ['bad oid', `version: 1\npath: x\ntype: file\noid: sha256:1234\nsize: 1\n`],
    ['type: banana', `version: 1\npath: x\ntype: banana\noid: ${OID}\nsize: 1\n`],
    ['negative size', `version: 1\npath: x\ntype: file\noid: ${OID}\nsize: -3\n`],
    ['huge size', `version: 1\npath: x\ntype: file\noid: ${OID}\nsize: 99999999999999999999\n`],
    ['unknown version', `version: 7\npath: x\ntype: file\noid: ${OID}\nsize: 1\n`],
  ])('%s: checkout and status fail with BAD_POINTER naming file and field; nothing written', async (_n, text) => {
    const dir = await newRepo();
    const outside = tempDir();
    await write(dir, 'evil.trove', text);
    const before = await snapshot(dir, (p) => p === '.git');
    const beforeOut = await snapshot(outside);
    for (const cmd of ['checkout', 'status']) {
      const r = await trove(dir, cmd);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/evil\.trove: field '\w+'/);
    }
    expect(await snapshot(dir, (p) => p === '.git' || p === '.trove/lock')).toEqual(before);
    expect(await snapshot(outside)).toEqual(beforeOut);
  });

  it.each([['..'], ['a/b'], ['.']])('a tree with an entry named %j is refused (BAD_TREE) and nothing is written', async (name) => {
    const dir = await newRepo('repo');
    const repo = await open(dir);
    const blob = await repo.cache.putBytes('pwned', 'blob');
    const tree = await repo.cache.putBytes(JSON.stringify({ version: 1, entries: [{ name, type: 'file', oid: blob, size: 5 }] }), 'tree');
    repo.close();
    await write(dir, 'data.trove', `version: 1\npath: data\ntype: dir\noid: ${tree}\nsize: 5\nfiles: 1\n`);
    const skip = (p: string) => p === 'repo/.git' || p === 'repo/.trove/lock' || p.startsWith('repo/.trove/state.db');
    const before = await snapshot(path.dirname(dir), skip);
    const r = await trove(dir, 'checkout');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad entry name/);
    expect(await snapshot(path.dirname(dir), skip)).toEqual(before);
    expect(await codeOf((await open(dir)).checkout())).toBe('BAD_TREE');
  });
});

describe('ls, remove, move, config', () => {
  it('ls lists tracked paths and files with their state from the stat cache', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a', 'aaaa');
    await write(dir, 'data/b', 'b');
    expect((await trove(dir, 'add', 'data')).code).toBe(0);
    await fsp.rm(path.join(dir, 'data/b'));
    const rows = JSON.parse((await trove(dir, 'ls', 'data', '--json')).stdout);
    expect(rows.map((r: { path: string; state: string; size: number }) => [r.path, r.state, r.size])).toEqual([
      ['data/a', 'present', 4],
      ['data/b', 'missing', 1],
    ]);
    const top = JSON.parse((await trove(dir, 'ls', '--json')).stdout);
    expect(top).toMatchObject([{ path: 'data', type: 'dir', files: 2, size: 5 }]);
  });

  it('remove drops pointer and .gitignore line but keeps data; --purge deletes it', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a', 'a');
    await write(dir, 'm.bin', 'm');
    expect((await trove(dir, 'add', 'data', 'm.bin')).code).toBe(0);
    expect((await trove(dir, 'remove', 'data')).code).toBe(0);
    expect(existsSync(path.join(dir, 'data.trove'))).toBe(false);
    expect(existsSync(path.join(dir, 'data/a'))).toBe(true);
    expect(await fsp.readFile(path.join(dir, '.gitignore'), 'utf8')).not.toContain('/data');
    await write(dir, 'm.bin', 'edited');
    expect((await trove(dir, 'remove', '--purge', 'm.bin')).code).toBe(1); // would lose the edit
    expect(existsSync(path.join(dir, 'm.bin'))).toBe(true);
    expect((await trove(dir, 'remove', '--purge', '--force', 'm.bin')).code).toBe(0);
    expect(existsSync(path.join(dir, 'm.bin'))).toBe(false);
  });

  it('move carries data and pointer together', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a', 'a');
    expect((await trove(dir, 'add', 'data')).code).toBe(0);
    await fsp.mkdir(path.join(dir, 'sets'));
    const r = await trove(dir, 'move', 'data', 'sets/train');
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(path.join(dir, 'sets/train/a'))).toBe(true);
    expect(await fsp.readFile(path.join(dir, 'sets/train.trove'), 'utf8')).toContain('path: train');
    expect(await fsp.readFile(path.join(dir, 'sets/.gitignore'), 'utf8')).toContain('/train');
    expect(existsSync(path.join(dir, 'data.trove'))).toBe(false);
    const st = JSON.parse((await trove(dir, 'status', '--json')).stdout);
    expect(st).toMatchObject([{ path: 'sets/train', workspace: 'unchanged' }]);
    expect((await trove(dir, 'move', 'sets/train', '../out')).code).toBe(1);
  });

  it('config sets, gets, lists and unsets; --local goes to config.local; bad values are refused', async () => {
    const dir = await newRepo();
    expect((await trove(dir, 'config', 'cache.link', 'hardlink,copy')).code).toBe(0);
    expect((await trove(dir, 'config', 'cache.link')).stdout.trim()).toBe('hardlink,copy');
    expect((await trove(dir, 'config', '--local', 'cache.dir', '/tmp/shared-cache')).code).toBe(0);
    expect(await fsp.readFile(path.join(dir, '.trove/config.local'), 'utf8')).toContain('/tmp/shared-cache');
    expect(await fsp.readFile(path.join(dir, '.trove/config'), 'utf8')).not.toContain('shared-cache');
    expect(JSON.parse((await trove(dir, 'config', '--list', '--json')).stdout)).toMatchObject({ 'cache.link': ['hardlink', 'copy'], 'cache.dir': '/tmp/shared-cache' });
    expect((await trove(dir, 'config', 'cache.link', 'teleport')).code).toBe(1);
    expect((await trove(dir, 'config', 'nosuch.key', 'x')).code).toBe(1);
    const secret = await trove(dir, 'config', 'remotes.s3.aws_secret_access_key', 'SUPERSECRET');
    expect(secret.code).toBe(1);
    expect(await fsp.readFile(path.join(dir, '.trove/config'), 'utf8')).not.toContain('SUPERSECRET');
    expect((await trove(dir, 'config', '--unset', 'cache.link')).code).toBe(0);
    expect((await trove(dir, 'config', 'cache.link')).code).toBe(1);
  });

  it('a malformed config is a clear error that changes nothing', async () => {
    const dir = await newRepo();
    await write(dir, 'x', 'x');
    await write(dir, '.trove/config', 'cache: [unclosed\n');
    const r = await trove(dir, 'add', 'x');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\.trove\/config: not valid YAML/);
    expect(existsSync(path.join(dir, 'x.trove'))).toBe(false);
    await write(dir, '.trove/config', 'cache:\n  link: warp\n');
    const r2 = await trove(dir, 'status');
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/cache\.link/);
  });

  it('a shared cache.dir lets two clones share objects', async () => {
    const shared = tempDir();
    const a = await newRepo();
    const b = await newRepo();
    for (const d of [a, b]) expect((await trove(d, 'config', '--local', 'cache.dir', shared)).code).toBe(0);
    await write(a, 'm.bin', 'shared bytes');
    expect((await trove(a, 'add', 'm.bin')).code).toBe(0);
    await fsp.copyFile(path.join(a, 'm.bin.trove'), path.join(b, 'm.bin.trove'));
    expect((await trove(b, 'checkout')).code).toBe(0);
    expect(await fsp.readFile(path.join(b, 'm.bin'), 'utf8')).toBe('shared bytes');
  });
});

describe('fsck', () => {
  it('quarantines a corrupt object, reports it and exits 1; a clean cache exits 0', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a', 'aaa');
    await write(dir, 'data/b', 'bbb');
    expect((await trove(dir, 'add', 'data')).code).toBe(0);
    expect((await trove(dir, 'fsck')).code).toBe(0);
    const repo = await open(dir);
    const hex = await sha256File(path.join(dir, 'data/a'));
    const obj = objectFile(repo.cache.dir, `sha256:${hex}`);
    repo.close();
    await fsp.chmod(obj, 0o644);
    await fsp.writeFile(obj, 'rot');
    const r = await trove(dir, 'fsck', '--json');
    expect(r.code).toBe(1);
    const res = JSON.parse(r.stdout);
    expect(res.corrupt.map((c: { oid: string }) => c.oid)).toEqual([`sha256:${hex}`]);
    expect(existsSync(obj)).toBe(false);
    expect(existsSync(path.join(dir, res.corrupt[0].quarantinedAs))).toBe(true);
    expect(await fsp.readFile(path.join(dir, res.corrupt[0].quarantinedAs), 'utf8')).toBe('rot');
    // status now says the workspace is fine but the object is gone from the cache: add puts it back
    expect((await trove(dir, 'add', 'data')).code).toBe(0);
    expect((await trove(dir, 'fsck')).code).toBe(0);
  });
});
