/**
 * S3 remote: `s3://bucket/prefix`, on AWS or any S3-compatible endpoint.
 *
 * One S3Client per remote, reused for every request. Credentials come only from the AWS default
 * chain (env, shared config/credentials files, SSO, IMDS); trove config never holds secrets.
 *
 * Retries (measured against test/helpers/faultProxy.ts, see test/remotes/s3.test.ts):
 * - The SDK's retry middleware retries 500/503/throttling/ECONNRESET/timeouts for requests whose
 *   body is replayable (Buffer/string): HeadObject, GetObject (until the body starts), List,
 *   DeleteObjects, putBytes, and every part of a lib-storage Upload (it buffers parts).
 * - It does NOT retry a request whose body is a stream (@smithy/core retryMiddleware,
 *   isStreamingPayload: "An error was encountered in a non-retryable streaming request."),
 *   so small puts, which stream the file, go through `retrying()` here with a fresh stream per attempt.
 * - A GetObject body that dies midway is a stream error for the caller (who verifies and retries).
 */
import { createReadStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  S3Client,
  type S3ClientConfig,
  type ServerSideEncryption,
  type StorageClass,
  paginateListObjectsV2,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { TroveError } from '../core/errors.js';
import { redactSecrets } from './redact.js';
import { type PutOptions, type Remote, type RemoteEntry, validateKey, validatePrefix } from './remote.js';
import { checkFileSha256, checkSha256, sha256Gate } from './verify.js';
import { parseS3Options, type ParsedS3Options } from './s3-options.js';

export { parseS3Options, type S3RemoteOptions } from './s3-options.js';


/** The SDK logs a warning through console when no logger is given; the remotes layer never prints. */
const silentLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export class S3Remote implements Remote {
  readonly url: string;
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
    this.url = `s3://${bucket}${prefix ? `/${prefix}` : ''}`;
    const config: S3ClientConfig = {
      endpoint: o.endpoint,
      forcePathStyle: o.path_style,
      profile: o.profile,
      maxAttempts: o.max_attempts,
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
    return new TroveError('REMOTE', `s3 remote "${this.name}": ${what} ${key}: ${detail}`, hint, { cause: sanitizeError(err) });
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
    try {
      // The trailing argument is passed on to client.send(), which is how the signal reaches each page.
      const pages = paginateListObjectsV2({ client: this.client, pageSize: 1000 }, { Bucket: this.bucket, Prefix: root + prefix }, { abortSignal: o?.signal });
      for await (const page of pages) {
        for (const c of page.Contents ?? []) {
          if (c.Key === undefined || !c.Key.startsWith(root)) continue;
          yield { key: c.Key.slice(root.length), size: c.Size ?? 0, mtimeMs: c.LastModified?.getTime() };
        }
      }
    } catch (err) {
      throw this.wrap(err, 'list', prefix || '/', o?.signal);
    }
  }

  async get(key: string, o?: { signal?: AbortSignal }): Promise<NodeJS.ReadableStream> {
    const Key = this.fullKey(key);
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }), { abortSignal: o?.signal });
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

  async put(key: string, file: string, size: number, o?: PutOptions): Promise<void> {
    const Key = this.fullKey(key);
    // Progress is reported as deltas past the furthest point reached, so a retry does not count twice.
    let furthest = 0;
    const progress = (loaded: number) => {
      if (loaded > furthest) {
        o?.onBytes?.(loaded - furthest);
        furthest = loaded;
      }
    };
    try {
      if (size >= this.o.multipart_threshold && size > this.o.part_size) {
        await this.putMultipart(Key, file, size, progress, o?.signal, o?.sha256);
      } else {
        await retrying(this.o.max_attempts, o?.signal, () => this.putStream(Key, file, size, progress, o?.signal, o?.sha256));
      }
    } catch (err) {
      throw this.wrap(err, 'put', key, o?.signal);
    }
  }

  /** One PutObject that streams the file (the SDK cannot replay it; `retrying` re-opens it). */
  private async putStream(Key: string, file: string, size: number, progress: (n: number) => void, signal?: AbortSignal, sha256?: string): Promise<void> {
    if (size === 0) {
      if (sha256) checkSha256(Buffer.alloc(0), sha256, Key);
      await this.client.send(new PutObjectCommand({ ...this.writeParams(Key), Body: Buffer.alloc(0), ContentLength: 0 }), { abortSignal: signal });
      return;
    }
    if (sha256) await checkFileSha256(file, sha256, Key);
    const src = createReadStream(file, { start: 0, end: size - 1 });
    let sent = 0;
    const body = src.pipe(new Transform({
      transform(chunk: Buffer, _enc, cb) {
        sent += chunk.length;
        progress(sent);
        cb(null, chunk);
      },
    }));
    src.on('error', (e: Error) => body.destroy(e));
    try {
      await this.client.send(new PutObjectCommand({ ...this.writeParams(Key), Body: body, ContentLength: size }), { abortSignal: signal });
    } finally {
      src.destroy();
      body.destroy();
    }
  }

  /** lib-storage Upload: parts are buffered (so the SDK retries each), aborted on error or signal. */
  private async putMultipart(Key: string, file: string, size: number, progress: (n: number) => void, signal?: AbortSignal, sha256?: string): Promise<void> {
    signal?.throwIfAborted();
    const raw = createReadStream(file, { start: 0, end: size - 1 });
    const gate = sha256 ? sha256Gate(sha256, Key) : null;
    if (gate) raw.on('error', (e) => gate.destroy(e));
    const src = gate ? raw.pipe(gate) : raw;
    const abortController = new AbortController();
    // a corrupt body stops the upload (lib-storage then aborts the multipart upload: no object)
    gate?.on('error', () => abortController.abort());
    const onAbort = () => abortController.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const upload = new Upload({
      client: this.client,
      params: { ...this.writeParams(Key), Body: src, ContentLength: size },
      partSize: this.o.part_size,
      queueSize: this.o.jobs,
      // false = call AbortMultipartUpload on failure, so no billed orphan parts stay behind.
      leavePartsOnError: false,
      abortController,
    });
    upload.on('httpUploadProgress', (p) => progress(p.loaded ?? 0));
    try {
      await upload.done();
    } catch (err) {
      if (gate?.failure) throw gate.failure;
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      raw.destroy();
      src.destroy();
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
      // A Buffer body is replayable, so the SDK's own retries cover this one.
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
 * Run `attempt` up to `maxAttempts` times while it fails transiently, sleeping with capped
 * exponential backoff and full jitter (base 100 ms, cap 20 s, as the SDK's standard mode).
 */
export async function retrying<T>(maxAttempts: number, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    signal?.throwIfAborted();
    try {
      return await attempt();
    } catch (err) {
      if (n >= maxAttempts || signal?.aborted || !isTransient(err)) throw err;
      const delay = Math.random() * Math.min(20_000, 100 * 2 ** (n - 1));
      await new Promise<void>((resolve) => setTimeout(resolve, delay));
    }
  }
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

