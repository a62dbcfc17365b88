import { lstatSync, type Stats } from 'node:fs';
import path from 'node:path';
import pLimit from 'p-limit';
import { SYNC_FILE } from './store/loose.js';
import type { ObjectStore, PutResult } from './store/objectStore.js';
import { TroveError, isErrno } from './errors.js';
import { hashFile, hashSmallFileSync } from './hash.js';
import { hashBytes, type Oid } from './oid.js';
import { rowMatches, statKey, type Row, type StatKey, type StatusIndex } from './statusIndex.js';
import { parseTree, serializeTree, type TreeEntry } from './tree.js';
import { walkVouched } from './statusWalk.js';
import { walkTrees } from './walkTrees.js';
import { IgnoreRules, type DirNode, type FileNode } from './walk.js';

/** Progress events for long work; the CLI draws bars from them. */
export interface Progress {
  phase: string;
  done: number;
  total: number;
  bytes?: number;
  /** bytes in all (when known): the bar then moves with bytes, so one large file shows progress */
  totalBytes?: number;
}
export type OnProgress = (p: Progress) => void;

/** What a tracked path holds right now in the workspace. */
export interface Scanned {
  type: 'file' | 'dir';
  oid: Oid;
  size: number;
  files: number;
  exec: boolean;
  /** folders: the walked tree with per-file and per-folder oids */
  node?: ScanNode;
  hashed: number;
  stored: number;
  storedBytes: number;
}

export interface ScanFile extends FileNode {
  oid: Oid;
  size: number;
}
export interface ScanNode extends DirNode {
  files: Map<string, ScanFile>;
  dirs: Map<string, ScanNode>;
  oid: Oid;
  size: number;
  count: number;
  /** set when the status index vouched for this folder's tree oid (no tree was built) */
  known?: boolean;
  /** files vouched for by the index and not listed yet (see listFiles): their count and bytes */
  lazyOids?: boolean;
  lazyCount?: number;
  lazyBytes?: number;
  /** for lazy folders: fills `files` from the index (diff calls it before it reads them) */
  listFiles?: () => void;
}

export interface ScanOptions {
  /** store new content in the cache (add) or only hash it (status) */
  store: boolean;
  jobs: number;
  onProgress?: OnProgress;
  signal?: AbortSignal;
  /** leave file oids of vouched-for folders unlisted until their listFiles() (status: only a diff needs them) */
  lazyOids?: boolean;
}


/** A folder vouched for on the fast path gets its file nodes back: the rows matched them exactly. */
function filesFromRows(idx: StatusIndex, node: ScanNode, nodeRel: string): void {
  if (!node.lazyOids) return;
  for (const [name, r] of idx.rowsOf(nodeRel)!) node.files.set(name, { dev: r.dev, ino: r.ino, size: r.size, mtime: r.mtime, ctime: r.ctime, exec: r.exec, oid: r.oid });
  node.lazyOids = false;
  node.listFiles = undefined;
}

interface Ctx {
  cache: ObjectStore;
  state: StatusIndex;
  rules: IgnoreRules;
}

/**
 * Hashes (and with `store`, caches) what a tracked path holds. Files whose stat matches the stat
 * cache are not read. Returns null when the path does not exist.
 */
