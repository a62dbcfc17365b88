/**
 * The one walk over stored folder trees (tree objects, tree.ts). Every walk of stored trees goes through it:
 * gc's mark (gcMark.ts), fetch and counting a push (transfer.ts), listing a folder (`loadFlatTree`), which
 * objects below a folder the cache lacks (treeCompleteness.ts), and `trove verify` (runs/verify.ts).
 *
 * With a memo, a subtree shared by several folders, versions or roots is walked once (what gc's mark and
 * fetch need: objects, not paths); without one, every occurrence is walked (what a listing needs: two
 * folders with the same content both have files).
 *
 * 1. Read the root tree with `read` (from the cache, a remote, both: the caller decides; null means "cannot
 *    be read", and the caller has recorded why, e.g. gc's unreadable trees or fetch's failures).
 * 2. Call `visit(entry, where)` for each entry, `where` being the entry's display path (`<root where>/<name>`).
 *    Entries carry their type, so a caller that tells kinds apart (gc marks (kind, oid) pairs) reads it there.
 *    A dir entry whose visit returns false is not entered.
 * 3. Enter each dir entry (with a memo: whose tree is not in it yet; added first). By default siblings
 *    concurrently: reads are I/O, and `o.limit` (a p-limit) bounds how many are in flight. `o.serial`: one
 *    after another, in entry order (a walk whose visits depend on what an earlier one found).
 * 4. `o.leave(oid, where, entries)` once a tree's entries and all the subtrees entered below it are done:
 *    post-order, for folds from the leaves up ("is this subtree whole", treeCompleteness.ts). Not called for
 *    a tree that could not be read.
 *
 * Visits are pre-order (and concurrent unless serial): callers that need an order sort their results.
 * The one walk that does not come here: diff.ts compares two trees (or a tree and a workspace scan) in
 * lockstep, name by name, and skips a pair of equal subtrees without reading either; a walk of one tree
 * at a time cannot do that, and a pair walker would have exactly one user.
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
  /** enter subtrees one after another, in entry order, instead of concurrently */
  serial?: boolean;
  /** post-order: after a tree's entries and every subtree entered below it */
  leave?: (oid: Oid, where: string, entries: readonly TreeEntry[]) => void;
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
      if (e.type !== 'dir' || go === false) continue;
      if (o.serial) await enter(e.oid, at);
      else dirs.push(enter(e.oid, at));
    }
    await Promise.all(dirs);
    o.leave?.(oid, where, entries);
  };
  await enter(root, o.where);
}
