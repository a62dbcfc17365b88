/**
 * The web UI in a real browser (Debian's Chromium through playwright-core) against the UI handler on
 * 127.0.0.1 over a repo built with real `trove run`s. One browser for the file; pages are reused.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { writeFileSync } from 'node:fs';
import { spawnTrove, trove } from '../helpers/repo.js';
import { records } from '../helpers/runs.js';
import { buildRepo, HOSTILE, launchBrowser, outDir, serve } from './fixture.js';

let dir: string, base: string, server: Server, browser: Browser;
let light: BrowserContext, dark: BrowserContext, page: Page;
const dialogs: string[] = [];
const pageErrors: string[] = [];
let ids: Record<string, string>;

/** Loads a page of the UI and waits until it has rendered (a fresh load even when the URL is the same). */
async function open(p: Page, hash: string, ready: string): Promise<void> {
  const url = `${base}/${hash}`;
  if (p.url().startsWith(base)) await p.evaluate(() => { delete document.body.dataset.ready; });
  if (p.url() === url) await p.reload();
  else await p.goto(url);
  await p.waitForSelector(`body[data-ready="${ready}"]`);
}
const shot = (p: Page, name: string) => p.screenshot({ path: path.join(outDir(), `${name}.png`) });
const rowNames = (p: Page) => p.$$eval('table.runs tbody tr[data-id] td[data-col="run_name"]', (tds) => tds.map((t) => t.textContent));

beforeAll(async () => {
  dir = await buildRepo();
  ids = Object.fromEntries((await records(dir)).map((r) => [r.name, r.id]));
  ({ server, base } = await serve(dir));
  browser = await launchBrowser();
  light = await browser.newContext({ colorScheme: 'light', viewport: { width: 1280, height: 800 } });
  dark = await browser.newContext({ colorScheme: 'dark', viewport: { width: 1280, height: 800 } });
  for (const c of [light, dark]) {
    c.on('page', (p) => p.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); }));
  }
  light.setDefaultTimeout(10_000);
  dark.setDefaultTimeout(10_000);
  page = await light.newPage();
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
  page.on('pageerror', (e) => pageErrors.push(e.message));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => server?.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('headers', () => {
  test('every response has a CSP that forbids inline scripts, and nosniff', async () => {
    for (const p of ['/', '/static/app.js', '/vendor/uplot.js', '/api/trove/runs', '/api/trove/nope', '/static/..%2fhandler.ts']) {
      const res = await fetch(base + p);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, p).toContain("script-src 'self'");
      expect(csp, p).not.toContain('unsafe-inline');
      expect(csp, p).toContain("default-src 'none'");
      expect(res.headers.get('x-content-type-options'), p).toBe('nosniff');
    }
    expect((await fetch(base + '/static/..%2fhandler.ts')).status).toBe(404);
  });
});

