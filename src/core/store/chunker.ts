/**
 * Content-defined chunking (FastCDC): splits a byte stream where its content says so, not at fixed
 * offsets, so an insertion or an append changes only the chunks around the edit and every other chunk
 * keeps its bytes (and so its oid) from one version of a file to the next.
 *
 * The algorithm, as described by Xia et al. (FastCDC, USENIX ATC 2016), written here from the paper:
 *  1. A gear hash rolls over the bytes: `h = (h << 1) + GEAR[byte]` (32-bit). After a shift by one per
 *     byte, bit k of `h` depends on the last k+1 bytes only, so the high bits see a window of up to 32
 *     bytes; the masks below therefore test high bits.
 *  2. Cut-point skipping: no cut is looked for in the first `minSize` bytes of a chunk (they are not
 *     even hashed: a chunk never ends there).
 *  3. Normalized chunking: between `minSize` and `avgSize` a cut needs `bits + 2` zero bits (`maskS`,
 *     harder), from `avgSize` to `maxSize` only `bits - 2` (`maskL`, easier), where `avgSize = 2^bits`.
 *     This squeezes chunk sizes towards the average (fewer tiny and fewer huge chunks than one mask).
 *  4. At `maxSize` the chunk ends whatever the hash says; the last chunk of a stream ends at its end.
 * A cut depends only on the bytes since the chunk's start, so after an edit the chunker falls back into
 * step with the old boundaries at the first cut point past the edit whose window the edit did not touch.
 *
 * Memory: the `Cutter` holds two numbers; callers feed it the pieces they read anyway.
 */
import { createHash } from 'node:crypto';
import { TroveError } from '../errors.js';

export interface ChunkerParams {
  /** no chunk (but a stream's last) is shorter */
  minSize: number;
  /** the target average; a power of two between 64 KiB and 16 MiB */
  avgSize: number;
  /** no chunk is longer */
  maxSize: number;
}

/**
 * trove's chunking parameters. Changing them changes where files are cut (old chunks stay valid and
 * readable, since a manifest lists them; only dedup against old versions is lost), so they are a
 * format decision: see the measurements in docs/design.md ("Chunks").
 */
export const DEFAULT_CHUNKING: Readonly<ChunkerParams> = Object.freeze({
  minSize: 256 << 10,
  avgSize: 1 << 20,
  maxSize: 4 << 20,
});

/**
 * The gear table: 256 pseudo-random 32-bit values, one per byte value. Generated, not typed in:
 * entry i is the first 4 bytes (big-endian) of SHA-256("trove gear v1 " + i). Anyone can re-derive it,
 * and it must never change: the table decides where every file is cut.
 */
let gear: Uint32Array | undefined;
let gear32: Int32Array | undefined;

/** The gear table, derived on first use (256 SHA-256s: not paid by commands that never chunk, like status). */
export function gearTable(): Uint32Array {
  if (!gear) {
    gear = new Uint32Array(256);
    for (let i = 0; i < 256; i++) gear[i] = createHash('sha256').update(`trove gear v1 ${i}`).digest().readUInt32BE(0);
  }
  return gear;
}

/** The gear table as int32 (the loop works in int32 so that V8 keeps `h` a small integer). */
function gearTable32(): Int32Array {
  return (gear32 ??= new Int32Array(gearTable().buffer));
}

/** `n` set bits at the top of a 32-bit word, as an int32. */
function topBits(n: number): number {
  return n >= 32 ? -1 : ((0xffffffff << (32 - n)) | 0);
}

/** Checks chunker parameters; a bad set is a programming or config error, refused before any I/O. */
export function validateParams(p: ChunkerParams): { maskS: number; maskL: number } {
  const { minSize, avgSize, maxSize } = p;
  const bits = Math.log2(avgSize);
  const ok = Number.isInteger(minSize) && Number.isInteger(maxSize) && Number.isInteger(bits)
    && bits >= 6 && bits <= 24 && minSize >= 64 && minSize <= avgSize && avgSize <= maxSize && maxSize <= 256 << 20;
  if (!ok) {
    throw new TroveError('CONFIG', `chunking parameters min ${minSize}, avg ${avgSize}, max ${maxSize} are not valid`,
      'avg must be a power of two from 64 B to 16 MiB, with 64 <= min <= avg <= max <= 256 MiB');
  }
  return { maskS: topBits(bits + 2), maskL: topBits(bits - 2) };
}

/**
 * The chunker as a state machine over a stream that arrives in pieces of any size (it copies nothing
 * and has no buffer of its own): `scan` says where in a piece the current chunk ends, carrying the
 * rolling hash and the chunk's length so far from one piece to the next, so the cuts do not depend on
 * how the stream was split into pieces. Memory: two numbers.
 *
 * @example
 *   const cutter = new Cutter();
 *   for (let i = 0; i < piece.length;) {
 *     const end = cutter.scan(piece, i, piece.length);   // -1: the chunk goes on in the next piece
 *     use(piece.subarray(i, end < 0 ? piece.length : end), end >= 0);
 *     if (end < 0) break; else i = end;
 *   }
 *   // at the end of the stream, a chunk in progress (cutter.pending bytes) is the last one
 */
export class Cutter {
  private readonly maskS: number;
  private readonly maskL: number;
  /** bytes of the current chunk consumed so far */
  private pos = 0;
  /** the gear hash over the current chunk's bytes past minSize */
  private h = 0;

  constructor(private readonly p: ChunkerParams = DEFAULT_CHUNKING) {
    ({ maskS: this.maskS, maskL: this.maskL } = validateParams(p));
  }

  /** Bytes of the chunk in progress: at the end of the stream, the last chunk's length (0: none). */
  get pending(): number {
    return this.pos;
  }

  /**
   * Consumes `buf[start, end)` up to the end of the current chunk. Returns the index just past the
   * chunk's last byte (the chunk is complete; the next one starts there), or -1 when all of
   * `[start, end)` belongs to the current chunk, which goes on in the next piece.
   */
  scan(buf: Uint8Array, start: number, end: number): number {
    const { minSize, avgSize, maxSize } = this.p;
    const base = this.pos - start; // the byte at index i is byte (base + i) of the chunk
    let i = start;
    if (base + i < minSize) i = Math.min(end, minSize - base); // cut-point skipping: not hashed
    if (base + i === maxSize) return this.cut(i); // only when minSize === maxSize
    const g = gearTable32();
    let h = this.h;
    const maskS = this.maskS;
    const stopS = Math.min(end, avgSize - base);
    for (; i < stopS; i++) {
      h = ((h << 1) + g[buf[i]]) | 0;
      if ((h & maskS) === 0) return this.cut(i + 1);
    }
    const maskL = this.maskL;
    const stopL = Math.min(end, maxSize - base);
    for (; i < stopL; i++) {
      h = ((h << 1) + g[buf[i]]) | 0;
      if ((h & maskL) === 0) return this.cut(i + 1);
    }
    if (base + i === maxSize) return this.cut(i);
    this.h = h;
    this.pos = base + end;
    return -1;
  }

  private cut(at: number): number {
    this.pos = 0;
    this.h = 0;
    return at;
  }
}

/** All chunk lengths of a buffer held whole (tests, measurements). */
export function chunkLengths(buf: Uint8Array, p: ChunkerParams = DEFAULT_CHUNKING): number[] {
  const cutter = new Cutter(p);
  const out: number[] = [];
  let start = 0;
  while (start < buf.length) {
    const end = cutter.scan(buf, start, buf.length);
    if (end < 0) break;
    out.push(end - start);
    start = end;
  }
  if (cutter.pending > 0) out.push(cutter.pending);
  return out;
}
