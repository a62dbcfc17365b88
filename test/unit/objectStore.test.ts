/**
 * The ObjectStore contract, for both implementations: the loose store on a real temp dir and the
 * Map-backed one. Kinds are separate namespaces, reads verify, a bad download inserts nothing.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { hashBytes } from '../../src/core/oid.js';
import { LooseStore } from '../../src/core/store/loose.js';
import { ChunkedStore } from '../../src/core/store/chunked.js';
import { MemoryStore } from '../../src/core/store/memory.js';
import type { ObjectStore } from '../../src/core/store/objectStore.js';
import { objectFile } from '../helpers/cacheLayout.js';
import { tempDir } from '../helpers/repo.js';

const makers: [string, () => { store: ObjectStore; rot: (oid: string, kind: 'blob' | 'tree') => void }][] = [
  ['loose', () => {
    const dir = tempDir();
    const store = new LooseStore(path.join(dir, 'cache'), path.join(dir, 'tmp'));
    return { store, rot: (oid, kind) => { const f = objectFile(store.dir, oid, kind); chmodSync(f, 0o644); writeFileSync(f, 'rotten'); } };
  }],
  ['chunked (every putFile chunked)', () => {
    const dir = tempDir();
    const store = new ChunkedStore(new LooseStore(path.join(dir, 'cache'), path.join(dir, 'tmp')), { threshold: 1, params: { minSize: 64, avgSize: 256, maxSize: 1024 } });
    const rot = (oid: string, kind: 'blob' | 'tree') => {
      const hex = oid.slice(7);
      const manifest = path.join(store.dir, 'manifests/sha256', hex.slice(0, 2), hex.slice(2));
      const files = existsSync(manifest) && kind === 'blob'
        ? (JSON.parse(readFileSync(manifest, 'utf8')).chunks as [string, number][]).map(([c]) => path.join(store.dir, 'chunks/sha256', c.slice(7, 9), c.slice(9)))
        : [objectFile(store.dir, oid, kind)];
      for (const f of files) { chmodSync(f, 0o644); writeFileSync(f, 'rotten'); }
    };
    return { store, rot };
  }],
  ['memory', () => {
    const store = new MemoryStore();
    return { store, rot: (oid, kind) => store.insertRaw(oid as never, kind, 'rotten') };
  }],
];

const drain = async (r: Readable) => {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts).toString();
};

describe.each(makers)('ObjectStore contract: %s', (_name, make) => {
  it('keeps kinds apart: the same bytes as a blob and as a tree are two objects', async () => {
    const { store } = make();
    const oid = await store.putBytes('{"version":1,"entries":[]}', 'tree');
    expect(await store.has(oid, 'tree')).toBe(true);
    expect(await store.has(oid, 'blob')).toBe(false);
    expect(() => store.readSmall(oid, 'blob')).toThrow(expect.objectContaining({ code: 'MISSING_OBJECT' }));
    await store.putBytes('{"version":1,"entries":[]}', 'blob');
    const listed = [];
    for await (const e of store.list()) listed.push(`${e.kind}:${e.size}`);
    expect(listed.sort()).toEqual(['blob:26', 'tree:26']);
    await store.delete([{ oid, kind: 'tree' }]);
    expect(store.hasSync(oid, 'tree')).toBe(false);
    expect(store.readSmall(oid, 'blob').toString()).toBe('{"version":1,"entries":[]}');
  });

  it('reads verify: readSmall, open and verify notice rotten bytes', async () => {
    const { store, rot } = make();
    const oid = await store.putBytes('good bytes\n', 'blob');
    expect(await drain(await store.open(oid, 'blob'))).toBe('good bytes\n');
    rot(oid, 'blob');
    expect(await store.verify(oid, 'blob')).toBe(false);
    expect(() => store.readSmall(oid, 'blob', 'data/x')).toThrow(expect.objectContaining({ code: 'INTEGRITY' }));
    await expect(drain(await store.open(oid, 'blob', 'data/x'))).rejects.toMatchObject({ code: 'INTEGRITY' });
  });

  it('putStream inserts only bytes that hash to the expected oid', async () => {
    const { store } = make();
    const want = hashBytes('the real thing');
    await expect(store.putStream(want, 'blob', Readable.from([Buffer.from('an impostor')]), 'from remote')).rejects.toMatchObject({ code: 'INTEGRITY' });
    expect(store.hasSync(want, 'blob')).toBe(false);
    expect(await store.countTemp()).toBe(0);
    expect(await store.putStream(want, 'blob', Readable.from([Buffer.from('the real '), Buffer.from('thing')]), 'from remote')).toBe(14);
    expect(store.readSmall(want, 'blob').toString()).toBe('the real thing');
  });

  it('materializes a blob as a file, and withFile gives a readable copy only for the call', async () => {
    const { store } = make();
    const oid = await store.putBytes('payload', 'blob');
    const dest = path.join(tempDir(), 'out.txt');
    expect(await store.materialize(oid, dest, 'copy', false)).toBe('copy');
    expect(readFileSync(dest, 'utf8')).toBe('payload');
    const seen = await store.withFile(oid, 'blob', async (f, size) => [readFileSync(f, 'utf8'), size] as const);
    expect(seen).toEqual(['payload', 7]);
    await expect(store.withFile(hashBytes('absent'), 'blob', async () => 1)).rejects.toMatchObject({ code: 'MISSING_OBJECT' });
    expect(existsSync(dest)).toBe(true);
  });

  it('the generation changes when an object leaves', async () => {
    const { store } = make();
    const oid = await store.putBytes('x', 'blob');
    const g = store.generation();
    await store.delete([{ oid, kind: 'blob' }]);
    expect(store.generation()).not.toBe(g);
  });
});
