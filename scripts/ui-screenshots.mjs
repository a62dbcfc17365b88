// Screenshots of the web UI for the README: the runs page and a lineage graph, over a repo you give
// (for example the iris example kept with `KEEP=1 bash examples/iris/run.sh`).
// Run: npx tsc -p tsconfig.json && node scripts/ui-screenshots.mjs <repo> <lineage-target> [outdir=docs]
import { createServer } from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { createUiHandler } from '../dist/ui/handler.js';

const [repo, target, out = 'docs'] = process.argv.slice(2);
if (!repo || !target) {
  console.error('usage: node scripts/ui-screenshots.mjs <repo> <lineage-target> [outdir]');
  process.exit(2);
}
const ui = createUiHandler({ root: path.resolve(repo) });
const server = createServer((req, res) => ui(req, res).then((ok) => { if (!ok) res.writeHead(404).end(); }));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 420 }, colorScheme: 'light' });
  await page.goto(`${base}/#/runs`);
  await page.waitForSelector('table.runs tbody tr[data-id]');
  await page.waitForSelector('nav.side ul');
  await page.screenshot({ path: path.join(out, 'ui-runs.png') });
  await page.goto(`${base}/#/lineage?target=${encodeURIComponent(target)}&direction=downstream`);
  await page.waitForSelector('svg.lineage g.node');
  await page.screenshot({ path: path.join(out, 'ui-lineage.png') });
} finally {
  await browser.close();
  server.close();
}
