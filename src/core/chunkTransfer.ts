/**
 * Moving chunked files between the cache and a remote as chunks: only the chunks the other side
 * lacks travel, plus the file's manifest.
 *
 * Push (`pushChunked`), for a blob the cache stores as a manifest + chunks:
 * 1. each distinct chunk the remote lacks is uploaded as an object (kind chunk, loose key), read
 *    through the cache's verifying part read (a corrupt local chunk is INTEGRITY and never sent);
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
import type { RemoteStore } from './remoteStore.js';

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
 * Sends a chunked blob: the chunks the remote lacks, then its manifest. Returns the bytes uploaded.
 * @example const bytes = await pushChunked(repo.cache, store, oid, parts, 'data/big.bin', { jobs: 8 })
 */
export async function pushChunked(cache: ObjectStore, store: RemoteStore, oid: Oid, parts: Part[], where: string,
  o: { jobs: number; onBytes?: (n: number) => void }): Promise<number> {
  const [manifest, ...chunks] = parts;
  const limit = pLimit(Math.max(1, o.jobs));
  let bytes = 0;
  // 1. chunks first (uploaded whole or not at all: the backend checks the sha256 before it is visible)
  await Promise.all(chunks.map((c) => limit(async () => {
    if (await store.has(c.oid, 'chunk')) return;
    await store.upload(c.oid, 'chunk', c.size, () => cache.openPart(c, `${where}: chunk ${c.oid}`));
    bytes += c.size;
    o.onBytes?.(c.size);
  })));
  // 2. then the manifest, which names them
  const buf = await readWhole(await cache.openPart(manifest, `${where}: manifest`), 64 << 20, `${where}: manifest`);
  await store.putManifest(oid, buf);
  bytes += buf.length;
  o.onBytes?.(buf.length);
  return bytes;
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
 * gc --remote: the chunks that manifests on the remote name (they must stay). A manifest that cannot
 * be read or parsed is added to `unreadable`, which makes gc delete nothing (its chunks are unknown).
 */
export async function remoteChunkKeep(store: RemoteStore, unreadable: string[]): Promise<Set<Oid>> {
  const keep = new Set<Oid>();
  for await (const oid of store.listManifests()) {
    try {
      const raw = await store.readManifest(oid);
      if (!raw) continue; // deleted meanwhile: names nothing any more
      for (const c of parseManifest(raw, `manifest of ${oid} on remote "${store.name}"`, oid).chunks) keep.add(c.oid);
    } catch (err) {
      if (!(err instanceof TroveError)) throw err;
      unreadable.push(`manifest ${oid} on remote "${store.name}": ${err.message}`);
    }
  }
  return keep;
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
