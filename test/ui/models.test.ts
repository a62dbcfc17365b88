/**
 * The Models page against a server that has MLflow's model registry (`trove server`, issue 11). That
 * server is on another branch until merge: this file looks for its request handler and skips when it is
 * absent (the page's 404 case, "no model registry on this server", is tested in pages.test.ts).
 * At merge: set SERVER_MODULE / SERVER_EXPORT to the server's handler factory (same shape as
 * createUiHandler: ({ root }) => (req, res) => Promise<boolean>) and the skip goes away by itself.
 */
import { createServer, type Server } from 'node:http';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Browser } from 'playwright-core';
import { createUiHandler } from '../../src/ui/handler.js';
import { records } from '../helpers/runs.js';
import { buildRepo, launchBrowser } from './fixture.js';

const SERVER_MODULE = '../../src/server/handler.js';
const SERVER_EXPORT = 'createServerHandler';

type Handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => Promise<boolean>;
let makeRegistry: ((o: { root: string }) => Handler) | null = null;
try {
  makeRegistry = ((await import(/* @vite-ignore */ SERVER_MODULE)) as Record<string, (o: { root: string }) => Handler>)[SERVER_EXPORT] ?? null;
} catch {
  makeRegistry = null;
}

let dir: string, base: string, server: Server, browser: Browser;

beforeAll(async () => {
  if (!makeRegistry) return;
  dir = await buildRepo();
  const ui = createUiHandler({ root: dir });
  const mlflow = makeRegistry({ root: dir });
  server = createServer((req, res) => {
    void (async () => { if (!(await ui(req, res)) && !(await mlflow(req, res))) res.writeHead(404).end(); })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (server) await new Promise((r) => server.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const post = async (p: string, body: unknown) => {
  const r = await fetch(`${base}/api/2.0/mlflow/${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(r.status, p).toBe(200);
  return r.json();
};

test.skipIf(!makeRegistry)('registered models, their versions and aliases, with links to the runs', async () => {
  const run = (await records(dir)).find((r) => r.name === 'tuned')!;
  const hostile = `<img src=x onerror=alert(1)>"'`;
  await post('registered-models/create', { name: 'iris-clf', description: hostile });
  await post('model-versions/create', { name: 'iris-clf', source: 'models/model.bin', run_id: run.id });
  await post('model-versions/create', { name: 'iris-clf', source: 'models/model.bin', run_id: run.id });
  await post('registered-models/alias', { name: 'iris-clf', alias: 'champion', version: '2' });
  const page = await browser.newPage();
  const dialogs: string[] = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
  await page.goto(`${base}/#/models`);
  await page.waitForSelector('body[data-ready="models"]');
  await page.waitForSelector('section.model[data-model="iris-clf"] table.versions');
  expect(await page.textContent('section.model p')).toBe(hostile);
  const rows = await page.$$eval('section.model table.versions tbody tr', (trs) => trs.map((t) => [...t.children].map((c) => c.textContent)));
  expect(rows.map((r) => r[0]).sort()).toEqual(['1', '2']);
  expect(rows.find((r) => r[0] === '2')![1]).toBe('champion');
  expect(await page.getAttribute(`section.model a[href="#/run/${run.id}"]`, 'href')).toBe(`#/run/${run.id}`);
  expect(await page.$$('img')).toHaveLength(0);
  expect(dialogs).toEqual([]);
});
