/**
 * Manifests in the remote inventory (inventory.ts `manifests`): a push records the chunked files it
 * published, so the next plan knows a large file is missing without a request and checks a claimed
 * one with a single HEAD of its manifest. The claims stay advisory: a lying inventory never makes push
 * skip a file the remote lacks, and an inventory without the field (an older trove) falls back to the
 * HEADs of before and is completed by the next push. Real stores in temp dirs, the real AWS SDK
 * against the in-process S3 server, requests counted by the server.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Oid } from '../../src/core/oid.js';
import { hexOf } from '../../src/core/oid.js';
import { RemoteStore } from '../../src/core/remoteStore.js';
import { sweepRemote } from '../../src/core/remoteGc.js';
import { chunkedParts } from '../../src/core/chunkTransfer.js';
import { ChunkedStore } from '../../src/core/store/chunked.js';
import { LooseStore } from '../../src/core/store/loose.js';
import { executePush, planPush } from '../../src/core/transfer.js';
import type { Root } from '../../src/core/transferRoot.js';
import { openRemote } from '../../src/remotes/index.js';
import { tempDir } from '../helpers/repo.js';
import { type TestS3, startS3WithAdmin, stopS3WithAdmin } from '../helpers/s3server.js';

let s3: TestS3;
let admin: S3Client;
let buckets = 0;

beforeAll(async () => ({ s3, admin } = await startS3WithAdmin()));
afterAll(() => stopS3WithAdmin(s3, admin));

const params = { minSize: 16 << 10, avgSize: 64 << 10, maxSize: 256 << 10 };
const MiB = 1 << 20;

/** A chunking cache holding `n` files of 2 MiB (above PACK_OBJECT_MAX: "large"), as roots. */
async function cacheWith(n: number): Promise<{ cache: ChunkedStore; roots: Root[] }> {
  const dir = tempDir();
  const cache = new ChunkedStore(new LooseStore(path.join(dir, 'cache'), path.join(dir, 'tmp')), { threshold: 1, params });
  const roots: Root[] = [];
  for (let i = 0; i < n; i++) {
    const f = path.join(dir, `f${i}.bin`);
    await fsp.writeFile(f, randomBytes(2 * MiB));
    const { oid, size } = await cache.putFile(f, 'blob');
    roots.push({ oid, type: 'file', where: `f${i}.bin`, size });
  }
  return { cache, roots };
}

async function bucket(): Promise<{ name: string; store: () => RemoteStore }> {
  const name = `m${++buckets}-${Date.now()}`;
  await s3.createBucket(name);
  const remote = openRemote('origin', `s3://${name}/p`, { endpoint: s3.endpoint, region: 'us-east-1', path_style: true });
  return { name, store: () => new RemoteStore(remote, { jobs: 4 }) };
}

async function inventoryDoc(b: string): Promise<Record<string, unknown>> {
  const r = await admin.send(new GetObjectCommand({ Bucket: b, Key: 'p/inventory.json' }));
  return JSON.parse(await r.Body!.transformToString());
}
async function putInventoryDoc(b: string, doc: Record<string, unknown>): Promise<void> {
  await admin.send(new PutObjectCommand({ Bucket: b, Key: 'p/inventory.json', Body: JSON.stringify(doc) }));
}

async function pushRoots(cache: ChunkedStore, store: RemoteStore, roots: Root[]) {
  const plan = await planPush(cache, store, roots);
  return executePush(cache, store, plan, { jobs: 4 });
}

