import { describe, expect, it } from 'vitest';
import { newRepo, trove } from '../helpers/repo.js';
import { lastRecord, nodeArgs } from '../helpers/runs.js';

describe('trove runs delete|restore|rename|tag', () => {
  it('delete hides a run from runs list and keeps its record; restore, rename and tag change the record', async () => {
    const dir = await newRepo();
    expect((await trove(dir, 'run', '-n', 'first', '--', ...nodeArgs('0'))).code).toBe(0);
    const id = (await lastRecord(dir)).id;
    const listed = async () => (await trove(dir, 'runs', 'list', '--json')).stdout.includes(id);
    expect(await listed()).toBe(true);
    expect((await trove(dir, 'runs', 'delete', id.slice(0, 10))).code).toBe(0);
    expect(await listed()).toBe(false);
    expect((await lastRecord(dir)).tags['trove.deleted']).toMatch(/^\d{4}-/);
    expect((await trove(dir, 'runs', 'restore', id)).code).toBe(0);
    expect(await listed()).toBe(true);
    expect((await trove(dir, 'runs', 'rename', id, 'second')).code).toBe(0);
    expect((await trove(dir, 'runs', 'tag', id, 'stage=prod', 'ok=yes')).code).toBe(0);
    const rec = await lastRecord(dir);
    expect(rec).toMatchObject({ name: 'second', status: 'FINISHED', tags: { stage: 'prod', ok: 'yes', 'mlflow.runName': 'second' } });
    expect((await trove(dir, 'runs', 'tag', id, 'novalue')).code).toBe(2);
    expect((await trove(dir, 'runs', 'delete', 'ZZZZZZZZ')).code).toBe(1);
  }, 30_000);
});
