/**
 * Chunked files travel as chunks: push sends only the chunks a remote lacks and then the manifest,
 * pull fetches only the chunks the cache lacks (or the whole file, reassembled and verified, into a
 * cache that keeps none), a corrupt chunk on the remote is refused, and gc --remote keeps the chunks
 * that manifests name. Real CLI, a folder remote and the in-process S3 server.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync, promises as fsp, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { git, newRepo, sha256File, spawnTrove, tempDir, trove } from '../helpers/repo.js';
import { startS3, type TestS3 } from '../helpers/s3server.js';
import type { Oid } from '../../src/core/oid.js';
import { RemoteStore } from '../../src/core/remoteStore.js';
import { openRemote } from '../../src/remotes/index.js';

const MiB = 1 << 20;

function prng(seed: string, n: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.join(d.parentPath ?? d.path, d.name));
}
const bytesUnder = (dir: string) => filesUnder(dir).reduce((n, f) => n + statSync(f).size, 0);

async function ok(dir: string, ...args: string[]) {
  const r = await trove(dir, ...args);
  expect(r.code, `trove ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}
async function okJson(dir: string, ...args: string[]) {
  return JSON.parse((await ok(dir, ...args, '--json')).stdout);
}

/** v1: 64 MiB; v2: 1 MiB changed in the middle and 4 MiB appended (5 MiB changed). */
const v1 = prng('xfer-v1', 64 * MiB);
const v2 = Buffer.concat([v1.subarray(0, 32 * MiB), prng('xfer-edit', MiB), v1.subarray(33 * MiB), prng('xfer-tail', 4 * MiB)]);
const CHANGED = 5 * MiB;

/** A repo with v1 of model.bin added, committed, with `remote` as origin. */
async function repoWithV1(remoteArgs: string[]): Promise<string> {
  const dir = await newRepo();
  await fsp.writeFile(path.join(dir, 'model.bin'), v1);
  await ok(dir, 'add', 'model.bin');
  await ok(dir, 'remote', 'add', 'origin', ...remoteArgs);
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-qm', 'v1');
  return dir;
}

