/**
 * The one walk over stored folder trees (tree objects, tree.ts). With a memo, a subtree shared by several
 * folders, versions or roots is walked once (what gc's mark and fetch need: objects, not paths); without
 * one, every occurrence is walked (what a listing needs: two folders with the same content both have files).
 *
 * 1. Read the root tree with `read` (from the cache, a remote, both: the caller decides; null means "cannot
 *    be read", and the caller has recorded why, e.g. gc's unreadable trees or fetch's failures).
 * 2. Call `visit(entry, where)` for each entry, `where` being the entry's display path (`<root where>/<name>`).
 *    A dir entry whose visit returns false is not entered.
 * 3. Enter each dir entry (with a memo: whose tree is not in it yet; added first), siblings concurrently: reads are
 *    I/O, and `o.limit` (a p-limit) bounds how many are in flight.
 *
 * Pre-order and concurrent: callers that need an order sort their results. Walks with another shape stay
 * where they are: diff.ts compares two trees side by side, treeCompleteness.ts folds "is this subtree whole"
 * bottom-up, runs/verify.ts checks each object where it lives.
 */
import type { Oid } from './oid.js';
import type { TreeEntry } from './tree.js';

/** Reads one tree's entries; null when it cannot be read (the reader records why). */
export type TreeReader = (oid: Oid, where: string) => Promise<readonly TreeEntry[] | null>;

/** Called for each entry below the root; false on a dir entry: do not enter it. */
export type TreeVisitor = (entry: TreeEntry, where: string) => boolean | void | Promise<boolean | void>;

export interface WalkTreesOptions {
  /** display path of the root (`data/images`, `data at 1a2b3c`), the prefix of every `where` */
  where: string;
  /** trees already walked (by this walk or an earlier one sharing the memo); a tree in it is not entered again. The root is checked too. */
  memo?: Set<Oid>;
  /** bounds the concurrent reads (e.g. a p-limit of `--jobs`) */
  limit?: <T>(fn: () => Promise<T>) => Promise<T>;
}

/**
 * Walks the folder whose root tree is `root`.
 * @example
 * const files = new Map<string, TreeEntry>();
 * await walkTrees(readFromCache, ptr.oid, (e, where) => { if (e.type === 'file') files.set(where, e); }, { where: 'data' });
 */
export async function walkTrees(read: TreeReader, root: Oid, visit: TreeVisitor, o: WalkTreesOptions): Promise<void> {
  const memo = o.memo;
  const enter = async (oid: Oid, where: string): Promise<void> => {
    if (memo) {
      if (memo.has(oid)) return;
      memo.add(oid);
    }
    const entries = await (o.limit ? o.limit(() => read(oid, where)) : read(oid, where));
    if (!entries) return;
    const dirs: Promise<void>[] = [];
    for (const e of entries) {
      const at = `${where}/${e.name}`;
      const r = visit(e, at);
      const go = r instanceof Promise ? await r : r; // no microtask per file for a plain visitor
      if (e.type === 'dir' && go !== false) dirs.push(enter(e.oid, at));
    }
    await Promise.all(dirs);
  };
  await enter(root, o.where);
}
