/**
 * The pure part of gc (steps 2 and 3 of gc.ts's outline): which stored objects are reachable from a
 * set of roots, and which of the rest may be deleted. No repo, no I/O of its own: trees are read through
 * the `readTree` given, so the same code runs over the cache, a remote, or a MemoryStore in unit tests.
 *
 * Objects are (kind, oid) pairs: a blob and a tree with the same bytes are two objects, and marking one
 * keeps only that one. A remote's keys carry no kind (wave 1's layout), so there `keyOf` maps every kind
 * to one key.
 */
import pLimit from 'p-limit';
import type { Oid } from './oid.js';
import { isTroveError } from './errors.js';
import { kindOf, type ObjectKind, type ObjectStore } from './store/objectStore.js';
import { parseTree, type TreeEntry } from './tree.js';
import { walkTrees, type TreeReader } from './walkTrees.js';

export interface StoredObject {
  oid: Oid;
  /** 'unknown' for a remote's objects (its keys carry no kind) */
  kind: ObjectKind | 'unknown';
  size: number;
  mtimeMs: number;
}

export const storedKey = (oid: Oid, kind: ObjectKind): string => `${kind}:${oid}`;

/** A tree's entries, or why it could not be read (missing, corrupt, not a tree). */
export type ReadTree = (oid: Oid, where: string) => Promise<{ entries: TreeEntry[]; why?: undefined } | { entries?: undefined; why: string }>;

export interface MarkRoot {
  oid: Oid;
  type: 'file' | 'dir';
  where: string;
}

/** Step 2: everything reachable from the roots. An unreadable tree is recorded (and blocks the sweep). */
export class GcMarker {
  readonly marked = new Set<string>();
  /** oids marked as trees */
  readonly trees = new Set<Oid>();
  /** `where: tree oid why` for each tree that could not be read */
  readonly unreadable: string[] = [];
  private readonly limit;

  constructor(private readonly readTree: ReadTree, jobs = 16, readonly keyOf: (oid: Oid, kind: ObjectKind) => string = storedKey) {
    this.limit = pLimit(jobs);
  }

  isMarked(oid: Oid, kind: ObjectKind): boolean {
    return this.marked.has(this.keyOf(oid, kind));
  }

  async markAll(roots: MarkRoot[]): Promise<void> {
    await Promise.all(roots.map((r) => this.mark(r.oid, r.type, r.where)));
  }

  async mark(oid: Oid, type: 'file' | 'dir', where: string): Promise<void> {
    this.marked.add(this.keyOf(oid, kindOf(type)));
    if (type === 'file') return;
    // the one tree walk (walkTrees.ts), its memo the trees marked so far: a shared subtree is read once
    await walkTrees(this.read, oid, (e) => void this.marked.add(this.keyOf(e.oid, kindOf(e.type))), { where, memo: this.trees, limit: this.limit });
  }

  /** walkTrees' reader over `readTree`: an unreadable tree is recorded (and blocks the sweep). */
  private readonly read: TreeReader = async (oid, where) => {
    const got = await this.readTree(oid, where);
    if (got.entries) return got.entries;
    this.unreadable.push(`${where}: tree ${oid} ${got.why}`);
    return null;
  };

  /**
   * Step 3a: a young unmarked tree keeps its subtree (a concurrent add or push may be about to name it,
   * and "tree present ⇒ subtree complete" must survive). `bytes` of a young tree, or null to skip it.
   */
  async keepYoungTree(s: StoredObject, bytes: Buffer | null): Promise<void> {
    if (!bytes) return;
    let entries: TreeEntry[];
    try {
      entries = parseTree(bytes, s.oid).entries;
    } catch {
      return; // not a valid tree: nothing below it to keep
    }
    this.marked.add(this.keyOf(s.oid, 'tree'));
    this.trees.add(s.oid);
    await Promise.all(entries.map((e) => this.mark(e.oid, e.type, `(recent tree ${s.oid.slice(0, 17)})/${e.name}`)));
  }
}

export interface Candidates {
  reachable: number;
  storedBytes: number;
  candidates: { oid: Oid; kind: ObjectKind; size: number; tree: boolean }[];
  bytes: number;
  keptYoung: number;
  keptYoungBytes: number;
  /** with unreadable trees: how many would have been candidates; none is then */
  blocked?: number;
}

/** The stored objects that are neither marked nor young. */
export function youngUnmarked(stored: Map<string, StoredObject>, m: GcMarker, now: number, graceMs: number): StoredObject[] {
  const out: StoredObject[] = [];
  for (const [k, s] of stored) if (!m.marked.has(k) && now - s.mtimeMs < graceMs) out.push(s);
  return out;
}

/**
 * Step 3b: candidates are stored objects neither marked nor younger than the grace period, trees first.
 * Fail safe: if any tree was unreadable, it may name any stored object, so nothing is a candidate.
 */
export function gcCandidates(stored: Map<string, StoredObject>, m: GcMarker, now: number, graceMs: number): Candidates {
  const c: Candidates = { reachable: 0, storedBytes: 0, candidates: [], bytes: 0, keptYoung: 0, keptYoungBytes: 0 };
  for (const [k, s] of stored) {
    c.storedBytes += s.size;
    if (m.marked.has(k)) c.reachable++;
    else if (now - s.mtimeMs < graceMs) {
      c.keptYoung++;
      c.keptYoungBytes += s.size;
    } else {
      c.candidates.push({ oid: s.oid, kind: s.kind === 'tree' ? 'tree' : 'blob', size: s.size, tree: s.kind === 'tree' || (s.kind === 'unknown' && m.trees.has(s.oid)) });
      c.bytes += s.size;
    }
  }
  if (m.unreadable.length) {
    c.blocked = c.candidates.length;
    c.candidates = [];
    c.bytes = 0;
  }
  sortTreesFirst(c.candidates);
  return c;
}

export function sortTreesFirst(cs: { oid: Oid; tree: boolean }[]): void {
  cs.sort((a, b) => (a.tree === b.tree ? (a.oid < b.oid ? -1 : 1) : a.tree ? -1 : 1));
}

/** A ReadTree over a store: a tree missing, corrupt or invalid there comes back as its reason. */
export function treeReaderOf(store: ObjectStore, where = 'the cache'): ReadTree {
  return async (oid, at) => {
    let buf: Buffer;
    try {
      buf = store.readSmall(oid, 'tree', at);
    } catch (err) {
      if (!isTroveError(err)) throw err;
      return { why: err.code === 'MISSING_OBJECT' ? `not in ${where}` : `unreadable in ${where} (${err.code})` };
    }
    try {
      return { entries: parseTree(buf, at).entries };
    } catch (err) {
      if (!isTroveError(err)) throw err;
      return { why: `not a valid tree (${err.message})` };
    }
  };
}