export async function scanPath(ctx: Ctx, root: string, rel: string, o: ScanOptions): Promise<Scanned | null> {
  const abs = path.join(root, rel);
  let st: Stats;
  try {
    st = lstatSync(abs);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return null;
    throw err;
  }
  const records: { path: string; key: StatKey; oid: Oid; exec?: boolean }[] = [];
  const limit = pLimit(o.jobs);
  const counters = { hashed: 0, stored: 0, storedBytes: 0 };
  // progress in bytes: settled files' sizes plus what large files in flight have read so far
  const prog = { done: 0, total: 0, bytes: 0, inflight: 0, totalBytes: 0, last: 0 };
  const tell = (force = false) => {
    if (!o.onProgress) return;
    const now = prog.bytes + prog.inflight;
    if (!force && now - prog.last < 8 << 20 && (prog.done & 63) !== 0) return;
    prog.last = now;
    o.onProgress({ phase: o.store ? 'add' : 'hash', done: prog.done, total: prog.total, bytes: now, totalBytes: prog.totalBytes });
  };
  const readBytes = o.onProgress ? (n: number) => { prog.inflight += n; tell(); } : undefined;

  const stored = <T extends { size: number; stored: boolean; newBytes?: number }>(r: T): T => {
    if (r.stored) {
      counters.stored++;
      counters.storedBytes += r.newBytes ?? r.size;
    }
    return r;
  };
  /** Records the stat-cache row, but only if the file did not change while it was read. */
  const remember = (fileRel: string, fileAbs: string, key: StatKey, oid: Oid, seen?: PutResult['after']) => {
    // the store's fstat of the file it read, when it has one (the same file: a file renamed over
    // this path before it was opened has another ctime, one renamed over it after keeps its row's key)
    const after = seen ?? lstatSync(fileAbs);
    if (after.mtimeMs === key.mtime && after.size === key.size && after.ctimeMs === key.ctime) records.push({ path: fileRel, key, oid, exec: (key as { exec?: boolean }).exec });
    // written in batches: memory must not hold a row per file of a 100k-file add until the end
    // (small batches: rows that wait long are promoted to the old generation and die there, which grew
    // the heap of a 100k-file add by megabytes)
    if (records.length >= 512) ctx.state.record(records.splice(0));
  };
  /** Small files: synchronous calls, no promise (see LooseStore.putFileSync for why). */
  const hashSmallSync = (fileRel: string, fileAbs: string, key: StatKey): { oid: Oid; size: number } => {
    counters.hashed++;
    const res: { oid: Oid; size: number; after?: PutResult['after'] } = o.store ? stored(ctx.cache.putFileSync(fileAbs, key.size, 'blob')) : hashSmallFileSync(fileAbs);
    remember(fileRel, fileAbs, key, res.oid, res.after);
    return res;
  };
  const hashOne = async (fileRel: string, fileAbs: string, key: StatKey, cached: Oid | null): Promise<{ oid: Oid; size: number }> => {
    if (cached && (!o.store || (await ctx.cache.has(cached, 'blob')))) return { oid: cached, size: key.size };
    o.signal?.throwIfAborted();
    if (key.size <= SYNC_FILE) return hashSmallSync(fileRel, fileAbs, key);
    counters.hashed++;
    let read = 0;
    const onBytes = readBytes && ((n: number) => { read += n; readBytes(n); });
    try {
      const res = o.store ? stored(await ctx.cache.putFile(fileAbs, 'blob', { onBytes })) : await hashFile(fileAbs, onBytes);
      remember(fileRel, fileAbs, key, res.oid);
      return res;
    } finally {
      prog.inflight -= read; // settled bytes are counted by the caller
    }
  };

  if (st.isSymbolicLink()) {
    const linked = ctx.cache.linkedBlob(abs);
    if (!linked) throw new TroveError('SYMLINK', `${rel}: is a symbolic link; trove does not track or follow links`, 'track the file or folder it points to instead');
    const size = (await ctx.cache.stat(linked, 'blob'))?.size ?? null;
    if (size === null) throw new TroveError('MISSING_OBJECT', `${rel}: links to ${linked}, which is not in the cache`, 'run `trove pull` or `trove checkout --force`');
    return { type: 'file', oid: linked, size, files: 1, exec: false, hashed: 0, stored: 0, storedBytes: 0 };
  }
  if (st.isFile()) {
    const key = statKey(st);
    prog.total = 1;
    prog.totalBytes = key.size;
    const r = await hashOne(rel, abs, key, ctx.state.lookup(rel, key));
    prog.done = 1;
    prog.bytes = r.size;
    tell(true);
    ctx.state.record(records);
    ctx.state.save();
    return { type: 'file', oid: r.oid, size: r.size, files: 1, exec: (st.mode & 0o100) !== 0, ...counters };
  }
  if (!st.isDirectory()) throw new TroveError('IO', `${rel}: not a regular file or folder`);

  const idx = ctx.state;
  /**
   * Each folder, as soon as it is listed: when its files are exactly the index's rows (the usual case),
   * its per-file nodes are dropped at once and rebuilt from the rows only if someone needs them
   * (listFiles). Nodes that die young cost the garbage collector little; 100,000 of them kept to the
   * end of the scan cost ~300 ms of it.
   */
  const vouched = (folderRel: string, n: DirNode, count: number, bytes: number) => {
    const node = n as ScanNode;
    node.lazyOids = true;
    node.lazyCount = count;
    node.lazyBytes = bytes;
    node.files = new Map();
    node.listFiles = () => filesFromRows(idx, node, folderRel);
  };
  const onFolder = (folderRel: string, n: DirNode) => {
    if (!idx.rowsMatchExactly(folderRel, n.files)) return;
    let b = 0;
    for (const f of n.files.values()) b += f.size;
    vouched(folderRel, n, n.files.size, b);
  };
  // folders whose rows match are vouched for while they are listed (statusWalk.ts); the others get
  // the full walk and onFolder (its rows compared once more from the built nodes, as before)
  const tree = walkVouched(abs, rel, ctx.rules, idx, (p) => ctx.cache.linkedBlob(p), vouched, onFolder) as ScanNode;
  // read before any object is checked: a delete after this changes it, and the memo is dropped
  const generation = o.store ? ctx.cache.generation() : '';
  // Index hits are settled here, synchronously: no promise or queue entry per unchanged file.
  // the absolute path is derived when needed (root + rel): one string per file fewer to hold
  // a file's path is joined when it is hashed, not held here for the whole scan (100k strings)
  const toHash: { f: ScanFile; dir: string; name: string; key: StatKey }[] = [];
  const relOf = (t: { dir: string; name: string }) => `${t.dir}/${t.name}`;
  const absOf = (fileRel: string) => `${root}/${fileRel}`;
  /**
   * Settles every file whose row vouches for it and says whether the whole folder is vouched for:
   * every file matched a row, the rows are exactly the files, every sub-folder is vouched for, and
   * the index has this folder's tree with as many sub-folders. Then the folder's oid is the recorded
   * one and no tree is built or hashed. For `add`, a vouched tree must also be known complete in the
   * cache; otherwise each file's object is checked as before.
   */
  const visit = (node: ScanNode, nodeRel: string): boolean => {
    let all = true;
    let matched = 0;
    let rows: ReadonlyMap<string, Row> | null = null;
    if (node.lazyOids) {
      // the fast path (onFolder): every file vouched for from the index's bytes
      prog.total += node.lazyCount!;
      prog.totalBytes += node.lazyBytes!;
      prog.done += node.lazyCount!;
      prog.bytes += node.lazyBytes!;
      matched = node.lazyCount!;
    } else rows = idx.rowsOf(nodeRel);
    if (!node.lazyOids) for (const [name, f] of node.files) {
      prog.total++;
      prog.totalBytes += f.size;
      let cached: Oid | null = f.oid ?? null;
      if (!cached && rows) {
        const r = rows.get(name);
        if (r && rowMatches(r, f, false) && r.exec === f.exec) {
          cached = r.oid;
          matched++;
        }
      }
      if (cached) {
        f.oid = cached;
        prog.done++;
        prog.bytes += f.size;
      } else {
        toHash.push({ f, dir: nodeRel, name, key: f });
        all = false;
      }
    }
    // rows all matched but not in the walk's order (a migrated index, a folder touched by checkout):
    // store them in this order once, so that the next scan takes the fast path
    if (!node.lazyOids && all && matched === node.files.size && rows?.size === matched) idx.orderRows(nodeRel, node.files.keys());
    for (const [name, d] of node.dirs) if (!visit(d, `${nodeRel}/${name}`)) all = false;
    const t = all && (node.lazyOids || matched === node.files.size) && (node.lazyOids || (rows?.size ?? 0) === matched) ? idx.treeOf(nodeRel) : null;
    if (t && t.subdirs === node.dirs.size && (!o.store || idx.knownComplete(t.oid, generation))) {
      node.oid = t.oid;
      node.size = t.size;
      node.count = t.count;
      node.known = true;
      return true;
    }
    return false;
  };
  visit(tree, rel);
  // oids of files vouched for on the fast path: needed where a tree is built, by add's object
  // check, and by callers that look at files (checkout's plan); status asks for them only on a change
  const fill = (node: ScanNode, nodeRel: string, all: boolean) => {
    if (node.lazyOids && (all || !node.known)) filesFromRows(idx, node, nodeRel);
    for (const [name, d] of node.dirs) fill(d, `${nodeRel}/${name}`, all);
  };
  fill(tree, rel, !o.lazyOids);
  if (o.store) {
    // files settled by their row but not under a tree known complete: is their object still here?
    const check = (node: ScanNode, nodeRel: string) => {
      if (node.known) return;
      for (const [name, f] of node.files) {
        if (f.oid && !ctx.cache.hasSync(f.oid, 'blob')) {
          (f as { oid?: Oid }).oid = undefined;
          prog.done--;
          prog.bytes -= f.size;
          toHash.push({ f, dir: nodeRel, name, key: f });
        }
      }
      for (const [name, d] of node.dirs) check(d, `${nodeRel}/${name}`);
    };
    check(tree, rel);
  }
  const settle = (t: (typeof toHash)[number], r: { oid: Oid; size: number }) => {
    t.f.oid = r.oid;
    t.f.size = r.size;
    prog.done++;
    prog.bytes += r.size;
    tell();
  };
  try {
    // Large files stream through the thread pool, several at a time; small ones are read (and
    // stored) here in a plain loop with synchronous calls and no promise per file, yielding now and
    // then so that progress is drawn, Ctrl-C is seen and the large files' callbacks run.
    const large = Promise.all(toHash.filter((t) => t.key.size > SYNC_FILE).map((t) => limit(async () => { const fileRel = relOf(t); settle(t, await hashOne(fileRel, absOf(fileRel), t.key, null)); })));
    large.catch(() => {}); // observed below; an early failure must not be an unhandled rejection
    let n = 0;
    for (const t of toHash) {
      if (t.key.size > SYNC_FILE) continue;
      const fileRel = relOf(t);
      settle(t, hashSmallSync(fileRel, absOf(fileRel), t.key));
      if ((++n & 511) === 0) {
        await new Promise((r) => setImmediate(r));
        o.signal?.throwIfAborted();
      }
    }
    await large;
  } finally {
    limit.clearQueue();
    if (records.length) ctx.state.record(records);
  }
  tell(true);
  const top = await buildTrees(tree, o.store ? ctx.cache : null);
  rememberTrees(idx, tree, rel, toHash.length > 0);
  if (o.store) {
    // "complete in the cache" must survive a power cut as long as the memo does
    await ctx.cache.syncToDisk();
    idx.markComplete(builtTrees(tree), generation);
  }
  idx.save();
  return { type: 'dir', oid: top.oid, size: top.size, files: top.count, exec: false, node: tree, ...counters };
}

