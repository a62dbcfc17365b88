/**
 * Garbage collection of the cache or of a remote: mark and sweep, shown before it deletes.
 *
 * 1. Roots, by scope: the workspace pointers, pointers staged in git's index, HEAD, every branch and
 *    tag (default) or every commit (`allCommits`), and `extraRoots` (run records' inputs and outputs,
 *    filled in by the runs module).
 * 2. Mark: everything reachable from the roots. Trees come from the cache; for a remote, a tree the
 *    cache lacks is read from the remote and verified in memory (not inserted).
 * 3. Candidates: stored objects that are not marked. Those younger than the grace period (mtime;
 *    default 24 h, config gc.grace) are kept: a concurrent `add` or `push` may be about to name them.
 *    A kept young object that is a tree keeps its subtree too, so "tree present ⇒ subtree complete"
 *    (which push relies on to skip folders) survives gc on a remote.
 * 4. The caller shows the plan (count and bytes) and asks; only then applyGc deletes: trees first, so a
 *    crash midway never leaves a tree whose children are gone.
 *
 * On a remote, packed objects are candidates like loose ones, but a pack goes in two phases across
 * runs (repack its kept objects, mark it doomed; delete it a grace period later, rescuing what the
 * mark then keeps): remoteGc.ts, so that a push running meanwhile never loses an object.
 *
 * In the cache, packed objects go with their pack's rewrite (store/packed.ts: once a pack's garbage passes
 * REPACK_GARBAGE_SHARE), and many small packs are merged into few (store/packMerge.ts: at 4 or more packs
 * under 8 MiB), the candidates in them dropped whatever their share; both two-phase, under the repo lock.
 *
 * Core never asks or prints: planGc returns the plan, the CLI confirms, applyGc sweeps.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import pLimit from 'p-limit';
import { getKey } from './config.js';
import { TroveError, isTroveError } from './errors.js';
import { acquireLock } from './lock.js';
import type { Oid } from './oid.js';
import { GcMarker, gcCandidates, sortTreesFirst, storedKey, youngUnmarked, type StoredObject } from './gcMark.js';
import type { ObjectKind } from './store/objectStore.js';
import { openRepoRemote, transferJobs } from './remoteConfig.js';
import type { RepoContext } from './context.js';
import { listTracked } from './ops/tracked.js';
import { listRevs, pointersAtRevs, pointersInIndex, resolveRev, type BadRevPointer } from './revs.js';
import { RemoteStore } from './remoteStore.js';
import { sweepRemote } from './remoteGc.js';
import { planManifests, type ManifestGcPlan } from './remoteManifestGc.js';
import { smallFilesRemote } from '../remotes/retry.js';
import type { Root } from './transfer.js';
import { parseTree } from './tree.js';
import { packsOf } from './store/packed.js';
import { mergeSmallPacks, packsToMerge } from './store/packMerge.js';
import type { Remote } from '../remotes/index.js';

export interface GcOptions {
  /** roots from every commit, not only branch and tag tips */
  allCommits?: boolean;
  /** collect on this remote instead of the cache */
  remote?: string;
  /** grace period: ms, or a duration like `24h`, `30m`, `7d`, `0` (default: config gc.grace, else 24h) */
  grace?: number | string;
  /** more roots (run records' inputs and outputs) */
  extraRoots?: () => Promise<Root[]>;
  jobs?: number;
  /** time "now" (tests) */
  now?: number;
}

