import type { ObjectStore } from './store/objectStore.js';
import { TroveError } from './errors.js';
import type { Oid } from './oid.js';
import type { StatusIndex } from './statusIndex.js';
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
 * unchanged folder costs one lookup; every subtree found whole is added to the memo.
 */
export async function findMissingObjects(cache: ObjectStore, index: StatusIndex, treeOid: Oid, where: string): Promise<MissingObjects> {
  const generation = cache.generation();
  const out: MissingObjects = { paths: [], oids: [], treesRead: 0, filesChecked: 0, treesSkipped: 0 };
  const complete: Oid[] = [];
  const visit = async (oid: Oid, at: string): Promise<boolean> => {
    if (index.knownComplete(oid, generation)) {
      out.treesSkipped++;
      return true;
    }
    let entries;
    try {
      out.treesRead++;
      entries = await readTree(cache, oid, at);
    } catch (err) {
      if (err instanceof TroveError && (err.code === 'MISSING_OBJECT' || err.code === 'INTEGRITY')) {
        out.paths.push(at);
        out.oids.push(oid);
        return false;
      }
      throw err;
    }
    let whole = true;
    for (const e of entries) {
      const p = `${at}/${e.name}`;
      if (e.type === 'dir') {
        if (!(await visit(e.oid, p))) whole = false;
      } else {
        out.filesChecked++;
        if (!cache.hasSync(e.oid, 'blob')) {
          out.paths.push(p);
          out.oids.push(e.oid);
          whole = false;
        }
      }
    }
    if (whole) complete.push(oid);
    return whole;
  };
  await visit(treeOid, where);
  index.markComplete(complete, generation);
  out.paths.sort();
  return out;
}
