/**
 * What the UI tests run against: a repo with real `trove run`s (two data versions, runs in two
 * experiments, metric histories, a CSV artifact, and a run whose name, params, tags and artifact
 * names are hostile), the UI handler on a free 127.0.0.1 port, and one headless Chromium.
 */
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { createUiHandler } from '../../src/ui/handler.js';
import { realpathSync } from 'node:fs';
import { git, ROOT, trove, write } from '../helpers/repo.js';

export const HOSTILE = {
  name: `<script>alert("name")</script>"'`,
  paramKey: `p<script>alert(1)</script>`, // no "=": `-p k=v` splits at the first one
  paramValue: `javascript:alert('param')`,
  tagKey: 'link',
  tagValue: `"><svg onload=alert(2)>javascript:alert(3)`,
  artifact: `out/evil"<img src=x onerror=alert(4)>.txt`,
};

/** A node program for `trove run`: logs `n` points of loss/acc through $TROVE_RUN_EVENTS and writes files. */
function trainer(n: number, scale: number, writes: Record<string, string>): string[] {
  const code = `
    const fs = require('fs'), path = require('path');
    const lines = [];
    for (let i = 0; i < ${n}; i++) {
      lines.push(JSON.stringify({ metric: 'loss', value: ${scale} / (1 + i) + 0.01 * Math.sin(i), step: i }));
      lines.push(JSON.stringify({ metric: 'acc', value: 1 - ${scale} / (2 + i), step: i }));
    }
    fs.appendFileSync(process.env.TROVE_RUN_EVENTS, lines.join('\\n') + '\\n');
    const w = ${JSON.stringify(writes)};
    for (const [f, t] of Object.entries(w)) { fs.mkdirSync(path.dirname(f), { recursive: true }); fs.writeFileSync(f, t); }`;
  return [process.execPath, '-e', code];
}

async function run(dir: string, args: string[]): Promise<void> {
  const r = await trove(dir, 'run', ...args);
  if (r.code !== 0) throw new Error(`trove run ${args.join(' ')} failed: ${r.stderr}`);
}

/** A fresh repo in a temp dir that the caller removes (built once per file, in beforeAll). */
export async function buildRepo(): Promise<string> {
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'trove-ui-')));
  await git(dir, 'init', '-q', '-b', 'main');
  await git(dir, 'config', 'user.email', 'test@example.com');
  await git(dir, 'config', 'user.name', 'Test');
  await git(dir, 'config', 'commit.gpgsign', 'false');
  const init = await trove(dir, 'init');
  if (init.code !== 0) throw new Error(`trove init failed: ${init.stderr}`);
  await write(dir, 'data/a.csv', 'x,y\n1,2\n');
  await write(dir, 'data/b.csv', 'x,y\n3,4\n');
  await trove(dir, 'add', 'data');
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-qm', 'data v1');
  await run(dir, ['-n', 'baseline', '-e', 'vision', '-p', 'lr=0.1', '-p', 'model=cnn', '-t', 'stage=dev', '-i', 'data', '-o', 'models/model.bin', '--',
    ...trainer(60, 1, { 'models/model.bin': 'model v1' })]);
  await write(dir, 'data/b.csv', 'x,y\n3,5\n');
  await write(dir, 'data/c.csv', 'x,y\n6,7\n');
  await trove(dir, 'add', 'data');
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-qm', 'data v2');
  await run(dir, ['-n', 'tuned', '-e', 'vision', '-p', 'lr=0.01', '-p', 'model=cnn', '-t', 'stage=prod', '-i', 'data', '-o', 'models/model.bin', '-o', 'report.csv', '--',
    ...trainer(80, 0.5, { 'models/model.bin': 'model v2', 'report.csv': 'epoch,loss\n1,0.5\n2,0.25\n' })]);
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-qm', 'model v2');
  await run(dir, ['-n', 'other', '-e', 'text', '-p', 'lr=0.05', '-i', 'data', '--', ...trainer(5, 2, {})]);
  await run(dir, ['-n', HOSTILE.name, '-e', 'vision', '-p', `${HOSTILE.paramKey}=${HOSTILE.paramValue}`, '-t', `${HOSTILE.tagKey}=${HOSTILE.tagValue}`,
    '-i', 'data', '-o', HOSTILE.artifact, '--', ...trainer(3, 3, { [HOSTILE.artifact]: '<script>alert(5)</script>' })]);
  return dir;
}

export interface UiFixture { dir: string; base: string; server: Server; browser: Browser; outDir: string; close: () => Promise<void> }

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

/**
 * Headless Chromium from Debian's package. playwright's `launch` gives it a fresh `--user-data-dir` in a
 * temp dir of its own (and refuses one passed in args), removed when the browser closes.
 */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/** The handler alone on 127.0.0.1 (what `trove ui` serves), 404 for anything it does not answer. */
export async function serve(root: string): Promise<{ server: Server; base: string }> {
  const ui = createUiHandler({ root });
  const server = createServer((req, res) => {
    ui(req, res).then((done) => { if (!done) { res.writeHead(404, { 'Content-Type': 'application/json' }); res.end('{"error_code":"ENDPOINT_NOT_FOUND"}'); } },
      (e) => res.destroy(e as Error));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (!addr || typeof addr !== 'object') throw new Error('no address');
  return { server, base: `http://127.0.0.1:${addr.port}` };
}

export const OUT_DIR = path.join(ROOT, 'test-output/ui');
export function outDir(): string {
  mkdirSync(OUT_DIR, { recursive: true });
  return OUT_DIR;
}
