/**
 * Remote packs and the inventory, in process against the S3 server (which counts its requests):
 * request counts of push, no-op push and status --remote; an inventory that lies; a wave-1 remote
 * of loose objects; fetch by HTTP Range.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repo } from '../../src/core/repo.js';
import { RemoteStore } from '../../src/core/remoteStore.js';
import { openRemote } from '../../src/remotes/index.js';
import { applyGc, planGc } from '../../src/core/gc.js';
import { openRepoRemote } from '../../src/core/remoteConfig.js';
import { collectRoots, executePush, fetch, planPush, push, remoteStatus } from '../../src/core/transfer.js';
import { hashBytes, hexOf } from '../../src/core/oid.js';
import { encodePackIndex } from '../../src/core/store/packIndex.js';
import { git, newRepo, snapshot, write } from '../helpers/repo.js';
import { type TestS3, startS3WithAdmin, stopS3WithAdmin } from '../helpers/s3server.js';
import { cloneOf, commitAll, makeFiles, ok } from './remoteHelpers.js';

let s3: TestS3;
let admin: S3Client;
let buckets = 0;

beforeAll(async () => ({ s3, admin } = await startS3WithAdmin()));
afterAll(() => stopS3WithAdmin(s3, admin));

const PREFIX = 'team/proj';
const noTrove = (rel: string) => rel === '.git' || rel === '.trove' || rel.startsWith('.git/') || rel.startsWith('.trove/');

async function s3Repo(files: number): Promise<{ dir: string; bucket: string }> {
  const bucket = `p${++buckets}-${Date.now()}`;
  await s3.createBucket(bucket);
  const dir = await newRepo();
  await makeFiles(dir, 'data', files);
  await ok(dir, 'add', 'data');
  await ok(dir, 'remote', 'add', 'origin', `s3://${bucket}/${PREFIX}`, '-o', `endpoint=${s3.endpoint}`, '-o', 'region=us-east-1', '-o', 'path_style=true', '-o', 'part_size=5MiB');
  await commitAll(dir, 'data');
  return { dir, bucket };
}

async function withRepo<T>(dir: string, fn: (repo: Repo) => Promise<T>): Promise<T> {
  const repo = await Repo.open(dir);
  try {
    return await fn(repo);
  } finally {
    repo.close();
  }
}

async function keys(bucket: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const r = await admin.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${PREFIX}/${prefix}`, ContinuationToken: token }));
    for (const c of r.Contents ?? []) out.push(c.Key!.slice(PREFIX.length + 1));
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out.sort();
}

async function getText(bucket: string, key: string): Promise<string> {
  const r = await admin.send(new GetObjectCommand({ Bucket: bucket, Key: `${PREFIX}/${key}` }));
  return r.Body!.transformToString();
}

const putKey = (bucket: string, key: string, body: string | Buffer) => admin.send(new PutObjectCommand({ Bucket: bucket, Key: `${PREFIX}/${key}`, Body: body }));

describe('remote packs and inventory', () => {
  it('pushes 10,000 small objects as one pack; a no-op push and status --remote cost at most 3 requests', async () => {
    const { dir, bucket } = await s3Repo(10_000);
    s3.requests.reset();
    const first = await withRepo(dir, (repo) => push(repo, {}));
    expect(first.failed).toEqual([]);
    expect(first.transferred).toBeGreaterThan(10_000); // the files and their trees
    const stored = await keys(bucket);
    expect(stored.filter((k) => k.startsWith('objects/'))).toEqual([]); // all small: packed
    expect(stored.filter((k) => k.endsWith('.pack')).length).toBe(1);
    expect(stored.filter((k) => k.endsWith('.idx')).length).toBe(1);
    expect(stored).toContain('inventory.json');
    // a handful of requests, not one PUT per object
    expect(s3.requests.total).toBeLessThan(20);

    s3.requests.reset();
    const noop = await withRepo(dir, (repo) => push(repo, {}));
    expect(noop).toMatchObject({ transferred: 0, failed: [], missing: [], strategy: 'inventory' });
    expect(s3.requests.total).toBeLessThanOrEqual(3);
    expect(s3.requests.byMethod.PUT ?? 0).toBe(0);

    s3.requests.reset();
    const st = await withRepo(dir, (repo) => remoteStatus(repo, {}));
    expect(st.entries.map((e) => e.state)).toEqual(['in-sync']);
    expect(s3.requests.total).toBeLessThanOrEqual(3);
  });

  it('a lying or stale inventory never makes push skip an object the remote lacks', async () => {
    const { dir, bucket } = await s3Repo(30);
    await withRepo(dir, (repo) => push(repo, {}));
    // a new file, then an inventory edited by hand to claim it: loose, and in a pack that does not exist
    await write(dir, 'data/new.txt', 'new content\n');
    await ok(dir, 'add', 'data');
    await commitAll(dir, 'new');
    const newOid = hashBytes('new content\n');
    const inv = JSON.parse(await getText(bucket, 'inventory.json'));
    inv.loose.push(hexOf(newOid));
    const fakeId = 'ab'.repeat(32);
    inv.packs.push({ id: fakeId, idx: encodePackIndex(fakeId, 1000, [{ oid: newOid, kind: 'blob', offset: 57, length: 12 }]).toString('base64') });
    await putKey(bucket, 'inventory.json', JSON.stringify(inv));
    const p = await withRepo(dir, (repo) => push(repo, {}));
    expect(p.failed).toEqual([]);
    expect(p.transferred).toBeGreaterThanOrEqual(1);

    // the packs vanish behind the inventory's back (another client's gc): push sends everything again
    const packKeys = (await keys(bucket, 'packs/')).filter((k) => k.endsWith('.idx') || k.endsWith('.pack'));
    await admin.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: packKeys.map((k) => ({ Key: `${PREFIX}/${k}` })) } }));
    const again = await withRepo(dir, (repo) => push(repo, {}));
    expect(again.failed).toEqual([]);
    expect(again.transferred).toBeGreaterThan(30);

    // a damaged inventory is only a lost summary: the push lists the remote and writes a good one
    await putKey(bucket, 'inventory.json', '{"format":"trove-inventory","version":1,"packs":"nope"');
    expect((await withRepo(dir, (repo) => push(repo, {}))).failed).toEqual([]);
    expect(JSON.parse(await getText(bucket, 'inventory.json')).version).toBe(1);

    // one from a newer trove is refused, naming the file
    await putKey(bucket, 'inventory.json', JSON.stringify({ ...inv, version: 2 }));
    await expect(withRepo(dir, (repo) => push(repo, {}))).rejects.toThrow(/inventory\.json.*version 2/);
    await putKey(bucket, 'inventory.json', JSON.stringify({ ...JSON.parse(await getText(bucket, 'inventory.json')), version: 1 }));

    const b = await cloneOf(dir);
    const pulled = await ok(b, 'pull');
    expect(pulled.code).toBe(0);
    expect(await snapshot(b, noTrove)).toEqual(await snapshot(dir, noTrove));
  });

  it('a wave-1 remote of loose objects stays readable and gains packs and an inventory', async () => {
    const { dir, bucket } = await s3Repo(40);
    // a remote as wave 1 wrote it: every object loose, no packs, no inventory
    await withRepo(dir, async (repo) => {
      const remote = openRemote('origin', `s3://${bucket}/${PREFIX}`, { endpoint: s3.endpoint, region: 'us-east-1', path_style: true });
      const store = new RemoteStore(remote);
      for await (const e of repo.cache.list()) await store.upload(e.oid, e.kind, e.size, () => repo.cache.open(e.oid, e.kind));
      await remote.close();
    });
    expect((await keys(bucket)).every((k) => k.startsWith('objects/sha256/'))).toBe(true);
    const b = await cloneOf(dir);
    await ok(b, 'pull');
    expect(await snapshot(b, noTrove)).toEqual(await snapshot(dir, noTrove));

    // a no-op push lists the loose objects once and writes the inventory; then it costs ≤ 3 requests
    expect((await withRepo(dir, (repo) => push(repo, {}))).transferred).toBe(0);
    expect(await keys(bucket)).toContain('inventory.json');
    s3.requests.reset();
    expect((await withRepo(dir, (repo) => push(repo, {}))).transferred).toBe(0);
    expect(s3.requests.total).toBeLessThanOrEqual(3);

    // new data goes into a pack beside the loose objects; a clone reads both
    await write(dir, 'data/d0/e0/later.txt', 'written after the upgrade\n');
    await ok(dir, 'add', 'data');
    await commitAll(dir, 'later');
    const p = await withRepo(dir, (repo) => push(repo, {}));
    expect(p.transferred).toBe(4); // the file and the three trees on its path
    expect((await keys(bucket, 'packs/')).filter((k) => k.endsWith('.pack')).length).toBe(1);
    await git(b, 'pull', '-q');
    await ok(b, 'pull');
    expect(await fsp.readFile(path.join(b, 'data/d0/e0/later.txt'), 'utf8')).toBe('written after the upgrade\n');
    expect((await ok(b, 'fsck')).code).toBe(0);
  });

  it('fetch of a few files reads them out of the pack by HTTP Range (all trees of the pack in one); a full fetch downloads the pack whole into the cache', async () => {
    const { dir, bucket } = await s3Repo(300);
    await withRepo(dir, (repo) => push(repo, {}));
    const b = await cloneOf(dir);
    s3.requests.reset();
    const f = await withRepo(b, (repo) => fetch(repo, { paths: ['data/d2/e1'], runs: false }));
    const filesInSub = (await fsp.readdir(path.join(dir, 'data/d2/e1'))).length;
    expect(f.transferred).toBe(3 + filesInSub); // root, d2 and e1 trees, and the files below
    // inventory + packs listing, then ranged GETs only: the pack's trees (push puts them last in the
    // pack: one range) + 1 run of files (post-order keeps a folder's files together)
    expect(s3.requests.ranged).toBe(2);
    expect(s3.requests.total).toBe(4);
    const packsBefore = (await fsp.readdir(path.join(b, '.trove/cache/packs'))).filter((f) => f.endsWith('.pack'));

    s3.requests.reset();
    const all = await withRepo(b, (repo) => fetch(repo, { runs: false }));
    expect(all.failed).toEqual([]);
    expect(all.transferred).toBe(300 - filesInSub); // the files it lacked (its trees came with the first fetch)
    // most of the pack is wanted: one plain GET of the whole pack, no ranges, and it becomes a local pack as it is
    expect(s3.requests.ranged).toBe(0);
    expect(s3.requests.total).toBe(3); // the inventory, the packs listing and the pack
    const [remotePack] = (await keys(bucket, 'packs/')).filter((k) => k.endsWith('.pack'));
    const packsAfter = (await fsp.readdir(path.join(b, '.trove/cache/packs'))).filter((f) => f.endsWith('.pack'));
    expect(packsAfter).toContain(path.basename(remotePack));
    expect(packsAfter.length).toBe(packsBefore.length + 1);
    expect(await fsp.readdir(path.join(b, '.trove/tmp')).catch(() => [])).toEqual([]);
    await ok(b, 'checkout');
    expect(await snapshot(b, noTrove)).toEqual(await snapshot(dir, noTrove));
    expect((await ok(b, 'fsck')).code).toBe(0);
  });

  it('a push that read the remote before gc doomed a pack never loses an object: readers still find it, the next gc rescues it', async () => {
    const { dir: a, bucket } = await s3Repo(5);
    const v1text = 'version one of the model\n';
    const v1 = hashBytes(v1text);
    await write(a, 'model.bin', v1text);
    await ok(a, 'add', 'model.bin');
    await commitAll(a, 'v1');
    await withRepo(a, (repo) => push(repo, {}));
    await write(a, 'model.bin', 'version two\n');
    await ok(a, 'add', 'model.bin');
    await commitAll(a, 'v2');
    await withRepo(a, (repo) => push(repo, {}));
    const pack1 = (await keys(bucket, 'packs/')).filter((k) => k.endsWith('.pack'));
    expect(pack1.length).toBe(2);

    // B (a teammate's clone) plans a push of a folder that holds v1's bytes again: v1 is in a live pack, so it is skipped
    const b = await cloneOf(a);
    await write(b, 'again/copy.bin', v1text);
    await write(b, 'again/new.txt', 'new\n');
    await ok(b, 'add', 'again');
    await commitAll(b, 'again');
    await withRepo(b, async (repo) => {
      const { remote } = openRepoRemote(repo, 'origin');
      const store = new RemoteStore(remote, { jobs: 4 });
      try {
        const { roots } = await collectRoots(repo, { paths: ['again'] });
        const plan = await planPush(repo.cache, store, roots);
        expect(plan.upload.has(v1)).toBe(false);
        expect(plan.upload.size).toBe(2); // new.txt and the again/ tree

        // meanwhile A runs gc (grace 0): v1 is named by no branch tip there, so its pack is repacked and doomed
        const g1 = await withRepo(a, (ra) => planGc(ra, { remote: 'origin', grace: 0 }));
        expect(g1.candidates.map((c) => c.oid)).toContain(v1);
        await withRepo(a, (ra) => applyGc(ra, g1));
        const after1 = await keys(bucket, 'packs/');
        expect(after1.filter((k) => k.endsWith('.doomed')).length).toBe(1);
        expect(after1.filter((k) => k.endsWith('.pack')).length).toBe(3); // nothing deleted yet, one new pack

        // B's push goes on with what it read before the doom
        const res = await executePush(repo.cache, store, plan, { jobs: 4 });
        expect(res.failed).toEqual([]);
        expect(res.transferred).toBe(2);
      } finally {
        await remote.close();
      }
    });

    // a clone of B reads v1 out of the doomed pack (a reader's last resort), so nothing is unavailable meanwhile
    const c = await cloneOf(b);
    await ok(c, 'pull');
    expect(await fsp.readFile(path.join(c, 'again/copy.bin'), 'utf8')).toBe(v1text);

    // B's commit reaches A; A's next gc rescues v1 into a live pack before it deletes the doomed one
    await git(a, 'pull', '-q', b, 'main');
    await withRepo(a, async (ra) => applyGc(ra, await planGc(ra, { remote: 'origin', grace: 0 })));
    const after2 = await keys(bucket, 'packs/');
    expect(after2.filter((k) => k.endsWith('.doomed'))).toEqual([]);
    expect(after2.filter((k) => pack1.includes(k)).length).toBeLessThan(2); // the doomed pack is gone
    const d = await cloneOf(a);
    await ok(d, 'pull');
    expect(await fsp.readFile(path.join(d, 'again/copy.bin'), 'utf8')).toBe(v1text);
    expect(await snapshot(d, noTrove)).toEqual(await snapshot(c, noTrove));
    expect((await ok(d, 'fsck')).code).toBe(0);
  });
});
