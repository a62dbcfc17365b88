/**
 * gc merges small packs (store/packMerge.ts), and fsck takes the repo lock. Many small adds leave a pack
 * each; gc folds them into one, dropping garbage whatever its share; a kill -9 at each step of the merge
 * (real SIGKILL of a child doing the merge) leaves a state fsck passes and a re-run of gc completes.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, promises as fsp, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireLock } from '../../src/core/lock.js';
import { git, newRepo, ROOT, sh, sha256File, spawnTrove, tempDir, trove, write } from '../helpers/repo.js';

const packsDir = (dir: string) => path.join(dir, '.trove/cache/packs');
const packFiles = (dir: string, ext: 'pack' | 'idx') => (existsSync(packsDir(dir)) ? readdirSync(packsDir(dir)).filter((n) => n.endsWith(`.${ext}`)).sort() : []);

async function ok(dir: string, ...args: string[]) {
  const r = await trove(dir, ...args);
  expect(r.code, `trove ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}

async function hashes(dir: string): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const e of await fsp.readdir(path.join(dir, 'data'), { recursive: true, withFileTypes: true })) {
    if (e.isFile()) m.set(path.relative(dir, path.join(e.parentPath, e.name)), await sha256File(path.join(e.parentPath, e.name)));
  }
  return m;
}

async function expectData(dir: string, want: Map<string, string>) {
  await fsp.rm(path.join(dir, 'data'), { recursive: true, force: true });
  await ok(dir, 'checkout');
  expect(await hashes(dir)).toEqual(want);
}

/**
 * Six adds, one pack each (the first holds 40 files). Only the last version is committed: the first
 * version of data/a/f0.bin and the old trees are garbage, well under REPACK_GARBAGE_SHARE of pack 1.
 */
async function sixSmallPacks(): Promise<{ dir: string; want: Map<string, string>; objects: number }> {
  const dir = await newRepo();
  for (let i = 0; i < 40; i++) await write(dir, `data/a/f${i}.bin`, randomBytes(1500));
  await ok(dir, 'add', 'data');
  for (let k = 1; k < 6; k++) {
    await write(dir, `data/b${k}/g.bin`, randomBytes(1000 + k));
    if (k === 5) await write(dir, 'data/a/f0.bin', randomBytes(1500)); // the old f0 becomes garbage
    await ok(dir, 'add', 'data');
  }
  expect(packFiles(dir, 'pack')).toHaveLength(6);
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-qm', 'data');
  const objects = JSON.parse((await ok(dir, 'fsck', '--json')).stdout).checked as number;
  return { dir, want: await hashes(dir), objects };
}

/**
 * Runs the merge gc would run (store/packMerge.ts over the repo's cache) in a child that SIGKILLs itself
 * at `at`: after writing `n` entries of the new pack, at the new pack's index rename, at the first old
 * index's removal, or at the first old pack's removal. fs calls are intercepted through node:fs itself
 * (syncBuiltinESMExports), so the merge code runs unchanged.
 */
async function mergeKilledAt(dir: string, at: 'write' | 'new-index' | 'old-index' | 'old-pack'): Promise<void> {
  const script = path.join(dir, '.trove', 'merge-kill.mjs');
  writeFileSync(script, `
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
const at = ${JSON.stringify(at)};
const die = () => process.kill(process.pid, 'SIGKILL');
const rename = fs.renameSync, rm = fs.rmSync;
fs.renameSync = (a, b) => { if (at === 'new-index' && String(b).endsWith('.idx')) die(); return rename(a, b); };
fs.rmSync = (p, o) => {
  if (at === 'old-index' && String(p).endsWith('.idx') && String(p).includes('/packs/')) die();
  if (at === 'old-pack' && String(p).endsWith('.pack') && String(p).includes('/packs/')) die();
  return rm(p, o);
};
syncBuiltinESMExports();
const { PackedObjects } = await import(${JSON.stringify(path.join(ROOT, 'dist/core/store/packed.js'))});
const { planMerge } = await import(${JSON.stringify(path.join(ROOT, 'dist/core/store/packMerge.js'))});
const packs = new PackedObjects(${JSON.stringify(path.join(dir, '.trove/cache'))}, ${JSON.stringify(path.join(dir, '.trove/tmp'))});
let n = 0;
packs.mergeGroups(planMerge(packs.packSizes()), () => { if (at === 'write' && ++n === 20) die(); return true; });
console.log('not killed');
`);
  const r = await sh(process.execPath, [script], dir);
  expect(r.stdout).not.toContain('not killed');
  expect(r.code).not.toBe(0);
  await fsp.rm(script);
}

