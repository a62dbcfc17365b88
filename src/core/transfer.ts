/**
 * The transfer engine: which objects go between the cache and a remote, and in which order.
 * The remotes layer only stores bytes; everything here knows about pointers and trees.
 *
 * Push, in numbered steps:
 * 1. Roots: the pointers named (workspace, and with --all-* the pointers at those revisions), each
 *    narrowed to a sub-path when one was named. De-duplicated by oid.
 * 2. HEAD each root on the remote. A root tree that is there is complete there (invariant below), so
 *    its whole folder is skipped with one request: a no-op push costs one request per pointer.
 * 3. Closure of the other roots from the local cache: trees are read, each object becomes one node
 *    `{size, children}` in a map keyed by oid, so subtrees shared between pointers and revisions are
 *    walked once and memory is linear in distinct objects.
 * 4. What the remote lacks, without one request per object when the set is large (see
 *    HEAD_MAX below for the measured numbers): up to HEAD_MAX objects, HEAD requests top-down, where a
 *    tree that is present prunes its whole subtree; above it, list the remote by the 2-hex fan-out
 *    prefixes the set touches (in parallel), and keep only the keys we asked about.
 * 5. Upload what is missing with p-limit(jobs), one promise per oid (in-flight de-duplication), and
 *    children before parents: a tree is put only after every object below it is on the remote. So
 *    "tree present on the remote ⇒ its subtree is complete" holds even after a kill -9, and step 2
 *    and step 4's pruning are safe. A child that fails (or is missing locally) keeps its parents back.
 *
 * Fetch is the reverse: trees first (they say what files exist), each download streamed through
 * cache.putStream, which verifies the hash before the object becomes visible (INTEGRITY, nothing
 * inserted). A get whose body dies midway is retried whole, with exponential backoff and full jitter.
 * Sub-path targets (`trove fetch data/images/cats`) fetch the trees on the path and that subtree only.
 */
import { setMaxListeners } from 'node:events';
import pLimit from 'p-limit';
import { uploadOrder } from './pushOrder.js';
import { kindOf, type ObjectKind as CacheKind, type ObjectStore } from './store/objectStore.js';
import { TroveError, isTroveError } from './errors.js';
import { hexOf, type Oid } from './oid.js';
import { isWithin } from './paths.js';
import { openRepoRemote, transferJobs } from './remoteConfig.js';
import type { RepoContext } from './context.js';
import { checkout as checkoutPaths, type CheckoutResult } from './ops/checkout.js';
import { resolveTargets } from './ops/tracked.js';
import { listRevs, pointersAtRevs, type BadRevPointer, type RevScope } from './revs.js';
import { parseTree, type TreeEntry } from './tree.js';
import { walkTrees } from './walkTrees.js';
import type { OnProgress } from './workspace.js';
import type { Remote } from '../remotes/index.js';
import { RemoteStore, looseKey, oidFromLooseKey, type ObjectKind } from './remoteStore.js';
import { sendObjects } from './remotePush.js';
import { fetchChunked } from './chunkTransfer.js';
import type { RemotePack } from './remoteStore.js';
import { ENTRY_HEADER_SIZE } from './store/pack.js';
import { adoptRemotePack, packTarget, worthAdopting } from './pullPacks.js';
import type { PackIndexEntry } from './store/packIndex.js';

export { HEAD_MAX } from './remoteStore.js';
import { smallFilesRemote } from '../remotes/retry.js';
export { withRetry } from '../remotes/retry.js';
/** @deprecated the remote layout is remoteStore.ts's; kept for wave-1 importers */
export const objectKey = looseKey;
/** @deprecated see objectKey */
export const oidFromKey = oidFromLooseKey;

import type { RecordSync, Root } from './transferRoot.js';
export type { RecordSync, Root };

export interface TransferFailure {
  oid: Oid;
  where: string;
  code: string;
  error: string;
}

export interface TransferResult {
  remote: string;
  /** objects (and bytes) sent or received */
  transferred: number;
  transferredBytes: number;
  /** objects already where they had to be */
  skipped: number;
  skippedBytes: number;
  /** push: not in the local cache (and not on the remote); fetch: not on the remote */
  missing: { oid: Oid; where: string }[];
  failed: TransferFailure[];
  /** how push found what the remote lacks: the remote's inventory (re-checked), HEADs, or listings */
  strategy: 'none' | 'inventory' | 'head' | 'list';
  /** requests spent finding what the remote lacks */
  checks: number;
  /** pointers at old revisions that could not be read (skipped) */
  badPointers: BadRevPointer[];
  /** run records, when a `records` step was given */
  records?: { transferred: number; skipped: number };
  /** push without --all-*: data that other branches or tags name and the remote lacks (not pushed) */
  elsewhere?: { where: string; oid: Oid }[];
}

