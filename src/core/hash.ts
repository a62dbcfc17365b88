import * as crypto from 'node:crypto';
import { createHash } from 'node:crypto';
import { promises as fsp, readFileSync } from 'node:fs';
import { oidFromHex, type Oid } from './oid.js';

const CHUNK = 1 << 20;

/** SHA-256 of a file, streamed in 1 MiB reads (memory is flat whatever the size). */
export async function hashFile(file: string, onBytes?: (n: number) => void): Promise<{ oid: Oid; size: number }> {
  const fh = await fsp.open(file, 'r');
  try {
    const hash = createHash('sha256');
    const a = Buffer.allocUnsafe(CHUNK);
    const b = Buffer.allocUnsafe(CHUNK);
    let size = 0;
    let cur = a;
    let n = (await fh.read(cur, 0, CHUNK, null)).bytesRead;
    while (n > 0) {
      const next = cur === a ? b : a;
      const pending = fh.read(next, 0, CHUNK, null); // read ahead while hashing
      hash.update(n === CHUNK ? cur : cur.subarray(0, n));
      size += n;
      onBytes?.(n);
      n = (await pending).bytesRead;
      cur = next;
    }
    return { oid: oidFromHex(hash.digest('hex')), size };
  } finally {
    await fh.close();
  }
}

/** Small files: one synchronous read (see Cache.putSmallFileSync for why). */
export function hashSmallFileSync(file: string): { oid: Oid; size: number } {
  const buf = readFileSync(file);
  return { oid: oidFromHex(sha256Hex(buf)), size: buf.length };
}

/**
 * SHA-256 of bytes in memory, as lowercase hex. One call, no Hash object: for 100,000 small files the
 * Hash objects (native handles the garbage collector must finalise) cost ~1 µs each beside the hashing.
 * `crypto.hash` is Node ≥ 20.12; older 20.x falls back to createHash.
 */
export const sha256Hex: (data: Buffer | string) => string = typeof (crypto as { hash?: unknown }).hash === 'function'
  ? (data) => (crypto as unknown as { hash: (alg: string, d: Buffer | string, enc: 'hex') => string }).hash('sha256', data, 'hex')
  : (data) => createHash('sha256').update(data).digest('hex');
