/**
 * Staged checkout (src/core/ops/checkoutStage.ts): a tracked folder absent from the workspace is built in a
 * hidden folder beside it and renamed into place. Through the CLI, with real files, packs and processes.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, promises as fsp, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { newRepo, spawnTrove, trove, write } from '../helpers/repo.js';

async function ok(dir: string, ...args: string[]) {
  const r = await trove(dir, ...args);
  expect(r.code, `trove ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}

/** n small files in data/ (packed), one executable; returns rel → content. */
async function smallSet(dir: string, n: number): Promise<Map<string, Buffer>> {
  const want = new Map<string, Buffer>();
  for (let i = 0; i < n; i++) {
    const rel = `data/d${i % 5}/f${i}.bin`;
    const buf = randomBytes(500 + (i % 3) * 700);
    await write(dir, rel, buf);
    want.set(rel, buf);
  }
  await fsp.chmod(path.join(dir, 'data/d0/f0.bin'), 0o755);
  return want;
}

const stages = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('.trove-stage-'));

describe('staged checkout of an absent folder', () => {
  it('restores every byte and mode, leaves no staging or temp files, and status is clean at once', async () => {
    const dir = await newRepo();
    const want = await smallSet(dir, 60);
    await ok(dir, 'add', 'data');
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    const r = JSON.parse((await ok(dir, 'checkout', '--json')).stdout);
    expect(r[0]).toMatchObject({ path: 'data', written: 60, wanted: 'copy', modes: { copy: 60 } });
    for (const [rel, buf] of want) expect(readFileSync(path.join(dir, rel)).equals(buf), rel).toBe(true);
    expect(statSync(path.join(dir, 'data/d0/f0.bin')).mode & 0o777).toBe(0o755);
    expect(statSync(path.join(dir, 'data/d1/f1.bin')).mode & 0o777).toBe(0o644);
    expect(stages(dir)).toEqual([]);
    expect(existsSync(path.join(dir, '.trove/tmp')) ? readdirSync(path.join(dir, '.trove/tmp')) : []).toEqual([]);
    expect((await ok(dir, 'status')).stdout).toMatch(/up to date/);
    // the folder's oid is unchanged: a re-add finds nothing to store
    const add = JSON.parse((await ok(dir, 'add', 'data', '--json')).stdout);
    expect(add.results[0]).toMatchObject({ changed: false, stored: 0 });
  });

  it('many large files (more than the copy jobs) beside small ones: every one is written before the rename', async () => {
    // large files are copied through a queue of `cache.jobs` at a time while small ones are written in a
    // loop; the loop ending first must not drop the queued large copies (a pull once exited 0 leaving
    // the staging folder half-filled and the tracked folder absent)
    const dir = await newRepo();
    await ok(dir, 'config', 'cache.jobs', '2');
    const want = await smallSet(dir, 5);
    for (let i = 0; i < 12; i++) {
      const buf = randomBytes((300 << 10) + i);
      await write(dir, `data/big/b${i}.bin`, buf);
      want.set(`data/big/b${i}.bin`, buf);
    }
    await ok(dir, 'add', 'data');
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    const r = JSON.parse((await ok(dir, 'checkout', '--json')).stdout);
    expect(r[0]).toMatchObject({ path: 'data', written: 17 });
    for (const [rel, buf] of want) expect(readFileSync(path.join(dir, rel)).equals(buf), rel).toBe(true);
    expect(stages(dir)).toEqual([]);
  });

  it('a corrupt byte in a pack fails the checkout naming the workspace file; nothing appears at the path', async () => {
    const dir = await newRepo();
    await smallSet(dir, 30);
    await ok(dir, 'add', 'data');
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    const packs = path.join(dir, '.trove/cache/packs');
    const pack = path.join(packs, readdirSync(packs).find((n) => n.endsWith('.pack'))!);
    const bytes = readFileSync(pack);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff; // inside some object's body
    await fsp.chmod(pack, 0o644);
    writeFileSync(pack, bytes);
    const r = await trove(dir, 'checkout');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/data\/d\d\/f\d+\.bin/);
    expect(r.stderr).not.toMatch(/trove-stage/);
    expect(existsSync(path.join(dir, 'data'))).toBe(false);
    expect(stages(dir)).toEqual([]);
  });

  it('a staging folder left by a dead process is removed by the next checkout; a live one is kept', async () => {
    const dir = await newRepo();
    const want = await smallSet(dir, 10);
    await ok(dir, 'add', 'data');
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    // pid 2^22 + 1 is above Linux's pid_max ceiling: never alive
    const dead = path.join(dir, `.trove-stage-${(1 << 22) + 1}-abcd1234`);
    const live = path.join(dir, `.trove-stage-${process.pid}-abcd1234`);
    mkdirSync(path.join(dead, 'd0'), { recursive: true });
    writeFileSync(path.join(dead, 'd0/half.bin'), 'half-written');
    mkdirSync(live);
    await ok(dir, 'checkout');
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
    for (const [rel, buf] of want) expect(readFileSync(path.join(dir, rel)).equals(buf)).toBe(true);
  });

  it('kill -9 while staging leaves the folder absent (or whole); a re-run completes', async () => {
    const dir = await newRepo();
    const want = await smallSet(dir, 3000);
    await ok(dir, 'add', 'data');
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    const child = spawnTrove(dir, ['checkout']);
    const exited = new Promise((r) => child.on('exit', r));
    // kill it as soon as its staging folder exists (or when it has finished already)
    let sawStage = false;
    for (;;) {
      if (stages(dir).length) {
        sawStage = true;
        child.kill('SIGKILL');
        break;
      }
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    await exited;
    if (existsSync(path.join(dir, 'data'))) {
      // the rename had happened: the folder is whole
      for (const [rel, buf] of want) expect(readFileSync(path.join(dir, rel)).equals(buf)).toBe(true);
    }
    const left = stages(dir);
    if (sawStage && !existsSync(path.join(dir, 'data'))) expect(left.length).toBe(1);
    await ok(dir, 'checkout');
    for (const [rel, buf] of want) expect(readFileSync(path.join(dir, rel)).equals(buf), rel).toBe(true);
    expect(stages(dir)).toEqual([]);
  });

  it('in a repo switched to hardlink, packed files are linked (the executable one copied) and the result and summary say so', async () => {
    const dir = await newRepo();
    await smallSet(dir, 12);
    await ok(dir, 'add', 'data');
    await ok(dir, 'config', 'cache.link', 'hardlink');
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    const r = JSON.parse((await ok(dir, 'checkout', '--json')).stdout);
    expect(r[0]).toMatchObject({ written: 12, wanted: 'hardlink', modes: { hardlink: 11, copy: 1 } });
    expect(statSync(path.join(dir, 'data/d1/f1.bin')).nlink).toBe(2);
    expect(statSync(path.join(dir, 'data/d0/f0.bin')).nlink).toBe(1);
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    const t = await ok(dir, 'checkout');
    expect(t.stdout).toMatch(/1 file copied, not hardlinked/);
    // a repo that asks for packs keeps them: its packed files are copies (reads prefer the pack)
    await ok(dir, 'config', 'cache.packs', 'true');
    await write(dir, 'data/new.bin', 'new\n');
    await ok(dir, 'add', 'data');
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    const p = JSON.parse((await ok(dir, 'checkout', '--json')).stdout);
    expect(p[0]).toMatchObject({ written: 13, modes: { copy: 13 } });
    expect(statSync(path.join(dir, 'data/new.bin')).nlink).toBe(1);
  });

  it('git status never lists a staging folder (info/exclude, written once); a re-run removes a dead one even when nothing is staged', async () => {
    const dir = await newRepo();
    await smallSet(dir, 10);
    await ok(dir, 'add', 'data');
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    await ok(dir, 'checkout');
    const exclude = path.join(dir, '.git/info/exclude');
    const lines = () => readFileSync(exclude, 'utf8').split('\n').filter((l) => l === '.trove-stage-*');
    expect(lines()).toHaveLength(1);
    // as a kill -9 leaves it, in the top folder and beside a nested tracked folder
    mkdirSync(path.join(dir, 'sub'), { recursive: true });
    const dead = `.trove-stage-${(1 << 22) + 1}-abcd1234`;
    for (const where of [dir, path.join(dir, 'sub')]) {
      mkdirSync(path.join(where, dead, 'd0'), { recursive: true });
      writeFileSync(path.join(where, dead, 'd0/half.bin'), 'half-written');
    }
    const gitStatus = () => execFileSync('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: dir, encoding: 'utf8' });
    expect(gitStatus()).not.toContain('.trove-stage-');
    expect(gitStatus()).toContain('data.trove'); // the check sees untracked files at all
    // a checkout of the folder, present now (nothing staged), still removes the dead writer's leftover beside it
    await ok(dir, 'checkout');
    expect(existsSync(path.join(dir, dead))).toBe(false);
    expect(existsSync(path.join(dir, 'sub', dead))).toBe(true); // not beside any tracked folder: left alone
    // a second staged checkout does not add the line again
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    await ok(dir, 'checkout');
    expect(lines()).toHaveLength(1);
  });
});
