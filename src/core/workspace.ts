import { existsSync, lstatSync, type Stats } from 'node:fs';
import path from 'node:path';
import pLimit from 'p-limit';
import { SYNC_FILE, type Cache } from './cache.js';
import { TroveError, isErrno } from './errors.js';
import { hashFile, hashSmallFileSync } from './hash.js';
import { hashBytes, type Oid } from './oid.js';
import type { StateDb, StatKey } from './state.js';
import { statKey } from './state.js';
import { parseTree, serializeTree, type TreeEntry } from './tree.js';
import { IgnoreRules, oidOfCacheLink, walkDir, type DirNode, type FileNode } from './walk.js';

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
}

export interface ScanOptions {
  /** store new content in the cache (add) or only hash it (status) */
  store: boolean;
  jobs: number;
  onProgress?: OnProgress;
  signal?: AbortSignal;
}

interface Ctx {
  cache: Cache;
  state: StateDb;
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
  const records: { path: string; key: StatKey; oid: Oid }[] = [];
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

  const stored = <T extends { size: number; stored: boolean }>(r: T): T => {
    if (r.stored) {
      counters.stored++;
      counters.storedBytes += r.size;
    }
    return r;
  };
  /** Records the stat-cache row, but only if the file did not change while it was read. */
  const remember = (fileRel: string, fileAbs: string, key: StatKey, oid: Oid) => {
    const after = lstatSync(fileAbs);
    if (after.mtimeMs === key.mtime && after.size === key.size && after.ctimeMs === key.ctime) records.push({ path: fileRel, key, oid });
    // written in batches: memory must not hold a row per file of a 100k-file add until the end
    if (records.length >= 8192) ctx.state.record(records.splice(0));
  };
  /** Small files: synchronous calls, no promise (see Cache.putSmallFileSync for why). */
  const hashSmallSync = (fileRel: string, fileAbs: string, key: StatKey): { oid: Oid; size: number } => {
    counters.hashed++;
    const res = o.store ? stored(ctx.cache.putSmallFileSync(fileAbs, key.size)) : hashSmallFileSync(fileAbs);
    remember(fileRel, fileAbs, key, res.oid);
    return res;
  };
  const hashOne = async (fileRel: string, fileAbs: string, key: StatKey, cached: Oid | null): Promise<{ oid: Oid; size: number }> => {
    if (cached && (!o.store || (await ctx.cache.has(cached)))) return { oid: cached, size: key.size };
    o.signal?.throwIfAborted();
    if (key.size <= SYNC_FILE) return hashSmallSync(fileRel, fileAbs, key);
    counters.hashed++;
    let read = 0;
    const onBytes = readBytes && ((n: number) => { read += n; readBytes(n); });
    try {
      const res = o.store ? stored(await ctx.cache.putFile(fileAbs, onBytes)) : await hashFile(fileAbs, onBytes);
      remember(fileRel, fileAbs, key, res.oid);
      return res;
    } finally {
      prog.inflight -= read; // settled bytes are counted by the caller
    }
  };

  if (st.isSymbolicLink()) {
    const linked = oidOfCacheLink(abs, ctx.cache.objectsDir);
    if (!linked) throw new TroveError('SYMLINK', `${rel}: is a symbolic link; trove does not track or follow links`, 'track the file or folder it points to instead');
    const size = await ctx.cache.size(linked);
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
    return { type: 'file', oid: r.oid, size: r.size, files: 1, exec: (st.mode & 0o100) !== 0, ...counters };
  }
  if (!st.isDirectory()) throw new TroveError('IO', `${rel}: not a regular file or folder`);

  const tree = walkDir(abs, rel, ctx.rules, ctx.cache.objectsDir) as ScanNode;
  const rows = ctx.state.loadPrefix(rel);
  // Stat-cache hits are settled here, synchronously: no promise or queue entry per unchanged file.
  // the absolute path is derived when needed (root + rel): one string per file fewer to hold
  const toHash: { f: ScanFile; rel: string; key: StatKey }[] = [];
  const absOf = (fileRel: string) => `${root}/${fileRel}`;
  const visit = (node: ScanNode, nodeRel: string) => {
    for (const [name, f] of node.files) {
      const fileRel = `${nodeRel}/${name}`;
      const key: StatKey = f;
      const cached = f.oid ?? ctx.state.lookup(fileRel, key, rows);
      prog.total++;
      prog.totalBytes += key.size;
      if (cached && (!o.store || existsSync(ctx.cache.objectPath(cached)))) {
        f.oid = cached;
        f.size = key.size;
        prog.done++;
        prog.bytes += key.size;
      } else toHash.push({ f, rel: fileRel, key });
    }
    for (const [name, d] of node.dirs) visit(d, `${nodeRel}/${name}`);
  };
  visit(tree, rel);
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
    const large = Promise.all(toHash.filter((t) => t.key.size > SYNC_FILE).map((t) => limit(async () => settle(t, await hashOne(t.rel, absOf(t.rel), t.key, null)))));
    large.catch(() => {}); // observed below; an early failure must not be an unhandled rejection
    let n = 0;
    for (const t of toHash) {
      if (t.key.size > SYNC_FILE) continue;
      settle(t, hashSmallSync(t.rel, absOf(t.rel), t.key));
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
  return { type: 'dir', oid: top.oid, size: top.size, files: top.count, exec: false, node: tree, ...counters };
}

/** Computes (and with a cache, stores) the tree objects of a walked folder, bottom-up. */
async function buildTrees(node: ScanNode, cache: Cache | null): Promise<ScanNode> {
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
  node.oid = cache ? await cache.putBytes(text) : hashBytes(text);
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
export async function readTree(cache: Cache, oid: Oid, where: string): Promise<TreeEntry[]> {
  const hit = cache.treeMemo.get(oid) as TreeEntry[] | undefined;
  if (hit) return hit;
  const entries = parseTree(cache.readBytesSync(oid, where), where).entries;
  // Trees are immutable (named by their content): a small memo per cache saves re-reading the
  // subtrees that consecutive versions share while walking history. Bounded, so memory stays flat.
  if (cache.treeMemo.size >= 4096) cache.treeMemo.delete(cache.treeMemo.keys().next().value!);
  cache.treeMemo.set(oid, entries);
  return entries;
}

/** Loads a whole stored folder. Throws MISSING_OBJECT naming the first tree that is not cached. */
export async function loadFlatTree(cache: Cache, oid: Oid, where: string): Promise<FlatTree> {
  const out: FlatTree = { files: new Map(), dirs: new Set() };
  const visit = async (treeOid: Oid, prefix: string) => {
    const entries = await readTree(cache, treeOid, prefix ? `${where}/${prefix}` : where);
    await Promise.all(
      entries.map(async (e) => {
        const p = prefix ? `${prefix}/${e.name}` : e.name;
        if (e.type === 'dir') {
          out.dirs.add(p);
          await visit(e.oid, p);
        } else out.files.set(p, e);
      }),
    );
  };
  await visit(oid, '');
  return out;
}

/** Changes inside a folder, file paths relative to the repo (status's view: a move is a delete and an add). */
export interface FolderChanges {
  added: string[];
  modified: string[];
  deleted: string[];
}
