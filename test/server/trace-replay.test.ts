/**
 * Replays the requests the real MLflow 3.11 client sent (../shared/mlflow/trace-*.jsonl) against
 * trove's server, in order, mapping the ids the recorded server chose (runs, models, experiments,
 * generated run names) to the ones trove chose, and checks the status and every field of each recorded
 * response except times and free-text messages.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Repo } from '../../src/core/repo.js';
import { startServer } from '../../src/server/server.js';
import { ROOT, newRepo } from '../helpers/repo.js';

const SHARED = path.resolve(ROOT, '../../shared/mlflow');
const traceFile = (n: string) => {
  for (const dir of [SHARED, '/work/shared/mlflow']) {
    try {
      return readFileSync(path.join(dir, n), 'utf8');
    } catch {
      /* next */
    }
  }
  throw new Error(`trace ${n} not found`);
};

interface Entry { seq: number; method: string; path: string; request_content_type: string | null; request: unknown; status: number; response: unknown }

const IGNORED = new Set(['start_time', 'end_time', 'timestamp', 'creation_time', 'last_update_time', 'creation_timestamp', 'last_updated_timestamp',
  'creation_timestamp_ms', 'last_updated_timestamp_ms', 'message', 'sqlstate', 'error_class', 'user_id', 'next_page_token',
  // sizes change where the id mapping rewrote an uploaded file; they are checked against what was sent
  'file_size']);

function sortKey(x: unknown): string {
  if (typeof x !== 'object' || x === null) return JSON.stringify(x);
  const o = x as Record<string, unknown>;
  const info = o.info as Record<string, unknown> | undefined;
  return String(o.key ?? o.path ?? info?.model_id ?? o.model_id ?? JSON.stringify(o)) + '\0' + String(o.step ?? '');
}

/** Every field of `want` is in `got` with the same value (arrays of keyed objects compared as sets). */
function expectLike(got: unknown, want: unknown, where: string, ordered: boolean): void {
  if (Array.isArray(want)) {
    expect(Array.isArray(got), `${where}: array`).toBe(true);
    const g = got as unknown[];
    expect(g.length, `${where}: length`).toBe(want.length);
    const ws = ordered ? want : [...want].sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1));
    const gs = ordered ? g : [...g].sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1));
    ws.forEach((w, i) => expectLike(gs[i], w, `${where}[${i}]`, false));
    return;
  }
  if (typeof want === 'object' && want !== null) {
    expect(typeof got, `${where}: object`).toBe('object');
    for (const [k, v] of Object.entries(want)) {
      if (IGNORED.has(k)) continue;
      expect(got as object, `${where}: has ${k}`).toHaveProperty([k]);
      // a metric history and a search result keep their order; other lists are sets
      expectLike((got as Record<string, unknown>)[k], v, `${where}.${k}`, (k === 'metrics' && where.endsWith('response')) || k === 'runs');
    }
    return;
  }
  expect(got, where).toEqual(want);
}