/**
 * After a scan: each folder that was not vouched for gets its tree recorded (it is trusted later only
 * while all its rows match), rows of files that are gone are dropped, and folders that are gone are
 * forgotten. A fully vouched scan changes nothing, so the index is not rewritten.
 */
function rememberTrees(idx: StatusIndex, top: ScanNode, topRel: string, hashed: boolean): void {
  if (top.known && !hashed) return;
  const seen = new Set<string>();
  const visit = (node: ScanNode, nodeRel: string) => {
    seen.add(nodeRel);
    for (const [name, d] of node.dirs) visit(d, `${nodeRel}/${name}`);
    if (node.known) return;
    idx.pruneRows(nodeRel, (name) => node.files.has(name));
    idx.orderRows(nodeRel, node.files.keys());
  };
  visit(top, topRel);
  for (const d of idx.foldersBelow(topRel)) if (!seen.has(d)) idx.forget(d);
  // after the row changes above, which drop the tree oids of the folders they touch
  const trees = (node: ScanNode, nodeRel: string) => {
    for (const [name, d] of node.dirs) trees(d, `${nodeRel}/${name}`);
    if (!node.known) idx.recordTree(nodeRel, { oid: node.oid, size: node.size, count: node.count, subdirs: node.dirs.size });
  };
  trees(top, topRel);
}

