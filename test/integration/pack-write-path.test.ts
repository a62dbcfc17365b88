/**
 * The write path `add` takes for small files: files read straight into the pending pack's buffer
 * (PackedObjects.putFile), full packs sealed with their fsync on the thread pool (sealLater), and the
 * pack index encoder. Real files in a temp dir.
 */
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hashBytes, hexOf, type Oid } from '../../src/core/oid.js';
import { LooseStore } from '../../src/core/store/loose.js';
import { kindCode, scanPack, type PackIndexEntry } from '../../src/core/store/pack.js';
import { PackedObjects, PackedStore } from '../../src/core/store/packed.js';
import { encodePackIndex, PackIndex } from '../../src/core/store/packIndex.js';
import { tempDir } from '../helpers/files.js';

const packFiles = (dir: string, ext: string) => readdirSync(path.join(dir, 'cache/packs')).filter((n) => n.endsWith(ext)).sort();

async function files(n: number, size: number): Promise<{ dir: string; list: { file: string; body: Buffer }[] }> {
  const dir = await tempDir();
  const list = Array.from({ length: n }, (_, i) => {
    const body = randomBytes(size);
    const file = path.join(dir, `f${i}.bin`);
    writeFileSync(file, body);
    return { file, body };
  });
  return { dir, list };
}

describe('add write path: files into the pack buffer, fsync on the thread pool', () => {
  it('putFile stores each file once under its sha256, readable at once; a duplicate or a loose copy is not stored again', async () => {
    const { dir, list } = await files(40, 3000);
    const p = new PackedObjects(path.join(dir, 'cache'), path.join(dir, 'tmp'));
    for (const { file, body } of list) {
      const r = p.putFile(file, body.length, 'blob', () => false)!;
      const st = statSync(file);
      // with the file's stat as read through its descriptor (add's "changed while read?" check)
      expect(r).toEqual({ oid: hashBytes(body), size: body.length, stored: true, after: expect.objectContaining({ size: body.length, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino }) });
      expect(p.read(r.oid, 'blob').equals(body)).toBe(true);
    }
    // the same content again (and a file the store holds elsewhere): nothing new
    expect(p.putFile(list[5].file, 3000, 'blob', () => false)!.stored).toBe(false);
    const other = path.join(dir, 'other.bin');
    writeFileSync(other, randomBytes(10));
    const r = p.putFile(other, 10, 'blob', () => true)!;
    expect(r.stored).toBe(false);
    await p.seal();
    const again = new PackedObjects(path.join(dir, 'cache'), path.join(dir, 'tmp'));
    for (const { body } of list) expect(again.read(hashBytes(body), 'blob').equals(body)).toBe(true);
    expect(again.has(r.oid, 'blob')).toBe(false);
    // the pack is what a scan of it says: every entry sound, id = checksum
    const [pack] = packFiles(dir, '.pack');
    const scan = await scanPack(path.join(dir, 'cache/packs', pack));
    expect(scan.problem).toBeNull();
    expect(scan.entries.length).toBe(40);
    expect(`${scan.id}.pack`).toBe(pack);
  });

  it('a file that grew since it was listed is refused by putFile (null) and stored whole by PackedStore; an empty file is an object', async () => {
    const { dir, list } = await files(2, 1000);
    const p = new PackedObjects(path.join(dir, 'cache'), path.join(dir, 'tmp'));
    appendFileSync(list[0].file, Buffer.from('more'));
    expect(p.putFile(list[0].file, 1000, 'blob', () => false)).toBeNull();
    const empty = path.join(dir, 'empty');
    writeFileSync(empty, '');
    expect(p.putFile(empty, 0, 'blob', () => false)).toMatchObject({ oid: hashBytes(Buffer.alloc(0)), size: 0, stored: true });
    // a file that shrank: its bytes as they are now
    writeFileSync(list[1].file, list[1].body.subarray(0, 10));
    expect(p.putFile(list[1].file, 1000, 'blob', () => false)).toMatchObject({ oid: hashBytes(list[1].body.subarray(0, 10)), size: 10, stored: true });
    await p.seal();

    const store = new PackedStore(new LooseStore(path.join(dir, 'c2'), path.join(dir, 't2')));
    const grown = readFileSync(list[0].file);
    const r = store.putFileSync(list[0].file, 1000, 'blob');
    expect(r).toMatchObject({ oid: hashBytes(grown), size: 1004, stored: true });
    expect(store.readSmall(r.oid, 'blob').equals(grown)).toBe(true);
    await store.syncToDisk();
  });

  it('full packs are sealed while adding goes on: their objects stay readable, seal() installs every pack with its index', async () => {
    const { dir, list } = await files(60, 4000);
    const p = new PackedObjects(path.join(dir, 'cache'), path.join(dir, 'tmp'), 20_000); // ~5 objects a pack
    const oids: Oid[] = [];
    for (const { file, body } of list) {
      oids.push(p.putFile(file, body.length, 'blob', () => false)!.oid);
      // every object so far is found and read, whether its pack is pending, sealing or installed
      const j = Math.floor(Math.random() * oids.length);
      expect(p.read(oids[j], 'blob').equals(list[j].body)).toBe(true);
    }
    expect(p.putFile(list[0].file, 4000, 'blob', () => false)!.stored).toBe(false); // found while its pack may still be sealing
    await p.seal();
    const packs = packFiles(dir, '.pack');
    expect(packs.length).toBeGreaterThanOrEqual(10);
    expect(packFiles(dir, '.idx').map((n) => n.replace('.idx', ''))).toEqual(packs.map((n) => n.replace('.pack', '')));
    expect(readdirSync(path.join(dir, 'tmp'))).toEqual([]); // no temp pack left behind
    const fresh = new PackedObjects(path.join(dir, 'cache'), path.join(dir, 'tmp'));
    oids.forEach((oid, i) => expect(fresh.read(oid, 'blob').equals(list[i].body)).toBe(true));
    expect([...fresh.list()].length).toBe(60);
  });

  it('sealSync right after a pack was sealed in the background makes it durable and installed at once', async () => {
    const { dir, list } = await files(12, 5000);
    const p = new PackedObjects(path.join(dir, 'cache'), path.join(dir, 'tmp'), 9000);
    for (const { file, body } of list) p.putFile(file, body.length, 'blob', () => false);
    p.sealSync(); // no await: the background fsyncs may still be under way
    expect(packFiles(dir, '.idx').length).toBe(packFiles(dir, '.pack').length);
    const fresh = new PackedObjects(path.join(dir, 'cache'), path.join(dir, 'tmp'));
    for (const { body } of list) expect(fresh.read(hashBytes(body), 'blob').equals(body)).toBe(true);
    await new Promise((r) => setTimeout(r, 50)); // the late fsync callbacks find their packs installed
    expect(readdirSync(path.join(dir, 'tmp'))).toEqual([]);
    expect(packFiles(dir, '.pack').length).toBe(packFiles(dir, '.idx').length);
  });
});