export interface GcPlan {
  /** `cache`, or the remote's name */
  target: string;
  scope: 'branches-and-tags' | 'all-commits';
  graceMs: number;
  roots: number;
  reachable: number;
  /** objects stored there in total */
  stored: number;
  storedBytes: number;
  /** unreachable and older than the grace period: what applyGc deletes */
  /** `kind`: as the cache holds it (on a remote, 'blob' for every key); `tree`: delete it first; `pack`: the remote pack that holds it;
   *  `manifest`: the remote manifest of the chunked file `oid` (deleted before any chunk) */
  candidates: { oid: Oid; kind: ObjectKind; size: number; tree: boolean; pack?: string; manifest?: true }[];
  bytes: number;
  /** unreachable but younger than the grace period (kept) */
  keptYoung: number;
  keptYoungBytes: number;
  /** trees that could not be read anywhere (pointer, revision, tree oid, why): what is below them could not be marked */
  unreadableTrees: string[];
  /** remote: packs an earlier gc doomed, past the grace period now: applyGc deletes them (rescuing what is in use) */
  packsDue?: number;
  /** cache: small packs applyGc merges (store/packMerge.ts says when), dropping the candidates in them */
  packsToMerge?: number;
  /** with unreadable trees: how many objects would have been candidates; gc deletes none of them */
  blocked?: number;
  badPointers: BadRevPointer[];
  /** the options it was made with (applyGc re-plans with them) */
  options: GcOptions;
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?$/;

/** `24h` → 86400000. Units: ms, s, m, h, d, w; a bare number is seconds. */
export function parseDuration(v: string | number): number {
  if (typeof v === 'number') return v;
  const m = DURATION.exec(v.trim());
  if (!m) throw new TroveError('BAD_ARGS', `bad duration ${JSON.stringify(v)}`, 'use e.g. 0, 30m, 24h, 7d');
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] ?? 's']!;
  return Math.round(Number(m[1]) * unit);
}

/** Step 1: the roots of a scope. */
export async function gcRoots(repo: RepoContext, o: GcOptions): Promise<{ roots: Root[]; bad: BadRevPointer[] }> {
  const roots: Root[] = [];
  const bad: BadRevPointer[] = [];
  for (const t of await listTracked(repo)) roots.push({ oid: t.pointer.oid, type: t.pointer.type, where: t.path });
  const revs = await listRevs(repo.git, { allBranches: true, allTags: true, allCommits: o.allCommits });
  try {
    revs.push(await resolveRev(repo.git, 'HEAD')); // a detached HEAD is no branch
  } catch (err) {
    if (!isTroveError(err, 'NOT_FOUND')) throw err; // no commit yet
  }
  for (const r of [await pointersAtRevs(repo.git, [...new Set(revs)]), await pointersInIndex(repo.git)]) {
    bad.push(...r.bad);
    for (const t of r.tracked) roots.push({ oid: t.pointer.oid, type: t.pointer.type, where: `${t.path} at ${t.rev.slice(0, 12)}` });
  }
  if (o.extraRoots) roots.push(...(await o.extraRoots()));
  else {
    // every run record's inputs, outputs and stored diff: `checkout --run` must keep working
    const { runRoots } = await import('./runs/sync.js');
    roots.push(...(await runRoots(repo)));
  }
  return { roots, bad };
}

/**
 * Steps 1–3: what gc would delete. Deletes nothing.
 * @example const plan = await planGc(repo, { grace: '24h' }); if (await ask(plan)) await applyGc(repo, plan)
 */
