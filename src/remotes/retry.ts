/**
 * The one retry policy for remote requests.
 *
 * Who decides what is retried: the backend, which alone knows what its failures mean. It sets
 * `retryable: true` on the TroveError it throws for a 5xx, a throttle, a reset or a timeout (s3.ts),
 * or a transient file-system error (fs.ts). This policy retries exactly those and nothing else: a
 * missing key, a hash mismatch, an abort, a 403 or a bad config fail at once.
 *
 * Who runs it: one layer per request, never two. The S3 client is built with the SDK's own retries
 * off (maxAttempts 1), so a request is attempted `attempts` times in total, not attempts × 8:
 * - core's remote store (src/core/remoteStore.ts) wraps each whole request: stat, list, get (until
 *   the body is verified), put (re-opening the body each attempt), delete;
 * - the S3 backend wraps each part of a multipart upload (a part is a buffer, so it can be re-sent),
 *   and throws `retryable: false` once a part has used its attempts, so the caller does not start
 *   the whole upload over on top of it.
 *
 * Backoff: capped exponential with full jitter (base 100 ms, cap 5 s), as AWS advises: it spreads the
 * retries of many workers hitting the same throttled endpoint.
 */
import { Readable } from 'node:stream';
import { TroveError, isTroveError } from '../core/errors.js';
import { type Remote, bodyToBuffer } from './remote.js';

export interface RetryOptions {
  /** total attempts, the first included (default 8) */
  attempts?: number;
  baseMs?: number;
  capMs?: number;
  signal?: AbortSignal;
  /** called before each wait (tests count retries with it) */
  onRetry?: (err: TroveError, attempt: number) => void;
}

export const DEFAULT_ATTEMPTS = 8;

/** True when the backend marked this failure as worth another attempt. */
export function isRetryable(err: unknown): err is TroveError {
  return isTroveError(err) && err.retryable;
}

/**
 * Runs `fn` until it succeeds, fails with an error that is not `retryable`, or has used `attempts`.
 * @example const st = await withRetry(() => remote.stat(key), { signal })
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions = {}): Promise<T> {
  const attempts = o.attempts ?? DEFAULT_ATTEMPTS;
  for (let i = 0; ; i++) {
    o.signal?.throwIfAborted();
    try {
      return await fn(i);
    } catch (err) {
      if (!isRetryable(err) || o.signal?.aborted || i + 1 >= attempts) throw err;
      o.onRetry?.(err, i + 1);
      const cap = Math.min(o.capMs ?? 5000, (o.baseMs ?? 100) * 2 ** i);
      await new Promise((r) => setTimeout(r, Math.random() * cap));
    }
  }
}

/** The same error, no longer retryable: its attempts are used up (so no outer layer retries it again). */
export function exhausted(err: unknown): unknown {
  if (!isRetryable(err)) return err;
  return new TroveError(err.code, err.message, err.hint, { cause: err.cause, data: err.data, retryable: false });
}

/**
 * The remote as callers of small files see it (run records, MLflow registry files): every request
 * under the one policy with the remote's attempts; `get` reads the whole body (at most `limit`
 * bytes) inside the retry, so a body cut midway is retried too, and hands back a stream of it.
 * Listing is passed through: backends retry each page themselves.
 * @example const r = smallFilesRemote(remote, signal); await r.putBytes('runs/x.json', text)
 */
export function smallFilesRemote(remote: Remote, signal?: AbortSignal, limit = 64 << 20): Remote {
  const retry = <T>(fn: () => Promise<T>) => withRetry(fn, { attempts: remote.attempts, signal });
  return {
    name: remote.name,
    url: remote.url,
    attempts: remote.attempts,
    stat: (key, o) => retry(() => remote.stat(key, o)),
    list: (prefix, o) => remote.list(prefix, o),
    get: (key, o) => retry(async () => {
      const body = await remote.get(key, o);
      try {
        return Readable.from([await bodyToBuffer(body, limit, key)]);
      } catch (err) {
        if (isTroveError(err)) throw err;
        throw new TroveError('REMOTE', `remote "${remote.name}": get ${key} failed midway: ${(err as Error)?.message ?? String(err)}`, undefined, { cause: err, retryable: true });
      }
    }),
    put: (key, open, size, o) => retry(() => remote.put(key, open, size, o)),
    putBytes: (key, body, o) => retry(() => remote.putBytes(key, body, o)),
    delete: (keys) => retry(() => remote.delete(keys)),
    close: () => remote.close(),
  };
}