export interface SyncOptions extends RevScope {
  /** user paths (relative to the repo's cwd); default: every pointer in the workspace */
  paths?: string[];
  /** remote name; default core.remote */
  remote?: string;
  jobs?: number;
  onProgress?: OnProgress;
  signal?: AbortSignal;
  /** more roots, e.g. the inputs and outputs of run records */
  extraRoots?: () => Promise<Root[]>;
  records?: RecordSync;
  /** run records travel too (default true): push sends finished records and, when no paths are
   * named, the cached data versions they read and wrote; fetch gets the records the remote has */
  runs?: boolean;
}

function failure(oid: Oid, where: string, err: unknown): TransferFailure {
  return { oid, where, code: isTroveError(err) ? err.code : ((err as NodeJS.ErrnoException)?.code ?? 'ERROR'), error: String((err as Error)?.message ?? err) };
}

// ------------------------------------------------------------------ object graph (push side)

interface Node {
  size: number;
  where: string;
  tree: boolean;
  /** trees: children's oids; undefined when the tree is not in the local cache */
  children?: Oid[];
}

async function readLocalTree(cache: ObjectStore, oid: Oid, where: string): Promise<TreeEntry[] | null> {
  try {
    return parseTree(cache.readSmall(oid, 'tree', where), where).entries;
  } catch (err) {
    if (isTroveError(err, 'MISSING_OBJECT')) return null;
    throw err;
  }
}

/**
 * Distinct file objects below a root that are not in `seen` yet (added to it), from the local
 * trees; a root whose trees are not local counts as its pointer says.
 */
async function countFiles(cache: ObjectStore, r: Root, seen: Set<Oid>): Promise<{ files: number; bytes: number }> {
  if (r.type === 'file') {
    if (seen.has(r.oid)) return { files: 0, bytes: 0 };
    seen.add(r.oid);
    return { files: 1, bytes: r.size ?? 0 };
  }
  let files = 0;
  let bytes = 0;
  let whole = true;
  const read = async (oid: Oid, where: string) => {
    const entries = whole ? await readLocalTree(cache, oid, where) : null;
    if (!entries) whole = false;
    return entries;
  };
  await walkTrees(read, r.oid, (e) => {
    if (e.type === 'file' && !seen.has(e.oid)) {
      seen.add(e.oid);
      files++;
      bytes += e.size;
    }
  }, { where: r.where, memo: new Set() });
  if (!whole) return { files: r.files ?? 0, bytes: r.size ?? 0 };
  return { files, bytes };
}

/** Follows `sub` from a folder's root tree (read with `read`); the entry it names, or null if absent. */
async function descend(read: (oid: Oid, where: string) => Promise<TreeEntry[] | null>, root: Root): Promise<Root | 'missing-tree' | null> {
  if (!root.sub) return root;
  let cur: Root = root;
  let where = root.where;
  for (const seg of root.sub.split('/')) {
    if (cur.type !== 'dir') return null;
    const entries = await read(cur.oid, where);
    if (!entries) return 'missing-tree';
    const e = entries.find((x) => x.name === seg);
    if (!e) return null;
    where = `${where}/${seg}`;
    cur = { oid: e.oid, type: e.type, where, size: e.size, files: e.files };
  }
  return cur;
}

/** The plan of a push: every object below the roots, and which of them the remote lacks. */
export interface PushPlan {
  nodes: Map<Oid, Node>;
  /** objects the remote lacks and the cache has */
  upload: Set<Oid>;
  /** objects neither the remote nor the cache has */
  missing: Map<Oid, string>;
  /** roots found on the remote by their first HEAD (complete there) */
  presentRoots: Root[];
  /** roots after sub-path narrowing */
  roots: Root[];
  strategy: TransferResult['strategy'];
  checks: number;
  failed: TransferFailure[];
}

/**
 * Steps 2–4 of push: what the remote lacks. Reads trees from the local cache only.
 * @example const plan = await planPush(repo.cache, new RemoteStore(remote, { jobs: 16 }), roots, {})
 */
