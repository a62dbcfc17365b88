/**
 * Where the issues meet: run records travel with push/pull, gc keeps what runs used, checkout of a
 * revision fetches from the default remote, and the pre-push hook pushes data before git pushes code.
 */
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { git, newLooseRepo as newRepo, sh, snapshot, tempDir, trove, write } from '../helpers/repo.js';
import { cloneOf, commitAll, objectNames, ok, okJson, verifyObjectDir } from './remoteHelpers.js';

const TRAIN = `const fs=require('fs');fs.mkdirSync('models',{recursive:true});fs.writeFileSync('models/model.bin','model of '+fs.readFileSync('data/train.csv','utf8'))`;

async function setup(): Promise<{ a: string; remote: string; runId: string }> {
  const a = await newRepo();
  const remote = path.join(tempDir('trove-remote-'), 'store');
  await write(a, 'data/train.csv', 'x,y\n1,2\n');
  await ok(a, 'add', 'data');
  await ok(a, 'remote', 'add', 'origin', remote);
  await commitAll(a, 'data v1');
  const r = await trove(a, 'run', '-n', 'train', '-i', 'data', '-o', 'models/model.bin', '--', process.execPath, '-e', TRAIN);
  expect(r.code, r.stderr).toBe(0);
  const runs = await okJson<{ runs: { id: string }[] } | { id: string }[]>(a, 'runs', 'list', '--json');
  const list = Array.isArray(runs) ? runs : runs.runs;
  expect(list).toHaveLength(1);
  await commitAll(a, 'model');
  return { a, remote, runId: list[0].id };
}

describe('runs travel with push and pull', () => {
  it("a teammate's clone answers the same lineage questions and restores the run's outputs", async () => {
    const { a, remote, runId } = await setup();
    const p = await okJson<{ records?: { transferred: number } }>(a, 'push');
    expect(p.records?.transferred).toBe(1);
    expect(existsSync(path.join(remote, 'runs', `${runId}.json`))).toBe(true);
    await verifyObjectDir(remote);

    const b = await cloneOf(a);
    expect((await trove(b, 'pull')).code).toBe(0);
    const runs = JSON.parse((await trove(b, 'runs', 'list', '--json')).stdout);
    expect(JSON.stringify(runs)).toContain(runId);
    const lin = await trove(b, 'lineage', 'models/model.bin', '--format', 'json');
    expect(lin.code, lin.stderr).toBe(0);
    expect(lin.stdout).toContain(runId);
    // the run's outputs come back from B's cache, filled by the pull
    await fsp.rm(path.join(b, 'models/model.bin'));
    expect((await trove(b, 'checkout', '--run', runId, '--outputs')).code).toBe(0);
    expect(await fsp.readFile(path.join(b, 'models/model.bin'), 'utf8')).toBe('model of x,y\n1,2\n');
    // a second push sends no record again
    const again = await okJson<{ records?: { transferred: number; skipped: number } }>(a, 'push');
    expect(again.records).toMatchObject({ transferred: 0, skipped: 1 });
  });

  it('a hostile run record on the remote is refused by fetch and never written', async () => {
    const { a, remote } = await setup();
    await ok(a, 'push');
    const evil = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
    await fsp.writeFile(path.join(remote, 'runs', `${evil}.json`), JSON.stringify({ schema: 1, id: evil, inputs: [{ path: '../../etc/passwd' }] }));
    const b = await cloneOf(a);
    const f = await okJson<{ records?: { rejected?: { key: string }[]; transferred: number } }>(b, 'fetch');
    expect(f.records?.transferred).toBe(1);
    expect(f.records?.rejected?.map((r) => r.key)).toEqual([`runs/${evil}.json`]);
    expect(existsSync(path.join(b, '.trove/runs', `${evil}.json`))).toBe(false);
  });
});

describe('gc and runs', () => {
  it("keeps every version a run read or wrote, even when no pointer names it any more", async () => {
    const { a } = await setup();
    const model = await fsp.readFile(path.join(a, 'models/model.bin.trove'), 'utf8');
    const oid = /oid: (\S+)/.exec(model)![1];
    // forget the model everywhere in git and the workspace
    await ok(a, 'remove', '--purge', 'models/model.bin');
    await commitAll(a, 'drop model');
    await git(a, 'reflog', 'expire', '--expire=now', '--all');
    await git(a, 'checkout', '-q', '--orphan', 'fresh');
    await git(a, 'commit', '-qm', 'fresh start', '--allow-empty');
    await git(a, 'branch', '-D', 'main');
    const plan = await okJson<{ candidates?: unknown[]; count?: number }>(a, 'gc', '--dry-run', '--grace', '0s');
    expect(JSON.stringify(plan)).not.toContain(oid);
    const objPath = path.join(a, '.trove/cache/objects/sha256', oid.slice(7, 9), oid.slice(9));
    expect(existsSync(objPath)).toBe(true);
    await ok(a, 'gc', '--force', '--grace', '0s');
    expect(existsSync(objPath)).toBe(true);
    // the run record was what kept it: without the record, the same gc deletes it
    await fsp.rm(path.join(a, '.trove/runs'), { recursive: true });
    await ok(a, 'gc', '--force', '--grace', '0s');
    expect(existsSync(objPath)).toBe(false);
  });
});

describe('checkout of a revision fetches from the default remote', () => {
  it('a fresh clone restores an old version it never pulled', async () => {
    const { a } = await setup();
    await git(a, 'tag', 'v1');
    await write(a, 'data/train.csv', 'x,y\n3,4\n');
    await ok(a, 'add', 'data');
    await commitAll(a, 'data v2');
    await ok(a, 'push', '--all-tags', '--all-branches');
    const b = await cloneOf(a);
    const r = await trove(b, 'checkout', 'v1', '--', 'data');
    expect(r.code, r.stderr).toBe(0);
    expect(await fsp.readFile(path.join(b, 'data/train.csv'), 'utf8')).toBe('x,y\n1,2\n');
  });
});

describe('pre-push hook', () => {
  it('pushes the data of the pushed commits, and stops the git push when that fails', async () => {
    const { a, remote } = await setup();
    const bare = path.join(tempDir(), 'origin.git');
    await git(a, 'init', '-q', '--bare', bare);
    await git(a, 'remote', 'add', 'gitorigin', bare);
    await ok(a, 'install-hooks');
    const gp = await sh('git', ['push', '-q', 'gitorigin', 'main'], a);
    expect(gp.code, gp.stderr).toBe(0);
    const dataOid = /oid: sha256:(\S+)/.exec(await fsp.readFile(path.join(a, 'data.trove'), 'utf8'))![1];
    expect((await objectNames(remote)).has(dataOid)).toBe(true); // loose or packed
    // a trove remote that cannot be written: the git push is refused
    await write(a, 'data/train.csv', 'new version\n');
    await ok(a, 'add', 'data');
    await commitAll(a, 'v3');
    await fsp.rm(remote, { recursive: true, force: true });
    await fsp.writeFile(remote, 'not a folder');
    const refused = await sh('git', ['push', '-q', 'gitorigin', 'main'], a);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/git push was stopped/);
    expect((await git(bare, 'log', '--format=%s', '-1', 'main')).trim()).toBe('model');
    void snapshot;
  });
});