describe('runs page', () => {
  test('lists the runs, filters with the grammar, sorts by a column, keeps both in the URL', async () => {
    await open(page, '#/runs', 'runs');
    expect((await rowNames(page)).sort()).toEqual([HOSTILE.name, 'baseline', 'other', 'tuned'].sort());
    // experiments on the side (the list arrives by its own request: wait for it, the rows may come first)
    await page.waitForSelector('nav.side a');
    expect(await page.$$eval('nav.side a', (as) => as.map((a) => a.textContent))).toEqual(['All runs', 'text (1)', 'vision (3)']);

    await page.fill('#filter', "params.model = 'cnn'");
    await page.press('#filter', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('table.runs tbody tr[data-id]').length === 2);
    expect((await rowNames(page)).sort()).toEqual(['baseline', 'tuned']);
    expect(decodeURIComponent(new URL(page.url()).hash)).toContain("filter=params.model = 'cnn'".replace(/ /g, '+'));

    // sort by metrics.loss: ascending puts tuned (scale 0.5) first, descending baseline
    await page.click('th[data-col="metrics.loss"] button');
    await page.waitForFunction(() => location.hash.includes('sort='));
    await page.waitForSelector('th[data-col="metrics.loss"][aria-sort="ascending"]');
    expect(await rowNames(page)).toEqual(['tuned', 'baseline']);
    await page.click('th[data-col="metrics.loss"] button');
    await page.waitForSelector('th[data-col="metrics.loss"][aria-sort="descending"]');
    expect(await rowNames(page)).toEqual(['baseline', 'tuned']);

    // the URL alone restores the same view (a shared link)
    const url = page.url();
    const p2 = await light.newPage();
    await p2.goto(url);
    await p2.waitForSelector('body[data-ready="runs"]');
    expect(await rowNames(p2)).toEqual(['baseline', 'tuned']);
    expect(await p2.inputValue('#filter')).toBe("params.model = 'cnn'");
    await p2.close();
    await shot(page, 'runs-light');
  });

  test('a bad filter is shown with a caret under the column, and no rows', async () => {
    await open(page, `#/runs?filter=${encodeURIComponent('metrics.acc >> 1')}`, 'runs');
    const err = await page.textContent('.filter-error .error');
    expect(err).toMatch(/Error/);
    const caret = await page.textContent('.filter-error pre.caret');
    const [expr, mark] = caret!.split('\n');
    expect(expr).toBe('metrics.acc >> 1');
    const col = mark!.indexOf('^');
    expect(col).toBeGreaterThanOrEqual(12);
    expect(col).toBeLessThanOrEqual(14);
    expect(await page.$$('table.runs tbody tr[data-id]')).toHaveLength(0);
  });

  test('keyboard: arrows move, Space selects, Enter opens a run', async () => {
    await open(page, `#/runs?sort=${encodeURIComponent('attributes.run_name ASC')}&filter=${encodeURIComponent("params.model = 'cnn'")}`, 'runs');
    await page.focus('.scroller');
    await page.keyboard.press('Space');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Space');
    expect(await page.textContent('#compare')).toBe('Compare (2)');
    expect(await page.isDisabled('#compare')).toBe(false);
    await page.keyboard.press('Enter');
    await page.waitForSelector('body[data-ready="run"]');
    expect(page.url()).toContain(`#/run/${ids.tuned}`);
  });
});

describe('run page', () => {
  test('params, metrics, data versions with workspace badges, a chart with drawn pixels, artifact preview', async () => {
    await open(page, `#/run/${ids.baseline}`, 'run');
    expect(await page.textContent('h1')).toContain('baseline');
    expect(await page.$$eval('table.params tbody tr', (trs) => trs.map((t) => t.textContent))).toEqual(['lr0.1', 'modelcnn']);
    // baseline read data v1; the workspace holds v2 now
    expect(await page.textContent('table.inputs tbody tr')).toContain('workspace differs');
    expect(await page.textContent('table.outputs tbody tr')).toContain('workspace differs');
    await page.waitForSelector('figure.chart[data-metric="loss"] canvas');
    const inked = await page.$eval('figure.chart[data-metric="loss"] canvas', (c) => {
      const cv = c as HTMLCanvasElement;
      const d = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
      return n;
    });
    expect(inked).toBeGreaterThan(200);
    expect(await page.getAttribute('figure.chart[data-metric="loss"]', 'data-points')).toBe('60');
    // log scale redraws
    await page.check('figure.chart[data-metric="loss"] input[type=checkbox]');
    await shot(page, 'run-light');

    await open(page, `#/run/${ids.tuned}`, 'run');
    await page.click('ul.artifacts button:text("report.csv")');
    await page.waitForSelector('.preview table.csv');
    expect(await page.$$eval('.preview table.csv tr', (trs) => trs.map((t) => [...t.children].map((c) => c.textContent)))).toEqual([['epoch', 'loss'], ['1', '0.5'], ['2', '0.25']]);
  });
});

