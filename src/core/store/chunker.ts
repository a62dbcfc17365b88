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
 * Memory: `chunkFile` keeps one buffer of 2 × maxSize (plus nothing per chunk), whatever the file size.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
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
export const GEAR: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) t[i] = createHash('sha256').update(`trove gear v1 ${i}`).digest().readUInt32BE(0);
  return t;
})();

/** The gear table as int32 (the loop works in int32 so that V8 keeps `h` a small integer). */
const GEAR32 = new Int32Array(GEAR.buffer);

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
 * The length of the next chunk of `buf[start, end)`, or -1 when no cut is found there and more bytes
 * may follow (`eof` false and fewer than maxSize bytes available). With `eof`, the rest is one chunk
 * when no cut is found. Pure: same bytes, same answer.
 */
export function nextCut(buf: Uint8Array, start: number, end: number, p: ChunkerParams, masks: { maskS: number; maskL: number }, eof: boolean): number {
  const avail = end - start;
  if (avail <= p.minSize) return eof || avail === p.maxSize ? (avail === 0 ? -1 : avail) : -1;
  const { maskS, maskL } = masks;
  const g = GEAR32;
  const normal = start + Math.min(p.avgSize, avail);
  const stop = start + Math.min(p.maxSize, avail);
  let h = 0;
  let i = start + p.minSize;
  for (; i < normal; i++) {
    h = ((h << 1) + g[buf[i]]) | 0;
    if ((h & maskS) === 0) return i + 1 - start;
  }
  for (; i < stop; i++) {
    h = ((h << 1) + g[buf[i]]) | 0;
    if ((h & maskL) === 0) return i + 1 - start;
  }
  if (avail >= p.maxSize || eof) return stop - start;
  return -1;
}

/** All chunk lengths of a buffer held whole (tests, small inputs). */
export function chunkLengths(buf: Uint8Array, p: ChunkerParams = DEFAULT_CHUNKING): number[] {
  const masks = validateParams(p);
  const out: number[] = [];
  let start = 0;
  while (start < buf.length) {
    const n = nextCut(buf, start, buf.length, p, masks, true);
    out.push(n);
    start += n;
  }
  return out;
}

/** One chunk as `chunkFile` yields it. `bytes` is a view into the chunker's buffer: valid until the next iteration. */
export interface Chunk {
  offset: number;
  bytes: Buffer;
}

/**
 * The chunks of an open file, read sequentially from its current position. Each yielded `bytes` is
 * only valid until the loop asks for the next chunk (the buffer is reused), so consume (hash, write)
 * it before continuing. Memory: one buffer of 2 × maxSize.
 *
 * @example
 *   for await (const c of chunkFile(fh)) hash.update(c.bytes);
 */
export async function* chunkFile(fh: fsp.FileHandle, p: ChunkerParams = DEFAULT_CHUNKING): AsyncGenerator<Chunk> {
  const masks = validateParams(p);
  const cap = 2 * p.maxSize;
  const buf = Buffer.allocUnsafe(cap);
  let start = 0;
  let fill = 0;
  let offset = 0;
  let eof = false;
  for (;;) {
    if (!eof && fill - start < p.maxSize) {
      if (start > 0) {
        // move the unconsumed tail to the front: at most maxSize bytes, once per maxSize consumed
        buf.copy(buf, 0, start, fill);
        fill -= start;
        start = 0;
      }
      while (!eof && fill < cap) {
        const { bytesRead } = await fh.read(buf, fill, cap - fill, null);
        if (bytesRead === 0) eof = true;
        fill += bytesRead;
      }
    }
    if (start === fill) return;
    const n = nextCut(buf, start, fill, p, masks, eof);
    if (n < 0) throw new Error('chunker: no cut with maxSize bytes available (bug)');
    yield { offset, bytes: buf.subarray(start, start + n) };
    start += n;
    offset += n;
  }
}
