#!/usr/bin/env node
/**
 * trove's benchmark: trove beside the physical limits (openssl hashing, cp -r, cp -rl, git status)
 * and the peers installed here (git-lfs, git-annex, restic; rclone for S3 transfers), in one run, as
 * ratios. Writes bench/RESULTS.md. A peer that is not installed is reported as such, with its
 * apt-get line. Wave 1's figures stay in bench/RESULTS-wave1.md (from bench/results-wave1.json).
 *
 *   npm run bench                      all three data sets
 *   npm run bench -- --sets 1g,20k     some of them (1g, 20k, 100k)
 *   npm run bench -- --runs 5          repetitions per measurement (median reported; default 3)
 *   npm run bench -- --peer-timeout 600
 *   npm run bench -- --no-peers         skip git-lfs / git-annex (quick iterations); --no-annex / --no-lfs: skip that peer only
 *   npm run bench -- --render-only      rewrite RESULTS.md from bench/results.json
 *   npm run bench -- --s3-sets 100k     sets whose push / pull to the bench S3 server are timed beside
 *                                       rclone (default 100k; 'none' for none); the 1g set adds the
 *                                       "1 MiB changed + 10 MiB appended" row (--delta-mib 1024)
 *   node bench/run.mjs --sets tiny --runs 1 --results /tmp/r.json   a smoke run of every row on 500 files
 *                                       (writes beside --results, never over bench/RESULTS.md)
 *
 * Data sets are generated under $TROVE_BENCH_DIR (default: <tmp>/trove-bench), never in the repo,
 * and reused between runs. Before every timed step the page cache's dirty pages are flushed (sync)
 * so that one step's writeback is not billed to the next.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync, readFileSync, openSync, writeSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchS3, deltaRow, s3Rows } from './transfer-rows.mjs';
import { oneChangeRows } from './status-rows.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TROVE = path.resolve(HERE, '../bin/trove.js');
const FLOOR = path.join(HERE, 'status-floor.mjs');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
// an unknown option is a usage error, not a full bench run (`--help` once started one)
const KNOWN = new Set(['--runs', '--sets', '--peer-timeout', '--s3-sets', '--delta-mib', '--results', '--no-peers', '--no-annex', '--no-lfs', '--render-only']);
const bad = args.filter((a, i) => a.startsWith('--') ? !KNOWN.has(a) : !(i > 0 && KNOWN.has(args[i - 1]) && !args[i - 1].startsWith('--no-') && args[i - 1] !== '--render-only'));
if (bad.length) {
  console.error(`bench/run.mjs: unknown ${bad.join(' ')}\nusage: node bench/run.mjs [--sets 1g,20k,100k] [--s3-sets 100k|none] [--runs 3] [--peer-timeout 300] [--delta-mib 1024] [--results FILE] [--no-peers] [--no-annex] [--no-lfs] [--render-only]`);
  process.exit(2);
}
const RUNS = Number(opt('runs', '3'));
const SETS = opt('sets', '1g,20k,100k').split(',');
const PEER_TIMEOUT = Number(opt('peer-timeout', '300'));
const PEERS = !args.includes('--no-peers');
const ANNEX = PEERS && !args.includes('--no-annex');
const LFS = PEERS && !args.includes('--no-lfs');
const ROOT = process.env.TROVE_BENCH_DIR ?? path.join(os.tmpdir(), 'trove-bench');
const S3_SETS = opt('s3-sets', '100k').split(',');
const DELTA_MIB = Number(opt('delta-mib', '1024'));
/** peers and the Debian package that brings each */
const PEER_PKG = { 'git-lfs': 'git-lfs', 'git-annex': 'git-annex', restic: 'restic', rclone: 'rclone' };
const notInstalled = (bin) => ({ notInstalled: `not installed (apt-get install ${PEER_PKG[bin]})` });
mkdirSync(ROOT, { recursive: true });

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

function ensureTools() {
  const want = [['git-lfs', 'git-lfs'], ['git-annex', 'git-annex'], ['restic', 'restic'], ['rclone', 'rclone'], ['/usr/bin/time', 'time']];
  const missing = want.filter(([bin]) => !(bin.startsWith('/') ? existsSync(bin) : has(bin))).map(([, pkg]) => pkg);
  if (!missing.length) return;
  if (process.getuid?.() === 0 && has('apt-get')) {
    console.error(`installing ${missing.join(' ')} (Debian packages)…`);
    spawnSync('sh', ['-c', `apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing.join(' ')} >/dev/null 2>&1`], { stdio: 'inherit' });
  } else {
    console.error(`missing peers: ${missing.join(' ')}; install them with: sudo apt-get install -y ${missing.join(' ')}`);
  }
}

