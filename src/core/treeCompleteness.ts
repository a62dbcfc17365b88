import type { ObjectStore } from './store/objectStore.js';
import { TroveError } from './errors.js';
import type { Oid } from './oid.js';
import type { StatusIndex } from './statusIndex.js';
import type { TreeEntry } from './tree.js';
import { walkTrees } from './walkTrees.js';
import { readTree } from './workspace.js';

export interface MissingObjects {
  /** repo-relative paths of files and folders whose object is not in the cache (or is corrupt) */
  paths: string[];
  oids: Oid[];
  /** work done, for tests and the curious: trees read, file objects looked up, subtrees skipped by the memo */
  treesRead: number;
  filesChecked: number;
  treesSkipped: number;
}

/**
 * Which objects below a stored folder are missing from the cache, file by file. A subtree already
 * seen whole (the status index's memo, valid for one cache generation) is not walked again, so an
 * unchanged folder costs one lookup; every subtree found whole is added to the memo. A walk through
 * walkTrees.ts: files are looked up as they are visited, and "whole" is folded from the leaves up in
 * `leave` (post-order): a tree is whole when it was read, its files are present and its subtrees whole.
 */
export async function findMissingObjects(cache: ObjectStore, index: StatusIndex, treeOid: Oid, where: string): Promise<MissingObjects> {
  const generation = cache.generation();
  const out: MissingObjects = { paths: [], oids: [], treesRead: 0, filesChecked: 0, treesSkipped: 0 };
  const complete: Oid[] = [];
  /** trees found not whole (missing, corrupt, or with something missing below) */
  const broken = new Set<Oid>();
  const missingFiles = new Set<Oid>();
  const skipped = (oid: Oid): boolean => {
    if (!index.knownComplete(oid, generation)) return false;
    out.treesSkipped++;
    return true;
  };
  const read = async (oid: Oid, at: string) => {
    out.treesRead++;
    try {
      return await readTree(cache, oid, at);
    } catch (err) {
      if (err instanceof TroveError && (err.code === 'MISSING_OBJECT' || err.code === 'INTEGRITY')) {
        out.paths.push(at);
        out.oids.push(oid);
        broken.add(oid);
        return null;
      }
      throw err;
    }
  };
  const visit = (e: TreeEntry, p: string): boolean => {
    if (e.type === 'dir') return !skipped(e.oid);
    out.filesChecked++;
    if (!cache.hasSync(e.oid, 'blob')) {
      out.paths.push(p);
      out.oids.push(e.oid);
      missingFiles.add(e.oid);
    }
    return true;
  };
  const leave = (oid: Oid, _at: string, entries: readonly TreeEntry[]) => {
    // a subtree the memo vouched for (not entered) is whole; one entered and found broken is not
    const whole = entries.every((e) => (e.type === 'dir' ? !broken.has(e.oid) : !missingFiles.has(e.oid)));
    if (whole) complete.push(oid);
    else broken.add(oid);
  };
  // serial: a subtree shared by two folders is judged once it is done, before its other occurrence is left
  if (!skipped(treeOid)) await walkTrees(read, treeOid, visit, { where, serial: true, leave });
  index.markComplete(complete, generation);
  out.paths.sort();
  return out;
}
