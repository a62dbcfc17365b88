import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { createReadStream } from 'node:fs';
import { TroveError, isTroveError } from '../../src/core/errors.js';
import { withRetry } from '../../src/remotes/retry.js';
import { openRemote } from '../../src/remotes/index.js';
import type { Remote } from '../../src/remotes/remote.js';
import { S3Remote } from '../../src/remotes/s3.js';
import { startFaultProxy } from '../helpers/faultProxy.js';
import { fromFile, hashStream, randomFile, tempDir } from '../helpers/files.js';
import { type TestS3, startS3WithAdmin, stopS3WithAdmin } from '../helpers/s3server.js';
import { remoteContract } from './contract.js';

const MiB = 1024 * 1024;
let s3: TestS3;
let admin: S3Client;
let buckets = 0;

beforeAll(async () => ({ s3, admin } = await startS3WithAdmin()));
afterAll(() => stopS3WithAdmin(s3, admin));

/** A fresh bucket (and a prefix, so the prefix handling is exercised too). */
async function freshRemote(options: Record<string, unknown> = {}, endpoint = s3.endpoint): Promise<Remote> {
  const bucket = `b${++buckets}-${Date.now()}`;
  await s3.createBucket(bucket);
  const remote = openRemote('origin', `s3://${bucket}/team/data`, { endpoint, region: 'us-east-1', path_style: true, ...options });
  onTestFinished(() => remote.close());
  return remote;
}

/** get + hash under the one policy; a body that dies midway is retried whole, as RemoteStore.download does. */
function retriedHash(remote: Remote, key: string) {
  return withRetry(async () => {
    try {
      return await hashStream(await remote.get(key));
    } catch (err) {
      if (isTroveError(err)) throw err;
      throw new TroveError('REMOTE', `body of ${key} died midway`, undefined, { retryable: true });
    }
  }, { attempts: remote.attempts });
}

remoteContract('s3', {
  open: (o) => freshRemote(o),
  async assertMultipart(remote, key, parts) {
    const r = remote as S3Remote;
    const head = await admin.send(new HeadObjectCommand({ Bucket: r.bucket, Key: `${r.prefix}/${key}` }));
    // A multipart ETag is md5-of-md5s + "-<parts>"; a single PUT has a plain md5.
    expect(head.ETag).toMatch(new RegExp(`-${parts}"?$`));
  },
});

