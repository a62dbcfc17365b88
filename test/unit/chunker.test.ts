import { createCipheriv, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chunkLengths, Cutter, DEFAULT_CHUNKING, gearTable, validateParams, type ChunkerParams } from '../../src/core/store/chunker.js';
import { isTroveError } from '../../src/core/errors.js';

/** Deterministic pseudo-random bytes: AES-256-CTR of zeros under a key derived from `seed`. */
function prng(seed: string, n: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

const SMALL: ChunkerParams = { minSize: 2 << 10, avgSize: 8 << 10, maxSize: 32 << 10 };

/** chunk hashes in order */
function chunkIds(buf: Buffer, p: ChunkerParams): string[] {
  const ids: string[] = [];
  let off = 0;
  for (const n of chunkLengths(buf, p)) {
    ids.push(createHash('sha256').update(buf.subarray(off, off + n)).digest('hex'));
    off += n;
  }
  return ids;
}

describe('chunker (FastCDC)', () => {
  it('gear table is derived as documented: SHA-256("trove gear v1 <i>"), first 4 bytes big-endian', () => {
    for (const i of [0, 1, 127, 255]) {
      expect(gearTable()[i]).toBe(createHash('sha256').update(`trove gear v1 ${i}`).digest().readUInt32BE(0));
    }
    expect(new Set(gearTable()).size).toBe(256);
  });

  it('is deterministic and covers the input exactly', () => {
    const buf = prng('det', 1 << 20);
    const a = chunkLengths(buf, SMALL);
    const b = chunkLengths(Buffer.from(buf), SMALL);
    expect(a).toEqual(b);
    expect(a.reduce((s, n) => s + n, 0)).toBe(buf.length);
    expect(a.length).toBeGreaterThan(20);
  });

  it('respects min and max (all but the last chunk ≥ min, every chunk ≤ max), also on data with no cut points', () => {
    for (const buf of [prng('minmax', 1 << 20), Buffer.alloc(1 << 20), Buffer.alloc(1 << 20, 0xff)]) {
      const ls = chunkLengths(buf, SMALL);
      for (const n of ls.slice(0, -1)) expect(n).toBeGreaterThanOrEqual(SMALL.minSize);
      for (const n of ls) expect(n).toBeLessThanOrEqual(SMALL.maxSize);
      expect(ls.reduce((s, n) => s + n, 0)).toBe(buf.length);
    }
    // zeros have no content to cut on: every chunk is exactly max (or a fixed cut), never below min
    const zeros = chunkLengths(Buffer.alloc(SMALL.maxSize * 4), SMALL);
    expect(new Set(zeros.slice(0, -1)).size).toBe(1);
  });

  it('normalized chunking keeps the mean near avg on random data', () => {
    const buf = prng('mean', 4 << 20);
    const ls = chunkLengths(buf, SMALL);
    const mean = buf.length / ls.length;
    expect(mean).toBeGreaterThan(SMALL.avgSize * 0.75);
    expect(mean).toBeLessThan(SMALL.avgSize * 1.5);
  });

  it('an insertion in the middle changes only the chunks near the edit', () => {
    const a = prng('insert', 2 << 20);
    const at = 1 << 20;
    const b = Buffer.concat([a.subarray(0, at), prng('inserted', 1000), a.subarray(at)]);
    const ia = chunkIds(a, SMALL);
    const ib = chunkIds(b, SMALL);
    const old = new Set(ia);
    const fresh = ib.filter((h) => !old.has(h));
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh.length).toBeLessThanOrEqual(3);
    // the chunks before the edit and after it are the same, in the same order
    let prefix = 0;
    while (ia[prefix] === ib[prefix]) prefix++;
    let suffix = 0;
    while (ia[ia.length - 1 - suffix] === ib[ib.length - 1 - suffix]) suffix++;
    expect(prefix + suffix).toBeGreaterThanOrEqual(ia.length - 3);
    // the same for a deletion
    const c = Buffer.concat([a.subarray(0, at), a.subarray(at + 5000)]);
    expect(chunkIds(c, SMALL).filter((h) => !old.has(h)).length).toBeLessThanOrEqual(3);
  });

  it('an append changes only the tail: every chunk but the old last one is kept', () => {
    const a = prng('append', 2 << 20);
    const b = Buffer.concat([a, prng('tail', 300 << 10)]);
    const ia = chunkIds(a, SMALL);
    const ib = chunkIds(b, SMALL);
    expect(ib.slice(0, ia.length - 1)).toEqual(ia.slice(0, -1));
    // the appended bytes end up in new chunks whose total is about the appended size
    const old = new Set(ia);
    const lens = chunkLengths(b, SMALL);
    const freshBytes = ib.reduce((s, h, i) => s + (old.has(h) ? 0 : lens[i]), 0);
    expect(freshBytes).toBeLessThanOrEqual((300 << 10) + 2 * SMALL.maxSize);
  });

  it('Cutter fed in pieces of any size makes the same cuts as over the whole buffer', () => {
    const p: ChunkerParams = { minSize: 1 << 10, avgSize: 4 << 10, maxSize: 8 << 10 };
    const buf = prng('pieces', (1 << 20) + 12345);
    const whole = chunkLengths(buf, p);
    for (const pieceSize of [1, 7, 1000, 4096, 65536 + 3]) {
      const cutter = new Cutter(p);
      const got: number[] = [];
      let cur = 0;
      for (let off = 0; off < buf.length; off += pieceSize) {
        const end = Math.min(buf.length, off + pieceSize);
        let i = off;
        while (i < end) {
          const e = cutter.scan(buf, i, end);
          if (e < 0) {
            cur += end - i;
            break;
          }
          got.push(cur + e - i);
          cur = 0;
          i = e;
        }
      }
      expect(cutter.pending).toBe(cur);
      if (cur > 0) got.push(cur);
      expect(got).toEqual(whole);
    }
    // min === max: fixed-size chunks
    expect(chunkLengths(buf.subarray(0, 10_000), { minSize: 4096, avgSize: 4096, maxSize: 4096 })).toEqual([4096, 4096, 1808]);
    expect(chunkLengths(Buffer.alloc(0))).toEqual([]);
  });

  it('the default parameters are valid and cut a real file (stable cut points: the table and masks are a format)', () => {
    expect(() => validateParams(DEFAULT_CHUNKING)).not.toThrow();
    const buf = prng('stable', 16 << 20);
    const ls = chunkLengths(buf, DEFAULT_CHUNKING);
    for (const n of ls.slice(0, -1)) expect(n).toBeGreaterThanOrEqual(DEFAULT_CHUNKING.minSize);
    // Pinned: if this changes, files added before no longer dedup against files added after.
    expect(createHash('sha256').update(ls.join(',')).digest('hex').slice(0, 16)).toBe(PINNED_DEFAULT_CUTS);
  });

  it('refuses bad parameters with CONFIG', () => {
    for (const p of [
      { minSize: 1024, avgSize: 3000, maxSize: 8192 },
      { minSize: 8192, avgSize: 4096, maxSize: 16384 },
      { minSize: 1024, avgSize: 4096, maxSize: 2048 },
      { minSize: 0, avgSize: 4096, maxSize: 8192 },
      { minSize: 1024, avgSize: 4096, maxSize: 1 << 30 },
    ]) {
      let err: unknown;
      try { validateParams(p); } catch (e) { err = e; }
      expect(isTroveError(err, 'CONFIG')).toBe(true);
    }
  });
});

const PINNED_DEFAULT_CUTS = '45f34a86e7d4a5c2';
