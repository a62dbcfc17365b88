#!/usr/bin/env node
/**
 * Issue 3's bench: a repository with 1,000 commits, each changing one file of a 500-file tracked
 * folder. Measures `trove log data` across all of them and `trove diff` between the first and the
 * last commit, as ratios to `git log -- data.trove` in the same run. Run after `npm run build`:
 *   node bench/history.mjs [--commits 1000] [--files 500]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TROVE = path.resolve(HERE, '../bin/trove.js');
const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(`--${n}`) ? Number(args[args.indexOf(`--${n}`) + 1]) : d);
const COMMITS = opt('commits', 1000);
const FILES = opt('files', 500);
const dir = path.join(process.env.TROVE_BENCH_DIR ?? path.join(os.tmpdir(), 'trove-bench'), `history-${COMMITS}`);

const { Repo } = await import(path.resolve(HERE, '../dist/index.js'));
const git = (...a) => execFileSync('git', a, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString();

rmSync(dir, { recursive: true, force: true });
mkdirSync(path.join(dir, 'data'), { recursive: true });
git('init', '-q', '-b', 'main');
git('config', 'user.email', 'b@e');
git('config', 'user.name', 'bench');
execFileSync(process.execPath, [TROVE, 'init'], { cwd: dir, stdio: 'ignore' });
for (let f = 0; f < FILES; f++) {
  mkdirSync(path.join(dir, 'data', `d${f % 20}`), { recursive: true });
  writeFileSync(path.join(dir, 'data', `d${f % 20}`, `f${f}.csv`), `file ${f} v0\n`);
}
const t0 = Date.now();
const repo = await Repo.open(dir);
for (let c = 0; c < COMMITS; c++) {
  if (c > 0) {
    const f = (c * 7919) % FILES;
    writeFileSync(path.join(dir, 'data', `d${f % 20}`, `f${f}.csv`), `file ${f} v${c}\n`);
  }
  await repo.add(['data']);
  git('add', '-A');
  git('commit', '-qm', `change ${c}`);
}
repo.close();
console.error(`built ${COMMITS} commits in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

function time(cmd, argv, n = 5) {
  const xs = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(cmd, argv, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')}: ${r.stderr}`);
    xs.push(Number(process.hrtime.bigint() - t) / 1e9);
  }
  return xs.sort((a, b) => a - b)[Math.floor((n - 1) / 2)];
}
const first = git('rev-list', '--max-parents=0', 'HEAD').trim();
const rows = {
  'git log -- data.trove': time('git', ['log', '--oneline', '--', 'data.trove']),
  'git log --follow -- data.trove': time('git', ['log', '--oneline', '--follow', '--', 'data.trove']),
  'trove log data': time(process.execPath, [TROVE, 'log', 'data']),
  'trove log data --no-follow': time(process.execPath, [TROVE, 'log', 'data', '--no-follow']),
  'trove diff <first> HEAD': time(process.execPath, [TROVE, 'diff', first, 'HEAD']),
  'git diff --stat <first> HEAD (pointer only)': time('git', ['diff', '--stat', first, 'HEAD']),
};
const base = rows['git log -- data.trove'];
let md = `## history bench: ${COMMITS} commits, ${FILES}-file folder (${new Date().toISOString()})\n\n| command | median of 5 | vs \`git log -- data.trove\` |\n|---|---|---|\n`;
for (const [k, v] of Object.entries(rows)) md += `| \`${k}\` | ${v.toFixed(3)} s | ${(v / base).toFixed(1)}× |\n`;
console.log(md);
