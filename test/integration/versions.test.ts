import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Repo } from '../../src/core/repo.js';
import { git, newLooseRepo as newRepo, sha256File, snapshot, tempDir, trove, write } from '../helpers/repo.js';

async function addCommit(dir: string, msg: string, ...paths: string[]): Promise<void> {
  const r = await trove(dir, 'add', ...paths);
  expect(r.code, r.stderr).toBe(0);
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-qm', msg);
}

/** v1 of data/ tagged, then v2 committed: 1 modified, 1 deleted, 1 added, 1 renamed. */
async function twoVersions(): Promise<{ dir: string; v1: Map<string, string> }> {
  const dir = await newRepo();
  for (let i = 1; i <= 5; i++) await write(dir, `data/f${i}.csv`, `row ${i}\n`);
  await write(dir, 'data/sub/s.txt', 'sub');
  await addCommit(dir, 'data v1', 'data');
  await git(dir, 'tag', 'v1');
  const v1 = await snapshot(path.join(dir, 'data'));
  await write(dir, 'data/f1.csv', 'changed\n');
  await fsp.rm(path.join(dir, 'data/f2.csv'));
  await fsp.rename(path.join(dir, 'data/f3.csv'), path.join(dir, 'data/sub/moved.csv'));
  await write(dir, 'data/new.csv', 'new\n');
  await addCommit(dir, 'data v2', 'data');
  return { dir, v1 };
}

describe('the walk: v1, v2, diff, log, checkout v1, hooks', () => {
  it('diff v1 shows the file-level change; log lists both; checkout v1 -- data restores v1 bytes exactly', async () => {
    const { dir, v1 } = await twoVersions();
    const d = JSON.parse((await trove(dir, 'diff', 'v1', '--json')).stdout);
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ path: 'data', status: 'modified' });
    const anOid = expect.stringMatching(/^sha256:[0-9a-f]{64}$/);
    expect(d[0].files).toEqual({
      added: [{ path: 'data/new.csv', size: 4, oid: 'sha256:' + createHash('sha256').update('new\n').digest('hex') }],
      deleted: [{ path: 'data/f2.csv', size: 6, oid: anOid }],
      modified: [{ path: 'data/f1.csv', oldSize: 6, newSize: 8, oldOid: anOid, newOid: anOid }],
      renamed: [{ from: 'data/f3.csv', to: 'data/sub/moved.csv', size: 6, oid: anOid }],
    });
    expect(d[0].files.modified[0].oldOid).not.toBe(d[0].files.modified[0].newOid);
    const text = await trove(dir, 'diff', 'v1');
    expect(text.stdout).toMatch(/renamed: +data\/f3\.csv -> data\/sub\/moved\.csv/);
    const stat = JSON.parse((await trove(dir, 'diff', 'v1', 'HEAD', '--stat', '--json')).stdout);
    expect(stat[0].files).toEqual({ added: 1, deleted: 1, modified: 1, renamed: 1 });

    const log = JSON.parse((await trove(dir, 'log', 'data', '--json')).stdout);
    expect(log.map((r: { subject: string }) => r.subject)).toEqual(['data v2', 'data v1']);
    expect(log[0].changes).toEqual({ added: 1, modified: 1, deleted: 1, renamed: 1 });
    expect(log[1]).toMatchObject({ files: 6 });

    const r = await trove(dir, 'checkout', 'v1', '--', 'data');
    expect(r.code, r.stderr).toBe(0);
    expect(await snapshot(path.join(dir, 'data'))).toEqual(v1);
    // the pointer is v1's too, like git checkout rev -- path
    expect(await fsp.readFile(path.join(dir, 'data.trove'), 'utf8')).toBe(await git(dir, 'show', 'v1:data.trove'));
    expect(JSON.parse((await trove(dir, 'status', '--json')).stdout)[0].workspace).toBe('unchanged');
  });

  it('with hooks installed, `git checkout v1` alone brings v1 data back, and the original hook still runs', async () => {
    const { dir, v1 } = await twoVersions();
    const hooks = path.join(dir, '.git/hooks');
    await fsp.mkdir(hooks, { recursive: true });
    await fsp.writeFile(path.join(hooks, 'post-checkout'), '#!/bin/sh\necho ran >> "$(git rev-parse --git-dir)/original-hook.log"\n', { mode: 0o755 });
    expect((await trove(dir, 'install-hooks')).code).toBe(0);
    const v2 = await snapshot(path.join(dir, 'data'));
    await git(dir, 'checkout', '-q', 'v1');
    expect(await snapshot(path.join(dir, 'data'))).toEqual(v1);
    await git(dir, 'checkout', '-q', 'main');
    expect(await snapshot(path.join(dir, 'data'))).toEqual(v2);
    expect(await fsp.readFile(path.join(dir, '.git/original-hook.log'), 'utf8')).toBe('ran\nran\n');
    // install twice is harmless; uninstall restores exactly the original hook
    expect((await trove(dir, 'install-hooks')).code).toBe(0);
    expect((await trove(dir, 'install-hooks', '--uninstall')).code).toBe(0);
    expect(await fsp.readFile(path.join(hooks, 'post-checkout'), 'utf8')).toContain('original-hook.log');
    expect(existsSync(path.join(hooks, 'post-merge'))).toBe(false);
    expect(existsSync(path.join(hooks, 'post-checkout.pre-trove'))).toBe(false);
  });

  it('hooks go where core.hooksPath points (husky, simple-git-hooks)', async () => {
    const { dir, v1 } = await twoVersions();
    await git(dir, 'config', 'core.hooksPath', '.husky/_');
    expect((await trove(dir, 'install-hooks')).code).toBe(0);
    expect(existsSync(path.join(dir, '.husky/_/post-checkout'))).toBe(true);
    await git(dir, 'checkout', '-q', 'v1');
    expect(await snapshot(path.join(dir, 'data'))).toEqual(v1);
  });
});