export async function planPush(cache: ObjectStore, store: RemoteStore, rootsIn: Root[], o: { headMax?: number } = {}): Promise<PushPlan> {
  const plan: PushPlan = { nodes: new Map(), upload: new Set(), missing: new Map(), presentRoots: [], roots: [], strategy: 'none', checks: 0, failed: [] };

  // sub-paths → the entries they name
  const roots: Root[] = [];
  const seen = new Set<string>();
  for (const r of rootsIn) {
    const d = await descend((oid, where) => readLocalTree(cache, oid, where), r);
    if (d === null) continue; // nothing at that sub-path in this version
    if (d === 'missing-tree') {
      plan.missing.set(r.oid, r.where);
      continue;
    }
    if (!seen.has(d.oid)) {
      seen.add(d.oid);
      roots.push(d);
    }
  }
  plan.roots = roots;

  // 2. roots present on the remote are complete there
  const present = await Promise.all(roots.map((r) => store.has(r.oid, r.type === 'dir' ? 'tree' : 'blob')));
  const todo: Root[] = [];
  roots.forEach((r, i) => (present[i] ? plan.presentRoots.push(r) : todo.push(r)));
  plan.checks = store.checks;
  if ((await store.view()).inventory) plan.strategy = 'inventory';
  if (!todo.length) return plan;

  // 3. closure from the local cache
  const queue: [Oid, Node][] = [];
  for (const r of todo) {
    if (plan.nodes.has(r.oid)) continue;
    const n: Node = { size: r.size ?? 0, where: r.where, tree: r.type === 'dir' };
    plan.nodes.set(r.oid, n);
    queue.push([r.oid, n]);
  }
  while (queue.length) {
    const batch = queue.splice(0, 256);
    await Promise.all(batch.map(async ([oid, n]) => {
      if (!n.tree) return;
      const entries = await readLocalTree(cache, oid, n.where);
      if (!entries) return;
      n.children = entries.map((e) => e.oid);
      for (const e of entries) {
        if (plan.nodes.has(e.oid)) continue;
        const c: Node = { size: e.size, where: `${n.where}/${e.name}`, tree: e.type === 'dir' };
        plan.nodes.set(e.oid, c);
        if (c.tree) queue.push([e.oid, c]);
      }
    }));
  }
  // a tree's own size is its bytes, not the folder's total
  await Promise.all([...plan.nodes].filter(([, n]) => n.tree).map(async ([oid, n]) => { n.size = (await cache.stat(oid, 'tree'))?.size ?? 0; }));

  // 4. what the remote has
  const found = await store.present(plan.nodes, todo.map((r) => r.oid), { headMax: o.headMax, knownAbsent: new Set(todo.map((r) => r.oid)) });
  const onRemote = found.present;
  plan.strategy = found.strategy;
  plan.checks = store.checks;

  // what is left: in the cache (upload) or nowhere (missing)
  // One synchronous existence check per object (~3 µs): 100k concurrent fs.access promises held
  // ~300 MB of requests at once and made a push of 100k objects peak at 500 MB.
  for (const [oid, n] of plan.nodes) {
    if (onRemote.has(oid)) continue;
    if (cache.hasSync(oid, n.tree ? 'tree' : 'blob')) plan.upload.add(oid);
    else plan.missing.set(oid, n.where);
  }
  return plan;
}

/**
 * Step 5: uploads `plan.upload`, children before parents.
 */
export async function executePush(cache: ObjectStore, store: RemoteStore, plan: PushPlan, o: { jobs: number; signal?: AbortSignal; onProgress?: OnProgress }): Promise<TransferResult> {
  const res = emptyResult(store.name);
  res.strategy = plan.strategy;
  res.checks = plan.checks;
  res.failed.push(...plan.failed);
  for (const [oid, where] of plan.missing) res.missing.push({ oid, where });
  // "already there" counts distinct file objects: ten tags naming the same 5,000 files are 5,000
  const counted = new Set<Oid>();
  for (const [oid, n] of plan.nodes) {
    if (!plan.upload.has(oid) && !plan.missing.has(oid) && !n.tree && !counted.has(oid)) {
      counted.add(oid);
      res.skipped++;
      res.skippedBytes += n.size;
    }
  }
  for (const r of plan.presentRoots) {
    const c = await countFiles(cache, r, counted);
    res.skipped += c.files;
    res.skippedBytes += c.bytes;
  }
  const total = plan.upload.size;
  let done = 0;
  let bytes = 0;
  const tick = () => o.onProgress?.({ phase: 'push', done, total, bytes });
  // 1. Order: children before parents (post-order over the trees), so that a tree is sent only
  //    after everything below it is on the remote.
  // 2. No promise per object: one promise and closure per object, all created at once, made a push
  //    of 100k objects peak at 780 MB.
  const order = uploadOrder(plan.upload, (oid) => plan.nodes.get(oid)?.children); // pushOrder.ts
  // 3. Send: small objects in packs, large ones loose, then the inventory (remotePush.ts).
  const sent = await sendObjects(cache, store, plan.nodes, order, plan.missing, {
    jobs: o.jobs, signal: o.signal,
    onObject: (size) => {
      done++;
      bytes += size;
      if ((done & 15) === 0) tick();
    },
  });
  res.transferred += sent.sent;
  res.transferredBytes += sent.sentBytes;
  res.failed.push(...sent.failed);
  res.checks = store.checks;
  tick();
  res.failed.sort((a, b) => (a.where < b.where ? -1 : 1));
  return res;
}

