/**
 * Moving chunked files between the cache and a remote as chunks: only the chunks the other side
 * lacks travel, plus the file's manifest.
 *
 * Push (`pushChunkedBlobs`; `pushChunked` for one), for blobs the cache stores as manifest + chunks:
 * 1. each distinct chunk the remote lacks is uploaded, read through the cache's verifying part read
 *    (a corrupt local chunk is INTEGRITY and never sent): chunks up to PACK_OBJECT_MAX into remote
 *    packs (kind chunk; sealed at the pack target, each published pack then index), larger ones
 *    as loose objects;
 * 2. only then the manifest is put at `manifests/sha256/…` (remoteStore.ts): a remote never shows
 *    a manifest whose chunks are missing, even after a kill -9 between the two steps (the re-run
 *    finds the chunks present and puts the manifest).
 * Fetch (`fetchChunked`), for a blob the remote holds as a manifest:
 * 1. GET the manifest, parse it as hostile input (it must describe the wanted oid);
 * 2. a cache that keeps chunks for a file of that size (`cache.chunk`) gets the chunks it lacks,
 *    each verified against its oid before it is visible, then the whole file's SHA-256 is checked
 *    over the chunks in order, and only then the manifest is inserted (putPart);
 * 3. any other cache (`cache.chunk off`, a hardlink repo) gets the file reassembled: chunks are
 *    downloaded in order, each verified, and streamed into putStream, which checks the whole hash.
 * Either way a corrupt chunk or manifest is INTEGRITY and the file does not become present.
 * Memory: one chunk per worker (chunks are ≤ 4 MiB with the pinned parameters; a manifest may name
 * up to MAX_CHUNK_BYTES, which bounds it).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import pLimit from 'p-limit';
import { TroveError } from './errors.js';
import { hashBytes, oidFromHex, type Oid } from './oid.js';
import type { ObjectStore, Part } from './store/objectStore.js';
import { MAX_CHUNK_BYTES, parseManifest } from './store/manifest.js';
import { rm } from 'node:fs/promises';
import { PACK_OBJECT_MAX, type RemotePack, type RemoteStore } from './remoteStore.js';
import { PackWriter } from './store/pack.js';
import { encodePackIndex, parsePackIndex } from './store/packIndex.js';

/** Whether the cache stores `oid` as chunks: its parts, else null. */
export async function chunkedParts(cache: ObjectStore, oid: Oid): Promise<Part[] | null> {
  const parts = await cache.parts(oid, 'blob');
  return parts[0]?.kind === 'manifest' ? parts : null;
}

async function readWhole(s: Readable | NodeJS.ReadableStream, max: number, what: string): Promise<Buffer> {
  const bufs: Buffer[] = [];
  let n = 0;
  for await (const b of s as AsyncIterable<Buffer>) {
    n += b.length;
    if (n > max) throw new TroveError('INTEGRITY', `${what}: larger than ${max} bytes`, 'the copy is corrupt; nothing was stored');
    bufs.push(b);
  }
  return Buffer.concat(bufs);
}

/**
 * Sends one chunked blob (pushChunkedBlobs for one): the chunks the remote lacks, then its manifest.
 * Returns the bytes uploaded; throws what failed it.
 * @example const bytes = await pushChunked(repo.cache, store, oid, parts, 'data/big.bin', { jobs: 8 })
 */
export async function pushChunked(cache: ObjectStore, store: RemoteStore, oid: Oid, parts: Part[], where: string,
  o: { jobs: number; packTarget?: number }): Promise<number> {
  const r = (await pushChunkedBlobs(cache, store, [{ oid, where, parts }], { jobs: o.jobs, packTarget: o.packTarget ?? 64 << 20 })).results.get(oid)!;
  if ('error' in r) throw r.error;
  return r.bytes;
}

/** One chunk from the remote, whole and verified (INTEGRITY when its bytes are not its name). */
async function downloadChunk(store: RemoteStore, c: Part, what: string): Promise<Buffer> {
  return store.download(c.oid, 'chunk', async (body) => {
    const buf = await readWhole(body, Math.min(MAX_CHUNK_BYTES, c.size), what);
    if (buf.length !== c.size || hashBytes(buf) !== c.oid) {
      throw new TroveError('INTEGRITY', `${what}: the remote's copy is corrupt (its bytes do not match its name)`, 'push a good copy from a clone that has this file; nothing was stored');
    }
    return buf;
  });
}

