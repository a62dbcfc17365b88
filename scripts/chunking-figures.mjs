// Reproduces the chunk-size table in docs/design.md ("Chunks"): a random file of SIZE_MIB (default 1024),
// then 1 MiB overwritten in the middle and 10 MiB appended; for each average chunk size, how many chunks,
// how many bytes the re-add stores, and the gear loop's speed. In memory (2 × SIZE): no disk writes.
// Usage: npx tsc -p tsconfig.json && node scripts/chunking-figures.mjs [SIZE_MIB]
import { createHash, randomBytes } from 'node:crypto';
import { chunkLengths } from '../dist/core/store/chunker.js';

const MiB = 1 << 20;
const size = Number(process.argv[2] ?? 1024) * MiB;
const a = Buffer.allocUnsafe(size);
for (let o = 0; o < size; o += 64 * MiB) randomBytes(Math.min(64 * MiB, size - o)).copy(a, o);
const b = Buffer.allocUnsafe(size + 10 * MiB);
a.copy(b, 0);
randomBytes(MiB).copy(b, Math.floor(size / 2));
randomBytes(10 * MiB).copy(b, size);

function chunks(buf, p) {
  const t = process.hrtime.bigint();
  const lengths = chunkLengths(buf, p);
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  const ids = new Map();
  let off = 0;
  for (const n of lengths) {
    ids.set(createHash('sha256').update(buf.subarray(off, off + n)).digest('hex'), n);
    off += n;
  }
  return { ids, n: lengths.length, seconds };
}

for (const avg of [64 << 10, 128 << 10, 256 << 10, 512 << 10, 1 << 20]) {
  const p = { minSize: avg / 4, avgSize: avg, maxSize: avg * 4 };
  const A = chunks(a, p);
  const B = chunks(b, p);
  let stored = 0;
  let fresh = 0;
  for (const [h, n] of B.ids) if (!A.ids.has(h)) { stored += n; fresh++; }
  console.log(JSON.stringify({ avgKiB: avg >> 10, chunks: A.n, meanKiB: Math.round(size / A.n / 1024), reAddStoresMiB: +(stored / MiB).toFixed(2), newChunks: fresh, gearGBs: +(size / A.seconds / 1e9).toFixed(2) }));
}
