#!/usr/bin/env node
/**
 * The bench S3 server's floor beside trove's push and pull, in one run (issue 10: is the 20× target
 * bounded by the server?). Steps, alternating who goes first each round:
 *   - trove push of a data set to a fresh bucket, then pull into a fresh clone (empty cache);
 *   - the floor: the bare AWS SDK (a child process of its own) putting objects of exactly the sizes
 *     trove's push left in its bucket (listed after the first push: packs, indexes, inventory, loose
 *     objects), the same way trove sends them (one pack body at a time, multipart of `part_size`
 *     8 MiB with 4 parts in flight, small keys one by one), then getting each back whole (pull's
 *     concurrency, 16).
 * For each step: wall seconds, CPU (user+sys) and peak RSS of the client process (/usr/bin/time),
 * the server process's CPU (/proc/<pid>/stat) and the requests it served.
 * Usage: node bench/s3-floor.mjs --src DIR [--root DIR] [--runs 2] [--results FILE] [--trove bin/trove.js]
 * Writes the JSON to --results (never to bench/RESULTS.md).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchS3, addRemote, repoWith } from './transfer-rows.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const opt = (k, d) => {
  const i = process.argv.indexOf(`--${k}`);
  return i < 0 ? d : process.argv[i + 1];
};
const CREDS = { AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', AWS_EC2_METADATA_DISABLED: 'true', CI: '1' };

// ------------------------------------------------------------------ the floor child
if (process.argv[2] === '--floor-child') {
  const { S3Client, PutObjectCommand, GetObjectCommand, CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand } = await import('@aws-sdk/client-s3');
  const [, , , endpoint, bucket, sizesJson, phase] = process.argv;
  const sizes = JSON.parse(readFileSync(sizesJson, 'utf8'));
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const PART = 8 << 20;
  const bytes = Buffer.alloc(PART + 1, 7); // the body's content does not matter to the server
  const body = (n) => bytes.subarray(0, n);
  const key = (i) => `floor/${String(i).padStart(6, '0')}`;
  if (phase === 'put') {
    // big ones one at a time, each as multipart with 4 parts in flight (trove: one pack body at a time)
    for (const [i, size] of sizes.entries()) {
      if (size <= PART) {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key(i), Body: body(size), ContentLength: size }));
        continue;
      }
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key(i) }));
      const parts = [];
      const n = Math.ceil(size / PART);
      let next = 0;
      await Promise.all(Array.from({ length: 4 }, async () => {
        while (next < n) {
          const p = next++;
          const len = Math.min(PART, size - p * PART);
          const r = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key(i), UploadId, PartNumber: p + 1, Body: body(len), ContentLength: len }));
          parts[p] = { PartNumber: p + 1, ETag: r.ETag };
        }
      }));
      await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key(i), UploadId, MultipartUpload: { Parts: parts } }));
    }
  } else {
    let next = 0;
    let got = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < sizes.length) {
        const i = next++;
        const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key(i) }));
        for await (const b of r.Body) got += b.length;
      }
    }));
    const want = sizes.reduce((a, b) => a + b, 0);
    if (got !== want) throw new Error(`floor get: ${got} bytes, expected ${want}`);
  }
  client.destroy();
  process.exit(0);
}

// ------------------------------------------------------------------ the driver
const SRC = opt('src');
if (!SRC || !existsSync(path.join(SRC, '.complete'))) throw new Error('--src DIR: a generated data set (bench/run.mjs makes them; needs its .complete)');
const ROOT = opt('root', path.join(os.tmpdir(), 'trove-s3-floor'));
const RUNS = Number(opt('runs', '2'));
const TROVE = path.resolve(opt('trove', path.join(HERE, '../bin/trove.js')));
const OUT = opt('results');
mkdirSync(ROOT, { recursive: true });

const serverCpu = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, clock ticks of 1/100 s
};
/** Runs argv under /usr/bin/time: wall, user+sys CPU, peak RSS (MB); plus the server's CPU and requests. */
async function step(s3, argv, cwd, env = {}) {
  const req0 = await s3.requests();
  const cpu0 = serverCpu(s3.child.pid);
  const tf = path.join(ROOT, 'time.out');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S %M', '-o', tf, ...argv], { cwd, env: { ...process.env, ...CREDS, ...env }, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${String(r.stderr).slice(0, 800)}`);
  const [u, sy, m] = readFileSync(tf, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  return { wall, cpu: u + sy, rssMb: m / 1024, serverCpu: serverCpu(s3.child.pid) - cpu0, requests: (await s3.requests()) - req0 };
}

const s3 = await new BenchS3().start();
const repo = path.join(ROOT, 'repo');
repoWith(repo, SRC);
const out = { src: SRC, trove: TROVE, push: [], pull: [], floorPut: [], floorGet: [], sizes: null };
let sizesFile;
try {
  for (let i = 0; i < RUNS; i++) {
    const troveSide = async () => {
      const bucket = `t${i}-${Date.now()}`;
      await s3.cmd(`bucket ${bucket}`);
      addRemote(repo, `b${i}`, bucket, s3);
      out.push.push(await step(s3, [process.execPath, TROVE, 'push', '-r', `b${i}`, '-j', '16'], repo));
      if (!sizesFile) {
        // what trove left in the bucket: the floor puts exactly these sizes
        const { S3Client, paginateListObjectsV2 } = await import('@aws-sdk/client-s3');
        const c = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
        const sizes = [];
        for await (const page of paginateListObjectsV2({ client: c }, { Bucket: bucket })) for (const o of page.Contents ?? []) sizes.push(o.Size);
        c.destroy();
        sizes.sort((a, b) => b - a);
        out.sizes = { objects: sizes.length, bytes: sizes.reduce((a, b) => a + b, 0), largest: sizes.slice(0, 4) };
        sizesFile = path.join(ROOT, 'sizes.json');
        writeFileSync(sizesFile, JSON.stringify(sizes));
      }
      const clone = path.join(ROOT, 'clone');
      rmSync(clone, { recursive: true, force: true });
      execFileSync('git', ['clone', '-q', repo, clone]);
      writeFileSync(path.join(clone, '.trove/config'), readFileSync(path.join(repo, '.trove/config')));
      out.pull.push(await step(s3, [process.execPath, TROVE, 'pull', '-r', `b${i}`, '-j', '16'], clone));
      rmSync(clone, { recursive: true, force: true });
    };
    const floorSide = async () => {
      if (!sizesFile) return false;
      const bucket = `f${i}-${Date.now()}`;
      await s3.cmd(`bucket ${bucket}`);
      const child = (phase) => [process.execPath, fileURLToPath(import.meta.url), '--floor-child', s3.endpoint, bucket, sizesFile, phase];
      out.floorPut.push(await step(s3, child('put'), ROOT));
      out.floorGet.push(await step(s3, child('get'), ROOT));
      return true;
    };
    if (i % 2) { if (!(await floorSide())) throw new Error('unreachable'); await troveSide(); }
    else { await troveSide(); await floorSide(); }
    console.error(JSON.stringify({ round: i, push: out.push.at(-1), pull: out.pull.at(-1), floorPut: out.floorPut.at(-1), floorGet: out.floorGet.at(-1) }));
  }
} finally {
  s3.stop();
  rmSync(repo, { recursive: true, force: true });
}
const med = (xs, k) => [...xs.map((x) => x[k])].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
out.medians = Object.fromEntries(['push', 'pull', 'floorPut', 'floorGet'].map((s) => [s, Object.fromEntries(['wall', 'cpu', 'rssMb', 'serverCpu', 'requests'].map((k) => [k, med(out[s], k)]))]));
const text = JSON.stringify(out, null, 1);
if (OUT) writeFileSync(OUT, text + '\n');
console.log(JSON.stringify(out.medians, null, 1));
