import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { hashBytes } from '../../src/core/oid.js';
import { PackWriter, scanPack } from '../../src/core/store/pack.js';
import { OffloadedChecksum } from '../../src/core/store/packChecksum.js';
import { tempDir } from '../helpers/files.js';

/** The same objects through a writer with and without the worker-thread checksum. */
async function both(dir: string, fill: (w: PackWriter) => Promise<void> | void) {
  const out = [];
  for (const offload of [false, true]) {
    const file = path.join(dir, `${offload ? 'off' : 'in'}.pack`);
    const w = PackWriter.create(file, { offload });
    await fill(w);
    const pack = w.finishSync();
    const bytes = readFileSync(file);
    out.push({ file, pack, bytes });
  }
  return out;
}

describe('pack checksum on a worker thread', () => {
  it('a pack of many MiB written with offload has the same bytes and id as one hashed inline, and scans intact', async () => {
    const dir = await tempDir();
    const bodies = Array.from({ length: 700 }, (_, i) => randomBytes(16 << 10).fill(i & 255, 0, 4)); // ~11 MiB: several tells
    const [inline, off] = await both(dir, (w) => { for (const b of bodies) w.add('blob', b); });
    expect(off.bytes.equals(inline.bytes)).toBe(true);
    expect(off.pack.id).toBe(inline.pack.id);
    expect(createHash('sha256').update(off.bytes.subarray(0, off.bytes.length - 48)).digest('hex')).toBe(off.pack.id);
    const scan = await scanPack(off.file);
    expect(scan.problem).toBeNull();
    expect(scan.id).toBe(off.pack.id);
    expect(scan.entries).toHaveLength(700);
  });

  it('a small pack (never past the write buffer) and an empty one: the same id either way', async () => {
    const dir = await tempDir();
    const [a, b] = await both(dir, (w) => { w.add('blob', Buffer.from('one')); w.add('tree', Buffer.from('two')); });
    expect(b.pack.id).toBe(a.pack.id);
    const sub = path.join(dir, 'empty');
    mkdirSync(sub);
    const [c, d] = await both(sub, () => {});
    expect(d.pack.id).toBe(c.pack.id);
    expect(d.pack.entries).toEqual([]);
  });

  it('addStream and its rollback after the checksum went to the worker: taken back inline, the id is still right', async () => {
    const dir = await tempDir();
    const big = randomBytes(3 << 20);
    const good = randomBytes(5000);
    const bad = Buffer.from(good);
    bad[10] ^= 1;
    const [inline, off] = await both(dir, async (w) => {
      w.add('blob', big); // past the 1 MiB buffer: the offloaded writer has handed its checksum to the worker
      await expect(w.addStream('blob', hashBytes(good), good.length, Readable.from([bad]))).rejects.toMatchObject({ code: 'INTEGRITY' });
      await w.addStream('blob', hashBytes(good), good.length, Readable.from([good]));
      w.add('blob', randomBytes(2 << 20).fill(7)); // and on inline after it
    });
    expect(off.bytes.equals(inline.bytes)).toBe(true);
    expect(off.pack.id).toBe(inline.pack.id);
    expect((await scanPack(off.file)).problem).toBeNull();
  });

  it('digestSync is the SHA-256 of the file\'s first bytes; a file that is not there gives null (the writer then hashes itself)', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'f');
    const data = randomBytes(9 << 20);
    writeFileSync(file, data);
    const c = OffloadedChecksum.start(file)!;
    expect(c).not.toBeNull();
    c.wrote(5 << 20);
    expect(c.digestSync(8 << 20)!.toString('hex')).toBe(createHash('sha256').update(data.subarray(0, 8 << 20)).digest('hex'));
    expect(c.digestSync(8 << 20)).toBeNull(); // asked twice: over
    const gone = OffloadedChecksum.start(path.join(dir, 'missing'))!;
    expect(gone.digestSync(10)).toBeNull();
    // a file past its end: a short read is an error, not a wrong digest
    const short = OffloadedChecksum.start(file)!;
    expect(short.digestSync(data.length + 1)).toBeNull();
    // dropped: the worker closes its descriptor (the file can be removed; no answer is waited for)
    const dropped = OffloadedChecksum.start(file)!;
    dropped.drop();
    expect(dropped.digestSync(10)).toBeNull();
    expect(existsSync(file)).toBe(true);
  });
});

