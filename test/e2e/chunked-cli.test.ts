/**
 * Chunked large files as a user meets them: `trove add` of a file of 16 MiB or more stores chunks, `trove du`
 * shows the dedup, checkout reassembles and verifies, fsck finds a corrupt chunk, and a kill -9 in the
 * middle of a chunked add leaves a state that fsck passes and a re-run completes.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync, promises as fsp, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { newRepo, sha256File, spawnTrove, trove } from '../helpers/repo.js';

const MiB = 1 << 20;

function prng(seed: string, n: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.join(d.parentPath ?? d.path, d.name));
}

async function du(dir: string) {
  const r = await trove(dir, 'du', '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe('chunked large files through the CLI', () => {
  it('add stores chunks, du shows the dedup of a second version, checkout reassembles (linked once the repo switches to cache.link hardlink)', async () => {
    const dir = await newRepo();
    const v1 = prng('cli-v1', 20 * MiB);
    await fsp.writeFile(path.join(dir, 'model.bin'), v1);
    let r = await trove(dir, 'add', 'model.bin');
    expect(r.code, r.stderr).toBe(0);
    const u1 = await du(dir);
    expect(u1).toMatchObject({ version: 1, objects: { blobs: 1, trees: 0 }, logicalBytes: v1.length });
    expect(u1.chunked.files).toBe(1);
    expect(u1.chunked.chunkBytes).toBe(v1.length);
    // a second version: 1 MiB changed in the middle, 2 MiB appended
    const v2 = Buffer.concat([v1.subarray(0, 10 * MiB), prng('cli-edit', MiB), v1.subarray(11 * MiB), prng('cli-tail', 2 * MiB)]);
    await fsp.writeFile(path.join(dir, 'model.bin'), v2);
    r = await trove(dir, 'add', 'model.bin', '--json');
    expect(r.code, r.stderr).toBe(0);
    const u2 = await du(dir);
    // add --json reports the bytes it really stored (the new chunks), not the file's size
    const storedByAdd = JSON.parse(r.stdout).results[0].storedBytes as number;
    expect(storedByAdd).toBe(u2.chunked.chunkBytes - u1.chunked.chunkBytes);
    expect(storedByAdd).toBeLessThan(v2.length / 2);
    expect(u2.chunked.files).toBe(2);
    expect(u2.logicalBytes).toBe(v1.length + v2.length);
    // 3 MiB changed; an edit costs at most the chunks it touches (≤ 4 MiB each, one on each side of it)
    expect(u2.chunked.chunkBytes - u1.chunked.chunkBytes).toBeLessThanOrEqual(3 * MiB + 2 * 4 * MiB);
    expect(u2.savedBytes).toBeGreaterThan(10 * MiB);
    const text = await trove(dir, 'du');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^saved\s+1\d\.\d* MiB|^saved\s+\d+ MiB/m);
    expect(text.stdout).toMatch(/chunked\s+2 files/);
    // checkout: reassembled and verified; a plain copy in copy mode
    await fsp.rm(path.join(dir, 'model.bin'));
    r = await trove(dir, 'checkout', 'model.bin');
    expect(r.code, r.stderr).toBe(0);
    expect(await sha256File(path.join(dir, 'model.bin'))).toBe(createHash('sha256').update(v2).digest('hex'));
    expect((await fsp.stat(path.join(dir, 'model.bin'))).nlink).toBe(1);
    expect((await du(dir)).loose.objects).toBe(0);
    // switched to hardlink (chunking is then off): written whole into the cache once and linked
    expect((await trove(dir, 'config', 'cache.link', 'hardlink')).code).toBe(0);
    await fsp.rm(path.join(dir, 'model.bin'));
    r = await trove(dir, 'checkout', 'model.bin', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject([{ modes: { hardlink: 1 } }]);
    expect(await sha256File(path.join(dir, 'model.bin'))).toBe(createHash('sha256').update(v2).digest('hex'));
    expect((await fsp.stat(path.join(dir, 'model.bin'))).nlink).toBe(2);
    const hex = createHash('sha256').update(v2).digest('hex');
    const whole = await fsp.stat(path.join(dir, '.trove/cache/objects/sha256', hex.slice(0, 2), hex.slice(2)));
    expect(whole.ino).toBe((await fsp.stat(path.join(dir, 'model.bin'))).ino);
    expect(whole.mode & 0o777).toBe(0o444);
    const st = JSON.parse((await trove(dir, 'status', '--json')).stdout);
    expect(st).toMatchObject([{ path: 'model.bin', workspace: 'unchanged', cache: 'present' }]);
    expect((await trove(dir, 'fsck', '--json')).code).toBe(0);
  });

  it('a corrupt chunk: fsck exits 1 and quarantines it, checkout refuses it and leaves the workspace alone', async () => {
    const dir = await newRepo();
    const data = prng('cli-corrupt', 17 * MiB);
    await fsp.writeFile(path.join(dir, 'big.bin'), data);
    expect((await trove(dir, 'add', 'big.bin')).code).toBe(0);
    const chunks = filesUnder(path.join(dir, '.trove/cache/chunks'));
    expect(chunks.length).toBeGreaterThan(4);
    const victim = chunks[2];
    const bytes = await fsp.readFile(victim);
    bytes[7] ^= 1;
    await fsp.chmod(victim, 0o644);
    await fsp.writeFile(victim, bytes);
    await fsp.rm(path.join(dir, 'big.bin'));
    const co = await trove(dir, 'checkout', 'big.bin');
    expect(co.code).toBe(1);
    expect(co.stderr).toMatch(/corrupt/);
    expect(existsSync(path.join(dir, 'big.bin'))).toBe(false);
    const fsck = await trove(dir, 'fsck', '--json');
    expect(fsck.code).toBe(1);
    const res = JSON.parse(fsck.stdout);
    expect(res.corrupt).toHaveLength(1);
    expect(existsSync(victim)).toBe(false);
    // the file is still in the workspace of a user who has it: add repairs the store
    await fsp.writeFile(path.join(dir, 'big.bin'), data);
    expect((await trove(dir, 'add', 'big.bin')).code).toBe(0);
    expect((await trove(dir, 'fsck', '--json')).code).toBe(0);
  });

  it('kill -9 during a chunked add: fsck passes, a re-run completes, the file comes back', async () => {
    const dir = await newRepo();
    const data = prng('cli-kill', 64 * MiB);
    await fsp.writeFile(path.join(dir, 'big.bin'), data);
    const chunkDir = path.join(dir, '.trove/cache/chunks');
    const child = spawnTrove(dir, ['add', 'big.bin']);
    let stderr = '';
    child.stderr?.on('data', (c) => (stderr += c));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    let done = false;
    void exited.then(() => (done = true));
    // kill as soon as a few chunks are on disk (state, not time, decides)
    while (!done && filesUnder(chunkDir).length < 3) await new Promise((r) => setTimeout(r, 5));
    if (done) expect(child.exitCode, stderr).toBe(0);
    child.kill('SIGKILL');
    await exited;
    // a pointer is there only if the add got that far, and then it is whole
    if (existsSync(path.join(dir, 'big.bin.trove'))) expect((await trove(dir, 'status', '--json')).code).toBe(0);
    const fsck = await trove(dir, 'fsck', '--json');
    expect(fsck.code, fsck.stdout + fsck.stderr).toBe(0);
    expect(JSON.parse(fsck.stdout).corrupt).toEqual([]);
    const again = await trove(dir, 'add', 'big.bin');
    expect(again.code, again.stderr).toBe(0);
    expect((await trove(dir, 'fsck', '--json')).code).toBe(0);
    const left = existsSync(path.join(dir, '.trove/tmp')) ? await fsp.readdir(path.join(dir, '.trove/tmp')) : [];
    expect(left).toEqual([]);
    await fsp.rm(path.join(dir, 'big.bin'));
    expect((await trove(dir, 'checkout', 'big.bin')).code).toBe(0);
    expect(await sha256File(path.join(dir, 'big.bin'))).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('kill -9 during a chunked checkout (the hash on its worker): the file is absent or whole, never partial; a re-run completes', async () => {
    const dir = await newRepo();
    const data = prng('cli-kill-co', 64 * MiB); // ≥ 48 MiB: reassembled with the hash on a worker thread
    const want = createHash('sha256').update(data).digest('hex');
    await fsp.writeFile(path.join(dir, 'big.bin'), data);
    expect((await trove(dir, 'add', 'big.bin')).code).toBe(0);
    await fsp.rm(path.join(dir, 'big.bin'));
    const tmpDir = path.join(dir, '.trove/tmp');
    const child = spawnTrove(dir, ['checkout', 'big.bin']);
    let stderr = '';
    child.stderr?.on('data', (c) => (stderr += c));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    let done = false;
    void exited.then(() => (done = true));
    // kill once the reassembly has written some bytes to its temp file (state, not time, decides)
    const written = () => (existsSync(tmpDir) ? readdirSync(tmpDir).some((n) => { try { return statSync(path.join(tmpDir, n)).size > 0; } catch { return false; } }) : false);
    while (!done && !written()) await new Promise((r) => setTimeout(r, 2));
    if (done) expect(child.exitCode, stderr).toBe(0);
    child.kill('SIGKILL');
    await exited;
    if (existsSync(path.join(dir, 'big.bin'))) expect(await sha256File(path.join(dir, 'big.bin'))).toBe(want);
    const fsck = await trove(dir, 'fsck', '--json');
    expect(fsck.code, fsck.stdout + fsck.stderr).toBe(0);
    const again = await trove(dir, 'checkout', 'big.bin');
    expect(again.code, again.stderr).toBe(0);
    expect(await sha256File(path.join(dir, 'big.bin'))).toBe(want);
  });

  it('push to a folder remote and pull into an empty cache bring a chunked file back whole and verified; gc sweeps its chunks', async () => {
    const dir = await newRepo();
    const remote = path.join(dir, '..', 'remote');
    const data = prng('cli-push', 18 * MiB);
    await fsp.writeFile(path.join(dir, 'big.bin'), data);
    expect((await trove(dir, 'add', 'big.bin')).code).toBe(0);
    expect((await trove(dir, 'remote', 'add', 'origin', remote)).code).toBe(0);
    const push = await trove(dir, 'push');
    expect(push.code, push.stderr).toBe(0);
    await fsp.rm(path.join(dir, '.trove/cache'), { recursive: true, force: true });
    await fsp.rm(path.join(dir, 'big.bin'));
    const pull = await trove(dir, 'pull');
    expect(pull.code, pull.stderr).toBe(0);
    expect(await sha256File(path.join(dir, 'big.bin'))).toBe(createHash('sha256').update(data).digest('hex'));
    expect((await trove(dir, 'fsck', '--json')).code).toBe(0);
    // a chunked version that nothing names any more: gc removes its manifest and chunks
    const v2 = prng('cli-push-v2', 17 * MiB);
    await fsp.writeFile(path.join(dir, 'other.bin'), v2);
    expect((await trove(dir, 'add', 'other.bin')).code).toBe(0);
    expect((await du(dir)).chunked.files).toBe(1);
    await fsp.rm(path.join(dir, 'other.bin.trove'));
    await fsp.rm(path.join(dir, 'other.bin'));
    const gc = await trove(dir, 'gc', '--grace', '0', '--force');
    expect(gc.code, gc.stderr).toBe(0);
    // the manifest went; its chunks are younger than the sweep's grace period (1 h), so they stay for now
    expect((await du(dir)).chunked.files).toBe(0);
    expect((await trove(dir, 'fsck', '--json')).code).toBe(0);
  });

  it('cache.chunk off stores large files whole (linkable); a bad value is a CONFIG error that changes nothing', async () => {
    const dir = await newRepo();
    const bad = await trove(dir, 'config', 'cache.chunk', 'banana');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/cache\.chunk/);
    expect(await fsp.readFile(path.join(dir, '.trove/config'), 'utf8')).not.toMatch(/chunk/);
    expect((await trove(dir, 'config', 'cache.chunk', 'off')).code).toBe(0);
    expect((await trove(dir, 'config', 'cache.chunk')).stdout.trim()).toBe('off');
    await fsp.writeFile(path.join(dir, 'big.bin'), prng('cli-off', 17 * MiB));
    expect((await trove(dir, 'add', 'big.bin')).code).toBe(0);
    const u = await du(dir);
    expect(u.chunked.files).toBe(0);
    expect(u.loose).toEqual({ objects: 1, bytes: 17 * MiB });
    expect((await trove(dir, 'config', 'cache.link', 'hardlink')).code).toBe(0);
    await fsp.rm(path.join(dir, 'big.bin'));
    expect((await trove(dir, 'checkout', 'big.bin')).code).toBe(0);
    expect((await fsp.stat(path.join(dir, 'big.bin'))).nlink).toBe(2);
  });
});