async function replay(name: string): Promise<{ count: number; byEndpoint: Map<string, number> }> {
  const dir = await newRepo();
  const srv = await startServer({ root: dir, port: 0 });
  const ids = new Map<string, string>();
  const map = (s: string) => {
    let out = s;
    // longest first, so one id is never a prefix match of another
    for (const [a, b] of [...ids].sort((x, y) => y[0].length - x[0].length)) out = out.split(a).join(b);
    return out;
  };
  const byEndpoint = new Map<string, number>();
  const sent = new Map<string, number>();
  let count = 0;
  try {
    for (const line of traceFile(name).split('\n').filter(Boolean)) {
      const e = JSON.parse(line) as Entry;
      let body: Buffer | undefined;
      let binary = 0;
      if (typeof e.request === 'string') {
        const m = /^<(\d+) binary bytes>$/.exec(e.request);
        binary = m ? Number(m[1]) : 0;
        body = m ? randomBytes(binary) : Buffer.from(map(e.request));
      } else if (e.request !== null) body = Buffer.from(map(JSON.stringify(e.request)));
      if (e.method === 'PUT' && body) sent.set(decodeURIComponent(map(e.path).split('/artifacts/artifacts/')[1] ?? map(e.path).split('mlflow-artifacts/artifacts/')[1]!), body.length);
      const res = await fetch(srv.url + map(e.path), {
        method: e.method, body, headers: e.request_content_type ? { 'Content-Type': e.request_content_type } : {},
      });
      const where = `${name} seq ${e.seq} ${e.method} ${e.path.split('?')[0]}`;
      const text = await res.text();
      expect(res.status, `${where}: ${text.slice(0, 300)}`).toBe(e.status);
      const endpoint = `${e.method} ${e.path.split('?')[0]!.replace(/[0-9a-f]{32}/g, '<id>').replace(/artifacts\/\d+\/.*/, 'artifacts/…')}`;
      byEndpoint.set(endpoint, (byEndpoint.get(endpoint) ?? 0) + 1);
      count++;
      if (typeof e.response === 'string') {
        const m = /^<(\d+) binary bytes>$/.exec(e.response);
        if (m) expect(Buffer.byteLength(text, 'latin1') > 0 && text.length > 0, where).toBe(true);
        else expect(text, where).toBe(map(e.response));
        continue;
      }
      const got = JSON.parse(text) as Record<string, unknown>;
      // Learn the ids this server chose from the responses that mint them.
      const want = e.response as Record<string, unknown>;
      if (e.path.endsWith('/experiments/create')) ids.set(`"${want.experiment_id}"`, `"${got.experiment_id}"`), ids.set(`/${want.experiment_id}/`, `/${got.experiment_id}/`), ids.set(`experiment_id=${want.experiment_id}`, `experiment_id=${got.experiment_id}`), ids.set(`:/${want.experiment_id}`, `:/${got.experiment_id}`), ids.set(`${want.experiment_id}%2F`, `${got.experiment_id}%2F`);
      if (e.path.endsWith('/runs/create')) {
        const wi = (want.run as { info: Record<string, string> }).info;
        const gi = (got.run as { info: Record<string, string> }).info;
        ids.set(wi.run_id!, gi.run_id!);
        if (!(e.request as Record<string, unknown>).run_name) ids.set(wi.run_name!, gi.run_name!);
      }
      if (e.method === 'POST' && e.path.endsWith('/mlflow/logged-models')) {
        ids.set((want.model as { info: Record<string, string> }).info.model_id!, (got.model as { info: Record<string, string> }).info.model_id!);
      }
      expectLike(got, JSON.parse(map(JSON.stringify(want))), `${where} response`, false);
      if (Array.isArray(got.files)) {
        const dir = new URL(srv.url + map(e.path)).searchParams.get('path')!;
        for (const f of got.files as { path: string; is_dir: boolean; file_size?: number }[]) {
          if (!f.is_dir) expect(f.file_size, `${where}: size of ${f.path}`).toBe(sent.get(`${dir}/${f.path}`));
        }
      }
    }
  } finally {
    await srv.close();
  }
  // The runs are ordinary trove runs.
  const repo = await Repo.open(dir);
  try {
    const store = await repo.runStore();
    expect((await store.names()).length).toBeGreaterThan(0);
  } finally {
    repo.close();
  }
  return { count, byEndpoint };
}

describe('MLflow client traces, replayed', () => {
  it('seed_train.py: all 20 requests answered as the client expects', async () => {
    const r = await replay('trace-seed.jsonl');
    expect(r.count).toBe(20);
  });

  it('workload.py: all 207 requests over every endpoint answered as the client expects', async () => {
    const r = await replay('trace-workload.jsonl');
    expect(r.count).toBe(207);
    expect(r.byEndpoint.size).toBeGreaterThanOrEqual(28);
  }, 30_000);
});
