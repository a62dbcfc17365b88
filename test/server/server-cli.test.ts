/** `trove server` as a user starts it: binding rules, the token from the environment, and kill -9. */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startServer } from '../../src/server/server.js';
import { TROVE, newRepo, trove } from '../helpers/repo.js';

function serve(dir: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [TROVE, 'server', '--port', '0', ...args], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const url = new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (b) => {
      buf += b;
      const m = /at (http:\/\/[^\s]+)/.exec(buf);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`trove server exited ${code}`)));
  });
  return { child, url };
}

describe('trove server (CLI)', () => {
  it('refuses a non-loopback address without a token (usage: exit 2, names the fix); a port in use is exit 1', async () => {
    const dir = await newRepo();
    const r = await trove(dir, 'server', '--host', '0.0.0.0', '--port', '0');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/token/);
    const srv = await startServer({ root: dir, port: 0 });
    try {
      const busy = await trove(dir, 'server', '--port', String(srv.port));
      expect(busy.code).toBe(1);
      expect(busy.stderr).toMatch(/EADDRINUSE/);
    } finally {
      await srv.close();
    }
    expect((await trove(dir, 'server', '--port', 'abc')).code).toBe(2);
  });

  it('takes TROVE_SERVER_TOKEN; kill -9 loses no answered request and leaves the run RUNNING', async () => {
    const dir = await newRepo();
    const { child, url } = serve(dir, [], { TROVE_SERVER_TOKEN: 'tok' });
    const base = await url;
    const call = (p: string, body: unknown, auth = 'Bearer tok') => fetch(`${base}/api/2.0/mlflow/${p}`, { method: 'POST', headers: { Authorization: auth, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    expect((await call('runs/create', { experiment_id: '0' }, '')).status).toBe(401);
    // the web UI is mounted at / (behind the same token)
    expect((await fetch(`${base}/`, { headers: { Authorization: 'Bearer tok' } })).status).toBe(200);
    const run = (await (await call('runs/create', { experiment_id: '0', run_name: 'crash' })).json()).run.info.run_id as string;
    for (let s = 0; s < 30; s++) expect((await call('runs/log-metric', { run_id: run, key: 'loss', value: s, timestamp: 1 + s, step: s })).status).toBe(200);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const srv = await startServer({ root: dir, port: 0 });
    try {
      const got = await (await fetch(`${srv.url}/api/2.0/mlflow/runs/get?run_id=${run}`)).json();
      expect(got.run.info.status).toBe('RUNNING'); // a client-made run stays RUNNING until ended or marked KILLED
      const h = await (await fetch(`${srv.url}/api/2.0/mlflow/metrics/get-history?run_id=${run}&metric_key=loss`)).json();
      expect(h.metrics.map((p: { value: number }) => p.value)).toEqual(Array.from({ length: 30 }, (_, i) => i));
      const end = await fetch(`${srv.url}/api/2.0/mlflow/runs/update`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ run_id: run, status: 'KILLED' }) });
      expect((await end.json()).run_info.status).toBe('KILLED');
    } finally {
      await srv.close();
    }
  }, 30_000);
});
