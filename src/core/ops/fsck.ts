/** `trove fsck`: re-hash every cached object; corrupt ones are quarantined. */
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import type { RepoContext } from '../context.js';
import type { Oid } from '../oid.js';
import type { ObjectKind } from '../store/objectStore.js';
import type { PackKind } from '../store/pack.js';
import { packsOf, type PackCheck } from '../store/packed.js';
import type { OnProgress } from '../workspace.js';

export interface FsckResult {
  checked: number;
  bytes: number;
  corrupt: { oid: Oid; kind: ObjectKind | PackKind; quarantinedAs: string }[];
  strayTemp: number;
  /** pack files checked whole (store/packed.ts checkPacks): what was wrong and what was done */
  packs?: { checked: number; problems: PackCheck['problems'] };
}

/**
 * Re-hashes every cached object; corrupt ones are moved to `cache/quarantine/`, never deleted.
 * Under the repo lock, held to the end: fsck rewrites packs (repair, quarantine) and must not meet a gc
 * rewriting or merging the same packs, nor take a pack a gc removed meanwhile for a corrupt one. A
 * concurrent add, gc or checkout waits for it (and fails with LOCKED, changing nothing, after the
 * lock's 2-minute wait); reads (status, diff, push) go on beside it.
 * @example const { corrupt } = await fsck(ctx)
 */
export async function fsck(ctx: RepoContext, o: { onProgress?: OnProgress; jobs?: number } = {}): Promise<FsckResult> {
  const unlock = await ctx.lock('fsck');
  try {
    return await fsckLocked(ctx, o);
  } finally {
    await unlock();
  }
}

async function fsckLocked(ctx: RepoContext, o: { onProgress?: OnProgress; jobs?: number }): Promise<FsckResult> {
  // packs first, whole: damaged packs and indexes are repaired (good objects kept), so the per-object
  // pass below meets only sound packs. Inside removals(): quarantining moves the store's generation.
  const packed = packsOf(ctx.cache);
  const packCheck = packed ? await ctx.cache.removals(() => packed.checkPacks()) : undefined;
  // each object checked as the kind the store holds it as: nothing is guessed from bytes
  const oids: { oid: Oid; kind: ObjectKind; size: number }[] = [];
  for await (const e of ctx.cache.list()) oids.push({ oid: e.oid, kind: e.kind, size: e.size });
  const limit = pLimit(o.jobs ?? Math.max(2, os.availableParallelism()));
  const corrupt: FsckResult['corrupt'] = (packCheck?.quarantined ?? []).map((q) => ({ oid: q.oid, kind: q.kind, quarantinedAs: path.relative(ctx.root, path.join(ctx.cache.dir, q.to)) }));
  let done = 0;
  let bytes = 0;
  await Promise.all(
    oids.map(({ oid, kind, size }) =>
      limit(async () => {
        if (!(await ctx.cache.verify(oid, kind))) corrupt.push({ oid, kind, quarantinedAs: path.relative(ctx.root, await ctx.cache.quarantine(oid, kind)) });
        done++;
        bytes += size;
        if (o.onProgress && (done & 15) === 0) o.onProgress({ phase: 'fsck', done, total: oids.length, bytes });
      }),
    ),
  );
  o.onProgress?.({ phase: 'fsck', done, total: oids.length, bytes });
  const strayTemp = await ctx.cache.countTemp();
  corrupt.sort((a, b) => a.oid.localeCompare(b.oid));
  const r: FsckResult = { checked: oids.length, bytes, corrupt, strayTemp };
  if (packCheck) r.packs = { checked: packCheck.packs, problems: packCheck.problems };
  return r;
}
