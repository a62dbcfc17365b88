/**
 * Folder remotes end to end through the CLI: clone workflow, sub-path fetch, no-op push, pruning,
 * corrupt objects, status --remote, remote config, and kill -9 during push and pull.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { newLooseRepo as newRepo, snapshot, spawnTrove, tempDir, trove, write } from '../helpers/repo.js';
import { cloneOf, commitAll, corruptRemoteObject, makeFiles, objectNames, ok, okJson, verifyObjectDir } from './remoteHelpers.js';

const noTrove = (rel: string) => rel === '.git' || rel === '.trove' || rel.startsWith('.git/') || rel.startsWith('.trove/');

async function repoWithRemote(files = 40): Promise<{ a: string; remote: string }> {
  const a = await newRepo();
  const remote = path.join(tempDir('trove-remote-'), 'store');
  await makeFiles(a, 'data', files);
  await write(a, 'models/model.bin', Buffer.alloc(300_000, 7));
  await ok(a, 'add', 'data', 'models/model.bin');
  await ok(a, 'remote', 'add', 'origin', remote);
  await commitAll(a, 'data');
  return { a, remote };
}

describe('folder remote', () => {
  it('clone workflow: A pushes, a git clone B pulls identical bytes; a second push sends nothing', async () => {
    const { a, remote } = await repoWithRemote();
    const p = await okJson<{ transferred: number; strategy: string }>(a, 'push');
    expect(p.transferred).toBeGreaterThan(40);
    expect(await verifyObjectDir(remote)).toBe(p.transferred);

    const again = await okJson<{ transferred: number; checks: number; skipped: number }>(a, 'push');
    expect(again.transferred).toBe(0);
    expect(again.checks).toBe(2); // one HEAD per pointer: both roots are there, so everything is

    const b = await cloneOf(a);
    const pull = await trove(b, 'pull');
    expect(pull.code, pull.stderr).toBe(0);
    expect(await snapshot(b, noTrove)).toEqual(await snapshot(a, noTrove));
    expect((await ok(b, 'fsck')).code).toBe(0);

    // status --remote: in sync; after a change, not pushed
    const st = await okJson<{ entries: { path: string; state: string }[] }>(a, 'status', '--remote');
    expect(st.entries.map((e) => e.state)).toEqual(['in-sync', 'in-sync']);
  });

  it('after one file changes, push sends that file and the trees on its path only', async () => {
    const { a } = await repoWithRemote();
    await ok(a, 'push');
    await write(a, 'data/d1/e1/f1.txt', 'changed\n');
    await ok(a, 'add', 'data');
    const st = await okJson<{ entries: { path: string; state: string; objects: number }[] }>(a, 'status', '--remote');
    expect(st.entries.find((e) => e.path === 'data')).toMatchObject({ state: 'not-pushed', objects: 4 });
    const p = await okJson<{ transferred: number; strategy: string }>(a, 'push');
    expect(p).toMatchObject({ transferred: 4, strategy: 'inventory' }); // file + e1, d1 and root trees
  });

  it('fetch of a sub-path fetches only that subtree (and the trees on the way)', async () => {
    const { a } = await repoWithRemote();
    await ok(a, 'push');
    const b = await cloneOf(a);
    const f = await okJson<{ transferred: number }>(b, 'fetch', 'data/d2/e1');
    const cache = path.join(b, '.trove', 'cache');
    const got = await objectNames(cache);
    // the files in d2/e1, and the trees: root, d2, d2/e1 asked for, and the pack's other trees, which
    // come in the same ranged read (push puts a pack's trees last; 1 + 7 + 21 trees in all, small)
    const filesInSub = (await fsp.readdir(path.join(a, 'data/d2/e1'))).length;
    expect(got.size).toBe(1 + 7 + 21 + filesInSub);
    expect(f.transferred).toBe(3 + filesInSub);
    const pull = await trove(b, 'pull', 'data/d2/e1');
    expect(pull.code, pull.stderr).toBe(0);
    expect(await fsp.readFile(path.join(b, 'data/d2/e1/f16.txt'), 'utf8')).toBe(await fsp.readFile(path.join(a, 'data/d2/e1/f16.txt'), 'utf8'));
  });

  it('a corrupt object on the remote is refused (INTEGRITY, exit 1), not inserted; everything else is restored', async () => {
    const { a, remote } = await repoWithRemote();
    await ok(a, 'push');
    const ptr = await fsp.readFile(path.join(a, 'models/model.bin.trove'), 'utf8');
    const hex = /oid: sha256:([0-9a-f]{64})/.exec(ptr)![1];
    await corruptRemoteObject(remote, hex, Buffer.alloc(300_000, 8));
    const b = await cloneOf(a);
    const r = await trove(b, 'pull');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/models\/model\.bin/);
    expect(r.stderr).toMatch(/does not match/);
    expect(await objectNames(path.join(b, '.trove/cache'))).not.toContain(hex);
    await expect(fsp.stat(path.join(b, 'models/model.bin'))).rejects.toThrow();
    expect(await snapshot(path.join(b, 'data'))).toEqual(await snapshot(path.join(a, 'data')));
    expect((await trove(b, 'fsck')).code).toBe(0);
    // a fetch names it too
    const f = await trove(b, 'fetch', '--json');
    expect(f.code).toBe(1);
    expect(JSON.parse(f.stdout).failed[0]).toMatchObject({ code: 'INTEGRITY' });
  });

  it('pull with objects missing on the remote restores the rest and names what is missing (exit 1)', async () => {
    const { a, remote } = await repoWithRemote();
    await ok(a, 'push', 'data'); // the model is never pushed
    const b = await cloneOf(a);
    const r = await trove(b, 'pull');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/models\/model\.bin/);
    expect(await snapshot(path.join(b, 'data'))).toEqual(await snapshot(path.join(a, 'data')));
    const st = await okJson<{ entries: { path: string; state: string }[] }>(b, 'status', '--remote');
    expect(st.entries.find((e) => e.path === 'models/model.bin')?.state).toBe('missing');
    void remote;
  });

  it('push --all-branches / --all-commits sends what other revisions name', async () => {
    const { a, remote } = await repoWithRemote(5);
    await write(a, 'models/model.bin', 'v2');
    await ok(a, 'add', 'models/model.bin');
    await commitAll(a, 'v2');
    await write(a, 'models/model.bin', 'v3');
    await ok(a, 'add', 'models/model.bin');
    await commitAll(a, 'v3');
    const hexes = async () => [...(await objectNames(remote))];
    await ok(a, 'push');
    const n1 = (await hexes()).length;
    const br = await okJson<{ transferred: number }>(a, 'push', '--all-branches');
    expect(br.transferred).toBe(0); // the branch tip is the workspace
    const all = await okJson<{ transferred: number }>(a, 'push', '--all-commits');
    expect(all.transferred).toBe(2); // v1 and v2 of the model
    expect((await hexes()).length).toBe(n1 + 2);
  });

  it('remote config: relative folder paths are stored relative to the repo root; list, default, modify, remove; --local', async () => {
    const a = await newRepo();
    await fsp.mkdir(path.join(a, 'sub'));
    await ok(path.join(a, 'sub'), 'remote', 'add', 'one', '../../shared');
    await ok(a, 'remote', 'add', 'two', '/tmp/x-two', '--local');
    const cfg = await fsp.readFile(path.join(a, '.trove/config'), 'utf8');
    expect(cfg).toMatch(/url: \.\.\/shared/);
    expect(cfg).toMatch(/remote: one/); // the first remote is the default
    expect(await fsp.readFile(path.join(a, '.trove/config.local'), 'utf8')).toMatch(/x-two/);
    const list = await okJson<{ name: string; isDefault: boolean; source: string }[]>(a, 'remote', 'list');
    expect(list.map((r) => [r.name, r.isDefault, r.source])).toEqual([['one', true, 'config'], ['two', false, 'config.local']]);
    await ok(a, 'remote', 'default', 'two');
    expect((await ok(a, 'remote', 'default')).stdout.trim()).toBe('two');
    await ok(a, 'remote', 'modify', 'one', 'jobs', '4');
    expect(await fsp.readFile(path.join(a, '.trove/config'), 'utf8')).toMatch(/jobs: 4/);
    // folder remotes take no backend options
    expect((await trove(a, 'remote', 'modify', 'one', 'region', 'eu-west-1')).code).toBe(1);
    await ok(a, 'remote', 'remove', 'one');
    expect((await okJson<unknown[]>(a, 'remote', 'list')).length).toBe(1);
    expect((await trove(a, 'push', '-r', 'nope')).code).toBe(1);
  });

  it('kill -9 during push and during pull: re-running completes; nothing partial is visible', async () => {
    const a = await newRepo();
    const remote = path.join(tempDir('trove-remote-'), 'store');
    await makeFiles(a, 'data', 2500);
    await ok(a, 'add', 'data');
    await ok(a, 'remote', 'add', 'origin', remote);
    await commitAll(a, 'data');
    const killAfter = async (cwd: string, args: string[], ms: number) => {
      const child = spawnTrove(cwd, args);
      const exited = new Promise((r) => child.on('exit', r));
      await new Promise((r) => setTimeout(r, ms));
      child.kill('SIGKILL');
      await exited;
    };
    for (const ms of [250, 450, 700]) {
      await killAfter(a, ['push', '-j', '8'], ms);
      await verifyObjectDir(remote); // every visible object is complete
    }
    const p = await okJson<{ transferred: number; failed: unknown[] }>(a, 'push');
    expect(p.failed).toEqual([]);
    const total = await verifyObjectDir(remote);
    expect(total).toBe((await objectNames(path.join(a, '.trove/cache'))).size);

    const b = await cloneOf(a);
    for (const ms of [250, 450, 700]) {
      await killAfter(b, ['pull', '-j', '8'], ms);
      const fsck = await trove(b, 'fsck', '--json');
      expect(JSON.parse(fsck.stdout).corrupt).toEqual([]);
    }
    const r = await trove(b, 'pull');
    expect(r.code, r.stderr).toBe(0);
    expect(await snapshot(path.join(b, 'data'))).toEqual(await snapshot(path.join(a, 'data')));
    expect((await trove(b, 'fsck')).code).toBe(0);
  });
});