describe('background installs racing the synchronous barrier', () => {
  it('sealSync at any point of a background install leaves every pack once, indexed, and nothing in tmp', async () => {
    for (const ticks of [0, 1, 2, 4, 8, 16]) {
      const { dir, list } = await files(10, 5000);
      const p = new PackedObjects(path.join(dir, 'cache'), path.join(dir, 'tmp'), 9000);
      for (const { file, body } of list) p.putFile(file, body.length, 'blob', () => false);
      for (let i = 0; i < ticks; i++) await new Promise((r) => setImmediate(r)); // let some fsyncs, renames, index writes through
      p.sealSync();
      await p.seal(); // and the late background steps finish on already installed packs
      const packs = packFiles(dir, '.pack');
      expect(packs.length).toBe(5);
      expect(packFiles(dir, '.idx').map((n) => n.replace('.idx', ''))).toEqual(packs.map((n) => n.replace('.pack', '')));
      expect(readdirSync(path.join(dir, 'tmp'))).toEqual([]);
      const fresh = new PackedObjects(path.join(dir, 'cache'), path.join(dir, 'tmp'));
      expect([...fresh.list()].length).toBe(10);
      for (const { body } of list) expect(fresh.read(hashBytes(body), 'blob').equals(body)).toBe(true);
      expect((await fresh.checkPacks()).problems).toEqual([]);
    }
  });
});

describe('pack index encoder', () => {
  /** The index as the format defines it, built the plain way (sort by raw key bytes, BigInt fields). */
  function reference(packId: string, packSize: number, entries: PackIndexEntry[]): Buffer {
    const keyed = entries.map((e) => ({ e, key: Buffer.concat([Buffer.from(hexOf(e.oid), 'hex'), Buffer.of(kindCode(e.kind))]) }));
    keyed.sort((a, b) => Buffer.compare(a.key, b.key));
    const buf = Buffer.alloc(56 + keyed.length * 56 + 32);
    Buffer.from('TROVPIDX').copy(buf, 0);
    buf.writeUInt32BE(1, 8);
    buf.writeUInt32BE(keyed.length, 12);
    Buffer.from(packId, 'hex').copy(buf, 16);
    buf.writeBigUInt64BE(BigInt(packSize), 48);
    keyed.forEach(({ e, key }, i) => {
      const at = 56 + i * 56;
      key.copy(buf, at, 0, 32);
      buf.writeBigUInt64BE(BigInt(e.offset), at + 32);
      buf.writeBigUInt64BE(BigInt(e.length), at + 40);
      buf[at + 48] = key[32];
    });
    createHash('sha256').update(buf.subarray(0, buf.length - 32)).digest().copy(buf, buf.length - 32);
    return buf;
  }

  it('writes the same bytes as the format defines: order by (oid, kind), offsets past 4 GiB, one oid under two kinds', () => {
    const shared = hashBytes(randomBytes(8));
    const entries: PackIndexEntry[] = [
      ...Array.from({ length: 300 }, (_, i) => ({ oid: hashBytes(randomBytes(16)), kind: (['blob', 'tree', 'chunk', 'manifest'] as const)[i % 4], offset: 57 + i * 1000, length: 900 })),
      { oid: shared, kind: 'tree', offset: 5 * 2 ** 32 + 7, length: 2 ** 33 + 3 },
      { oid: shared, kind: 'blob', offset: 400_000, length: 10 },
    ];
    const id = randomBytes(32).toString('hex');
    const got = encodePackIndex(id, 2 ** 36, entries);
    expect(got.equals(reference(id, 2 ** 36, entries))).toBe(true);
    const idx = PackIndex.parse(encodePackIndex(id, 2 ** 40, entries.slice(0, 300)), 'x.idx');
    expect(idx.find(entries[7].oid, entries[7].kind)).toEqual(entries[7]);
    expect(() => encodePackIndex(id, 10, [entries[0], { ...entries[0] }])).toThrow(TypeError);
    expect(() => encodePackIndex(id, 10, [{ ...entries[0], oid: 'sha256:zz' as Oid }])).toThrow(TypeError);
  });
});