describe('manifests in the inventory', () => {
  it('a push records its manifests; the next plan checks a claimed file with one HEAD and knows an unnamed one is missing without a request', async () => {
    const { cache, roots } = await cacheWith(3);
    const [a, b, c] = roots;
    const bk = await bucket();
    const first = await pushRoots(cache, bk.store(), [a]);
    expect(first.failed).toEqual([]);
    expect((await inventoryDoc(bk.name)).manifests).toEqual([hexOf(a.oid)]);

    // plan of a (on the remote, as a manifest) and b, c (not there): inventory + packs listing + one HEAD for a
    s3.requests.reset();
    const plan = await planPush(cache, bk.store(), [a, b, c]);
    expect(plan.presentRoots.map((r) => r.oid)).toEqual([a.oid]);
    expect(new Set(plan.upload)).toEqual(new Set<Oid>([b.oid, c.oid]));
    // roots are HEADed loose as before (b, c); a's claimed manifest is the only other request
    expect(s3.requests.byMethod.HEAD).toBe(3);
    expect(s3.requests.total).toBe(5);

    // pushing b adds its manifest to the inventory beside a's
    await pushRoots(cache, bk.store(), [b]);
    expect(new Set((await inventoryDoc(bk.name)).manifests as string[])).toEqual(new Set([hexOf(a.oid), hexOf(b.oid)]));
  });

  it('is advisory: a claimed manifest the remote lacks is sent; an inventory from an older trove (no field) costs the HEADs of before and is completed by the next push', async () => {
    const { cache, roots } = await cacheWith(2);
    const [a, b] = roots;
    const bk = await bucket();
    await pushRoots(cache, bk.store(), [a]);
    const doc = await inventoryDoc(bk.name);

    // a lie: b claimed, not there. The claim's HEAD finds nothing, so b is planned and sent.
    await putInventoryDoc(bk.name, { ...doc, manifests: [hexOf(a.oid), hexOf(b.oid)] });
    const plan = await planPush(cache, bk.store(), [b]);
    expect([...plan.upload]).toEqual([b.oid]);

    // an older trove's inventory: no manifests field. Nothing is skipped wrongly, and a file that is
    // not there costs a HEAD of its loose key and one of its manifest (as before the field existed)
    const { manifests: _dropped, ...old } = doc;
    void _dropped;
    await putInventoryDoc(bk.name, old);
    s3.requests.reset();
    const oldPlan = await planPush(cache, bk.store(), [a, b]);
    expect(oldPlan.presentRoots.map((r) => r.oid)).toEqual([a.oid]);
    expect([...oldPlan.upload]).toEqual([b.oid]);
    expect(s3.requests.byMethod.HEAD).toBeGreaterThanOrEqual(4);
    // the next push lists manifests/ and writes them into the inventory
    const r = await executePush(cache, bk.store(), await planPush(cache, bk.store(), [b]), { jobs: 4 });
    expect(r.failed).toEqual([]);
    expect(new Set((await inventoryDoc(bk.name)).manifests as string[])).toEqual(new Set([hexOf(a.oid), hexOf(b.oid)]));
    // and then a's presence costs the one manifest HEAD again
    s3.requests.reset();
    const again = await planPush(cache, bk.store(), [a, b]);
    expect(again.presentRoots.length).toBe(2);
    expect(s3.requests.byMethod.HEAD).toBe(2);
  });

  it('gc --remote rewrites the inventory with the manifests still on the remote (not without the field)', async () => {
    const { cache, roots } = await cacheWith(2);
    const [a, b] = roots;
    const bk = await bucket();
    await pushRoots(cache, bk.store(), [a, b]);
    expect(new Set((await inventoryDoc(bk.name)).manifests as string[])).toEqual(new Set([hexOf(a.oid), hexOf(b.oid)]));
    // b's manifest is garbage: the sweep deletes it and writes what is left
    await sweepRemote(cache, bk.store(), [{ oid: b.oid, size: 1, tree: false, manifest: true }], new Set(), { graceMs: 0, now: Date.now() });
    expect((await inventoryDoc(bk.name)).manifests).toEqual([hexOf(a.oid)]);
    // so the next plan knows b is missing and a is there, as after a push
    const plan = await planPush(cache, bk.store(), [a, b]);
    expect(plan.presentRoots.map((r) => r.oid)).toEqual([a.oid]);
    expect([...plan.upload]).toEqual([b.oid]);
  });

  it('a chunked push asks no HEAD per chunk: the inventory names what is there, and a loose claim it makes is re-checked before a chunk is skipped', async () => {
    const { cache, roots } = await cacheWith(2);
    const [a, b] = roots;
    const chunksOf = async (oid: Oid) => (await chunkedParts(cache, oid))!.slice(1).map((p) => p.oid);
    expect((await chunksOf(b.oid)).length).toBeGreaterThan(8);
    const bk = await bucket();
    await pushRoots(cache, bk.store(), [a]);
    const plan = await planPush(cache, bk.store(), [b]);
    s3.requests.reset();
    const r = await executePush(cache, bk.store(), plan, { jobs: 4 });
    expect(r.failed).toEqual([]);
    // b's chunks (dozens) cost no HEAD: one pack of them, its index, the manifest, the inventory
    expect(s3.requests.byMethod.HEAD ?? 0).toBe(0);

    // a lie: the inventory claims a third file's chunks are loose on the remote. Each claim costs a
    // HEAD, finds nothing, and the chunks are sent: the file comes back whole from a fresh cache
    const { cache: c2, roots: [c] } = await cacheWith(1);
    const doc = await inventoryDoc(bk.name);
    const claimed = (await chunkedParts(c2, c.oid))!.slice(1).map((p) => hexOf(p.oid));
    await putInventoryDoc(bk.name, { ...doc, loose: [...(doc.loose as string[]), ...claimed].sort() });
    const plan2 = await planPush(c2, bk.store(), [c]);
    s3.requests.reset();
    const r2 = await executePush(c2, bk.store(), plan2, { jobs: 4 });
    expect(r2.failed).toEqual([]);
    expect(s3.requests.byMethod.HEAD).toBe(new Set(claimed).size);
    const store = bk.store();
    for (const h of claimed) expect(await store.locate(`sha256:${h}` as Oid, 'chunk')).not.toBeNull();
  });
});
