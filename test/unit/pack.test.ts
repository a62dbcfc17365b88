import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, chmodSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isTroveError } from '../../src/core/errors.js';
import { hashBytes, type Oid } from '../../src/core/oid.js';
import { ENTRY_HEADER_SIZE, PACK_HEADER_SIZE, PackReader, PackWriter, entryRange, scanPack, verifyEntryBytes } from '../../src/core/store/pack.js';
import { encodePackIndex, PackIndex, type PackIndexEntry } from '../../src/core/store/packIndex.js';
import { readAll, tempDir } from '../helpers/files.js';

/** Writes a pack of `bodies` (kind blob, or tree for every third) into dir; returns files and ids. */
async function makePack(dir: string, bodies: Buffer[]) {
  const file = path.join(dir, 'tmp.pack');
  const w = PackWriter.create(file);
  const oids: Oid[] = bodies.map((b, i) => w.add(i % 3 === 2 ? 'tree' : 'blob', b));
  const pack = await w.finish();
  const idx = encodePackIndex(pack.id, pack.size, pack.entries);
  const idxFile = path.join(dir, `${pack.id}.idx`);
  writeFileSync(idxFile, idx);
  return { file, idxFile, idx, pack, oids };
}

function expectIntegrity(fn: () => unknown, file: string) {
  try {
    fn();
  } catch (err) {
    expect(isTroveError(err, 'INTEGRITY')).toBe(true);
    expect((err as Error).message).toContain(file);
    return (err as Error).message;
  }
  throw new Error('expected an INTEGRITY error');
}

/** Re-signs a hand-edited index (recomputes the trailer), so the check under test is not the checksum. */
function resign(idx: Buffer): Buffer {
  const b = Buffer.from(idx);
  createHash('sha256').update(b.subarray(0, b.length - 32)).digest().copy(b, b.length - 32);
  return b;
}
const ENTRY0 = 56; // first index entry's byte offset
const ENTRY = 56;

