/**
 * Checkout records the stat of what it wrote so that an immediate add or status does not re-hash it
 * (src/core/ops/checkoutRacy.ts), while git's racy rule still holds: a file whose mtime is not older
 * than the filesystem clock read after the writes is not trusted.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, promises as fsp, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fsClockAt, recordWritten } from '../../src/core/ops/checkoutRacy.js';
import { hashBytes, type Oid } from '../../src/core/oid.js';
import { StatusIndex, statKey } from '../../src/core/statusIndex.js';
import { newRepo, tempDir, trove, write } from '../helpers/repo.js';

async function ok(dir: string, ...args: string[]) {
  const r = await trove(dir, ...args);
  expect(r.code, `trove ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}

describe('racy rows after checkout', () => {
  it('files older than the clock read after them are trusted at once; one written at or after it, or with no clock, is not', async () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'd'));
    const files = ['a', 'b', 'c'].map((n) => ({ rel: `d/${n}`, oid: hashBytes(n) as Oid, exec: false }));
    for (const f of files) writeFileSync(path.join(dir, f.rel), f.rel);
    // a few ms: past the kernel's timestamp tick, so the probe's mtime is later than the files'
    await new Promise((r) => setTimeout(r, 30));
    const clock = fsClockAt(dir);
    expect(clock).not.toBeNull();
    expect(clock!).toBeGreaterThan(statSync(path.join(dir, 'd/a')).mtimeMs);
    // d/c changes after the clock was read (as another process could): it gets the normal rule
    writeFileSync(path.join(dir, 'd/c'), 'd/C');
    const idx = StatusIndex.load(path.join(dir, 'index'));
    expect(recordWritten(idx, files, (rel) => path.join(dir, rel), clock)).toEqual({ settled: 2 });
    const lookup = (rel: string) => idx.lookup(rel, statKey(statSync(path.join(dir, rel))));
    expect(lookup('d/a')).toBe(files[0].oid);
    expect(lookup('d/b')).toBe(files[1].oid);
    expect(lookup('d/c')).toBeNull();
    // the probe left nothing behind
    expect((await fsp.readdir(dir)).sort()).toEqual(['d']);
    // no clock (the folder took no probe): every row is racy as before
    const idx2 = StatusIndex.load(path.join(dir, 'index2'));
    expect(recordWritten(idx2, files, (rel) => path.join(dir, rel), null)).toEqual({ settled: 0 });
    expect(idx2.lookup('d/a', statKey(statSync(path.join(dir, 'd/a'))))).toBeNull();
  });

  it('an add right after a checkout re-hashes (almost) nothing, and an edit after the checkout is still seen', async () => {
    const dir = await newRepo();
    for (let i = 0; i < 300; i++) await write(dir, `data/d${i % 6}/f${i}.bin`, randomBytes(200 + i));
    await ok(dir, 'add', 'data');
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    await ok(dir, 'checkout');
    const add = JSON.parse((await ok(dir, 'add', 'data', '--json')).stdout);
    // only files written in the clock tick of the probe may be racy; before this change all 300 were hashed
    expect(add.results[0].changed).toBe(false);
    expect(add.results[0].hashed).toBeLessThan(300);
    // same size, written now: racy or a new mtime, either way hashed and seen
    await fsp.writeFile(path.join(dir, 'data/d0/f0.bin'), randomBytes(200));
    const st = JSON.parse((await ok(dir, 'status', '--json')).stdout);
    expect(st[0]).toMatchObject({ path: 'data', workspace: 'modified' });
  });
});
