// Benchmark of `trove server` (MLflow's REST API over run records). Not part of `npm test`.
// 1. both MLflow client traces replayed (ids mapped), 2. log-metric requests/s from 1 and 8 concurrent
// clients, log_batch of 10 x 1,000 metrics, a 10,000-point history read back, 3. runs/search at
// 10,000 runs with a filter and order_by: p50/p99. Prints figures; asserts nothing.
// Run: npx tsc -p tsconfig.json && node bench/mlflow-server.mjs [runs=10000]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newRunRecord, serializeRunRecord, ulid } from '../dist/core/runs/record.js';
import { startServer } from '../dist/server/server.js';
import { writeFileSync } from 'node:fs';

const N = Number(process.argv[2] ?? 10_000);
const TROVE = fileURLToPath(new URL('../bin/trove.js', import.meta.url));
const SHARED = '/work/shared/mlflow';
const now = () => Number(process.hrtime.bigint()) / 1e6;

function newRepo() {
  const dir = mkdtempSync(join(tmpdir(), 'trove-bench-mlflow-'));
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: dir });
  execFileSync(process.execPath, [TROVE, 'init'], { cwd: dir, stdio: 'ignore' });
  return dir;
}

async function replay(url, file) {
  const ids = new Map();
  const map = (s) => { for (const [a, b] of ids) s = s.split(a).join(b); return s; };
  const lines = readFileSync(join(SHARED, file), 'utf8').split('\n').filter(Boolean);
  const t0 = now();
  for (const line of lines) {
    const e = JSON.parse(line);
    let body;
    if (typeof e.request === 'string') {
      const m = /^<(\d+) binary bytes>$/.exec(e.request);
      body = m ? Buffer.alloc(Number(m[1]), 7) : map(e.request);
    } else if (e.request !== null) body = map(JSON.stringify(e.request));
    const res = await fetch(url + map(e.path), { method: e.method, body });
    const text = await res.text();
    if (res.status !== e.status) throw new Error(`${file} seq ${e.seq}: ${res.status} ${text.slice(0, 200)}`);
    const got = text.startsWith('{') ? JSON.parse(text) : null;
    if (e.path.endsWith('/experiments/create')) for (const [a, b] of [[`"${e.response.experiment_id}"`, `"${got.experiment_id}"`], [`experiment_id=${e.response.experiment_id}`, `experiment_id=${got.experiment_id}`], [`/${e.response.experiment_id}/`, `/${got.experiment_id}/`], [`:/${e.response.experiment_id}`, `:/${got.experiment_id}`], [`${e.response.experiment_id}%2F`, `${got.experiment_id}%2F`]]) ids.set(a, b);
    if (e.path.endsWith('/runs/create')) ids.set(e.response.run.info.run_id, got.run.info.run_id);
    if (e.method === 'POST' && e.path.endsWith('/mlflow/logged-models')) ids.set(e.response.model.info.model_id, got.model.info.model_id);
  }
  return { requests: lines.length, ms: now() - t0 };
}

