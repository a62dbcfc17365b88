import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Repo } from '../../src/core/repo.js';
import { git, newLooseRepo as newRepo, trove, write } from '../helpers/repo.js';
import { lastRecord } from '../helpers/runs.js';
import { objectFile } from '../helpers/cacheLayout.js';

const hex = (s: string) => createHash('sha256').update(s).digest('hex');

async function commitAll(dir: string, msg: string): Promise<string> {
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-qm', msg);
  return (await git(dir, 'rev-parse', 'HEAD')).trim();
}

async function runId(dir: string, ...args: string[]): Promise<string> {
  const r = await trove(dir, 'run', ...args);
  if (r.code !== 0) throw new Error(`trove run failed: ${r.stderr}`);
  return (await lastRecord(dir)).id;
}

const listIds = async (dir: string, ...args: string[]) => {
  const r = await trove(dir, 'runs', 'list', '--json', ...args);
  if (r.code !== 0) throw new Error(`runs list failed (${r.code}): ${r.stderr}`);
  return (JSON.parse(r.stdout) as { id: string }[]).map((x) => x.id);
};

describe('runs list --filter / --sort', () => {
  it('applies the MLflow grammar and points at the column of an error', async () => {
    const dir = await newRepo();
    const repo = await Repo.open(dir);
    const made: Record<string, string> = {};
    try {
      for (const [name, C, opt, acc, status, tag] of [
        ['alpha', '1.0', 'adam', 0.9, 'FINISHED', 'abc'],
        ['beta', '0.5', 'sgd', 0.8, 'FINISHED', 'xyz'],
        ['Bravo', '1.0', 'rmsprop', null, 'FAILED', 'bar'],
      ] as const) {
        const run = await repo.startRun({ name, params: { C, opt }, tags: { 'x.y': tag } });
        if (acc !== null) await run.logMetric('acc', acc);
        made[name] = (await run.end({ status })).record.id;
      }
    } finally {
      repo.close();
    }
    const ids = (...names: string[]) => names.map((n) => made[n]);
    expect((await listIds(dir, '--filter', 'metrics.acc > 0.85'))).toEqual(ids('alpha'));
    expect((await listIds(dir, '--filter', "params.C = '1.0' and attributes.status = 'FAILED'"))).toEqual(ids('Bravo'));
    expect((await listIds(dir, '--filter', `tags."x.y" LIKE '%a%'`, '--sort', 'run_name'))).toEqual(ids('Bravo', 'alpha'));
    expect((await listIds(dir, '--filter', "run_name ILIKE 'b%'", '--sort', 'run_name DESC'))).toEqual(ids('beta', 'Bravo'));
    expect((await listIds(dir, '--filter', "params.opt IN ('adam', 'sgd') and not (metrics.acc < 0.85) or metrics.acc IS NULL", '--sort', 'run_name'))).toEqual(ids('Bravo', 'alpha'));
    // runs missing the sort key come last, whatever the direction
    expect((await listIds(dir, '--sort', 'metrics.acc DESC'))).toEqual(ids('alpha', 'beta', 'Bravo'));
    expect((await listIds(dir, '--sort', 'metrics.acc', '--limit', '2'))).toEqual(ids('beta', 'alpha'));

    const bad = await trove(dir, 'runs', 'list', '--filter', 'metrics.acc > 0.8 and params.C ~ 1');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/column 32/);
    expect(bad.stderr).toContain('  metrics.acc > 0.8 and params.C ~ 1\n' + ' '.repeat(2 + 31) + '^');

    // the text table shows the columns that vary
    const table = (await trove(dir, 'runs', 'list')).stdout;
    expect(table.split('\n')[0]).toMatch(/RUN\s+NAME\s+STATUS\s+STARTED\s+params\.C\s+params\.opt\s+metrics\.acc/);
  });
});