const sync = () => spawnSync('sync');
/** Names each step on stderr with the time since the run started, so that a slow one names itself. */
const T0 = Date.now();
const step = (set, what) => console.error(`[${((Date.now() - T0) / 1000).toFixed(0)} s] ${set}: ${what}`);
/** rm -rf that never takes the run down (a peer's leftover helper may still be writing). */
const rmTree = (dir) => {
  for (let i = 0; i < 5; i++) {
    try {
      rmSync(dir, { recursive: true, force: true });
      return;
    } catch {
      spawnSync('sleep', ['1']);
    }
  }
  console.error(`warning: could not remove ${dir}`);
};

/** Runs a command, returns { s, rssMb } (wall seconds; peak RSS where /usr/bin/time exists). */
function timed(cmd, argv, cwd, { timeout = 0, env = {} } = {}) {
  sync();
  const useTime = TIME && cmd !== 'sh';
  const file = path.join(os.tmpdir(), `trove-bench-time-${process.pid}`);
  const full = useTime ? [TIME, ['-f', '%M', '-o', file, cmd, ...argv]] : [cmd, argv];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(full[0], full[1], { cwd, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env }, timeout: timeout * 1000 || undefined, maxBuffer: 1 << 26 });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error?.code === 'ETIMEDOUT' || r.signal === 'SIGTERM' || (timeout && r.status === 124)) return { s: Infinity, timedOut: true };
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status}): ${String(r.stderr).slice(0, 500)}`);
  let rssMb;
  if (useTime && existsSync(file)) rssMb = Number(readFileSync(file, 'utf8').trim().split('\n').pop()) / 1024;
  return { s, rssMb };
}

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.floor((v.length - 1) / 2)];
};

function repeat(n, prep, fn) {
  const res = [];
  for (let i = 0; i < n; i++) {
    prep?.();
    res.push(fn());
  }
  return { s: median(res.map((r) => r.s)), rssMb: Math.max(...res.map((r) => r.rssMb ?? 0)) || undefined, all: res.map((r) => r.s) };
}

function sh(cmd, cwd) {
  return execFileSync('sh', ['-c', cmd], { cwd, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 }).toString();
}

// ------------------------------------------------------------------ data sets
const SPECS = {
  '1g': { label: '1 GiB file', files: 1, dirs: 0, size: 1 << 30 },
  '20k': { label: '20,000 × 16 KiB in 100 folders', files: 20_000, dirs: 100, size: 16 << 10 },
  '100k': { label: '100,000 × 1 KiB in 1,000 folders', files: 100_000, dirs: 1000, size: 1 << 10 },
  // a smoke run of every row in seconds (not one of the reported sets)
  tiny: { label: '500 × 1 KiB in 5 folders (smoke)', files: 500, dirs: 5, size: 1 << 10 },
};

function makeSet(name) {
  const spec = SPECS[name];
  const dir = path.join(ROOT, `src-${name}`);
  if (existsSync(path.join(dir, '.complete'))) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  console.error(`generating ${spec.label} in ${dir}…`);
  if (spec.files === 1) {
    const fd = openSync(path.join(dir, 'model.bin'), 'w');
    const chunk = randomBytes(8 << 20);
    for (let off = 0; off < spec.size; off += chunk.length) {
      chunk.writeUInt32LE(off >>> 0, 0); // no two chunks alike
      writeSync(fd, chunk);
    }
    closeSync(fd);
  } else {
    const per = spec.files / spec.dirs;
    const pool = randomBytes(spec.size + 4096);
    for (let d = 0; d < spec.dirs; d++) {
      const sub = path.join(dir, `d${String(d).padStart(4, '0')}`);
      mkdirSync(sub);
      for (let f = 0; f < per; f++) {
        const buf = Buffer.from(pool.subarray((d * 31 + f * 7) % 4096, ((d * 31 + f * 7) % 4096) + spec.size));
        buf.writeUInt32LE(d * per + f, 0); // unique content per file
        writeFileSync(path.join(sub, `f${String(f).padStart(5, '0')}.bin`), buf);
      }
    }
  }
  writeFileSync(path.join(dir, '.complete'), '');
  return dir;
}

// ------------------------------------------------------------------ measurements
function freshRepo(name, tag) {
  const dir = path.join(ROOT, `${tag}-${name}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  sh('git init -q -b main && git config user.email b@e && git config user.name bench', dir);
  return dir;
}

