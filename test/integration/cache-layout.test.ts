/**
 * Issue 9 §1: the cache layout has a version, and a wave-1 cache (every object in objects/sha256, no
 * `layout` file) is migrated once, crash-safely, keeping workspace symlinks valid. The wave-1 cache is
 * built for real: `trove add` + a symlink-mode checkout, then the cache is put back in wave 1's layout by
 * hand (trees moved into objects/, the layout file removed), which is byte for byte what wave 1 wrote.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, promises as fsp, readdirSync, readlinkSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, git, newLooseRepo as newRepo, trove, write } from '../helpers/repo.js';
import { cloneOf, commitAll, ok, okJson } from './remoteHelpers.js';

/** Every object file of a cache kind folder, as `fan + name`. */
function names(cache: string, kindDir: 'objects' | 'trees'): string[] {
  const root = path.join(cache, kindDir, 'sha256');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((fan) => readdirSync(path.join(root, fan)).map((n) => fan + n)).sort();
}

/** Turns a current cache into wave 1's layout: trees back into objects/, no layout file. */
function toWave1(cache: string): void {
  const trees = path.join(cache, 'trees', 'sha256');
  for (const fan of readdirSync(trees)) {
    for (const n of readdirSync(path.join(trees, fan))) {
      const dest = path.join(cache, 'objects', 'sha256', fan, n);
      mkdirSync(path.dirname(dest), { recursive: true });
      if (existsSync(dest)) rmSync(path.join(trees, fan, n));
      else renameSync(path.join(trees, fan, n), dest);
    }
  }
  rmSync(path.join(cache, 'trees'), { recursive: true });
  rmSync(path.join(cache, 'layout'));
}

/** The exact bytes of the empty tree: a user file with them is a blob that looks like a tree. */
const EMPTY_TREE = '{"version":1,"entries":[]}';

/** A repo whose cache is in wave 1's layout, with data checked out as symlinks into the cache. */
async function wave1Repo(): Promise<{ dir: string; cache: string; trees: string[] }> {
  const dir = await newRepo();
  await write(dir, 'data/a.csv', 'a,1\n');
  await write(dir, 'data/sub/b.csv', 'b,2\n');
  await write(dir, 'data/sub/deep/c.csv', 'c,3\n');
  await write(dir, 'data/looks-like-tree.json', EMPTY_TREE);
  await write(dir, 'model.bin', 'weights v1\n');
  await ok(dir, 'add', 'data', 'model.bin');
  await commitAll(dir, 'v1');
  await ok(dir, 'config', 'cache.link', 'symlink');
  await fsp.rm(path.join(dir, 'data'), { recursive: true });
  await fsp.rm(path.join(dir, 'model.bin'));
  await ok(dir, 'checkout');
  const cache = path.join(dir, '.trove/cache');
  const trees = names(cache, 'trees');
  expect(trees).toHaveLength(3); // data, data/sub, data/sub/deep
  toWave1(cache);
  expect(existsSync(path.join(cache, 'layout'))).toBe(false);
  expect(names(cache, 'objects')).toHaveLength(8); // 5 blobs + 3 trees, one folder as wave 1 had them
  // the workspace is links into the cache's objects folder
  expect(readlinkSync(path.join(dir, 'data/sub/b.csv'))).toContain(path.join('.trove', 'cache', 'objects', 'sha256'));
  return { dir, cache, trees };
}

