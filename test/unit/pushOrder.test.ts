/**
 * Push order (src/core/pushOrder.ts, used by transfer.executePush), in-process: trees after their
 * children, a tree sent only after everything below it. The pure order first, then a real push from a
 * MemoryStore to a real folder remote whose puts are observed in the order they complete.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Oid } from '../../src/core/oid.js';
import { uploadOrder } from '../../src/core/pushOrder.js';
import { RemoteStore } from '../../src/core/remoteStore.js';
import { MemoryStore } from '../../src/core/store/memory.js';
import { executePush, planPush } from '../../src/core/transfer.js';
import { serializeTree, type TreeEntry } from '../../src/core/tree.js';
import { openRemote, type Remote } from '../../src/remotes/index.js';
import { tempDir } from '../helpers/repo.js';

const o = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}` as Oid;

/** Every parent after all of its children that are uploaded, each oid exactly once. */
function expectPostOrder(order: Oid[], upload: Set<Oid>, children: Map<Oid, Oid[]>): void {
  expect([...order].sort()).toEqual([...upload].sort());
  const at = new Map(order.map((x, i) => [x, i]));
  for (const [parent, cs] of children) {
    if (!upload.has(parent)) continue;
    for (const c of cs) if (upload.has(c)) expect(at.get(c)!).toBeLessThan(at.get(parent)!);
  }
}

describe('uploadOrder', () => {
  it('puts every tree after its children, shared subtrees once, and skips what is not to be uploaded', () => {
    // r1 → {t1, f1}, r2 → {t1, t2}, t1 → {f2, f3}, t2 → {t1?no: f3, f4}; f3 is on the remote already
    const children = new Map<Oid, Oid[]>([[o(1), [o(11), o(101)]], [o(2), [o(11), o(12)]], [o(11), [o(102), o(103)]], [o(12), [o(103), o(104)]]]);
    const upload = new Set([o(1), o(2), o(11), o(12), o(101), o(102), o(104)]);
    const order = uploadOrder(upload, (x) => children.get(x));
    expectPostOrder(order, upload, children);
    expect(order).not.toContain(o(103));
  });

  it('handles folders nested deeper than the call stack (100,000 levels)', () => {
    const children = new Map<Oid, Oid[]>();
    const upload = new Set<Oid>();
    for (let i = 1; i <= 100_000; i++) {
      children.set(o(i), [o(i + 1)]);
      upload.add(o(i));
    }
    upload.add(o(100_001));
    const order = uploadOrder(upload, (x) => children.get(x));
    expect(order[0]).toBe(o(100_001));
    expect(order.at(-1)).toBe(o(1));
    expect(order).toHaveLength(100_001);
  });
});

type Spec = { [name: string]: string | Spec };
async function put(store: MemoryStore, spec: Spec, children: Map<Oid, Oid[]>): Promise<{ oid: Oid; size: number }> {
  const entries: TreeEntry[] = [];
  let size = 0;
  for (const [name, v] of Object.entries(spec)) {
    if (typeof v === 'string') {
      entries.push({ name, type: 'file', oid: await store.putBytes(v, 'blob'), size: v.length });
      size += v.length;
    } else {
      const t = await put(store, v, children);
      entries.push({ name, type: 'dir', oid: t.oid, size: t.size, files: 0 });
      size += t.size;
    }
  }
  const oid = await store.putBytes(serializeTree(entries), 'tree');
  children.set(oid, entries.map((e) => e.oid));
  return { oid, size };
}

/** A real folder remote whose completed puts are recorded in order. */
/**
 * Logs the keys of what a push puts, in order; a remote pack is logged as the objects it holds, in
 * its entry order (read back from the folder remote at `root`), `<fan>/<rest>` like a loose key.
 */
function observed(remote: Remote, log: string[], root: string): Remote {
  return new Proxy(remote, {
    get(target, prop, recv) {
      if (prop === 'put') return async (...args: Parameters<Remote['put']>) => {
        await target.put(...args);
        if (!args[0].endsWith('.pack')) return void log.push(args[0]);
        const { scanPack } = await import('../../src/core/store/pack.js');
        for (const e of (await scanPack(path.join(root, args[0]))).entries) log.push(`${e.oid.slice(7, 9)}/${e.oid.slice(9)}`);
      };
      const v = Reflect.get(target, prop, recv);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

describe('push from an ObjectStore', () => {
  it('uploads every object below the roots, each tree only after everything below it; a second push sends nothing', async () => {
    const cache = new MemoryStore();
    const children = new Map<Oid, Oid[]>();
    const spec: Spec = { 'a.csv': 'a', deep: { l1: { l2: { l3: { 'leaf.bin': 'leaf' } } } }, shared: { 'x.csv': 'x' }, other: { shared: { 'x.csv': 'x' }, 'y.csv': 'y' } };
    const root = await put(cache, spec, children);
    const log: string[] = [];
    const dir = tempDir('trove-remote-');
    const remote = observed(openRemote('origin', dir), log, dir);
    try {
      const store = new RemoteStore(remote, { jobs: 8 });
      const roots = [{ oid: root.oid, type: 'dir' as const, where: 'data', size: root.size }];
      const plan = await planPush(cache, store, roots);
      const res = await executePush(cache, store, plan, { jobs: 8 });
      expect(res.failed).toEqual([]);
      expect(res.missing).toEqual([]);
      const oids = log.map((k) => `sha256:${k.split('/').slice(-2).join('')}` as Oid);
      // every object once: 4 distinct blobs + 7 distinct trees (the two `shared` folders are one tree)
      expect(new Set(oids).size).toBe(oids.length);
      expect(oids).toHaveLength(11);
      const at = new Map(oids.map((x, i) => [x, i]));
      const below = (t: Oid): Oid[] => (children.get(t) ?? []).flatMap((c) => [c, ...below(c)]);
      for (const t of children.keys()) for (const c of below(t)) expect(at.get(c)!).toBeLessThan(at.get(t)!);
      expect(oids.at(-1)).toBe(root.oid);

      log.length = 0;
      const again = await executePush(cache, store, await planPush(cache, store, roots), { jobs: 8 });
      expect(again.transferred).toBe(0);
      expect(log).toEqual([]);
    } finally {
      await remote.close();
    }
  });

  it('a tree whose child is missing from the store is not sent (the remote never holds a tree without its subtree)', async () => {
    const cache = new MemoryStore();
    const children = new Map<Oid, Oid[]>();
    const root = await put(cache, { sub: { 'gone.csv': 'gone' }, 'ok.csv': 'ok' }, children);
    const sub = children.get(root.oid)!.find((c) => children.has(c))!;
    await cache.delete([{ oid: children.get(sub)![0]!, kind: 'blob' }]);
    const log: string[] = [];
    const dir = tempDir('trove-remote-');
    const remote = observed(openRemote('origin', dir), log, dir);
    try {
      const store = new RemoteStore(remote);
      const plan = await planPush(cache, store, [{ oid: root.oid, type: 'dir', where: 'data' }]);
      const res = await executePush(cache, store, plan, { jobs: 4 });
      expect(res.missing.map((m) => m.where)).toEqual(['data/sub/gone.csv']);
      expect(res.failed.map((f) => [f.where, f.code]).sort()).toEqual([['data', 'INCOMPLETE'], ['data/sub', 'INCOMPLETE']]);
      expect(log.map((k) => `sha256:${k.split('/').slice(-2).join('')}`)).toEqual([`sha256:${(await import('node:crypto')).createHash('sha256').update('ok').digest('hex')}`]);
    } finally {
      await remote.close();
    }
  });
});