describe('gc merges small packs', () => {
  afterAll(async () => {
    if (template) await fsp.rm(template.dir, { recursive: true, force: true });
  });

  it('six small packs become one; garbage under the repack share is dropped with them; the data is whole', async () => {
    const { dir, want, objects } = await sixSmallPacks();
    const plan = JSON.parse((await ok(dir, 'gc', '--grace', '0', '--dry-run', '--json')).stdout);
    expect(plan.packsToMerge).toBe(6);
    expect(plan.candidates.length).toBeGreaterThanOrEqual(1); // the old f0 and the old trees
    const r = await ok(dir, 'gc', '--grace', '0', '--force', '--json');
    const done = JSON.parse(r.stdout);
    expect(done.packsMerged).toBe(6);
    expect(packFiles(dir, 'pack')).toHaveLength(1);
    expect(packFiles(dir, 'idx')).toHaveLength(1);
    const f = JSON.parse((await ok(dir, 'fsck', '--json')).stdout);
    expect(f.corrupt).toEqual([]);
    expect(f.checked).toBe(objects - plan.candidates.length); // the garbage is gone, though under 20 % of its pack
    // nothing more to merge: a second gc has no work
    expect(JSON.parse((await ok(dir, 'gc', '--grace', '0', '--dry-run', '--json')).stdout).packsToMerge).toBeUndefined();
    await expectData(dir, want);
  });

  it('three small packs are left alone; at four, a plain gc merges them without a question (it deletes nothing in use)', async () => {
    const dir = await newRepo();
    const add = async (k: number) => {
      await write(dir, `data/f${k}.bin`, randomBytes(1000));
      await ok(dir, 'add', 'data');
      await git(dir, 'add', '-A');
      await git(dir, 'commit', '-qm', `v${k}`);
    };
    for (let k = 0; k < 3; k++) await add(k);
    expect(packFiles(dir, 'pack')).toHaveLength(3);
    const plan = JSON.parse((await ok(dir, 'gc', '--grace', '0', '--dry-run', '--json')).stdout);
    expect(plan.packsToMerge).toBeUndefined();
    await ok(dir, 'gc', '--grace', '0', '--all-commits');
    expect(packFiles(dir, 'pack')).toHaveLength(3);
    await add(3);
    // every version is committed: nothing to delete, so no --force is needed (no terminal here)
    const r = await ok(dir, 'gc', '--grace', '0', '--all-commits');
    expect(r.stdout).toMatch(/merged 4 small packs/);
    expect(packFiles(dir, 'pack')).toHaveLength(1);
    await expectData(dir, await hashes(dir));
  });

  // the six-pack repo is made once and copied for each kill point (six adds cost more than the rest)
  let template: Awaited<ReturnType<typeof sixSmallPacks>>;
  const copyOfTemplate = async () => {
    if (!template) {
      const t = await sixSmallPacks();
      const keep = mkdtempSync(path.join(os.tmpdir(), 'trove-merge-template-'));
      await fsp.cp(t.dir, keep, { recursive: true });
      template = { ...t, dir: keep };
    }
    const dir = tempDir();
    await fsp.cp(template.dir, dir, { recursive: true });
    return { ...template, dir };
  };

  it.each(['write', 'new-index', 'old-index', 'old-pack'] as const)('merge killed (-9) at %s: fsck passes, a re-run of gc completes, nothing is lost', async (at) => {
    const { dir, want, objects } = await copyOfTemplate();
    await mergeKilledAt(dir, at);
    // what each kill leaves on disk (packs, indexes, temp files)
    const tmpNames = existsSync(path.join(dir, '.trove/tmp')) ? readdirSync(path.join(dir, '.trove/tmp')) : [];
    const state = { packs: packFiles(dir, 'pack').length, idx: packFiles(dir, 'idx').length, temps: tmpNames.length };
    expect(state).toEqual({ write: { packs: 6, idx: 6, temps: 1 }, 'new-index': { packs: 7, idx: 6, temps: 1 }, 'old-index': { packs: 7, idx: 7, temps: 0 }, 'old-pack': { packs: 7, idx: 1, temps: 0 } }[at]);
    const f = await trove(dir, 'fsck', '--json');
    expect(f.code, f.stdout + f.stderr).toBe(0);
    expect(JSON.parse(f.stdout).checked).toBe(objects); // every object still there, once each in the listing
    await ok(dir, 'gc', '--grace', '0', '--force');
    expect(packFiles(dir, 'pack')).toHaveLength(1);
    expect(existsSync(path.join(dir, '.trove/tmp')) ? readdirSync(path.join(dir, '.trove/tmp')) : []).toEqual([]);
    expect(JSON.parse((await ok(dir, 'fsck', '--json')).stdout).corrupt).toEqual([]);
    await expectData(dir, want);
  });
});

