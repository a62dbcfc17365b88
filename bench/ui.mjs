// Benchmark of the web UI in headless Chromium (Debian's /usr/bin/chromium through playwright-core):
//   1. the runs page with 10,000 runs: navigation → first rows in the table (cold index and warm);
//   2. a chart of 5 runs × 20,000 points: from the metric JSON in hand to the canvas drawn;
//   3. the lineage graph of 200 runs: dagre layout, and navigation → graph on screen.
// Targets (issue 12): ≤ 1 s, ≤ 500 ms, ≤ 1 s. Prints timings; asserts nothing. Not part of `npm test`.
// Run: npx tsc -p tsconfig.json && node bench/ui.mjs
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { createUiHandler } from '../dist/ui/handler.js';
import { newRunRecord, serializeRunRecord, ulid } from '../dist/core/runs/record.js';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
const oid = (n) => `sha256:${n.toString(16).padStart(8, '0').padEnd(64, 'e')}`;

function makeRepo(records) {
  const dir = mkdtempSync(join(tmpdir(), 'trove-bench-ui-'));
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: dir });
  execFileSync(process.execPath, [join(import.meta.dirname, '../bin/trove.js'), 'init'], { cwd: dir, env: { ...process.env, CI: '1' } });
  const runs = join(dir, '.trove/runs');
  mkdirSync(runs, { recursive: true });
  for (const r of records) writeFileSync(join(runs, `${r.id}.json`), serializeRunRecord(r));
  return dir;
}

