/**
 * The one tree walk (src/core/walkTrees.ts), in-process against a MemoryStore: memo, not entering a
 * folder, serial order, post-order `leave`, unreadable trees, and the bound on concurrent reads.
 */
import pLimit from 'p-limit';
import { describe, expect, it } from 'vitest';
import type { Oid } from '../../src/core/oid.js';
import { MemoryStore } from '../../src/core/store/memory.js';
import { parseTree, serializeTree, type TreeEntry } from '../../src/core/tree.js';
import { walkTrees, type TreeReader } from '../../src/core/walkTrees.js';

type Spec = { [name: string]: string | Spec };

async function put(store: MemoryStore, spec: Spec): Promise<Oid> {
  const entries: TreeEntry[] = [];
  for (const [name, v] of Object.entries(spec)) {
    if (typeof v === 'string') entries.push({ name, type: 'file', oid: await store.putBytes(v, 'blob'), size: v.length });
    else entries.push({ name, type: 'dir', oid: await put(store, v), size: 0, files: 0 });
  }
  return store.putBytes(serializeTree(entries), 'tree');
}

/** A reader over the store that records each read's `where`, in the order the reads start. */
function recordingReader(store: MemoryStore, log: string[], o: { missing?: Set<Oid>; slow?: boolean } = {}): TreeReader {
  return async (oid, where) => {
    log.push(where);
    if (o.slow) await new Promise((r) => setImmediate(r));
    if (o.missing?.has(oid)) return null;
    return parseTree(store.readSmall(oid, 'tree'), where).entries;
  };
}

const shared: Spec = { 'x.txt': 'shared x', deep: { 'y.txt': 'shared y' } };
const spec: Spec = { a: shared, b: shared, c: { 'z.txt': 'z' }, 'top.txt': 'top' };

describe('walkTrees', () => {
  it('without a memo every occurrence is walked; with one a shared subtree is read once', async () => {
    const store = new MemoryStore();
    const root = await put(store, spec);
    const files: string[] = [];
    const log: string[] = [];
    await walkTrees(recordingReader(store, log), root, (e, w) => void (e.type === 'file' && files.push(w)), { where: 'data' });
    expect(files.sort()).toEqual(['data/a/deep/y.txt', 'data/a/x.txt', 'data/b/deep/y.txt', 'data/b/x.txt', 'data/c/z.txt', 'data/top.txt']);
    expect(log).toHaveLength(6); // data, a, a/deep, b, b/deep, c

    const memo = new Set<Oid>();
    const once: string[] = [];
    const log2: string[] = [];
    await walkTrees(recordingReader(store, log2), root, (e, w) => void (e.type === 'file' && once.push(w)), { where: 'data', memo });
    expect(log2).toHaveLength(4); // data, one of a/b, its deep, c
    expect(once).toHaveLength(4);
    expect(memo.has(root)).toBe(true);
    // a second walk sharing the memo reads nothing, not even the root
    const log3: string[] = [];
    await walkTrees(recordingReader(store, log3), root, () => {}, { where: 'data', memo });
    expect(log3).toEqual([]);
  });

  it('a dir entry whose visit returns false is not entered', async () => {
    const store = new MemoryStore();
    const root = await put(store, spec);
    const log: string[] = [];
    await walkTrees(recordingReader(store, log), root, (e, w) => (e.type === 'dir' && w !== 'data/c' ? false : undefined), { where: 'data' });
    expect(log.sort()).toEqual(['data', 'data/c']);
  });

  it('serial: subtrees are entered one after another in entry order (depth first), even with slow reads', async () => {
    const store = new MemoryStore();
    const root = await put(store, spec);
    const log: string[] = [];
    const visits: string[] = [];
    await walkTrees(recordingReader(store, log, { slow: true }), root, (_e, w) => void visits.push(w), { where: 'd', serial: true });
    expect(log).toEqual(['d', 'd/a', 'd/a/deep', 'd/b', 'd/b/deep', 'd/c']);
    expect(visits).toEqual(['d/a', 'd/a/deep', 'd/a/deep/y.txt', 'd/a/x.txt', 'd/b', 'd/b/deep', 'd/b/deep/y.txt', 'd/b/x.txt', 'd/c', 'd/c/z.txt', 'd/top.txt']);
    // concurrent (the default): siblings' reads start before the first one's subtree is read
    const conc: string[] = [];
    await walkTrees(recordingReader(store, conc, { slow: true }), root, () => {}, { where: 'd' });
    expect(conc.slice(0, 4)).toEqual(['d', 'd/a', 'd/b', 'd/c']);
  });

  it('leave is post-order: a tree is left after every subtree below it, with its entries; not for an unreadable tree', async () => {
    const store = new MemoryStore();
    const root = await put(store, spec);
    const cOid = parseTree(store.readSmall(root, 'tree'), 'r').entries.find((e) => e.name === 'c')!.oid;
    for (const serial of [true, false]) {
      const left: string[] = [];
      const entriesOf = new Map<string, string[]>();
      await walkTrees(recordingReader(store, [], { slow: true, missing: new Set([cOid]) }), root, () => {}, {
        where: 'd', serial, leave: (_oid, w, es) => {
          left.push(w);
          entriesOf.set(w, es.map((e) => e.name));
        },
      });
      expect(left).not.toContain('d/c'); // could not be read
      expect(left.at(-1)).toBe('d');
      for (const [child, parent] of [['d/a/deep', 'd/a'], ['d/b/deep', 'd/b'], ['d/a', 'd'], ['d/b', 'd']]) {
        expect(left.indexOf(child), `${child} before ${parent}`).toBeLessThan(left.indexOf(parent));
      }
      expect(entriesOf.get('d')).toEqual(['a', 'b', 'c', 'top.txt']);
    }
  });

  it('limit bounds the reads in flight', async () => {
    const store = new MemoryStore();
    const wide: Spec = {};
    for (let i = 0; i < 30; i++) wide[`d${i}`] = { [`f${i}`]: `content ${i}`, sub: { g: `g ${i}` } };
    const root = await put(store, wide);
    let inFlight = 0;
    let most = 0;
    const read: TreeReader = async (oid, where) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      return parseTree(store.readSmall(oid, 'tree'), where).entries;
    };
    let files = 0;
    await walkTrees(read, root, (e) => void (e.type === 'file' && files++), { where: 'w', limit: pLimit(3) });
    expect(files).toBe(60);
    expect(most).toBe(3);
  });
});
