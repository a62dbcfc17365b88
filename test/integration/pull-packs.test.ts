/**
 * Pull's whole-pack path (pullPacks.ts, RemoteStore.downloadPack) on a real folder remote: a pack of
 * which most is wanted becomes a local pack as it is; a pack with one corrupt object is never
 * adopted (nothing of it enters the cache whole), the other objects still arrive through ranged
 * reads and only the corrupt one fails; no temp file is left either way.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Repo } from '../../src/core/repo.js';
import { fetch } from '../../src/core/transfer.js';
import { newRepo, tempDir } from '../helpers/repo.js';
import { cloneOf, commitAll, makeFiles, ok, remotePacks } from './remoteHelpers.js';

async function withRepo<T>(dir: string, fn: (repo: Repo) => Promise<T>): Promise<T> {
  const repo = await Repo.open(dir);
  try {
    return await fn(repo);
  } finally {
    repo.close();
  }
}

const localPacks = async (dir: string) => (await fsp.readdir(path.join(dir, '.trove/cache/packs')).catch(() => [] as string[])).filter((f) => f.endsWith('.pack'));
const tmpLeft = async (dir: string) => (await fsp.readdir(path.join(dir, '.trove/tmp')).catch(() => [] as string[]));

async function pushed(files: number): Promise<{ dir: string; remote: string }> {
  const dir = await newRepo();
  const remote = path.join(tempDir(), 'remote');
  await makeFiles(dir, 'data', files);
  await ok(dir, 'add', 'data');
  await ok(dir, 'remote', 'add', 'origin', remote);
  await commitAll(dir, 'data');
  await ok(dir, 'push');
  return { dir, remote };
}

describe('pull of whole packs', () => {
  it('a remote pack that is mostly wanted becomes a local pack byte for byte, and the checkout matches', async () => {
    const { dir, remote } = await pushed(200);
    const ids = [...(await remotePacks(remote)).keys()];
    expect(ids.length).toBe(1);
    const b = await cloneOf(dir);
    const f = await withRepo(b, (repo) => fetch(repo, { runs: false }));
    expect(f.failed).toEqual([]);
    expect(f.transferred).toBeGreaterThanOrEqual(200);
    expect(await localPacks(b)).toContain(`${ids[0]}.pack`);
    const local = await fsp.readFile(path.join(b, '.trove/cache/packs', `${ids[0]}.pack`));
    expect(local.equals(await fsp.readFile(path.join(remote, 'packs', `${ids[0]}.pack`)))).toBe(true);
    expect(await tmpLeft(b)).toEqual([]);
    await ok(b, 'checkout');
    for (const rel of ['data/d0/e0/f0.txt', 'data/d6/e2/f188.txt']) {
      expect(await fsp.readFile(path.join(b, rel), 'utf8')).toBe(await fsp.readFile(path.join(dir, rel), 'utf8'));
    }
    expect((await ok(b, 'fsck')).code).toBe(0);
  });

  it('a pack with one corrupt object is not adopted: the others arrive by range, the corrupt one fails INTEGRITY, nothing half-written stays', async () => {
    const { dir, remote } = await pushed(200);
    const [[id, idx]] = [...(await remotePacks(remote))];
    const victim = [...idx.entries()].find((e) => e.kind === 'blob' && e.length > 10)!;
    const file = path.join(remote, 'packs', `${id}.pack`);
    await fsp.chmod(file, 0o644);
    const bytes = await fsp.readFile(file);
    bytes[victim.offset + 3] ^= 0xff;
    await fsp.writeFile(file, bytes);
    const c = await cloneOf(dir);
    const f = await withRepo(c, (repo) => fetch(repo, { runs: false }));
    // the whole-pack download is refused; the ranged path then fails the run holding the corrupt
    // object (INTEGRITY) and never inserts it
    expect(f.failed.length).toBeGreaterThan(0);
    expect(f.failed.every((x) => x.code === 'INTEGRITY')).toBe(true);
    expect(f.failed.map((x) => x.oid)).toContain(victim.oid);
    expect(await localPacks(c)).not.toContain(`${id}.pack`);
    expect(await tmpLeft(c)).toEqual([]);
    await withRepo(c, async (repo) => expect(repo.cache.hasSync(victim.oid, 'blob')).toBe(false));
    expect((await ok(c, 'fsck')).code).toBe(0);
  });
});