async function serve(root) {
  const ui = createUiHandler({ root });
  const server = createServer((req, res) => ui(req, res).then((ok) => { if (!ok) res.writeHead(404).end(); }));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${server.address().port}` };
}

const results = [];
const report = (label, ms, target) => {
  results.push({ label, ms, target });
  console.log(`${label.padEnd(58)} ${ms.toFixed(0).padStart(6)} ms   (target ≤ ${target} ms) ${ms <= target ? 'ok' : 'OVER'}`);
};

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ARGS });
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
page.on('pageerror', (e) => console.log('page error:', e.message));
page.setDefaultTimeout(60_000);
const dirs = [];
try {
  // 1. 10,000 runs
  let t = Date.parse('2026-01-01T00:00:00Z');
  const many = [];
  for (let i = 0; i < 10_000; i++) {
    many.push(newRunRecord({
      id: ulid((t += 1000)), name: `run-${i}`, experiment: `exp${i % 7}`, command: ['python', 'train.py'], status: 'FINISHED',
      end: new Date(t + 500).toISOString(), exitCode: 0,
      params: { lr: String((i % 97) / 1000), opt: i % 2 ? 'adam' : 'sgd', seed: String(i), layers: String(i % 8) },
      metrics: { acc: [{ value: (i % 100) / 100, step: 0, ts: t }], loss: [{ value: 1 - (i % 100) / 100, step: 0, ts: t }] },
      tags: { batch: String(i % 10) },
    }, t));
  }
  const d1 = makeRepo(many);
  dirs.push(d1);
  let { server, base } = await serve(d1);
  const firstRows = async (hash) => {
    const t0 = Date.now();
    await page.goto(`${base}/${hash}`);
    await page.waitForSelector('table.runs tbody tr[data-id]');
    return Date.now() - t0;
  };
  report('runs page, 10,000 runs, first rows (cold: index built)', await firstRows('#/runs'), 1000);
  report('runs page, 10,000 runs, first rows (warm)', await firstRows('#/runs?x=1'), 1000);
  report("runs page, 10,000 runs, filter + sort, first rows", await firstRows(`#/runs?filter=${encodeURIComponent("params.opt = 'adam' AND metrics.acc > 0.5")}&sort=${encodeURIComponent('metrics.loss DESC')}`), 1000);
  const rows = await page.$$eval('table.runs tbody tr[data-id]', (r) => r.length);
  console.log(`  (rows in the DOM with virtual scrolling: ${rows})`);
  const scrollMs = await page.evaluate(async () => {
    const s = document.querySelector('.scroller');
    const t0 = performance.now();
    for (let i = 0; i < 50; i++) { s.scrollTop += 3000; await new Promise((r) => requestAnimationFrame(r)); }
    return (performance.now() - t0) / 50;
  });
  console.log(`  (scrolling: ${scrollMs.toFixed(1)} ms per frame over 50 jumps of 100 rows)`);
  server.close();

  // 2. 5 runs × 20,000 points
  const five = [];
  for (let k = 0; k < 5; k++) {
    const pts = [];
    for (let s = 0; s < 20_000; s++) pts.push({ value: 1 / (1 + s / (100 + 20 * k)) + 0.02 * Math.sin(s / 50), step: s, ts: t + s * 10 });
    five.push(newRunRecord({ id: ulid((t += 1000)), name: `long-${k}`, command: ['x'], status: 'FINISHED', end: new Date(t + 1).toISOString(), exitCode: 0, metrics: { loss: pts } }, t));
  }
  const d2 = makeRepo(five);
  dirs.push(d2);
  ({ server, base } = await serve(d2));
  await page.goto(`${base}/#/runs`);
  await page.waitForSelector('table.runs tbody tr[data-id]');
  for (let rep = 0; rep < 3; rep++) {
    const ms = await page.evaluate(async (ids) => {
      const { metricChart } = await import('/static/charts.js');
      const { series } = await (await fetch(`/api/trove/metrics?runs=${ids.join(',')}&key=loss`)).json();
      const host = document.createElement('div');
      document.body.append(host);
      const t0 = performance.now();
      host.append(metricChart('loss', series.map((s) => ({ id: s.id, name: s.name, start: s.start, points: s.metrics.loss })), { width: 900 }));
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      const ms = performance.now() - t0;
      host.remove();
      return ms;
    }, five.map((r) => r.id));
    report(`chart, 5 runs × 20,000 points, drawn (try ${rep + 1})`, ms, 500);
  }
  {
    const t0 = Date.now();
    await page.goto(`${base}/#/compare?ids=${five.map((r) => r.id).join(',')}`);
    await page.waitForSelector('figure.chart[data-metric="loss"] canvas');
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    console.log(`  (compare page of those 5 runs, navigation → chart drawn, including 100k points of JSON: ${Date.now() - t0} ms)`);
  }
  server.close();

  // 3. lineage of 200 runs: run i reads the outputs of runs i-1 and i-7 and a raw data version
  const chain = [];
  for (let i = 0; i < 200; i++) {
    const inputs = [{ path: `data/raw-${i % 10}.csv`, oid: oid(1_000_000 + (i % 10)), type: 'file', size: 10, files: 1 }];
    if (i >= 1) inputs.push({ path: `stage/out-${i - 1}.bin`, oid: oid(i - 1), type: 'file', size: 10, files: 1 });
    if (i >= 7) inputs.push({ path: `stage/out-${i - 7}.bin`, oid: oid(i - 7), type: 'file', size: 10, files: 1 });
    chain.push(newRunRecord({ id: ulid((t += 1000)), name: `step-${i}`, command: ['x'], status: 'FINISHED', end: new Date(t + 1).toISOString(), exitCode: 0,
      inputs, outputs: [{ path: `stage/out-${i}.bin`, oid: oid(i), type: 'file', size: 10, files: 1 }] }, t));
  }
  const d3 = makeRepo(chain);
  dirs.push(d3);
  ({ server, base } = await serve(d3));
  for (let rep = 0; rep < 2; rep++) {
    const t0 = Date.now();
    await page.goto(`${base}/#/lineage?target=${oid(199)}&direction=upstream&r=${rep}`);
    await page.waitForSelector('svg.lineage g.node, main .error', { state: 'attached' });
    if (await page.$('main .error')) throw new Error(`lineage page: ${await page.textContent('main .error')}`);
    const total = Date.now() - t0;
    const info = await page.$eval('svg.lineage', (s) => ({ layout: Number(s.dataset.layoutMs), nodes: s.querySelectorAll('g.node').length, edges: s.querySelectorAll('path.edge').length }));
    report(`lineage, 200 runs (${info.nodes} nodes, ${info.edges} edges): dagre layout`, info.layout, 1000);
    report(`lineage, 200 runs: navigation → graph on screen${rep ? '' : ' (cold index)'}`, total, 1000);
  }
  server.close();
} finally {
  await browser.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
