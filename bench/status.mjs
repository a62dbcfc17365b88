#!/usr/bin/env node
/**
 * `trove status` against its floors (issue 9 part 3), in one run, timed in alternating rounds:
 * the bare Node walk (bench/status-floor.mjs), `git status --porcelain` of the same files committed
 * to git, trove status of the unchanged tree, re-`add` of the unchanged tree, status right after one
 * file changed; optionally the same for another build (`--baseline <dist dir>`, e.g. wave 1's).
 *
 *   node bench/status.mjs [--sets 20k,100k] [--runs 5] [--baseline bench/.data/wave1-dist]
 *
 * Data lives in bench/.data/ (git-ignored) and is reused. Prints JSON with medians, per-round
 * ratios and peak RSS; `npm run bench` runs a short form of this (see bench/run.mjs).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, readFileSync, renameSync, rmSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TROVE = path.resolve(HERE, '../bin/trove.js');
const FLOOR = path.join(HERE, 'status-floor.mjs');
const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(`--${n}`) ? args[args.indexOf(`--${n}`) + 1] : d);
const RUNS = Number(opt('runs', '5'));
const SETS = opt('sets', '20k,100k').split(',');
const BASELINE = opt('baseline', null);
const DATA = process.env.TROVE_STATUS_BENCH_DIR ?? path.join(HERE, '.data');
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
const SPECS = { '20k': { files: 20_000, dirs: 100 }, '100k': { files: 100_000, dirs: 1000 } };

const sh = (cmd, cwd) => execFileSync('sh', ['-c', cmd], { cwd, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 }).toString();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

function timed(argv, cwd) {
  const file = path.join(os.tmpdir(), `trove-status-bench-${process.pid}`);
  const full = TIME ? [TIME, ['-f', '%M', '-o', file, ...argv]] : [argv[0], argv.slice(1)];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(full[0], full[1], { cwd, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CI: '1' } });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${String(r.stderr).slice(0, 400)}`);
  const rssMb = TIME ? Number(readFileSync(file, 'utf8').trim().split('\n').pop()) / 1024 : undefined;
  return { s, rssMb };
}

/** data/<d>/f<i>.bin, 1 KiB each, distinct content. */
function makeData(name) {
  const spec = SPECS[name];
  const src = path.join(DATA, `status-${name}`, 'src');
  if (existsSync(path.join(src, '..', 'src.complete'))) return src;
  rmSync(src, { recursive: true, force: true });
  console.error(`generating ${spec.files} files in ${src}…`);
  const per = spec.files / spec.dirs;
  for (let d = 0; d < spec.dirs; d++) {
    const dir = path.join(src, `d${String(d).padStart(4, '0')}`);
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < per; i++) writeFileSync(path.join(dir, `f${String(i).padStart(5, '0')}.bin`), `${d}/${i}\n`.padEnd(1024, 'x'));
  }
  writeFileSync(path.join(src, '..', 'src.complete'), '');
  return src;
}

/** A git repo holding `data/` (hard links to src) tracked by the given trove build. */
function makeRepo(name, label, launcher) {
  const repo = path.join(DATA, `status-${name}`, `repo-${label}`);
  if (existsSync(path.join(repo, '.complete'))) return repo;
  rmSync(repo, { recursive: true, force: true });
  mkdirSync(repo, { recursive: true });
  sh(`git init -q && git config user.email b@e && git config user.name b && cp -rl ${JSON.stringify(makeData(name))} data`, repo);
  console.error(`trove add (${label}) of ${name}…`);
  sh(`${process.execPath} ${launcher} init && ${process.execPath} ${launcher} add data && git add -A && git commit -qm data`, repo);
  writeFileSync(path.join(repo, '.complete'), '');
  return repo;
}

