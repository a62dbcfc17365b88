/**
 * Chunked large files through the ObjectStore interface, on real files in temp dirs: the inner store is
 * the real loose store. The CLI-level paths (add, checkout, fsck, kill -9, du) are in
 * test/e2e/chunked-cli.test.ts.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync, promises as fsp, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isTroveError } from '../../src/core/errors.js';
import { oidFromHex, type Oid } from '../../src/core/oid.js';
import { ChunkedStore, type ChunkedOptions } from '../../src/core/store/chunked.js';
import { LooseStore } from '../../src/core/store/loose.js';
import { diskUsage } from '../../src/core/diskUsage.js';
import { hashStream, tempDir } from '../helpers/files.js';

const MiB = 1 << 20;

/** Deterministic pseudo-random bytes (AES-256-CTR of zeros). */
function prng(seed: string, n: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

const oidOf = (b: Buffer): Oid => oidFromHex(createHash('sha256').update(b).digest('hex'));

async function makeStore(o: ChunkedOptions = {}) {
  const dir = await tempDir('trove-chunked-');
  const cache = path.join(dir, 'cache');
  const store = new ChunkedStore(new LooseStore(cache, path.join(dir, 'tmp')), { threshold: 4 * MiB, ...o });
  return { dir, cache, store };
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.join(d.parentPath ?? d.path, d.name));
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(isTroveError(err), String(err)).toBe(true);
  expect((err as { code: string }).code).toBe(code);
}