/** Every tree oid of a scanned folder (after `add`, all of them are in the cache with their files). */
function builtTrees(node: ScanNode, out: Oid[] = []): Oid[] {
  out.push(node.oid);
  if (!node.known) for (const d of node.dirs.values()) builtTrees(d, out);
  return out;
}

/** Computes (and with a cache, stores) the tree objects of a walked folder, bottom-up. */
async function buildTrees(node: ScanNode, cache: ObjectStore | null): Promise<ScanNode> {
  if (node.known) return node; // vouched for by the status index
  const entries: TreeEntry[] = [];
  let size = 0;
  let count = 0;
  for (const [name, d] of node.dirs) {
    await buildTrees(d, cache);
    entries.push({ name, type: 'dir', oid: d.oid, size: d.size, files: d.count });
    size += d.size;
    count += d.count;
  }
  for (const [name, f] of node.files) {
    entries.push(f.exec ? { name, type: 'file', oid: f.oid, size: f.size, exec: true } : { name, type: 'file', oid: f.oid, size: f.size });
    size += f.size;
    count++;
  }
  const text = serializeTree(entries);
  node.oid = cache ? await cache.putBytes(text, 'tree') : hashBytes(text);
  node.size = size;
  node.count = count;
  return node;
}

/** A stored folder, flattened: file path (relative to the folder) → entry; plus every sub-folder. */
export interface FlatTree {
  files: Map<string, TreeEntry>;
  dirs: Set<string>;
}