describe('pack format', () => {
  it('round-trips objects: index finds each one, reads verify, kinds and the pack id are kept', async () => {
    const dir = await tempDir();
    const bodies = Array.from({ length: 200 }, (_, i) => randomBytes(i * 7));
    const { file, idx, pack, oids } = await makePack(dir, bodies);
    // the id is the SHA-256 of everything before the 48-byte trailer
    const bytes = readFileSync(file);
    expect(pack.size).toBe(bytes.length);
    expect(createHash('sha256').update(bytes.subarray(0, bytes.length - 48)).digest('hex')).toBe(pack.id);
    const index = PackIndex.parse(idx, 'x.idx');
    expect(index.count).toBe(200);
    expect(index.packId).toBe(pack.id);
    const r = PackReader.open(file, index);
    try {
      for (let i = 0; i < bodies.length; i++) {
        expect(oids[i]).toBe(hashBytes(bodies[i]));
        const e = index.find(oids[i])!;
        expect(e.kind).toBe(i % 3 === 2 ? 'tree' : 'blob');
        expect(r.readSync(e).equals(bodies[i])).toBe(true);
      }
      const big = index.find(oids[199])!;
      expect((await readAll(r.stream(big))).equals(bodies[199])).toBe(true);
      expect(index.find(hashBytes('not there'))).toBeUndefined();
      // entries come out sorted by oid, each once
      const listed = [...index.entries()].map((e) => e.oid);
      expect(listed).toEqual([...new Set(oids)].sort());
      expect(index.bodyBytes).toBe(bodies.reduce((n, b) => n + b.length, 0));
    } finally {
      r.close();
    }
  });

  it('stores an (oid, kind) added twice once; the same bytes under another kind are a second entry', async () => {
    const dir = await tempDir();
    const same = Buffer.from('same bytes');
    const file = path.join(dir, 'p.pack');
    const w = PackWriter.create(file);
    w.add('blob', same);
    w.add('blob', Buffer.from('other'));
    w.add('tree', same);
    w.add('blob', same);
    const pack = await w.finish();
    expect(pack.entries.map((e) => e.kind)).toEqual(['blob', 'blob', 'tree']);
    const index = PackIndex.parse(encodePackIndex(pack.id, pack.size, pack.entries), 'i');
    const r = PackReader.open(file, index);
    expect(index.find(hashBytes(same), 'tree')!.kind).toBe('tree');
    expect(r.readSync(index.find(hashBytes(same), 'blob')!).equals(same)).toBe(true);
    expect(r.readSync(index.find(hashBytes(same), 'tree')!).equals(same)).toBe(true);
    expect(index.find(hashBytes(same), 'chunk')).toBeUndefined();
    r.close();
  });

  it('addStream appends a verified stream; a wrong stream is rolled back and the pack stays valid', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'p.pack');
    const w = PackWriter.create(file);
    const a = randomBytes(3 << 20); // several 1 MiB chunks
    const oidA = hashBytes(a);
    w.add('blob', Buffer.from('first'));
    await w.addStream('chunk', oidA, a.length, Readable.from([a.subarray(0, 1000), a.subarray(1000)]));
    const good = randomBytes(5000);
    const bad = Buffer.from(good);
    bad[4000] ^= 1;
    const sizeBefore = w.bytes;
    await expect(w.addStream('blob', hashBytes(good), good.length, Readable.from([bad]))).rejects.toMatchObject({ code: 'INTEGRITY' });
    await expect(w.addStream('blob', hashBytes(good), good.length - 1, Readable.from([good]))).rejects.toMatchObject({ code: 'INTEGRITY' });
    await expect(w.addStream('blob', hashBytes(good), good.length + 1, Readable.from([good]))).rejects.toMatchObject({ code: 'INTEGRITY' });
    expect(w.bytes).toBe(sizeBefore);
    expect(() => w.add('blob', good, hashBytes(bad))).toThrow(expect.objectContaining({ code: 'INTEGRITY' }));
    w.add('tree', Buffer.from('last'));
    const pack = await w.finish();
    const scan = await scanPack(file);
    expect(scan.problem).toBeNull();
    expect(scan.trailerOk).toBe(true);
    expect(scan.id).toBe(pack.id);
    expect(scan.entries.map((e) => [e.kind, e.ok])).toEqual([['blob', true], ['chunk', true], ['tree', true]]);
    const index = PackIndex.parse(encodePackIndex(pack.id, pack.size, pack.entries), 'i');
    const r = PackReader.open(file, index);
    expect(r.readSync(index.find(oidA)!).equals(a)).toBe(true);
    r.close();
  });

  it('a byte range read (entry header + body) is checked against the index', async () => {
    const dir = await tempDir();
    const { file, idx, oids } = await makePack(dir, [Buffer.from('alpha'), Buffer.from('beta')]);
    const index = PackIndex.parse(idx, 'i');
    const e = index.find(oids[1])!;
    const { start, end } = entryRange(e);
    const bytes = readFileSync(file).subarray(start, end);
    expect(verifyEntryBytes(Buffer.from(bytes), e, 'remote/p.pack').toString()).toBe('beta');
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 1] ^= 1;
    expectIntegrity(() => verifyEntryBytes(flipped, e, 'remote/p.pack'), 'remote/p.pack');
    // the range of the other entry is refused for this one (header names another oid)
    const other = index.find(oids[0])!;
    const r2 = entryRange(other);
    expectIntegrity(() => verifyEntryBytes(readFileSync(file).subarray(r2.start, r2.end), { ...e, length: other.length }, 'remote/p.pack'), 'remote/p.pack');
    expectIntegrity(() => verifyEntryBytes(bytes.subarray(1), e, 'remote/p.pack'), 'remote/p.pack');
  });
});

