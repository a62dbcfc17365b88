#!/usr/bin/env node
/**
 * Transfer benchmark (not part of the tests): push / pull of a generated folder
 *   - to a folder remote, against `rclone copy` of the same files (when rclone is installed);
 *   - to the local S3 server (fauxqs on 127.0.0.1) at jobs 1, 4, 16, 64;
 *   - `--checks`: what push pays to find what a remote lacks: N HEAD requests vs listing by prefix.
 * Prints objects/s and MB/s. Usage: npm run build && node bench/transfer.mjs [--files 5000] [--size 16384] [--checks]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TROVE = path.join(ROOT, 'bin/trove.js');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? def : Number(process.argv[i + 1]);
};
const FILES = arg('files', 5000);
const SIZE = arg('size', 16384);
const env = { ...process.env, CI: '1', AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', AWS_EC2_METADATA_DISABLED: 'true' };

const sh = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 28 }).toString();
const trove = (cwd, ...args) => sh(process.execPath, [TROVE, ...args], cwd);
const time = (fn) => {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};
const row = (what, s, n = FILES, bytes = FILES * SIZE) =>
  console.log(`${what.padEnd(44)} ${s.toFixed(2).padStart(7)} s ${(n / s).toFixed(0).padStart(8)} obj/s ${(bytes / s / 1e6).toFixed(1).padStart(7)} MB/s`);

const tmp = mkdtempSync(path.join(os.tmpdir(), 'trove-bench-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function makeRepo(name) {
  const dir = path.join(tmp, name);
  mkdirSync(dir);
  sh('git', ['init', '-q', '-b', 'main'], dir);
  sh('git', ['config', 'user.email', 'b@b'], dir);
  sh('git', ['config', 'user.name', 'b'], dir);
  trove(dir, 'init');
  for (let i = 0; i < FILES; i++) {
    const d = path.join(dir, 'data', `d${i % 100}`);
    if (i < 100) mkdirSync(d, { recursive: true });
    writeFileSync(path.join(d, `f${i}`), randomBytes(SIZE));
  }
  trove(dir, 'add', 'data');
  sh('git', ['add', '-A'], dir);
  sh('git', ['commit', '-qm', 'data'], dir);
  return dir;
}

function freshClone(src, name) {
  const dst = path.join(tmp, name);
  sh('git', ['clone', '-q', src, dst], tmp);
  // remotes were added after the commit: bring the config along as a user would by committing it
  writeFileSync(path.join(dst, '.trove/config'), readFileSync(path.join(src, '.trove/config')));
  return dst;
}

console.log(`data: ${FILES} files × ${SIZE} B in 100 folders; ${os.availableParallelism()} cores\n`);
const repo = makeRepo('a');

// ---------------------------------------------------------------- folder remote vs rclone
const fsRemote = path.join(tmp, 'fs-remote');
trove(repo, 'remote', 'add', 'fs', fsRemote);
row('trove push → folder', time(() => trove(repo, 'push', '-r', 'fs')));
row('trove push → folder (no-op)', time(() => trove(repo, 'push', '-r', 'fs')));
const b = freshClone(repo, 'b');
row('trove pull ← folder (fresh clone)', time(() => trove(b, 'pull', '-r', 'fs')));
const rclone = spawnSync('rclone', ['version'], { stdio: 'ignore' }).status === 0;
if (rclone) {
  for (const transfers of [4, 16]) {
    const dst = path.join(tmp, `rclone-${transfers}`);
    row(`rclone copy --transfers ${transfers}`, time(() => sh('rclone', ['copy', '--transfers', String(transfers), path.join(repo, 'data'), dst], tmp)));
    row(`rclone copy --transfers ${transfers} (no-op)`, time(() => sh('rclone', ['copy', '--transfers', String(transfers), path.join(repo, 'data'), dst], tmp)));
  }
} else {
  console.log('rclone: not installed, rows skipped. Install with: sudo apt-get install -y rclone');
}

// ---------------------------------------------------------------- local S3 server
const { buildApp } = await import('fauxqs');
const { CreateBucketCommand, S3Client } = await import('@aws-sdk/client-s3');
const app = buildApp({ logger: false });
await app.listen({ port: 0, host: '127.0.0.1' });
const endpoint = `http://127.0.0.1:${app.server.address().port}`;
const admin = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'b', secretAccessKey: 'b' } });
// The CLI runs in child processes; this process serves S3, so the children must not block it: run them async.
const { execFile } = await import('node:child_process');
const troveAsync = (cwd, ...args) => new Promise((res, rej) => execFile(process.execPath, [TROVE, ...args], { cwd, env, maxBuffer: 1 << 28 }, (e, out) => (e ? rej(e) : res(out))));
const timeAsync = async (fn) => {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};
const JOBS = process.argv.includes('--checks-only') ? [16] : [1, 4, 16, 64];
for (const jobs of JOBS) {
  const bucket = `bench-${jobs}`;
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  const name = `s3j${jobs}`;
  await troveAsync(repo, 'remote', 'add', name, `s3://${bucket}/x`, '-o', `endpoint=${endpoint}`, '-o', 'region=us-east-1', '-o', 'path_style=true');
  row(`trove push → S3 jobs ${jobs}`, await timeAsync(() => troveAsync(repo, 'push', '-r', name, '-j', String(jobs))));
  const c = freshClone(repo, `c${jobs}`);
  row(`trove pull ← S3 jobs ${jobs}`, await timeAsync(() => troveAsync(c, 'pull', '-r', name, '-j', String(jobs))));
}
row('trove push → S3 (no-op, 1 HEAD per pointer)', await timeAsync(() => troveAsync(repo, 'push', '-r', 's3j16')));

if (process.argv.includes('--checks')) {
  // HEAD per object vs listing by prefix, through the remotes layer directly (in this process)
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', AWS_EC2_METADATA_DISABLED: 'true' });
  const { openRemote } = await import('../dist/remotes/index.js');
  const pLimit = (await import('p-limit')).default;
  const r = openRemote('s3j16', `s3://bench-16/x`, { endpoint, region: 'us-east-1', path_style: true });
  const keys = [];
  for await (const e of r.list('objects/sha256/')) keys.push(e.key);
  for (const n of [256, 1000, Math.min(5000, keys.length)]) {
    const limit = pLimit(16);
    const s = await timeAsync(() => Promise.all(keys.slice(0, n).map((k) => limit(() => r.stat(k)))));
    console.log(`checks: ${String(n).padStart(5)} HEAD requests (jobs 16): ${s.toFixed(2)} s (${(n / s).toFixed(0)} req/s)`);
  }
  const limit = pLimit(16);
  const prefixes = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
  let seen = 0;
  const s = await timeAsync(() => Promise.all(prefixes.map((p) => limit(async () => { for await (const _ of r.list(`objects/sha256/${p}/`)) seen++; }))));
  console.log(`checks: list 256 prefixes of a ${keys.length}-object remote (jobs 16): ${s.toFixed(2)} s (${seen} keys)`);
  await r.close();
}
admin.destroy();
await app.close();