/** raw → (featurize) → features → (train) → model → (evaluate) → score, all through `trove run`. */
async function chain(dir: string) {
  await write(dir, 'data/raw.csv', 'raw v1\n');
  await trove(dir, 'add', 'data/raw.csv');
  const c1 = await commitAll(dir, 'raw v1');
  const featurize = await runId(dir, '-n', 'featurize', '-i', 'data/raw.csv', '-o', 'data/features.csv', '--', 'sh', '-c', 'cat data/raw.csv > data/features.csv; echo features >> data/features.csv');
  const train = await runId(dir, '-n', 'train', '-i', 'data/features.csv', '-o', 'models/model.bin', '--', 'sh', '-c', 'mkdir -p models; cat data/features.csv > models/model.bin; echo model >> models/model.bin');
  const evaluate = await runId(dir, '-n', 'evaluate', '-i', 'models/model.bin', '-o', 'reports/score.txt', '--', 'sh', '-c', 'mkdir -p reports; wc -c < models/model.bin > reports/score.txt');
  return { c1, featurize, train, evaluate };
}

describe('lineage and data-version queries', () => {
  it('follows raw → features → model upstream and downstream, with depth', async () => {
    const dir = await newRepo();
    const { featurize, train, evaluate } = await chain(dir);
    const up = JSON.parse((await trove(dir, 'lineage', 'models/model.bin', '--format', 'json')).stdout);
    const label = (n: { kind: string; path?: string; name?: string }) => (n.kind === 'data' ? n.path : `run:${n.name}`);
    expect(up.nodes.map(label)).toEqual(['models/model.bin', 'run:train', 'data/features.csv', 'run:featurize', 'data/raw.csv']);
    expect(up.edges).toHaveLength(4);
    const down = JSON.parse((await trove(dir, 'lineage', 'data/raw.csv', '--downstream', '--format', 'json')).stdout);
    expect(down.nodes.map(label)).toEqual(['data/raw.csv', 'run:featurize', 'data/features.csv', 'run:train', 'models/model.bin', 'run:evaluate', 'reports/score.txt']);
    const shallow = JSON.parse((await trove(dir, 'lineage', 'data/raw.csv', '--downstream', '--depth', '1', '--format', 'json')).stdout);
    expect(shallow.nodes.map(label)).toEqual(['data/raw.csv', 'run:featurize', 'data/features.csv']);
    // from a run id (prefix), and the text and graph formats
    const text = (await trove(dir, 'lineage', train.slice(0, 12))).stdout;
    expect(text).toContain(`run train ${train} FINISHED`);
    expect(text).toContain('input data/features.csv');
    expect((await trove(dir, 'lineage', 'reports/score.txt', '--format', 'dot')).stdout).toMatch(/^digraph lineage \{/);
    expect((await trove(dir, 'lineage', 'reports/score.txt', '--format', 'mermaid')).stdout).toContain(`run evaluate<br/>${evaluate}`);
    expect((await trove(dir, 'lineage', 'reports/score.txt')).stdout).toContain(`produced by run featurize ${featurize}`);
    const nothing = await trove(dir, 'lineage', 'no/such/path');
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toMatch(/not a tracked path/);
  });

  it('--uses / --produced take a path, path@rev or an oid prefix', async () => {
    const dir = await newRepo();
    const { c1, featurize, train } = await chain(dir);
    await commitAll(dir, 'outputs');
    await write(dir, 'data/raw.csv', 'raw v2\n');
    await trove(dir, 'add', 'data/raw.csv');
    await commitAll(dir, 'raw v2');
    const featurize2 = await runId(dir, '-n', 'featurize2', '-i', 'data/raw.csv', '-o', 'data/features.csv', '--', 'sh', '-c', 'cat data/raw.csv > data/features.csv');

    expect(await listIds(dir, '--uses', 'data/raw.csv')).toEqual([featurize2]);
    expect(await listIds(dir, '--uses', `data/raw.csv@${c1.slice(0, 8)}`)).toEqual([featurize]);
    expect(await listIds(dir, '--uses', 'data/raw.csv@HEAD~1')).toEqual([featurize]);
    expect(await listIds(dir, '--uses', hex('raw v1\n').slice(0, 10))).toEqual([featurize]);
    expect(await listIds(dir, '--uses', `sha256:${hex('raw v2\n')}`)).toEqual([featurize2]);
    expect(await listIds(dir, '--produced', 'models/model.bin')).toEqual([train]);
    expect(await listIds(dir, '--produced', 'data/features.csv')).toEqual([featurize2]);
    expect(await listIds(dir, '--produced', 'data/features.csv@HEAD~1')).toEqual([featurize]);
    const badRev = await trove(dir, 'runs', 'list', '--uses', 'data/raw.csv@no-such-rev');
    expect(badRev.code).toBe(1);
    expect(badRev.stderr).toMatch(/unknown revision "no-such-rev"/);
  });

  it('runs show marks data as matching the workspace; compare counts files in folders', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a.csv', 'a\n');
    await write(dir, 'data/b.csv', 'b\n');
    await write(dir, 'data/c.csv', 'c\n');
    await trove(dir, 'add', 'data');
    await commitAll(dir, 'v1');
    const r1 = await runId(dir, '-p', 'lr=1', '-i', 'data', '--', 'true');
    await write(dir, 'data/b.csv', 'B\n');
    await write(dir, 'data/d.csv', 'd\n');
    await fsp.rm(path.join(dir, 'data/c.csv'));
    await trove(dir, 'add', 'data');
    const r2 = await runId(dir, '-p', 'lr=2', '-i', 'data', '--', 'true');
    const cmp = JSON.parse((await trove(dir, 'runs', 'compare', r1, r2, '--json')).stdout);
    expect(cmp.params).toEqual([{ key: 'lr', values: ['1', '2'], differs: true }]);
    expect(cmp.inputs[0]).toMatchObject({ path: 'data', differs: true, files: [{ added: 0, removed: 0, modified: 0, unchanged: 3 }, { added: 1, removed: 1, modified: 1, unchanged: 1 }] });
    const show1 = JSON.parse((await trove(dir, 'runs', 'show', r1, '--json')).stdout);
    expect(show1.inputs[0].workspace).toBe('differs');
    const show2 = JSON.parse((await trove(dir, 'runs', 'show', r2, '--json')).stdout);
    expect(show2.inputs[0].workspace).toBe('matches');
    expect((await trove(dir, 'runs', 'show', r1)).stdout).toMatch(/data\s+\S+\s+3 files, 6 B\s+DIFFERS from workspace/);
  });
});