describe('compare page', () => {
  test('differences marked, the data diff names the files, metric histories overlaid', async () => {
    await open(page, `#/compare?ids=${ids.baseline},${ids.tuned}`, 'compare');
    for (const t of ['params', 'metrics', 'inputs', 'outputs']) {
      expect(await page.$$eval(`table.${t} thead th`, (ths) => ths.slice(2).map((th) => th.textContent)), t).toEqual(['baseline', 'tuned']);
    }
    expect(await page.$$eval('table.params tr.differs', (trs) => trs.map((t) => t.getAttribute('data-key')))).toEqual(['lr']);
    expect(await page.$$eval('table.params tbody tr:not(.differs)', (trs) => trs.map((t) => t.getAttribute('data-key')))).toEqual(['model']);
    expect(await page.$$eval('table.inputs tr.differs', (trs) => trs.map((t) => t.getAttribute('data-key')))).toEqual(['data']);
    const files = await page.$$eval('.datadiff table.files tbody tr', (trs) => trs.map((t) => t.textContent));
    expect(files.sort()).toEqual(['addeddata/c.csv', 'modifieddata/b.csv']);
    await page.waitForSelector('figure.chart[data-metric="acc"] canvas');
    expect(await page.$$eval('figure.chart[data-metric="acc"] .u-legend .u-series', (s) => s.length)).toBe(3); // x + two runs
    await shot(page, 'compare-light');
  });
});

describe('lineage page', () => {
  test('the graph has the nodes and edges of `trove lineage --format json`, and a node opens its run', async () => {
    // HEAD~2 is data v1 (read by baseline only), HEAD~1 data v2 (read by three runs)
    let i = 0;
    for (const [target, direction] of [['models/model.bin', 'upstream'], ['data@HEAD~1', 'downstream'], ['data@HEAD~2', 'downstream']] as const) {
      const cli = await trove(dir, 'lineage', target, '--format', 'json', ...(direction === 'downstream' ? ['--downstream'] : []));
      expect(cli.code).toBe(0);
      const want = JSON.parse(cli.stdout) as { nodes: { key: string }[]; edges: { from: string; to: string; kind: string }[] };
      await open(page, `#/lineage?target=${encodeURIComponent(target)}&direction=${direction}`, 'lineage');
      await page.waitForSelector('svg.lineage');
      const nodes = await page.$$eval('svg.lineage g.node', (gs) => gs.map((g) => g.getAttribute('data-key')));
      const edges = await page.$$eval('svg.lineage path.edge', (ps) => ps.map((p) => `${p.getAttribute('data-from')}>${p.getAttribute('data-to')}:${p.getAttribute('data-kind')}`));
      expect(nodes.sort()).toEqual(want.nodes.map((n) => n.key).sort());
      expect(edges.sort()).toEqual(want.edges.map((e) => `${e.from}>${e.to}:${e.kind}`).sort());
      expect(want.nodes.length).toBeGreaterThanOrEqual(3);
      await shot(page, `lineage-${i++}-light`);
    }
    // downstream of data v1: baseline and the others that read it; open baseline with the keyboard
    await page.focus(`svg.lineage g.node[data-key="run:${ids.baseline}"]`);
    await page.keyboard.press('Enter');
    await page.waitForSelector('body[data-ready="run"]');
    expect(page.url()).toContain(`#/run/${ids.baseline}`);
  });
});

describe('data page', () => {
  test('the history of a tracked path, with the runs that used each version', async () => {
    await open(page, '#/data?path=data', 'data');
    const rows = await page.$$eval('table.log tbody tr', (trs) => trs.map((t) => [...t.children].map((c) => c.textContent)));
    expect(rows).toHaveLength(2);
    expect(rows[0]![3]).toBe('data v2');
    expect(rows[0]![8]!.split(', ').sort()).toEqual([HOSTILE.name, 'other', 'tuned'].sort());
    expect(rows[1]![3]).toBe('data v1');
    expect(rows[1]![8]).toBe('baseline');
    await shot(page, 'data-light');
  });
});

describe('models page', () => {
  test('without a registry on the server, it says so', async () => {
    await open(page, '#/models', 'models');
    expect(await page.textContent('main .notice')).toMatch(/no model registry on this server/i);
  });
});