export async function planGc(repo: RepoContext, o: GcOptions = {}): Promise<GcPlan> {
  const graceCfg = getKey(repo.config, 'gc.grace');
  const graceMs = parseDuration(o.grace ?? (typeof graceCfg === 'string' || typeof graceCfg === 'number' ? graceCfg : '24h'));
  const now = o.now ?? Date.now();
  const { roots, bad } = await gcRoots(repo, o);
  let remote: Remote | undefined;
  let store: RemoteStore | undefined;
  let jobs = 16;
  if (o.remote !== undefined) {
    const r = openRepoRemote(repo, o.remote);
    remote = r.remote;
    jobs = transferJobs(r.spec, o.jobs);
    store = new RemoteStore(remote, { jobs });
    if (!o.extraRoots) {
      const { remoteRunRoots } = await import('./runs/sync.js');
      try {
        roots.push(...(await remoteRunRoots(smallFilesRemote(remote))));
      } catch (err) {
        await remote.close();
        throw err;
      }
    }
  }
  try {
    // stored objects: (kind, oid) → size, mtime. The cache says each object's kind; a remote's
    // keys do not (wave 1's layout), so there every object is listed as a blob and `kind` is 'unknown'
    // until the mark names it (see the young-tree step).
    const stored = new Map<string, StoredObject>();
    const packOf = new Map<Oid, string>();
    let packsDue: number | undefined;
    if (store) {
      // no mtime from the backend: treat it as young, never delete what we cannot date
      for await (const e of store.listLoose()) stored.set(storedKey(e.oid, 'blob'), { oid: e.oid, kind: 'unknown', size: e.size, mtimeMs: e.mtimeMs ?? now });
      // packed objects (their kind is in the index) carry their pack's upload time; doomed packs past
      // the grace period are read too (remoteGc.ts deletes them, rescuing what the mark keeps)
      const due = await store.duePacks(graceMs, now);
      if (due.length) packsDue = due.length;
      for (const p of [...(await store.view()).packs.values(), ...due]) {
        for (const e of p.idx.entries()) {
          const k = storedKey(e.oid, 'blob');
          if (stored.has(k)) continue;
          stored.set(k, { oid: e.oid, kind: e.kind === 'tree' ? 'tree' : 'unknown', size: e.length, mtimeMs: p.mtimeMs ?? now });
          packOf.set(e.oid, p.id);
        }
      }
    } else {
      for await (const e of repo.cache.list()) stored.set(storedKey(e.oid, e.kind), { oid: e.oid, kind: e.kind, size: e.size, mtimeMs: e.mtimeMs });
    }
    /** a remote object is one key whatever its kind */
    const keyOf = (oid: Oid, kind: ObjectKind) => storedKey(oid, remote ? 'blob' : kind);

    // A tree that cannot be read (missing, corrupt, not a tree) hides what is below it from the mark:
    // it is recorded, and then gc deletes nothing at all (see `blocked`).
    const readTree = async (oid: Oid, where: string) => {
      let buf: Buffer | null = null;
      let why = 'not in the cache';
      try {
        buf = repo.cache.readSmall(oid, 'tree', where);
      } catch (err) {
        if (!isTroveError(err)) throw err;
        if (err.code !== 'MISSING_OBJECT') why = `unreadable in the cache (${err.code})`;
      }
      if (!buf && store && stored.has(keyOf(oid, 'tree'))) {
        buf = await readRemoteSmall(store, oid);
        if (!buf) why += ` and corrupt on remote "${store.name}"`;
      } else if (!buf && remote) why += ` nor on remote "${remote.name}"`;
      if (!buf) return { why };
      try {
        return { entries: parseTree(buf, where).entries };
      } catch (err) {
        if (!isTroveError(err)) throw err;
        return { why: `not a valid tree (${err.message})` };
      }
    };
    // 2. mark: (kind, oid) pairs, so a blob and a tree with the same bytes are told apart (gcMark.ts)
    const marker = new GcMarker(readTree, jobs, keyOf);
    await marker.markAll(roots);
    // manifests: one whose file is marked, or that is young, is kept and keeps the chunks it names;
    // the others are candidates and keep nothing (remoteManifestGc.ts)
    let manifests: ManifestGcPlan | undefined;
    if (store) {
      manifests = await planManifests(store, (file) => marker.marked.has(keyOf(file, 'blob')), now, graceMs, marker.unreadable);
      for (const chunks of manifests.kept.values()) for (const oid of chunks) marker.marked.add(keyOf(oid, 'blob'));
    }

    // 3. candidates; young trees keep their subtrees. In the cache the kind is known; a remote's
    //    young object is read (from the cache's tree, else the remote) and taken as a tree if it looks like one.
    for (const s of youngUnmarked(stored, marker, now, graceMs)) {
      if (s.kind === 'blob' || s.size > 4 << 20) continue;
      let buf: Buffer | null = null;
      if (s.kind === 'tree') buf = readTreeOrNull(repo, s.oid);
      else {
        buf = (await repo.cache.has(s.oid, 'tree')) ? readTreeOrNull(repo, s.oid) : await readRemoteSmall(store!, s.oid);
        if (buf && !looksLikeTree(buf)) buf = null;
      }
      await marker.keepYoungTree(s, buf);
    }
    const plan: GcPlan = {
      target: remote ? remote.name : 'cache', scope: o.allCommits ? 'all-commits' : 'branches-and-tags', graceMs,
      roots: roots.length, stored: stored.size, unreadableTrees: marker.unreadable.sort(), badPointers: bad, options: o,
      ...gcCandidates(stored, marker, now, graceMs),
      ...(packsDue && { packsDue }),
    };
    const packs = store ? undefined : packsOf(repo.cache);
    const merging = packs && !marker.unreadable.length ? packsToMerge(packs) : 0;
    if (merging) plan.packsToMerge = merging;
    if (manifests) {
      // dead manifests are candidates too (the sweep deletes them before any chunk)
      if (marker.unreadable.length) plan.blocked = (plan.blocked ?? 0) + manifests.dead.length;
      else {
        plan.candidates.push(...manifests.dead.map((m) => ({ oid: m.oid, kind: 'blob' as const, size: m.size, tree: false, manifest: true as const })));
        plan.bytes += manifests.dead.reduce((n, m) => n + m.size, 0);
      }
      plan.stored += manifests.dead.length + manifests.kept.size;
      plan.keptYoung += manifests.young;
      plan.keptYoungBytes += manifests.youngBytes;
      Object.defineProperty(plan, 'manifestsKept', { value: manifests.kept, enumerable: false });
    }
    if (store) {
      for (const c of plan.candidates) {
        const id = packOf.get(c.oid);
        if (id) c.pack = id;
      }
      // what the mark keeps, for the remote sweep's rescue from doomed packs (not part of the shown plan)
      const keep = new Set<Oid>();
      for (const [k, st] of stored) if (marker.marked.has(k) || now - st.mtimeMs < graceMs) keep.add(st.oid);
      Object.defineProperty(plan, 'keep', { value: keep, enumerable: false });
    }
    const limit = pLimit(jobs);
    // a remote's candidates that are trees (known from the cache, where they usually are) go first
    if (remote) await Promise.all(plan.candidates.map((c) => limit(async () => {
      if (!c.tree && !c.manifest && (await repo.cache.has(c.oid, 'tree'))) c.tree = true;
    })));
    sortTreesFirst(plan.candidates);
    return plan;
  } finally {
    await remote?.close();
  }
}

