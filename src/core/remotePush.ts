/**
 * Sending a push's objects: small ones in packs, large ones loose, then the inventory.
 *
 * The rule every step keeps: a tree becomes visible on the remote only after everything below it
 * is, so "tree present ⇒ subtree complete" (which push and fetch rely on to skip whole folders)
 * holds even after a kill -9 at any point. A pack becomes visible all at once, when its index is
 * put (after its body), so a tree may share a pack with its children.
 *
 * 1. Large blobs (above PACK_OBJECT_MAX) go loose first, `jobs` at a time (multipart when big);
 *    a blob the cache holds chunked sends the chunks the remote lacks, then its manifest
 *    (chunkTransfer.ts); `sentBytes` counts what was uploaded.
 * 2. Small objects, in post-order (children before parents), are appended to a local pack file
 *    (read from the cache and verified on the way: a corrupt local object is quarantined and never
 *    sent). A pack that reaches PACK_TARGET is sealed and its body uploaded (one at a time; its multipart parts in parallel) while the
 *    next one fills; indexes are put strictly in order, each after its own body and the index
 *    before it. A failed pack stops every later index (they may hold its parents): their objects
 *    are reported failed, their bodies stay invisible (gc removes bodies without an index).
 *    A tree whose children failed or are missing is not packed (INCOMPLETE), nor its parents.
 * 3. Large trees (and any tree above one) go loose last, one by one in post-order.
 * 4. The inventory is rewritten when anything was sent or it was stale, or when it does not record
 *    manifests yet (inventory.ts); manifests published now join the ones it names.
 */
import { rm } from 'node:fs/promises';
import pLimit from 'p-limit';
import type { ObjectStore } from './store/objectStore.js';
import { isTroveError } from './errors.js';
import type { Oid } from './oid.js';
import { PACK_OBJECT_MAX, type RemotePack, type RemoteStore } from './remoteStore.js';
import { ENTRY_HEADER_SIZE, PackWriter } from './store/pack.js';
import { chunkedParts, pushChunkedBlobs, type ChunkedBlob } from './chunkTransfer.js';
import { encodePackIndex, parsePackIndex } from './store/packIndex.js';

/** A pack is sealed and sent when it reaches this size (8 parts of 8 MiB on S3). */
export const PACK_TARGET = 64 << 20;

export interface SendNode {
  size: number;
  where: string;
  tree: boolean;
  children?: Oid[];
}

export interface SendFailure {
  oid: Oid;
  where: string;
  code: string;
  error: string;
}

export interface SendReport {
  sent: number;
  sentBytes: number;
  failed: SendFailure[];
  packs: number;
}

/**
 * Sends `order` (post-order, children first) from the cache to the remote.
 * @example const r = await sendObjects(cache, store, nodes, order, missing, { jobs: 16 })
 */