describe('pack index refuses hostile bytes, naming the file', () => {
  async function sample() {
    const dir = await tempDir();
    return makePack(dir, Array.from({ length: 5 }, (_, i) => randomBytes(100 + i)));
  }
  const F = '/repo/.trove/cache/packs/ab.idx';

  it('truncated, padded, empty', async () => {
    const { idx } = await sample();
    expectIntegrity(() => PackIndex.parse(Buffer.alloc(0), F), F);
    expectIntegrity(() => PackIndex.parse(idx.subarray(0, idx.length - 1), F), F);
    expectIntegrity(() => PackIndex.parse(idx.subarray(0, 60), F), F);
    expectIntegrity(() => PackIndex.parse(resign(Buffer.concat([idx.subarray(0, idx.length - 32), Buffer.alloc(ENTRY), idx.subarray(idx.length - 32)])), F), F);
  });

  it('wrong magic, unknown version, bad checksum', async () => {
    const { idx } = await sample();
    const magic = Buffer.from(idx); magic[0] = 0x41;
    expect(expectIntegrity(() => PackIndex.parse(resign(magic), F), F)).toMatch(/magic/);
    const v2 = Buffer.from(idx); v2.writeUInt32BE(2, 8);
    expect(expectIntegrity(() => PackIndex.parse(resign(v2), F), F)).toMatch(/version 2/);
    const flipped = Buffer.from(idx); flipped[ENTRY0 + 40] ^= 1;
    expect(expectIntegrity(() => PackIndex.parse(flipped, F), F)).toMatch(/checksum/);
  });

  it('unsorted entries and an oid listed twice', async () => {
    const { idx } = await sample();
    const swapped = Buffer.from(idx);
    const e0 = Buffer.from(idx.subarray(ENTRY0, ENTRY0 + ENTRY));
    idx.copy(swapped, ENTRY0, ENTRY0 + ENTRY, ENTRY0 + 2 * ENTRY);
    e0.copy(swapped, ENTRY0 + ENTRY);
    expect(expectIntegrity(() => PackIndex.parse(resign(swapped), F), F)).toMatch(/sorted/);
    const twice = Buffer.from(idx);
    idx.copy(twice, ENTRY0 + ENTRY, ENTRY0, ENTRY0 + ENTRY);
    expect(expectIntegrity(() => PackIndex.parse(resign(twice), F), F)).toMatch(/sorted|twice/);
  });

  it('offsets out of range, overlapping entries, huge values, unknown kind, reserved bytes', async () => {
    const { idx, pack } = await sample();
    const set = (mut: (b: Buffer) => void) => { const b = Buffer.from(idx); mut(b); return resign(b); };
    // body before the pack header + entry header
    expectIntegrity(() => PackIndex.parse(set((b) => b.writeBigUInt64BE(BigInt(PACK_HEADER_SIZE), ENTRY0 + 32)), F), F);
    // body running into the trailer
    expectIntegrity(() => PackIndex.parse(set((b) => b.writeBigUInt64BE(BigInt(pack.size - 48), ENTRY0 + 32)), F), F);
    // a length past 2^53
    expectIntegrity(() => PackIndex.parse(set((b) => b.writeBigUInt64BE(2n ** 63n, ENTRY0 + 40)), F), F);
    // two entries claiming the same bytes
    const offsets = pack.entries.map((e) => e.offset).sort((a, b) => a - b);
    expect(expectIntegrity(() => PackIndex.parse(set((b) => {
      b.writeBigUInt64BE(BigInt(offsets[0]), ENTRY0 + 32);
      b.writeBigUInt64BE(BigInt(offsets[0]), ENTRY0 + ENTRY + 32);
    }), F), F)).toMatch(/overlap/);
    // an entry whose header would sit inside the previous body
    const sorted = [...pack.entries].sort((a, b) => a.offset - b.offset);
    const second = [...PackIndex.parse(idx, F).entries()].findIndex((e) => e.oid === sorted[1].oid);
    expect(expectIntegrity(() => PackIndex.parse(set((b) => b.writeBigUInt64BE(BigInt(sorted[1].offset - 1), ENTRY0 + second * ENTRY + 32)), F), F)).toMatch(/overlap/);
    expect(expectIntegrity(() => PackIndex.parse(set((b) => b.writeUInt8(9, ENTRY0 + 48)), F), F)).toMatch(/kind 9/);
    expect(expectIntegrity(() => PackIndex.parse(set((b) => b.writeUInt8(1, ENTRY0 + 50)), F), F)).toMatch(/reserved/);
    // a pack size too small to hold anything
    expectIntegrity(() => PackIndex.parse(set((b) => b.writeBigUInt64BE(10n, 48)), F), F);
  });
});

