/** What checking out one tracked path would do: writes, deletes, chmods and conflicts, decided before anything changes. */
import { promises as fsp } from 'node:fs';
import type { RepoContext, ScanContext } from '../context.js';
import { TroveError } from '../errors.js';
import type { Oid } from '../oid.js';
import { isWithin } from '../paths.js';
import { shellQuote } from '../shellQuote.js';
import { loadFlatTree, scanPath, type Scanned } from '../workspace.js';
import type { Tracked } from './tracked.js';

export type CheckoutPlan = Awaited<ReturnType<typeof planCheckout>>;

/**
 * What checking out `t` would do, decided before anything is written. `only` limits a folder's
 * plan to paths inside it (`checkout data/sub/file.bin`): nothing else is written or deleted.
 */
export async function planCheckout(ctx: RepoContext, scan: ScanContext, t: Tracked, force: boolean, only: string[] | null = null) {
  const ptr = t.pointer;
  const plan = {
    t,
    conflicts: [] as string[],
    writes: [] as { rel: string; oid: Oid; exec: boolean; size: number; fresh: boolean }[],
    chmods: [] as { rel: string; exec: boolean }[],
    deletes: [] as string[],
    dirsToRemove: [] as string[],
    dirsToMake: [] as string[],
    unchanged: 0,
    missing: [] as Oid[],
    missingFiles: [] as string[],
  };
  const abs = ctx.abs(t.path);
  // The workspace as it is (hash only what the stat cache cannot vouch for).
  let scanned: Scanned | null = null;
  try {
    scanned = await scanPath(scan, ctx.root, t.path, { store: false, jobs: ctx.jobs });
  } catch (err) {
    if (!(err instanceof TroveError && err.code === 'SYMLINK') || !force) throw err;
    await fsp.rm(abs, { recursive: true, force: true });
  }
  const safeToDrop = async (oid: Oid | undefined) => force || (oid !== undefined && (await ctx.cache.has(oid, 'blob')));

  if (ptr.type === 'file') {
    if (!(await ctx.cache.has(ptr.oid, 'blob'))) {
      plan.missing.push(ptr.oid);
      plan.missingFiles.push(t.path);
      return plan;
    }
    if (scanned?.type === 'file' && scanned.oid === ptr.oid) {
      if (scanned.exec !== !!ptr.exec) plan.chmods.push({ rel: t.path, exec: !!ptr.exec });
      else plan.unchanged++;
      return plan;
    }
    if (scanned?.type === 'file' && !(await safeToDrop(scanned.oid))) plan.conflicts.push(t.path);
    if (scanned?.type === 'dir') {
      for (const [rel, f] of flatScan(scanned, t.path)) if (!(await safeToDrop(f))) plan.conflicts.push(rel);
      plan.dirsToRemove.push(t.path);
    }
    plan.writes.push({ rel: t.path, oid: ptr.oid, exec: !!ptr.exec, size: ptr.size, fresh: !scanned });
    return plan;
  }

  // folder
  if (scanned?.type === 'dir' && scanned.oid === ptr.oid) {
    plan.unchanged = scanned.files;
    return plan;
  }
  let want;
  try {
    want = await loadFlatTree(ctx.cache, ptr.oid, t.path);
  } catch (err) {
    if (err instanceof TroveError && err.code === 'MISSING_OBJECT') {
      plan.missing.push(...(((err.data?.oids as Oid[]) ?? [ptr.oid])));
      plan.missingFiles.push(t.path);
      return plan;
    }
    throw err;
  }
  // with `only`: a path is kept when it is inside one of the sub-paths asked for
  const keep = (rel: string) => !only || only.some((sub) => isWithin(rel, sub));
  const isAncestorOfOnly = (rel: string) => !!only && only.some((sub) => isWithin(sub, rel));
  const have = new Map<string, { oid: Oid; exec: boolean }>();
  if (scanned?.type === 'file' && only) {
    throw new TroveError('WOULD_OVERWRITE', `${t.path}: is a file in the workspace, but a folder in ${t.pointerFile}`, `restore the whole folder with \`trove checkout --force ${shellQuote(t.path)}\``);
  }
  if (scanned?.type === 'file') {
    if (!(await safeToDrop(scanned.oid))) plan.conflicts.push(t.path);
    plan.deletes.push(t.path);
  } else if (scanned?.node) {
    const walk = (n: NonNullable<Scanned['node']>, prefix: string) => {
      for (const [name, f] of n.files) have.set(prefix ? `${prefix}/${name}` : name, { oid: f.oid, exec: f.exec });
      for (const [name, d] of n.dirs) walk(d, prefix ? `${prefix}/${name}` : name);
    };
    walk(scanned.node, '');
  }
  if (only) {
    const named = (sub: string) => [...want.files.keys(), ...want.dirs, ...have.keys()].some((p) => isWithin(`${t.path}/${p}`, sub));
    const unknown = only.filter((sub) => !named(sub));
    if (unknown.length) {
      throw new TroveError('PATH_NOT_TRACKED', `${unknown.join(', ')}: not in ${t.path} (neither in ${t.pointerFile} nor in the workspace)`, `list what it holds with \`trove ls ${shellQuote(t.path)}\``);
    }
    for (const p of [...have.keys()]) if (!keep(`${t.path}/${p}`)) have.delete(p);
  }
  for (const [p, h] of have) {
    const w = want.files.get(p);
    if (w && w.oid === h.oid) {
      if (!!w.exec !== h.exec) plan.chmods.push({ rel: `${t.path}/${p}`, exec: !!w.exec });
      else plan.unchanged++;
      continue;
    }
    if (!(await safeToDrop(h.oid))) plan.conflicts.push(`${t.path}/${p}`);
    if (!w) plan.deletes.push(`${t.path}/${p}`);
  }
  // folders in the workspace that the tree does not have
  if (scanned?.node) {
    const dirs = (n: NonNullable<Scanned['node']>, prefix: string) => {
      for (const [name, d] of n.dirs) {
        const p = prefix ? `${prefix}/${name}` : name;
        if (!want.dirs.has(p) && keep(`${t.path}/${p}`)) plan.dirsToRemove.push(`${t.path}/${p}`);
        dirs(d, p);
      }
    };
    dirs(scanned.node, '');
  }
  plan.dirsToMake.push(t.path, ...[...want.dirs].sort().map((d) => `${t.path}/${d}`).filter((d) => keep(d) || isAncestorOfOnly(d)));
  for (const [p, w] of want.files) {
    if (!keep(`${t.path}/${p}`)) continue;
    const h = have.get(p);
    if (h && h.oid === w.oid) continue;
    plan.writes.push({ rel: `${t.path}/${p}`, oid: w.oid, exec: !!w.exec, size: w.size, fresh: !h });
  }
  return plan;
}

function flatScan(s: Scanned, base: string): [string, Oid][] {
  const out: [string, Oid][] = [];
  const walk = (n: NonNullable<Scanned['node']>, p: string) => {
    for (const [name, f] of n.files) out.push([`${p}/${name}`, f.oid]);
    for (const [name, d] of n.dirs) walk(d, `${p}/${name}`);
  };
  if (s.node) walk(s.node, base);
  return out;
}
