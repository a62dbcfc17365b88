import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TroveError } from '../../src/core/errors.js';
import { Repo } from '../../src/core/repo.js';
import { git, newRepo, sha256File, spawnTrove, trove, write } from '../helpers/repo.js';
import { lastRecord, nodeArgs, records, waitFor } from '../helpers/runs.js';

const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

/** A repo with one committed tracked file `data/x.csv`. */
async function repoWithData(content = 'a,b\n1,2\n'): Promise<string> {
  const dir = await newRepo();
  await write(dir, 'data/x.csv', content);
  expect((await trove(dir, 'add', 'data/x.csv')).code).toBe(0);
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-qm', 'data');
  return dir;
}

const exitCode = (pc: import('node:child_process').ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => pc.on('exit', (code, signal) => r({ code, signal })));

describe('trove run: lifecycle', () => {
  it('records a successful run with code version, params, tags, inputs and the exit code', async () => {
    const dir = await repoWithData();
    const r = await trove(dir, 'run', '-n', 'ok', '-e', 'exp', '-p', 'lr=0.1', '-t', 'stage=dev', '--', ...nodeArgs('console.log("hello from the child")'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('hello from the child');
    const rec = await lastRecord(dir);
    expect(rec).toMatchObject({ name: 'ok', experiment: 'exp', status: 'FINISHED', exitCode: 0, params: { lr: '0.1' }, tags: { stage: 'dev' } });
    expect(rec.end).not.toBeNull();
    expect(rec.git).toMatchObject({ branch: 'main', dirty: false, diffOid: null });
    expect(rec.git!.commit).toBe((await git(dir, 'rev-parse', 'HEAD')).trim());
    // No --in: every tracked path is an input, role workspace.
    expect(rec.inputs).toEqual([{ path: 'data/x.csv', oid: sha('a,b\n1,2\n'), type: 'file', size: 8, role: 'workspace' }]);
    expect(existsSync(path.join(dir, `.trove/runs/${rec.id}.events.jsonl`))).toBe(false);
    // the records stay out of git
    expect(await git(dir, 'status', '--porcelain')).toBe('');
  });

  it('passes a failing exit code through and records FAILED', async () => {
    const dir = await repoWithData();
    const r = await trove(dir, 'run', '--', ...nodeArgs('process.exit(7)'));
    expect(r.code).toBe(7);
    expect(await lastRecord(dir)).toMatchObject({ status: 'FAILED', exitCode: 7 });
    // a command that cannot start: trove exits 1 (not 2, not the shell's 127) and records FAILED
    const nf = await trove(dir, 'run', '--', 'no-such-command-xyz');
    expect(nf.code).toBe(1);
    expect(nf.stderr).toContain('cannot run no-such-command-xyz: command not found');
    expect(await lastRecord(dir)).toMatchObject({
      status: 'FAILED', exitCode: null,
      problems: [{ source: 'no-such-command-xyz', message: 'the command could not start: command not found' }],
    });
    await write(dir, 'not-exec.sh', 'echo hi\n');
    const ne = await trove(dir, 'run', '--', './not-exec.sh');
    expect(ne.code).toBe(1);
    expect(ne.stderr).toContain('cannot run ./not-exec.sh: permission denied');
    expect(await lastRecord(dir)).toMatchObject({ status: 'FAILED', exitCode: null });
  });

  it('shows a run whose trove process was killed -9 as KILLED', async () => {
    const dir = await repoWithData();
    const pc = spawnTrove(dir, ['run', '-n', 'doomed', '--', ...nodeArgs(`require('fs').writeFileSync('child.pid', String(process.pid)); setInterval(() => {}, 1000)`)]);
    const exited = exitCode(pc);
    await waitFor(path.join(dir, 'child.pid'));
    const childPid = Number(await fsp.readFile(path.join(dir, 'child.pid'), 'utf8'));
    const listed = JSON.parse((await trove(dir, 'runs', 'list', '--json')).stdout);
    expect(listed[0].status).toBe('RUNNING');
    pc.kill('SIGKILL');
    await exited;
    process.kill(childPid, 'SIGKILL');
    const rec = await lastRecord(dir);
    expect(rec.status).toBe('RUNNING'); // on disk: nobody was left to finish it
    const after = JSON.parse((await trove(dir, 'runs', 'list', '--json')).stdout);
    expect(after[0]).toMatchObject({ id: rec.id, status: 'KILLED' });
    expect((await trove(dir, 'runs', 'list', '--filter', "attributes.status = 'KILLED'", '--json')).stdout).toContain(rec.id);
    expect((await trove(dir, 'runs', 'show', rec.id)).stdout).toMatch(/status:\s+KILLED/);
  });

  it('forwards SIGTERM to the command and returns its exit code', async () => {
    const dir = await repoWithData();
    const pc = spawnTrove(dir, ['run', '--', ...nodeArgs(
      `const fs = require('fs'); process.on('SIGTERM', () => { fs.writeFileSync('got-term', ''); process.exit(5) }); fs.writeFileSync('ready', ''); setInterval(() => {}, 1000)`,
    )]);
    const exited = exitCode(pc);
    await waitFor(path.join(dir, 'ready'));
    pc.kill('SIGTERM');
    expect((await exited).code).toBe(5);
    expect(existsSync(path.join(dir, 'got-term'))).toBe(true);
    expect(await lastRecord(dir)).toMatchObject({ status: 'FAILED', exitCode: 5 });
  });

  it('a command killed by a forwarded signal is recorded KILLED with 128 + signal', async () => {
    const dir = await repoWithData();
    const pc = spawnTrove(dir, ['run', '--', ...nodeArgs(`require('fs').writeFileSync('ready', ''); setInterval(() => {}, 1000)`)]);
    const exited = exitCode(pc);
    await waitFor(path.join(dir, 'ready'));
    pc.kill('SIGTERM');
    expect((await exited).code).toBe(143);
    expect(await lastRecord(dir)).toMatchObject({ status: 'KILLED', exitCode: 143 });
  });
});

describe('logging from inside the command', () => {
  it('params are write-once: the same value is fine, another one is an error', async () => {
    const dir = await repoWithData();
    const script = 'trove log-param k 1; echo $? >> codes; trove log-param k 1; echo $? >> codes; trove log-param k 2 2>err; echo $? >> codes; trove log-param p 9 2>>err; echo $? >> codes';
    const r = await trove(dir, 'run', '-p', 'p=8', '--', 'sh', '-c', script);
    expect(r.code).toBe(0);
    expect(await fsp.readFile(path.join(dir, 'codes'), 'utf8')).toBe('0\n0\n1\n1\n');
    expect(await fsp.readFile(path.join(dir, 'err'), 'utf8')).toMatch(/param k is already "1".*write-once/);
    expect((await lastRecord(dir)).params).toEqual({ k: '1', p: '8' });
  });

  it('keeps metric history with steps from log-metric and from lines appended to the events file', async () => {
    const dir = await repoWithData();
    const script = [
      'trove log-metric loss 1.0',
      'trove log-metric loss 0.5 --step 5',
      `echo '{"metric":"loss","value":0.25,"step":6}' >> "$TROVE_RUN_EVENTS"`,
      `echo '{"metric":"acc","value":0.9}' >> "$TROVE_RUN_EVENTS"`,
      'trove log-tag note hi',
    ].join(' && ');
    expect((await trove(dir, 'run', '--', 'sh', '-c', script)).code).toBe(0);
    const rec = await lastRecord(dir);
    expect(rec.metrics.loss!.map((p) => [p.value, p.step])).toEqual([[1, 0], [0.5, 5], [0.25, 6]]);
    expect(rec.metrics.acc!.map((p) => p.value)).toEqual([0.9]);
    expect(rec.tags).toEqual({ note: 'hi' });
    const show = JSON.parse((await trove(dir, 'runs', 'show', rec.id.slice(0, 12), '--json')).stdout);
    expect(show.metrics.loss).toHaveLength(3);
  });

  it('reports a bad events line with its line number and keeps the rest', async () => {
    const dir = await repoWithData();
    const script = `echo '{"metric":"a","value":1}' >> "$TROVE_RUN_EVENTS"; echo 'not json' >> "$TROVE_RUN_EVENTS"; echo '{"metric":"a","value":"x"}' >> "$TROVE_RUN_EVENTS"; echo '{"metric":"a","value":2}' >> "$TROVE_RUN_EVENTS"`;
    const r = await trove(dir, 'run', '--', 'sh', '-c', script);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/events\.jsonl:2: not valid JSON/);
    expect(r.stderr).toMatch(/events\.jsonl:3: metric event/);
    const rec = await lastRecord(dir);
    expect(rec.status).toBe('FINISHED');
    expect(rec.metrics.a!.map((p) => p.value)).toEqual([1, 2]);
  });

  it('reads a metrics file (flattened) and a params file', async () => {
    const dir = await repoWithData();
    await write(dir, 'params.yaml', 'model:\n  C: 1.0\n  kernel: rbf\nseed: 3\n');
    const r = await trove(dir, 'run', '--params-file', 'params.yaml', '--metrics', 'm.json', '--',
      ...nodeArgs(`require('fs').writeFileSync('m.json', JSON.stringify({ test: { acc: 0.8 }, n: 3 }))`));
    expect(r.code).toBe(0);
    const rec = await lastRecord(dir);
    expect(rec.params).toEqual({ 'model.C': '1', 'model.kernel': 'rbf', seed: '3' });
    expect(Object.keys(rec.metrics).sort()).toEqual(['n', 'test.acc']);
  });

  it('log-* outside a run is an error', async () => {
    const dir = await repoWithData();
    const r = await trove(dir, 'log-metric', 'a', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not inside a run/);
  });
});

describe('data versions', () => {
  it('hashes inputs at start even when the command rewrites them', async () => {
    const dir = await repoWithData('v1\n');
    const r = await trove(dir, 'run', '-i', 'data/x.csv', '--', 'sh', '-c', 'echo v2 > data/x.csv');
    expect(r.code).toBe(0);
    const rec = await lastRecord(dir);
    expect(rec.inputs).toEqual([{ path: 'data/x.csv', oid: sha('v1\n'), type: 'file', size: 3 }]);
  });

  it('records a modified input by its actual content, flags it, and keeps that content restorable', async () => {
    const dir = await repoWithData('v1\n');
    await write(dir, 'data/x.csv', 'edited\n');
    expect((await trove(dir, 'run', '-i', 'data', '--', 'true')).code).toBe(0);
    const rec = await lastRecord(dir);
    expect(rec.inputs[0]).toMatchObject({ path: 'data/x.csv', oid: sha('edited\n'), modified: true });
    const repo = await Repo.open(dir);
    expect(await repo.cache.has(sha('edited\n') as `sha256:${string}`, 'blob')).toBe(true);
    repo.close();
  });

  it('adds outputs after success (pointer + cache) and records them as not produced on failure', async () => {
    const dir = await repoWithData();
    const ok = await trove(dir, 'run', '-o', 'models/m.bin', '-o', 'models/dir', '--', 'sh', '-c', 'mkdir -p models/dir && echo m > models/m.bin && echo a > models/dir/a && echo b > models/dir/b');
    expect(ok.code).toBe(0);
    let rec = await lastRecord(dir);
    expect(rec.outputs).toEqual([
      { path: 'models/m.bin', oid: sha('m\n'), type: 'file', size: 2 },
      expect.objectContaining({ path: 'models/dir', type: 'dir', files: 2, size: 4 }),
    ]);
    expect(await fsp.readFile(path.join(dir, 'models/m.bin.trove'), 'utf8')).toContain(sha('m\n'));
    const repo = await Repo.open(dir);
    expect(await repo.cache.has(sha('m\n') as `sha256:${string}`, 'blob')).toBe(true);
    repo.close();

    const bad = await trove(dir, 'run', '-o', 'models/other.bin', '--', 'sh', '-c', 'echo x > models/other.bin; exit 2');
    expect(bad.code).toBe(2);
    rec = await lastRecord(dir);
    expect(rec.outputs).toEqual([{ path: 'models/other.bin', oid: null, produced: false }]);
    expect(existsSync(path.join(dir, 'models/other.bin.trove'))).toBe(false);
  });

  it('log-artifact adds an output from inside the command', async () => {
    const dir = await repoWithData();
    expect((await trove(dir, 'run', '--', 'sh', '-c', 'echo art > art.txt && trove log-artifact art.txt')).code).toBe(0);
    expect((await lastRecord(dir)).outputs).toEqual([{ path: 'art.txt', oid: sha('art\n'), type: 'file', size: 4 }]);
  });

  it('stores the uncommitted diff of a dirty work tree (binary-safe) and names it in git.diffOid', async () => {
    const dir = await repoWithData();
    const bin = Buffer.from([0, 1, 2, 255, 254, 0, 10, 13]);
    await write(dir, 'code.bin', bin);
    await write(dir, 'train.py', 'print(1)\n');
    await git(dir, 'add', 'code.bin', 'train.py');
    await git(dir, 'commit', '-qm', 'code');
    await write(dir, 'code.bin', Buffer.concat([bin, bin]));
    await write(dir, 'train.py', 'print(2)\n');
    expect((await trove(dir, 'run', '--', 'true')).code).toBe(0);
    const rec = await lastRecord(dir);
    expect(rec.git!.dirty).toBe(true);
    expect(rec.git!.diffOid).toMatch(/^sha256:[0-9a-f]{64}$/);
    const repo = await Repo.open(dir);
    const diff = repo.cache.readSmall(rec.git!.diffOid as `sha256:${string}`, 'blob');
    repo.close();
    expect(diff.toString()).toContain('+print(2)');
    expect(diff.toString()).toContain('GIT binary patch');
    // the stored diff applies to the recorded commit and gives back the dirty files
    await git(dir, 'stash', '-q');
    const patch = path.join(dir, '..', 'p.diff');
    await fsp.writeFile(patch, diff);
    await git(dir, 'apply', '--binary', patch);
    expect(await fsp.readFile(path.join(dir, 'code.bin'))).toEqual(Buffer.concat([bin, bin]));
  });
});

describe('concurrency and the library API', () => {
  it('two runs at once both keep all their events', async () => {
    const dir = await repoWithData();
    const loop = (name: string) => `for i in $(seq 1 200); do echo "{\\"metric\\":\\"${name}\\",\\"value\\":$i}" >> "$TROVE_RUN_EVENTS"; done; trove log-metric ${name}_done 1`;
    const [a, b] = await Promise.all([
      trove(dir, 'run', '-n', 'a', '--', 'sh', '-c', loop('a')),
      trove(dir, 'run', '-n', 'b', '--', 'sh', '-c', loop('b')),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const recs = await records(dir);
    expect(recs).toHaveLength(2);
    for (const rec of recs) {
      expect(rec.metrics[rec.name]).toHaveLength(200);
      expect(rec.metrics[`${rec.name}_done`]).toHaveLength(1);
      expect(Object.keys(rec.metrics)).toHaveLength(2);
    }
  });

  it('Repo.startRun → log → end', async () => {
    const dir = await repoWithData();
    const repo = await Repo.open(dir);
    try {
      const run = await repo.startRun({ name: 'lib', params: { a: '1' }, inputs: ['data/x.csv'] });
      await run.logParam('b', 2);
      await run.logParam('b', '2');
      await expect(run.logParam('b', 3)).rejects.toSatisfy((e) => e instanceof TroveError && e.code === 'PARAM_CONFLICT');
      await run.logMetric('m', 0.5);
      await run.logMetric('m', 0.25, 10);
      await write(dir, 'out/model.pkl', 'model');
      await run.logOutput('out/model.pkl');
      const { record, problems } = await run.end();
      expect(problems).toEqual([]);
      expect(record).toMatchObject({ status: 'FINISHED', params: { a: '1', b: '2' }, outputs: [{ path: 'out/model.pkl', oid: sha('model') }] });
      expect(record.metrics.m!.map((p) => p.step)).toEqual([0, 10]);
      await expect(run.logMetric('m', 1)).rejects.toSatisfy((e) => e instanceof TroveError && e.code === 'NOT_IN_RUN');
      expect(await sha256File(path.join(dir, 'out/model.pkl'))).toBe(sha('model').slice(7));
    } finally {
      repo.close();
    }
  });
});
