/**
 * S3 remote: `s3://bucket/prefix`, on AWS or any S3-compatible endpoint.
 *
 * One S3Client per remote, reused for every request. Credentials come only from the AWS default
 * chain (env, shared config/credentials files, SSO, IMDS); trove config never holds secrets.
 *
 * Retries: one policy (retry.ts), one layer per request. The client is built with maxAttempts 1, so
 * the SDK never retries on its own (before, the SDK's 8 attempts nested under transfer.ts's 6 and a
 * put's own 8, and its client-wide retry quota gave up early in a long outage). Every error this
 * backend throws says whether another attempt may succeed (`retryable`, from `isTransient`), and the
 * caller's policy re-sends the request, re-opening the body for a put. The one exception is a
 * multipart upload: its parts are buffers, so each part is retried here under the same policy, and
 * a part that used its attempts fails the upload with `retryable: false` (no retry of retries).
 * A GetObject body that dies midway is a stream error for the caller (who verifies and retries).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  S3Client,
  type S3ClientConfig,
  type ServerSideEncryption,
  type StorageClass,
  ListObjectsV2Command,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { TroveError } from '../core/errors.js';
import { redactSecrets } from './redact.js';
import { type ByteRange, type OpenBody, type PutOptions, type Remote, type RemoteEntry, bodyToBuffer, validateKey, validatePrefix } from './remote.js';
import { exhausted, withRetry } from './retry.js';
import { checkSha256, integrityError } from './verify.js';
import { parseS3Options, type ParsedS3Options } from './s3-options.js';

export { parseS3Options, type S3RemoteOptions } from './s3-options.js';


/** The SDK logs a warning through console when no logger is given; the remotes layer never prints. */
const silentLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export class S3Remote implements Remote {
  readonly url: string;
  readonly attempts: number;
  private readonly client: S3Client;
  private readonly o: ParsedS3Options;

  /**
   * @example new S3Remote('origin', 'my-bucket', 'team/data', { region: 'eu-west-1' })
   */
  constructor(
    readonly name: string,
    readonly bucket: string,
    readonly prefix: string,
    options: Record<string, unknown> = {},
  ) {
    const o = parseS3Options(name, options);
    this.o = o;
    this.attempts = o.max_attempts;
    this.url = `s3://${bucket}${prefix ? `/${prefix}` : ''}`;
    const config: S3ClientConfig = {
      endpoint: o.endpoint,
      forcePathStyle: o.path_style,
      profile: o.profile,
      // retries are the caller's, under the one policy (retry.ts); see the header
      maxAttempts: 1,
      retryMode: o.retry_mode ?? 'standard',
      logger: silentLogger,
      region: o.region ?? defaultRegion(o.profile),
    };
    this.client = new S3Client(config);
  }

  private fullKey(key: string): string {
    validateKey(key);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  /** Wrap an SDK/system error as a TroveError with credential-looking text removed. */
  private wrap(err: unknown, what: string, key: string, signal?: AbortSignal): TroveError {
    if (err instanceof TroveError) return err;
    const e = err as SdkError;
    if (signal?.aborted || e?.name === 'AbortError') {
      return new TroveError('ABORTED', `s3 remote "${this.name}": ${what} ${key} was aborted`, undefined, { cause: sanitizeError(err) });
    }
    const status = e?.$metadata?.httpStatusCode;
    const detail = redactSecrets(describe(e));
    let hint: string | undefined;
    if (e?.name === 'NoSuchBucket') hint = `bucket "${this.bucket}" does not exist: create it or fix the url of remote "${this.name}"`;
    else if (status === 401 || status === 403 || /credential/i.test(e?.name ?? '') || /credential/i.test(e?.message ?? '')) {
      hint = 'check the AWS credentials (AWS_PROFILE, `aws sso login`, ~/.aws/credentials) and the bucket policy';
    } else if (!status) hint = `check the network and the endpoint${this.o.endpoint ? ` ${this.o.endpoint}` : ''} of remote "${this.name}"`;
    return new TroveError('REMOTE', `s3 remote "${this.name}": ${what} ${key}: ${detail}`, hint, { cause: sanitizeError(err), retryable: isTransient(err) });
  }

  async stat(key: string, o?: { signal?: AbortSignal }): Promise<{ size: number } | null> {
    const Key = this.fullKey(key);
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }), { abortSignal: o?.signal });
      return { size: r.ContentLength ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.wrap(err, 'stat', key, o?.signal);
    }
  }

  async *list(prefix: string, o?: { signal?: AbortSignal }): AsyncIterable<RemoteEntry> {
    validatePrefix(prefix);
    const root = this.prefix ? `${this.prefix}/` : '';
    const signal = o?.signal;
    // Page by page, each page request under the one policy (a page is idempotent: same token, same
    // keys), so a fault on page 40 of a big listing repeats one request, not the listing. Exhausted
    // pages fail as not retryable: a caller's retry would yield the keys already listed again.
    let ContinuationToken: string | undefined;
    do {
      const page = await withRetry(() => this.call(() => this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: root + prefix, MaxKeys: 1000, ContinuationToken }), { abortSignal: signal }), 'list', prefix || '/', signal),
        { attempts: this.attempts, signal }).catch((err: unknown) => { throw exhausted(err); });
      for (const c of page.Contents ?? []) {
        if (c.Key === undefined || !c.Key.startsWith(root)) continue;
        yield { key: c.Key.slice(root.length), size: c.Size ?? 0, mtimeMs: c.LastModified?.getTime() };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  async get(key: string, o?: { signal?: AbortSignal; range?: ByteRange }): Promise<NodeJS.ReadableStream> {
    const Key = this.fullKey(key);
    const r0 = o?.range;
    if (r0 && !(Number.isSafeInteger(r0.start) && Number.isSafeInteger(r0.end) && r0.start >= 0 && r0.end >= r0.start)) {
      throw new TroveError('REMOTE', `s3 remote "${this.name}": bad range ${r0.start}-${r0.end} for ${key}`);
    }
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key, ...(r0 && { Range: `bytes=${r0.start}-${r0.end}` }) }), { abortSignal: o?.signal });
      if (r0 && r.ContentLength !== undefined && r.ContentLength !== r0.end - r0.start + 1) {
        (r.Body as { destroy?: () => void } | undefined)?.destroy?.();
        // a server that ignores Range sends the whole object: refuse rather than read the wrong bytes
        throw new TroveError('REMOTE', `s3 remote "${this.name}": asked for bytes ${r0.start}-${r0.end} of ${key}, got ${r.ContentLength} bytes`,
          'the endpoint does not honour HTTP Range requests', { retryable: false });
      }
      if (!(r.Body instanceof Readable)) {
        (r.Body as { destroy?: () => void } | undefined)?.destroy?.();
        throw new Error('GetObject returned no readable body');
      }
      return r.Body;
    } catch (err) {
      if (isNotFound(err)) {
        throw new TroveError('NOT_FOUND', `s3 remote "${this.name}" has no object ${key}`, undefined, { cause: sanitizeError(err) });
      }
      throw this.wrap(err, 'get', key, o?.signal);
    }
  }

  async put(key: string, openBody: OpenBody, size: number, o?: PutOptions): Promise<void> {
    const Key = this.fullKey(key);
    try {
      o?.signal?.throwIfAborted();
      if (size >= this.o.multipart_threshold && size > this.o.part_size) {
        await this.putMultipart(Key, key, openBody, size, o);
        return;
      }
      // One PutObject with a Buffer body: read whole (at most the multipart threshold), so the hash
      // is checked before a byte is sent and the body is replayable by the caller's retry.
      const body = await bodyToBuffer(await openBody(), size, key);
      if (body.length !== size) throw new TroveError('INTEGRITY', `${key}: the body has ${body.length} bytes, expected ${size}: it changed while it was being uploaded`);
      if (o?.sha256) checkSha256(body, o.sha256, key);
      await this.client.send(new PutObjectCommand({ ...this.writeParams(Key), Body: body, ContentLength: size }), { abortSignal: o?.signal });
      o?.onBytes?.(size);
    } catch (err) {
      throw this.wrap(err, 'put', key, o?.signal);
    }
  }

  /**
   * A multipart upload of `size` bytes from one pass over `openBody()`:
   * 1. CreateMultipartUpload;
   * 2. cut the body into part_size buffers while hashing it; up to `jobs` parts in flight (memory:
   *    jobs + 1 parts), each retried under the one policy (a buffer can be re-sent);
   * 3. after the last byte: the size and SHA-256 are checked, and only then CompleteMultipartUpload
   *    makes the object visible. Any failure (or the signal) aborts the upload: no object, no billed
   *    orphan parts.
   */
  private async putMultipart(Key: string, key: string, openBody: OpenBody, size: number, o?: PutOptions): Promise<void> {
    const signal = o?.signal;
    const created = await withRetry(() => this.call(() => this.client.send(new CreateMultipartUploadCommand(this.writeParams(Key)), { abortSignal: signal }), 'put', key, signal), { attempts: this.attempts, signal })
      .catch((err: unknown) => { throw exhausted(err); });
    const UploadId = created.UploadId;
    if (!UploadId) throw new TroveError('REMOTE', `s3 remote "${this.name}": put ${key}: CreateMultipartUpload returned no upload id`);
    const parts: { PartNumber: number; ETag: string }[] = [];
    const inflight = new Set<Promise<void>>();
    let failure: unknown;
    // Part buffers are reused once their part is sent: memory is at most jobs + 1 parts. (A fresh
    // buffer per part left the sent ones to the garbage collector, which freed them late: a push of
    // two 64 MiB packs peaked at ~90 MiB of part buffers with 4 in flight.)
    const free: Buffer[] = [];
    const sendPart = async (PartNumber: number, Body: Buffer, owner: Buffer) => {
      try {
        const r = await withRetry(() => this.call(() => this.client.send(new UploadPartCommand({ Bucket: this.bucket, Key, UploadId, PartNumber, Body, ContentLength: Body.length }), { abortSignal: signal }), 'put', key, signal),
          { attempts: this.attempts, signal });
        parts.push({ PartNumber, ETag: r.ETag ?? '' });
        o?.onBytes?.(Body.length);
      } catch (err) {
        failure ??= exhausted(err);
      } finally {
        free.push(owner);
      }
    };
    try {
      const body = await openBody();
      const src = Buffer.isBuffer(body) ? [body] : (body as AsyncIterable<Buffer>);
      const hash = createHash('sha256');
      let total = 0;
      const partSize = this.o.part_size;
      let buf: Buffer | null = null; // the part being filled
      let filled = 0;
      let partNo = 0;
      const flush = async () => {
        if (!buf || filled === 0) return;
        const owner = buf;
        const p = sendPart(++partNo, owner.subarray(0, filled), owner).finally(() => inflight.delete(p));
        inflight.add(p);
        buf = null;
        filled = 0;
        while (inflight.size >= this.o.jobs) await Promise.race(inflight);
        if (failure) throw failure;
      };
      try {
        for await (const chunk of src) {
          signal?.throwIfAborted();
          total += chunk.length;
          if (total > size) throw new TroveError('INTEGRITY', `${key}: the body is longer than the ${size} bytes expected; it changed while it was being uploaded`);
          hash.update(chunk);
          let at = 0;
          while (at < chunk.length) {
            buf ??= free.pop() ?? Buffer.allocUnsafe(partSize);
            const n = chunk.copy(buf, filled, at, Math.min(chunk.length, at + partSize - filled));
            filled += n;
            at += n;
            if (filled === partSize) await flush();
          }
        }
      } finally {
        (body as { destroy?: () => void }).destroy?.();
      }
      if (total !== size) throw new TroveError('INTEGRITY', `${key}: the body has ${total} bytes, expected ${size}: it changed while it was being uploaded`);
      // size and hash are checked before CompleteMultipartUpload: a corrupt body never becomes visible
      if (o?.sha256) {
        const got = hash.digest('hex');
        if (got !== o.sha256) throw integrityError(key, o.sha256, got);
      }
      await flush();
      await Promise.all(inflight);
      if (failure) throw failure;
      parts.sort((x, y) => x.PartNumber - y.PartNumber);
      await withRetry(() => this.call(() => this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId, MultipartUpload: { Parts: parts } }), { abortSignal: signal }), 'put', key, signal),
        { attempts: this.attempts, signal }).catch((err: unknown) => { throw exhausted(err); });
    } catch (err) {
      await Promise.allSettled(inflight);
      // best effort; a leftover upload is cleaned by a bucket lifecycle rule (AbortIncompleteMultipartUpload)
      await withRetry(() => this.call(() => this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId })), 'put', key), { attempts: 3 }).catch(() => {});
      throw err;
    }
  }

  /** One request with its error wrapped (retryable set), for the requests retried inside this backend. */
  private async call<T>(request: () => Promise<T>, what: string, key: string, signal?: AbortSignal): Promise<T> {
    try {
      return await request();
    } catch (err) {
      throw this.wrap(err, what, key, signal);
    }
  }

  private writeParams(Key: string): Pick<PutObjectCommandInput, 'Bucket' | 'Key' | 'ServerSideEncryption' | 'SSEKMSKeyId' | 'StorageClass'> {
    return {
      Bucket: this.bucket,
      Key,
      ...(this.o.sse && { ServerSideEncryption: this.o.sse as ServerSideEncryption }),
      ...(this.o.sse_kms_key_id && { SSEKMSKeyId: this.o.sse_kms_key_id }),
      ...(this.o.storage_class && { StorageClass: this.o.storage_class as StorageClass }),
    };
  }

  async putBytes(key: string, body: Buffer | string, o?: { signal?: AbortSignal }): Promise<void> {
    const Key = this.fullKey(key);
    try {
      await this.client.send(new PutObjectCommand({ ...this.writeParams(Key), Body: Buffer.from(body) }), { abortSignal: o?.signal });
    } catch (err) {
      throw this.wrap(err, 'put', key, o?.signal);
    }
  }

  async delete(keys: string[]): Promise<void> {
    const full = keys.map((k) => this.fullKey(k)); // validate all before deleting any
    for (let i = 0; i < full.length; i += 1000) {
      const batch = full.slice(i, i + 1000);
      try {
        const r = await this.client.send(new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }));
        const errors = (r.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
        if (errors.length > 0) {
          const first = errors[0];
          throw new TroveError('REMOTE', `s3 remote "${this.name}": delete failed for ${errors.length} key(s), first ${first.Key}: ${redactSecrets(`${first.Code}: ${first.Message}`)}`);
        }
      } catch (err) {
        throw this.wrap(err, 'delete', `${batch.length} keys from ${batch[0]}`);
      }
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

function describe(e: SdkError | undefined): string {
  if (!e) return 'unknown error';
  const status = e.$metadata?.httpStatusCode;
  const name = e.name && e.name !== 'Error' ? e.name : e.code;
  const parts = [name, e.message].filter(Boolean).join(': ') || 'unknown error';
  return status ? `${parts} (HTTP ${status})` : parts;
}

/** 404 or NoSuchKey/NotFound; a bucket that does not exist is a configuration problem, not a missing key. */
export function isNotFound(err: unknown): boolean {
  const e = err as SdkError | undefined;
  if (!e || e.name === 'NoSuchBucket' || e.Code === 'NoSuchBucket') return false;
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

/** Errors worth another attempt: server errors, throttling, resets, timeouts. */
export function isTransient(err: unknown): boolean {
  const e = err as SdkError & { $retryable?: unknown };
  if (!e) return false;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) return true;
  if (e.$retryable) return true;
  if (['SlowDown', 'InternalError', 'ServiceUnavailable', 'RequestTimeout', 'RequestTimeTooSkewed', 'TimeoutError', 'ThrottlingException'].includes(e.name ?? '')) return true;
  if (['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED'].includes(e.code ?? '')) return true;
  return /socket hang up|timeout|ECONNRESET|EPIPE/i.test(e.message ?? '');
}

/**
 * A copy of an error that is safe to keep as `cause`: name, redacted message and stack, status.
 * The raw SDK error carries `$response` (headers, sometimes echoed request data), which is dropped.
 */
export function sanitizeError(err: unknown): Error {
  const e = err as SdkError & { stack?: string };
  const out = new Error(redactSecrets(e?.message ?? String(err)));
  out.name = e?.name ?? 'Error';
  if (e?.stack) out.stack = redactSecrets(e.stack);
  Object.assign(out, {
    ...(e?.code && { code: e.code }),
    ...(e?.$metadata && { $metadata: { httpStatusCode: e.$metadata.httpStatusCode, requestId: e.$metadata.requestId } }),
  });
  return out;
}

/**
 * Region from the AWS default chain (AWS_REGION, shared config for the profile), else us-east-1,
 * resolved once on first use. The SDK alone would fail with "Region is missing" instead.
 */
function defaultRegion(profile: string | undefined): () => Promise<string> {
  let region: Promise<string> | undefined;
  return () => (region ??= (async () => {
    const probe = new S3Client({ profile, logger: silentLogger });
    try {
      return (await probe.config.region()) || 'us-east-1';
    } catch {
      return 'us-east-1';
    } finally {
      probe.destroy();
    }
  })());
}

