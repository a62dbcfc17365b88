/**
 * Rows of `npm run bench` that need an S3 server (issue 10's targets), beside rclone:
 *   - s3Rows: trove push / no-op push / pull into an empty cache of a data set to the bench S3 server
 *     (bench/s3-server.mjs, a process of its own), against `rclone copy` of the same folder to the
 *     same server and back, paired run by run, alternating who goes first; requests counted by the
 *     server for each step;
 *   - deltaRow: a big file (1 GiB by default), 1 MiB changed in the middle and 10 MiB appended: what
 *     the re-add stores and the push uploads, read from trove's `--json` output (`storedBytes` of
 *     `add --json`, `transferredBytes` of `push --json`), "n/a" where a field is absent.
 * rclone is configured through RCLONE_CONFIG_* variables only: no config file is written.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TROVE = path.resolve(HERE, '../bin/trove.js');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const CREDS = { AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', AWS_EC2_METADATA_DISABLED: 'true', CI: '1' };

/** The bench S3 server process: start(), then cmd('count') / cmd('bucket x'); stop(). */
export class BenchS3 {
  async start() {
    this.child = spawn(process.execPath, [path.join(HERE, 's3-server.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
    const { port } = JSON.parse((await this.lines.next()).value);
    this.endpoint = `http://127.0.0.1:${port}`;
    return this;
  }
  async cmd(line) {
    this.child.stdin.write(line + '\n');
    const r = JSON.parse((await this.lines.next()).value);
    if (r.error) throw new Error(`bench S3 server: ${r.error}`);
    return r;
  }
  async requests() {
    return (await this.cmd('count')).requests;
  }
  stop() {
    this.child?.stdin.end();
  }
  /** rclone's remote `benchs3:` pointing at this server, as environment variables */
  rcloneEnv() {
    return {
      RCLONE_CONFIG_BENCHS3_TYPE: 's3', RCLONE_CONFIG_BENCHS3_PROVIDER: 'Other', RCLONE_CONFIG_BENCHS3_ENV_AUTH: 'false',
      RCLONE_CONFIG_BENCHS3_ACCESS_KEY_ID: 'bench', RCLONE_CONFIG_BENCHS3_SECRET_ACCESS_KEY: 'bench',
      RCLONE_CONFIG_BENCHS3_ENDPOINT: this.endpoint, RCLONE_CONFIG_BENCHS3_REGION: 'us-east-1', RCLONE_CONFIG_BENCHS3_FORCE_PATH_STYLE: 'true',
    };
  }
}

function run(cmd, args, cwd, env = {}, timeoutS = 0) {
  const full = { ...process.env, ...CREDS, ...env };
  // a custom CA bundle (for the machine's HTTPS proxy) makes rclone's S3 client refuse a plain-http endpoint
  if (cmd === 'rclone') delete full.AWS_CA_BUNDLE;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd, env: full, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28, timeout: timeoutS * 1000 || undefined });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error?.code === 'ETIMEDOUT' || r.signal) return { s: Infinity, timedOut: true, out: '' };
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${String(r.stderr).slice(0, 500)}`);
  return { s, out: String(r.stdout) };
}
const trove = (cwd, ...args) => run(process.execPath, [TROVE, ...args], cwd);
const git = (cwd, ...args) => execFileSync('git', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

/** A git repo at dir with trove init'ed and `data/` (a copy of src) added and committed. */
export function repoWith(dir, src) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'config', 'user.email', 'b@e');
  git(dir, 'config', 'user.name', 'bench');
  trove(dir, 'init');
  execFileSync('sh', ['-c', `cp -r ${JSON.stringify(src)} data && rm -f data/.complete`], { cwd: dir });
  trove(dir, 'add', 'data');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'data');
}

export const addRemote = (repo, name, bucket, s3) => trove(repo, 'remote', 'add', name, `s3://${bucket}/x`, '-o', `endpoint=${s3.endpoint}`, '-o', 'region=us-east-1', '-o', 'path_style=true');

/** Times fn and counts the server's requests during it. */
async function counted(s3, fn) {
  const before = await s3.requests();
  const r = fn();
  return { s: r.s, timedOut: r.timedOut, requests: (await s3.requests()) - before, out: r.out };
}

/**
 * trove push / no-op push / pull (fresh clone, empty cache) against rclone copy up / no-op / down, of
 * the same files to the same server, `runs` pairs, each with new buckets. Jobs 16 for both.
 */
export async function s3Rows({ name, src, root, runs, s3, rclone, peerTimeout }) {
  const repo = path.join(root, `s3-trove-${name}`);
  repoWith(repo, src);
  const out = { trovePush: [], troveNoop: [], trovePull: [], rclonePush: [], rcloneNoop: [], rclonePull: [], requests: {} };
  const note = (k, r) => {
    out[k].push(r.s);
    (out.requests[k] ??= []).push(r.requests);
  };
  for (let i = 0; i < runs; i++) {
    const troveSide = async () => {
      const bucket = `t-${name}-${i}-${Date.now()}`;
      await s3.cmd(`bucket ${bucket}`);
      addRemote(repo, `b${i}`, bucket, s3);
      note('trovePush', await counted(s3, () => trove(repo, 'push', '-r', `b${i}`, '-j', '16')));
      note('troveNoop', await counted(s3, () => trove(repo, 'push', '-r', `b${i}`, '-j', '16')));
      const clone = path.join(root, `s3-clone-${name}`);
      rmSync(clone, { recursive: true, force: true });
      git(root, 'clone', '-q', repo, clone);
      writeFileSync(path.join(clone, '.trove/config'), readFileSync(path.join(repo, '.trove/config'))); // the remote, as a committed config would bring it
      note('trovePull', await counted(s3, () => trove(clone, 'pull', '-r', `b${i}`, '-j', '16')));
      rmSync(clone, { recursive: true, force: true });
    };
    const rcloneSide = async () => {
      if (!rclone) return;
      const bucket = `r-${name}-${i}-${Date.now()}`;
      await s3.cmd(`bucket ${bucket}`);
      const env = s3.rcloneEnv();
      const copy = (from, to) => () => run('rclone', ['copy', '--transfers', '16', '--checkers', '16', '--exclude', '.complete', from, to], root, env, peerTimeout);
      note('rclonePush', await counted(s3, copy(src, `benchs3:${bucket}/x`)));
      note('rcloneNoop', await counted(s3, copy(src, `benchs3:${bucket}/x`)));
      const dst = path.join(root, `s3-rclone-down-${name}`);
      rmSync(dst, { recursive: true, force: true });
      note('rclonePull', await counted(s3, copy(`benchs3:${bucket}/x`, dst)));
      rmSync(dst, { recursive: true, force: true });
    };
    for (const side of i % 2 ? [rcloneSide, troveSide] : [troveSide, rcloneSide]) await side();
  }
  rmSync(repo, { recursive: true, force: true });
  const med = (k) => (out[k].length ? median(out[k]) : undefined);
  const pair = (a, b) => (out[a].length && out[b].length ? median(out[a].map((x, j) => out[b][j] / x)) : undefined);
  return {
    rclone: !!rclone,
    medians: Object.fromEntries(['trovePush', 'troveNoop', 'trovePull', 'rclonePush', 'rcloneNoop', 'rclonePull'].map((k) => [k, med(k)])),
    /** how many times faster trove is than rclone, median of per-pair ratios */
    speedup: { push: pair('trovePush', 'rclonePush'), noop: pair('troveNoop', 'rcloneNoop'), pull: pair('trovePull', 'rclonePull') },
    requests: Object.fromEntries(Object.entries(out.requests).map(([k, v]) => [k, median(v)])),
    all: out,
  };
}

/**
 * The big file changed a little: add (untimed) and push it, then write 1 MiB of new bytes in the
 * middle and append 10 MiB, re-add and push again, reading what was stored and uploaded from --json.
 */
export async function deltaRow({ root, s3, sizeMiB = 1024 }) {
  const repo = path.join(root, 'delta-trove');
  rmSync(repo, { recursive: true, force: true });
  mkdirSync(path.join(repo, 'data'), { recursive: true });
  const file = path.join(repo, 'data', 'model.bin');
  const fd = openSync(file, 'w');
  const chunk = randomBytes(8 << 20);
  for (let off = 0; off < sizeMiB << 20; off += chunk.length) {
    chunk.writeUInt32LE(off >>> 0, 0);
    writeSync(fd, chunk, 0, Math.min(chunk.length, (sizeMiB << 20) - off));
  }
  closeSync(fd);
  git(repo, 'init', '-q', '-b', 'main');
  trove(repo, 'init');
  trove(repo, 'add', 'data');
  const bucket = `delta-${Date.now()}`;
  await s3.cmd(`bucket ${bucket}`);
  addRemote(repo, 'd', bucket, s3);
  trove(repo, 'push', '-r', 'd');
  // the change: 1 MiB overwritten in the middle, 10 MiB appended
  const w = openSync(file, 'r+');
  writeSync(w, randomBytes(1 << 20), 0, 1 << 20, (sizeMiB << 20) / 2);
  closeSync(w);
  const a = openSync(file, 'a');
  writeSync(a, randomBytes(10 << 20));
  closeSync(a);
  const add = trove(repo, 'add', 'data', '--json');
  const push = await counted(s3, () => trove(repo, 'push', '-r', 'd', '--json'));
  const addJson = JSON.parse(add.out);
  const pushJson = JSON.parse(push.out);
  const stored = addJson.results?.every((x) => typeof x.storedBytes === 'number') ? addJson.results.reduce((n, x) => n + x.storedBytes, 0) : undefined;
  const uploaded = typeof pushJson.transferredBytes === 'number' ? pushJson.transferredBytes : undefined;
  rmSync(repo, { recursive: true, force: true });
  return { sizeMiB, changedMiB: 11, readdS: add.s, pushS: push.s, pushRequests: push.requests, storedBytes: stored, uploadedBytes: uploaded, fields: { add: Object.keys(addJson.results?.[0] ?? {}), push: Object.keys(pushJson) } };
}

export const isInstalled = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