/**
 * Fetches a blob the remote holds as a manifest (see the header). Returns the bytes downloaded, or
 * null when the remote has no manifest for `oid`.
 * @example const n = await fetchChunked(repo.cache, store, oid, 'data/big.bin', { jobs: 8 })
 */
export async function fetchChunked(cache: ObjectStore, store: RemoteStore, oid: Oid, where: string,
  o: { jobs: number; onBytes?: (n: number) => void }): Promise<number | null> {
  const raw = await store.readManifest(oid);
  if (!raw) return null;
  const what = `${where} (from remote "${store.name}")`;
  const m = parseManifest(raw, `manifest of ${what}`, oid);
  let bytes = raw.length;
  o.onBytes?.(raw.length);
  const distinct: Part[] = [];
  const seen = new Set<Oid>();
  for (const c of m.chunks) {
    if (!seen.has(c.oid)) distinct.push({ oid: c.oid, kind: 'chunk', size: c.size });
    seen.add(c.oid);
  }
  if (cache.keepsChunks(m.size)) {
    // 2. the chunks the cache lacks, each verified before it is visible
    const limit = pLimit(Math.max(1, o.jobs));
    await Promise.all(distinct.map((c) => limit(async () => {
      if (await cache.hasPart(c)) return;
      const buf = await downloadChunk(store, c, `${what}: chunk ${c.oid}`);
      await cache.putPart(c, Readable.from([buf]), `${what}: chunk ${c.oid}`);
      bytes += buf.length;
      o.onBytes?.(buf.length);
    })));
    // the manifest must add up to the file: hash the chunks in order before it names them
    const h = createHash('sha256');
    for (const c of m.chunks) {
      for await (const b of await cache.openPart({ oid: c.oid, kind: 'chunk', size: c.size }, `${what}: chunk ${c.oid}`)) h.update(b as Buffer);
    }
    const got = oidFromHex(h.digest('hex'));
    if (got !== oid) throw new TroveError('INTEGRITY', `manifest of ${what}: its chunks add up to ${got}, not ${oid}`, 'the remote\'s manifest is corrupt; push the file again from a clone that has it');
    await cache.putPart({ oid, kind: 'manifest', size: raw.length }, Readable.from([raw]), `manifest of ${what}`);
    return bytes;
  }
  // 3. reassembled whole: chunks in order (a repeated chunk is downloaded again: this cache keeps none)
  async function* whole(): AsyncGenerator<Buffer> {
    for (const c of m.chunks) {
      const buf = await downloadChunk(store, { oid: c.oid, kind: 'chunk', size: c.size }, `${what}: chunk ${c.oid}`);
      bytes += buf.length;
      o.onBytes?.(buf.length);
      yield buf;
    }
  }
  await cache.putStream(oid, 'blob', Readable.from(whole()), what);
  return bytes;
}

/**
 * `trove verify` of a file the remote holds as a manifest: every chunk downloaded and checked, and
 * the whole file's SHA-256 over them in order (nothing is stored). Memory: one chunk.
 */
export async function verifyRemoteChunked(store: RemoteStore, oid: Oid): Promise<'ok' | 'missing' | 'corrupt'> {
  const raw = await store.readManifest(oid);
  if (!raw) return 'missing';
  try {
    const m = parseManifest(raw, `manifest of ${oid} on remote "${store.name}"`, oid);
    const h = createHash('sha256');
    for (const c of m.chunks) h.update(await downloadChunk(store, { oid: c.oid, kind: 'chunk', size: c.size }, `chunk ${c.oid} of ${oid}`));
    return oidFromHex(h.digest('hex')) === oid ? 'ok' : 'corrupt';
  } catch (err) {
    if (err instanceof TroveError && err.code === 'INTEGRITY') return 'corrupt';
    if (err instanceof TroveError && err.code === 'NOT_FOUND') return 'missing';
    throw err;
  }
}

export interface ChunkedBlob {
  oid: Oid;
  where: string;
  parts: Part[];
}

export interface ChunkedPushReport {
  /** per blob: bytes uploaded for it (chunks it was the first to need, and its manifest), or why it failed */
  results: Map<Oid, { bytes: number } | { error: unknown }>;
  /** remote packs of chunks published (for the inventory) */
  packs: RemotePack[];
  /** chunks sent loose */
  loose: Oid[];
}