/**
 * File creation here is kernel-bound and its cost swings by 10× within minutes (cp -r of the 20k set
 * measured anywhere from 1 s to 15 s, almost all system time). So every trove step is timed right
 * next to its baseline, alternating, with a sync and a pause before each, and the report gives the
 * median of the per-pair ratios as well as the median times.
 */
function paired(n, pairs) {
  const out = {};
  for (let i = 0; i < n; i++) {
    // alternate who goes first: the first writer after a quiet spell often finds the disk faster
    for (const [name, prep, fn] of i % 2 ? [...pairs].reverse() : pairs) {
      prep?.();
      sync();
      spawnSync('sleep', ['1']);
      (out[name] ??= []).push(fn());
    }
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { s: median(v.map((r) => r.s)), rssMb: Math.max(...v.map((r) => r.rssMb ?? 0)) || undefined, all: v.map((r) => r.s) }]));
}

const pairRatio = (a, b) => median(a.all.map((x, i) => x / b.all[i]));

function benchSet(name) {
  const src = makeSet(name);
  const r = {};
  const data = (repo) => path.join(repo, 'data');
  const copyIn = (repo) => {
    rmSync(data(repo), { recursive: true, force: true });
    sh(`cp -r ${JSON.stringify(src)} data && rm -f data/.complete`, repo);
  };
  const cpDst = path.join(ROOT, `cp-${name}`);
  const rmCp = () => {
    rmSync(cpDst, { recursive: true, force: true });
    rmSync(cpDst + 'l', { recursive: true, force: true });
  };

  // the hashing limit: read every byte once and hash it (CPU-bound, stable)
  step(name, 'openssl');
  // one file: `openssl dgst -sha256 <file>` itself, as issue 10 words its target (a pipe through cat costs a copy
  // and swung from 0.9 s to 3.7 s); a tree: every file's bytes through one digest, in path order
  const digest = SPECS[name].files === 1
    ? `openssl dgst -sha256 "$(find . -type f ! -name .complete)" >/dev/null`
    : `find . -type f ! -name .complete -print0 | sort -z | xargs -0 cat | openssl dgst -sha256 >/dev/null`;
  r.openssl = repeat(RUNS, null, () => timed('sh', ['-c', digest], src));

  const repo = freshRepo(name, 'trove');
  execFileSync(process.execPath, [TROVE, 'init'], { cwd: repo, stdio: 'ignore' });
  copyIn(repo);
  const resetCache = () => {
    rmSync(path.join(repo, '.trove/cache'), { recursive: true, force: true });
    rmSync(path.join(repo, '.trove/tmp'), { recursive: true, force: true });
    for (const f of ['state.db', 'state.db-wal', 'state.db-shm', 'status-index']) rmSync(path.join(repo, '.trove', f), { force: true });
  };
  // restic backup of the same folder into a fresh local repository, timed in the same rounds as add
  const resticRepo = path.join(ROOT, `restic-${name}`);
  const resticEnv = { RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: path.join(ROOT, 'restic-cache') };
  const withRestic = PEERS && has('restic');
  const resetRestic = () => {
    rmCp();
    rmTree(resticRepo);
    rmTree(resticEnv.RESTIC_CACHE_DIR);
    sh(`RESTIC_PASSWORD=bench restic init -q --repo ${JSON.stringify(resticRepo)} >/dev/null`, ROOT);
  };
  step(name, `cp -r / trove add${withRestic ? ' / restic backup' : ''}`);
  Object.assign(r, paired(RUNS, [
    ['cp', rmCp, () => timed('cp', ['-r', src, cpDst], ROOT)],
    ['add', () => { rmCp(); resetCache(); }, () => timed(process.execPath, [TROVE, 'add', 'data'], repo)],
    ...(withRestic ? [['restic', resetRestic, () => timed('restic', ['backup', '-q', '--exclude', '.complete', '--repo', resticRepo, src], ROOT, { env: resticEnv, timeout: PEER_TIMEOUT })]] : []),
  ]));
  if (withRestic) rmTree(resticRepo);
  else if (PEERS) r.restic = notInstalled('restic');
  timed(process.execPath, [TROVE, 'status'], repo); // settle racy entries once, as git does
  // status beside Node's own floor (bench/status-floor.mjs: start, readdir + lstat of the same files,
  // exit), timed alternately, no sleep between (neither writes); bench/status.mjs is the longer study
  step(name, 'status / floor, re-add');
  r.status = { all: [] };
  r.floor = { all: [] };
  for (let i = 0; i < Math.max(RUNS, 5); i++) {
    const pair = [['status', () => timed(process.execPath, [TROVE, 'status'], repo)], ['floor', () => timed(process.execPath, [FLOOR, data(repo)], repo)]];
    for (const [k, fn] of i % 2 ? pair.reverse() : pair) {
      const t = fn();
      r[k].all.push(t.s);
      if (k === 'status') r.status.rssMb = Math.max(r.status.rssMb ?? 0, t.rssMb ?? 0) || undefined;
    }
  }
  r.status.s = median(r.status.all);
  r.floor.s = median(r.floor.all);
  r.readd = repeat(RUNS, null, () => timed(process.execPath, [TROVE, 'add', 'data'], repo));
  if (SPECS[name].dirs) {
    // one file changed in the tracked folder, beside the unchanged status (issue 9: ≤ 1.2×)
    step(name, 'status after one file changed');
    const one = oneChangeRows({ runs: Math.max(RUNS, 5), file: path.join(data(repo), 'd0000', 'f00000.bin'), status: () => timed(process.execPath, [TROVE, 'status'], repo) });
    r.statusChanged = one.changed;
    r.statusBeside = one.unchanged;
  }
  const setLink = (mode) => execFileSync(process.execPath, [TROVE, 'config', 'cache.link', mode], { cwd: repo });
  const rmData = () => rmSync(data(repo), { recursive: true, force: true });
  step(name, 'checkout copy / hardlink');
  setLink('reflink,copy');
  const co = paired(RUNS, [
    ['checkout', () => { rmCp(); rmData(); }, () => timed(process.execPath, [TROVE, 'checkout'], repo)],
    ['cpCo', rmCp, () => timed('cp', ['-r', src, cpDst], ROOT)],
  ]);
  r.checkout = co.checkout;
  r.cpCo = co.cpCo;
  // a copy-built cache (packs, chunks) switched to hardlink: its first checkout writes each packed or
  // chunked object loose once and links it (later ones only link); timed once, beside cp -rl
  setLink('hardlink');
  step(name, 'hardlink checkout of a copy-built cache (first, unpacks) / cp -rl');
  const hlc = paired(1, [
    ['checkoutHlCopyBuilt', () => { rmCp(); rmData(); }, () => timed(process.execPath, [TROVE, 'checkout'], repo)],
    ['cplCopyBuilt', rmCp, () => timed('cp', ['-rl', src, cpDst + 'l'], ROOT)],
  ]);
  r.checkoutHlCopyBuilt = hlc.checkoutHlCopyBuilt;
  r.cplCopyBuilt = hlc.cplCopyBuilt;
  // what wave 1 measured: a cache built with cache.link hardlink set before add (objects loose)
  step(name, 'hardlink add, hardlink checkout / cp -rl');
  rmCp();
  resetCache();
  copyIn(repo);
  r.addHl = repeat(1, null, () => timed(process.execPath, [TROVE, 'add', 'data'], repo));
  const hl = paired(RUNS, [
    ['checkoutHl', () => { rmCp(); rmData(); }, () => timed(process.execPath, [TROVE, 'checkout'], repo)],
    ['cpl', rmCp, () => timed('cp', ['-rl', src, cpDst + 'l'], ROOT)],
  ]);
  r.checkoutHl = hl.checkoutHl;
  r.cpl = hl.cpl;
  rmCp();
  rmSync(repo, { recursive: true, force: true });

  // git status of the same tree committed to git
  // gc.auto=0: after 100,000 new loose objects the commit would start `git gc --auto`, which packs
  // them in the background (minutes of both cores) while the next rows run and this repo is removed
  step(name, 'git status setup (git add -A + commit)');
  const g = freshRepo(name, 'git');
  copyIn(g);
  sh('git config gc.auto 0 && git add -A && git commit -qm data', g);
  sh('git status >/dev/null', g);
  step(name, 'git status');
  r.gitStatus = repeat(Math.max(RUNS, 5), null, () => timed('git', ['status'], g));
  rmTree(g);

  // peers (one run each: they are slow), each right after a cp -r of the same data for scale
  if (LFS && has('git-lfs')) {
    const l = freshRepo(name, 'lfs');
    copyIn(l);
    step(name, 'git-lfs add');
    sh('git config gc.auto 0 && git lfs install --local >/dev/null && git lfs track "data/**" >/dev/null && git add .gitattributes', l);
    sync();
    r.lfs = timed('timeout', ['-k', '10', String(PEER_TIMEOUT), 'git', 'add', 'data'], l, { timeout: PEER_TIMEOUT + 30 });
    rmTree(l);
  } else if (LFS) r.lfs = notInstalled('git-lfs');
  if (ANNEX && has('git-annex')) {
    step(name, 'git-annex add');
    const a = freshRepo(name, 'annex');
    copyIn(a);
    sh('git annex init -q bench >/dev/null 2>&1', a);
    sync();
    r.annex = timed('timeout', ['-k', '10', String(PEER_TIMEOUT), 'git', 'annex', 'add', '--quiet', 'data'], a, { timeout: PEER_TIMEOUT + 30 });
    spawnSync('pkill', ['-f', `git-annex.*${a}`]);
    rmTree(a);
  } else if (ANNEX) r.annex = notInstalled('git-annex');
  return r;
}