describe('pack file refuses hostile bytes, naming the file', () => {
  it('wrong magic, unknown version, truncation, a pack that is not the index\'s', async () => {
    const dir = await tempDir();
    const { file, idx } = await makePack(dir, [randomBytes(300), randomBytes(400)]);
    const index = PackIndex.parse(idx, 'i');
    const orig = readFileSync(file);
    const variant = (name: string, bytes: Buffer) => { const f = path.join(dir, name); writeFileSync(f, bytes); return f; };
    const m = Buffer.from(orig); m[1] = 0;
    const fm = variant('magic.pack', m);
    expect(expectIntegrity(() => PackReader.open(fm, index), fm)).toMatch(/magic/);
    const v = Buffer.from(orig); v.writeUInt32BE(7, 8);
    const fv = variant('v7.pack', v);
    expect(expectIntegrity(() => PackReader.open(fv, index), fv)).toMatch(/version 7/);
    await expect(scanPack(fv)).rejects.toMatchObject({ code: 'INTEGRITY' });
    const ft = variant('short.pack', orig.subarray(0, orig.length - 10));
    expectIntegrity(() => PackReader.open(ft, index), ft);
    const other = await makePack(await tempDir(), [randomBytes(300), randomBytes(400)]);
    // same size, different content: the trailer checksum is not the one the index names
    expectIntegrity(() => PackReader.open(other.file, index), other.file);
  });

  it('a flipped body byte: the read fails INTEGRITY, the stream errors, scanPack keeps the good objects', async () => {
    const dir = await tempDir();
    const bodies = [randomBytes(1000), randomBytes(2000), randomBytes(3000)];
    const { file, idx, oids } = await makePack(dir, bodies);
    const index = PackIndex.parse(idx, 'i');
    const e = index.find(oids[1])!;
    chmodSync(file, 0o644);
    const b = readFileSync(file);
    b[e.offset + 10] ^= 0xff;
    writeFileSync(file, b);
    const r = PackReader.open(file, index);
    try {
      expectIntegrity(() => r.readSync(e), file);
      await expect(readAll(r.stream(e))).rejects.toMatchObject({ code: 'INTEGRITY' });
      expect(r.readSync(index.find(oids[0])!).equals(bodies[0])).toBe(true);
      expect(r.readSync(index.find(oids[2])!).equals(bodies[2])).toBe(true);
    } finally {
      r.close();
    }
    const scan = await scanPack(file);
    expect(scan.entries.map((x) => x.ok)).toEqual([true, false, true]);
    expect(scan.trailerOk).toBe(false);
    expect(scan.problem).toMatch(/checksum/);
  });

  it('an index entry that names another object\'s kind is refused on read', async () => {
    const dir = await tempDir();
    const { file, pack } = await makePack(dir, [randomBytes(10), randomBytes(20)]);
    const lying: PackIndexEntry[] = pack.entries.map((e) => ({ ...e, kind: 'manifest' }));
    const index = PackIndex.parse(encodePackIndex(pack.id, pack.size, lying), 'i');
    const r = PackReader.open(file, index);
    expect(expectIntegrity(() => r.readSync(lying[0]), file)).toMatch(/does not match the index/);
    r.close();
  });

  it('scanPack of a pack cut short (a crash before the trailer) reports the whole entries before the cut', async () => {
    const dir = await tempDir();
    const bodies = [randomBytes(500), randomBytes(600), randomBytes(700)];
    const { file, pack } = await makePack(dir, bodies);
    chmodSync(file, 0o644);
    truncateSync(file, pack.size - 48); // no trailer
    let s = await scanPack(file);
    expect(s.entries.map((e) => e.ok)).toEqual([true, true, true]);
    expect(s.trailerOk).toBe(false);
    expect(s.problem).toMatch(/trailer/);
    truncateSync(file, pack.entries[2].offset + 100); // inside the last body
    s = await scanPack(file);
    expect(s.entries).toHaveLength(2);
    expect(s.problem).toMatch(/past the end/);
    truncateSync(file, pack.entries[1].offset - ENTRY_HEADER_SIZE + 5); // inside an entry header
    s = await scanPack(file);
    expect(s.entries.length).toBeLessThanOrEqual(1);
    expect(s.problem).not.toBeNull();
  });

  it('the writer refuses to overwrite an existing file', async () => {
    const dir = await tempDir();
    const f = path.join(dir, 'exists.pack');
    writeFileSync(f, 'x');
    expect(() => PackWriter.create(f)).toThrow(/EEXIST/);
    expect(readFileSync(f, 'utf8')).toBe('x');
  });
});