function emptyResult(remote: string): TransferResult {
  return { remote, transferred: 0, transferredBytes: 0, skipped: 0, skippedBytes: 0, missing: [], failed: [], strategy: 'none', checks: 0, badPointers: [] };
}

// ------------------------------------------------------------------ fetch

/**
 * Downloads what the cache lacks below `roots`, trees first, every object verified before it is
 * inserted. Objects the remote does not have are reported in `missing`; others that fail after
 * retries in `failed`.
 * @example await fetchObjects(repo.cache, remote, [{ oid, type: 'dir', where: 'data', sub: 'images/cats' }], { jobs: 16 })
 */
export async function fetchObjects(cache: ObjectStore, from: Remote | RemoteStore, roots: Root[], o: { jobs: number; signal?: AbortSignal; onProgress?: OnProgress; treesOnly?: boolean }): Promise<TransferResult> {
  const limit = pLimit(o.jobs);
  const store = from instanceof RemoteStore ? from : new RemoteStore(from, { jobs: o.jobs, signal: o.signal });
  const res = emptyResult(store.name);
  let done = 0;
  let total = 0;
  let bytes = 0;
  const tick = () => o.onProgress?.({ phase: 'fetch', done, total, bytes });
  const inflight = new Map<Oid, Promise<boolean>>();
  // Settled objects keep a boolean, not their promise: a pull of 100k objects held every promise
  // and closure to the end (415 MB peak).
  const finished = new Map<Oid, boolean>();
  const TRUE = Promise.resolve(true);
  const FALSE = Promise.resolve(false);

  // Trees fetched ahead, a pack's at a time: oid → bytes, until the walk asks for them.
  const prefetched = new Map<Oid, number>();
  const treePacks = new Map<string, Promise<void>>();
  const prefetchTrees = (pack: RemotePack): Promise<void> => {
    let p = treePacks.get(pack.id);
    if (!p) {
      p = (async () => {
        const trees = [...pack.idx.entries()].filter((e) => e.kind === 'tree' && !cache.hasSync(e.oid, 'tree')).sort((a, b) => a.offset - b.offset);
        if (trees.length < 2) return;
        const span = trees[trees.length - 1].offset + trees[trees.length - 1].length - (trees[0].offset - ENTRY_HEADER_SIZE);
        const treeBytes = trees.reduce((n, e) => n + e.length + ENTRY_HEADER_SIZE, 0);
        // trees spread between files (a pack pushed before trees went last): one request each instead
        if (span > 2 * treeBytes + RUN_GAP || span > RUN_MAX) return;
        await limit(() => store.readRun(pack, trees, async (e, body) => {
          if (cache.hasSync(e.oid, 'tree')) return;
          if (cache.putBytesSync) cache.putBytesSync(body, 'tree');
          else await cache.putBytes(body, 'tree');
          prefetched.set(e.oid, body.length);
          bytes += body.length;
        }));
      })().catch((err) => {
        // the walk fetches each tree on its own then, and reports what fails
        if (isTroveError(err, 'ABORTED') || o.signal?.aborted) throw err;
      });
      treePacks.set(pack.id, p);
    }
    return p;
  };

  /** Makes `oid` present in the cache; false when it could not. */
  const ensure = (oid: Oid, where: string, size?: number, kind: CacheKind = 'blob'): Promise<boolean> => {
    const f = finished.get(oid);
    if (f !== undefined) return f ? TRUE : FALSE;
    let p = inflight.get(oid);
    if (p) return p;
    if (cache.hasSync(oid, kind) && !prefetched.has(oid)) {
      res.skipped++;
      res.skippedBytes += size ?? 0;
      finished.set(oid, true);
      return TRUE;
    }
    p = (async () => {
      total++;
      try {
        if (kind === 'tree') {
          // the trees of a pack come in one ranged GET (push puts them last in each pack)
          const at = await store.locate(oid, 'tree');
          if (at) await prefetchTrees(at.pack);
          const got = prefetched.get(oid);
          if (got !== undefined && cache.hasSync(oid, 'tree')) {
            prefetched.delete(oid);
            res.transferred++;
            res.transferredBytes += got;
            done++;
            return true;
          }
        }
        const n = await limit(() => store.download(oid, kind, async (body) => {
          let got = 0;
          try {
            return await cache.putStream(oid, kind, body, `${where} (from remote "${store.name}")`, (b) => { got += b; bytes += b; });
          } catch (err) {
            bytes -= got; // this attempt's bytes were thrown away
            throw err;
          }
        })).catch(async (err) => {
          // not loose nor packed: the remote may hold it chunked (a manifest; chunkTransfer.ts)
          if (kind !== 'blob' || !isTroveError(err, 'NOT_FOUND')) throw err;
          const c = await fetchChunked(cache, store, oid, where, { jobs: o.jobs, onBytes: (b) => { bytes += b; } });
          if (c === null) throw err;
          return c;
        });
        res.transferred++;
        res.transferredBytes += n;
        done++;
        if ((done & 15) === 0) tick();
        return true;
      } catch (err) {
        if (isTroveError(err, 'ABORTED') || o.signal?.aborted) throw err;
        if (isTroveError(err, 'NOT_FOUND')) res.missing.push({ oid, where });
        else res.failed.push(failure(oid, where, err));
        return false;
      }
    })().then((ok) => {
      finished.set(oid, ok);
      inflight.delete(oid);
      return ok;
    });
    inflight.set(oid, p);
    return p;
  };

  const readTree = async (oid: Oid, where: string): Promise<TreeEntry[] | null> => {
    if (!(await ensure(oid, where, undefined, 'tree'))) return null;
    try {
      return parseTree(cache.readSmall(oid, 'tree', where), where).entries;
    } catch (err) {
      res.failed.push(failure(oid, where, err));
      return null;
    }
  };

  // 1. Walk the trees (fetching them: they are few) and list the files they name.
  // 2. `jobs` workers fetch the listed files. A promise per file up front (a fresh pull of 100k
  //    files) peaked at 440 MB of suspended frames; the list is one small tuple per file.
  const walked = new Set<Oid>();
  const files: [Oid, string, number | undefined][] = [];
  const listed = new Set<Oid>();
  const list = (oid: Oid, where: string, size: number | undefined) => {
    if (!o.treesOnly && !listed.has(oid)) {
      listed.add(oid);
      files.push([oid, where, size]);
    }
  };
  const walk = async (r: Root): Promise<void> => {
    if (r.type === 'file') return list(r.oid, r.where, r.size);
    await walkTrees(readTree, r.oid, (e, where) => {
      if (e.type === 'file') list(e.oid, where, e.size);
    }, { where: r.where, memo: walked });
  };

  await Promise.all(roots.map(async (r) => {
    const d = await descend(readTree, r);
    if (d === null || d === 'missing-tree') return;
    await walk(d);
  }));
  // 3. Files in remote packs: coalesced into ranged GETs per pack (a whole pack when most of it is
  //    wanted), each object verified against the index and its hash before it enters the cache.
  let want = files.filter(([oid]) => !cache.hasSync(oid, 'blob'));
  // 3a. Packs of which most is wanted: downloaded whole into the cache's packs (pullPacks.ts)
  const target = packTarget(cache);
  if (target && want.length) {
    const byPack = new Map<string, { pack: RemotePack; bytes: number; items: [Oid, number][] }>();
    for (const [oid] of want) {
      const at = await store.locate(oid, 'blob');
      if (!at) continue;
      let g = byPack.get(at.pack.id);
      if (!g) byPack.set(at.pack.id, (g = { pack: at.pack, bytes: 0, items: [] }));
      g.bytes += at.entry.length + ENTRY_HEADER_SIZE;
      g.items.push([oid, at.entry.length]);
    }
    const whole = [...byPack.values()].filter((g) => worthAdopting(g.pack, g.bytes, target));
    const wholeLimit = pLimit(2);
    await Promise.all(whole.map((g) => wholeLimit(async () => {
      total += g.items.length;
      let got = 0;
      try {
        if (!(await adoptRemotePack(cache, target, store, g.pack, (b) => { got += b; bytes += b; }))) {
          total -= g.items.length;
          bytes -= got;
          return; // not a contiguous pack: its objects are read by range below
        }
      } catch (err) {
        if (isTroveError(err, 'ABORTED') || o.signal?.aborted) throw err;
        // the ranged path below reads its objects one run at a time: one bad object then fails alone
        total -= g.items.length;
        bytes -= got;
        return;
      }
      for (const [oid, size] of g.items) {
        if (finished.has(oid)) continue;
        res.transferred++;
        res.transferredBytes += size;
        finished.set(oid, true);
        done++;
      }
      tick();
    })));
    want = want.filter(([oid]) => !finished.has(oid));
  }
  // 3b. The rest of the files in remote packs: ranged GETs of nearby entries
  const runs = await packRuns(store, want);
  want = [];
  const runLimit = pLimit(Math.max(1, Math.min(o.jobs, 8)));
  await Promise.all(runs.map((run) => runLimit(async () => {
    const pending = new Map(run.items.map((it) => [it.entry, it]));
    run.items = []; // a run's state is freed as it ends, not when the last run does
    total += pending.size;
    try {
      await store.readRun(run.pack, [...pending.keys()], async (e, body) => {
        const it = pending.get(e)!;
        if (!finished.has(it.oid)) {
          // verified against the oid in readRun already; the synchronous insert: through the thread
          // pool each small object cost ~6 promises and thread hops (a pull of 100k files: ~5 s)
          if (cache.putBytesSync) cache.putBytesSync(body, 'blob');
          else await cache.putBytes(body, 'blob');
          res.transferred++;
          res.transferredBytes += body.length;
          bytes += body.length;
          finished.set(it.oid, true);
        }
        pending.delete(e);
        done++;
        if ((done & 15) === 0) tick();
      });
    } catch (err) {
      if (isTroveError(err, 'ABORTED') || o.signal?.aborted) throw err;
      for (const it of pending.values()) {
        res.failed.push(failure(it.oid, it.where, err));
        finished.set(it.oid, false);
      }
    }
  })));
  // 4. The rest (loose objects, a wave-1 remote's all): `jobs` workers, one GET each.
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const [oid, where, size] = files[next++];
      await ensure(oid, where, size);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.jobs) }, worker));
  tick();
  // durable before a checkout or a pointer relies on them
  await cache.syncToDisk();
  res.missing.sort((a, b) => (a.where < b.where ? -1 : 1));
  res.failed.sort((a, b) => (a.where < b.where ? -1 : 1));
  return res;
}