// ------------------------------------------------------------------ report
/** add against the larger of its two limits, pair by pair (cp -r timed right before each add) */
const addRatio = (r) => median(r.add.all.map((x, i) => x / Math.max(r.openssl.s, r.cp.all[i])));
const peerCell = (p) => (p?.notInstalled ? p.notInstalled : fmt(p?.s));
const fmt = (x) => (x === undefined ? 'n/a' : x === Infinity ? `> ${PEER_TIMEOUT} s` : `${x < 0.1 ? x.toFixed(3) : x.toFixed(2)} s`);
const ratio = (a, b) => (a === undefined || b === undefined || b === Infinity ? 'n/a' : `${(a / b).toFixed(2)}×`);
const verdict = (ok) => (ok ? 'met' : '**not met**');

function machine() {
  const cpu = os.cpus()[0]?.model ?? '?';
  const fsType = (() => {
    try {
      return sh(`df -T ${JSON.stringify(ROOT)} | tail -1 | awk '{print $2}'`).trim();
    } catch {
      return '?';
    }
  })();
  const v = (cmd) => {
    try {
      return sh(`${cmd} 2>/dev/null | head -1`).trim() || 'not installed';
    } catch {
      return 'not installed';
    }
  };
  return [
    `- CPU: ${cpu}, ${os.availableParallelism()} cores; memory ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; ${os.type()} ${os.release()}`,
    `- data dir: ${ROOT} (${fsType})`,
    `- node ${process.version}; ${v('git --version')}; ${v('git lfs version')}; git-annex ${v("git annex version | sed -n 's/git-annex version: //p'")}; ${v('openssl version')}`,
  ].join('\n');
}