/** A cached tree's bytes, or null when absent or unreadable (never blocks on a FIFO). */
function readTreeOrNull(repo: RepoContext, oid: Oid): Buffer | null {
  try {
    return repo.cache.readSmall(oid, 'tree');
  } catch (err) {
    if (isTroveError(err)) return null;
    throw err;
  }
}

/** Remote objects only: wave 1's remote layout does not say which keys are trees. */
function looksLikeTree(buf: Buffer): boolean {
  return buf.subarray(0, 24).toString('latin1').startsWith('{"version":1,"entries":[');
}

/** A small object from the remote, verified; null when it is missing or corrupt there. */
async function readRemoteSmall(store: RemoteStore, oid: Oid): Promise<Buffer | null> {
  try {
    return await store.readSmall(oid, 'tree');
  } catch (err) {
    if (isTroveError(err, 'INTEGRITY')) return null;
    throw err;
  }
}

/**
 * Step 4: deletes the plan's candidates (trees first). The plan is made again first (under the repo
 * lock for the cache) and only objects that are candidates in both go: the user may have taken minutes
 * to answer, and an `add` or `git commit` meanwhile may have made an old object reachable again.
 */
export async function applyGc(repo: RepoContext, shown: GcPlan): Promise<{ deleted: number; bytes: number; packsMerged?: number }> {
  if (!shown.candidates.length && !shown.packsDue && !shown.packsToMerge) return { deleted: 0, bytes: 0 };
  const unlockCache = shown.target === 'cache' ? await (async () => {
    await fsp.mkdir(repo.troveDir, { recursive: true });
    return acquireLock(path.join(repo.troveDir, 'lock'), 'gc');
  })() : undefined;
  try {
    const fresh = await planGc(repo, { ...shown.options, now: undefined });
    if (fresh.unreadableTrees.length) throw unreadableError(fresh);
    const id = (c: GcPlan['candidates'][number]) => `${c.manifest ? 'manifest' : 'object'} ${c.oid}`;
    const ok = new Set(shown.candidates.map(id));
    const plan = { ...fresh, candidates: fresh.candidates.filter((c) => ok.has(id(c))) };
    for (const k of ['keep', 'manifestsKept'] as const) Object.defineProperty(plan, k, { value: (fresh as GcPlan & Record<string, unknown>)[k], enumerable: false });
    return await sweep(repo, plan);
  } finally {
    await unlockCache?.();
  }
}

