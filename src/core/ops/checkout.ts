/** `trove checkout`: make tracked paths match their pointers (or given versions), planned in full before anything is written. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { RepoContext } from '../context.js';
import { TroveError } from '../errors.js';
import { gitignoreLineFor } from '../gitignoreLine.js';
import { assertOid } from '../oid.js';
import { isWithin, pointerPathFor, validateRelPath } from '../paths.js';
import { writePointer, type Pointer } from '../pointer.js';
import { assertNoLinkedParent, assertSafeDataPath, unsafePathReason } from '../safePath.js';
import { shellQuote } from '../shellQuote.js';
import type { OnProgress } from '../workspace.js';
import { applyCheckout, type CheckoutResult } from './checkoutApply.js';
import { planCheckout } from './checkoutPlan.js';
import { gitignoreFor, ignoreInGit } from './gitignore.js';
import { listTracked, readTracked, resolveTargets, uniqTargets, type Tracked } from './tracked.js';

export type { CheckoutResult };

export interface CheckoutOptions {
  force?: boolean;
  onProgress?: OnProgress;
  jobs?: number;
}

/**
 * Makes the workspace match the pointers: restores missing and changed files, removes files a
 * folder no longer lists. Never overwrites or deletes content that is not in the cache unless
 * `force` (WOULD_OVERWRITE names the files). Objects missing from the cache are reported in
 * `missing`, everything else is still restored.
 * @example await checkout(ctx, ['data/sub'], { force: false })
 */
export async function checkout(ctx: RepoContext, userPaths?: string[], o: CheckoutOptions = {}): Promise<CheckoutResult[]> {
  const targets = await resolveTargets(ctx, userPaths);
  // `checkout data/sub/file.bin` restores just that path: collect the sub-paths asked for per
  // pointer; a pointer also asked for whole is checked out whole.
  const only = new Map<string, string[] | null>();
  for (const { tracked, sub } of targets) {
    const prev = only.get(tracked.pointerFile);
    if (sub === null || prev === null) only.set(tracked.pointerFile, null);
    else only.set(tracked.pointerFile, [...(prev ?? []), sub]);
  }
  return checkoutTracked(ctx, uniqTargets(targets).map((t) => t.tracked), { ...o, only });
}

/**
 * Checks out explicit pointer versions (from a revision, a merge stage or a run record). With
 * `writePointers`, each pointer file is rewritten to the given version, but only once the whole
 * plan is known to be safe: a refusal or a missing object changes nothing.
 */