describe('hostile strings', () => {
  test('names, params, tags and artifact names are text; no dialog, no injected element, no javascript: link', async () => {
    const id = ids[HOSTILE.name]!;
    const p = await dark.newPage();
    p.on('pageerror', (e) => pageErrors.push(e.message));
    const visit = async (hash: string, ready: string) => { await p.goto(`${base}/${hash}`); await p.waitForSelector(`body[data-ready="${ready}"]`); };
    const injected = () => p.evaluate(() => ({
      scripts: [...document.scripts].map((s) => s.getAttribute('src')),
      imgs: document.querySelectorAll('img').length,
      svgs: [...document.querySelectorAll('svg')].filter((s) => !s.classList.contains('lineage')).length,
      badLinks: [...document.querySelectorAll('a')].filter((a) => !/^(#|\/)/.test(a.getAttribute('href') ?? '')).length,
    }));
    const clean = { scripts: ['/vendor/uplot.js', '/vendor/dagre.js', '/static/app.js'], imgs: 0, svgs: 0, badLinks: 0 };

    await visit('#/runs?cols=' + encodeURIComponent(`params.${HOSTILE.paramKey},tags.${HOSTILE.tagKey}`), 'runs');
    const row = p.locator(`tr[data-id="${id}"]`);
    expect(await row.locator('td[data-col="run_name"]').textContent()).toBe(HOSTILE.name);
    expect(await row.locator(`td[data-col="params.${HOSTILE.paramKey}"]`).textContent()).toBe(HOSTILE.paramValue);
    expect(await row.locator(`td[data-col="tags.${HOSTILE.tagKey}"]`).textContent()).toBe(HOSTILE.tagValue);
    expect(await injected()).toEqual(clean);
    await shot(p, 'runs-dark');

    await visit(`#/run/${id}`, 'run');
    expect(await p.textContent('h1')).toContain(HOSTILE.name);
    expect(await p.textContent('table.params')).toContain(HOSTILE.paramKey);
    expect(await p.textContent('table.params')).toContain(HOSTILE.paramValue);
    expect(await p.textContent('table.tags')).toContain(HOSTILE.tagValue);
    await p.click('ul.artifacts button');
    await p.waitForSelector('.preview pre.text');
    expect(await p.textContent('.preview h3')).toBe(HOSTILE.artifact);
    expect(await p.textContent('.preview pre.text')).toBe('<script>alert(5)</script>');
    expect(await injected()).toEqual(clean);
    await shot(p, 'run-dark');

    await visit(`#/compare?ids=${ids.baseline},${id}`, 'compare');
    expect(await p.textContent('table.params')).toContain(HOSTILE.paramValue);
    expect(await injected()).toEqual(clean);

    await visit(`#/lineage?target=${id}&direction=downstream`, 'lineage');
    expect(await p.textContent('svg.lineage')).toContain(HOSTILE.artifact.slice(0, 20));
    expect(await p.$$eval('svg.lineage *', (els) => els.filter((e) => [...e.attributes].some((a) => a.name.startsWith('on'))).length)).toBe(0);
    await shot(p, 'lineage-dark');
    await visit('#/data?path=data', 'data');
    await shot(p, 'data-dark');
    await p.close();
    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});

describe('live update', () => {
  test('a RUNNING run appears, and its row turns FINISHED without a reload', async () => {
    const release = path.join(dir, '.release');
    const code = `const fs = require('fs');
      fs.appendFileSync(process.env.TROVE_RUN_EVENTS, JSON.stringify({ metric: 'loss', value: 0.5, step: 0 }) + '\\n');
      const t = setInterval(() => { if (fs.existsSync(${JSON.stringify(release)})) clearInterval(t); }, 50);`;
    const child = spawnTrove(dir, ['run', '-n', 'live', '-e', 'live', '-i', 'data', '--', process.execPath, '-e', code]);
    const exited = new Promise((r) => child.on('exit', r));
    try {
      // the run is recorded as RUNNING once its command started; reload until it is listed
      await expect.poll(async () => (await (await fetch(`${base}/api/trove/runs?experiment=live`)).json()).runs.length, { timeout: 20_000 }).toBe(1);
      await open(page, '#/runs?experiment=live', 'runs');
      expect(await page.$$eval('table.runs tbody tr[data-id] td[data-col="status"]', (tds) => tds.map((t) => t.textContent))).toEqual(['RUNNING']);
      const marker = await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
      writeFileSync(release, '');
      await exited;
      await page.waitForFunction(() => document.querySelector('table.runs tbody tr[data-id] td[data-col="status"]')?.textContent === 'FINISHED', null, { timeout: 20_000 });
      // the same document: updated in place, not reloaded
      expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(marker);
    } finally {
      child.kill();
    }
  });
});