const post = (url, p, body) => fetch(`${url}/api/2.0/mlflow/${p}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => {
  const t = await r.text();
  if (r.status !== 200) throw new Error(`${p}: ${r.status} ${t}`);
  return JSON.parse(t);
});

const dirs = [];
try {
  // 1. traces
  {
    const dir = newRepo(); dirs.push(dir);
    const srv = await startServer({ root: dir, port: 0 });
    for (const f of ['trace-seed.jsonl', 'trace-workload.jsonl']) {
      const r = await replay(srv.url, f);
      console.log(`replay ${f.padEnd(22)} ${String(r.requests).padStart(4)} requests ${r.ms.toFixed(0).padStart(7)} ms  (${(r.requests / r.ms * 1000).toFixed(0)} req/s)`);
    }
    await srv.close();
  }
  // 2. logging
  {
    const dir = newRepo(); dirs.push(dir);
    const srv = await startServer({ root: dir, port: 0 });
    const runs = [];
    for (let i = 0; i < 8; i++) runs.push((await post(srv.url, 'runs/create', { experiment_id: '0' })).run.info.run_id);
    const client = async (run, n) => { for (let s = 0; s < n; s++) await post(srv.url, 'runs/log-metric', { run_id: run, key: 'loss', value: s, timestamp: 1 + s, step: s }); };
    let t0 = now();
    await client(runs[0], 1000);
    let ms = now() - t0;
    console.log(`log-metric, 1 client, 1,000 requests          ${ms.toFixed(0).padStart(7)} ms  (${(1000 / ms * 1000).toFixed(0)} req/s; MLflow 3.11 + SQLite here: 14/s)`);
    t0 = now();
    await Promise.all(runs.map((r) => client(r, 1000)));
    ms = now() - t0;
    console.log(`log-metric, 8 clients x 1,000 requests        ${ms.toFixed(0).padStart(7)} ms  (${(8000 / ms * 1000).toFixed(0)} req/s)`);
    const batch = (b) => Array.from({ length: 1000 }, (_, i) => ({ key: `m${i % 10}`, value: i, timestamp: 1 + b * 1000 + i, step: b * 100 + Math.floor(i / 10) }));
    const run = (await post(srv.url, 'runs/create', { experiment_id: '0' })).run.info.run_id;
    t0 = now();
    for (let b = 0; b < 10; b++) await post(srv.url, 'runs/log-batch', { run_id: run, metrics: batch(b) });
    console.log(`log_batch 10 x 1,000 metrics                  ${(now() - t0).toFixed(0).padStart(7)} ms  (MLflow: 3.7 s)`);
    const hrun = (await post(srv.url, 'runs/create', { experiment_id: '0' })).run.info.run_id;
    for (let b = 0; b < 10; b++) await post(srv.url, 'runs/log-batch', { run_id: hrun, metrics: Array.from({ length: 1000 }, (_, i) => ({ key: 'h', value: i, timestamp: 1, step: b * 1000 + i })) });
    t0 = now();
    const h = await fetch(`${srv.url}/api/2.0/mlflow/metrics/get-history?run_id=${hrun}&metric_key=h&max_results=25000`).then((r) => r.json());
    console.log(`get-history of 10,000 points (${h.metrics.length})          ${(now() - t0).toFixed(0).padStart(7)} ms  (MLflow: 1.1 s)`);
    await srv.close();
  }
  // 3. search at N runs
  {
    const dir = newRepo(); dirs.push(dir);
    const runsDir = join(dir, '.trove', 'runs');
    mkdirSync(runsDir, { recursive: true });
    let t = Date.parse('2026-01-01T00:00:00Z');
    for (let i = 0; i < N; i++) {
      const rec = newRunRecord({
        id: ulid((t += 1000)), name: `run-${i}`, experiment: 'bench', command: [], status: 'FINISHED', end: new Date(t + 500).toISOString(), exitCode: 0,
        params: { lr: String((i % 97) / 1000), opt: i % 2 ? 'adam' : 'sgd', seed: String(i) },
        metrics: { acc: [{ value: (i % 100) / 100, step: 0, ts: t }], loss: [{ value: 1 - (i % 100) / 100, step: 0, ts: t }] },
        tags: { batch: String(i % 10), 'mlflow.runName': `run-${i}` },
      }, t);
      writeFileSync(join(runsDir, `${rec.id}.json`), serializeRunRecord(rec));
    }
    const srv = await startServer({ root: dir, port: 0 });
    const exp = (await fetch(`${srv.url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=bench`).then((r) => r.json())).experiment.experiment_id;
    const body = (max) => ({ experiment_ids: [exp], filter: "metrics.acc > 0.5 and params.opt = 'adam'", order_by: ['metrics.acc DESC'], max_results: max });
    let t0 = now();
    await post(srv.url, 'runs/search', body(100));
    console.log(`runs/search first call (index built from ${N} records) ${(now() - t0).toFixed(0).padStart(7)} ms`);
    for (const max of [100, 1000]) {
      const times = [];
      for (let i = 0; i < 30; i++) {
        t0 = now();
        const r = await post(srv.url, 'runs/search', body(max));
        times.push(now() - t0);
        if (i === 0 && r.runs.length !== Math.min(max, Math.floor(N / 4))) console.log(`  (got ${r.runs.length} runs)`);
      }
      times.sort((a, b) => a - b);
      const p = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(1);
      console.log(`runs/search ${N} runs, filter + order_by, max_results ${String(max).padEnd(5)} p50 ${p(0.5).padStart(7)} ms  p99 ${p(0.99).padStart(7)} ms`);
    }
    await srv.close();
  }
} finally {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
