import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, newLooseRepo, newRepo, sha256File, spawnTrove, trove, write } from '../helpers/repo.js';

/** Every object in the cache hashes to its name: nothing partial is visible. */
async function assertCacheSound(dir: string): Promise<number> {
  let n = 0;
  // blobs and trees (layout version 2: src/core/store/layout.ts)
  for (const kindDir of ['objects', 'trees']) {
    const objects = path.join(dir, '.trove/cache', kindDir, 'sha256');
    if (!existsSync(objects)) continue;
    for (const fan of await fsp.readdir(objects)) {
      for (const name of await fsp.readdir(path.join(objects, fan))) {
        expect(await sha256File(path.join(objects, fan, name))).toBe(fan + name);
        n++;
      }
    }
  }
  return n;
}

async function makeDataset(dir: string, files: number): Promise<void> {
  for (let d = 0; d < 20; d++) await fsp.mkdir(path.join(dir, `data/d${d}`), { recursive: true });
  await Promise.all(
    Array.from({ length: files }, (_, i) => fsp.writeFile(path.join(dir, `data/d${i % 20}/f${i}.bin`), randomBytes(4096 + (i % 7) * 1000))),
  );
  // one big file so that some kills land in the middle of a streamed copy
  const fh = await fsp.open(path.join(dir, 'data/big.bin'), 'w');
  for (let i = 0; i < 24; i++) await fh.write(randomBytes(1 << 20));
  await fh.close();
}

describe('kill -9 during add', () => {
  it.each([60, 200, 450, 900])('killed after %i ms: no partial object/tree/pointer, fsck clean, re-run completes', async (delay) => {
    const dir = await newRepo();
    await makeDataset(dir, 1200);
    const child = spawnTrove(dir, ['add', 'data']);
    let stderr = '';
    child.stderr?.on('data', (c) => (stderr += c));
    await new Promise((r) => setTimeout(r, delay));
    // an add that ended on its own before the kill must have succeeded
    if (child.exitCode !== null) expect(child.exitCode, stderr).toBe(0);
    // the add may already have finished (then its 'exit' has fired and must not be awaited again)
    const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    await assertCacheSound(dir);
    // the pointer is either absent or complete and valid
    if (existsSync(path.join(dir, 'data.trove'))) {
      const st = await trove(dir, 'status', '--json');
      expect(st.code).toBe(0);
    }
    expect(existsSync(path.join(dir, 'data.trove.tmp'))).toBe(false);
    const pointerTemps = (await fsp.readdir(dir)).filter((n) => n.startsWith('.data.trove.'));
    expect(pointerTemps).toEqual([]);
    const fsck = await trove(dir, 'fsck', '--json');
    expect(fsck.code).toBe(0);
    // re-running completes (the stale lock of the killed process is taken over) and cleans its temp files
    const again = await trove(dir, 'add', 'data');
    expect(again.code, again.stderr).toBe(0);
    const st = JSON.parse((await trove(dir, 'status', '--json')).stdout);
    expect(st).toMatchObject([{ path: 'data', workspace: 'unchanged', cache: 'present' }]);
    const left = existsSync(path.join(dir, '.trove/tmp')) ? await fsp.readdir(path.join(dir, '.trove/tmp')) : [];
    expect(left).toEqual([]);
    // and the data comes back byte for byte
    const want = await sha256File(path.join(dir, 'data/big.bin'));
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    expect((await trove(dir, 'checkout')).code).toBe(0);
    expect(await sha256File(path.join(dir, 'data/big.bin'))).toBe(want);
  });
});

describe('concurrent adds', () => {
  it('two adds on nested folders at once end consistent: one tracks, the other is refused', async () => {
    const dir = await newRepo();
    await makeDataset(dir, 600);
    const a = spawnTrove(dir, ['add', 'data']);
    const b = spawnTrove(dir, ['add', 'data/d3']);
    const codes = await Promise.all([a, b].map((c) => new Promise<number>((r) => c.once('exit', (code) => r(code ?? -1)))));
    expect(codes.sort()).toEqual([0, 1]);
    const pointers = [existsSync(path.join(dir, 'data.trove')), existsSync(path.join(dir, 'data/d3.trove'))];
    expect(pointers.filter(Boolean)).toHaveLength(1);
    const st = await trove(dir, 'status', '--json');
    expect(st.code).toBe(0);
    expect(JSON.parse(st.stdout).every((s: { workspace: string }) => s.workspace === 'unchanged')).toBe(true);
    expect((await trove(dir, 'fsck')).code).toBe(0);
  });

  it('two adds sharing files (same content) at once both succeed and share objects', async () => {
    const dir = await newLooseRepo(); // counts object files
    for (let i = 0; i < 300; i++) {
      await write(dir, `a/f${i}`, `same ${i}`);
      await write(dir, `b/f${i}`, `same ${i}`);
    }
    const [x, y] = [spawnTrove(dir, ['add', 'a']), spawnTrove(dir, ['add', 'b'])];
    const codes = await Promise.all([x, y].map((c) => new Promise<number>((r) => c.once('exit', (code) => r(code ?? -1)))));
    expect(codes).toEqual([0, 0]);
    const pa = await fsp.readFile(path.join(dir, 'a.trove'), 'utf8');
    const pb = await fsp.readFile(path.join(dir, 'b.trove'), 'utf8');
    expect(pa.replace('path: a', '')).toBe(pb.replace('path: b', '')); // same content → same root tree
    expect(await assertCacheSound(dir)).toBe(301); // 300 blobs + 1 tree
  });
});

describe('large files', () => {
  it('a 3 GiB sparse file (data past 2^31) hashes right with flat memory', async () => {
    const dir = await newRepo();
    const file = path.join(dir, 'big.bin');
    const fh = await fsp.open(file, 'w');
    const marks = [0, 2 ** 31 - 3, 2 ** 31 + 12345, 3 * 2 ** 30 - 16];
    for (const off of marks) await fh.write(Buffer.from(`mark@${off}`), 0, undefined, off);
    await fh.truncate(3 * 2 ** 30);
    await fh.close();
    // Through the library in a child process, so that its peak RSS is its own.
    const script = `
      import { Repo } from ${JSON.stringify(path.join(ROOT, 'dist/index.js'))};
      const repo = await Repo.open(${JSON.stringify(dir)});
      const { results } = await repo.add(['big.bin']);
      repo.close();
      console.log(JSON.stringify({ oid: results[0].oid, size: results[0].size, maxRssKb: process.resourceUsage().maxRSS }));`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--input-type=module', '-e', script], { maxBuffer: 1 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))),
    );
    const r = JSON.parse(out);
    expect(r.size).toBe(3 * 2 ** 30);
    // an independent hash of the same bytes
    const h = createHash('sha256');
    for await (const c of (await import('node:fs')).createReadStream(file, { highWaterMark: 4 << 20 })) h.update(c as Buffer);
    expect(r.oid).toBe('sha256:' + h.digest('hex'));
    expect(r.maxRssKb).toBeLessThan(150 * 1024);
    // the cached copy verifies too
    expect((await trove(dir, 'fsck')).code).toBe(0);
  }, 180_000);
});
