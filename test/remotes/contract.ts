/**
 * The contract every Remote backend must meet; run by fs.test.ts and s3.test.ts.
 * Not a test file itself (no .test.ts) so that vitest collects it only through those.
 */
import path from 'node:path';
import pLimit from 'p-limit';
import { describe, expect, it } from 'vitest';
import { isTroveError } from '../../src/core/errors.js';
import type { Remote } from '../../src/remotes/remote.js';
import { fromFile, hashStream, randomFile, readAll, tempDir } from '../helpers/files.js';

const MiB = 1024 * 1024;

export interface ContractTarget {
  /** A fresh, empty remote for one test; closed by the suite. */
  open(o?: { part_size?: number }): Promise<Remote>;
  /** Extra check that a big put really went multipart (S3), or undefined. */
  assertMultipart?(remote: Remote, key: string, parts: number): Promise<void>;
}

async function expectCode(p: Promise<unknown>, code: string) {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(isTroveError(err), `expected TroveError(${code}), got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
}

async function collect(remote: Remote, prefix: string) {
  const out = [];
  for await (const e of remote.list(prefix)) out.push(e);
  return out;
}

export function remoteContract(label: string, target: ContractTarget) {
  describe(`${label}: Remote contract`, () => {
    it('put, stat and get round-trip the bytes', async () => {
      const remote = await target.open();
      const dir = await tempDir();
      const file = path.join(dir, 'a.bin');
      const digest = await randomFile(file, 300_000);
      let reported = 0;
      await remote.put('objects/sha256/ab/cdef', fromFile(file), 300_000, { onBytes: (n) => (reported += n) });
      expect(reported).toBe(300_000);
      expect(await remote.stat('objects/sha256/ab/cdef')).toEqual({ size: 300_000 });
      expect(await hashStream(await remote.get('objects/sha256/ab/cdef'))).toEqual({ sha256: digest, size: 300_000 });

      await remote.putBytes('runs/01ABC.json', '{"id":"01ABC"}');
      expect((await readAll(await remote.get('runs/01ABC.json'))).toString()).toBe('{"id":"01ABC"}');
      await remote.putBytes('runs/01ABC.json', Buffer.from('{"id":"01ABC","v":2}')); // replace
      expect((await readAll(await remote.get('runs/01ABC.json'))).toString()).toBe('{"id":"01ABC","v":2}');

      // empty object
      const empty = path.join(dir, 'empty');
      await randomFile(empty, 0);
      await remote.put('objects/empty', fromFile(empty), 0);
      expect(await remote.stat('objects/empty')).toEqual({ size: 0 });
      expect((await readAll(await remote.get('objects/empty'))).length).toBe(0);
      await remote.close();
    });

    it('a missing key is NOT_FOUND for get and null for stat; an empty remote lists nothing', async () => {
      const remote = await target.open();
      await expectCode(remote.get('objects/sha256/00/missing'), 'NOT_FOUND');
      expect(await remote.stat('objects/sha256/00/missing')).toBeNull();
      expect(await collect(remote, 'objects/')).toEqual([]);
      await remote.close();
    });

    it('lists more than 1000 keys under a prefix (pagination), then deletes them in batches', async () => {
      const remote = await target.open();
      const limit = pLimit(32);
      const keys = Array.from({ length: 2100 }, (_, i) => `objects/sha256/${(i % 256).toString(16).padStart(2, '0')}/${i.toString().padStart(6, '0')}`);
      await Promise.all(keys.map((k) => limit(() => remote.putBytes(k, k))));
      await remote.putBytes('runs/r1.json', '{}'); // outside the prefix
      const listed = await collect(remote, 'objects/');
      expect(listed.length).toBe(2100);
      expect(new Set(listed.map((e) => e.key))).toEqual(new Set(keys));
      expect(listed.find((e) => e.key === keys[7])?.size).toBe(keys[7].length);
      // A partial-segment prefix is a plain string prefix, as in S3.
      const sub = await collect(remote, 'objects/sha256/0');
      expect(sub.length).toBe(keys.filter((k) => k.startsWith('objects/sha256/0')).length);
      expect((await collect(remote, '')).length).toBe(2101);

      await remote.delete([...keys, 'objects/sha256/zz/never-existed']);
      expect(await collect(remote, 'objects/')).toEqual([]);
      expect(await remote.stat('runs/r1.json')).toEqual({ size: 2 });
      await remote.close();
    });

    it('delete takes a batch and ignores missing keys', async () => {
      const remote = await target.open();
      for (const k of ['a/1', 'a/2', 'a/3', 'a/4']) await remote.putBytes(k, k);
      await remote.delete(['a/1', 'a/3', 'a/missing']);
      expect((await collect(remote, 'a/')).map((e) => e.key).sort()).toEqual(['a/2', 'a/4']);
      await remote.delete([]);
      await remote.close();
    });

    it('a 20 MiB put with 5 MiB parts returns identical bytes', async () => {
      const remote = await target.open({ part_size: 5 * MiB });
      const dir = await tempDir();
      const file = path.join(dir, 'big.bin');
      const size = 20 * MiB;
      const digest = await randomFile(file, size);
      let reported = 0;
      await remote.put('objects/sha256/bb/big', fromFile(file), size, { onBytes: (n) => (reported += n) });
      expect(reported).toBe(size);
      expect(await remote.stat('objects/sha256/bb/big')).toEqual({ size });
      await target.assertMultipart?.(remote, 'objects/sha256/bb/big', 4);
      expect(await hashStream(await remote.get('objects/sha256/bb/big'))).toEqual({ sha256: digest, size });
      await remote.close();
    });

    it('put takes a re-openable body that is no file (a stream built on the fly, or a Buffer), small and multipart', async () => {
      const remote = await target.open({ part_size: 5 * MiB });
      const { createHash, randomBytes } = await import('node:crypto');
      const { Readable } = await import('node:stream');
      for (const size of [1000, 12 * MiB + 17]) {
        const chunks = Array.from({ length: Math.ceil(size / 65536) }, (_, i) => randomBytes(Math.min(65536, size - i * 65536)));
        const sha = createHash('sha256');
        for (const c of chunks) sha.update(c);
        const hex = sha.digest('hex');
        let opened = 0;
        await remote.put(`packs/p${size}`, () => (opened++, Readable.from(chunks)), size, { sha256: hex });
        expect(opened).toBe(1);
        expect(await hashStream(await remote.get(`packs/p${size}`))).toEqual({ sha256: hex, size });
      }
      await remote.put('objects/buf', () => Buffer.from('hello'), 5);
      expect((await readAll(await remote.get('objects/buf'))).toString()).toBe('hello');
      await remote.close();
    });

    it('a body of the wrong size or hash is INTEGRITY and leaves no object (small and multipart)', async () => {
      const remote = await target.open({ part_size: 5 * MiB });
      const { Readable } = await import('node:stream');
      const body = (n: number) => () => Readable.from([Buffer.alloc(n, 1)]);
      for (const size of [1000, 11 * MiB]) {
        await expectCode(remote.put('objects/short', body(size - 1), size), 'INTEGRITY');
        await expectCode(remote.put('objects/long', body(size + 1), size), 'INTEGRITY');
        await expectCode(remote.put('objects/wrong', body(size), size, { sha256: '0'.repeat(64) }), 'INTEGRITY');
        for (const k of ['objects/short', 'objects/long', 'objects/wrong']) expect(await remote.stat(k)).toBeNull();
      }
      expect(await collect(remote, '')).toEqual([]);
      await remote.close();
    });

    it('get with a byte range returns exactly those bytes', async () => {
      const remote = await target.open();
      const dir = await tempDir();
      const file = path.join(dir, 'r.bin');
      await randomFile(file, 100_000);
      const { readFile } = await import('node:fs/promises');
      const all = await readFile(file);
      await remote.put('packs/r.pack', () => all, all.length);
      for (const [start, end] of [[0, 0], [0, 99_999], [41, 1040], [99_000, 99_999]]) {
        const got = await readAll(await remote.get('packs/r.pack', { range: { start, end } }));
        expect(got.equals(all.subarray(start, end + 1)), `${start}-${end}`).toBe(true);
      }
      await expectCode(remote.get('packs/r.pack', { range: { start: 10, end: 5 } }), 'REMOTE');
      await expectCode(remote.get('packs/missing.pack', { range: { start: 0, end: 5 } }), 'NOT_FOUND');
      await remote.close();
    });

    it('rejects invalid keys before any I/O', async () => {
      const remote = await target.open();
      const dir = await tempDir();
      const file = path.join(dir, 'x');
      await randomFile(file, 10);
      for (const key of ['../x', '/abs', 'a/../../b', '', 'a//b', 'a/./b', 'a\\b', 'nul\0x', 'trailing/']) {
        await expectCode(remote.put(key, fromFile(file), 10), 'REMOTE');
        await expectCode(remote.putBytes(key, 'x'), 'REMOTE');
        await expectCode(remote.get(key), 'REMOTE');
        await expectCode(remote.stat(key), 'REMOTE');
        await expectCode(remote.delete(['ok/key', key]), 'REMOTE');
      }
      await expectCode(collect(remote, '../'), 'REMOTE');
      expect(await collect(remote, '')).toEqual([]);
      await remote.close();
    });
  });
}