describe('checkout --run', () => {
  it('restores the exact inputs a run read, refuses to drop uncommitted changes, names missing objects', async () => {
    const dir = await newRepo();
    const { featurize, train } = await chain(dir);
    await write(dir, 'data/raw.csv', 'raw v2\n');
    await trove(dir, 'add', 'data/raw.csv');
    await write(dir, 'models/model.bin', 'newer model\n');
    await trove(dir, 'add', 'models/model.bin');

    const ok = await trove(dir, 'checkout', '--run', featurize, '--inputs');
    expect(ok.code).toBe(0);
    expect(await fsp.readFile(path.join(dir, 'data/raw.csv'), 'utf8')).toBe('raw v1\n');
    expect(await fsp.readFile(path.join(dir, 'data/raw.csv.trove'), 'utf8')).toContain(hex('raw v1\n'));
    expect(JSON.parse((await trove(dir, 'status', '--json')).stdout).every((s: { workspace: string }) => s.workspace === 'unchanged')).toBe(true);

    // --outputs of the train run brings the model back
    expect((await trove(dir, 'checkout', '--run', train, '--outputs')).code).toBe(0);
    expect(await fsp.readFile(path.join(dir, 'models/model.bin'), 'utf8')).toBe('raw v1\nfeatures\nmodel\n');

    // an uncommitted edit is not overwritten without --force, and nothing changes
    await write(dir, 'data/raw.csv', 'my edit\n');
    const ptrBefore = await fsp.readFile(path.join(dir, 'data/raw.csv.trove'), 'utf8');
    await write(dir, 'data/raw.csv', 'raw v2 edited\n');
    await trove(dir, 'add', 'data/raw.csv');
    await write(dir, 'data/raw.csv', 'my edit\n');
    const ptrMid = await fsp.readFile(path.join(dir, 'data/raw.csv.trove'), 'utf8');
    const refused = await trove(dir, 'checkout', '--run', featurize, '--inputs');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/would overwrite.*data\/raw\.csv/);
    expect(await fsp.readFile(path.join(dir, 'data/raw.csv'), 'utf8')).toBe('my edit\n');
    expect(await fsp.readFile(path.join(dir, 'data/raw.csv.trove'), 'utf8')).toBe(ptrMid);
    expect(ptrMid).not.toBe(ptrBefore);
    expect((await trove(dir, 'checkout', '--run', featurize, '--inputs', '--force')).code).toBe(0);
    expect(await fsp.readFile(path.join(dir, 'data/raw.csv'), 'utf8')).toBe('raw v1\n');

    // an object that is not in the cache: a clear error, and nothing changed
    await write(dir, 'data/raw.csv', 'raw v3\n');
    await trove(dir, 'add', 'data/raw.csv');
    const repo = await Repo.open(dir);
    const obj = objectFile(repo.cache.dir, `sha256:${hex('raw v1\n')}`);
    repo.close();
    await fsp.rm(obj, { force: true });
    const missing = await trove(dir, 'checkout', '--run', featurize, '--inputs');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/not in the cache: data\/raw\.csv/);
    expect(missing.stderr).toMatch(/trove pull/);
    expect(await fsp.readFile(path.join(dir, 'data/raw.csv'), 'utf8')).toBe('raw v3\n');

    expect((await trove(dir, 'checkout', '--inputs')).code).toBe(2);
  });
});

