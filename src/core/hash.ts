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
  return { oid: oidFromHex(createHash('sha256').update(buf).digest('hex')), size: buf.length };
}
