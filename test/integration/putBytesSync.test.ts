import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hashBytes } from '../../src/core/oid.js';
import { ChunkedStore } from '../../src/core/store/chunked.js';
import { LooseStore } from '../../src/core/store/loose.js';
import { PACK_MAX_OBJECT, PackedStore } from '../../src/core/store/packed.js';
import { tempDir } from '../helpers/files.js';

// putBytesSync: the synchronous insert a pull uses for objects read out of remote packs
describe('putBytesSync', () => {
  it('loose: stores verified-by-name bytes once; a second insert keeps the existing file (hardlinks to it survive)', async () => {
    const dir = await tempDir();
    const s = new LooseStore(path.join(dir, 'cache'), path.join(dir, 'tmp'));
    const buf = randomBytes(3000);
    const oid = s.putBytesSync(buf, 'blob');
    expect(oid).toBe(hashBytes(buf));
    expect(s.readSmall(oid, 'blob')).toEqual(buf);
    const ws = path.join(dir, 'ws');
    expect(s.materializeSync(oid, ws, 'hardlink', false, true)).toBe('hardlink');
    const ino = statSync(ws).ino;
    expect(s.putBytesSync(buf, 'blob')).toBe(oid);
    const again = path.join(dir, 'ws2');
    s.materializeSync(oid, again, 'hardlink', false, true);
    expect(statSync(again).ino).toBe(ino);
  });

  it('chunked over packed: small bytes go to a pack, large ones loose; both read back whole', async () => {
    const dir = await tempDir();
    const s = new ChunkedStore(new PackedStore(new LooseStore(path.join(dir, 'cache'), path.join(dir, 'tmp'))));
    expect(typeof s.putBytesSync).toBe('function');
    const small = randomBytes(1024);
    const large = randomBytes(PACK_MAX_OBJECT + 10);
    const a = s.putBytesSync!(small, 'blob');
    const b = s.putBytesSync!(large, 'blob');
    await s.syncToDisk();
    expect(s.readSmall(a, 'blob')).toEqual(small);
    expect(s.readSmall(b, 'blob')).toEqual(large);
    expect(s.hasSync(a, 'blob') && s.hasSync(b, 'blob')).toBe(true);
  });

  it('materializeSync copies a small loose file by read + write with the exact mode, whatever the umask', async () => {
    const dir = await tempDir();
    const s = new LooseStore(path.join(dir, 'cache'), path.join(dir, 'tmp'));
    const buf = randomBytes(2048);
    const oid = s.putBytesSync(buf, 'blob');
    const old = process.umask(0o077);
    try {
      const plain = path.join(dir, 'plain');
      const exe = path.join(dir, 'exe');
      expect(s.materializeSync(oid, plain, 'copy', false, true)).toBe('copy');
      s.materializeSync(oid, exe, 'copy', true, false);
      expect(readFileSync(plain)).toEqual(buf);
      expect(statSync(plain).mode & 0o777).toBe(0o644);
      expect(statSync(exe).mode & 0o777).toBe(0o755);
      // a copy, not a link: the cache's file is untouched by a write to the workspace
      expect(statSync(plain).ino).not.toBe(statSync(exe).ino);
    } finally {
      process.umask(old);
    }
  });
  it('packed over a store without putBytesSync: the method is absent (callers use putBytes), never a TypeError', async () => {
    const dir = await tempDir();
    const loose = new LooseStore(path.join(dir, 'cache'), path.join(dir, 'tmp'));
    Object.defineProperty(loose, 'putBytesSync', { value: undefined }); // an inner store that lacks the optional method
    const packed = new PackedStore(loose);
    expect(packed.putBytesSync).toBeUndefined();
    expect(new ChunkedStore(packed).putBytesSync).toBeUndefined();
    // the async path stores both sizes
    const large = randomBytes(PACK_MAX_OBJECT + 10);
    const oid = await packed.putBytes(large, 'blob');
    expect(packed.readSmall(oid, 'blob')).toEqual(large);
    // with the method on the inner store, large bytes go through it and small ones to a pack
    const full = new PackedStore(new LooseStore(path.join(dir, 'c2'), path.join(dir, 't2')));
    const big = full.putBytesSync!(large, 'blob');
    const small = full.putBytesSync!(randomBytes(100), 'blob');
    await full.syncToDisk();
    expect(full.packs.has(small, 'blob')).toBe(true);
    expect(full.packs.has(big, 'blob')).toBe(false);
    expect(full.readSmall(big, 'blob')).toEqual(large);
  });
});
