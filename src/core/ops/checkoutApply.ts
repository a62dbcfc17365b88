/** Carries out a checkout plan (checkoutPlan.ts): deletes, folders, chmods, then the files out of the cache. */
import { lstatSync, statSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import pLimit from 'p-limit';
import { SYNC_FILE } from '../store/loose.js';
import type { LinkMode } from '../store/objectStore.js';
import type { RepoContext } from '../context.js';
import { isErrno, isTroveError } from '../errors.js';
import type { Oid } from '../oid.js';
import { statKey } from '../statusIndex.js';
import type { OnProgress } from '../workspace.js';
import type { CheckoutPlan } from './checkoutPlan.js';

/** What one tracked path's checkout did. */
export interface CheckoutResult {
  path: string;
  written: number;
  deleted: number;
  unchanged: number;
  missing: Oid[];
  missingFiles: string[];
  linkMode: LinkMode | null;
  /** when the pointer file was rewritten (checkout <rev>, --ours/--theirs) and not auto-staged: what to `git add` */
  gitAdd?: string[];
}

export async function applyCheckout(ctx: RepoContext, plan: CheckoutPlan, o: { onProgress?: OnProgress; jobs?: number }): Promise<CheckoutResult> {
  const modes = ctx.linkModes();
  let mode: LinkMode = modes.includes('reflink') || modes.includes('copy') ? 'copy' : modes[0];
  if (modes[0] === 'hardlink' || modes[0] === 'symlink') mode = modes[0];
  let usedMode: LinkMode | null = null;
  for (const rel of plan.deletes) await fsp.rm(ctx.abs(rel), { force: true });
  // deepest first so that parents empty out
  for (const rel of plan.dirsToRemove.sort((a, b) => b.length - a.length)) await fsp.rm(ctx.abs(rel), { recursive: true, force: true });
  for (const rel of plan.dirsToMake) {
    try {
      const st = lstatSync(ctx.abs(rel));
      if (!st.isDirectory()) await fsp.rm(ctx.abs(rel), { force: true });
    } catch {
      /* absent */
    }
    await fsp.mkdir(ctx.abs(rel), { recursive: true });
  }
  for (const c of plan.chmods) await fsp.chmod(ctx.abs(c.rel), c.exec ? 0o755 : 0o644);
  const limit = pLimit(o.jobs ?? ctx.jobs);
  const records: { path: string; key: ReturnType<typeof statKey>; oid: Oid; exec: boolean }[] = [];
  let done = 0;
  const total = plan.writes.length;
  const missing = new Set(plan.missing);
  const missingFiles = [...plan.missingFiles];
  if (plan.t.pointer.type === 'file' && plan.writes.length) await fsp.mkdir(path.dirname(ctx.abs(plan.t.path)), { recursive: true });
  // cache objects are read-only and never executable: an executable file is always a copy
  const modeFor = (w: (typeof plan.writes)[number]): LinkMode => (w.exec ? 'copy' : mode);
  const written = (w: (typeof plan.writes)[number], dest: string) => {
    if (mode !== 'symlink') records.push({ path: w.rel, key: statKey(statSync(dest)), oid: w.oid, exec: w.exec });
    done++;
    if (o.onProgress && (done & 63) === 0) o.onProgress({ phase: 'checkout', done, total });
  };
  const notCached = (w: (typeof plan.writes)[number], err: unknown) => {
    const gone = isTroveError(err, 'MISSING_OBJECT') || (isErrno(err, 'ENOENT') && !ctx.cache.hasSync(w.oid, 'blob'));
    if (!gone) throw err;
    missing.add(w.oid);
    missingFiles.push(w.rel);
  };
  // Large files stream through the thread pool, several at a time; small ones are written here in
  // a plain loop, with no promise per file (see LooseStore.materializeSync), yielding now and then so
  // that progress is drawn and the large copies' callbacks run.
  const large = Promise.all(
    plan.writes.filter((w) => w.size > SYNC_FILE).map((w) =>
      limit(async () => {
        const dest = ctx.abs(w.rel);
        try {
          usedMode = await ctx.cache.materialize(w.oid, dest, modeFor(w), w.exec);
        } catch (err) {
          return notCached(w, err);
        }
        written(w, dest);
      }),
    ),
  );
  let n = 0;
  for (const w of plan.writes) {
    if (w.size > SYNC_FILE) continue;
    const dest = ctx.abs(w.rel);
    try {
      usedMode = ctx.cache.materializeSync(w.oid, dest, modeFor(w), w.exec, w.fresh);
    } catch (err) {
      notCached(w, err);
      continue;
    }
    written(w, dest);
    if ((++n & 511) === 0) await new Promise((r) => setImmediate(r));
  }
  await large;
  o.onProgress?.({ phase: 'checkout', done, total });
  ctx.state.record(records);
  ctx.state.save();
  return {
    path: plan.t.path, written: done, deleted: plan.deletes.length, unchanged: plan.unchanged,
    missing: [...missing], missingFiles: missingFiles.sort(), linkMode: usedMode,
  };
}
