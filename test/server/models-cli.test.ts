import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { newRepo, trove } from '../helpers/repo.js';
import { records } from '../helpers/runs.js';

const SAMPLE = '/work/shared/mlflow/mlruns-sample';

describe('trove models list|show|register|alias', () => {
  it.runIf(existsSync(SAMPLE))('registers versions pinned to a run and oid, moves aliases and answers which version an alias named when', async () => {
    const dir = await newRepo();
    expect((await trove(dir, 'runs', 'import', SAMPLE)).code).toBe(0);
    const list = JSON.parse((await trove(dir, 'models', 'list', '--json')).stdout);
    expect(list).toEqual([expect.objectContaining({ name: 'iris-classifier', versions: 1, aliases: { champion: 1 } })]);
    const withModel = (await records(dir)).find((r) => r.outputs.some((o) => o.path.startsWith('mlflow-models/')))!;
    const reg = await trove(dir, 'models', 'register', 'iris-classifier', '--run', withModel.id, '--json');
    expect(reg.code, reg.stderr).toBe(0);
    const v = JSON.parse(reg.stdout);
    const out = withModel.outputs.find((o) => o.path.startsWith('mlflow-models/'))!;
    expect(v).toMatchObject({ version: 2, runId: withModel.id, oid: out.oid, source: `models:/${out.path.slice('mlflow-models/'.length)}` });
    const before = Date.now();
    expect((await trove(dir, 'models', 'alias', 'iris-classifier', 'champion', '2')).code).toBe(0);
    const show = JSON.parse((await trove(dir, 'models', 'show', 'iris-classifier', '--json', '--at', new Date(before - 1).toISOString())).stdout);
    expect(show.aliases).toEqual({ champion: 2 });
    expect(show.aliasesAt).toEqual({ champion: 1 }); // before the move, champion was version 1
    expect(show.aliasHistory.map((h: { version: number }) => h.version)).toEqual([1, 2]);
    // a brand-new model from a run's artifact
    const art = (await records(dir)).find((r) => r.outputs.some((o) => o.path.endsWith('/notes.txt')))!;
    const r2 = await trove(dir, 'models', 'register', 'notes', '--run', art.id, '--path', 'notes.txt', '--json');
    expect(r2.code, r2.stderr).toBe(0);
    expect(JSON.parse(r2.stdout)).toMatchObject({ version: 1, source: `runs:/${art.id}/notes.txt` });
    // bad input: clear errors, nothing changed
    expect((await trove(dir, 'models', 'register', 'x')).code).toBe(2);
    expect((await trove(dir, 'models', 'alias', 'iris-classifier', 'champion', '9')).code).toBe(1);
    expect((await trove(dir, 'models', 'alias', 'iris-classifier', 'latest', '1')).code).toBe(2);
    expect((await trove(dir, 'models', 'show', 'nope')).code).toBe(1);
    const after = JSON.parse((await trove(dir, 'models', 'show', 'iris-classifier', '--json')).stdout);
    expect(after.aliases).toEqual({ champion: 2 });
  }, 60_000);
});