// ------------------------------------------------------------------ S3 transfers and the big-file delta
let s3srv = null;
const server = async () => (s3srv ??= await new BenchS3().start());
async function transferRows(s, r) {
  if (S3_SETS.includes(s) || s === 'tiny') {
    const rclone = PEERS && has('rclone');
    console.error(`S3 push / pull of ${SPECS[s].label}${rclone ? ' beside rclone' : ''}…`);
    r.s3 = await s3Rows({ name: s, src: makeSet(s), root: ROOT, runs: RUNS, s3: await server(), rclone, peerTimeout: PEER_TIMEOUT });
    if (!rclone) r.s3.rcloneMissing = notInstalled('rclone').notInstalled;
  }
  if (s === '1g' || s === 'tiny') {
    console.error('big file with 1 MiB changed and 10 MiB appended…');
    r.delta = await deltaRow({ root: ROOT, s3: await server(), sizeMiB: s === 'tiny' ? 32 : DELTA_MIB });
  }
}

const MiB = (b) => (b === undefined ? undefined : `${(b / 2 ** 20).toFixed(1)} MiB`);
function renderTransfers(results) {
  let t = '';
  const withS3 = Object.entries(results).filter(([, r]) => r.s3);
  if (withS3.length) {
    t += `\n## Push and pull to the bench S3 server (fauxqs, bench/s3-server.mjs), beside rclone copy (issue 10)\n\nJobs 16 for trove, --transfers 16 --checkers 16 for rclone; medians; "×" is rclone's time over trove's, median of per-pair ratios (target ≥ 20× for push and pull); requests counted by the server.\n\n`;
    t += `| data set | trove push | rclone copy up | × | no-op push | requests | rclone no-op | requests | pull (empty cache) | rclone copy down | × |\n|---|---|---|---|---|---|---|---|---|---|---|\n`;
    for (const [s, r] of withS3) {
      const m = r.s3.medians;
      const x = (v) => (v === undefined ? r.s3.rcloneMissing ?? 'n/a' : `${v.toFixed(2)}×`);
      const rc = (v) => (r.s3.rclone ? fmt(v) : r.s3.rcloneMissing);
      t += `| ${SPECS[s].label} | ${fmt(m.trovePush)} | ${rc(m.rclonePush)} | ${x(r.s3.speedup.push)} | ${fmt(m.troveNoop)} | ${r.s3.requests.troveNoop ?? 'n/a'} | ${rc(m.rcloneNoop)} | ${r.s3.requests.rcloneNoop ?? 'n/a'} | ${fmt(m.trovePull)} | ${rc(m.rclonePull)} | ${x(r.s3.speedup.pull)} |\n`;
    }
    t += `\n| target (issue 10) | ${withS3.map(([s]) => SPECS[s].label).join(' | ')} |\n|---|${withS3.map(() => '---').join('|')}|\n`;
    const trow = (label, f) => (t += `| ${label} | ${withS3.map(([, r]) => f(r.s3)).join(' | ')} |\n`);
    trow('push ≥ 20× faster than rclone copy', (x) => (x.speedup.push === undefined ? x.rcloneMissing ?? 'n/a' : `${x.speedup.push.toFixed(2)}× ${verdict(x.speedup.push >= 20)}`));
    trow('pull ≥ 20× faster than rclone copy', (x) => (x.speedup.pull === undefined ? x.rcloneMissing ?? 'n/a' : `${x.speedup.pull.toFixed(2)}× ${verdict(x.speedup.pull >= 20)}`));
    trow('no-op push ≤ 3 requests', (x) => `${x.requests.troveNoop} ${verdict(x.requests.troveNoop <= 3)}`);
  }
  const withDelta = Object.entries(results).filter(([, r]) => r.delta);
  if (withDelta.length) {
    t += `\n## A big file, 1 MiB changed in the middle and 10 MiB appended (issue 10)\n\nStored and uploaded bytes as trove's \`add --json\` (results[].storedBytes) and \`push --json\` (transferredBytes) report them; target ≤ 2× the changed bytes (22 MiB) for both.\n\n`;
    t += `| file | re-add | stored by re-add | push | uploaded by push | push requests | stored ≤ 22 MiB | uploaded ≤ 22 MiB |\n|---|---|---|---|---|---|---|---|\n`;
    for (const [, r] of withDelta) {
      const d = r.delta;
      const limit = 2 * d.changedMiB * 2 ** 20;
      const v = (b, field) => (b === undefined ? `n/a until \`${field}\` is reported` : verdict(b <= limit));
      t += `| ${d.sizeMiB} MiB | ${fmt(d.readdS)} | ${MiB(d.storedBytes) ?? 'n/a until add --json reports storedBytes'} | ${fmt(d.pushS)} | ${MiB(d.uploadedBytes) ?? 'n/a until push --json reports transferredBytes'} | ${d.pushRequests} | ${v(d.storedBytes, 'storedBytes')} | ${v(d.uploadedBytes, 'transferredBytes')} |\n`;
    }
  }
  return t;
}

