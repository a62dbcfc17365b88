/**
 * S3 remotes through the CLI against the in-process S3 server: clone workflow, faults (~10 % of
 * requests fail with 500 / 503 / reset, and cut GetObject bodies), and credentials never stored.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { startFaultProxy } from '../helpers/faultProxy.js';
import { newRepo, snapshot, trove, write } from '../helpers/repo.js';
import { startS3, type TestS3 } from '../helpers/s3server.js';
import { cloneOf, commitAll, makeFiles, ok, okJson } from './remoteHelpers.js';

const SECRET = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY';
let s3: TestS3;
let buckets = 0;

beforeAll(async () => {
  // the CLI children inherit these: credentials only ever come from the AWS default chain
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIAIOSFODNN7EXAMPLE');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', SECRET);
  vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
  vi.stubEnv('AWS_PROFILE', undefined);
  s3 = await startS3();
});
afterAll(async () => {
  await s3?.stop();
  vi.unstubAllEnvs();
});

const noTrove = (rel: string) => rel === '.git' || rel === '.trove' || rel.startsWith('.git/') || rel.startsWith('.trove/');

async function s3Repo(endpoint: string, files: number): Promise<string> {
  const bucket = `t${++buckets}-${Date.now()}`;
  await s3.createBucket(bucket);
  const a = await newRepo();
  await makeFiles(a, 'data', files);
  await write(a, 'big.bin', Buffer.alloc(7 * 1024 * 1024 + 5, 3)); // multipart at part_size 5 MiB
  await ok(a, 'add', 'data', 'big.bin');
  await ok(a, 'remote', 'add', 'origin', `s3://${bucket}/team/proj`, '-o', `endpoint=${endpoint}`, '-o', 'region=us-east-1', '-o', 'path_style=true', '-o', 'part_size=5MiB');
  await commitAll(a, 'data');
  return a;
}

describe('s3 remote', () => {
  it('clone workflow: push, git clone, pull: identical bytes; no-op push sends nothing', async () => {
    const a = await s3Repo(s3.endpoint, 300);
    const p = await okJson<{ transferred: number; strategy: string }>(a, 'push');
    expect(p).toMatchObject({ strategy: 'list' });
    expect(p.transferred).toBeGreaterThan(300);
    expect((await okJson<{ transferred: number }>(a, 'push')).transferred).toBe(0);
    const b = await cloneOf(a);
    const r = await trove(b, 'pull');
    expect(r.code, r.stderr).toBe(0);
    expect(await snapshot(b, noTrove)).toEqual(await snapshot(a, noTrove));
    expect((await trove(b, 'fsck')).code).toBe(0);
    const st = await okJson<{ entries: { state: string }[] }>(b, 'status', '--remote');
    expect(st.entries.every((e) => e.state === 'in-sync')).toBe(true);
  });

  it('push and pull complete through ~10 % injected faults; every object verifies', async () => {
    const proxy = await startFaultProxy(s3.endpoint, { rate: 0.1, seed: 7, kinds: ['500', '503', 'reset', 'truncate'] });
    onTestFinished(() => proxy.stop());
    const a = await s3Repo(proxy.endpoint, 200);
    // small files travel in one pack (a handful of requests): some files above the pack threshold
    // (1 MiB) go loose, one request each, so that the faults hit every kind of request
    // (48: a pull now takes a pack whole and its trees in one GET, so fewer requests remain to fault)
    for (let i = 0; i < 48; i++) await write(a, `large/f${i}.bin`, Buffer.alloc((1 << 20) + 1000 + i, i));
    await ok(a, 'add', 'large');
    await commitAll(a, 'large');
    const p = await trove(a, 'push', '-j', '8');
    expect(p.code, p.stderr).toBe(0);
    const b = await cloneOf(a);
    const r = await trove(b, 'pull', '-j', '8');
    expect(r.code, r.stderr).toBe(0);
    expect(await snapshot(b, noTrove)).toEqual(await snapshot(a, noTrove));
    expect((await trove(b, 'fsck')).code).toBe(0);
    expect(proxy.stats.faults).toBeGreaterThan(5);
  });

  it('refuses secret-looking options and credentials in urls; secrets never reach config or output', async () => {
    const a = await newRepo();
    const outputs: string[] = [];
    const run = async (...args: string[]) => {
      const r = await trove(a, ...args);
      outputs.push(r.stdout, r.stderr);
      return r;
    };
    expect((await run('remote', 'add', 'x', 's3://bkt/p', '-o', `secret_access_key=${SECRET}`)).code).toBe(1);
    expect((await run('remote', 'add', 'x', 's3://bkt/p', '-o', `aws_session_token=${SECRET}`)).code).toBe(1);
    expect((await run('remote', 'add', 'x', `s3://AKIAIOSFODNN7EXAMPLE:${SECRET}@bkt/p`)).code).toBe(1);
    expect((await run('remote', 'add', 'x', 's3://bkt/p', '-o', `endpoint=https://user:${SECRET}@h.example.com`)).code).toBe(1);
    await run('remote', 'add', 'x', 's3://bkt/p', '-o', `endpoint=${s3.endpoint}`, '-o', 'path_style=true');
    expect((await run('remote', 'modify', 'x', 'password', SECRET)).code).toBe(1);
    expect((await run('config', 'remotes.x.access_key', SECRET)).code).toBe(1);
    await run('push'); // bucket does not exist: an error that must not echo credentials
    await run('remote', 'list');
    const cfg = (await fsp.readFile(path.join(a, '.trove/config'), 'utf8')) + (await fsp.readFile(path.join(a, '.trove/config.local'), 'utf8').catch(() => ''));
    expect(cfg).not.toContain(SECRET);
    expect(cfg).not.toMatch(/secret|password|token/i);
    for (const o of outputs) expect(o).not.toContain(SECRET);
  });
});