/** Entries closer than this are fetched in one ranged GET (the gap is read and dropped). */
const RUN_GAP = 1 << 20;
/** A ranged GET covers at most this many bytes (so one failure repeats at most this much). */
const RUN_MAX = 64 << 20;

interface PackRun {
  pack: RemotePack;
  items: { oid: Oid; where: string; entry: PackIndexEntry }[];
}

/** Groups the files that live in remote packs into runs of nearby entries, one ranged GET each. */
async function packRuns(store: RemoteStore, files: [Oid, string, number | undefined][]): Promise<PackRun[]> {
  const byPack = new Map<string, PackRun>();
  for (const [oid, where] of files) {
    const at = await store.locate(oid, 'blob');
    if (!at) continue;
    let r = byPack.get(at.pack.id);
    if (!r) byPack.set(at.pack.id, (r = { pack: at.pack, items: [] }));
    // the entry is fresh from the index: share the oid string the trees gave (one string per file, not two)
    r.items.push({ oid, where, entry: { ...at.entry, oid } });
  }
  const runs: PackRun[] = [];
  for (const r of byPack.values()) {
    const items = r.items.sort((a, b) => a.entry.offset - b.entry.offset);
    let cur: PackRun | null = null;
    let start = 0;
    let end = 0;
    for (const it of items) {
      const s0 = it.entry.offset - ENTRY_HEADER_SIZE;
      const e0 = it.entry.offset + it.entry.length;
      if (cur && s0 - end <= RUN_GAP && e0 - start <= RUN_MAX) {
        cur.items.push(it);
        end = e0;
      } else {
        cur = { pack: r.pack, items: [it] };
        runs.push(cur);
        start = s0;
        end = e0;
      }
    }
  }
  return runs;
}