/** Wave 1's figures (bench/results-wave1.json, measured before wave 2) beside this run's. */
function renderWave1(results) {
  const file = path.join(HERE, 'results-wave1.json');
  if (!existsSync(file)) return '';
  const w1 = JSON.parse(readFileSync(file, 'utf8'));
  let t = `\n## Beside wave 1 (bench/RESULTS-wave1.md; measured ${Object.entries(w1).map(([s, v]) => `${s} ${v.when}`).join(', ')}; different runs: compare ratios, not seconds)\n\n| data set | measure | wave 1 | now |\n|---|---|---|---|\n`;
  for (const [s, r] of Object.entries(results)) {
    const old = w1[s]?.r;
    if (!old) continue;
    for (const [k, label] of [['add', 'add (cold)'], ['readd', 're-add (unchanged)'], ['status', 'status (unchanged)'], ['checkout', 'checkout copy'], ['checkoutHl', 'checkout hardlink (cache built in hardlink mode)'], ['checkoutHlCopyBuilt', 'hardlink checkout of a copy-built cache (first)']]) {
      if (!old[k] && !r[k]) continue;
      t += `| ${SPECS[s].label} | ${label} | ${fmt(old[k]?.s)} | ${fmt(r[k]?.s)} |\n`;
    }
    if (old.floor && r.floor) t += `| ${SPECS[s].label} | status / floor | ${pairRatio(old.status, old.floor).toFixed(2)}× | ${pairRatio(r.status, r.floor).toFixed(2)}× |\n`;
  }
  return t;
}