describe('fsck takes the repo lock', () => {
  it('fsck waits while another command holds the lock, repairs nothing meanwhile, then runs', async () => {
    const dir = await newRepo();
    for (let i = 0; i < 10; i++) await write(dir, `data/f${i}.bin`, randomBytes(1000));
    await ok(dir, 'add', 'data');
    const [idx] = packFiles(dir, 'idx');
    await fsp.rm(path.join(packsDir(dir), idx)); // a pack without an index: fsck rebuilds it
    const unlock = await acquireLock(path.join(dir, '.trove/lock'), 'test holding the lock');
    const child = spawnTrove(dir, ['fsck', '--json']);
    let stdout = '';
    child.stdout?.on('data', (c) => (stdout += c));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    // long enough for an unlocked fsck of 11 objects to have repaired the index several times over
    await new Promise((r) => setTimeout(r, 2500));
    expect(child.exitCode).toBeNull();
    expect(packFiles(dir, 'idx')).toEqual([]);
    await unlock();
    expect(await exited).toBe(0);
    expect(packFiles(dir, 'idx')).toEqual([idx]);
    expect(JSON.parse(stdout).packs.problems.map((p: { action: string }) => p.action)).toEqual(['index rebuilt from the pack']);
  });
});

describe('add merges small packs on its own (gc.autoMerge)', () => {
  it('at gc.autoMerge small packs an add merges them; 0 turns it off; a bad value is refused before anything is stored', async () => {
    const dir = await newRepo();
    await ok(dir, 'config', 'gc.autoMerge', '3');
    const add = async (k: number, ...flags: string[]) => {
      await write(dir, `data/f${k}.bin`, randomBytes(1000));
      return ok(dir, 'add', 'data', ...flags);
    };
    await add(0);
    await add(1);
    expect(packFiles(dir, 'pack')).toHaveLength(2);
    const r = JSON.parse((await add(2, '--json')).stdout);
    expect(r.packsMerged).toBe(3);
    expect(packFiles(dir, 'pack')).toHaveLength(1);
    expect(packFiles(dir, 'idx')).toHaveLength(1);
    const f = JSON.parse((await ok(dir, 'fsck', '--json')).stdout);
    expect(f.corrupt).toEqual([]);
    expect(f.packs.problems).toEqual([]);
    await ok(dir, 'checkout', '--force', 'data');
    const want = await hashes(dir);
    expect(want.size).toBe(3);
    await expectData(dir, want);

    await ok(dir, 'config', 'gc.autoMerge', '0');
    await add(3);
    const off = await add(4);
    expect(off.stdout).not.toMatch(/merged/);
    expect(packFiles(dir, 'pack')).toHaveLength(3);

    // refused by `config`, and when hand-written, by add before it stores anything
    expect((await trove(dir, 'config', 'gc.autoMerge', '-1')).code).not.toBe(0);
    writeFileSync(path.join(dir, '.trove/config.local'), 'gc:\n  autoMerge: lots\n');
    await write(dir, 'data/f5.bin', randomBytes(1000));
    const bad = await trove(dir, 'add', 'data');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/gc\.autoMerge/);
    expect(packFiles(dir, 'pack')).toHaveLength(3);
  });
});
