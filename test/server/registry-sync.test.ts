/**
 * What the MLflow API wrote travels with push and pull: a teammate's clone sees the same runs,
 * experiments, logged model files and registry aliases, and the artifacts come from the remote.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startServer } from '../../src/server/server.js';
import { newRepo, tempDir, trove } from '../helpers/repo.js';
import { cloneOf, commitAll, ok } from '../integration/remoteHelpers.js';

async function call(url: string, method: string, p: string, body?: unknown) {
  const res = await fetch(`${url}/api/2.0/${p}`, { method, headers: { 'Content-Type': 'application/json' }, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, json: JSON.parse((await res.text()) || '{}') as Record<string, any> };
}

describe('MLflow data travels with push and pull', () => {
  it("a teammate sees the experiment, the run's artifacts, the logged model and the champion alias", async () => {
    const a = await newRepo();
    const remote = path.join(tempDir('trove-remote-'), 'store');
    await ok(a, 'remote', 'add', 'origin', remote);
    await commitAll(a, 'init');
    let srv = await startServer({ root: a, port: 0 });
    const exp = (await call(srv.url, 'POST', 'mlflow/experiments/create', { name: 'iris' })).json.experiment_id as string;
    const run = (await call(srv.url, 'POST', 'mlflow/runs/create', { experiment_id: exp, run_name: 'r1' })).json.run.info;
    await fetch(`${srv.url}/api/2.0/mlflow-artifacts/artifacts/${exp}/${run.run_id}/artifacts/notes.txt`, { method: 'PUT', body: 'hello' });
    const m = (await call(srv.url, 'POST', 'mlflow/logged-models', { experiment_id: exp, name: 'model', source_run_id: run.run_id })).json.model.info.model_id as string;
    await fetch(`${srv.url}/api/2.0/mlflow-artifacts/artifacts/${exp}/models/${m}/artifacts/model.pkl`, { method: 'PUT', body: 'weights' });
    await call(srv.url, 'PATCH', `mlflow/logged-models/${m}`, { model_id: m, status: 'LOGGED_MODEL_READY' });
    await call(srv.url, 'POST', 'mlflow/registered-models/create', { name: 'iris-classifier' });
    await call(srv.url, 'POST', 'mlflow/model-versions/create', { name: 'iris-classifier', source: `models:/${m}`, run_id: run.run_id, model_id: m });
    await call(srv.url, 'POST', 'mlflow/registered-models/alias', { name: 'iris-classifier', alias: 'champion', version: '1' });
    expect((await call(srv.url, 'POST', 'mlflow/runs/update', { run_id: run.run_id, status: 'FINISHED' })).status).toBe(200);
    await srv.close();
    const p = await trove(a, 'push');
    expect(p.code, p.stderr).toBe(0);

    const b = await cloneOf(a);
    const pl = await trove(b, 'pull');
    expect(pl.code, pl.stderr).toBe(0);
    srv = await startServer({ root: b, port: 0 });
    try {
      const e = await call(srv.url, 'GET', 'mlflow/experiments/get-by-name?experiment_name=iris');
      expect(e.json.experiment.experiment_id).toBe(exp);
      const alias = await call(srv.url, 'GET', 'mlflow/registered-models/alias?name=iris-classifier&alias=champion');
      expect(alias.json.model_version).toMatchObject({ version: '1', run_id: run.run_id });
      // the artifacts' objects went to the remote with the records; the clone's server fetches them on demand
      const notes = await fetch(`${srv.url}/api/2.0/mlflow-artifacts/artifacts/${exp}/${run.run_id}/artifacts/notes.txt`);
      expect(await notes.text()).toBe('hello');
      const w = await fetch(`${srv.url}/api/2.0/mlflow-artifacts/artifacts/${exp}/models/${m}/artifacts/model.pkl`);
      expect(await w.text()).toBe('weights');
      const listing = await call(srv.url, 'GET', `mlflow-artifacts/artifacts?path=${exp}/${run.run_id}/artifacts`);
      expect(listing.json.files).toEqual([{ path: 'notes.txt', is_dir: false, file_size: 5 }]);
      const s = await call(srv.url, 'POST', 'mlflow/runs/search', { experiment_ids: [exp] });
      expect(s.json.runs.map((r: { info: { run_id: string } }) => r.info.run_id)).toEqual([run.run_id]);
    } finally {
      await srv.close();
    }
  }, 30_000);
});