describe('hostile run records', () => {
  it('are refused by name in runs show, and skipped with a report by runs list', async () => {
    const dir = await newRepo();
    const good = await runId(dir, '-n', 'good', '--', 'true');
    const runs = path.join(dir, '.trove/runs');
    const base = JSON.parse(await fsp.readFile(path.join(runs, `${good}.json`), 'utf8'));
    const ids = ['01ARZ3NDEKTSV4RRFFQ69G5FA1', '01ARZ3NDEKTSV4RRFFQ69G5FA2', '01ARZ3NDEKTSV4RRFFQ69G5FA3', '01ARZ3NDEKTSV4RRFFQ69G5FA4'];
    const entry = { path: 'x', oid: `sha256:${'0'.repeat(64)}`, type: 'file', size: 1 };
    await fsp.writeFile(path.join(runs, `${ids[0]}.json`), JSON.stringify({ ...base, id: '../../etc/passwd' }));
    await fsp.writeFile(path.join(runs, `${ids[1]}.json`), JSON.stringify({ ...base, id: ids[1], inputs: [{ ...entry, path: '../outside' }] }));
    await fsp.writeFile(path.join(runs, `${ids[2]}.json`), JSON.stringify({ ...base, id: ids[2], outputs: Array.from({ length: 100_001 }, (_, i) => ({ ...entry, path: `f${i}` })) }));
    await fsp.writeFile(path.join(runs, `${ids[3]}.json`), '{"schema": 1, "id": ');

    for (const [id, why] of [[ids[0], /field id must be a ULID/], [ids[1], /field inputs\[0\]\.path path contains '\.\.'/], [ids[2], /field outputs has 100001 entries/], [ids[3], /not valid JSON/]] as const) {
      const r = await trove(dir, 'runs', 'show', id);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`.trove/runs/${id}.json`);
      expect(r.stderr).toMatch(why);
    }
    const list = await trove(dir, 'runs', 'list', '--json');
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).map((r: { id: string }) => r.id)).toEqual([good]);
    for (const id of ids) expect(list.stderr).toContain(`skipped .trove/runs/${id}.json`);
    // checkout --run of a hostile record writes nothing
    expect((await trove(dir, 'checkout', '--run', ids[1])).code).toBe(1);
    expect(existsSync(path.join(dir, '../outside.trove'))).toBe(false);
    // a run id that is not one is looked up as a run name, never used as a path
    const weird = await trove(dir, 'runs', 'show', '../../etc/passwd');
    expect(weird.code).toBe(1);
    expect(weird.stderr).toContain('no run has the id or name "../../etc/passwd"');
  });
});
