/**
 * The server's safety and MLflow's validation rules, endpoint by endpoint, against a real server in
 * this process (node:http on 127.0.0.1:0) over a real repo; raw HTTP where a client would normalize.
 */
import { existsSync, promises as fsp } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { newRepo } from '../helpers/repo.js';
import { records } from '../helpers/runs.js';

async function server(o: { token?: string; maxJsonBytes?: number } = {}): Promise<{ dir: string; srv: RunningServer }> {
  const dir = await newRepo();
  const srv = await startServer({ root: dir, port: 0, ...o });
  onTestFinished(() => srv.close());
  return { dir, srv };
}

async function call(srv: RunningServer, method: string, p: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(srv.url + '/api/2.0/' + p, {
    method, headers: { 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, text };
}

/** A request whose path is sent byte for byte (fetch would fold `..` and `%2e%2e`). */
function rawRequest(srv: RunningServer, method: string, rawPath: string, body = 'x'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: srv.port, method, path: rawPath, headers: { 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function newRun(srv: RunningServer) {
  const r = await call(srv, 'POST', 'mlflow/runs/create', { experiment_id: '0', run_name: 'r' });
  expect(r.status).toBe(200);
  return (r.json.run as { info: { run_id: string; artifact_uri: string } }).info;
}

describe('trove server: safety', () => {
  it('answers only to localhost names, and takes POSTs only as JSON (no cross-site simple requests)', async () => {
    const { dir, srv } = await server();
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: srv.port, method: 'GET', path: '/api/2.0/mlflow/experiments/search', headers: { Host: `evil.example:${srv.port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end();
    });
    expect(rebound).toBe(421);
    // what a form or a no-cors fetch from another site can send without asking first
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const r = await call(srv, 'POST', 'mlflow/runs/create', { experiment_id: '0', run_name: 'csrf' }, { 'Content-Type': type });
      expect(r.status, type).toBe(415);
    }
    expect(await records(dir)).toEqual([]);
    expect((await call(srv, 'POST', 'mlflow/runs/create', { experiment_id: '0', run_name: 'ok' })).status).toBe(200);
    expect((await fetch(`http://localhost:${srv.port}/api/2.0/mlflow/experiments/search`)).status).toBe(200);
  });

  it('binds 127.0.0.1 by default and refuses another address without a token', async () => {
    const { srv } = await server();
    expect(srv.host).toBe('127.0.0.1');
    const dir = await newRepo();
    await expect(startServer({ root: dir, host: '0.0.0.0', port: 0 })).rejects.toMatchObject({ code: 'BAD_ARGS' });
  });

  it('with a token, requires Authorization: Bearer <token> (401 otherwise, nothing written)', async () => {
    const { dir, srv } = await server({ token: 's3cret' });
    expect((await call(srv, 'POST', 'mlflow/runs/create', { experiment_id: '0' })).status).toBe(401);
    expect((await call(srv, 'POST', 'mlflow/runs/create', { experiment_id: '0' }, { Authorization: 'Bearer wrong!' })).status).toBe(401);
    expect(await records(dir)).toHaveLength(0);
    const ok = await call(srv, 'POST', 'mlflow/runs/create', { experiment_id: '0' }, { Authorization: 'Bearer s3cret' });
    expect(ok.status).toBe(200);
    const recs = await records(dir);
    expect(JSON.stringify(recs)).not.toContain('s3cret');
  });

  it('malformed JSON is a 400 MALFORMED_REQUEST; an oversized body is refused; unknown endpoints are 404', async () => {
    const { srv } = await server({ maxJsonBytes: 1024 });
    const bad = await call(srv, 'POST', 'mlflow/runs/create', '{"experiment_id": ');
    expect(bad.status).toBe(400);
    expect(bad.json.error_code).toBe('MALFORMED_REQUEST');
    const big = await call(srv, 'POST', 'mlflow/runs/create', { experiment_id: '0', run_name: 'x'.repeat(5000) });
    expect(big.status).toBe(400);
    expect((await call(srv, 'GET', 'mlflow/no/such')).json.error_code).toBe('ENDPOINT_NOT_FOUND');
    expect((await fetch(srv.url + '/')).status).toBe(404);
    // still serving
    expect((await call(srv, 'GET', 'mlflow/experiments/get?experiment_id=0')).status).toBe(200);
  });

  it('refuses artifact paths with .., %2e%2e, %2f, NUL, backslash or absolute; writes nothing outside the cache', async () => {
    const { dir, srv } = await server();
    const info = await newRun(srv);
    const area = `/api/2.0/mlflow-artifacts/artifacts/0/${info.run_id}/artifacts`;
    for (const p of ['../../../evil.txt', '%2e%2e/%2e%2e/evil.txt', 'a%2f..%2f..%2fevil.txt', 'a%00b', 'a%5c..%5cevil', 'a\\..\\evil', '.%2e/evil', '%252e%252e/evil']) {
      const r = await rawRequest(srv, 'PUT', `${area}/${p}`);
      expect(r.status, p).toBeGreaterThanOrEqual(400);
      expect(r.status, p).toBeLessThan(500);
    }
    // absolute: the path after the run's area is never absolute, and another area is not reachable
    expect((await rawRequest(srv, 'PUT', `/api/2.0/mlflow-artifacts/artifacts/0/${info.run_id}/artifacts//etc/passwd`)).status).toBe(200);
    const listing = await call(srv, 'GET', `mlflow-artifacts/artifacts?path=0/${info.run_id}/artifacts/etc`);
    expect(listing.json.files).toEqual([{ path: 'passwd', is_dir: false, file_size: 1 }]);
    expect((await call(srv, 'GET', `mlflow-artifacts/artifacts?path=0/${info.run_id}/artifacts/../..`)).status).toBe(400);
    expect(existsSync(path.join(dir, 'evil.txt'))).toBe(false);
    expect(existsSync(path.join(path.dirname(dir), 'evil.txt'))).toBe(false);
    const rec = (await records(dir))[0]!;
    const ev = await fsp.readFile(path.join(dir, '.trove/runs', `${rec.id}.events.jsonl`), 'utf8');
    expect(ev.split('\n').filter(Boolean)).toHaveLength(1); // only the one good upload
  });
});

describe('trove server: UI mount point', () => {
  it('hands every path outside /api/2.0/ and /ajax-api/2.0/ (pages, /api/trove/…) to uiHandler; the API stays its own', async () => {
    const dir = await newRepo();
    const seen: string[] = [];
    const srv = await startServer({
      root: dir, port: 0,
      uiHandler: async (req, res) => {
        seen.push(req.url!);
        if (req.url === '/nope') return false;
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ui');
        return true;
      },
    });
    onTestFinished(() => srv.close());
    expect(await (await fetch(`${srv.url}/`)).text()).toBe('ui');
    expect(await (await fetch(`${srv.url}/api/trove/runs`)).text()).toBe('ui');
    expect((await fetch(`${srv.url}/nope`)).status).toBe(404);
    expect((await fetch(`${srv.url}/ajax-api/2.0/mlflow/experiments/get?experiment_id=0`)).status).toBe(200);
    const r = await fetch(`${srv.url}/api/2.0/mlflow/registered-models/search?max_results=10`);
    expect([r.status, await r.json()]).toEqual([200, { registered_models: [] }]);
    expect(seen).toEqual(['/', '/api/trove/runs', '/nope']);
  });
});

describe('trove server: MLflow validation rules', () => {
  it('unknown run and experiment are 404 RESOURCE_DOES_NOT_EXIST; an existing experiment name is RESOURCE_ALREADY_EXISTS', async () => {
    const { srv } = await server();
    const r = await call(srv, 'GET', 'mlflow/runs/get?run_id=01JD3Z8Q4X6E0T8V5C1N2K7M9R');
    expect([r.status, r.json.error_code]).toEqual([404, 'RESOURCE_DOES_NOT_EXIST']);
    const e = await call(srv, 'GET', 'mlflow/experiments/get-by-name?experiment_name=nope');
    expect([e.status, e.json.error_code]).toEqual([404, 'RESOURCE_DOES_NOT_EXIST']);
    expect((await call(srv, 'POST', 'mlflow/experiments/create', { name: 'x' })).status).toBe(200);
    const dup = await call(srv, 'POST', 'mlflow/experiments/create', { name: 'x' });
    expect([dup.status, dup.json.error_code]).toEqual([400, 'RESOURCE_ALREADY_EXISTS']);
    const missing = await call(srv, 'POST', 'mlflow/experiments/create', {});
    expect([missing.status, missing.json.error_code]).toEqual([400, 'INVALID_PARAMETER_VALUE']);
  });

  it('keys: character set, length and path rules; values: length limits; params are write-once', async () => {
    const { srv } = await server();
    const { run_id } = await newRun(srv);
    const metric = (key: string, value: unknown = 1) => call(srv, 'POST', 'mlflow/runs/log-metric', { run_id, key, value, timestamp: 1, step: 0 });
    for (const key of ['bad$key', '', '../up', '/abs', 'a//b', 'x'.repeat(251)]) expect((await metric(key)).json.error_code, key).toBe('INVALID_PARAMETER_VALUE');
    expect((await metric('ok/key.name-1 :x')).status).toBe(200);
    expect((await metric('v', 'NaN')).status).toBe(400);
    expect((await metric('v', 'abc')).status).toBe(400);
    const param = (key: string, value: string) => call(srv, 'POST', 'mlflow/runs/log-parameter', { run_id, key, value });
    expect((await param('p', 'x'.repeat(6001))).status).toBe(400);
    expect((await param('p', '1')).status).toBe(200);
    expect((await param('p', '1')).status).toBe(200); // same value again is fine
    const change = await param('p', '2');
    expect([change.status, change.json.error_code]).toEqual([400, 'INVALID_PARAMETER_VALUE']);
    expect((await call(srv, 'POST', 'mlflow/runs/set-tag', { run_id, key: 't', value: 'x'.repeat(8001) })).status).toBe(400);
    const got = await call(srv, 'GET', `mlflow/runs/get?run_id=${run_id}`);
    const data = (got.json.run as { data: { params: unknown[] } }).data;
    expect(data.params).toEqual([{ key: 'p', value: '1' }]);
  });

  it('log-batch limits: 1000 metrics, 100 params, 100 tags, 1000 in all; a refused batch writes nothing', async () => {
    const { srv } = await server();
    const { run_id } = await newRun(srv);
    const m = (n: number) => Array.from({ length: n }, (_, i) => ({ key: 'm', value: i, timestamp: 1, step: i }));
    const kv = (n: number) => Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: 'v' }));
    expect((await call(srv, 'POST', 'mlflow/runs/log-batch', { run_id, metrics: m(1001) })).status).toBe(400);
    expect((await call(srv, 'POST', 'mlflow/runs/log-batch', { run_id, params: kv(101) })).status).toBe(400);
    expect((await call(srv, 'POST', 'mlflow/runs/log-batch', { run_id, tags: kv(101) })).status).toBe(400);
    expect((await call(srv, 'POST', 'mlflow/runs/log-batch', { run_id, metrics: m(950), params: kv(51) })).status).toBe(400);
    expect((await call(srv, 'POST', 'mlflow/runs/log-batch', { run_id, metrics: [...m(3), { key: 'bad$', value: 1 }] })).status).toBe(400);
    const h0 = await call(srv, 'GET', `mlflow/metrics/get-history?run_id=${run_id}&metric_key=m`);
    expect(h0.json.metrics).toEqual([]);
    expect((await call(srv, 'POST', 'mlflow/runs/log-batch', { run_id, metrics: m(1000) })).status).toBe(200);
    const h = await call(srv, 'GET', `mlflow/metrics/get-history?run_id=${run_id}&metric_key=m`);
    expect((h.json.metrics as unknown[]).length).toBe(1000);
  });

  it('delete hides a run from search and refuses writes; restore brings it back; the record stays', async () => {
    const { dir, srv } = await server();
    const { run_id } = await newRun(srv);
    const search = async (view?: string) => ((await call(srv, 'POST', 'mlflow/runs/search', { experiment_ids: ['0'], ...(view ? { run_view_type: view } : {}) })).json.runs as unknown[] | undefined ?? []).length;
    expect(await search()).toBe(1);
    expect((await call(srv, 'POST', 'mlflow/runs/delete', { run_id })).status).toBe(200);
    expect(await search()).toBe(0);
    expect(await search('DELETED_ONLY')).toBe(1);
    expect((await call(srv, 'POST', 'mlflow/runs/log-metric', { run_id, key: 'm', value: 1, timestamp: 1 })).status).toBe(400);
    expect((await records(dir)).length).toBe(1);
    const got = await call(srv, 'GET', `mlflow/runs/get?run_id=${run_id}`);
    expect((got.json.run as { info: { lifecycle_stage: string } }).info.lifecycle_stage).toBe('deleted');
    expect((await call(srv, 'POST', 'mlflow/runs/restore', { run_id })).status).toBe(200);
    expect(await search()).toBe(1);
  });

  it('registry: versions numbered, aliases resolve, alias moves kept as history', async () => {
    const { dir, srv } = await server();
    const { run_id } = await newRun(srv);
    const lm = await call(srv, 'POST', 'mlflow/logged-models', { experiment_id: '0', name: 'model', source_run_id: run_id });
    const model_id = (lm.json.model as { info: { model_id: string } }).info.model_id;
    expect((await rawRequest(srv, 'PUT', `/api/2.0/mlflow-artifacts/artifacts/0/models/${model_id}/artifacts/model.pkl`, 'weights')).status).toBe(200);
    const ready = await call(srv, 'PATCH', `mlflow/logged-models/${model_id}`, { model_id, status: 'LOGGED_MODEL_READY' });
    expect((ready.json.model as { info: { status: string } }).info.status).toBe('LOGGED_MODEL_READY');
    expect((await call(srv, 'POST', 'mlflow/registered-models/create', { name: 'iris' })).status).toBe(200);
    expect((await call(srv, 'POST', 'mlflow/registered-models/create', { name: 'iris' })).json.error_code).toBe('RESOURCE_ALREADY_EXISTS');
    for (let i = 0; i < 2; i++) {
      const v = await call(srv, 'POST', 'mlflow/model-versions/create', { name: 'iris', source: `models:/${model_id}`, run_id, model_id });
      expect((v.json.model_version as { version: string }).version).toBe(String(i + 1));
    }
    await call(srv, 'POST', 'mlflow/registered-models/alias', { name: 'iris', alias: 'champion', version: '1' });
    await call(srv, 'POST', 'mlflow/registered-models/alias', { name: 'iris', alias: 'champion', version: '2' });
    const a = await call(srv, 'GET', 'mlflow/registered-models/alias?name=iris&alias=champion');
    expect(a.json.model_version).toMatchObject({ version: '2', aliases: ['champion'] });
    expect((await call(srv, 'POST', 'mlflow/registered-models/alias', { name: 'iris', alias: 'latest', version: '1' })).status).toBe(400);
    const uri = await call(srv, 'GET', 'mlflow/model-versions/get-download-uri?name=iris&version=2');
    expect(uri.json.artifact_uri).toBe(`mlflow-artifacts:/0/models/${model_id}/artifacts`);
    const s = await call(srv, 'POST', 'mlflow/model-versions/search', { filter: "name = 'iris'" });
    expect((s.json.model_versions as unknown[]).length).toBe(2);
    const rm = await call(srv, 'POST', 'mlflow/registered-models/search', {});
    expect((rm.json.registered_models as { name: string }[]).map((m) => m.name)).toEqual(['iris']);
    const { Registry, aliasAt } = await import('../../src/core/runs/registry.js');
    const reg = await new Registry(path.join(dir, '.trove/runs/registry')).get('iris');
    expect(reg.aliasHistory.map((h) => h.version)).toEqual([1, 2]);
    expect(aliasAt(reg, 'champion', reg.aliasHistory[0]!.at)).toBe(1);
    expect(reg.versions[0]!.oid).toMatch(/^sha256:/);
    // the model folder is a tree output of its run
    const run = await call(srv, 'GET', `mlflow/runs/get?run_id=${run_id}`);
    expect((run.json.run as { outputs: { model_outputs: unknown[] } }).outputs.model_outputs).toEqual([{ model_id, step: 0 }]);
  });
});

describe('trove server: concurrency', () => {
  it('eight clients on eight runs and two on one run lose no metric value', async () => {
    const { srv } = await server();
    const runs = [];
    for (let i = 0; i < 9; i++) runs.push((await newRun(srv)).run_id);
    const N = 40;
    const client = async (run_id: string, key: string) => {
      for (let s = 0; s < N; s++) {
        const r = await call(srv, 'POST', 'mlflow/runs/log-metric', { run_id, key, value: s, timestamp: 1000 + s, step: s });
        expect(r.status).toBe(200);
      }
    };
    await Promise.all([...runs.slice(0, 8).map((id) => client(id, 'loss')), client(runs[8]!, 'a'), client(runs[8]!, 'b')]);
    for (const id of runs.slice(0, 8)) {
      const h = await call(srv, 'GET', `mlflow/metrics/get-history?run_id=${id}&metric_key=loss`);
      expect((h.json.metrics as { value: number }[]).map((p) => p.value)).toEqual(Array.from({ length: N }, (_, i) => i));
    }
    for (const key of ['a', 'b']) {
      const h = await call(srv, 'GET', `mlflow/metrics/get-history?run_id=${runs[8]}&metric_key=${key}`);
      expect((h.json.metrics as unknown[]).length).toBe(N);
    }
    // ending folds everything into the final record
    expect((await call(srv, 'POST', 'mlflow/runs/update', { run_id: runs[8], status: 'FINISHED' })).status).toBe(200);
    const fin = await call(srv, 'GET', `mlflow/runs/get?run_id=${runs[8]}`);
    expect((fin.json.run as { info: { status: string } }).info.status).toBe('FINISHED');
    const h = await call(srv, 'GET', `mlflow/metrics/get-history?run_id=${runs[8]}&metric_key=a`);
    expect((h.json.metrics as unknown[]).length).toBe(N);
  }, 30_000);
});
