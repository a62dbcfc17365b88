/**
 * What checking out one tracked path would do: writes, deletes, chmods and what would be lost, decided before
 * anything changes.
 *
 * Two parts:
 * - `checkoutActions` is pure: the desired state (the pointer, and for a folder its flattened tree), the
 *   workspace state (flattened from a scan) and the options go in, the plan comes out. No I/O, so it is
 *   unit-tested in-process (test/unit/checkoutPlan.test.ts).
 * - `planCheckout` gathers those inputs (scan the workspace, read the trees from the store), calls
 *   `checkoutActions`, then asks the store whether the workspace content a plan would drop is safe there:
 *   what is not becomes a conflict (refused without `force`). Only dropped content is looked up.
 * Carrying out a plan is checkoutApply.ts.
 */
import { promises as fsp } from 'node:fs';
import type { RepoContext, ScanContext } from '../context.js';
import { TroveError } from '../errors.js';
import type { Oid } from '../oid.js';
import { isWithin } from '../paths.js';
import { shellQuote } from '../shellQuote.js';
import { loadFlatTree, scanPath, type FlatTree, type ScanNode, type Scanned } from '../workspace.js';
import type { Tracked } from './tracked.js';

/** A file the plan writes out of the cache. */
export interface PlannedWrite {
  rel: string;
  oid: Oid;
  exec: boolean;
  size: number;
  /** nothing is at `rel` now (no temp-and-rename needed) */
  fresh: boolean;
}

/** A checkout of one tracked path, decided before anything is written. Paths are repo-relative. */
export interface CheckoutPlan {
  t: Tracked;
  /** workspace content the plan overwrites or deletes: safe only if its object is in the cache (or `force`) */
  drops: { rel: string; oid: Oid }[];
  /** the drops whose content is not in the cache: checkout refuses them without `force` */
  conflicts: string[];
  writes: PlannedWrite[];
  chmods: { rel: string; exec: boolean }[];
  deletes: string[];
  dirsToRemove: string[];
  dirsToMake: string[];
  unchanged: number;
  /** nothing is at the tracked path now: a folder can be built aside and renamed into place (checkoutStage.ts) */
  absent: boolean;
  /** objects not in the cache (the file's, or the folder trees that could not be read) */
  missing: Oid[];
  missingFiles: string[];
}

/** What the pointer asks for: a file (and whether its object is cached), or a folder and its tree when readable. */
export type DesiredState =
  | { type: 'file'; oid: Oid; exec: boolean; size: number; cached: boolean }
  /** `tree` null: not loaded (the workspace already matches by oid), or not readable (`missingTrees`) */
  | { type: 'dir'; oid: Oid; tree: FlatTree | null; missingTrees?: Oid[] };

/** What the workspace holds at the tracked path: nothing, a file, or a folder flattened (paths relative to it). */
export type WorkspaceState =
  | null
  | { type: 'file'; oid: Oid; exec: boolean }
  | { type: 'dir'; oid: Oid; fileCount: number; files: Map<string, { oid: Oid; exec: boolean }>; dirs: string[] };

/**
 * The plan, from states alone. `only` limits a folder's plan to paths inside it (`checkout data/sub/file.bin`):
 * nothing else is written or deleted. `conflicts` is left empty: which drops are safe is the store's to say.
 * @example checkoutActions(t, { type: 'file', oid, exec: false, size: 3, cached: true }, null, {})
 */