/**
 * Sends chunked blobs: the chunks the remote lacks (small ones packed), then each blob's manifest,
 * only when every chunk it names is on the remote. A failed chunk fails the blobs that name it.
 * @example const r = await pushChunkedBlobs(repo.cache, store, [{ oid, where: 'model.bin', parts }], { jobs: 8 })
 */
export async function pushChunkedBlobs(cache: ObjectStore, store: RemoteStore, blobs: ChunkedBlob[],
  o: { jobs: number; packTarget: number; signal?: AbortSignal }): Promise<ChunkedPushReport> {
  const rep: ChunkedPushReport = { results: new Map(), packs: [], loose: [] };
  const limit = pLimit(Math.max(1, o.jobs));
  // 1. the distinct chunks, who needs them, and which the remote lacks
  const users = new Map<Oid, { part: Part; blobs: Oid[] }>();
  for (const b of blobs) {
    for (const c of b.parts.slice(1)) {
      const u = users.get(c.oid);
      if (u) u.blobs.push(b.oid);
      else users.set(c.oid, { part: c, blobs: [b.oid] });
    }
  }
  const failed = new Map<Oid, unknown>();
  const bytes = new Map<Oid, number>(blobs.map((b) => [b.oid, 0]));
  const wanted: Part[] = [];
  await Promise.all([...users.values()].map((u) => limit(async () => {
    if (!(await store.hasChunk(u.part.oid))) wanted.push(u.part); // the inventory's word, HEAD only for its loose claims
  })));
  wanted.sort((a, b) => (a.oid < b.oid ? -1 : 1));
  const sent = (c: Part) => { const first = users.get(c.oid)!.blobs[0]; bytes.set(first, bytes.get(first)! + c.size); };
  const failChunk = (c: Part, err: unknown) => { for (const b of users.get(c.oid)!.blobs) if (!failed.has(b)) failed.set(b, err); };
  // 2. small chunks in packs, one pack at a time (each published pack, then index)
  let writer: PackWriter | null = null;
  let members: Part[] = [];
  const seal = async () => {
    if (!writer) return;
    const w = writer;
    const these = members;
    writer = null;
    members = [];
    try {
      const fin = await w.finish();
      const idx = parsePackIndex(encodePackIndex(fin.id, fin.size, fin.entries), w.file);
      rep.packs.push(await store.putPack(w.file, idx));
      for (const c of these) sent(c);
    } catch (err) {
      for (const c of these) failChunk(c, err);
    } finally {
      await rm(w.file, { force: true });
    }
  };
  try {
    for (const c of wanted.filter((p) => p.size <= PACK_OBJECT_MAX)) {
      o.signal?.throwIfAborted();
      let body: Buffer;
      try {
        body = await readWhole(await cache.openPart(c, `chunk ${c.oid}`), PACK_OBJECT_MAX, `chunk ${c.oid}`);
      } catch (err) {
        failChunk(c, err);
        continue;
      }
      if (!writer) writer = PackWriter.create(await cache.tempPath());
      writer.add('chunk', body, c.oid);
      members.push(c);
      if (writer.bytes >= o.packTarget) await seal();
    }
    await seal();
  } finally {
    if (writer) { try { (writer as PackWriter).abort(); } catch { /* already gone */ } }
  }
  // 3. large chunks loose (whole or not at all: the backend checks the sha256 before it is visible)
  await Promise.all(wanted.filter((p) => p.size > PACK_OBJECT_MAX).map((c) => limit(async () => {
    try {
      await store.upload(c.oid, 'chunk', c.size, () => cache.openPart(c, `chunk ${c.oid}`));
      rep.loose.push(c.oid);
      sent(c);
    } catch (err) {
      if (o.signal?.aborted) throw err;
      failChunk(c, err);
    }
  })));
  if (wanted.length) store.refresh(); // the remote changed: later reads with this store see the new packs
  // 4. manifests, each after all its chunks
  for (const b of blobs) {
    const err = failed.get(b.oid);
    if (err !== undefined) {
      rep.results.set(b.oid, { error: err });
      continue;
    }
    try {
      const buf = await readWhole(await cache.openPart(b.parts[0], `${b.where}: manifest`), 64 << 20, `${b.where}: manifest`);
      await store.putManifest(b.oid, buf);
      rep.results.set(b.oid, { bytes: bytes.get(b.oid)! + buf.length });
    } catch (e) {
      if (o.signal?.aborted) throw e;
      rep.results.set(b.oid, { error: e });
    }
  }
  return rep;
}