export async function sendObjects(cache: ObjectStore, store: RemoteStore, nodes: Map<Oid, SendNode>, order: Oid[], missing: Map<Oid, string>,
  o: { jobs: number; signal?: AbortSignal; onObject?: (bytes: number) => void; packTarget?: number }): Promise<SendReport> {
  const rep: SendReport = { sent: 0, sentBytes: 0, failed: [], packs: 0 };
  const status = new Map<Oid, boolean>(); // true: sent or will be with its pack; false: failed
  const inOrder = new Set(order);
  const fail = (oid: Oid, code: string, error: string) => {
    status.set(oid, false);
    rep.failed.push({ oid, where: nodes.get(oid)?.where ?? oid, code, error });
  };
  const ok = (oid: Oid, size: number) => {
    status.set(oid, true);
    rep.sent++;
    rep.sentBytes += size;
    o.onObject?.(size);
  };
  /** every child is on the remote or will be: not failed, not missing */
  const childrenOk = (oid: Oid) => (nodes.get(oid)?.children ?? []).every((c) => (inOrder.has(c) ? status.get(c) !== false : !missing.has(c)));
  const gate = (oid: Oid): boolean => {
    const n = nodes.get(oid)!;
    if (n.tree && !n.children) {
      fail(oid, 'MISSING_OBJECT', 'the tree is not in the local cache');
      return false;
    }
    if (n.tree && !childrenOk(oid)) {
      fail(oid, 'INCOMPLETE', 'not uploaded because objects below it are missing or failed');
      return false;
    }
    return true;
  };
  const onError = async (oid: Oid, err: unknown) => {
    if (isTroveError(err, 'ABORTED') || o.signal?.aborted) throw err;
    if (isTroveError(err, 'INTEGRITY')) {
      // cache objects are immutable: different bytes mean the local copy is corrupt. Move it
      // aside (never delete) so that nothing uses it again, and say where it went.
      const moved = await cache.quarantine(oid, nodes.get(oid)?.tree ? 'tree' : 'blob').catch(() => null);
      fail(oid, 'INTEGRITY', `the local copy of ${oid} is corrupt and was not uploaded${moved ? `; moved to ${moved}` : ''}`);
      return;
    }
    fail(oid, isTroveError(err) ? err.code : ((err as NodeJS.ErrnoException)?.code ?? 'ERROR'), String((err as Error)?.message ?? err));
  };

  // which trees must go loose: large ones, and every tree above one (it must wait for it)
  const deferred = new Set<Oid>();
  for (const oid of order) {
    const n = nodes.get(oid)!;
    if (n.tree && (n.size > PACK_OBJECT_MAX || (n.children ?? []).some((c) => deferred.has(c)))) deferred.add(oid);
  }
  const sentChunked = new Set<Oid>(); // held as a manifest on the remote, not as a loose object
  const uploadLoose = async (oid: Oid) => {
    const n = nodes.get(oid)!;
    try {
      const kind = n.tree ? 'tree' : 'blob';
      const size = (await cache.stat(oid, kind))?.size ?? null;
      if (size === null) throw Object.assign(new Error(`${n.where}: object ${oid} is not in the cache`), { code: 'MISSING_OBJECT' });
      // verified twice: the store's read stream, and the upload's hash before the object is visible
      await store.upload(oid, kind, size, () => cache.open(oid, kind, n.where));
      ok(oid, size);
    } catch (err) {
      await onError(oid, err);
    }
  };

  const target = o.packTarget ?? PACK_TARGET;
  const published: RemotePack[] = [];
  const chunksLoose: Oid[] = [];
  // 1a. chunked blobs: the chunks the remote lacks (small ones packed), then each manifest (chunkTransfer.ts)
  const large = order.filter((oid) => !nodes.get(oid)!.tree && nodes.get(oid)!.size > PACK_OBJECT_MAX);
  const chunked: ChunkedBlob[] = [];
  for (const oid of large) {
    try {
      const parts = await chunkedParts(cache, oid);
      if (parts) chunked.push({ oid, where: nodes.get(oid)!.where, parts });
    } catch (err) {
      await onError(oid, err);
    }
  }
  if (chunked.length) {
    const r = await pushChunkedBlobs(cache, store, chunked, { jobs: o.jobs, packTarget: target, signal: o.signal });
    published.push(...r.packs);
    rep.packs += r.packs.length;
    chunksLoose.push(...r.loose);
    for (const b of chunked) {
      sentChunked.add(b.oid);
      const got = r.results.get(b.oid)!;
      if ('bytes' in got) ok(b.oid, got.bytes);
      else await onError(b.oid, got.error);
    }
  }
  // 1. large blobs, loose
  const limit = pLimit(Math.max(1, o.jobs));
  await Promise.all(large.filter((oid) => !sentChunked.has(oid) && !status.has(oid)).map((oid) => limit(() => uploadLoose(oid))));

  // 2. small objects, packed
  // one pack body in flight (its multipart parts: `jobs` of the remote, 4 × 8 MiB by default): two
  // held ~80 MiB of part buffers at once, a third of a 100k-file push's peak RSS, for no gain on a
  // server-bound upload
  const packLimit = pLimit(1);
  let chain: Promise<void> = Promise.resolve();
  let broken: unknown;
  let writer: PackWriter | null = null;
  let members: { oid: Oid; size: number }[] = [];
  let heldTrees: [Oid, Buffer][] = [];
  let heldBytes = 0;
  const seal = async () => {
    if (!writer) return;
    for (const [oid, body] of heldTrees) writer.add('tree', body, oid, { hashedBy: 'caller' });
    heldTrees = [];
    heldBytes = 0;
    const w = writer;
    const these = members;
    writer = null;
    members = [];
    const fin = await w.finish();
    const idx = parsePackIndex(encodePackIndex(fin.id, fin.size, fin.entries), w.file);
    const body = packLimit(async () => {
      // the body may go up before the indexes in front of it; only the index makes it visible
      const { createReadStream } = await import('node:fs');
      await store.retry(() => store.remote.put(`packs/${idx.packId}.pack`, () => createReadStream(w.file), idx.packSize, { signal: o.signal }));
    });
    body.catch(() => {}); // awaited through the chain; this only keeps an early failure from being unhandled
    chain = chain.then(async () => {
      try {
        if (broken) throw broken;
        await body;
        await store.retry(() => store.remote.putBytes(`packs/${idx.packId}.idx`, idx.bytes(), { signal: o.signal }));
        published.push({ id: idx.packId, idx, size: idx.packSize, mtimeMs: Date.now() });
        rep.packs++;
        for (const m of these) ok(m.oid, m.size);
      } catch (err) {
        broken ??= err;
        if (isTroveError(err, 'ABORTED') || o.signal?.aborted) throw err;
        for (const m of these) fail(m.oid, isTroveError(err) ? err.code : 'ERROR', `not uploaded: pack ${idx.packId.slice(0, 12)} (or one before it) failed: ${(err as Error)?.message ?? String(err)}`);
      } finally {
        await body.catch(() => {});
        await rm(w.file, { force: true });
      }
    });
  };
  try {
    for (const oid of order) {
      const n = nodes.get(oid)!;
      if ((!n.tree && n.size > PACK_OBJECT_MAX) || deferred.has(oid)) continue;
      o.signal?.throwIfAborted();
      if (!gate(oid)) continue;
      let body: Buffer;
      try {
        body = cache.readSmall(oid, n.tree ? 'tree' : 'blob', n.where); // verified: a corrupt copy is INTEGRITY here
      } catch (err) {
        await onError(oid, err);
        continue;
      }
      if (!writer) writer = PackWriter.create(await cache.tempPath());
      // trees wait for the end of their pack: a pull then reads a pack's trees in one ranged GET.
      // (Order inside a pack does not matter: the whole pack becomes visible with its index.)
      if (n.tree) {
        heldTrees.push([oid, body]);
        heldBytes += body.length + ENTRY_HEADER_SIZE;
      } else writer.add('blob', body, oid, { hashedBy: 'caller' }); // readSmall verified these bytes against oid
      members.push({ oid, size: body.length });
      status.set(oid, true); // optimistic for its parents: if its pack fails, so do all later packs
      if (writer.bytes + heldBytes >= target) await seal();
    }
    await seal();
  } finally {
    if (writer) { try { (writer as PackWriter).abort(); } catch { /* already gone */ } }
    await chain;
  }

  // 3. large trees (and trees above them), loose, in post-order
  for (const oid of order) {
    if (!deferred.has(oid) || !gate(oid)) continue;
    await uploadLoose(oid);
  }

  // 4. the inventory
  const sentLoose = order.filter((oid) => status.get(oid) === true && !sentChunked.has(oid) && !published.some((p) => p.idx.has(oid)));
  const v0 = await store.view();
  const sentManifests = [...sentChunked].filter((oid) => status.get(oid) === true);
  if (published.length || sentLoose.length || chunksLoose.length || sentManifests.length || v0.stale || (v0.inventory && !v0.manifests)) {
    const v = v0;
    const loose = new Set(v.loose.keys());
    for (const oid of order) loose.delete(oid); // re-added below when sent loose
    for (const oid of sentLoose) loose.add(oid);
    for (const oid of chunksLoose) loose.add(oid);
    // manifests: the inventory's claims, or (an inventory from before they were recorded, or none) a
    // listing of manifests/ (one request per 1,000), plus the ones just published
    let manifests = v.manifests ? new Set(v.manifests) : null;
    if (!manifests) {
      manifests = new Set<Oid>();
      for await (const m of store.listManifests()) manifests.add(m.oid);
      store.checks++;
    }
    for (const oid of sentManifests) manifests.add(oid);
    await store.writeInventory([...[...v.packs.values()].map((p) => p.idx), ...published.map((p) => p.idx)], loose, manifests);
  }
  if (published.length || sentLoose.length || chunked.length) store.refresh(); // the remote changed: a later plan with this store reads it again
  return rep;
}
