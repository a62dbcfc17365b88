/**
 * When gc merges small packs, and into what. Every `add` seals its own pack, so many small adds leave many
 * small packs (and garbage below REPACK_GARBAGE_SHARE stays in them). gc merges them:
 *
 * - a pack is **small** below `MERGE_SMALL_BYTES` (8 MiB, a quarter of PACK_TARGET_BYTES);
 * - merging happens once there are at least `MERGE_MIN_PACKS` (4) small packs;
 * - the small packs, smallest first, are grouped into new packs of up to `PACK_TARGET_BYTES` (32 MiB)
 *   each; a group of one is left alone. A merge thus rewrites at most 8 MiB per small pack, and garbage
 *   in a merged pack (gc's candidates) is dropped whatever its share.
 *
 * The mechanics (two-phase: new pack visible before any old one goes; what a kill -9 leaves) are
 * `PackedObjects.mergeGroups` in packed.ts. This module is the policy, pure: `planMerge` is unit-tested.
 */
import type { Oid } from '../oid.js';
import type { ObjectRef, ObjectStore } from './objectStore.js';
import { PACK_TARGET_BYTES, packsOf, type PackedObjects, type PackCheck } from './packed.js';

export const MERGE_SMALL_BYTES = PACK_TARGET_BYTES / 4;
export const MERGE_MIN_PACKS = 4;
/**
 * `add` merges on its own (without a gc) once this many small packs have piled up (config
 * `gc.autoMerge`, 0: never), as `git gc --auto` does at 50 packs. Higher than gc's MERGE_MIN_PACKS so
 * that an add seldom pays for a merge: each add seals at most one small pack (its last), so this is
 * one merge every 16 small adds, of at most 16 × 8 MiB.
 */
export const MERGE_AUTO_PACKS = 16;

export interface MergePolicy {
  smallBytes: number;
  minPacks: number;
  targetBytes: number;
}

export const DEFAULT_MERGE: MergePolicy = { smallBytes: MERGE_SMALL_BYTES, minPacks: MERGE_MIN_PACKS, targetBytes: PACK_TARGET_BYTES };

/**
 * Which packs to merge, in groups (each becomes one pack); empty when fewer than `minPacks` are small.
 * @example planMerge([{ id: 'a', bytes: 10 }, …], DEFAULT_MERGE) // [['a', 'b', 'c', 'd']]
 */
export function planMerge(packs: readonly { id: string; bytes: number }[], p: MergePolicy = DEFAULT_MERGE): string[][] {
  const small = packs.filter((x) => x.bytes < p.smallBytes).sort((a, b) => a.bytes - b.bytes || (a.id < b.id ? -1 : 1));
  if (small.length < p.minPacks) return [];
  const groups: string[][] = [];
  let cur: string[] = [];
  let bytes = 0;
  for (const x of small) {
    if (cur.length && bytes + x.bytes > p.targetBytes) {
      groups.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(x.id);
    bytes += x.bytes;
  }
  groups.push(cur);
  return groups.filter((g) => g.length > 1);
}

/** How many packs a merge would fold now (for gc's plan): packs in groups of two or more. */
export function packsToMerge(packs: PackedObjects, p: MergePolicy = DEFAULT_MERGE): number {
  return planMerge(packs.packSizes(), p).reduce((n, g) => n + g.length, 0);
}

/**
 * Merges the small packs (see the header); objects in `drop` (gc's candidates) are left out of the new packs.
 * Call inside the store's `removals()` and under the repo lock.
 */
export function mergeSmallPacks(packs: PackedObjects, drop: readonly ObjectRef[] = [], p: MergePolicy = DEFAULT_MERGE): { merged: number; written: number; quarantined: PackCheck['quarantined'] } {
  const dead = new Set(drop.map((r) => `${r.kind}:${r.oid as Oid}`));
  const quarantined: PackCheck['quarantined'] = [];
  const r = packs.mergeGroups(planMerge(packs.packSizes(), p), (e) => !dead.has(`${e.kind}:${e.oid}`), quarantined);
  return { ...r, quarantined };
}

/**
 * The merge that `add` runs on its own: when `autoPacks` or more packs are small (0: never), they are
 * merged as gc would (nothing is dropped: add has no idea of garbage). Returns how many packs were
 * merged away (0 when not due). Call under the repo lock, after the new objects are durable.
 */
export async function mergeIfDue(store: ObjectStore, autoPacks: number = MERGE_AUTO_PACKS): Promise<number> {
  const packs = packsOf(store);
  if (!packs || autoPacks <= 0) return 0;
  const small = packs.packSizes().filter((x) => x.bytes < DEFAULT_MERGE.smallBytes).length;
  if (small < Math.max(autoPacks, 2)) return 0;
  // through removals(): objects move between packs, so memos that saw them where they were are dropped
  const r = await store.removals(async () => mergeSmallPacks(packs, [], { ...DEFAULT_MERGE, minPacks: Math.max(autoPacks, 2) }));
  return r.merged;
}
