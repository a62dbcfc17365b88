import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { hashBytes } from '../../src/core/oid.js';
import { LooseStore } from '../../src/core/store/loose.js';
import { PACK_MAX_OBJECT, PackedStore, packsOf } from '../../src/core/store/packed.js';
import { readAll, tempDir } from '../helpers/files.js';

async function stores() {
  const dir = await tempDir();
  const make = () => new PackedStore(new LooseStore(path.join(dir, 'cache'), path.join(dir, 'tmp')));
  return { dir, make };
}
const packNames = (dir: string) => (existsSync(path.join(dir, 'cache/packs')) ? readdirSync(path.join(dir, 'cache/packs')).sort() : []);

describe('PackedStore: packs in front of the loose store', () => {
  it('small objects go to packs, large ones stay loose; both read, verify and list with their kind', async () => {
    const { dir, make } = await stores();
    const s = make();
    const small = randomBytes(5000);
    const large = randomBytes(PACK_MAX_OBJECT + 1);
    writeFileSync(path.join(dir, 'small'), small);
    writeFileSync(path.join(dir, 'large'), large);
    const a = s.putFileSync(path.join(dir, 'small'), small.length, 'blob');
    const b = await s.putFile(path.join(dir, 'large'), 'blob');
    const t = await s.putBytes('{"version":1,"entries":[]}', 'tree');
    expect(a.stored && b.stored).toBe(true);
    expect(s.putFileSync(path.join(dir, 'small'), small.length, 'blob').stored).toBe(false);
    await s.syncToDisk();
    expect(packNames(dir).filter((n) => n.endsWith('.idx'))).toHaveLength(1);
    const r = make();
    expect(r.readSmall(a.oid, 'blob').equals(small)).toBe(true);
    expect((await readAll(await r.open(b.oid, 'blob'))).equals(large)).toBe(true);
    expect((await readAll(await r.open(a.oid, 'blob'))).equals(small)).toBe(true);
    expect(r.hasSync(t, 'tree')).toBe(true);
    expect(await r.has(t, 'blob')).toBe(false);
    expect(await r.verify(a.oid, 'blob')).toBe(true);
    expect(await r.stat(a.oid, 'blob')).toMatchObject({ size: 5000, kind: 'blob' });
    expect(await r.parts(a.oid, 'blob')).toEqual([{ oid: a.oid, kind: 'blob', size: 5000 }]);
    const listed = [];
    for await (const e of r.list()) listed.push(`${e.kind}:${e.oid}`);
    expect(listed.sort()).toEqual([`blob:${a.oid}`, `blob:${b.oid}`, `tree:${t}`].sort());
    // withFile hands out a temp copy of a packed object, gone afterwards
    let seen = '';
    await r.withFile(a.oid, 'blob', async (f, size) => {
      seen = f;
      expect(size).toBe(5000);
      expect(readFileSync(f).equals(small)).toBe(true);
    });
    expect(existsSync(seen)).toBe(false);
  });

  it('materialize: a packed object is copied whatever the mode; a large one is hardlinked', async () => {
    const { dir, make } = await stores();
    const s = make();
    const small = randomBytes(100);
    const large = randomBytes(PACK_MAX_OBJECT * 2);
    const a = await s.putBytes(small, 'blob');
    const b = await s.putBytes(large, 'blob');
    await s.syncToDisk();
    const ws = await tempDir();
    expect(await s.materialize(a, path.join(ws, 'a'), 'hardlink', false)).toBe('copy');
    expect(s.materializeSync(a, path.join(ws, 'a2'), 'symlink', true, true)).toBe('copy');
    expect(await s.materialize(b, path.join(ws, 'b'), 'hardlink', false)).toBe('hardlink');
    expect(readFileSync(path.join(ws, 'a')).equals(small)).toBe(true);
    expect(statSync(path.join(ws, 'a')).nlink).toBe(1);
    expect(statSync(path.join(ws, 'a2')).mode & 0o111).not.toBe(0);
    expect(statSync(path.join(ws, 'b')).nlink).toBe(2);
    expect(readdirSync(path.join(dir, 'tmp'))).toEqual([]);
  });

  it('putStream: a small download is packed, a large one loose, a wrong one refused with nothing stored', async () => {
    const { make } = await stores();
    const s = make();
    const small = randomBytes(3000);
    const large = randomBytes(PACK_MAX_OBJECT * 3);
    expect(await s.putStream(hashBytes(small), 'blob', Readable.from([small.subarray(0, 10), small.subarray(10)]), 'x')).toBe(3000);
    expect(await s.putStream(hashBytes(large), 'blob', Readable.from([large.subarray(0, 70000), large.subarray(70000)]), 'y')).toBe(large.length);
    await expect(s.putStream(hashBytes(large), 'blob', Readable.from([small]), 'z')).rejects.toMatchObject({ code: 'INTEGRITY' });
    await s.syncToDisk();
    const r = make();
    expect(r.readSmall(hashBytes(small), 'blob').equals(small)).toBe(true);
    expect(packsOf(r)!.has(hashBytes(large), 'blob')).toBe(false);
    expect((await readAll(await r.open(hashBytes(large), 'blob'))).equals(large)).toBe(true);
  });

  it('delete inside removals repacks once and moves the generation; quarantine keeps good objects', async () => {
    const { make } = await stores();
    const s = make();
    const bodies = Array.from({ length: 10 }, () => randomBytes(2000));
    const oids = await Promise.all(bodies.map((b) => s.putBytes(b, 'blob')));
    await s.syncToDisk();
    const g0 = s.generation();
    await s.removals(async () => {
      for (const oid of oids.slice(0, 5)) await s.delete([{ oid, kind: 'blob' }]);
    });
    expect(s.generation()).not.toBe(g0);
    const r = make();
    for (const oid of oids.slice(0, 5)) expect(await r.has(oid, 'blob')).toBe(false);
    for (const [i, oid] of oids.entries()) if (i >= 5) expect(r.readSmall(oid, 'blob').equals(bodies[i])).toBe(true);
    const g1 = r.generation();
    const q = await r.quarantine(oids[7], 'blob');
    expect(readFileSync(q).equals(bodies[7])).toBe(true);
    expect(r.generation()).not.toBe(g1);
    expect(await make().has(oids[7], 'blob')).toBe(false);
    expect(await make().has(oids[8], 'blob')).toBe(true);
  });

  it('a wave-2 loose store with loose small objects keeps working beside packs', async () => {
    const { dir } = await stores();
    const loose = new LooseStore(path.join(dir, 'cache'), path.join(dir, 'tmp'));
    const old = await loose.putBytes('written before packs existed', 'blob');
    const s = new PackedStore(new LooseStore(path.join(dir, 'cache'), path.join(dir, 'tmp')));
    expect(s.readSmall(old, 'blob').toString()).toBe('written before packs existed');
    expect(s.putFileSync.length).toBe(3);
    // the same bytes again are not packed a second time
    await s.putBytes('written before packs existed', 'blob');
    await s.syncToDisk();
    expect(packNames(dir)).toEqual([]);
  });
});
