import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { git, newRepo, sha256File, write } from '../helpers/repo.js';
import { lastRecord } from '../helpers/runs.js';
import { ok } from '../helpers/reproRepo.js';

const count = async (dir: string) => (await fsp.readFile(path.join(dir, 'count.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;

describe('trove run --reuse (the run cache)', () => {
  it('restores byte-identical outputs of an earlier run instead of running; a changed param, input or line of code runs for real', async () => {
    const dir = await newRepo();
    await write(dir, 'data/in.txt', 'input v1\n');
    await ok(dir, 0, 'add', 'data');
    // the output is random: only a restored one can be byte-identical; count.log counts real executions
    await write(dir, 'make.mjs', `import { appendFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
appendFileSync('count.log', 'ran\\n');
mkdirSync('out', { recursive: true });
writeFileSync('out/model.txt', String(Math.random()));
execFileSync('trove', ['log-metric', 'acc', '0.5']);
`);
    // keep trove's own /data line: data must stay out of git
    await fsp.appendFile(path.join(dir, '.gitignore'), 'count.log\n');
    await git(dir, 'add', '-A');
    await git(dir, 'commit', '-qm', 'code');
    const run = (...extra: string[]) => ok(dir, 0, 'run', '--reuse', '-p', 'k=1', ...extra, '-i', 'data', '-o', 'out', '--', 'node', 'make.mjs');

    await run();
    const first = await lastRecord(dir);
    expect(first.reusedFrom).toBeUndefined();
    expect(first.reuseKey).toMatch(/^[0-9a-f]{64}$/);
    expect(await count(dir)).toBe(1);
    const firstBytes = await sha256File(path.join(dir, 'out/model.txt'));

    await fsp.rm(path.join(dir, 'out'), { recursive: true }); // gone from the workspace: restored from the cache
    const r = await run();
    expect(r.stderr).toContain(`reused run ${first.id}`);
    const second = await lastRecord(dir);
    expect(second.reusedFrom).toBe(first.id);
    expect(second.status).toBe('FINISHED');
    expect(second.outputs.map((o) => o.oid)).toEqual(first.outputs.map((o) => o.oid));
    expect(second.metrics.acc?.map((p) => p.value)).toEqual([0.5]);
    expect(await count(dir)).toBe(1);
    expect(await sha256File(path.join(dir, 'out/model.txt'))).toBe(firstBytes);

    // reproduce --reuse when nothing changed: no execution, the outputs restored in the worktree
    const rr = await ok(dir, 0, 'reproduce', first.id, '--reuse');
    expect(rr.stdout).toMatch(/reusing the outputs of run/);
    const third = await lastRecord(dir);
    expect(third.reproduces).toBe(first.id);
    expect([first.id, second.id]).toContain(third.reusedFrom);
    expect(third.outputs.map((o) => o.oid)).toEqual(first.outputs.map((o) => o.oid));
    expect(await count(dir)).toBe(1);
    expect((await ok(dir, 2, 'reproduce', first.id, '--reuse', '--verify')).stderr).toMatch(/prove nothing/);

    // without --reuse: a real run
    await ok(dir, 0, 'run', '-p', 'k=1', '-i', 'data', '-o', 'out', '--', 'node', 'make.mjs');
    expect(await count(dir)).toBe(2);
    // a changed param
    await run('-p', 'other=2');
    expect((await lastRecord(dir)).reusedFrom).toBeUndefined();
    expect(await count(dir)).toBe(3);
    // a changed input
    await write(dir, 'data/in.txt', 'input v2\n');
    await run();
    expect((await lastRecord(dir)).reusedFrom).toBeUndefined();
    expect(await count(dir)).toBe(4);
    // and the same again now reuses that run, not the first
    const onV2 = await lastRecord(dir);
    await run();
    expect((await lastRecord(dir)).reusedFrom).toBe(onV2.id);
    expect(await count(dir)).toBe(4);
    // a changed line of code (uncommitted: a new stored diff)
    await fsp.appendFile(path.join(dir, 'make.mjs'), '// a comment is a change too\n');
    await run();
    expect((await lastRecord(dir)).reusedFrom).toBeUndefined();
    expect(await count(dir)).toBe(5);
    await run();
    expect((await lastRecord(dir)).reusedFrom).toBeDefined(); // same edit again: reused
    expect(await count(dir)).toBe(5);
    // a new untracked file the command could import is code too
    await write(dir, 'helper.mjs', 'export const x = 1;\n');
    await run();
    expect((await lastRecord(dir)).reusedFrom).toBeUndefined();
    expect(await count(dir)).toBe(6);
  }, 60_000);
});