/** The error for a gc that must not delete: which trees could not be read, and how to fix it. */
export function unreadableError(p: GcPlan): TroveError {
  const shown = p.unreadableTrees.slice(0, 5).join('; ') + (p.unreadableTrees.length > 5 ? `; and ${p.unreadableTrees.length - 5} more` : '');
  return new TroveError('MISSING_OBJECT', `gc deleted nothing: ${plural(p.unreadableTrees.length, 'folder tree')} could not be read, so the objects below ${p.unreadableTrees.length === 1 ? 'it' : 'them'} cannot be told apart from garbage: ${shown}`,
    'fetch the trees first (`trove fetch --all-branches --all-tags`), or restore the corrupt objects from a remote (`trove fsck` quarantines them), then run gc again',
    { data: { unreadableTrees: p.unreadableTrees } });
}

const plural = (n: number, w: string) => `${n} ${n === 1 ? w : w + 's'}`;

async function sweep(repo: RepoContext, plan: GcPlan): Promise<{ deleted: number; bytes: number; packsMerged?: number }> {
  if (plan.target !== 'cache') {
    const { remote } = openRepoRemote(repo, plan.target);
    const store = new RemoteStore(remote);
    try {
      const keep = (plan as GcPlan & { keep?: Set<Oid> }).keep ?? new Set<Oid>();
      const manifestsKept = (plan as GcPlan & { manifestsKept?: Map<Oid, Oid[]> }).manifestsKept ?? new Map<Oid, Oid[]>();
      const r = await sweepRemote(repo.cache, store, plan.candidates, keep, { graceMs: plan.graceMs, now: Date.now(), manifestsKept });
      return { deleted: r.deleted, bytes: r.bytes };
    } finally {
      await remote.close();
    }
  }
  await repo.cache.cleanStaleTemp(); // what killed commands left (a merge's temp pack among it); live writers' files stay
  let deleted = 0;
  let bytes = 0;
  await repo.cache.removals(async () => {
    for (const c of plan.candidates) {
      await repo.cache.delete([{ oid: c.oid, kind: c.kind }]);
      deleted++;
      bytes += c.size;
    }
  });
  // small packs (and the garbage the rewrite left in them) merged, after the deletes are applied
  const packs = packsOf(repo.cache);
  if (!packs || !plan.packsToMerge) return { deleted, bytes };
  const drop = plan.candidates.map((c) => ({ oid: c.oid, kind: c.kind }));
  const m = await repo.cache.removals(async () => mergeSmallPacks(packs, drop));
  return { deleted, bytes, packsMerged: m.merged };
}
