import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { corruptRemoteObject } from '../integration/remoteHelpers.js';
import { describe, expect, it } from 'vitest';
import { LooseStore } from '../../src/core/store/loose.js';
import { git, newLooseRepo as newRepo, tempDir, write } from '../helpers/repo.js';
import { lastRecord } from '../helpers/runs.js';
import { ok } from '../helpers/reproRepo.js';
import { objectFile } from '../helpers/cacheLayout.js';

async function twoRuns() {
  const dir = await newRepo();
  await write(dir, 'data/a.txt', 'one\n');
  await write(dir, 'data/sub/b.txt', 'two\n');
  await write(dir, 'labels.csv', 'x,y\n');
  await ok(dir, 0, 'add', 'data', 'labels.csv');
  await write(dir, 'make.mjs', `import { writeFileSync } from 'node:fs'; writeFileSync('model.txt', 'm');\n`);
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-qm', 'v1');
  await ok(dir, 0, 'run', '-n', 'on-data', '-i', 'data', '-o', 'model.txt', '--', 'node', 'make.mjs');
  const onData = await lastRecord(dir);
  await ok(dir, 0, 'run', '-n', 'on-labels', '-i', 'labels.csv', '--', 'node', '-e', '0');
  const onLabels = await lastRecord(dir);
  return { dir, onData, onLabels };
}

describe('trove runs list --stale', () => {
  it('lists the runs whose inputs changed at HEAD, and --at an older rev lists none', async () => {
    const { dir, onData, onLabels } = await twoRuns();
    expect((await ok(dir, 0, 'runs', 'list', '--stale')).stdout).toContain('No stale runs');
    await write(dir, 'data/sub/b.txt', 'two, changed\n');
    await ok(dir, 0, 'add', 'data');
    // not committed yet: HEAD still names the old version
    expect(JSON.parse((await ok(dir, 0, 'runs', 'list', '--stale', '--json')).stdout)).toEqual([]);
    await git(dir, 'commit', '-qam', 'data v2');
    const now = (await fsp.readFile(path.join(dir, 'data.trove'), 'utf8')).match(/oid: (\S+)/)![1];
    const list = JSON.parse((await ok(dir, 0, 'runs', 'list', '--stale', '--json')).stdout);
    expect(list.map((r: { id: string }) => r.id)).toEqual([onData.id]);
    expect(list[0].stale).toEqual([{ path: 'data', was: onData.inputs[0]!.oid, now }]);
    const text = (await ok(dir, 0, 'runs', 'list', '--stale')).stdout;
    expect(text).toContain(onData.id);
    expect(text).not.toContain(onLabels.id);
    expect(JSON.parse((await ok(dir, 0, 'runs', 'list', '--stale', '--at', 'HEAD~1', '--json')).stdout)).toEqual([]);
    const shown = await ok(dir, 0, 'runs', 'show', onData.id);
    expect(shown.stdout).toMatch(/stale: +YES: data is/);
    expect((await ok(dir, 0, 'runs', 'show', onLabels.id)).stdout).toMatch(/stale: +no/);
    // an input that is no longer tracked at all
    await ok(dir, 0, 'remove', 'labels.csv');
    await git(dir, 'add', '-A');
    await git(dir, 'commit', '-qm', 'drop labels');
    const after = JSON.parse((await ok(dir, 0, 'runs', 'list', '--stale', '--json')).stdout);
    expect(after.find((r: { id: string }) => r.id === onLabels.id).stale).toEqual([{ path: 'labels.csv', was: onLabels.inputs[0]!.oid, now: null }]);
    expect((await ok(dir, 1, 'runs', 'list', '--stale', '--at', 'no-such-rev')).stderr).toMatch(/unknown revision "no-such-rev"/);
  }, 30_000);
});

describe('trove verify', () => {
  it('passes when all is there, names missing and corrupt files inside folders, and finds what the cache lacks on the remote', async () => {
    const { dir, onData } = await twoRuns();
    expect((await ok(dir, 0, 'verify', onData.id)).stdout).toMatch(/0 problems/);
    const cache = new LooseStore(path.join(dir, '.trove/cache'), path.join(dir, '.trove/tmp'));
    const { loadFlatTree } = await import('../../src/core/workspace.js');
    const tree = await loadFlatTree(cache, onData.inputs[0]!.oid as never, 'data');
    const a = objectFile(cache.dir, tree.files.get('a.txt')!.oid);
    const b = objectFile(cache.dir, tree.files.get('sub/b.txt')!.oid);
    // push first, so the remote has everything, then damage the cache
    const remote = tempDir('trove-remote-');
    await ok(dir, 0, 'remote', 'add', 'origin', remote);
    await ok(dir, 0, 'push');
    await fsp.chmod(path.dirname(a), 0o755);
    await fsp.rm(a);
    await fsp.chmod(b, 0o644);
    await fsp.writeFile(b, 'tampered\n');
    const local = JSON.parse((await ok(dir, 1, 'verify', onData.id, '--local', '--json')).stdout);
    expect(local.problems).toEqual([
      { path: 'data/a.txt', oid: tree.files.get('a.txt')!.oid, problem: 'missing', looked: ['cache'], role: 'input' },
      { path: 'data/sub/b.txt', oid: tree.files.get('sub/b.txt')!.oid, problem: 'corrupt', looked: ['cache'], role: 'input' },
    ]);
    const txt = await ok(dir, 1, 'verify', onData.id, '--local');
    expect(txt.stdout).toMatch(/MISSING\s+input\s+data\/a\.txt/);
    expect(txt.stdout).toMatch(/CORRUPT\s+input\s+data\/sub\/b\.txt/);
    // the default remote holds good copies: verified there, nothing stored locally
    const withRemote = JSON.parse((await ok(dir, 0, 'verify', onData.id, '--json')).stdout);
    expect(withRemote.problems).toEqual([]);
    expect(withRemote.onRemote).toBe(2);
    expect(await fsp.stat(a).catch(() => null)).toBeNull();
    // and a remote whose copy is bad too (damaged inside its pack): named, exit 1
    await corruptRemoteObject(remote, tree.files.get('a.txt')!.oid.slice(7), 0x78);
    const both = JSON.parse((await ok(dir, 1, 'verify', onData.id, '--json')).stdout);
    expect(both.problems.map((p: { path: string; looked: string[] }) => [p.path, p.looked])).toEqual([['data/a.txt', ['cache', 'remote']]]);
  }, 30_000);
});
