/**
 * The UI handler over HTTP without a browser (routes, errors, traversal, previews), and `trove ui` as a
 * user starts it (loopback only, Host check, token for other addresses).
 */
import { rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { artifactPreview, csvCells, imageTypeOf, PREVIEW_BYTES } from '../../src/ui/preview.js';
import { spawnTrove, trove } from '../helpers/repo.js';
import { records } from '../helpers/runs.js';
import { buildRepo, HOSTILE, serve } from './fixture.js';

let dir: string, base: string, server: Server;
let ids: Record<string, string>;

beforeAll(async () => {
  dir = await buildRepo();
  ids = Object.fromEntries((await records(dir)).map((r) => [r.name, r.id]));
  ({ server, base } = await serve(dir));
}, 120_000);
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const get = async (p: string, init?: RequestInit) => {
  const res = await fetch(base + p, init);
  const text = await res.text();
  let body: any = null;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, type: res.headers.get('content-type'), body, text };
};

describe('handler', () => {
  test('serves the page, its modules and the libraries from node_modules', async () => {
    const index = await get('/');
    expect(index.status).toBe(200);
    expect(index.type).toMatch(/^text\/html/);
    expect(index.text).not.toMatch(/<script>(?!<)/); // no inline script in the page itself
    for (const p of ['/static/app.js', '/static/runs.js', '/vendor/uplot.js', '/vendor/dagre.js']) {
      const r = await get(p);
      expect(r.status, p).toBe(200);
      expect(r.type, p).toMatch(/^text\/javascript/);
    }
    expect((await get('/vendor/uplot.css')).type).toMatch(/^text\/css/);
  });

  test('refuses traversal, hidden files, unknown vendor files and non-GET methods', async () => {
    for (const p of ['/static/%2e%2e%2fhandler.ts', '/static/..%2f..%2fpackage.json', '/static/.hidden.js', '/static/a%00.js', '/static/sub/x.js', '/vendor/..%2fpackage.json', '/vendor/lodash.js', '/api/trove/constructor', '/api/trove/__proto__', '/api/trove/runs/%E0%A4%A']) {
      expect((await get(p)).status, p).toBe(404);
    }
    expect((await get('/api/trove/runs', { method: 'POST' })).status).toBe(405);
    // not the UI's: the caller decides (here 404)
    expect((await get('/api/2.0/mlflow/registered-models/search')).status).toBe(404);
  });

  test('runs: filter and sort with the grammar; a bad filter is a 400 with its column', async () => {
    const r = await get(`/api/trove/runs?filter=${encodeURIComponent("params.model = 'cnn'")}&sort=${encodeURIComponent('metrics.loss ASC')}`);
    expect(r.status).toBe(200);
    expect(r.body.runs.map((x: { name: string }) => x.name)).toEqual(['tuned', 'baseline']);
    expect(r.body.keys.params).toContain('lr');
    const bad = await get(`/api/trove/runs?filter=${encodeURIComponent('metrics.acc >> 1')}`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('BAD_QUERY');
    expect(typeof bad.body.error.column).toBe('number');
    expect((await get('/api/trove/runs/01ZZZZZZZZZZZZZZZZZZZZZZZZ')).status).toBe(404);
  });

  test('lineage is exactly what `trove lineage --format json` prints', async () => {
    const cli = await trove(dir, 'lineage', 'models/model.bin', '--format', 'json');
    const { skipped, ...api } = (await get('/api/trove/lineage?target=models/model.bin')).body;
    expect(skipped).toEqual([]);
    expect(api).toEqual(JSON.parse(cli.stdout));
  });

  test('data log rows carry the runs that used and produced each version', async () => {
    const r = await get('/api/trove/log?path=models/model.bin');
    expect(r.body.rows).toHaveLength(2);
    expect(r.body.rows[0].subject).toBe('model v2');
    expect(r.body.rows[0].producedBy.map((x: { name: string }) => x.name)).toEqual(['tuned']);
    expect(r.body.rows[1].producedBy.map((x: { name: string }) => x.name)).toEqual(['baseline']);
  });

  test('artifacts: text preview as JSON data, raw bytes only for real images, nothing that is not an output', async () => {
    const id = ids[HOSTILE.name]!;
    const p = await get(`/api/trove/artifact?run=${id}&path=${encodeURIComponent(HOSTILE.artifact)}`);
    expect(p.type).toMatch(/^application\/json/);
    expect(p.body).toEqual({ kind: 'text', text: '<script>alert(5)</script>', truncated: false });
    expect((await get(`/api/trove/artifact?run=${id}&path=${encodeURIComponent(HOSTILE.artifact)}&raw=1`)).status).toBe(400);
    expect((await get(`/api/trove/artifact?run=${id}&path=data`)).status).toBe(404);
    expect((await get(`/api/trove/artifact?run=${id}&path=..%2F..%2Fetc%2Fpasswd`)).status).toBe(404);
  });
});

describe('previews', () => {
  test('image types by magic bytes, never by name', () => {
    expect(imageTypeOf(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0]))).toBe('image/png');
    expect(imageTypeOf(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBe('image/jpeg');
    expect(imageTypeOf(Buffer.from('GIF89a....'))).toBe('image/gif');
    expect(imageTypeOf(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'))).toBeNull();
  });

  test('CSV cells with quotes', () => {
    expect(csvCells('a,"b,c","say ""hi""",')).toEqual(['a', 'b,c', 'say "hi"', '']);
  });

  test('a huge artifact is read only up to the preview size, cut at a line', async () => {
    let served = 0;
    const line = 'x'.repeat(99) + '\n';
    const big = Readable.from((function* () { for (let i = 0; i < 100_000; i++) { served += line.length; yield Buffer.from(line); } })());
    const p = await artifactPreview(big, 'log.txt', 100 * 100_000);
    expect(p.kind).toBe('text');
    if (p.kind !== 'text') return;
    expect(p.truncated).toBe(true);
    expect(p.text.length).toBeLessThanOrEqual(PREVIEW_BYTES);
    expect(p.text.endsWith('x')).toBe(true);
    expect(served).toBeLessThan(PREVIEW_BYTES * 2);
    const csv = await artifactPreview(Readable.from([Buffer.from('a,b\n1,2\n')]), 'r.csv', 8);
    expect(csv).toEqual({ kind: 'csv', rows: [['a', 'b'], ['1', '2']], truncated: false });
    expect(await artifactPreview(Readable.from([Buffer.from([1, 0, 2])]), 'x.bin', 3)).toEqual({ kind: 'binary', size: 3 });
  });
});

describe('trove ui', () => {
  /** Starts `trove ui`, waits for the URL it prints. */
  async function start(args: string[]) {
    const child = spawnTrove(dir, ['ui', '--port', '0', '--no-open', ...args]);
    let outText = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (c) => { outText += c; const m = /at (http:\/\/\S+)/.exec(outText); if (m) resolve(m[1]!); });
      child.on('exit', (code) => reject(new Error(`trove ui exited ${code}: ${outText}`)));
    });
    return { child, url };
  }

  test('serves on 127.0.0.1 and answers only to loopback Host names', async () => {
    const { child, url } = await start([]);
    try {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const ok = await fetch(url);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-security-policy')).toContain("script-src 'self'");
      const { request } = await import('node:http');
      const status = await new Promise<number>((resolve, reject) => {
        request(url, { headers: { host: 'evil.example:80' } }, (res) => { res.resume(); resolve(res.statusCode!); }).on('error', reject).end();
      });
      expect(status).toBe(421);
    } finally {
      child.kill('SIGTERM');
    }
  });

  test('refuses a non-loopback host without a token (usage error, exit 2)', async () => {
    const r = await trove(dir, 'ui', '--host', '0.0.0.0', '--no-open', '--port', '0');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/token/);
  });

  test('with a token, a request without the bearer token gets 401', async () => {
    const { child, url } = await start(['--host', '127.0.0.1', '--token', 'sekrit']);
    try {
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(url, { headers: { authorization: 'Bearer sekrit' } })).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