// ------------------------------------------------------------------ repo-level operations

/**
 * The roots that push/fetch/status work on: the workspace pointers named by `paths` (sub-paths kept),
 * plus, with --all-branches / --all-tags / --all-commits, the pointers at those revisions (only the
 * same tracked paths when `paths` are given), plus `extraRoots`.
 */
export async function collectRoots(repo: RepoContext, o: SyncOptions): Promise<{ roots: Root[]; bad: BadRevPointer[] }> {
  const roots: Root[] = [];
  const bad: BadRevPointer[] = [];
  const targets = await resolveTargets(repo, o.paths);
  for (const { tracked: t, sub } of targets) {
    roots.push({
      oid: t.pointer.oid, type: t.pointer.type, where: t.path, size: t.pointer.size, files: t.pointer.files,
      sub: sub && sub !== t.path ? sub.slice(t.path.length + 1) : undefined,
    });
  }
  if (o.allBranches || o.allTags || o.allCommits || o.revs?.length) {
    const revs = await listRevs(repo.git, o);
    const { tracked, bad: b } = await pointersAtRevs(repo.git, revs);
    bad.push(...b);
    const only = o.paths?.length ? new Set(targets.map((t) => t.tracked.path)) : null;
    for (const t of tracked) {
      if (only && !only.has(t.path)) continue;
      roots.push({ oid: t.pointer.oid, type: t.pointer.type, where: `${t.path} at ${t.rev.slice(0, 12)}`, size: t.pointer.size, files: t.pointer.files });
    }
  }
  if (o.extraRoots) roots.push(...(await o.extraRoots()));
  // one root per (oid, sub)
  const seen = new Set<string>();
  return { roots: roots.filter((r) => (seen.has(`${r.oid} ${r.sub ?? ''}`) ? false : (seen.add(`${r.oid} ${r.sub ?? ''}`), true))), bad };
}

