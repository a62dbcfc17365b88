/**
 * gc's mark and candidate selection (src/core/gcMark.ts), in-process against a MemoryStore: which
 * objects are live given pointers at several revisions, the grace period, kinds, and the fail-safe
 * on a tree that cannot be read.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GcMarker, gcCandidates, storedKey, treeReaderOf, youngUnmarked, type StoredObject } from '../../src/core/gcMark.js';
import type { Oid } from '../../src/core/oid.js';
import { MemoryStore } from '../../src/core/store/memory.js';
import { serializeTree, type TreeEntry } from '../../src/core/tree.js';

type Spec = { [name: string]: string | Spec };
const HOUR = 3_600_000;
const NOW = 1_000 * HOUR;

/** Stores a folder as blobs and trees; returns its root tree's oid. */
async function put(store: MemoryStore, spec: Spec): Promise<Oid> {
  const entries: TreeEntry[] = [];
  for (const [name, v] of Object.entries(spec)) {
    if (typeof v === 'string') entries.push({ name, type: 'file', oid: await store.putBytes(v, 'blob'), size: v.length });
    else entries.push({ name, type: 'dir', oid: await put(store, v), size: 0, files: 0 });
  }
  return store.putBytes(serializeTree(entries), 'tree');
}

async function storedOf(store: MemoryStore): Promise<Map<string, StoredObject>> {
  const m = new Map<string, StoredObject>();
  for await (const e of store.list()) m.set(storedKey(e.oid, e.kind), e);
  return m;
}

const hex = (s: string) => createHash('sha256').update(s).digest('hex');
const blob = (s: string) => `blob:${hex(s)}`;

async function plan(store: MemoryStore, roots: { oid: Oid; type: 'file' | 'dir'; where: string }[], graceMs = 24 * HOUR) {
  const m = new GcMarker(treeReaderOf(store));
  await m.markAll(roots);
  const stored = await storedOf(store);
  for (const s of youngUnmarked(stored, m, NOW, graceMs)) if (s.kind === 'tree') await m.keepYoungTree(s, store.readSmall(s.oid, 'tree'));
  const c = gcCandidates(stored, m, NOW, graceMs);
  return { m, c, names: c.candidates.map((x) => `${x.kind}:${x.oid.slice(7)}`).sort() };
}

