import type { ObjectStore } from './store/objectStore.js';
import { TroveError } from './errors.js';
import type { Oid } from './oid.js';
import type { TreeReader } from './walkTrees.js';
import { readTree, type ScanNode } from './workspace.js';

/**
 * Differences between two versions of tracked data. A side is a stored tree (read from the cache)
 * or a scanned workspace folder (oids computed through the stat cache). Sub-folders with the same
 * oid on both sides are skipped without reading their trees, so two versions of a 100,000-file
 * folder that differ in 3 files cost only the trees on those 3 paths.
 *
 * Trees come from the cache, or from any `TreeReader` (walkTrees.ts): test/unit/diff.test.ts passes one over
 * an in-memory map. A reader's null (cannot read) is MISSING_OBJECT, as from the cache.
 */
export type Side = { kind: 'tree'; oid: Oid } | { kind: 'scan'; node: ScanNode };

interface Entry {
  type: 'file' | 'dir';
  oid: Oid;
  size: number;
  exec?: boolean;
  node?: ScanNode;
}

export interface FileChange {
  path: string;
  size: number;
  oid: Oid;
}
/** Every file that differs, deep inside folders, with the oids on each side (what `diff --json` prints). */
export interface FilesDiff {
  added: FileChange[];
  deleted: FileChange[];
  modified: { path: string; oldSize: number; newSize: number; oldOid: Oid; newOid: Oid }[];
  renamed: { from: string; to: string; size: number; oid: Oid }[];
}

/** Where stored trees are read from: the cache, or a reader. */
export type TreeSource = ObjectStore | TreeReader;

async function treeEntries(trees: TreeSource, oid: Oid, where: string) {
  if (typeof trees !== 'function') return readTree(trees, oid, where);
  const entries = await trees(oid, where);
  if (!entries) throw new TroveError('MISSING_OBJECT', `${where}: tree ${oid} is not in the cache`, undefined, { data: { oids: [oid] } });
  return entries;
}

async function entriesOf(cache: TreeSource, side: Side, where: string): Promise<Map<string, Entry>> {
  const m = new Map<string, Entry>();
  if (side.kind === 'tree') {
    for (const e of await treeEntries(cache, side.oid, where)) m.set(e.name, { type: e.type, oid: e.oid, size: e.size, exec: e.exec });
  } else {
    side.node.listFiles?.(); // a folder the status index vouched for lists its files only when asked
    for (const [name, f] of side.node.files) m.set(name, { type: 'file', oid: f.oid, size: f.size, exec: f.exec });
    for (const [name, d] of side.node.dirs) m.set(name, { type: 'dir', oid: d.oid, size: d.size, node: d });
  }
  return m;
}

const sideOf = (e: Entry): Side => (e.node ? { kind: 'scan', node: e.node } : { kind: 'tree', oid: e.oid });

async function allFiles(cache: TreeSource, side: Side, prefix: string, into: FileChange[]): Promise<void> {
  for (const [name, e] of await entriesOf(cache, side, prefix)) {
    const p = `${prefix}/${name}`;
    if (e.type === 'dir') await allFiles(cache, sideOf(e), p, into);
    else into.push({ path: p, size: e.size, oid: e.oid });
  }
}

/** File-level differences between two folder versions; `prefix` is the tracked path. */
export async function diffFolders(cache: TreeSource, a: Side | null, b: Side | null, prefix: string): Promise<FilesDiff> {
  const d: FilesDiff = { added: [], deleted: [], modified: [], renamed: [] };
  const visit = async (x: Side | null, y: Side | null, p: string) => {
    const ex = x ? await entriesOf(cache, x, p) : new Map<string, Entry>();
    const ey = y ? await entriesOf(cache, y, p) : new Map<string, Entry>();
    for (const [name, e] of ex) {
      const child = `${p}/${name}`;
      const f = ey.get(name);
      if (f && f.oid === e.oid && f.type === e.type && !!f.exec === !!e.exec) continue;
      if (e.type === 'dir' && f?.type === 'dir') await visit(sideOf(e), sideOf(f), child);
      else if (e.type === 'file' && f?.type === 'file') d.modified.push({ path: child, oldSize: e.size, newSize: f.size, oldOid: e.oid, newOid: f.oid });
      else {
        if (e.type === 'dir') await allFiles(cache, sideOf(e), child, d.deleted);
        else d.deleted.push({ path: child, size: e.size, oid: e.oid });
        if (f?.type === 'dir') await allFiles(cache, sideOf(f), child, d.added);
        else if (f) d.added.push({ path: child, size: f.size, oid: f.oid });
      }
    }
    for (const [name, f] of ey) {
      if (ex.has(name)) continue;
      const child = `${p}/${name}`;
      if (f.type === 'dir') await allFiles(cache, sideOf(f), child, d.added);
      else d.added.push({ path: child, size: f.size, oid: f.oid });
    }
  };
  await visit(a, b, prefix);
  // A file whose content moved (same oid deleted here, added there) is a rename.
  const addedByOid = new Map<Oid, FileChange[]>();
  for (const f of d.added) addedByOid.set(f.oid, [...(addedByOid.get(f.oid) ?? []), f]);
  const renamedTo = new Set<string>();
  d.deleted = d.deleted.filter((f) => {
    const to = addedByOid.get(f.oid)?.shift();
    if (!to) return true;
    d.renamed.push({ from: f.path, to: to.path, size: f.size, oid: f.oid });
    renamedTo.add(to.path);
    return false;
  });
  d.added = d.added.filter((f) => !renamedTo.has(f.path));
  for (const list of [d.added, d.deleted, d.modified, d.renamed]) list.sort((x, y) => ('path' in x ? x.path : x.to).localeCompare('path' in y ? y.path : y.to));
  return d;
}

export { allFiles };

export function missingTreeHint(err: unknown, what: string): never {
  if (err instanceof TroveError && err.code === 'MISSING_OBJECT') {
    throw new TroveError('MISSING_OBJECT', `${what}: ${err.message}`, 'fetch it first: `trove fetch` (or `trove pull`)', { data: err.data, cause: err });
  }
  throw err;
}