describe('cache layout version 2 and the wave-1 migration', () => {
  it('migrates a wave-1 cache with a symlink-mode checkout on first use; status, checkout, fsck, gc and push all work after', async () => {
    const { dir, cache, trees } = await wave1Repo();
    const blobsBefore = names(cache, 'objects');

    // 1. the first command migrates: layout 2 written, trees linked into trees/, every blob where it was
    const st = await okJson<{ path: string; workspace: string; cache: string }[]>(dir, 'status', '--json');
    expect(st.map((s) => [s.path, s.workspace, s.cache])).toEqual([['data', 'unchanged', 'present'], ['model.bin', 'unchanged', 'present']]);
    expect(JSON.parse(await fsp.readFile(path.join(cache, 'layout'), 'utf8'))).toEqual({ format: 'trove-cache', version: 2 });
    const emptyTree = (await import('node:crypto')).createHash('sha256').update(EMPTY_TREE).digest('hex');
    // the real trees, and the user file whose bytes are a tree (it is both: nothing decides for the user)
    expect(names(cache, 'trees')).toEqual([...trees, emptyTree].sort());
    expect(names(cache, 'objects')).toEqual(blobsBefore);
    // the workspace links still resolve to the right bytes
    expect(await fsp.readFile(path.join(dir, 'data/sub/deep/c.csv'), 'utf8')).toBe('c,3\n');
    expect(await fsp.readFile(path.join(dir, 'data/looks-like-tree.json'), 'utf8')).toBe(EMPTY_TREE);
    expect(await fsp.readFile(path.join(dir, 'model.bin'), 'utf8')).toBe('weights v1\n');

    // 2. fsck checks every object as its kind
    expect((await ok(dir, 'fsck')).stdout).toMatch(/12 objects .* verified, no corruption/);

    // 3. checkout restores a deleted link and a changed version
    await fsp.rm(path.join(dir, 'data/sub/b.csv'));
    await ok(dir, 'checkout', 'data');
    expect(await fsp.readFile(path.join(dir, 'data/sub/b.csv'), 'utf8')).toBe('b,2\n');

    // 4. gc removes exactly the duplicates the migration left: wave 1's trees as blobs, the tree copy of the user file
    const plan = await okJson<{ candidates: { oid: string; kind: string }[] }>(dir, 'gc', '--dry-run', '--grace', '0', '--json');
    expect(plan.candidates.map((c) => `${c.kind}:${c.oid.slice(7)}`).sort()).toEqual([...trees.map((t) => `blob:${t}`), `tree:${emptyTree}`].sort());
    await ok(dir, 'gc', '--force', '--grace', '0');
    expect(names(cache, 'trees')).toEqual(trees);
    expect(names(cache, 'objects')).toEqual(blobsBefore.filter((b) => !trees.includes(b)));
    const after = await okJson<{ workspace: string; cache: string }[]>(dir, 'status', '--json');
    expect(after.map((s) => [s.workspace, s.cache])).toEqual([['unchanged', 'present'], ['unchanged', 'present']]);
    expect(await fsp.readFile(path.join(dir, 'data/looks-like-tree.json'), 'utf8')).toBe(EMPTY_TREE);
    expect((await ok(dir, 'fsck')).stdout).toMatch(/8 objects .* verified/);

    // 5. push, and a fresh clone pulls everything back
    const remote = path.join(path.dirname(dir), 'remote');
    await ok(dir, 'remote', 'add', 'origin', remote);
    await commitAll(dir, 'remote');
    await ok(dir, 'push');
    const b = await cloneOf(dir);
    await ok(b, 'config', 'cache.link', 'copy', '--local');
    await ok(b, 'pull');
    expect(await fsp.readFile(path.join(b, 'data/sub/deep/c.csv'), 'utf8')).toBe('c,3\n');
    expect(await fsp.readFile(path.join(b, 'data/looks-like-tree.json'), 'utf8')).toBe(EMPTY_TREE);
    expect(JSON.parse(await fsp.readFile(path.join(b, '.trove/cache/layout'), 'utf8')).version).toBe(2);
  }, 60_000);

  it('kill -9 in the middle of the migration: the cache stays version 1 and the next command completes it', async () => {
    const { dir, cache, trees } = await wave1Repo();
    // the migration in a child that kills itself after its second link (the cache then is half migrated)
    const script = `import { migrateV1 } from ${JSON.stringify(path.join(ROOT, 'dist/core/store/layout.js'))};
      migrateV1(${JSON.stringify(cache)}, { afterLink: (n) => { if (n === 2) process.kill(process.pid, 'SIGKILL'); } });`;
    const signal = await new Promise<string | null>((resolve) => spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' }).on('exit', (_c, s) => resolve(s)));
    expect(signal).toBe('SIGKILL');
    expect(names(cache, 'trees')).toHaveLength(2);
    expect(existsSync(path.join(cache, 'layout'))).toBe(false);
    const status = await okJson<{ workspace: string; cache: string }[]>(dir, 'status', '--json');
    expect(status.map((s) => [s.workspace, s.cache])).toEqual([['unchanged', 'present'], ['unchanged', 'present']]);
    expect(names(cache, 'trees')).toEqual(expect.arrayContaining(trees));
    expect(JSON.parse(await fsp.readFile(path.join(cache, 'layout'), 'utf8')).version).toBe(2);
    expect((await ok(dir, 'fsck')).stdout).toMatch(/no corruption/);
    expect(existsSync(path.join(dir, '.trove/lock'))).toBe(false); // the migration let go of the repo lock
  }, 60_000);

  it.each([
    ['a newer layout', '{"format":"trove-cache","version":3}\n', /layout version 3, newer than this trove understands/],
    ['a layout file that is not JSON', 'version: 2\n', /layout: is not JSON/],
    ['a layout file of something else', '{"format":"other","version":2}\n', /is not a trove cache layout/],
  ])('%s is refused naming the file (exit 1), and nothing is written', async (_what, text, msg) => {
    const dir = await newRepo();
    await write(dir, 'f.txt', 'x\n');
    await ok(dir, 'add', 'f.txt');
    const cache = path.join(dir, '.trove/cache');
    await fsp.writeFile(path.join(cache, 'layout'), text);
    await write(dir, 'g.txt', 'y\n');
    const before = names(cache, 'objects');
    for (const args of [['status'], ['add', 'g.txt'], ['fsck'], ['gc', '--force']]) {
      const r = await trove(dir, ...args);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(path.join(cache, 'layout'));
      expect(r.stderr).toMatch(msg);
    }
    expect(names(cache, 'objects')).toEqual(before);
    expect(existsSync(path.join(dir, 'g.txt.trove'))).toBe(false);
    expect(await git(dir, 'status', '--porcelain')).not.toContain('g.txt.trove');
  }, 60_000);

  it('a layout that is a FIFO or a folder is refused at once (never waited on), naming the file', async () => {
    for (const make of ['fifo', 'folder'] as const) {
      const dir = await newRepo();
      await write(dir, 'f.txt', 'x\n');
      await ok(dir, 'add', 'f.txt');
      const file = path.join(dir, '.trove/cache/layout');
      rmSync(file);
      if (make === 'fifo') execFileSync('mkfifo', [file]);
      else mkdirSync(file);
      const r = await trove(dir, 'status');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`${file}: is not a regular file`);
    }
  }, 30_000);
});