/** Reads a tree object from the cache and validates it. */
export async function readTree(cache: ObjectStore, oid: Oid, where: string): Promise<TreeEntry[]> {
  const hit = cache.treeMemo.get(oid) as TreeEntry[] | undefined;
  if (hit) return hit;
  const entries = parseTree(cache.readSmall(oid, 'tree', where), where).entries;
  // Trees are immutable (named by their content): a small memo per cache saves re-reading the
  // subtrees that consecutive versions share while walking history. Bounded, so memory stays flat.
  if (cache.treeMemo.size >= 4096) cache.treeMemo.delete(cache.treeMemo.keys().next().value!);
  cache.treeMemo.set(oid, entries);
  return entries;
}

/** Loads a whole stored folder. Throws MISSING_OBJECT naming the first tree that is not cached. */
export async function loadFlatTree(cache: ObjectStore, oid: Oid, where: string): Promise<FlatTree> {
  const out: FlatTree = { files: new Map(), dirs: new Set() };
  const cut = where.length + 1; // entries' `where` is `<where>/<path in the folder>`
  await walkTrees((t, at) => readTree(cache, t, at), oid, (e, at) => {
    if (e.type === 'dir') out.dirs.add(at.slice(cut));
    else out.files.set(at.slice(cut), e);
  }, { where });
  return out;
}

/** Changes inside a folder, file paths relative to the repo (status's view: a move is a delete and an add). */
export interface FolderChanges {
  added: string[];
  modified: string[];
  deleted: string[];
}