// Raw results are kept per data set in bench/results.json, so that a run of one set (the 100k set
// takes long) updates its rows and RESULTS.md still shows every set, each with its own date.
const RAW = path.resolve(opt('results', path.join(HERE, 'results.json')));
const MD = path.join(path.dirname(RAW), RAW === path.join(HERE, 'results.json') ? 'RESULTS.md' : path.basename(RAW, '.json') + '.md');
const saved = existsSync(RAW) ? JSON.parse(readFileSync(RAW, 'utf8')) : {};
const started = new Date();
if (!args.includes('--render-only')) {
  ensureTools();
  for (const s of SETS) {
    if (!SPECS[s]) throw new Error(`unknown set ${s} (1g, 20k, 100k)`);
    console.error(`\n== ${SPECS[s].label}`);
    const r = benchSet(s);
    if (S3_SETS.includes(s) || s === '1g' || s === 'tiny') await transferRows(s, r);
    console.error(JSON.stringify(r, (k, v) => (k === 'all' ? undefined : v)));
    saved[s] = { when: new Date().toISOString(), runs: RUNS, peerTimeout: PEER_TIMEOUT, r };
    writeFileSync(RAW, JSON.stringify(saved, null, 1) + '\n');
  }
  s3srv?.stop();
}
const results = Object.fromEntries(Object.keys(SPECS).filter((s) => saved[s]).map((s) => [s, saved[s].r]));