function makeGitRepo(name) {
  const repo = path.join(DATA, `status-${name}`, 'git');
  if (existsSync(path.join(repo, '.complete'))) return repo;
  rmSync(repo, { recursive: true, force: true });
  mkdirSync(repo, { recursive: true });
  console.error(`git commit of ${name}…`);
  sh(`git init -q && git config user.email b@e && git config user.name b && cp -rl ${JSON.stringify(makeData(name))} data && git add -A && git commit -qm data`, repo);
  writeFileSync(path.join(repo, '.complete'), '');
  return repo;
}

function launcherFor(dist) {
  const file = path.join(path.resolve(dist), '..', `trove-${path.basename(dist)}.mjs`);
  writeFileSync(file, `import { main } from ${JSON.stringify(path.join(path.resolve(dist), 'cli/main.js'))};\nmain(process.argv).then((c) => { process.exitCode = c; });\n`);
  return file;
}

const out = {};
for (const name of SETS) {
  const builds = [['new', TROVE]];
  if (BASELINE) builds.push(['base', launcherFor(BASELINE)]);
  const g = makeGitRepo(name);
  const repos = Object.fromEntries(builds.map(([l, bin]) => [l, { bin, repo: makeRepo(name, l, bin) }]));
  sh('git status --porcelain >/dev/null', g);
  for (const { bin, repo } of Object.values(repos)) for (let i = 0; i < 2; i++) timed([process.execPath, bin, 'status'], repo); // settle racy rows, warm
  const steps = { floor: () => timed([process.execPath, FLOOR, path.join(repos.new.repo, 'data')], g), git: () => timed(['git', 'status', '--porcelain'], g) };
  for (const [l, { bin, repo }] of Object.entries(repos)) {
    steps[`${l}.status`] = () => timed([process.execPath, bin, 'status'], repo);
    steps[`${l}.readd`] = () => timed([process.execPath, bin, 'add', 'data'], repo);
    steps[`${l}.changed`] = () => {
      // one file rewritten with other content of the same size (mtime in the past, so its new row is
      // not racy): the next status hashes that file and rebuilds the trees above it; then the file is
      // put back and an untimed status settles it, so the other steps see an unchanged tree again
      const f = path.join(repo, 'data', 'd0000', 'f00000.bin');
      const put = (text) => {
        writeFileSync(f + '.tmp', text.padEnd(1024, 'x'));
        renameSync(f + '.tmp', f);
        const past = new Date(Date.now() - 10_000);
        utimesSync(f, past, past);
      };
      put(`changed ${process.hrtime.bigint()}\n`);
      const t = timed([process.execPath, bin, 'status'], repo);
      put('0/0\n');
      timed([process.execPath, bin, 'status'], repo);
      return t;
    };
  }
  const names = Object.keys(steps);
  const res = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < RUNS; r++) {
    const order = r % 2 ? [...names].reverse() : names; // alternate who goes first
    for (const n of order) res[n].push(steps[n]());
  }
  const m = (n) => median(res[n].map((x) => x.s));
  const pair = (a, b) => median(res[a].map((x, i) => x.s / res[b][i].s));
  const set = { medians: Object.fromEntries(names.map((n) => [n, m(n)])), peakRssMb: Object.fromEntries(names.map((n) => [n, Math.max(...res[n].map((x) => x.rssMb ?? 0))])), ratios: {}, all: Object.fromEntries(names.map((n) => [n, res[n].map((x) => +x.s.toFixed(4))])) };
  for (const l of Object.keys(repos)) {
    set.ratios[`${l}.status/floor`] = pair(`${l}.status`, 'floor');
    set.ratios[`${l}.status/git`] = pair(`${l}.status`, 'git');
    set.ratios[`${l}.readd/status`] = pair(`${l}.readd`, `${l}.status`);
    set.ratios[`${l}.changed/status`] = pair(`${l}.changed`, `${l}.status`);
  }
  set.ratios['floor/git'] = pair('floor', 'git');
  out[name] = set;
  console.error(name, JSON.stringify(set.medians), JSON.stringify(set.ratios));
}
console.log(JSON.stringify(out, null, 1));