describe('chunked files over a folder remote', () => {
  it('push of a 64 MiB file, then a delta push uploads ≤ 2× the changed bytes; an old clone pulls only the new chunks', async () => {
    const remote = path.join(tempDir(), 'remote');
    const dir = await repoWithV1([remote]);
    const p1 = await okJson(dir, 'push');
    expect(p1.failed).toEqual([]);
    const landed1 = bytesUnder(remote);
    expect(p1.transferredBytes).toBeGreaterThanOrEqual(64 * MiB);
    expect(p1.transferredBytes).toBeLessThan(64 * MiB + MiB);
    expect(filesUnder(path.join(remote, 'manifests')).length).toBe(1);
    // the whole file is not on the remote as one object
    expect(filesUnder(path.join(remote, 'objects')).every((f) => statSync(f).size <= 4 * MiB)).toBe(true);

    // an old clone, pulled at v1
    const old = path.join(tempDir(), 'old');
    await git(path.dirname(old), 'clone', '-q', dir, old);
    const o1 = await okJson(old, 'pull');
    expect(await sha256File(path.join(old, 'model.bin'))).toBe(sha(v1));
    void o1;

    // v2: re-add, push: only the changed chunks go up
    await fsp.writeFile(path.join(dir, 'model.bin'), v2);
    await ok(dir, 'add', 'model.bin');
    await git(dir, 'commit', '-qam', 'v2');
    const p2 = await okJson(dir, 'push');
    expect(p2.failed).toEqual([]);
    const landed2 = bytesUnder(remote) - landed1;
    expect(p2.transferredBytes).toBeGreaterThan(0);
    expect(p2.transferredBytes).toBeLessThanOrEqual(2 * CHANGED);
    expect(landed2).toBeLessThanOrEqual(2 * CHANGED);
    // what was counted is what landed (within the inventory's rewrite)
    expect(Math.abs(landed2 - p2.transferredBytes)).toBeLessThan(64 << 10);
    // a no-op push sends nothing
    expect((await okJson(dir, 'push')).transferredBytes).toBe(0);

    // the old clone pulls v2: only the chunks it lacks
    await git(old, 'pull', '-q');
    const o2 = await okJson(old, 'pull');
    expect(await sha256File(path.join(old, 'model.bin'))).toBe(sha(v2));
    expect(JSON.stringify(o2)).toMatch(/transferredBytes/);
    const got = o2.fetch.transferredBytes;
    expect(got).toBeGreaterThan(0);
    expect(got).toBeLessThanOrEqual(2 * CHANGED);
    expect((await trove(old, 'fsck', '--json')).code).toBe(0);
  }, 60_000);

  it('a fresh clone with cache.chunk off pulls the whole file, reassembled and verified', async () => {
    const remote = path.join(tempDir(), 'remote');
    const dir = await repoWithV1([remote]);
    await okJson(dir, 'push');
    const fresh = path.join(tempDir(), 'fresh');
    await git(path.dirname(fresh), 'clone', '-q', dir, fresh);
    await ok(fresh, 'config', '--local', 'cache.chunk', 'off');
    const f = await okJson(fresh, 'pull');
    expect(await sha256File(path.join(fresh, 'model.bin'))).toBe(sha(v1));
    expect(f.fetch.transferredBytes).toBeGreaterThanOrEqual(v1.length);
    expect((await okJson(fresh, 'du')).chunked.files).toBe(0);
    expect((await trove(fresh, 'fsck', '--json')).code).toBe(0);
  }, 60_000);

  it('a corrupt chunk on the remote is refused (INTEGRITY) and the file is not inserted', async () => {
    const remote = path.join(tempDir(), 'remote');
    const dir = await repoWithV1([remote]);
    await okJson(dir, 'push');
    const victim = filesUnder(path.join(remote, 'objects')).sort()[3];
    const bytes = await fsp.readFile(victim);
    bytes[100] ^= 1;
    await fsp.chmod(victim, 0o644).catch(() => {});
    await fsp.writeFile(victim, bytes);
    const clone = path.join(tempDir(), 'clone');
    await git(path.dirname(clone), 'clone', '-q', dir, clone);
    const r = await trove(clone, 'pull', '--json');
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/INTEGRITY/);
    expect(existsSync(path.join(clone, 'model.bin'))).toBe(false);
    expect(filesUnder(path.join(clone, '.trove/cache/manifests'))).toEqual([]);
    const st = await okJson(clone, 'status');
    expect(st[0]).toMatchObject({ path: 'model.bin', cache: 'missing' });
  }, 30_000);

  it('kill -9 during a chunked push: the remote never shows a manifest with a missing chunk, and a re-run completes', async () => {
    const remote = path.join(tempDir(), 'remote');
    const dir = await repoWithV1([remote]);
    const child = spawnTrove(dir, ['push', '--jobs', '1']);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // wait (by state, not by time) until some chunks have landed, then kill it
    while (filesUnder(path.join(remote, 'objects')).length < 3 && child.exitCode === null) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    await exited;
    const manifestsAfterKill = filesUnder(path.join(remote, 'manifests'));
    const chunksAfterKill = filesUnder(path.join(remote, 'objects')).length;
    expect(chunksAfterKill).toBeGreaterThanOrEqual(3);
    // every manifest on the remote names only chunks that are there
    const allChunksThere = async () => {
      for (const m of filesUnder(path.join(remote, 'manifests'))) {
        const doc = JSON.parse(await fsp.readFile(m, 'utf8')) as { chunks: [string, number][] };
        const store = new RemoteStore(openRemote('check', remote)); // a fresh view each time
        for (const [oid] of doc.chunks) expect(await store.has(oid as Oid, 'chunk'), `chunk ${oid} of ${m}`).toBe(true);
      }
    };
    await allChunksThere();
    if (manifestsAfterKill.length === 0) expect(chunksAfterKill).toBeLessThan(64);
    const again = await okJson(dir, 'push');
    expect(again.failed).toEqual([]);
    // the re-run sent only what the killed one had not
    expect(again.transferredBytes).toBeLessThanOrEqual(v1.length - (chunksAfterKill - 1) * 256 * 1024);
    expect(filesUnder(path.join(remote, 'manifests')).length).toBe(1);
    await allChunksThere();
    const clone = path.join(tempDir(), 'clone');
    await git(path.dirname(clone), 'clone', '-q', dir, clone);
    await okJson(clone, 'pull');
    expect(await sha256File(path.join(clone, 'model.bin'))).toBe(sha(v1));
  }, 60_000);

  it('gc --remote keeps the chunks a kept manifest names, shared between versions', async () => {
    const remote = path.join(tempDir(), 'remote');
    const dir = await repoWithV1([remote]);
    await okJson(dir, 'push');
    await fsp.writeFile(path.join(dir, 'model.bin'), v2);
    await ok(dir, 'add', 'model.bin');
    await git(dir, 'commit', '-qam', 'v2');
    await okJson(dir, 'push');
    const listing = () => [...filesUnder(path.join(remote, 'objects')), ...filesUnder(path.join(remote, 'packs'))].sort();
    const before = listing();
    expect(filesUnder(path.join(remote, 'packs')).length).toBeGreaterThan(0); // small chunks are packed
    await ok(dir, 'gc', '--remote', 'origin', '--grace', '0', '--force');
    expect(listing()).toEqual(before);
    // a fresh clone still gets v2 whole and verified after gc
    const clone = path.join(tempDir(), 'clone');
    await git(path.dirname(clone), 'clone', '-q', dir, clone);
    await okJson(clone, 'pull');
    expect(await sha256File(path.join(clone, 'model.bin'))).toBe(sha(v2));
  }, 60_000);
});

