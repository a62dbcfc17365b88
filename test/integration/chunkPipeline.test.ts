/**
 * The parallel chunking pipeline (src/core/store/chunkPipeline.ts) on real files, with its real worker
 * threads: it must cut exactly where the single-thread Cutter cuts (the cut points are a format: they
 * decide dedup against chunks stored by earlier versions), name every chunk by its own bytes while
 * buffers of the ring are being reused, and fail cleanly.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync, promises as fsp, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { oidFromHex, type Oid } from '../../src/core/oid.js';
import { ChunkedStore } from '../../src/core/store/chunked.js';
import { chunkFileParallel } from '../../src/core/store/chunkPipeline.js';
import { chunkLengths, DEFAULT_CHUNKING, type ChunkerParams } from '../../src/core/store/chunker.js';
import { LooseStore } from '../../src/core/store/loose.js';
import { parseManifest } from '../../src/core/store/manifest.js';
import { tempDir } from '../helpers/files.js';

const MiB = 1 << 20;

function prng(seed: string, n: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}
const oidOf = (b: Buffer): Oid => oidFromHex(createHash('sha256').update(b).digest('hex'));

async function makeStore(params: ChunkerParams = DEFAULT_CHUNKING) {
  const dir = await tempDir('trove-pipeline-');
  const cache = path.join(dir, 'cache');
  const store = new ChunkedStore(new LooseStore(cache, path.join(dir, 'tmp')), { threshold: 4 * MiB, params, wholeHash: 'worker' });
  return { dir, cache, store };
}

function manifestOf(cache: string, oid: Oid) {
  const hex = oid.slice(7);
  return parseManifest(readFileSync(path.join(cache, 'manifests', 'sha256', hex.slice(0, 2), hex.slice(2))), 'test', oid);
}

/** Every chunk file in the cache, checked against its name: [count, bad names]. */
function checkChunkFiles(cache: string): { count: number; bad: string[] } {
  const root = path.join(cache, 'chunks', 'sha256');
  const bad: string[] = [];
  let count = 0;
  if (!existsSync(root)) return { count, bad };
  for (const fan of readdirSync(root)) {
    for (const n of readdirSync(path.join(root, fan))) {
      count++;
      const got = createHash('sha256').update(readFileSync(path.join(root, fan, n))).digest('hex');
      if (got !== fan + n) bad.push(fan + n);
    }
  }
  return { count, bad };
}

describe('parallel chunking pipeline', () => {
  const cases: [string, ChunkerParams][] = [
    ['default parameters', DEFAULT_CHUNKING],
    ['small chunks (many per ring slot)', { minSize: 16 << 10, avgSize: 64 << 10, maxSize: 256 << 10 }],
    ['chunks larger than a ring slot', { minSize: 1 * MiB, avgSize: 2 * MiB, maxSize: 8 * MiB }],
  ];
  for (const [name, params] of cases) {
    it(`cuts where the single-thread Cutter cuts and names every chunk by its bytes, also on a re-add that finds most chunks stored (${name})`, async () => {
      const { dir, cache, store } = await makeStore(params);
      const a = prng(`pipe-${name}`, 20 * MiB + 777);
      // v2: an edit in the middle and an append, so most chunks are already stored (their ring slots come back fast)
      const b = Buffer.concat([a.subarray(0, 9 * MiB), prng('edit', 100_000), a.subarray(9 * MiB + 50_000), prng('tail', 3 * MiB)]);
      const src = path.join(dir, 'f.bin');
      for (const data of [a, b]) {
        writeFileSync(src, data);
        const put = await store.putFile(src, 'blob');
        expect(put).toMatchObject({ oid: oidOf(data), size: data.length, stored: true });
        const m = manifestOf(cache, put.oid);
        expect(m.chunks.map((c) => c.size)).toEqual(chunkLengths(data, params));
        // each entry's oid is the SHA-256 of the bytes at its place in the file
        let off = 0;
        for (const c of m.chunks) {
          expect(c.oid).toBe(oidOf(data.subarray(off, off + c.size)));
          off += c.size;
        }
        expect((await fsp.readFile(await store.withFile(put.oid, 'blob', async (f) => { const copy = path.join(dir, 'copy'); await fsp.copyFile(f, copy); return copy; }))).equals(data)).toBe(true);
      }
      const files = checkChunkFiles(cache);
      expect(files.bad).toEqual([]);
      expect(files.count).toBeGreaterThan(chunkLengths(a, params).length);
      expect(await store.countTemp()).toBe(0);
    });
  }

  it('without WebAssembly (the JavaScript gear pass) the pipeline cuts and names chunks the same way', async () => {
    const dir = await tempDir('trove-pipeline-');
    const data = prng('js-gear', 14 * MiB + 99);
    const src = path.join(dir, 'f.bin');
    writeFileSync(src, data);
    const runs = [];
    for (const gear of ['js', 'auto'] as const) {
      const fh = await fsp.open(src, 'r');
      try {
        runs.push(await chunkFileParallel(fh, DEFAULT_CHUNKING, async () => true, { gear }));
      } finally {
        await fh.close();
      }
    }
    expect(runs[0].wholeHex).toBe(oidOf(data).slice(7));
    expect(runs[0].entries.map((c) => c.size)).toEqual(chunkLengths(data));
    expect(runs[0].entries).toEqual(runs[1].entries);
  });

  it('a chunk that repeats inside one file is stored once and listed at each place', async () => {
    const { dir, cache, store } = await makeStore({ minSize: 64 << 10, avgSize: 256 << 10, maxSize: 1 * MiB });
    const block = prng('block', 3 * MiB);
    const data = Buffer.concat([block, block, block, block, prng('end', 12345)]);
    const src = path.join(dir, 'rep.bin');
    writeFileSync(src, data);
    const put = await store.putFile(src, 'blob');
    const m = manifestOf(cache, put.oid);
    const distinct = new Map(m.chunks.map((c) => [c.oid, c.size]));
    expect(distinct.size).toBeLessThan(m.chunks.length / 2); // the repeats cut the same way after the first block
    expect(put).toMatchObject({ oid: oidOf(data), stored: true, newBytes: [...distinct.values()].reduce((s, n) => s + n, 0) });
    const files = checkChunkFiles(cache);
    expect(files).toEqual({ count: distinct.size, bad: [] });
  });

  it('a chunk that cannot be stored fails the whole add with that error; the workers stop and no manifest appears', async () => {
    const dir = await tempDir('trove-pipeline-');
    const src = path.join(dir, 'f.bin');
    writeFileSync(src, prng('fail', 12 * MiB));
    let calls = 0;
    const boom = new Error('disk full (test)');
    const fh = await fsp.open(src, 'r');
    try {
      await expect(chunkFileParallel(fh, DEFAULT_CHUNKING, async () => {
        if (++calls === 3) throw boom;
        return true;
      })).rejects.toBe(boom);
    } finally {
      await fh.close();
    }
    // through the store: a chunks folder that cannot be created (a file in its place)
    const { dir: d2, cache, store } = await makeStore();
    await fsp.mkdir(cache, { recursive: true });
    await fsp.writeFile(path.join(cache, 'chunks'), 'not a folder');
    await fsp.writeFile(path.join(d2, 'f.bin'), prng('fail2', 12 * MiB));
    await expect(store.putFile(path.join(d2, 'f.bin'), 'blob')).rejects.toMatchObject({ code: expect.stringMatching(/^(ENOTDIR|EEXIST)$/) });
    expect(existsSync(path.join(cache, 'manifests'))).toBe(false);
    expect(await store.countTemp()).toBe(0);
  });
});
