/**
 * Reassembly with the whole-file hash on a worker (chunkAssemble.ts), on real files in temp dirs: the
 * bytes land in order whatever the pieces' sizes and offsets, the digest is the whole content's, and
 * every failure (a short source, a corrupt or missing chunk) leaves nothing behind.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync, promises as fsp, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isTroveError } from '../../src/core/errors.js';
import { assembleHashed, ShortRead, type AssemblePiece } from '../../src/core/store/chunkAssemble.js';
import { ChunkedStore } from '../../src/core/store/chunked.js';
import { LooseStore } from '../../src/core/store/loose.js';
import { tempDir } from '../helpers/files.js';

const MiB = 1 << 20;

function prng(seed: string, n: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('assembleHashed', () => {
  it('writes pieces at any offset and size (bigger than a ring slot too) in order, and hashes exactly those bytes', async () => {
    const dir = await tempDir('trove-assemble-');
    // a "pack": three stretches at offsets inside one file, and a loose 9 MiB file (more than one 4 MiB slot)
    const pack = prng('pack', 3 * MiB);
    const big = prng('big', 9 * MiB + 7);
    await fsp.writeFile(path.join(dir, 'p'), pack);
    await fsp.writeFile(path.join(dir, 'b'), big);
    const p = await fsp.open(path.join(dir, 'p'), 'r');
    const stretches: [number, number][] = [[MiB + 5, 1000], [0, MiB], [2 * MiB, MiB - 1]];
    let closed = 0;
    async function* pieces(): AsyncGenerator<AssemblePiece> {
      for (const [offset, size] of stretches.slice(0, 2)) yield { fh: p, offset, size };
      const b = await fsp.open(path.join(dir, 'b'), 'r');
      yield { fh: b, offset: 0, size: big.length, done: async () => { closed++; await b.close(); } };
      yield { fh: p, offset: stretches[2][0], size: stretches[2][1] };
    }
    const expected = Buffer.concat([
      ...stretches.slice(0, 2).map(([o, s]) => pack.subarray(o, o + s)),
      big,
      pack.subarray(stretches[2][0], stretches[2][0] + stretches[2][1]),
    ]);
    const out = await fsp.open(path.join(dir, 'out'), 'wx');
    let reported = 0;
    const hex = await assembleHashed(pieces(), out, (n) => (reported += n));
    await out.close();
    await p.close();
    expect(hex).toBe(sha(expected));
    expect((await fsp.readFile(path.join(dir, 'out'))).equals(expected)).toBe(true);
    expect(reported).toBe(expected.length);
    expect(closed).toBe(1);
  });

  it('a source shorter than its piece rejects with ShortRead naming the piece; its file is still closed', async () => {
    const dir = await tempDir('trove-assemble-');
    await fsp.writeFile(path.join(dir, 'a'), prng('a', MiB));
    await fsp.writeFile(path.join(dir, 'short'), prng('s', 1000));
    let closed = 0;
    async function* pieces(): AsyncGenerator<AssemblePiece> {
      for (const [name, size] of [['a', MiB], ['short', 5000], ['a', MiB]] as const) {
        const fh = await fsp.open(path.join(dir, name), 'r');
        yield { fh, offset: 0, size, done: async () => { closed++; await fh.close(); } };
      }
    }
    const out = await fsp.open(path.join(dir, 'out'), 'wx');
    const err = await assembleHashed(pieces(), out).catch((e: unknown) => e);
    await out.close();
    expect(err).toBeInstanceOf(ShortRead);
    expect((err as ShortRead).piece).toBe(1);
    expect(closed).toBeGreaterThanOrEqual(2); // every piece handed over was closed; the third may not have been opened
  });
});

describe('chunked checkout with the hash on a worker', () => {
  async function stored() {
    const dir = await tempDir('trove-assemble-');
    const cache = path.join(dir, 'cache');
    const store = new ChunkedStore(new LooseStore(cache, path.join(dir, 'tmp')), { threshold: 4 * MiB, wholeHash: 'worker' });
    const data = prng('checkout', 11 * MiB + 3);
    await fsp.writeFile(path.join(dir, 'src.bin'), data);
    const { oid } = await store.putFile(path.join(dir, 'src.bin'), 'blob');
    const chunks = readdirSync(path.join(cache, 'chunks'), { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.join(d.parentPath, d.name));
    return { dir, store, oid, data, chunks };
  }

  it('more checkouts at once than cores (checkout runs cache.jobs large copies together): each waits its turn and comes out whole', async () => {
    const { dir, store, oid, data } = await stored();
    const dests = Array.from({ length: 5 }, (_, i) => path.join(dir, `out${i}.bin`));
    expect(await Promise.all(dests.map((d, i) => store.materialize(oid, d, 'copy', i % 2 === 0)))).toEqual(dests.map(() => 'copy'));
    for (const d of dests) expect((await fsp.readFile(d)).equals(data)).toBe(true);
    expect((await fsp.stat(dests[0])).mode & 0o777).toBe(0o755);
    expect(await store.countTemp()).toBe(0);
  });

  it('a corrupt chunk (same size) is INTEGRITY; the user file stays and no temp file is left', async () => {
    const { dir, store, oid, data, chunks } = await stored();
    expect(chunks.length).toBeGreaterThan(2);
    const dest = path.join(dir, 'out.bin');
    expect(await store.materialize(oid, dest, 'copy', false)).toBe('copy');
    expect((await fsp.readFile(dest)).equals(data)).toBe(true);
    const victim = chunks[chunks.length - 1];
    const bytes = await fsp.readFile(victim);
    bytes[bytes.length >> 1] ^= 1;
    await fsp.chmod(victim, 0o644);
    await fsp.writeFile(victim, bytes);
    await fsp.writeFile(dest, 'mine');
    const err = await store.materialize(oid, dest, 'copy', false).catch((e: unknown) => e);
    expect(isTroveError(err, 'INTEGRITY'), String(err)).toBe(true);
    expect(await fsp.readFile(dest, 'utf8')).toBe('mine');
    expect(await store.countTemp()).toBe(0);
  });

  it('a truncated or a missing chunk is MISSING_OBJECT (the blob is incomplete); nothing is written', async () => {
    const { dir, store, oid, chunks } = await stored();
    const dest = path.join(dir, 'out.bin');
    await fsp.chmod(chunks[1], 0o644);
    await fsp.truncate(chunks[1], 10);
    let err = await store.materialize(oid, dest, 'copy', false).catch((e: unknown) => e);
    expect(isTroveError(err, 'MISSING_OBJECT'), String(err)).toBe(true);
    await fsp.rm(chunks[1]);
    err = await store.materialize(oid, dest, 'copy', false).catch((e: unknown) => e);
    expect(isTroveError(err, 'MISSING_OBJECT'), String(err)).toBe(true);
    expect(existsSync(dest)).toBe(false);
    expect(await store.countTemp()).toBe(0);
  });
});