describe('chunked files over S3', () => {
  let s3: TestS3;
  beforeAll(async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
    s3 = await startS3();
  });
  afterAll(async () => {
    await s3?.stop();
    vi.unstubAllEnvs();
  });

  it('delta push uploads ≤ 2× the changed bytes and an old clone pulls only new chunks', async () => {
    await s3.createBucket('chunks');
    const dir = await repoWithV1(['s3://chunks/p', '-o', `endpoint=${s3.endpoint}`, '-o', 'region=us-east-1', '-o', 'path_style=true', '-o', 'part_size=5MiB']);
    const p1 = await okJson(dir, 'push');
    expect(p1.failed).toEqual([]);
    expect(p1.transferredBytes).toBeGreaterThanOrEqual(64 * MiB);
    const old = path.join(tempDir(), 'old');
    await git(path.dirname(old), 'clone', '-q', dir, old);
    await okJson(old, 'pull');
    expect(await sha256File(path.join(old, 'model.bin'))).toBe(sha(v1));
    await fsp.writeFile(path.join(dir, 'model.bin'), v2);
    await ok(dir, 'add', 'model.bin');
    await git(dir, 'commit', '-qam', 'v2');
    s3.requests.reset();
    const p2 = await okJson(dir, 'push');
    expect(p2.transferredBytes).toBeLessThanOrEqual(2 * CHANGED);
    expect(s3.requests.byMethod.PUT ?? 0).toBeLessThanOrEqual(12);
    await git(old, 'pull', '-q');
    const o2 = await okJson(old, 'pull');
    expect(await sha256File(path.join(old, 'model.bin'))).toBe(sha(v2));
    expect(o2.fetch.transferredBytes).toBeLessThanOrEqual(2 * CHANGED);
  }, 60_000);
});