let md = `# trove benchmark results\n\nWritten ${started.toISOString()} by \`npm run bench\` from bench/results.json: ${Object.entries(saved).map(([s, v]) => `${s} measured ${v.when} (${v.runs} runs, peer timeout ${v.peerTimeout} s)`).join('; ')}. Medians (status: of ≥ 5 runs); ratios to cp are medians of per-pair ratios, each trove run timed right next to its baseline, alternating who goes first; peers one run each.\nFile creation on this machine is kernel-bound and swings up to 10× within minutes (the same \`cp -r\` of 20,000 files took 1 s to 15 s): read the paired ratios, not absolute times.\n\n${machine()}\n\n`;
md += `| data set | openssl sha256 | cp -r | cp -rl | trove add (cold) | add / max(openssl, cp) | re-add (unchanged) | git-lfs add | git-annex add | restic backup | add / restic | peak RSS add |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n`;
for (const [s, r] of Object.entries(results)) {
  const limit = Math.max(r.openssl.s, r.cp.s);
  md += `| ${SPECS[s].label} | ${fmt(r.openssl.s)} | ${fmt(r.cp.s)} | ${fmt(r.cpl.s)} | ${fmt(r.add.s)} | ${addRatio(r).toFixed(2)}× | ${fmt(r.readd.s)} | ${peerCell(r.lfs)} | ${peerCell(r.annex)} | ${peerCell(r.restic)} | ${r.restic?.all ? pairRatio(r.add, r.restic).toFixed(2) + '×' : 'n/a'} | ${r.add.rssMb ? r.add.rssMb.toFixed(0) + ' MB' : 'n/a'} |\n`;
}
md += `\n| data set | trove status (unchanged) | Node floor (readdir + lstat) | status / floor | peak RSS status | git status | status / git status |\n|---|---|---|---|---|---|---|\n`;
for (const [s, r] of Object.entries(results)) {
  md += r.floor ? `| ${SPECS[s].label} | ${fmt(r.status.s)} | ${fmt(r.floor.s)} | ${pairRatio(r.status, r.floor).toFixed(2)}× | ${r.status.rssMb ? r.status.rssMb.toFixed(0) + ' MB' : 'n/a'} | ${fmt(r.gitStatus.s)} | ${ratio(r.status.s, r.gitStatus.s)} |\n` : `| ${SPECS[s].label} | ${fmt(r.status.s)} | not measured | | | ${fmt(r.gitStatus.s)} | ${ratio(r.status.s, r.gitStatus.s)} |\n`;
}
md += `\n| data set | trove status (unchanged) | git status | ratio | checkout copy | / cp -r | checkout hardlink | / cp -rl | peak RSS checkout |\n|---|---|---|---|---|---|---|---|---|\n`;
for (const [s, r] of Object.entries(results)) {
  md += `| ${SPECS[s].label} | ${fmt(r.status.s)} | ${fmt(r.gitStatus.s)} | ${ratio(r.status.s, r.gitStatus.s)} | ${fmt(r.checkout.s)} | ${pairRatio(r.checkout, r.cpCo).toFixed(2)}× | ${r.checkoutHl ? fmt(r.checkoutHl.s) : 'not measured'} | ${r.checkoutHl ? pairRatio(r.checkoutHl, r.cpl).toFixed(2) + '×' : ''} | ${r.checkout.rssMb ? r.checkout.rssMb.toFixed(0) + ' MB' : 'n/a'} |\n`;
}
md += `\n## Targets (issue 2)\n\n| target | ${Object.keys(results).map((s) => SPECS[s].label).join(' | ')} |\n|---|${Object.keys(results).map(() => '---').join('|')}|\n`;
const row = (label, f) => (md += `| ${label} | ${Object.values(results).map(f).join(' | ')} |\n`);
row('add ≤ 1.5× max(openssl, cp -r)', (r) => `${addRatio(r).toFixed(2)}× ${verdict(addRatio(r) <= 1.5)}`);
row('add of one big file ≤ 1.3× openssl dgst -sha256 of it (issue 10)', (r) => (SPECS[Object.keys(results).find((k) => results[k] === r)]?.files === 1 ? `${ratio(r.add.s, r.openssl.s)} ${verdict(r.add.s <= 1.3 * r.openssl.s)}` : '—'));
row('add faster than git-lfs', (r) => (r.lfs ? `${ratio(r.add.s, r.lfs.s)} ${verdict(r.add.s < r.lfs.s)}` : 'git-lfs n/a'));
row('add ≤ 0.5× restic backup (issue 10)', (r) => (r.restic?.all ? `${pairRatio(r.add, r.restic).toFixed(2)}× ${verdict(pairRatio(r.add, r.restic) <= 0.5)}` : r.restic?.notInstalled ?? 'n/a'));
row('add faster than git-annex', (r) => (r.annex ? `${ratio(r.add.s, r.annex.s)} ${verdict(r.add.s < r.annex.s)}` : 'git-annex n/a'));
row('status ≤ 1.3× Node floor (issue 9)', (r) => (r.floor ? `${pairRatio(r.status, r.floor).toFixed(2)}× ${verdict(pairRatio(r.status, r.floor) <= 1.3)}` : 'n/a'));
row('re-add ≤ 1.2× status (issue 9)', (r) => `${ratio(r.readd.s, r.status.s)} ${verdict(r.readd.s <= 1.2 * r.status.s)}`);
row('status after one file changed ≤ 1.2× status (issue 9)', (r) => (r.statusChanged ? `${pairRatio(r.statusChanged, r.statusBeside).toFixed(2)}× ${verdict(pairRatio(r.statusChanged, r.statusBeside) <= 1.2)}` : 'n/a'));
row('status ≤ 2× git status', (r) => `${ratio(r.status.s, r.gitStatus.s)} ${verdict(r.status.s <= 2 * r.gitStatus.s)}`);
row('checkout (copy) ≤ 1.3× cp -r', (r) => `${pairRatio(r.checkout, r.cpCo).toFixed(2)}× ${verdict(pairRatio(r.checkout, r.cpCo) <= 1.3)}`);
row('checkout (hardlink) ≤ 1.3× cp -rl', (r) => (r.checkoutHl ? `${pairRatio(r.checkoutHl, r.cpl).toFixed(2)}× ${verdict(pairRatio(r.checkoutHl, r.cpl) <= 1.3)}` : 'not measured'));
row('hardlink checkout of a copy-built cache (first: unpacks) / cp -rl', (r) => (r.checkoutHlCopyBuilt ? `${fmt(r.checkoutHlCopyBuilt.s)}, ${pairRatio(r.checkoutHlCopyBuilt, r.cplCopyBuilt).toFixed(2)}×; add in hardlink mode ${fmt(r.addHl?.s)}` : 'not measured'));
row('peak RSS (≤ 100 MB 1 GiB file, ≤ 200 MB 100k)', (r) => (r.add.rssMb ? `${r.add.rssMb.toFixed(0)} MB` : 'n/a'));
md += `\nAll timings (s): \`${JSON.stringify(Object.fromEntries(Object.entries(results).map(([s, r]) => [s, Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.all ?? v.s]))])))}\`\n`;
md += renderTransfers(results);
md += renderWave1(results);
writeFileSync(MD, md);
console.log(md);
void createHash;