describe('git edge cases', () => {
  it('an unknown revision and a path not tracked at a revision are clear errors that change nothing', async () => {
    const { dir } = await twoVersions();
    const before = await snapshot(dir, (p) => p === '.git' || p.startsWith('.trove'));
    const r = await trove(dir, 'checkout', 'no-such-tag', '--', 'data');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown revision "no-such-tag"/);
    const r2 = await trove(dir, 'checkout', 'v1', '--', 'models');
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/models: not tracked by trove at v1/);
    const r3 = await trove(dir, 'diff', 'nope', 'HEAD', '--', 'data');
    expect(r3.code).toBe(1);
    expect(await snapshot(dir, (p) => p === '.git' || p.startsWith('.trove'))).toEqual(before);
  });

  it('works on a detached HEAD', async () => {
    const { dir, v1 } = await twoVersions();
    await git(dir, 'checkout', '-q', '--detach', 'v1');
    expect((await trove(dir, 'checkout')).code).toBe(0);
    expect(await snapshot(path.join(dir, 'data'))).toEqual(v1);
    const d = JSON.parse((await trove(dir, 'diff', 'main', '--json')).stdout);
    expect(d[0].files.renamed).toMatchObject([{ from: 'data/sub/moved.csv', to: 'data/f3.csv', size: 6 }]);
  });

  it('restores a pointer deleted in the workspace', async () => {
    const { dir } = await twoVersions();
    await fsp.rm(path.join(dir, 'data.trove'));
    await fsp.rm(path.join(dir, 'data'), { recursive: true });
    expect((await trove(dir, 'checkout', 'HEAD', '--', 'data')).code).toBe(0);
    expect(existsSync(path.join(dir, 'data.trove'))).toBe(true);
    expect(await fsp.readFile(path.join(dir, 'data/new.csv'), 'utf8')).toBe('new\n');
  });

  it('never overwrites uncommitted workspace data without --force', async () => {
    const { dir } = await twoVersions();
    await write(dir, 'data/f1.csv', 'precious, not added');
    const r = await trove(dir, 'checkout', 'v1', '--', 'data');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('data/f1.csv');
    expect(await fsp.readFile(path.join(dir, 'data/f1.csv'), 'utf8')).toBe('precious, not added');
    expect(await fsp.readFile(path.join(dir, 'data.trove'), 'utf8')).toBe(await git(dir, 'show', 'HEAD:data.trove'));
    expect((await trove(dir, 'checkout', '--force', 'v1', '--', 'data')).code).toBe(0);
    expect(await fsp.readFile(path.join(dir, 'data/f1.csv'), 'utf8')).toBe('row 1\n');
  });

  it('objects missing from the cache: names them and the fetch command, changes nothing', async () => {
    const { dir } = await twoVersions();
    const repo = await Repo.open(dir);
    const f1v1 = 'sha256:' + (await sha256File(path.join(dir, 'data/f4.csv'))); // unchanged file: shared
    const oldF1 = (await git(dir, 'show', 'v1:data.trove')).match(/oid: (sha256:\w+)/)![1];
    void f1v1;
    // drop v1's version of f1.csv from the cache
    const { createHash } = await import('node:crypto');
    const gone = `sha256:${createHash('sha256').update('row 1\n').digest('hex')}` as const;
    await repo.cache.delete([{ oid: gone, kind: 'blob' }]);
    repo.close();
    const before = await snapshot(dir, (p) => p === '.git' || p.startsWith('.trove'));
    const r = await trove(dir, 'checkout', 'v1', '--', 'data');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not in the cache: data\/f1\.csv/);
    expect(r.stderr).toMatch(/trove fetch|trove pull/);
    const after = await snapshot(dir, (p) => p === '.git' || p.startsWith('.trove'));
    expect([...after].filter(([k, v]) => before.get(k) !== v)).toEqual([]);
    expect(after).toEqual(before);
    expect(oldF1).toMatch(/^sha256:/);
  });

  it('a merge conflict in a pointer is reported with both oids; --theirs resolves it with its data', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a', 'base');
    await addCommit(dir, 'base', 'data');
    await git(dir, 'checkout', '-q', '-b', 'other');
    await write(dir, 'data/a', 'theirs');
    await addCommit(dir, 'theirs', 'data');
    const theirsOid = (await fsp.readFile(path.join(dir, 'data.trove'), 'utf8')).match(/oid: (\S+)/)![1];
    await git(dir, 'checkout', '-q', 'main');
    await trove(dir, 'checkout');
    await write(dir, 'data/a', 'ours');
    await addCommit(dir, 'ours', 'data');
    const oursOid = (await fsp.readFile(path.join(dir, 'data.trove'), 'utf8')).match(/oid: (\S+)/)![1];
    const m = await import('../helpers/repo.js').then((h) => h.sh('git', ['merge', 'other'], dir));
    expect(m.code).not.toBe(0);
    // status reports the conflict (exit 0: it could report), with both sides and the fix
    const st = await trove(dir, 'status');
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toContain('merge conflict');
    expect(st.stdout).toContain(oursOid);
    expect(st.stdout).toContain(theirsOid);
    expect(st.stdout).toContain('trove checkout --theirs data');
    const sj = JSON.parse((await trove(dir, 'status', '--json')).stdout);
    expect(sj).toEqual([expect.objectContaining({ path: 'data', workspace: 'conflict', conflict: expect.objectContaining({ ours: oursOid, theirs: theirsOid }) })]);
    // commands that need the pointer still refuse, naming the conflict
    const co = await trove(dir, 'checkout');
    expect(co.code).toBe(1);
    expect(co.stderr).toContain('trove checkout --theirs data');
    const r = await trove(dir, 'checkout', '--theirs', 'data');
    expect(r.code, r.stderr).toBe(0);
    expect(await fsp.readFile(path.join(dir, 'data/a'), 'utf8')).toBe('theirs');
    expect(await fsp.readFile(path.join(dir, 'data.trove'), 'utf8')).toContain(theirsOid);
    expect((await trove(dir, 'checkout', '--ours', 'data')).code).toBe(0);
    expect(await fsp.readFile(path.join(dir, 'data/a'), 'utf8')).toBe('ours');
  });

  it('pointers in subfolders, and a worktree that shares the main cache', async () => {
    const dir = await newRepo();
    await write(dir, 'exp/one/data/x.csv', 'x');
    await write(dir, 'exp/one/model.bin', 'model');
    await addCommit(dir, 'sub', 'exp/one/data', 'exp/one/model.bin');
    expect(await fsp.readFile(path.join(dir, 'exp/one/.gitignore'), 'utf8')).toBe('/data\n/model.bin\n');
    const wt = path.join(tempDir(), 'wt');
    await git(dir, 'worktree', 'add', '-q', wt, '-b', 'wt');
    // no pull, no copy of the cache: the worktree reads the main checkout's cache
    const r = await trove(wt, 'checkout');
    expect(r.code, r.stderr).toBe(0);
    expect(await fsp.readFile(path.join(wt, 'exp/one/model.bin'), 'utf8')).toBe('model');
    expect(existsSync(path.join(wt, '.trove/cache'))).toBe(false);
    const log = JSON.parse((await trove(path.join(dir, 'exp/one'), 'log', 'model.bin', '--json')).stdout);
    expect(log).toHaveLength(1);
  });

  it('log follows a renamed pointer', async () => {
    const dir = await newRepo();
    await write(dir, 'm.bin', 'v1');
    await addCommit(dir, 'v1', 'm.bin');
    await write(dir, 'm.bin', 'v2');
    await addCommit(dir, 'v2', 'm.bin');
    expect((await trove(dir, 'move', 'm.bin', 'model.bin')).code).toBe(0);
    await git(dir, 'add', '-A');
    await git(dir, 'commit', '-qm', 'rename');
    const log = JSON.parse((await trove(dir, 'log', 'model.bin', '--json')).stdout);
    expect(log.map((r: { subject: string }) => r.subject)).toEqual(['rename', 'v2', 'v1']);
    expect(log[2].pointerFile).toBe('m.bin.trove');
  });

  it('core.autostage stages pointers and .gitignore after add and checkout of a revision', async () => {
    const dir = await newRepo();
    expect((await trove(dir, 'config', 'core.autostage', 'true')).code).toBe(0);
    await write(dir, 'data/a', 'a');
    expect((await trove(dir, 'add', 'data')).code).toBe(0);
    const staged = (await git(dir, 'diff', '--cached', '--name-only')).split('\n');
    expect(staged).toContain('data.trove');
    expect(staged).toContain('.gitignore');
  });

  it('diff of two versions of a big folder reads only the trees on the changed paths', async () => {
    const dir = await newRepo();
    for (let d = 0; d < 20; d++) for (let f = 0; f < 5; f++) await write(dir, `data/d${d}/f${f}`, `${d}/${f}`);
    await addCommit(dir, 'v1', 'data');
    await write(dir, 'data/d7/f1', 'changed');
    await addCommit(dir, 'v2', 'data');
    // delete every unchanged sub-folder's tree object: a diff that read them would fail
    const repo = await Repo.open(dir);
    const { readTree } = await import('../../src/core/workspace.js');
    const root = (await repo.listTracked())[0].pointer.oid;
    for (const e of await readTree(repo.cache, root, 'data')) if (e.name !== 'd7') await repo.cache.delete([{ oid: e.oid, kind: e.type === 'dir' ? 'tree' : 'blob' }]);
    repo.close();
    const d = JSON.parse((await trove(dir, 'diff', 'HEAD~1', 'HEAD', '--json')).stdout);
    expect(d[0].files).toMatchObject({ added: [], deleted: [], modified: [{ path: 'data/d7/f1', oldSize: 3, newSize: 7 }], renamed: [] });
  });
});
