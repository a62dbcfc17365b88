import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LooseStore } from '../../src/core/store/loose.js';
import { git, newLooseRepo as newRepo, tempDir, write } from '../helpers/repo.js';
import { lastRecord, records } from '../helpers/runs.js';
import { expectNoExtraWorktree, irisRepo, ok, trainIris, workTree } from '../helpers/reproRepo.js';
import { objectFile } from '../helpers/cacheLayout.js';

const leftovers = async () => (await fsp.readdir(os.tmpdir())).filter((n) => n.startsWith('trove-reproduce-'));


/** A repo with tracked data/in.txt and a committed make.mjs that writes o.txt. */
async function committedScriptRepo(): Promise<string> {
  const dir = await newRepo();
  await write(dir, 'data/in.txt', 'input\n');
  await ok(dir, 0, 'add', 'data');
  await write(dir, 'make.mjs', `import { writeFileSync } from 'node:fs'; writeFileSync('o.txt', 'x');\n`);
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-qm', 'code');
  return dir;
}

describe('trove reproduce', () => {
  it('reproduces the iris example with --verify passing, links the new run, and leaves the work tree alone', async () => {
    const dir = await irisRepo();
    const t0 = performance.now();
    const orig = await trainIris(dir);
    const tRun = performance.now() - t0;
    expect(orig.status).toBe('FINISHED');
    await git(dir, 'add', '-A');
    await git(dir, 'commit', '-qm', 'model');
    // the data changes after the run: reproduce must use the recorded version, not the workspace's
    await write(dir, 'data/iris.csv', 'sepal_length,sepal_width,petal_length,petal_width,species\n1,1,1,1,x\n');
    const before = await workTree(dir);
    const before0 = await leftovers();
    const t1 = performance.now();
    const r = await ok(dir, 0, 'reproduce', orig.id, '--verify');
    const tRepro = performance.now() - t1;
    console.log(`iris: original run ${tRun.toFixed(0)} ms, reproduce --verify ${tRepro.toFixed(0)} ms`);
    expect(r.stdout).toContain(`verify passed: 2 outputs identical to run ${orig.id}`);
    const all = await records(dir);
    const again = all.find((x) => x.reproduces === orig.id)!;
    expect(again).toBeDefined();
    expect(again.status).toBe('FINISHED');
    expect(again.params).toEqual(orig.params);
    expect(again.inputs.map((i) => [i.path, i.oid])).toEqual(orig.inputs.map((i) => [i.path, i.oid]));
    expect(again.outputs.map((o) => [o.path, o.oid])).toEqual(orig.outputs.map((o) => [o.path, o.oid]));
    expect(again.git?.commit).toBe(orig.git?.commit);
    expect(again.metrics.test_accuracy?.at(-1)?.value).toBe(orig.metrics.test_accuracy?.at(-1)?.value);
    expect(await workTree(dir)).toEqual(before);
    await expectNoExtraWorktree(dir);
    expect(await leftovers()).toEqual(before0);
  }, 60_000);

  it('--verify fails naming the outputs and the files inside folders that differ; a dirty run gets its diff applied', async () => {
    const dir = await newRepo();
    // a cache moved by this machine's config.local: the worktree must use it too
    const cacheDir = path.join(tempDir('trove-cache-'), 'moved-cache');
    await ok(dir, 0, 'config', 'cache.dir', cacheDir, '--local');
    await write(dir, 'data/in.txt', 'input\n');
    await ok(dir, 0, 'add', 'data');
    await write(dir, 'make.mjs', `import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
mkdirSync('out/sub', { recursive: true });
writeFileSync('out/fixed.txt', readFileSync('data/in.txt', 'utf8') + 'COMMITTED\\n');
writeFileSync('out/sub/noise.txt', String(Math.random()));
writeFileSync('stable.txt', 'stable\\n');
`);
    await git(dir, 'add', '-A');
    await git(dir, 'commit', '-qm', 'code');
    // an uncommitted edit: the run must be reproduced with it, through the stored diff
    const code = await fsp.readFile(path.join(dir, 'make.mjs'), 'utf8');
    await write(dir, 'make.mjs', code.replace('COMMITTED', 'EDITED'));
    await ok(dir, 0, 'run', '-i', 'data', '-o', 'out', '-o', 'stable.txt', '--', 'node', 'make.mjs');
    const orig = await lastRecord(dir);
    expect(orig.git?.dirty).toBe(true);
    await git(dir, 'checkout', '--', 'make.mjs'); // the edit is gone from the work tree
    const before = await workTree(dir);
    const r = await ok(dir, 1, 'reproduce', orig.id, '--verify');
    expect(r.stdout).toMatch(/DIFFERS\s+out\s/);
    expect(r.stdout).toContain('modified  out/sub/noise.txt');
    expect(r.stdout).not.toContain('out/fixed.txt');
    expect(r.stdout).toMatch(/same\s+stable\.txt/);
    expect(r.stdout).toContain('verify FAILED: 1 output differ');
    const again = (await records(dir)).find((x) => x.reproduces === orig.id)!;
    // the diff was applied: fixed.txt (made by the edited code) is the same object as the original's
    const fixedOid = async (rec: typeof orig) => {
      const { loadFlatTree } = await import('../../src/core/workspace.js');
      const cache = new LooseStore(cacheDir, path.join(cacheDir, 'tmp'));
      return (await loadFlatTree(cache, rec.outputs.find((o) => o.path === 'out')!.oid as never, 'out')).files.get('fixed.txt')!.oid;
    };
    expect(await fixedOid(again)).toBe(await fixedOid(orig));
    expect(again.git?.diffOid).toBe(orig.git?.diffOid);
    expect(await workTree(dir)).toEqual(before);
    await expectNoExtraWorktree(dir);
  }, 30_000);

  it('refuses a command that is not on PATH, a commit that is gone, a diff that does not apply, inputs missing everywhere', async () => {
    const dir = await committedScriptRepo();

    // 1. not on PATH (the original could not start: FAILED, and the record keeps the command)
    await ok(dir, 1, 'run', '-i', 'data', '--', 'trove-no-such-program-xyz');
    const noCmd = await lastRecord(dir);
    // 2. a good run, whose input object then vanishes from the cache (no remote configured)
    await ok(dir, 0, 'run', '-i', 'data', '-o', 'o.txt', '--', 'node', 'make.mjs');
    const good = await lastRecord(dir);
    // 3. a dirty run whose stored diff is replaced by one that cannot apply
    await write(dir, 'make.mjs', `import { writeFileSync } from 'node:fs'; writeFileSync('o.txt', 'y');\n`);
    await ok(dir, 0, 'run', '-i', 'data', '-o', 'o.txt', '--', 'node', 'make.mjs');
    const dirty = await lastRecord(dir);
    await git(dir, 'checkout', '--', 'make.mjs');
    const cache = new LooseStore(path.join(dir, '.trove/cache'), path.join(dir, '.trove/tmp'));
    const badDiff = await cache.putBytes('diff --git a/nope.txt b/nope.txt\n--- a/nope.txt\n+++ b/nope.txt\n@@ -1 +1 @@\n-old\n+new\n', 'blob');
    const recFile = path.join(dir, '.trove/runs', `${dirty.id}.json`);
    await fsp.writeFile(recFile, (await fsp.readFile(recFile, 'utf8')).replace(dirty.git!.diffOid!, badDiff));
    // 4. a run at a commit that is then dropped from history
    await write(dir, 'extra.txt', 'x');
    await git(dir, 'add', 'extra.txt');
    await git(dir, 'commit', '-qm', 'to be dropped');
    await ok(dir, 0, 'run', '-i', 'data', '-o', 'o.txt', '--', 'node', 'make.mjs');
    const gone = await lastRecord(dir);
    await git(dir, 'reset', '-q', '--hard', 'HEAD~1');
    await git(dir, 'reflog', 'expire', '--expire=now', '--all');
    await git(dir, 'gc', '-q', '--prune=now');

    const before = await workTree(dir);
    const leftBefore = await leftovers();
    const cases: [string, RegExp][] = [
      [noCmd.id, /command "trove-no-such-program-xyz" of run .* is not on PATH/],
      [gone.id, new RegExp(`commit ${gone.git!.commit} of run ${gone.id} is not in this repository`)],
      [dirty.id, /the stored diff of run .* no longer applies to commit/],
    ];
    for (const [id, msg] of cases) {
      const r = await ok(dir, 1, 'reproduce', id);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).toMatch(/hint: /);
    }
    // inputs missing everywhere: remove the input's object from the cache
    const inputObj = objectFile(cache.dir, good.inputs[0]!.oid as never, 'tree');
    await fsp.chmod(path.dirname(inputObj), 0o755);
    await fsp.rm(inputObj, { force: true });
    const r = await ok(dir, 1, 'reproduce', good.id);
    expect(r.stderr).toMatch(/not in the cache and no default remote is set: data/);
    expect(await workTree(dir)).toEqual(before);
    expect((await records(dir)).filter((x) => x.reproduces)).toEqual([]);
    await expectNoExtraWorktree(dir);
    expect(await leftovers()).toEqual(leftBefore);
  }, 40_000);

  it('fetches input objects the cache lacks from the default remote, verified', async () => {
    const dir = await newRepo();
    await write(dir, 'data/in.txt', 'input\n');
    await ok(dir, 0, 'add', 'data');
    await write(dir, 'make.mjs', `import { readFileSync, writeFileSync } from 'node:fs'; writeFileSync('o.txt', readFileSync('data/in.txt'));\n`);
    await git(dir, 'add', '-A');
    await git(dir, 'commit', '-qm', 'code');
    await ok(dir, 0, 'run', '-i', 'data', '-o', 'o.txt', '--', 'node', 'make.mjs');
    const run = await lastRecord(dir);
    await ok(dir, 0, 'remote', 'add', 'origin', tempDir('trove-remote-'));
    await ok(dir, 0, 'push');
    await fsp.rm(path.join(dir, '.trove/cache'), { recursive: true, force: true });
    const r = await ok(dir, 0, 'reproduce', run.id, '--verify');
    expect(r.stdout).toContain('verify passed: 1 output identical');
    const cache = new LooseStore(path.join(dir, '.trove/cache'), path.join(dir, '.trove/tmp'));
    expect(await cache.verify(run.inputs[0]!.oid as never, 'tree')).toBe(true);
  }, 30_000);

  it('removes a worktree a killed reproduce left behind (dead pid), never one still in use; --keep keeps it', async () => {
    const dir = await newRepo();
    await write(dir, 'make.mjs', `import { writeFileSync } from 'node:fs'; writeFileSync('o.txt', 'x');\n`);
    await git(dir, 'add', '-A');
    await git(dir, 'commit', '-qm', 'code');
    await ok(dir, 0, 'run', '-o', 'o.txt', '--', 'node', 'make.mjs');
    const run = await lastRecord(dir);
    const { execFileSync, spawnSync } = await import('node:child_process');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // exited: its pid is free
    const host = (await import('node:os')).hostname();
    const orphan = path.join(tempDir('trove-orphan-'), 'wt');
    const alive = path.join(tempDir('trove-alive-'), 'wt');
    await git(dir, 'worktree', 'add', '--detach', '--lock', '--reason', `trove reproduce ${dead}@${host}`, orphan, 'HEAD');
    await git(dir, 'worktree', 'add', '--detach', '--lock', '--reason', `trove reproduce ${process.pid}@${host}`, alive, 'HEAD');
    const r = await ok(dir, 0, 'reproduce', run.id, '--keep', '--json');
    const kept = JSON.parse(r.stdout).worktree as string;
    const listed = execFileSync('git', ['worktree', 'list', '--porcelain'], { cwd: dir, encoding: 'utf8' });
    expect(listed).not.toContain(orphan);
    expect(await fsp.stat(orphan).catch(() => null)).toBeNull();
    expect(listed).toContain(alive);
    expect(listed).toContain(kept);
    expect((await fsp.stat(path.join(kept, 'o.txt'))).isFile()).toBe(true);
    await git(dir, 'worktree', 'remove', '--force', '--force', kept);
    await git(dir, 'worktree', 'remove', '--force', '--force', alive);
  }, 30_000);

  it('--in-place refuses a dirty work tree and a HEAD that is not the run\'s commit', async () => {
    const dir = await committedScriptRepo();
    await ok(dir, 0, 'run', '-i', 'data', '-o', 'o.txt', '--', 'node', 'make.mjs');
    const run = await lastRecord(dir);
    await git(dir, 'add', '-A');
    await git(dir, 'commit', '-qm', 'output');
    expect((await ok(dir, 1, 'reproduce', run.id, '--in-place')).stderr).toMatch(/HEAD is .* but run .* ran at/);
    await git(dir, 'checkout', '-q', run.git!.commit!);
    await write(dir, 'make.mjs', '// edited\n');
    expect((await ok(dir, 1, 'reproduce', run.id, '--in-place')).stderr).toMatch(/uncommitted changes; --in-place needs a clean one/);
    await git(dir, 'checkout', '--', 'make.mjs');
    const r = await ok(dir, 0, 'reproduce', run.id, '--in-place', '--verify');
    expect(r.stdout).toContain('verify passed');
  }, 30_000);
});
