/**
 * chunkTransfer.ts in process, on real stores in temp dirs and a real folder remote: push publishes
 * chunks then the manifest, fetch into a chunking cache inserts only what it lacks, fetch into a cache
 * that keeps no chunks reassembles, a manifest whose chunks do not add up to its file is refused, and
 * stores without chunks answer the part calls trivially.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { chunkedParts, fetchChunked, pushChunked, verifyRemoteChunked } from '../../src/core/chunkTransfer.js';
import { hashBytes } from '../../src/core/oid.js';
import { RemoteStore, manifestKey } from '../../src/core/remoteStore.js';
import { ChunkedStore } from '../../src/core/store/chunked.js';
import { LooseStore } from '../../src/core/store/loose.js';
import { parseManifest, serializeManifest } from '../../src/core/store/manifest.js';
import { MemoryStore } from '../../src/core/store/memory.js';
import { openRemote } from '../../src/remotes/index.js';
import { tempDir } from '../helpers/repo.js';

const params = { minSize: 4 << 10, avgSize: 16 << 10, maxSize: 64 << 10 };
function chunked(): ChunkedStore {
  const dir = tempDir();
  return new ChunkedStore(new LooseStore(path.join(dir, 'cache'), path.join(dir, 'tmp')), { threshold: 1, params });
}
async function stored(store: ChunkedStore, data: Buffer) {
  const f = path.join(tempDir(), 'f.bin');
  await fsp.writeFile(f, data);
  return (await store.putFile(f, 'blob')).oid;
}
async function bytesOf(s: NodeJS.ReadableStream | Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const b of s as AsyncIterable<Buffer>) out.push(b);
  return Buffer.concat(out);
}

describe('chunk transfer', () => {
  it('push sends the chunks the remote lacks then the manifest; fetch inserts only missing chunks, verified', async () => {
    const a = chunked();
    const data = randomBytes(400 << 10);
    const oid = await stored(a, data);
    const parts = await chunkedParts(a, oid);
    expect(parts?.[0].kind).toBe('manifest');
    expect(parts!.length).toBeGreaterThan(4);
    const rdir = tempDir('trove-remote-');
    const store = new RemoteStore(openRemote('origin', rdir), { jobs: 4 });
    expect(await store.has(oid, 'blob')).toBe(false);
    const sent = await pushChunked(a, store, oid, parts!, 'f.bin', { jobs: 4 });
    expect(sent).toBeGreaterThanOrEqual(data.length);
    expect(await store.has(oid, 'blob')).toBe(true);
    expect(existsSync(path.join(rdir, manifestKey(oid)))).toBe(true);
    // a second push of the same file sends only the manifest again
    const again = await pushChunked(a, store, oid, parts!, 'f.bin', { jobs: 4 });
    expect(again).toBe(parts![0].size);

    // a cache holding every chunk but one fetches that one
    const b = chunked();
    for (const p of parts!.slice(2)) await b.putPart(p, await a.openPart(p), 'seed');
    const got = await fetchChunked(b, store, oid, 'f.bin', { jobs: 4 });
    expect(got).toBe(parts![0].size + parts![1].size);
    expect(await b.has(oid, 'blob')).toBe(true);
    expect((await bytesOf(await b.open(oid, 'blob'))).equals(data)).toBe(true);

    // a cache that keeps no chunks gets the whole file, verified
    const dir = tempDir();
    const whole = new LooseStore(path.join(dir, 'cache'), path.join(dir, 'tmp'));
    expect(await fetchChunked(whole, store, oid, 'f.bin', { jobs: 4 })).toBeGreaterThanOrEqual(data.length);
    expect((await bytesOf(await whole.open(oid, 'blob'))).equals(data)).toBe(true);
    // absent on the remote: null, not an error
    expect(await fetchChunked(chunked(), store, hashBytes('nothing'), 'x', { jobs: 1 })).toBeNull();
  });

  it('a manifest whose chunks do not add up to its file is INTEGRITY, and the file is not inserted', async () => {
    const a = chunked();
    const data = randomBytes(300 << 10);
    const oid = await stored(a, data);
    const rdir = tempDir('trove-remote-');
    const store = new RemoteStore(openRemote('origin', rdir), { jobs: 4 });
    await pushChunked(a, store, oid, (await chunkedParts(a, oid))!, 'f.bin', { jobs: 4 });
    const key = path.join(rdir, manifestKey(oid));
    const m = parseManifest(await fsp.readFile(key), 'm', oid);
    expect(m.chunks[0].oid).not.toBe(m.chunks[1].oid);
    [m.chunks[0], m.chunks[1]] = [m.chunks[1], m.chunks[0]];
    await fsp.chmod(key, 0o644).catch(() => {});
    await fsp.writeFile(key, serializeManifest(m));
    for (const into of [chunked(), new LooseStore(path.join(tempDir(), 'c'), path.join(tempDir(), 't'))]) {
      await expect(fetchChunked(into, store, oid, 'f.bin', { jobs: 4 })).rejects.toMatchObject({ code: 'INTEGRITY' });
      expect(await into.has(oid, 'blob')).toBe(false);
    }
    // a manifest for another file under this name
    const other = await stored(a, randomBytes(100 << 10));
    await fsp.writeFile(key, await bytesOf(await a.openPart({ oid: other, kind: 'manifest', size: 0 })));
    await expect(fetchChunked(chunked(), store, oid, 'f.bin', { jobs: 4 })).rejects.toMatchObject({ code: 'INTEGRITY' });
  });

  it('verify of a remote chunked file: ok, corrupt when a chunk is bad, missing when one is gone', async () => {
    const a = chunked();
    const oid = await stored(a, randomBytes(200 << 10));
    const parts = (await chunkedParts(a, oid))!;
    const rdir = tempDir('trove-remote-');
    const store = new RemoteStore(openRemote('origin', rdir), { jobs: 4 });
    expect(await verifyRemoteChunked(store, oid)).toBe('missing');
    await pushChunked(a, store, oid, parts, 'f.bin', { jobs: 4 });
    expect(await verifyRemoteChunked(store, oid)).toBe('ok');
    // the small chunks went into a remote pack: flip a byte in the middle of its entries
    const packs = (await fsp.readdir(path.join(rdir, 'packs'))).filter((f) => f.endsWith('.pack'));
    expect(packs.length).toBe(1);
    const victim = path.join(rdir, 'packs', packs[0]);
    const bad = await fsp.readFile(victim);
    bad[bad.length >> 1] ^= 1;
    await fsp.chmod(victim, 0o644).catch(() => {});
    await fsp.writeFile(victim, bad);
    const fresh = () => new RemoteStore(openRemote('origin', rdir), { jobs: 4 });
    expect(await verifyRemoteChunked(fresh(), oid)).toBe('corrupt');
    await fsp.rm(victim.replace(/\.pack$/, '.idx'));
    expect(await verifyRemoteChunked(fresh(), oid)).toBe('missing');
  });

  it('stores without chunks: an object is its own single part', async () => {
    const mem = new MemoryStore();
    const oid = await mem.putBytes('hello', 'blob');
    expect(await mem.parts(oid, 'blob')).toEqual([{ oid, kind: 'blob', size: 5 }]);
    expect(await mem.hasPart({ oid, kind: 'blob', size: 5 })).toBe(true);
    expect(await mem.hasPart({ oid, kind: 'chunk', size: 5 })).toBe(false);
    expect(mem.keepsChunks(1 << 30)).toBe(false);
    await expect(mem.putPart({ oid, kind: 'chunk', size: 5 }, Readable.from([Buffer.from('hello')]), 'x')).rejects.toMatchObject({ code: 'BAD_INPUT' });
    const other = hashBytes('other');
    await expect(mem.putPart({ oid: other, kind: 'blob', size: 5 }, Readable.from([Buffer.from('wrong')]), 'x')).rejects.toMatchObject({ code: 'INTEGRITY' });
    expect(await mem.has(other, 'blob')).toBe(false);
    expect((await bytesOf(await mem.openPart({ oid, kind: 'blob', size: 5 }))).toString()).toBe('hello');
    expect(chunked().keepsChunks(1)).toBe(true);
  });
});
