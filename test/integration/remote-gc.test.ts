/**
 * gc scopes: branches and tags (default), --all-commits, staged pointers, the grace period, --dry-run,
 * the refusal without a terminal, and gc --remote on a folder remote.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { git, newLooseRepo as newRepo, tempDir, trove, write } from '../helpers/repo.js';
import { commitAll, objectNames, ok, okJson } from './remoteHelpers.js';

interface Plan { candidates: { oid: string }[]; keptYoung: number; reachable: number }

async function addOid(dir: string, rel: string, content: string): Promise<string> {
  await write(dir, rel, content);
  const r = await okJson<{ results: { oid: string }[] }>(dir, 'add', rel);
  return r.results[0].oid.slice(7);
}

/** Sets every object's mtime in an object dir back by `hours`. */
async function age(root: string, hours: number, only?: string): Promise<void> {
  const t = new Date(Date.now() - hours * 3600_000);
  for (const hex of await objectNames(root)) {
    if (only && hex !== only) continue;
    const p = path.join(root, 'objects/sha256', hex.slice(0, 2), hex.slice(2));
    await fsp.utimes(p, t, t).catch(() => {}); // packed on a remote: see below
  }
  // a folder remote's packs (and gc's doomed markers) carry the upload time of what they hold
  if (!only) for (const name of await fsp.readdir(path.join(root, 'packs')).catch(() => [] as string[])) await fsp.utimes(path.join(root, 'packs', name), t, t);
}

describe('gc', () => {
  it('keeps what branch and tag tips, the index and the workspace name; objects of old commits only with --all-commits', async () => {
    const a = await newRepo();
    const cache = path.join(a, '.trove/cache');
    const old = await addOid(a, 'model.bin', 'old version');
    await commitAll(a, 'old');
    const tagged = await addOid(a, 'model.bin', 'tagged version');
    await commitAll(a, 'tagged');
    await git(a, 'tag', 'v1');
    await git(a, 'checkout', '-q', '-b', 'feature');
    const feat = await addOid(a, 'model.bin', 'feature version');
    await commitAll(a, 'feature');
    await git(a, 'checkout', '-q', 'main');
    await ok(a, 'checkout', '--force');
    const head = await addOid(a, 'model.bin', 'head version');
    await commitAll(a, 'head');
    const staged = await addOid(a, 'other.bin', 'staged only');
    await git(a, 'add', 'other.bin.trove');
    const junk = await addOid(a, 'junk.bin', 'never committed');
    await ok(a, 'remove', 'junk.bin');
    const work = await addOid(a, 'model.bin', 'workspace version, not committed');

    await age(cache, 48);
    const all = await objectNames(cache);
    for (const o of [old, tagged, feat, head, staged, junk, work]) expect(all).toContain(o);

    // --dry-run: reports, deletes nothing
    const dry = await okJson<Plan>(a, 'gc', '--dry-run');
    // "old" is named only by the first commit (no branch or tag tip): a candidate by default
    expect(new Set(dry.candidates.map((c) => c.oid.slice(7)))).toEqual(new Set([junk, old]));
    expect(await objectNames(cache)).toEqual(all);

    // no terminal, no --force: refuses, exit 1, nothing deleted
    const refused = await trove(a, 'gc');
    expect(refused.code).toBe(1);
    expect(await objectNames(cache)).toEqual(all);

    // a young unreachable object is kept
    await age(cache, 0, junk);
    expect((await okJson<Plan>(a, 'gc', '--dry-run')).candidates.map((c) => c.oid.slice(7))).toEqual([old]);
    await age(cache, 48, junk);

    await ok(a, 'gc', '--force', '--all-commits');
    let now = await objectNames(cache);
    expect(now).not.toContain(junk);
    for (const o of [old, tagged, feat, head, staged, work]) expect(now).toContain(o);
    await ok(a, 'gc', '--force');
    now = await objectNames(cache);
    expect(now).not.toContain(old);
    for (const o of [tagged, feat, head, staged, work]) expect(now).toContain(o);
  });

  it('default scope drops objects that only old commits name; --all-commits keeps them; --grace from config', async () => {
    const a = await newRepo();
    const cache = path.join(a, '.trove/cache');
    const v1 = await addOid(a, 'model.bin', 'v1');
    await commitAll(a, 'v1');
    const v2 = await addOid(a, 'model.bin', 'v2');
    await commitAll(a, 'v2');
    await git(a, 'tag', 'release', 'HEAD');
    const v3 = await addOid(a, 'model.bin', 'v3');
    await commitAll(a, 'v3');
    await age(cache, 48);
    const keepAll = await okJson<Plan>(a, 'gc', '--dry-run', '--all-commits');
    expect(keepAll.candidates).toEqual([]);
    const def = await okJson<Plan>(a, 'gc', '--dry-run');
    expect(def.candidates.map((c) => c.oid.slice(7))).toEqual([v1]);
    await ok(a, 'config', 'gc.grace', '100h');
    expect((await okJson<Plan>(a, 'gc', '--dry-run')).candidates).toEqual([]);
    await ok(a, 'gc', '--force', '--grace', '1h');
    const left = await objectNames(cache);
    expect(left).not.toContain(v1);
    expect(left).toContain(v2);
    expect(left).toContain(v3);
    expect((await trove(a, 'fsck')).code).toBe(0);
  });

  it('gc --remote needs --force without a terminal, and keeps what the scope names', async () => {
    const a = await newRepo();
    const remote = path.join(tempDir('trove-remote-'), 'store');
    await ok(a, 'remote', 'add', 'origin', remote);
    const v1 = await addOid(a, 'model.bin', 'v1');
    await commitAll(a, 'v1');
    await write(a, 'data/x/y.txt', 'y');
    await ok(a, 'add', 'data');
    const v2 = await addOid(a, 'model.bin', 'v2');
    await commitAll(a, 'v2');
    await ok(a, 'push', '--all-commits');
    await age(remote, 48);
    expect((await trove(a, 'gc', '--remote', 'origin', '--dry-run')).code).toBe(0);
    expect((await trove(a, 'gc', '--remote', 'origin')).code).toBe(1);
    const before = await objectNames(remote);
    expect(before).toContain(v1);
    await ok(a, 'gc', '--remote', 'origin', '--force');
    const after = await objectNames(remote);
    expect(after).not.toContain(v1);
    expect(after).toContain(v2);
    expect(after.size).toBe(before.size - 1);
  });
});

describe('revs', () => {
  it('a bad pointer at an old revision is reported with rev and path and skipped; an unknown revision is NOT_FOUND', async () => {
    const { pointersAtRevs, listRevs, resolveRev } = await import('../../src/core/revs.js');
    const { Git } = await import('../../src/core/git/git.js');
    const a = await newRepo();
    await addOid(a, 'm.bin', 'm');
    await write(a, 'bad.trove', 'version: 1\npath: ../escape\ntype: file\noid: sha256:00\nsize: 1\n');
    await commitAll(a, 'with a bad pointer');
    await fsp.rm(path.join(a, 'bad.trove'));
    await commitAll(a, 'fixed');
    const g = new Git(a);
    const revs = await listRevs(g, { allCommits: true });
    expect(revs.length).toBe(2);
    const { tracked, bad } = await pointersAtRevs(g, revs);
    expect(tracked.filter((t) => t.path === 'm.bin').length).toBe(2);
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatchObject({ pointerFile: 'bad.trove' });
    await expect(resolveRev(g, 'no-such-branch')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const r = await trove(a, 'gc', '--dry-run', '--all-commits');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/bad\.trove/);
  });
});