/**
 * `trove push`: uploads what the remote lacks for the named pointers (default: all in the workspace).
 * @example const r = await push(repo, { remote: 'origin', jobs: 16 }); console.log(r.transferred, r.missing)
 */
export async function push(repo: RepoContext, o: SyncOptions = {}): Promise<TransferResult> {
  // one signal is shared by every request in flight (jobs can exceed Node's default of 10 listeners)
  if (o.signal) setMaxListeners(0, o.signal);
  if (o.runs !== false) {
    const { runRecordSync, runRoots } = await import('./runs/sync.js');
    o = { ...o, records: o.records ?? runRecordSync(repo) };
    if (!o.paths?.length && !o.extraRoots) o.extraRoots = () => runRoots(repo, { onlyCached: true });
  }
  const { roots, bad } = await collectRoots(repo, o);
  const { remote, spec } = openRepoRemote(repo, o.remote);
  try {
    const jobs = transferJobs(spec, o.jobs);
    const store = new RemoteStore(remote, { jobs, signal: o.signal });
    const plan = await planPush(repo.cache, store, roots);
    const res = await executePush(repo.cache, store, plan, { jobs, signal: o.signal, onProgress: o.onProgress });
    res.badPointers = bad;
    if (!o.allBranches && !o.allTags && !o.allCommits && !o.revs?.length && !o.paths?.length) {
      res.elsewhere = await notPushedElsewhere(repo, store, roots);
    }
    if (o.records?.push) res.records = await o.records.push(smallFilesRemote(remote, o.signal), { signal: o.signal });
    return res;
  } finally {
    await remote.close();
  }
}

/** At most this many root objects of other branches and tags are checked after a push. */
const ELSEWHERE_MAX = 64;

/**
 * After a plain `push` (the workspace's pointers): which versions that other branches and tags name
 * the remote lacks, so that the user hears of them now rather than in a teammate's failed checkout.
 * One HEAD per distinct root (at most ELSEWHERE_MAX); a root on the remote is complete there.
 */
async function notPushedElsewhere(repo: RepoContext, store: RemoteStore, pushed: Root[]): Promise<{ where: string; oid: Oid }[]> {
  const revs = await listRevs(repo.git, { allBranches: true, allTags: true });
  if (!revs.length) return [];
  const { tracked } = await pointersAtRevs(repo.git, revs);
  const done = new Set(pushed.map((r) => r.oid));
  const byOid = new Map<Oid, string[]>();
  for (const t of tracked) {
    if (done.has(t.pointer.oid)) continue;
    byOid.set(t.pointer.oid, [...(byOid.get(t.pointer.oid) ?? []), `${t.path} at ${t.rev.slice(0, 12)}`]);
  }
  const oids = [...byOid.keys()].slice(0, ELSEWHERE_MAX);
  const onRemote = await Promise.all(oids.map((oid) => store.has(oid)));
  return oids.filter((_, i) => !onRemote[i]).map((oid) => ({ oid, where: byOid.get(oid)![0] }));
}

/**
 * `trove fetch`: downloads into the cache what the named pointers need (sub-paths: that subtree only).
 * @example await fetch(repo, { paths: ['data/images/cats'] })
 */
export async function fetch(repo: RepoContext, o: SyncOptions & { allTrees?: boolean } = {}): Promise<TransferResult> {
  if (o.signal) setMaxListeners(0, o.signal);
  if (o.runs !== false && !o.records) {
    const { runRecordSync } = await import('./runs/sync.js');
    o = { ...o, records: runRecordSync(repo) };
  }
  const { roots, bad } = await collectRoots(repo, o);
  const { remote, spec } = openRepoRemote(repo, o.remote);
  try {
    const jobs = transferJobs(spec, o.jobs);
    const res = await fetchObjects(repo.cache, remote, roots, { jobs, signal: o.signal, onProgress: o.onProgress });
    // allTrees (pull of a sub-path): checkout works on whole folders, so it needs every tree of the
    // folder (small) while only the sub-path's files are fetched.
    const partial = roots.filter((r) => r.sub && r.type === 'dir').map((r) => ({ ...r, sub: undefined }));
    if (o.allTrees && partial.length) {
      const t = await fetchObjects(repo.cache, remote, partial, { jobs, signal: o.signal, treesOnly: true });
      res.transferred += t.transferred;
      res.transferredBytes += t.transferredBytes;
      res.missing.push(...t.missing);
      res.failed.push(...t.failed);
    }
    res.badPointers = bad;
    if (o.records?.fetch) res.records = await o.records.fetch(smallFilesRemote(remote, o.signal), { signal: o.signal });
    return res;
  } finally {
    await remote.close();
  }
}

export interface PullResult {
  fetch: TransferResult;
  checkout: CheckoutResult[];
  /** files (repo-relative) within the requested paths that could not be restored */
  missingFiles: string[];
}

