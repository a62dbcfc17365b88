/** Carries out a checkout plan (checkoutPlan.ts): deletes, folders, chmods, then the files out of the cache. */
import { lstatSync, mkdirSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import pLimit from 'p-limit';
import { SYNC_FILE } from '../store/loose.js';
import type { LinkMode } from '../store/objectStore.js';
import type { RepoContext } from '../context.js';
import { TroveError, isErrno, isTroveError } from '../errors.js';
import type { Oid } from '../oid.js';
import type { OnProgress } from '../workspace.js';
import type { CheckoutPlan } from './checkoutPlan.js';
import { fsClockAt, recordWritten, type WrittenFile } from './checkoutRacy.js';
import { openStage } from './checkoutStage.js';

/** What one tracked path's checkout did. */
export interface CheckoutResult {
  path: string;
  written: number;
  deleted: number;
  unchanged: number;
  missing: Oid[];
  missingFiles: string[];
  linkMode: LinkMode | null;
  /**
   * how many files each mode wrote: executable files are always copies, and so are packed or chunked
   * objects in a repo that packs blobs (`cache.packs`) or chunks (`cache.chunk`) (they have no file of
   * their own to link to); in a repo that does neither, they are written loose once and linked
   */
  modes: Partial<Record<LinkMode, number>>;
  /** the mode `cache.link` asks for ('copy' also stands for reflink,copy) */
  wanted: LinkMode;
  /** when the pointer file was rewritten (checkout <rev>, --ours/--theirs) and not auto-staged: what to `git add` */
  gitAdd?: string[];
}

export async function applyCheckout(ctx: RepoContext, plan: CheckoutPlan, o: { onProgress?: OnProgress; jobs?: number }): Promise<CheckoutResult> {
  const allowed = ctx.linkModes();
  let mode: LinkMode = allowed.includes('reflink') || allowed.includes('copy') ? 'copy' : allowed[0];
  if (allowed[0] === 'hardlink' || allowed[0] === 'symlink') mode = allowed[0];
  let usedMode: LinkMode | null = null;
  for (const rel of plan.deletes) await fsp.rm(ctx.abs(rel), { force: true });
  // deepest first so that parents empty out
  for (const rel of plan.dirsToRemove.sort((a, b) => b.length - a.length)) await fsp.rm(ctx.abs(rel), { recursive: true, force: true });
  for (const rel of plan.dirsToMake) {
    if (plan.absent) break; // nothing is there to be in the way
    try {
      const st = lstatSync(ctx.abs(rel));
      if (!st.isDirectory()) await fsp.rm(ctx.abs(rel), { force: true });
    } catch {
      /* absent */
    }
  }
  for (const c of plan.chmods) await fsp.chmod(ctx.abs(c.rel), c.exec ? 0o755 : 0o644);
  const limit = pLimit(o.jobs ?? ctx.jobs);
  // what was written, stat'ed once everything is (checkoutRacy.ts: rows trusted at once where safe)
  let writtenFiles: WrittenFile[] = [];
  let done = 0;
  const total = plan.writes.length;
  const missing = new Set(plan.missing);
  let missingFiles = [...plan.missingFiles];
  const modes: Partial<Record<LinkMode, number>> = {};
  if (plan.t.pointer.type === 'file' && plan.writes.length) await fsp.mkdir(path.dirname(ctx.abs(plan.t.path)), { recursive: true });
  // cache objects are read-only and never executable: an executable file is always a copy
  const modeFor = (w: (typeof plan.writes)[number]): LinkMode => (w.exec ? 'copy' : mode);
  const used = (m: LinkMode) => {
    usedMode = m;
    modes[m] = (modes[m] ?? 0) + 1;
  };
  const written = (w: (typeof plan.writes)[number]) => {
    if (mode !== 'symlink') writtenFiles.push({ rel: w.rel, oid: w.oid, exec: w.exec });
    done++;
    if (o.onProgress && (done & 63) === 0) o.onProgress({ phase: 'checkout', done, total });
  };
  const notCached = (w: (typeof plan.writes)[number], err: unknown, dest: string) => {
    const gone = isTroveError(err, 'MISSING_OBJECT') || (isErrno(err, 'ENOENT') && !ctx.cache.hasSync(w.oid, 'blob'));
    // the store names the path it wrote to: in a staging folder, say which workspace file that is
    if (!gone && err instanceof TroveError && dest !== ctx.abs(w.rel)) throw new TroveError(err.code, err.message.split(dest).join(w.rel), err.hint, { cause: err, data: err.data });
    if (!gone) throw err;
    missing.add(w.oid);
    missingFiles.push(w.rel);
  };
  /**
   * Writes every planned file to `where(rel)`. Large files stream through the thread pool, several
   * at a time; small ones are written here in a plain loop, with no promise per file (see
   * LooseStore.materializeSync), yielding now and then so that progress is drawn and the large
   * copies' callbacks run.
   */
  const writeAll = async (where: (rel: string) => string, fresh: (w: (typeof plan.writes)[number]) => boolean | 'staged') => {
    const large = Promise.all(
      plan.writes.filter((w) => w.size > SYNC_FILE).map((w) =>
        limit(async () => {
          const dest = where(w.rel);
          try {
            used(await ctx.cache.materialize(w.oid, dest, modeFor(w), w.exec));
          } catch (err) {
            return notCached(w, err, dest);
          }
          written(w);
        }),
      ),
    );
    large.catch(() => {}); // observed below; an early failure must not be an unhandled rejection
    try {
      let n = 0;
      for (const w of plan.writes) {
        if (w.size > SYNC_FILE) continue;
        const dest = where(w.rel);
        try {
          used(ctx.cache.materializeSync(w.oid, dest, modeFor(w), w.exec, fresh(w)));
        } catch (err) {
          notCached(w, err, dest);
          continue;
        }
        written(w);
        if ((++n & 511) === 0) await new Promise((r) => setImmediate(r));
      }
    } catch (err) {
      // only on failure: the queued large copies must still run when the small ones went well
      limit.clearQueue();
      throw err;
    }
    await large;
  };
  // a folder absent from the workspace is built aside and renamed into place (checkoutStage.ts)
  const stage = openStage(ctx, plan);
  let staged = false;
  if (stage) {
    try {
      for (const rel of plan.dirsToMake) mkdirSync(stage.pathOf(rel), { recursive: true });
      await writeAll(stage.pathOf, () => 'staged');
      staged = stage.commit();
    } finally {
      stage.discard();
    }
    if (!staged) {
      // the rename crossed filesystems after all (a bind mount): write file by file instead
      writtenFiles = [];
      done = 0;
      missingFiles = [...plan.missingFiles];
      for (const k of Object.keys(modes) as LinkMode[]) delete modes[k];
    }
  }
  if (!staged) {
    for (const rel of plan.dirsToMake) await fsp.mkdir(ctx.abs(rel), { recursive: true });
    await writeAll((rel) => ctx.abs(rel), (w) => w.fresh);
  }
  o.onProgress?.({ phase: 'checkout', done, total });
  // objects written loose to be linked (unpacksToLink) must be durable like any other object
  if (mode === 'hardlink' || mode === 'symlink') await ctx.cache.syncToDisk();
  if (writtenFiles.length) recordWritten(ctx.state, writtenFiles, (rel) => ctx.abs(rel), fsClockAt(path.dirname(ctx.abs(plan.t.path))));
  ctx.state.save();
  return {
    path: plan.t.path, written: done, deleted: plan.deletes.length, unchanged: plan.unchanged,
    missing: [...missing], missingFiles: missingFiles.sort(), linkMode: usedMode, modes, wanted: mode,
  };
}
