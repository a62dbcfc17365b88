/** `trove fsck`: re-hash every cached object; corrupt ones are quarantined. */
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import type { RepoContext } from '../context.js';
import type { Oid } from '../oid.js';
import type { ObjectKind } from '../store/objectStore.js';
import type { OnProgress } from '../workspace.js';

export interface FsckResult {
  checked: number;
  bytes: number;
  corrupt: { oid: Oid; kind: ObjectKind; quarantinedAs: string }[];
  strayTemp: number;
}

/** Re-hashes every cached object; corrupt ones are moved to `cache/quarantine/`, never deleted. */
export async function fsck(ctx: RepoContext, o: { onProgress?: OnProgress; jobs?: number } = {}): Promise<FsckResult> {
  // each object checked as the kind the store holds it as: nothing is guessed from bytes
  const oids: { oid: Oid; kind: ObjectKind; size: number }[] = [];
  for await (const e of ctx.cache.list()) oids.push({ oid: e.oid, kind: e.kind, size: e.size });
  const limit = pLimit(o.jobs ?? Math.max(2, os.availableParallelism()));
  const corrupt: FsckResult['corrupt'] = [];
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
  return { checked: oids.length, bytes, corrupt, strayTemp };
}