export async function checkoutTracked(ctx: RepoContext, tracked: Tracked[], o: CheckoutOptions & { writePointers?: boolean; requireObjects?: boolean; only?: Map<string, string[] | null> } = {}): Promise<CheckoutResult[]> {
  const unlock = await ctx.lock('checkout');
  try {
    const out: CheckoutResult[] = [];
    const scan = ctx.scanContext();
    // Every path is checked before anything is planned or written: never into .git/.trove, over a
    // pointer, or through a linked folder (a pointer, a revision or a run record may be hostile).
    for (const t of tracked) {
      assertSafeDataPath(t.path, `${t.pointerFile}: field 'path'`);
      const where = unsafePathReason(path.posix.dirname(t.pointerFile));
      if (where && path.posix.dirname(t.pointerFile) !== '.') throw new TroveError('BAD_POINTER', `${t.pointerFile}: refusing a pointer there: ${where}`);
      if (o.writePointers) gitignoreLineFor(t.path);
      assertNoLinkedParent(ctx.root, t.path, t.pointerFile);
    }
    // a pointer owns data that git does not track: never over a committed file (e.g. `path: Makefile`)
    const inGit = tracked.length ? await ctx.git.trackedUnder(tracked.map((t) => t.path)) : [];
    if (inGit.length) {
      const t = tracked.find((x) => inGit.some((g) => isWithin(g, x.path)))!;
      throw new TroveError('BAD_POINTER', `${t.pointerFile}: field 'path' names ${t.path}, which git tracks (${inGit[0]}); a pointer never writes over a file in git`,
        `if ${t.path} should be data, \`git rm -r --cached ${shellQuote(t.path)}\` first`, { data: { file: t.pointerFile, field: 'path' } });
    }
    // Plan everything first, so that a refusal changes nothing.
    const plans = [];
    for (const t of tracked) plans.push(await planCheckout(ctx, scan, t, !!o.force, o.only?.get(t.pointerFile) ?? null));
    if (o.requireObjects) {
      // every object to be written must be here before anything changes
      for (const p of plans) {
        for (const w of p.writes) {
          if (!ctx.cache.hasSync(w.oid, 'blob')) {
            p.missing.push(w.oid);
            p.missingFiles.push(w.rel);
          }
        }
      }
    }
    const missing = plans.flatMap((p) => p.missingFiles);
    if (o.requireObjects && missing.length) {
      throw new TroveError('MISSING_OBJECT', `not in the cache: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ` and ${missing.length - 10} more` : ''}`,
        'fetch them first with `trove fetch` (or `trove pull`); nothing was changed', { data: { oids: plans.flatMap((p) => p.missing), files: missing } });
    }
    const conflicts = plans.flatMap((p) => p.conflicts);
    if (conflicts.length && !o.force) {
      const shown = conflicts.slice(0, 10).join(', ') + (conflicts.length > 10 ? ` and ${conflicts.length - 10} more` : '');
      throw new TroveError('WOULD_OVERWRITE', `checkout would overwrite or delete changes that are not in the cache: ${shown}`,
        'run `trove add <path>` to keep them, or `trove checkout --force <path>` to discard them', { data: { files: conflicts } });
    }
    if (o.writePointers) {
      for (const t of tracked) {
        const prev = await readTracked(ctx, t.pointerFile).catch(() => null);
        await writePointer(ctx.abs(t.pointerFile), prev?.pointer.extra && !t.pointer.extra ? { ...t.pointer, extra: prev.pointer.extra } : t.pointer);
        await ignoreInGit(ctx, t.path);
      }
    }
    for (const plan of plans) out.push(await applyCheckout(ctx, plan, o));
    if (o.writePointers) {
      const staged = ctx.autostage();
      const files = (t: Tracked) => [t.pointerFile, gitignoreFor(t.path)].filter((f) => existsSync(ctx.abs(f)));
      if (staged) await ctx.git.add(tracked.flatMap(files));
      else tracked.forEach((t, i) => (out[i].gitAdd = files(t)));
    }
    return out;
  } finally {
    await unlock();
  }
}

/**
 * Makes tracked paths hold the given versions (from a run record, or a pointer at another revision):
 * writes each pointer and checks its data out of the cache, with `checkout`'s safety: everything is
 * planned first, so a refusal changes nothing. Every object must be in the cache (MISSING_OBJECT names
 * the paths otherwise); workspace content that is not in the cache is not overwritten without `force`.
 * @example await checkoutVersions(ctx, [{ path: 'data', type: 'dir', oid, size, files }])
 */
export async function checkoutVersions(ctx: RepoContext, 
  versions: { path: string; type: 'file' | 'dir'; oid: string; size: number; files?: number }[],
  o: { force?: boolean; onProgress?: OnProgress; jobs?: number } = {},
): Promise<{ results: CheckoutResult[]; gitAdd: string[] }> {
  const unlock = await ctx.lock('checkout');
  const targets: Tracked[] = [];
  try {
    const all = await listTracked(ctx);
    for (const v of versions) {
      const rel = assertSafeDataPath(validateRelPath(v.path, 'run record', 'BAD_RUN'), 'run record', 'BAD_RUN');
      const inside = all.find((t) => t.path !== rel && (isWithin(rel, t.path) || isWithin(t.path, rel)));
      if (inside) {
        throw new TroveError('PATH_ALREADY_TRACKED', `${rel}: overlaps ${inside.path}, which trove tracks now`,
          `stop tracking one of them first (\`trove remove ${shellQuote(inside.path)}\`)`);
      }
      const oid = assertOid(v.oid, rel);
      const prev = all.find((t) => t.path === rel);
      const pointer: Pointer = { version: 1, path: path.posix.basename(rel), type: v.type, oid, size: v.size };
      if (v.type === 'dir') pointer.files = v.files ?? 0;
      else if (prev?.pointer.oid === oid && prev.pointer.exec) pointer.exec = true;
      if (prev?.pointer.extra) pointer.extra = prev.pointer.extra;
      targets.push({ path: rel, pointerFile: pointerPathFor(rel), pointer });
    }
  } finally {
    await unlock();
  }
  // checkoutTracked plans first: a conflict or a missing object changes nothing
  const results = await checkoutTracked(ctx, targets, { ...o, writePointers: true, requireObjects: true });
  const gitAdd = targets.flatMap((t) => [t.pointerFile, gitignoreFor(t.path)]).filter((f) => existsSync(ctx.abs(f)));
  return { results, gitAdd };
}
