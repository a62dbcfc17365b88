import { createCipheriv, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chunkLengths, DEFAULT_CHUNKING, gearTable, type ChunkerParams } from '../../src/core/store/chunker.js';
import { DATA_START, gearMemory, WasmCutter } from '../../src/core/store/gearWasm.js';

function prng(seed: string, n: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

/** Chunk lengths from a WasmCutter fed `data` (placed in the memory) in pieces of the sizes `pieces` yields. */
function wasmLengths(data: Buffer, p: ChunkerParams, pieces: () => number, asOffsets: boolean): number[] {
  const mem = gearMemory(data.length);
  if (!mem) throw new Error('no WebAssembly here');
  Buffer.from(mem.buffer, DATA_START, data.length).set(data);
  const cutter = new WasmCutter(mem, p);
  const out: number[] = [];
  let chunkStart = 0;
  for (let off = 0; off < data.length;) {
    const n = Math.min(pieces(), data.length - off);
    // two ways to name the same piece: base at the piece (indices 0..n) or at the data (indices off..off+n)
    const base = asOffsets ? DATA_START : DATA_START + off;
    const shift = asOffsets ? 0 : off;
    let i = off - shift;
    const end = off + n - shift;
    while (i < end) {
      const cut = cutter.scan(base, i, end);
      if (cut < 0) break;
      out.push(cut + shift - chunkStart);
      chunkStart = cut + shift;
      i = cut;
    }
    off += n;
  }
  if (cutter.pending > 0) out.push(cutter.pending);
  expect(out.reduce((s, x) => s + x, 0)).toBe(data.length);
  return out;
}

describe('WebAssembly gear pass', () => {
  it('holds the same gear table as chunker.ts', () => {
    const mem = gearMemory(1);
    expect(mem).not.toBeNull();
    const t = new DataView(mem!.buffer, 0, 1024);
    for (let i = 0; i < 256; i++) expect(t.getUint32(i * 4, true)).toBe(gearTable()[i]);
  });

  const cases: [string, ChunkerParams][] = [
    ['default', DEFAULT_CHUNKING],
    ['small', { minSize: 64, avgSize: 256, maxSize: 1024 }],
    ['min = avg', { minSize: 4096, avgSize: 4096, maxSize: 16384 }],
    ['min = max', { minSize: 2048, avgSize: 2048, maxSize: 2048 }],
    ['avg = max', { minSize: 1024, avgSize: 8192, maxSize: 8192 }],
  ];
  for (const [name, p] of cases) {
    it(`cuts exactly where Cutter cuts, in any piece sizes (${name} parameters)`, () => {
      const size = p === DEFAULT_CHUNKING ? 24 << 20 : 3 << 20;
      const data = prng(name, size + 4321);
      const want = chunkLengths(data, p);
      expect(want.length).toBeGreaterThan(4);
      let seed = 7;
      const random = () => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return 1 + (seed % (p.maxSize * 2));
      };
      expect(wasmLengths(data, p, () => data.length, false)).toEqual(want);
      expect(wasmLengths(data, p, () => 1 << 20, false)).toEqual(want);
      expect(wasmLengths(data, p, random, false)).toEqual(want);
      expect(wasmLengths(data, p, random, true)).toEqual(want);
      if (p !== DEFAULT_CHUNKING) expect(wasmLengths(data, p, () => 1, false)).toEqual(want); // a byte at a time
    });
  }
});
