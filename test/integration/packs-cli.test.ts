/**
 * Packs through the CLI, as a user meets them: add writes a few packs, every command that reads
 * objects finds them there, gc repacks, fsck checks and repairs, and kill -9 at any point of add or
 * of a repack leaves a state that fsck passes and a re-run completes.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, promises as fsp, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { git, newRepo, sha256File, sh, spawnTrove, tempDir, trove, write } from '../helpers/repo.js';

const packsDir = (dir: string) => path.join(dir, '.trove/cache/packs');
const packFiles = (dir: string, ext: 'pack' | 'idx') => (existsSync(packsDir(dir)) ? readdirSync(packsDir(dir)).filter((n) => n.endsWith(`.${ext}`)).sort() : []);

/** Files below `root` (recursively), relative. */
function filesBelow(root: string): string[] {
  if (!existsSync(root)) return [];
  const out: string[] = [];
  const walk = (d: string, pre: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name), `${pre}${e.name}/`);
      else out.push(pre + e.name);
    }
  };
  walk(root, '');
  return out.sort();
}

async function ok(dir: string, ...args: string[]) {
  const r = await trove(dir, ...args);
  expect(r.code, `trove ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}

/** n small files (1–4 KiB) in data/, plus one file above the pack threshold. */
async function smallDataset(dir: string, n: number): Promise<Map<string, string>> {
  const want = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const rel = `data/d${i % 7}/f${i}.bin`;
    await write(dir, rel, randomBytes(1024 + (i % 4) * 1000));
  }
  await write(dir, 'data/big.bin', randomBytes(300 << 10));
  for (const f of filesBelow(path.join(dir, 'data'))) want.set(f, await sha256File(path.join(dir, 'data', f)));
  return want;
}

async function expectData(dir: string, want: Map<string, string>) {
  const got = filesBelow(path.join(dir, 'data'));
  expect(got).toEqual([...want.keys()].sort());
  for (const [f, h] of want) expect(await sha256File(path.join(dir, 'data', f)), f).toBe(h);
}

describe('packs through the CLI', () => {
  it('add writes one pack for many small files; status, checkout (copy and hardlink modes) and diff read from it', async () => {
    const dir = await newRepo();
    const want = await smallDataset(dir, 150);
    await ok(dir, 'add', 'data');
    // one pack + index; the only loose blob is the big file; no temp files left
    expect(packFiles(dir, 'pack')).toHaveLength(1);
    expect(packFiles(dir, 'idx')).toHaveLength(1);
    expect(filesBelow(path.join(dir, '.trove/cache/objects'))).toHaveLength(1);
    expect(filesBelow(path.join(dir, '.trove/tmp'))).toEqual([]);
    const st = JSON.parse((await ok(dir, 'status', '--json')).stdout);
    expect(st).toMatchObject([{ path: 'data', workspace: 'unchanged', cache: 'present' }]);

    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    await ok(dir, 'checkout');
    await expectData(dir, want);

    // a copy-mode checkout wrote nothing into the cache
    expect(filesBelow(path.join(dir, '.trove/cache/objects'))).toHaveLength(1);
    // switched to hardlink mode (DVC's cache.type): the first checkout writes each packed object
    // loose once and links it, so this and every later checkout link
    await ok(dir, 'config', 'cache.link', 'hardlink');
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    const co = JSON.parse((await ok(dir, 'checkout', '--json')).stdout);
    expect(JSON.stringify(co)).toContain('"hardlink":151');
    expect(JSON.stringify(co)).not.toContain('"copy"');
    await expectData(dir, want);
    expect(statSync(path.join(dir, 'data/d0/f0.bin')).nlink).toBe(2);
    expect(statSync(path.join(dir, 'data/big.bin')).nlink).toBe(2);
    expect(filesBelow(path.join(dir, '.trove/cache/objects'))).toHaveLength(151);
    expect(filesBelow(path.join(dir, '.trove/tmp'))).toEqual([]);
    expect((await trove(dir, 'fsck')).code).toBe(0);
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    await ok(dir, 'checkout');
    await expectData(dir, want);
    expect(statSync(path.join(dir, 'data/d1/f1.bin')).nlink).toBe(2);
    expect(filesBelow(path.join(dir, '.trove/cache/objects'))).toHaveLength(151);
    await ok(dir, 'config', 'cache.link', 'copy');

    // diff between two versions, both read from packs
    await git(dir, 'add', '-A');
    await git(dir, 'commit', '-qm', 'v1');
    await fsp.rm(path.join(dir, 'data/d1/f1.bin'));
    await write(dir, 'data/d1/f1.bin', 'changed\n');
    await write(dir, 'data/new.txt', 'new\n');
    await ok(dir, 'add', 'data');
    await git(dir, 'commit', '-qam', 'v2');
    const d = JSON.parse((await ok(dir, 'diff', 'HEAD~1', 'HEAD', '--json')).stdout);
    const text = JSON.stringify(d);
    expect(text).toContain('data/new.txt');
    expect(text).toContain('data/d1/f1.bin');
    expect(text).not.toContain('data/d2/f2.bin');
    // the second add appended a second (small) pack, it did not rewrite the first
    expect(packFiles(dir, 'pack')).toHaveLength(2);
    await ok(dir, 'checkout', 'HEAD~1', '--', 'data');
    await expectData(dir, want);
  });

  it('a repo that links files into the workspace (cache.link hardlink) keeps file contents loose, so small files are linked too', async () => {
    const dir = await newRepo();
    await ok(dir, 'config', 'cache.link', 'hardlink');
    const want = await smallDataset(dir, 40);
    await ok(dir, 'add', 'data');
    // every file content is a loose object (40 small + the big one); only trees went into a pack
    expect(filesBelow(path.join(dir, '.trove/cache/objects'))).toHaveLength(41);
    expect(packFiles(dir, 'pack')).toHaveLength(1);
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    await ok(dir, 'checkout');
    await expectData(dir, want);
    expect(statSync(path.join(dir, 'data/d0/f0.bin')).nlink).toBe(2);
    // asked for explicitly, packs take the small files again (and those are copied out, not unpacked)
    await ok(dir, 'config', 'cache.packs', 'true');
    await write(dir, 'data/extra.txt', 'extra\n');
    await ok(dir, 'add', 'data');
    expect(filesBelow(path.join(dir, '.trove/cache/objects'))).toHaveLength(41);
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    await ok(dir, 'checkout');
    expect(statSync(path.join(dir, 'data/extra.txt')).nlink).toBe(1);
    expect(statSync(path.join(dir, 'data/d0/f0.bin')).nlink).toBe(2);
    expect(filesBelow(path.join(dir, '.trove/cache/objects'))).toHaveLength(41);
  });

  it('push and pull move packed objects; a fresh clone gets them back into its own packs', async () => {
    const dir = await newRepo();
    const want = await smallDataset(dir, 120);
    const remote = tempDir();
    await ok(dir, 'remote', 'add', 'origin', remote);
    await ok(dir, 'add', 'data');
    await git(dir, 'add', '-A');
    await git(dir, 'commit', '-qm', 'data');
    await ok(dir, 'push');
    const clone = path.join(tempDir(), 'clone');
    const c = await sh('git', ['clone', '-q', dir, clone], dir);
    expect(c.code, c.stderr).toBe(0);
    await ok(clone, 'pull');
    await expectData(clone, want);
    expect(packFiles(clone, 'pack').length).toBeGreaterThanOrEqual(1);
    expect(JSON.parse((await ok(clone, 'fsck', '--json')).stdout).corrupt).toEqual([]);
    // a second push has nothing to send
    const again = await ok(dir, 'push', '--json');
    expect(again.stdout).not.toContain('"uploaded":1');
  });

  it('gc repacks: the garbage leaves, what is kept still checks out and verifies', async () => {
    const dir = await newRepo();
    await smallDataset(dir, 200);
    await ok(dir, 'add', 'data');
    const [v1Pack] = packFiles(dir, 'pack');
    // replace half the files: half of the first pack becomes garbage
    for (let i = 0; i < 100; i++) await write(dir, `data/d${i % 7}/f${i}.bin`, randomBytes(1500));
    await ok(dir, 'add', 'data');
    const want = new Map<string, string>();
    for (const f of filesBelow(path.join(dir, 'data'))) want.set(f, await sha256File(path.join(dir, 'data', f)));
    await git(dir, 'add', '-A');
    await git(dir, 'commit', '-qm', 'v2 only');
    const gc = await ok(dir, 'gc', '--grace', '0', '--force', '--json');
    expect(gc.stdout.length).toBeGreaterThan(0);
    expect(packFiles(dir, 'pack')).not.toContain(v1Pack);
    expect(filesBelow(path.join(dir, '.trove/tmp'))).toEqual([]);
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    await ok(dir, 'checkout');
    await expectData(dir, want);
    const f = JSON.parse((await ok(dir, 'fsck', '--json')).stdout);
    expect(f.corrupt).toEqual([]);
    // the old versions are gone from the cache: a checkout of them is refused as missing
    expect((await trove(dir, 'status', '--json')).code).toBe(0);
  });

  it('fsck: a flipped byte in a pack is found, the bad object quarantined, good ones kept; pull restores it', async () => {
    const dir = await newRepo();
    const want = await smallDataset(dir, 40);
    const remote = tempDir();
    await ok(dir, 'remote', 'add', 'origin', remote);
    await ok(dir, 'add', 'data');
    await git(dir, 'add', '-A');
    await git(dir, 'commit', '-qm', 'data');
    await ok(dir, 'push');
    const [pack] = packFiles(dir, 'pack');
    const file = path.join(packsDir(dir), pack);
    chmodSync(file, 0o644);
    const b = readFileSync(file);
    b[200] ^= 0xff; // inside the first entry's body
    writeFileSync(file, b);
    const bad = await trove(dir, 'fsck', '--json');
    expect(bad.code).toBe(1);
    const r = JSON.parse(bad.stdout);
    expect(r.corrupt.length).toBeGreaterThanOrEqual(1);
    expect(existsSync(file)).toBe(false); // rewritten without the bad object
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    await ok(dir, 'pull');
    await expectData(dir, want);
    const clean = await ok(dir, 'fsck', '--json');
    expect(JSON.parse(clean.stdout).corrupt).toEqual([]);
  });
});

describe('kill -9 with packs', () => {
  // the random delays are printed in the test name's output on failure, so a failure can be replayed
  const delays = [80, 250, 600].map((base) => base + Math.floor(Math.random() * 150));
  // gc spends its first few hundred ms planning (git revisions, marking); the repack comes after
  const gcDelays = [350, 700].map((base) => base + Math.floor(Math.random() * 250));

  it.each(delays)('add killed after %i ms: fsck passes, a re-run completes and the data is whole', async (delay) => {
    const dir = await newRepo();
    const want = await smallDataset(dir, 800);
    const child = spawnTrove(dir, ['add', 'data']);
    let stderr = '';
    child.stderr?.on('data', (c) => (stderr += c));
    const exited = new Promise((r) => child.once('exit', r));
    await new Promise((r) => setTimeout(r, delay));
    if (child.exitCode !== null) expect(child.exitCode, stderr).toBe(0);
    child.kill('SIGKILL');
    await exited;
    expect((await trove(dir, 'fsck', '--json')).code).toBe(0);
    await ok(dir, 'add', 'data');
    expect(filesBelow(path.join(dir, '.trove/tmp'))).toEqual([]);
    expect((await ok(dir, 'fsck', '--json')).code).toBe(0);
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    await ok(dir, 'checkout');
    await expectData(dir, want);
  });

  it.each(gcDelays)('gc repack killed after %i ms: fsck passes, a re-run completes, nothing kept is lost', async (delay) => {
    const dir = await newRepo();
    await smallDataset(dir, 600);
    await ok(dir, 'add', 'data');
    for (let i = 0; i < 300; i++) await write(dir, `data/d${i % 7}/f${i}.bin`, randomBytes(1200));
    await ok(dir, 'add', 'data');
    const want = new Map<string, string>();
    for (const f of filesBelow(path.join(dir, 'data'))) want.set(f, await sha256File(path.join(dir, 'data', f)));
    await git(dir, 'add', '-A');
    await git(dir, 'commit', '-qm', 'v2 only');
    const child = spawnTrove(dir, ['gc', '--grace', '0', '--force']);
    const exited = new Promise((r) => child.once('exit', r));
    await new Promise((r) => setTimeout(r, delay));
    child.kill('SIGKILL');
    await exited;
    const f = await trove(dir, 'fsck', '--json');
    expect(f.code, f.stdout + f.stderr).toBe(0);
    await ok(dir, 'gc', '--grace', '0', '--force');
    expect(filesBelow(path.join(dir, '.trove/tmp'))).toEqual([]);
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    await ok(dir, 'checkout');
    await expectData(dir, want);
    expect(JSON.parse((await ok(dir, 'fsck', '--json')).stdout).corrupt).toEqual([]);
  });
});

describe('a loose cache and packs side by side', () => {
  it('objects stored loose (cache.packs false, like a wave-1 cache) stay readable once packing is on; gc and fsck handle both', async () => {
    const dir = await newRepo();
    await ok(dir, 'config', 'cache.packs', 'false');
    const v1 = await smallDataset(dir, 30);
    await ok(dir, 'add', 'data');
    expect(packFiles(dir, 'pack')).toEqual([]);
    const looseCount = filesBelow(path.join(dir, '.trove/cache/objects')).length;
    expect(looseCount).toBe(31);
    await git(dir, 'add', '-A');
    await git(dir, 'commit', '-qm', 'v1 loose');
    await ok(dir, 'config', 'cache.packs', 'true');
    await write(dir, 'data/extra/n.txt', 'packed now\n');
    await ok(dir, 'add', 'data');
    expect(packFiles(dir, 'pack')).toHaveLength(1);
    await git(dir, 'add', '-A');
    await git(dir, 'commit', '-qm', 'v2 packed');
    // v1 (all loose) and v2 (loose + packed) both check out
    await ok(dir, 'checkout', 'HEAD~1', '--', 'data');
    await expectData(dir, v1);
    await ok(dir, 'checkout', 'HEAD', '--', 'data');
    expect(readFileSync(path.join(dir, 'data/extra/n.txt'), 'utf8')).toBe('packed now\n');
    const f = JSON.parse((await ok(dir, 'fsck', '--json')).stdout);
    expect(f.corrupt).toEqual([]);
    expect(f.checked).toBeGreaterThan(looseCount);
    await ok(dir, 'gc', '--grace', '0', '--force', '--all-commits');
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    await ok(dir, 'checkout');
    expect(readFileSync(path.join(dir, 'data/extra/n.txt'), 'utf8')).toBe('packed now\n');
  });
});