describe('gc mark', () => {
  it('keeps what pointers at any of several revisions name, shares subtrees, and offers the rest (trees first)', async () => {
    const store = new MemoryStore(() => NOW - 48 * HOUR); // everything older than the grace period
    const v1 = await put(store, { 'a.csv': 'a v1', sub: { 'b.csv': 'b' } });
    const v2 = await put(store, { 'a.csv': 'a v2', sub: { 'b.csv': 'b' } });
    const v3 = await put(store, { gone: { 'c.csv': 'c' } }); // a version no revision names any more
    const model = await store.putBytes('weights', 'blob');
    const { m, c, names } = await plan(store, [
      { oid: v1, type: 'dir', where: 'data at v1' }, { oid: v2, type: 'dir', where: 'data at v2' }, { oid: model, type: 'file', where: 'model.bin at v2' },
    ]);
    expect(m.unreadable).toEqual([]);
    for (const s of ['a v1', 'a v2', 'b', 'weights']) expect(m.isMarked(`sha256:${hex(s)}`, 'blob')).toBe(true);
    // the shared subtree was read once although two roots reach it
    expect(store.reads.filter((r) => r.startsWith('tree:'))).toHaveLength(3); // v1, v2, sub
    const gone = (await treeReaderOf(store)(v3, 'v3')).entries![0]!.oid;
    expect(names).toEqual([`tree:${v3.slice(7)}`, `tree:${gone.slice(7)}`, blob('c')].sort());
    expect(c.candidates.slice(0, 2).every((x) => x.tree)).toBe(true); // trees before blobs: a crash never leaves a tree without its children
    expect(c.reachable).toBe(7); // v1, v2, sub, a v1, a v2, b, weights
  });

  it('a blob and a tree with the same bytes are two objects: marking one keeps only that one', async () => {
    const store = new MemoryStore(() => NOW - 48 * HOUR);
    const t = await put(store, {});
    const asBlob = await store.putBytes(serializeTree([]), 'blob'); // a user file with exactly those bytes
    expect(asBlob).toBe(t);
    const { names } = await plan(store, [{ oid: t, type: 'file', where: 'empty.json' }]);
    expect(names).toEqual([`tree:${t.slice(7)}`]);
  });

  it('objects younger than the grace period are kept, and a young tree keeps its (old) subtree', async () => {
    let now = NOW - 48 * HOUR;
    const store = new MemoryStore(() => now);
    const old = await put(store, { 'x.csv': 'x' });
    now = NOW - HOUR; // a concurrent add wrote this tree an hour ago; its blob was already there
    const young = await store.putBytes(serializeTree([{ name: 'x.csv', type: 'file', oid: (await treeReaderOf(store)(old, 'old')).entries![0]!.oid, size: 1 }, { name: 'y', type: 'file', oid: await store.putBytes('y', 'blob'), size: 1 }]), 'tree');
    const { c, names, m } = await plan(store, []);
    expect(m.isMarked(young, 'tree')).toBe(true);
    expect(names).toEqual([`tree:${old.slice(7)}`]); // only the old tree: x is below the young one
    expect(c.keptYoung).toBe(0); // the young tree and its children count as reachable through it
    expect(c.reachable).toBe(3);
    // with no grace period, everything unreferenced goes
    expect((await plan(store, [], 0)).names).toHaveLength(4);
  });

  it('fails safe: a tree that is missing or corrupt blocks every deletion, and is named with its pointer', async () => {
    for (const how of ['missing', 'corrupt'] as const) {
      const store = new MemoryStore(() => NOW - 48 * HOUR);
      const root = await put(store, { sub: { 'inner.csv': 'inner' }, 'top.csv': 'top' });
      await put(store, { 'garbage.csv': 'garbage' });
      const sub = (await treeReaderOf(store)(root, 'data')).entries!.find((e) => e.name === 'sub')!.oid;
      if (how === 'missing') await store.delete([{ oid: sub, kind: 'tree' }]);
      else store.insertRaw(sub, 'tree', '{"version":1,"entries":[]} rotted');
      const { m, c } = await plan(store, [{ oid: root, type: 'dir', where: 'data at main' }]);
      expect(m.unreadable).toEqual([`data at main/sub: tree ${sub} ${how === 'missing' ? 'not in the cache' : 'unreadable in the cache (INTEGRITY)'}`]);
      expect(c.candidates).toEqual([]);
      expect(c.blocked).toBe(3); // the garbage tree and blob, and inner.csv below the unreadable tree
      expect(c.bytes).toBe(0);
    }
  });

  it('a remote (no kinds in its keys) maps every kind to one key and still tells trees apart by the mark', async () => {
    const store = new MemoryStore(() => NOW - 48 * HOUR);
    const root = await put(store, { 'a.csv': 'a' });
    const orphan = await put(store, { 'b.csv': 'b' });
    const oneKey = (oid: Oid) => storedKey(oid, 'blob');
    const m = new GcMarker(treeReaderOf(store), 4, oneKey);
    await m.markAll([{ oid: root, type: 'dir', where: 'data' }]);
    const stored = new Map<string, StoredObject>();
    for await (const e of store.list()) stored.set(oneKey(e.oid), { ...e, kind: 'unknown' });
    const c = gcCandidates(stored, m, NOW, 0);
    expect(c.candidates.map((x) => x.oid).sort()).toEqual([orphan, `sha256:${hex('b')}`].sort());
    expect(c.reachable).toBe(2);
  });
});