/**
 * `trove pull` = fetch + checkout. Everything that could be fetched is restored; what could not is
 * named in `missingFiles` (the CLI exits 1 then).
 */
export async function pull(repo: RepoContext, o: SyncOptions & { force?: boolean } = {}): Promise<PullResult> {
  const f = await fetch(repo, { ...o, allTrees: true });
  const targets = await resolveTargets(repo, o.paths);
  const checkout = await checkoutPaths(repo, o.paths, { force: o.force, onProgress: o.onProgress, jobs: o.jobs });
  // checkout works on whole pointers; with a sub-path, files outside it were not meant to be fetched
  const scopes = targets.map((t) => t.sub ?? t.tracked.path);
  const missingFiles = checkout.flatMap((c) => c.missingFiles).filter((f) => scopes.some((s) => isWithin(f, s) || isWithin(s, f)));
  return { fetch: f, checkout, missingFiles: [...new Set(missingFiles)].sort() };
}

export interface RemoteStatusEntry {
  path: string;
  pointerFile: string;
  oid: Oid;
  /** in-sync: the remote has everything; not-pushed: the cache has objects the remote lacks; missing: some objects are nowhere */
  state: 'in-sync' | 'not-pushed' | 'missing';
  /** objects and bytes that push would send */
  objects: number;
  bytes: number;
  /** objects neither in the cache nor on the remote */
  missing: number;
}

/**
 * `trove status --remote`: per pointer, whether the remote has all of it.
 * @example for (const s of await remoteStatus(repo, { remote: 'origin' })) console.log(s.path, s.state)
 */
export async function remoteStatus(repo: RepoContext, o: { paths?: string[]; remote?: string; jobs?: number; signal?: AbortSignal } = {}): Promise<{ remote: string; entries: RemoteStatusEntry[] }> {
  const targets = await resolveTargets(repo, o.paths);
  const seen = new Set<string>();
  const tracked = targets.map((t) => t.tracked).filter((t) => (seen.has(t.pointerFile) ? false : (seen.add(t.pointerFile), true)));
  const { remote, spec } = openRepoRemote(repo, o.remote);
  try {
    const roots: Root[] = tracked.map((t) => ({ oid: t.pointer.oid, type: t.pointer.type, where: t.path, size: t.pointer.size, files: t.pointer.files }));
    const plan = await planPush(repo.cache, new RemoteStore(remote, { jobs: transferJobs(spec, o.jobs), signal: o.signal }), roots);
    const entries = tracked.map((t): RemoteStatusEntry => {
      let objects = 0;
      let bytes = 0;
      let missing = 0;
      const stack: Oid[] = [t.pointer.oid];
      const seenHere = new Set<Oid>();
      while (stack.length) {
        const oid = stack.pop()!;
        if (seenHere.has(oid)) continue;
        seenHere.add(oid);
        if (plan.upload.has(oid)) {
          objects++;
          bytes += plan.nodes.get(oid)?.size ?? 0;
        } else if (plan.missing.has(oid)) missing++;
        else continue; // on the remote: so is everything below it
        const n = plan.nodes.get(oid);
        if (n?.children) stack.push(...n.children);
      }
      const state = missing ? 'missing' : objects ? 'not-pushed' : 'in-sync';
      return { path: t.path, pointerFile: t.pointerFile, oid: t.pointer.oid, state, objects, bytes, missing };
    });
    return { remote: spec.name, entries };
  } finally {
    await remote.close();
  }
}

/**
 * Fetches what explicit pointer versions need from the default remote, when one is configured
 * (`trove checkout <rev> -- path` of a version this clone never pulled). Returns null without a
 * default remote: the caller then names what is missing.
 */
export async function fetchForPointers(repo: RepoContext, tracked: { path: string; pointer: { oid: Oid; type: 'file' | 'dir' } }[], o: { jobs?: number; onProgress?: OnProgress; signal?: AbortSignal } = {}): Promise<TransferResult | null> {
  const { defaultRemoteName } = await import('./remoteConfig.js');
  if (!defaultRemoteName(repo.config)) return null;
  // nothing to do when every root (and so, by the push order, its subtree) is here already
  const needed = [];
  for (const t of tracked) if (!(await repo.cache.has(t.pointer.oid, kindOf(t.pointer.type))) || t.pointer.type === 'dir') needed.push(t);
  if (!needed.length) return null;
  const { remote, spec } = openRepoRemote(repo);
  try {
    return await fetchObjects(repo.cache, remote, needed.map((t) => ({ oid: t.pointer.oid, type: t.pointer.type, where: t.path })), { jobs: transferJobs(spec, o.jobs), onProgress: o.onProgress, signal: o.signal });
  } finally {
    await remote.close();
  }
}