describe('chunked store', () => {
  for (const wholeHash of ['inline', 'worker'] as const) {
    it(`stores a large file as chunks + manifest and reads it back verified (${wholeHash} whole-file hash)`, async () => {
      const { dir, cache, store } = await makeStore({ wholeHash });
      const data = prng('roundtrip', 9 * MiB + 12345);
      const src = path.join(dir, 'model.bin');
      await fsp.writeFile(src, data);
      const put = await store.putFile(src, 'blob');
      expect(put).toEqual({ oid: oidOf(data), size: data.length, stored: true, newBytes: data.length }); // every chunk new
      expect(store.isChunked(put.oid, 'blob')).toBe(true);
      // not stored whole: the loose blob folder has nothing, the chunks folder has the bytes
      expect(filesUnder(path.join(cache, 'objects'))).toEqual([]);
      const u = await store.usage();
      expect(u).toMatchObject({ files: 1, logicalBytes: data.length });
      expect(u.chunks).toBeGreaterThan(3);
      expect(u.chunkBytes).toBe(data.length);
      expect(await store.has(put.oid, 'blob')).toBe(true);
      expect(store.hasSync(put.oid, 'blob')).toBe(true);
      expect(await store.has(put.oid, 'tree')).toBe(false);
      expect((await store.stat(put.oid, 'blob'))?.size).toBe(data.length);
      expect(await store.verify(put.oid, 'blob')).toBe(true);
      expect(await hashStream(await store.open(put.oid, 'blob'))).toEqual({ sha256: createHash('sha256').update(data).digest('hex'), size: data.length });
      // checkout: hardlink asked, a verified copy made (a chunked blob has no file to link to)
      const dest = path.join(dir, 'out.bin');
      expect(await store.materialize(put.oid, dest, 'hardlink', true)).toBe('copy');
      expect((await fsp.readFile(dest)).equals(data)).toBe(true);
      expect((await fsp.stat(dest)).mode & 0o777).toBe(0o755);
      expect(store.materializeSync(put.oid, path.join(dir, 'out2.bin'), 'symlink', false, true)).toBe('copy');
      expect((await fsp.readFile(path.join(dir, 'out2.bin'))).equals(data)).toBe(true);
      expect(await store.withFile(put.oid, 'blob', async (f, size) => ({ same: (await fsp.readFile(f)).equals(data), size }))).toEqual({ same: true, size: data.length });
      const listed = [];
      for await (const i of store.list()) listed.push(i);
      expect(listed.map((i) => [i.oid, i.kind, i.size])).toEqual([[put.oid, 'blob', data.length]]);
      // parts: the manifest, then each distinct chunk once, sizes adding up to the file
      const parts = await store.parts(put.oid, 'blob');
      expect(parts[0]).toMatchObject({ oid: put.oid, kind: 'manifest' });
      expect(parts.slice(1).every((p) => p.kind === 'chunk')).toBe(true);
      expect(parts.slice(1).reduce((s, p) => s + p.size, 0)).toBe(data.length);
      // adding it again stores nothing; no temp files are left
      expect((await store.putFile(src, 'blob')).stored).toBe(false);
      expect(await store.countTemp()).toBe(0);
    });
  }

  it('files below the threshold stay whole in the inner store (and keep link modes)', async () => {
    const { dir, store } = await makeStore();
    const data = prng('small', 3 * MiB);
    const src = path.join(dir, 'small.bin');
    await fsp.writeFile(src, data);
    const put = await store.putFile(src, 'blob');
    expect(store.isChunked(put.oid, 'blob')).toBe(false);
    expect(await store.materialize(put.oid, path.join(dir, 'link'), 'hardlink', false)).toBe('hardlink');
    expect((await store.parts(put.oid, 'blob'))).toEqual([{ oid: put.oid, kind: 'blob', size: data.length }]);
  });

  it('re-adding a file with 1 MiB changed in the middle and 4 MiB appended stores ≤ 2× the changed bytes', async () => {
    const { dir, store } = await makeStore({ threshold: 16 * MiB });
    const a = prng('v1', 64 * MiB);
    const b = Buffer.concat([a.subarray(0, 32 * MiB), prng('edit', MiB), a.subarray(33 * MiB), prng('tail', 4 * MiB)]);
    const src = path.join(dir, 'data.bin');
    await fsp.writeFile(src, a);
    const v1 = await store.putFile(src, 'blob');
    const before = await store.usage();
    await fsp.writeFile(src, b);
    const v2 = await store.putFile(src, 'blob');
    expect(v2).toMatchObject({ oid: oidOf(b), size: b.length, stored: true });
    const after = await store.usage();
    const storedNow = after.chunkBytes - before.chunkBytes;
    expect(storedNow).toBeGreaterThanOrEqual(5 * MiB);
    expect(storedNow).toBeLessThanOrEqual(2 * 5 * MiB);
    expect(after.logicalBytes).toBe(a.length + b.length);
    // both versions read back exactly
    expect((await hashStream(await store.open(v1.oid, 'blob'))).sha256).toBe(v1.oid.slice(7));
    expect((await hashStream(await store.open(v2.oid, 'blob'))).sha256).toBe(v2.oid.slice(7));
  });

  it('a corrupt chunk is caught at checkout, by open and by verify; quarantine moves it and the manifest aside; re-add repairs', async () => {
    const { dir, cache, store } = await makeStore();
    const data = prng('corrupt', 8 * MiB);
    const src = path.join(dir, 'f.bin');
    await fsp.writeFile(src, data);
    const { oid } = await store.putFile(src, 'blob');
    const chunkFiles = filesUnder(path.join(cache, 'chunks'));
    const victim = chunkFiles[1];
    const bytes = await fsp.readFile(victim);
    bytes[100] ^= 0xff; // same size, one bit pattern changed
    await fsp.chmod(victim, 0o644);
    await fsp.writeFile(victim, bytes);
    const dest = path.join(dir, 'checkout.bin');
    await fsp.writeFile(dest, 'the user file stays until a good copy replaces it');
    await expectCode(store.materialize(oid, dest, 'copy', false), 'INTEGRITY');
    expect(await fsp.readFile(dest, 'utf8')).toBe('the user file stays until a good copy replaces it');
    await expectCode(hashStream(await store.open(oid, 'blob')), 'INTEGRITY');
    expect(await store.verify(oid, 'blob')).toBe(false);
    expect(await store.countTemp()).toBe(0);
    const moved = await store.quarantine(oid, 'blob');
    expect(existsSync(moved)).toBe(true);
    expect(existsSync(victim)).toBe(false); // the bad chunk left; the good ones stay for reuse
    expect(filesUnder(path.join(cache, 'chunks')).length).toBe(chunkFiles.length - 1);
    expect(await store.has(oid, 'blob')).toBe(false);
    expect((await store.putFile(src, 'blob')).stored).toBe(true);
    expect(await store.verify(oid, 'blob')).toBe(true);
  });

  it('a missing chunk makes the blob absent (has false, MISSING_OBJECT on read)', async () => {
    const { dir, cache, store } = await makeStore();
    const src = path.join(dir, 'f.bin');
    await fsp.writeFile(src, prng('missing', 6 * MiB));
    const { oid } = await store.putFile(src, 'blob');
    await fsp.rm(filesUnder(path.join(cache, 'chunks'))[0]);
    const fresh = new ChunkedStore(new LooseStore(cache, path.join(dir, 'tmp')), { threshold: 4 * MiB });
    expect(await fresh.has(oid, 'blob')).toBe(false);
    await expectCode(fresh.open(oid, 'blob'), 'MISSING_OBJECT');
    await expectCode(fresh.materialize(oid, path.join(dir, 'x'), 'copy', false), 'MISSING_OBJECT');
    expect(existsSync(path.join(dir, 'x'))).toBe(false);
    expect(await fresh.verify(oid, 'blob')).toBe(false);
  });

  it('a hostile manifest on disk is refused (verify false, has false) and quarantined', async () => {
    const { dir, cache, store } = await makeStore();
    const src = path.join(dir, 'f.bin');
    await fsp.writeFile(src, prng('hostile', 6 * MiB));
    const { oid } = await store.putFile(src, 'blob');
    const [mf] = filesUnder(path.join(cache, 'manifests'));
    const m = JSON.parse(await fsp.readFile(mf, 'utf8'));
    m.chunks[0][1] += 1; // lengths no longer add up
    await fsp.chmod(mf, 0o644);
    await fsp.writeFile(mf, JSON.stringify(m));
    const fresh = new ChunkedStore(new LooseStore(cache, path.join(dir, 'tmp')), { threshold: 4 * MiB });
    await expectCode(fresh.open(oid, 'blob'), 'INTEGRITY');
    expect(await fresh.has(oid, 'blob')).toBe(false);
    expect(await fresh.verify(oid, 'blob')).toBe(false);
    const listed = [];
    for await (const i of fresh.list()) listed.push(i.oid);
    expect(listed).toContain(oid); // so that fsck sees it
    await fresh.quarantine(oid, 'blob');
    expect(existsSync(mf)).toBe(false);
  });

  it('delete removes the manifest and the chunks no other manifest names (shared chunks stay)', async () => {
    const { dir, cache, store } = await makeStore({ chunkGraceMs: 0 });
    const a = prng('gc', 8 * MiB);
    const b = Buffer.concat([a, prng('gc-tail', 2 * MiB)]);
    await fsp.writeFile(path.join(dir, 'a'), a);
    await fsp.writeFile(path.join(dir, 'b'), b);
    const va = await store.putFile(path.join(dir, 'a'), 'blob');
    const vb = await store.putFile(path.join(dir, 'b'), 'blob');
    const both = (await store.usage()).chunkBytes;
    expect(both).toBeLessThan(a.length + b.length - 6 * MiB); // most of a is shared
    const gen = store.generation();
    await store.delete([{ oid: vb.oid, kind: 'blob' }]);
    expect(store.generation()).not.toBe(gen);
    expect(await store.has(vb.oid, 'blob')).toBe(false);
    const u = await store.usage();
    expect(u.files).toBe(1);
    expect(u.chunkBytes).toBe(a.length);
    expect(await store.verify(va.oid, 'blob')).toBe(true);
    expect(filesUnder(path.join(cache, 'manifests')).length).toBe(1);
  });

  it('the sweep keeps unnamed chunks younger than the grace period (an add in progress)', async () => {
    const { dir, cache, store } = await makeStore(); // default grace: 1 h
    await fsp.writeFile(path.join(dir, 'a'), prng('grace', 6 * MiB));
    const { oid } = await store.putFile(path.join(dir, 'a'), 'blob');
    const n = filesUnder(path.join(cache, 'chunks')).length;
    await store.delete([{ oid, kind: 'blob' }]);
    expect(filesUnder(path.join(cache, 'chunks')).length).toBe(n);
    // once they are older than the grace period, they go
    const old = new Date(Date.now() - 2 * 3_600_000);
    for (const f of filesUnder(path.join(cache, 'chunks'))) await fsp.utimes(f, old, old);
    expect(await store.sweepChunks()).toBe(n);
  });

  it('parts move between stores: chunks verified on the way in, the manifest only after its chunks', async () => {
    const a = await makeStore();
    const b = await makeStore();
    const data = prng('parts', 7 * MiB);
    await fsp.writeFile(path.join(a.dir, 'f'), data);
    const { oid } = await a.store.putFile(path.join(a.dir, 'f'), 'blob');
    const parts = await a.store.parts(oid, 'blob');
    const manifest = parts[0];
    await expectCode(b.store.putPart(manifest, await a.store.openPart(manifest), 'remote manifest'), 'MISSING_OBJECT');
    expect(await b.store.has(oid, 'blob')).toBe(false);
    // a chunk whose bytes do not match its name is refused and nothing is stored
    const bad = parts[1];
    await expectCode(b.store.putPart(bad, await a.store.openPart(parts[2]), 'remote chunk'), 'INTEGRITY');
    expect(await b.store.hasPart(bad)).toBe(false);
    for (const p of parts.slice(1)) {
      expect(await b.store.hasPart(p)).toBe(false);
      expect(await b.store.putPart(p, await a.store.openPart(p), `chunk ${p.oid}`)).toBe(p.size);
    }
    await b.store.putPart(manifest, await a.store.openPart(manifest), 'remote manifest');
    expect(await b.store.hasPart(manifest)).toBe(true);
    expect(await b.store.verify(oid, 'blob')).toBe(true);
    expect(await b.store.countTemp()).toBe(0);
  });

  it('the state a kill -9 leaves (chunks, no manifest, a dead writer\'s temp file) is clean for fsck and a re-add completes', async () => {
    const { dir, cache, store } = await makeStore({ chunkGraceMs: 0 });
    const data = prng('crash', 8 * MiB);
    const src = path.join(dir, 'f.bin');
    await fsp.writeFile(src, data);
    // what an add killed after some chunks leaves: those chunks, and a partial chunk in tmp named by a dead pid
    const first = await makeStore();
    await first.store.putFile(src, 'blob');
    const chunkFiles = filesUnder(path.join(first.cache, 'chunks'));
    for (const f of chunkFiles.slice(0, 3)) {
      const rel = path.relative(first.cache, f);
      await fsp.mkdir(path.dirname(path.join(cache, rel)), { recursive: true });
      await fsp.copyFile(f, path.join(cache, rel));
    }
    await fsp.mkdir(path.join(dir, 'tmp'), { recursive: true });
    await fsp.writeFile(path.join(dir, 'tmp', '999999999-c-7'), data.subarray(0, 1000));
    // nothing is listed (no manifest: the blob is not there), so fsck finds nothing corrupt
    const listed = [];
    for await (const i of store.list()) listed.push(i);
    expect(listed).toEqual([]);
    expect(await store.has(oidOf(data), 'blob')).toBe(false);
    expect(await store.cleanStaleTemp()).toBe(1);
    // the re-run reuses the chunks that made it and writes the rest
    const put = await store.putFile(src, 'blob');
    expect(put.stored).toBe(true);
    expect(filesUnder(path.join(cache, 'chunks')).length).toBe(chunkFiles.length);
    expect(await store.verify(put.oid, 'blob')).toBe(true);
  });

  it('du: logical vs stored size and what chunking saved', async () => {
    const { dir, store } = await makeStore();
    const a = prng('du', 10 * MiB);
    await fsp.writeFile(path.join(dir, 'a'), a);
    await fsp.writeFile(path.join(dir, 'b'), Buffer.concat([a, prng('du-tail', MiB)]));
    await fsp.writeFile(path.join(dir, 'small'), 'hello');
    for (const f of ['a', 'b', 'small']) await store.putFile(path.join(dir, f), 'blob');
    await store.putBytes('{"version":1,"entries":[]}', 'tree');
    const u = await diskUsage(store);
    expect(u.version).toBe(1);
    expect(u.objects).toEqual({ blobs: 3, trees: 1 });
    expect(u.logicalBytes).toBe(10 * MiB + 11 * MiB + 5 + 26);
    expect(u.loose).toEqual({ objects: 2, bytes: 5 + 26 });
    expect(u.packed).toBeNull();
    expect(u.chunked.files).toBe(2);
    expect(u.chunked.logicalBytes).toBe(21 * MiB);
    expect(u.chunked.chunkBytes).toBeLessThan(13 * MiB);
    expect(u.storedBytes).toBe(31 + u.chunked.chunkBytes + u.chunked.manifestBytes);
    expect(u.savedBytes).toBe(u.logicalBytes - u.storedBytes);
    expect(u.savedBytes).toBeGreaterThan(8 * MiB);
  });
});
