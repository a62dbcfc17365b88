import { describe, expect, it } from 'vitest';
import { diffFolders } from '../../src/core/diff.js';
import { hashBytes, type Oid } from '../../src/core/oid.js';
import { MemoryStore } from '../../src/core/store/memory.js';
import { parseTree, serializeTree, type TreeEntry } from '../../src/core/tree.js';
import type { TreeReader } from '../../src/core/walkTrees.js';
import type { ScanNode } from '../../src/core/workspace.js';

/**
 * diffFolders against an in-memory object map (a real tree serializer and parser, no disk): what it reports,
 * and that equal subtrees are skipped without reading them.
 */
type Spec = { [name: string]: string | Spec };

function store() {
  const objects = new Map<Oid, Buffer>();
  const reads: Oid[] = [];
  /** builds the trees for a folder spec (file content as strings), returning the root oid */
  const put = (spec: Spec): Oid => {
    const entries: TreeEntry[] = Object.entries(spec).map(([name, v]) => {
      if (typeof v === 'string') return { name, type: 'file', oid: hashBytes(v), size: v.length };
      const oid = put(v);
      return { name, type: 'dir', oid, size: 0, files: 0 };
    });
    const text = serializeTree(entries);
    const oid = hashBytes(text);
    objects.set(oid, Buffer.from(text));
    return oid;
  };
  const read: TreeReader = async (oid, where) => {
    reads.push(oid);
    const buf = objects.get(oid);
    return buf ? parseTree(buf, where).entries : null;
  };
  return { put, read, reads, objects };
}

describe('diffFolders (in-memory trees)', () => {
  it('added, deleted, modified, renamed (same content moved), sorted by path, with both oids', async () => {
    const s = store();
    const big = { 'x.csv': 'x', 'y.csv': 'y' };
    const a = s.put({ 'a.csv': 'one', 'b.csv': 'two', 'old.txt': 'moved', keep: big, gone: { 'g.txt': 'g' } });
    const b = s.put({ 'a.csv': 'ONE', 'c.csv': 'three', new: { 'moved.txt': 'moved' }, keep: big });
    const d = await diffFolders(s.read, { kind: 'tree', oid: a }, { kind: 'tree', oid: b }, 'data');
    expect(d.modified).toEqual([{ path: 'data/a.csv', oldSize: 3, newSize: 3, oldOid: hashBytes('one'), newOid: hashBytes('ONE') }]);
    expect(d.added.map((f) => f.path)).toEqual(['data/c.csv']);
    expect(d.deleted.map((f) => f.path)).toEqual(['data/b.csv', 'data/gone/g.txt']);
    expect(d.renamed).toEqual([{ from: 'data/old.txt', to: 'data/new/moved.txt', size: 5, oid: hashBytes('moved') }]);
  });

  it('an equal subtree (same oid on both sides) is not read', async () => {
    const s = store();
    const shared = { deep: { 'f1': '1', 'f2': '2' }, 'g': '3' };
    const sharedOid = s.put(shared);
    const a = s.put({ shared, 'x': 'old' });
    const b = s.put({ shared, 'x': 'new' });
    s.reads.length = 0;
    const d = await diffFolders(s.read, { kind: 'tree', oid: a }, { kind: 'tree', oid: b }, 'data');
    expect(d.modified.map((f) => f.path)).toEqual(['data/x']);
    expect(s.reads.sort()).toEqual([a, b].sort()); // only the two roots
    expect(s.reads).not.toContain(sharedOid);
  });

  it('one side absent: everything is added (or deleted); a file replaced by a folder is both', async () => {
    const s = store();
    const a = s.put({ 'p': 'file', 'q': 'q' });
    const b = s.put({ 'p': { 'inner': 'i' }, 'q': 'q' });
    expect((await diffFolders(s.read, null, { kind: 'tree', oid: a }, 'd')).added.map((f) => f.path)).toEqual(['d/p', 'd/q']);
    expect((await diffFolders(s.read, { kind: 'tree', oid: a }, null, 'd')).deleted.map((f) => f.path)).toEqual(['d/p', 'd/q']);
    const d = await diffFolders(s.read, { kind: 'tree', oid: a }, { kind: 'tree', oid: b }, 'd');
    expect(d.deleted.map((f) => f.path)).toEqual(['d/p']);
    expect(d.added.map((f) => f.path)).toEqual(['d/p/inner']);
  });

  it('against a scanned workspace side (the status view), and an unreadable tree is MISSING_OBJECT', async () => {
    const s = store();
    const a = s.put({ 'a': 'A', 'b': 'B' });
    const file = (c: string) => ({ oid: hashBytes(c), size: c.length, exec: false, dev: 0, ino: 0, mtimeMs: 0, ctimeMs: 0 });
    const node = { files: new Map([['a', file('A')], ['c', file('C')]]), dirs: new Map(), oid: hashBytes('scan'), size: 2, count: 2 } as unknown as ScanNode;
    const d = await diffFolders(s.read, { kind: 'tree', oid: a }, { kind: 'scan', node }, 'w');
    expect(d.deleted.map((f) => f.path)).toEqual(['w/b']);
    expect(d.added.map((f) => f.path)).toEqual(['w/c']);
    s.objects.delete(a);
    await expect(diffFolders(s.read, { kind: 'tree', oid: a }, null, 'w')).rejects.toMatchObject({ code: 'MISSING_OBJECT' });
  });

  it('against the in-memory ObjectStore (store/memory.ts): the same answers as the reader, MISSING_OBJECT once a tree is deleted', async () => {
    const mem = new MemoryStore();
    const put = async (spec: Spec): Promise<Oid> => {
      const entries: TreeEntry[] = [];
      for (const [name, v] of Object.entries(spec)) {
        if (typeof v === 'string') entries.push({ name, type: 'file', oid: await mem.putBytes(v, 'blob'), size: v.length });
        else entries.push({ name, type: 'dir', oid: await put(v), size: 0, files: 0 });
      }
      return mem.putBytes(serializeTree(entries), 'tree');
    };
    const a = await put({ 'a.csv': 'one', sub: { 'b.csv': 'two' } });
    const b = await put({ 'a.csv': 'ONE', sub: { 'b.csv': 'two', 'c.csv': 'three' } });
    const d = await diffFolders(mem, { kind: 'tree', oid: a }, { kind: 'tree', oid: b }, 'data');
    expect(d.modified.map((f) => f.path)).toEqual(['data/a.csv']);
    expect(d.added.map((f) => [f.path, f.oid])).toEqual([['data/sub/c.csv', hashBytes('three')]]);
    expect(d.deleted).toEqual([]);
    const lone = await put({ only: { 'x': 'x' } });
    await mem.delete([{ oid: lone, kind: 'tree' }]);
    await expect(diffFolders(mem, { kind: 'tree', oid: lone }, null, 'w')).rejects.toMatchObject({ code: 'MISSING_OBJECT' });
  });
});