export function checkoutActions(t: Tracked, want: DesiredState, have: WorkspaceState, o: { only?: string[] | null } = {}): CheckoutPlan {
  const only = o.only ?? null;
  const plan: CheckoutPlan = {
    t, drops: [], conflicts: [], writes: [], chmods: [], deletes: [], dirsToRemove: [], dirsToMake: [], unchanged: 0, absent: have === null, missing: [], missingFiles: [],
  };
  const under = (p: string) => `${t.path}/${p}`;

  if (want.type === 'file') {
    if (!want.cached) {
      plan.missing.push(want.oid);
      plan.missingFiles.push(t.path);
      return plan;
    }
    if (have?.type === 'file' && have.oid === want.oid) {
      if (have.exec !== want.exec) plan.chmods.push({ rel: t.path, exec: want.exec });
      else plan.unchanged++;
      return plan;
    }
    if (have?.type === 'file') plan.drops.push({ rel: t.path, oid: have.oid });
    if (have?.type === 'dir') {
      for (const [p, f] of have.files) plan.drops.push({ rel: under(p), oid: f.oid });
      plan.dirsToRemove.push(t.path);
    }
    plan.writes.push({ rel: t.path, oid: want.oid, exec: want.exec, size: want.size, fresh: !have });
    return plan;
  }

  // folder
  if (have?.type === 'dir' && have.oid === want.oid) {
    plan.unchanged = have.fileCount;
    return plan;
  }
  if (!want.tree) {
    plan.missing.push(...(want.missingTrees ?? [want.oid]));
    plan.missingFiles.push(t.path);
    return plan;
  }
  const tree = want.tree;
  // with `only`: a path is kept when it is inside one of the sub-paths asked for
  const keep = (rel: string) => !only || only.some((sub) => isWithin(rel, sub));
  const isAncestorOfOnly = (rel: string) => !!only && only.some((sub) => isWithin(sub, rel));
  if (have?.type === 'file' && only) {
    throw new TroveError('WOULD_OVERWRITE', `${t.path}: is a file in the workspace, but a folder in ${t.pointerFile}`, `restore the whole folder with \`trove checkout --force ${shellQuote(t.path)}\``);
  }
  if (have?.type === 'file') {
    plan.drops.push({ rel: t.path, oid: have.oid });
    plan.deletes.push(t.path);
  }
  const files = have?.type === 'dir' ? new Map(have.files) : new Map<string, { oid: Oid; exec: boolean }>();
  if (only) {
    const named = (sub: string) => [...tree.files.keys(), ...tree.dirs, ...files.keys()].some((p) => isWithin(under(p), sub));
    const unknown = only.filter((sub) => !named(sub));
    if (unknown.length) {
      throw new TroveError('PATH_NOT_TRACKED', `${unknown.join(', ')}: not in ${t.path} (neither in ${t.pointerFile} nor in the workspace)`, `list what it holds with \`trove ls ${shellQuote(t.path)}\``);
    }
    for (const p of [...files.keys()]) if (!keep(under(p))) files.delete(p);
  }
  for (const [p, h] of files) {
    const w = tree.files.get(p);
    if (w && w.oid === h.oid) {
      if (!!w.exec !== h.exec) plan.chmods.push({ rel: under(p), exec: !!w.exec });
      else plan.unchanged++;
      continue;
    }
    plan.drops.push({ rel: under(p), oid: h.oid });
    if (!w) plan.deletes.push(under(p));
  }
  // folders in the workspace that the tree does not have
  if (have?.type === 'dir') for (const p of have.dirs) if (!tree.dirs.has(p) && keep(under(p))) plan.dirsToRemove.push(under(p));
  plan.dirsToMake.push(t.path, ...[...tree.dirs].sort().map(under).filter((d) => keep(d) || isAncestorOfOnly(d)));
  for (const [p, w] of tree.files) {
    if (!keep(under(p))) continue;
    const h = files.get(p);
    if (h && h.oid === w.oid) continue;
    plan.writes.push({ rel: under(p), oid: w.oid, exec: !!w.exec, size: w.size, fresh: !h });
  }
  return plan;
}

/** A scan, flattened: each folder's files, then its sub-folders, in the scan's order. */
export function workspaceStateOf(s: Scanned | null): WorkspaceState {
  if (!s) return null;
  if (s.type === 'file') return { type: 'file', oid: s.oid, exec: s.exec };
  const files = new Map<string, { oid: Oid; exec: boolean }>();
  const dirs: string[] = [];
  const walk = (n: ScanNode, prefix: string) => {
    for (const [name, f] of n.files) files.set(prefix ? `${prefix}/${name}` : name, { oid: f.oid, exec: f.exec });
    for (const [name, d] of n.dirs) {
      const p = prefix ? `${prefix}/${name}` : name;
      dirs.push(p);
      walk(d, p);
    }
  };
  if (s.node) walk(s.node, '');
  return { type: 'dir', oid: s.oid, fileCount: s.files, files, dirs };
}

/**
 * What checking out `t` would do, decided before anything is written: the workspace scanned, the trees read,
 * `checkoutActions`, then each drop looked up in the store (without `force`).
 */
export async function planCheckout(ctx: RepoContext, scan: ScanContext, t: Tracked, force: boolean, only: string[] | null = null): Promise<CheckoutPlan> {
  const ptr = t.pointer;
  // The workspace as it is (hash only what the stat cache cannot vouch for).
  let scanned: Scanned | null = null;
  try {
    scanned = await scanPath(scan, ctx.root, t.path, { store: false, jobs: ctx.jobs });
  } catch (err) {
    if (!(err instanceof TroveError && err.code === 'SYMLINK') || !force) throw err;
    await fsp.rm(ctx.abs(t.path), { recursive: true, force: true });
  }
  const have = workspaceStateOf(scanned);
  let want: DesiredState;
  if (ptr.type === 'file') want = { type: 'file', oid: ptr.oid, exec: !!ptr.exec, size: ptr.size, cached: await ctx.cache.has(ptr.oid, 'blob') };
  else if (have?.type === 'dir' && have.oid === ptr.oid) want = { type: 'dir', oid: ptr.oid, tree: null };
  else {
    try {
      want = { type: 'dir', oid: ptr.oid, tree: await loadFlatTree(ctx.cache, ptr.oid, t.path) };
    } catch (err) {
      if (!(err instanceof TroveError && err.code === 'MISSING_OBJECT')) throw err;
      want = { type: 'dir', oid: ptr.oid, tree: null, missingTrees: (err.data?.oids as Oid[] | undefined) ?? [ptr.oid] };
    }
  }
  const plan = checkoutActions(t, want, have, { only });
  if (!force) for (const d of plan.drops) if (!(await ctx.cache.has(d.oid, 'blob'))) plan.conflicts.push(d.rel);
  return plan;
}
