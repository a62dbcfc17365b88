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
 * Core never asks or prints: planGc returns the plan, the CLI confirms, applyGc sweeps.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import pLimit from 'p-limit';
import { getKey } from './config.js';
import { TroveError, isErrno, isTroveError } from './errors.js';
import { acquireLock } from './lock.js';
import type { Oid } from './oid.js';
import { openRepoRemote, transferJobs } from './remoteConfig.js';
import type { Repo } from './repo.js';
import { listRevs, pointersAtRevs, pointersInIndex, resolveRev, type BadRevPointer } from './revs.js';
import { RemoteStore } from './remoteStore.js';
import { smallFilesRemote } from '../remotes/retry.js';
import type { Root } from './transfer.js';
import { parseTree } from './tree.js';
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
  candidates: { oid: Oid; size: number; tree: boolean }[];
  bytes: number;
  /** unreachable but younger than the grace period (kept) */
  keptYoung: number;
  keptYoungBytes: number;
  /** trees that could not be read anywhere (pointer, revision, tree oid, why): what is below them could not be marked */
  unreadableTrees: string[];
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
export async function gcRoots(repo: Repo, o: GcOptions): Promise<{ roots: Root[]; bad: BadRevPointer[] }> {
  const roots: Root[] = [];
  const bad: BadRevPointer[] = [];
  for (const t of await repo.listTracked()) roots.push({ oid: t.pointer.oid, type: t.pointer.type, where: t.path });
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
export async function planGc(repo: Repo, o: GcOptions = {}): Promise<GcPlan> {
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
    // stored objects: oid → size, mtime
    const stored = new Map<Oid, { size: number; mtimeMs: number }>();
    if (store) {
      // no mtime from the backend: treat it as young, never delete what we cannot date
      for await (const e of store.list()) stored.set(e.oid, { size: e.size, mtimeMs: e.mtimeMs ?? now });
    } else {
      const limit = pLimit(32);
      const oids: Oid[] = [];
      for await (const oid of repo.cache.list()) oids.push(oid);
      await Promise.all(oids.map((oid) => limit(async () => {
        try {
          const st = await fsp.stat(repo.cache.objectPath(oid));
          stored.set(oid, { size: st.size, mtimeMs: st.mtimeMs });
        } catch (err) {
          if (!isErrno(err, 'ENOENT')) throw err;
        }
      })));
    }

    const unreadable: string[] = [];
    const trees = new Set<Oid>();
    // A tree that cannot be read (missing, corrupt, not a tree) hides what is below it from the mark:
    // it is recorded, and then gc deletes nothing at all (see `blocked`).
    const readTree = async (oid: Oid, where: string) => {
      let buf: Buffer | null = null;
      let why = 'not in the cache';
      try {
        buf = await repo.cache.readBytes(oid, where);
      } catch (err) {
        if (!isTroveError(err)) throw err;
        if (err.code !== 'MISSING_OBJECT') why = `unreadable in the cache (${err.code})`;
      }
      if (!buf && store && stored.has(oid)) {
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
    // 2. mark
    const marked = new Set<Oid>();
    const limit = pLimit(jobs);
    const mark = async (oid: Oid, type: 'file' | 'dir', where: string): Promise<void> => {
      if (marked.has(oid)) return;
      marked.add(oid);
      if (type === 'file') return;
      trees.add(oid);
      const got = await limit(() => readTree(oid, where));
      if (!got.entries) {
        unreadable.push(`${where}: tree ${oid} ${got.why}`);
        return;
      }
      await Promise.all(got.entries.map((e) => mark(e.oid, e.type, `${where}/${e.name}`)));
    };
    await Promise.all(roots.map((r) => mark(r.oid, r.type, r.where)));

    // 3. candidates; young trees keep their subtrees
    const young: Oid[] = [];
    for (const [oid, s] of stored) if (!marked.has(oid) && now - s.mtimeMs < graceMs) young.push(oid);
    for (const oid of young) {
      const s = stored.get(oid)!;
      if (s.size > 4 << 20) continue;
      const buf = (await repo.cache.has(oid)) ? await repo.cache.readBytes(oid).catch(() => null) : store ? await readRemoteSmall(store, oid) : null;
      if (buf && looksLikeTree(buf)) {
        try {
          const entries = parseTree(buf, oid).entries;
          marked.add(oid);
          trees.add(oid);
          await Promise.all(entries.map((e) => mark(e.oid, e.type, `(recent tree ${oid.slice(0, 17)})/${e.name}`)));
        } catch {
          /* not a tree after all */
        }
      }
    }
    const plan: GcPlan = {
      target: remote ? remote.name : 'cache', scope: o.allCommits ? 'all-commits' : 'branches-and-tags', graceMs,
      roots: roots.length, reachable: 0, stored: stored.size, storedBytes: 0, candidates: [], bytes: 0,
      keptYoung: 0, keptYoungBytes: 0, unreadableTrees: unreadable.sort(), badPointers: bad, options: o,
    };
    for (const [oid, s] of stored) {
      plan.storedBytes += s.size;
      if (marked.has(oid)) plan.reachable++;
      else if (now - s.mtimeMs < graceMs) {
        plan.keptYoung++;
        plan.keptYoungBytes += s.size;
      } else {
        plan.candidates.push({ oid, size: s.size, tree: false });
        plan.bytes += s.size;
      }
    }
    // Fail safe: an unreadable tree may name any stored object, so nothing is a candidate then.
    if (unreadable.length) {
      plan.blocked = plan.candidates.length;
      plan.candidates = [];
      plan.bytes = 0;
    }
    // which candidates are trees (from the cache, where they usually are): they go first
    await Promise.all(plan.candidates.map((c) => limit(async () => {
      if (c.size > 4 << 20 || !(await repo.cache.has(c.oid))) return;
      const buf = await repo.cache.readBytes(c.oid).catch(() => null); // never blocks on a FIFO
      c.tree = !!buf && looksLikeTree(buf);
    })));
    plan.candidates.sort((a, b) => (a.tree === b.tree ? (a.oid < b.oid ? -1 : 1) : a.tree ? -1 : 1));
    return plan;
  } finally {
    await remote?.close();
  }
}

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
export async function applyGc(repo: Repo, shown: GcPlan): Promise<{ deleted: number; bytes: number }> {
  if (!shown.candidates.length) return { deleted: 0, bytes: 0 };
  const unlockCache = shown.target === 'cache' ? await (async () => {
    await fsp.mkdir(repo.troveDir, { recursive: true });
    return acquireLock(path.join(repo.troveDir, 'lock'), 'gc');
  })() : undefined;
  try {
    const fresh = await planGc(repo, { ...shown.options, now: undefined });
    if (fresh.unreadableTrees.length) throw unreadableError(fresh);
    const ok = new Set(shown.candidates.map((c) => c.oid));
    const plan = { ...fresh, candidates: fresh.candidates.filter((c) => ok.has(c.oid)) };
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

async function sweep(repo: Repo, plan: GcPlan): Promise<{ deleted: number; bytes: number }> {
  if (plan.target !== 'cache') {
    const { remote } = openRepoRemote(repo, plan.target);
    const store = new RemoteStore(remote);
    try {
      let deleted = 0;
      let bytes = 0;
      const trees = plan.candidates.filter((c) => c.tree);
      const rest = plan.candidates.filter((c) => !c.tree);
      for (const group of [trees, rest]) {
        for (let i = 0; i < group.length; i += 1000) {
          const batch = group.slice(i, i + 1000);
          await store.delete(batch.map((c) => c.oid));
          deleted += batch.length;
          bytes += batch.reduce((s, c) => s + c.size, 0);
        }
      }
      return { deleted, bytes };
    } finally {
      await remote.close();
    }
  }
  let deleted = 0;
  let bytes = 0;
  await repo.cache.removals(async () => {
    for (const c of plan.candidates) {
      await repo.cache.delete(c.oid);
      deleted++;
      bytes += c.size;
    }
  });
  return { deleted, bytes };
}