describe('s3 remote', () => {
  it('puts and gets 50 random files through a proxy that injects ~10% faults (500, 503, reset)', async () => {
    const proxy = await startFaultProxy(s3.endpoint, { rate: 0.1, seed: 42 });
    onTestFinished(() => proxy.stop());
    // multipart_threshold 2 MiB: files above it go multipart (parts retried inside the backend);
    // the rest are one PutObject, retried by the caller under the one policy (withRetry).
    const remote = await freshRemote({ part_size: 5 * MiB, multipart_threshold: 2 * MiB }, proxy.endpoint);
    const dir = await tempDir();
    const files = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
      const size = 100 * 1024 + Math.floor(Math.random() * (3 * MiB - 100 * 1024));
      const file = path.join(dir, `f${i}`);
      return { key: `objects/sha256/${i}/x`, file, size, sha256: await randomFile(file, size) };
    }));
    const limit = pLimit(8);
    const retry = <T>(fn: () => Promise<T>) => withRetry(fn, { attempts: remote.attempts });
    await Promise.all(files.map((f) => limit(() => retry(() => remote.put(f.key, fromFile(f.file), f.size)))));
    const got = await Promise.all(files.map((f) => limit(() => retriedHash(remote, f.key))));
    got.forEach((g, i) => expect(g).toEqual({ sha256: files[i].sha256, size: files[i].size }));
    expect(proxy.stats.faults).toBeGreaterThan(0);
    expect(proxy.stats.byKind.reset + proxy.stats.byKind['500'] + proxy.stats.byKind['503']).toBe(proxy.stats.faults);
    console.log('fault proxy stats', JSON.stringify(proxy.stats));
  });

  it('puts survive a 30% fault rate: every failure is marked retryable and the one policy re-opens the body', async () => {
    const proxy = await startFaultProxy(s3.endpoint, { rate: 0.3, seed: 11 });
    onTestFinished(() => proxy.stop());
    const remote = await freshRemote({}, proxy.endpoint);
    const dir = await tempDir();
    const files = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const file = path.join(dir, `f${i}`);
      return { key: `objects/s/${i}`, file, size: 64 * 1024, sha256: await randomFile(file, 64 * 1024) };
    }));
    let opened = 0;
    let retried = 0;
    for (const f of files) {
      let reported = 0;
      await withRetry(() => remote.put(f.key, () => (opened++, createReadStream(f.file)), f.size, { onBytes: (n) => (reported += n) }),
        { attempts: remote.attempts, onRetry: (err) => { expect(err.retryable).toBe(true); retried++; } });
      expect(reported).toBe(f.size); // failed attempts report no bytes
    }
    expect(proxy.stats.faults).toBeGreaterThan(0);
    // one request per attempt: the SDK no longer retries underneath (that would hide faults from this count)
    expect(retried).toBe(proxy.stats.faults);
    expect(opened).toBe(files.length + retried);
    for (const f of files) expect(await retriedHash(remote, f.key)).toEqual({ sha256: f.sha256, size: f.size });
  });

  it('a multipart put through the fault proxy completes with identical bytes', async () => {
    const proxy = await startFaultProxy(s3.endpoint, { rate: 0.15, seed: 7 });
    onTestFinished(() => proxy.stop());
    const remote = await freshRemote({ part_size: 5 * MiB }, proxy.endpoint);
    const dir = await tempDir();
    const file = path.join(dir, 'big');
    const digest = await randomFile(file, 16 * MiB);
    let opened = 0;
    // parts are retried inside the backend: one call, one pass over the body
    await remote.put('objects/big', () => (opened++, createReadStream(file)), 16 * MiB);
    expect(opened).toBe(1);
    expect(proxy.stats.faults).toBeGreaterThan(0);
    expect(await retriedHash(remote, 'objects/big')).toEqual({ sha256: digest, size: 16 * MiB });
  });

  it('a get whose body is cut midway fails as a stream error, never as short data', async () => {
    const remote = await freshRemote();
    const dir = await tempDir();
    const file = path.join(dir, 'f');
    await randomFile(file, 2 * MiB);
    await remote.put('objects/f', fromFile(file), 2 * MiB);
    const proxy = await startFaultProxy(s3.endpoint, { rate: 1, kinds: ['truncate'] });
    onTestFinished(() => proxy.stop());
    const bucket = (remote as S3Remote).bucket;
    const cut = openRemote('origin', `s3://${bucket}/team/data`, { endpoint: proxy.endpoint, region: 'us-east-1', path_style: true });
    onTestFinished(() => cut.close());
    const body = await cut.get('objects/f'); // headers arrived, so the SDK considers the request done
    await expect(hashStream(body)).rejects.toThrow();
    expect(proxy.stats.byKind.truncate).toBe(1);
  });

  it('an aborted multipart put is ABORTED and leaves no object', async () => {
    const remote = await freshRemote({ part_size: 5 * MiB });
    const dir = await tempDir();
    const file = path.join(dir, 'big');
    await randomFile(file, 16 * MiB);
    const ac = new AbortController();
    const p = remote.put('objects/big', fromFile(file), 16 * MiB, { signal: ac.signal, onBytes: () => ac.abort() });
    await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
    expect(await remote.stat('objects/big')).toBeNull();
  });

  it('errors name the remote and never contain the secret access key', async () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYTROVESECRET';
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIAIOSFODNN7TROVE00');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', secret);
    onTestFinished(() => {
      vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    });
    const check = (err: unknown) => {
      expect(isTroveError(err)).toBe(true);
      const e = err as { message: string; hint?: string; cause?: unknown; stack?: string };
      expect(e.message).toContain('"origin"');
      for (const text of [e.message, e.hint ?? '', String(e.cause), (e.cause as Error)?.stack ?? '', JSON.stringify(e)]) {
        expect(text).not.toContain(secret);
        expect(text).not.toContain('AKIAIOSFODNN7TROVE00');
      }
    };
    // 1. A bucket that does not exist (fauxqs does no auth, so this is a plain S3 error).
    const missing = openRemote('origin', 's3://no-such-bucket/p', { endpoint: s3.endpoint, region: 'us-east-1', path_style: true });
    onTestFinished(() => missing.close());
    const e1 = await missing.putBytes('runs/x.json', '{}').catch((e: unknown) => e);
    check(e1);
    expect((e1 as { code: string }).code).toBe('REMOTE');

    // 2. A server that echoes the credentials back in its error (a misbehaving proxy or gateway).
    const echo = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const body = `<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>denied for ${process.env.AWS_ACCESS_KEY_ID} secret=${secret} auth ${req.headers.authorization}</Message></Error>`;
        res.writeHead(403, { 'content-type': 'application/xml' }).end(body);
      });
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => echo.close(() => r())));
    const bad = openRemote('origin', 's3://bkt/p', { endpoint: `http://127.0.0.1:${(echo.address() as AddressInfo).port}`, region: 'us-east-1', path_style: true });
    onTestFinished(() => bad.close());
    const e2 = await bad.putBytes('runs/x.json', '{}').catch((e: unknown) => e);
    check(e2);
    expect((e2 as { hint?: string }).hint).toMatch(/credentials/);
    const e3 = await bad.stat('objects/x').catch((e: unknown) => e);
    check(e3);
  });

  it('rejects credentials and unknown keys in its config options, naming the field', () => {
    const configError = (options: Record<string, unknown>, field: string) => {
      let err: unknown;
      try {
        openRemote('origin', 's3://bkt/p', options);
      } catch (e) {
        err = e;
      }
      expect(isTroveError(err, 'CONFIG'), String(err)).toBe(true);
      expect((err as Error).message).toContain(field);
      expect((err as Error).message).not.toContain('hunter2');
    };
    configError({ secret_access_key: 'hunter2' }, 'secret_access_key');
    configError({ pathstyle: true }, 'pathstyle');
    configError({ part_size: 1024 }, 'part_size');
    configError({ sse: 'rot13' }, 'sse');
    configError({ endpoint: 'http://me:hunter2@example.com' }, 'endpoint');
    const ok = openRemote('origin', 's3://bkt/p', { part_size: '16MiB', jobs: 8, sse: 'AES256', retry_mode: 'adaptive' });
    expect(ok.url).toBe('s3://bkt/p');
    return ok.close();
  });
});
