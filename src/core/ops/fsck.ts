/** `trove fsck`: re-hash every cached object; corrupt ones are quarantined. */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import type { RepoContext } from '../context.js';
import type { Oid } from '../oid.js';
import type { OnProgress } from '../workspace.js';

export interface FsckResult {
  checked: number;
  bytes: number;
  corrupt: { oid: Oid; quarantinedAs: string }[];
  strayTemp: number;
}

/** Re-hashes every cached object; corrupt ones are moved to `cache/quarantine/`, never deleted. */
export async function fsck(ctx: RepoContext, o: { onProgress?: OnProgress; jobs?: number } = {}): Promise<FsckResult> {
  const oids: Oid[] = [];
  for await (const oid of ctx.cache.list()) oids.push(oid);
  const limit = pLimit(o.jobs ?? Math.max(2, os.availableParallelism()));
  const corrupt: FsckResult['corrupt'] = [];
  let done = 0;
  let bytes = 0;
  await Promise.all(
    oids.map((oid) =>
      limit(async () => {
        const size = (await ctx.cache.size(oid)) ?? 0;
        if (!(await ctx.cache.verify(oid))) corrupt.push({ oid, quarantinedAs: path.relative(ctx.root, await ctx.cache.quarantine(oid)) });
        done++;
        bytes += size;
        if (o.onProgress && (done & 15) === 0) o.onProgress({ phase: 'fsck', done, total: oids.length, bytes });
      }),
    ),
  );
  o.onProgress?.({ phase: 'fsck', done, total: oids.length, bytes });
  let strayTemp = 0;
  try {
    strayTemp = (await fsp.readdir(ctx.cache.tmpDir)).length;
  } catch {
    /* no tmp dir */
  }
  corrupt.sort((a, b) => a.oid.localeCompare(b.oid));
  return { checked: oids.length, bytes, corrupt, strayTemp };
}
