/**
 * Pull's whole-pack path: when most of a remote pack is wanted, it is downloaded whole and becomes
 * one of the local cache's packs (one sequential GET, one file write, one index) instead of one
 * ranged read and one local insert per object. Measured at 100,000 × 1 KiB (two 64 MiB packs):
 * inserting objects one by one was ~5 s of a pull's CPU (a hash, a stat and a pack append each).
 *
 * Every guarantee of the per-object path holds: the pack is streamed into a temp file in the cache's
 * tmp dir while every entry is checked against its index entry and oid and the trailer against the
 * pack's id (RemoteStore.downloadPack); only then is it fsynced and renamed into the cache, index last
 * (PackedObjects.adoptPack), so a kill -9 leaves a temp file that cleanStaleTemp removes, and a
 * re-run downloads it again. Objects of the pack that were not wanted come along (bounded by
 * ADOPT_SHARE); gc removes them like any unreferenced object. A pack that fails verification is
 * not adopted: its objects are read by range instead, where a corrupt object fails its run only.
 *
 * Used only where a pack is a valid local pack: the cache packs blobs (not a hardlink/symlink repo,
 * whose files must stay loose to be linked), and every entry is a blob or tree no larger than the
 * cache packs (chunks and manifests have their own local layout).
 */
import { closeSync, constants as fsc, fsyncSync, openSync, rmSync } from 'node:fs';
import type { ObjectStore } from './store/objectStore.js';
import { PackedStore, type PackedObjects } from './store/packed.js';
import type { RemotePack, RemoteStore } from './remoteStore.js';
import { ENTRY_HEADER_SIZE } from './store/pack.js';

/** A remote pack is pulled whole when the wanted objects hold at least this share of its bytes. */
export const ADOPT_SHARE = 0.5;

export interface PackTarget {
  packs: PackedObjects;
  maxPacked: number;
}

/** The packed store under `cache` that whole remote packs can join, or null (blobs stay loose there). */
export function packTarget(cache: ObjectStore): PackTarget | null {
  for (let s: unknown = cache, depth = 0; s && depth < 4; s = (s as { inner?: unknown }).inner, depth++) {
    if (s instanceof PackedStore) return s.packBlobs && s.maxPacked > 0 ? { packs: s.packs, maxPacked: s.maxPacked } : null;
  }
  return null;
}

/**
 * Whether `pack` should be pulled whole, given the bytes of its files that are wanted (entry headers
 * included). The share is of the pack's file bytes: its trees were fetched ahead by the walk anyway.
 */
export function worthAdopting(pack: RemotePack, wantedBytes: number, target: PackTarget): boolean {
  let fileBytes = 0;
  for (const e of pack.idx.entries()) {
    if ((e.kind !== 'blob' && e.kind !== 'tree') || e.length > target.maxPacked) return false;
    if (e.kind === 'blob') fileBytes += e.length + ENTRY_HEADER_SIZE;
  }
  return wantedBytes >= ADOPT_SHARE * fileBytes;
}

/**
 * Downloads `pack` whole, verified, into the cache's packs. Returns false when its index does not
 * describe a contiguous pack (the caller reads ranges instead); throws INTEGRITY for bad bytes and
 * REMOTE when the download failed after its retries. The temp file is removed whatever happens.
 * @example if (await adoptRemotePack(cache, target, store, pack)) console.log('pulled whole')
 */
export async function adoptRemotePack(cache: ObjectStore, target: PackTarget, store: RemoteStore, pack: RemotePack, onBytes?: (n: number) => void): Promise<boolean> {
  const tmp = await cache.tempPath();
  const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o444);
  let closed = false;
  try {
    const entries = await store.downloadPack(pack, fd, onBytes);
    if (!entries) return false;
    fsyncSync(fd);
    closeSync(fd);
    closed = true;
    target.packs.adoptPack(tmp, pack.id, pack.size, entries);
    return true;
  } finally {
    if (!closed) closeSync(fd);
    rmSync(tmp, { force: true }); // gone already once renamed into the cache
  }
}
