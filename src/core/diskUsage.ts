/**
 * `trove du`: how much the cache holds as the user sees it (every object at its full size, once)
 * against what it takes on disk, and how it is kept: whole loose files, inside packs, or as chunks
 * shared between versions of large files. The difference is what content-defined chunking (and packs'
 * dedup of nothing: a packed object is stored once, like a loose one) saved.
 *
 * Result format, version 1 (`trove du --json`):
 * `{version, objects: {blobs, trees}, logicalBytes, storedBytes, savedBytes,
 *   loose: {objects, bytes}, packed: {objects, bytes, packs} | null, chunked: {files, logicalBytes, chunks, chunkBytes, manifestBytes}}`
 * `packed` is null when the store has no packs part. Sizes are bytes of content (apparent sizes), not
 * blocks: `du -sh .trove/cache` differs by the file system's rounding.
 */
import type { ObjectStore } from './store/objectStore.js';
import { ChunkedStore, type ChunkUsage } from './store/chunked.js';

export interface DiskUsage {
  version: 1;
  objects: { blobs: number; trees: number };
  /** every object at its full size, each once */
  logicalBytes: number;
  /** bytes on disk: loose objects + packs + chunks + manifests */
  storedBytes: number;
  /** logicalBytes − storedBytes, or 0 when the bookkeeping (manifests, unnamed chunks) costs more than dedup saved */
  savedBytes: number;
  loose: { objects: number; bytes: number };
  packed: { objects: number; bytes: number; packs: number } | null;
  chunked: ChunkUsage;
}

/** What a packs part may report (duck-typed: the packed store offers it when it exists). */
interface PackUsageSource {
  /** objects in packs, their content bytes, the packs' bytes on disk (with any garbage), the number of packs */
  packUsage(): Promise<{ objects: number; objectBytes: number; bytes: number; packs: number }>;
}

function findPart<T>(store: unknown, test: (s: unknown) => s is T): T | null {
  for (let s: unknown = store, depth = 0; s && depth < 8; s = (s as { inner?: unknown }).inner, depth++) if (test(s)) return s;
  return null;
}

/**
 * Walks the store's listing once (memory flat: counters only).
 *
 * @example const u = await diskUsage(repo.store); console.log(u.savedBytes)
 */
export async function diskUsage(store: ObjectStore): Promise<DiskUsage> {
  const chunkedPart = findPart(store, (s): s is ChunkedStore => s instanceof ChunkedStore);
  const packPart = findPart(store, (s): s is PackUsageSource => typeof (s as Partial<PackUsageSource>)?.packUsage === 'function');
  const objects = { blobs: 0, trees: 0 };
  let logical = 0;
  let wholeObjects = 0;
  let wholeBytes = 0;
  for await (const o of store.list()) {
    if (o.kind === 'tree') objects.trees++;
    else objects.blobs++;
    logical += o.size;
    if (!(o.kind === 'blob' && chunkedPart?.isChunked(o.oid, 'blob'))) {
      wholeObjects++;
      wholeBytes += o.size;
    }
  }
  const chunked = chunkedPart ? await chunkedPart.usage() : { files: 0, logicalBytes: 0, chunks: 0, chunkBytes: 0, manifestBytes: 0 };
  const p = packPart ? await packPart.packUsage() : null;
  const packed = p ? { objects: p.objects, bytes: p.bytes, packs: p.packs } : null;
  const loose = { objects: wholeObjects - (p?.objects ?? 0), bytes: wholeBytes - (p?.objectBytes ?? 0) };
  const stored = loose.bytes + (p?.bytes ?? 0) + chunked.chunkBytes + chunked.manifestBytes;
  return { version: 1, objects, logicalBytes: logical, storedBytes: stored, savedBytes: Math.max(0, logical - stored), loose, packed, chunked };
}
