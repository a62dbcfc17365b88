/**
 * The storage interface that every remote backend implements (see README.md in this folder).
 *
 * A remote is a flat key → bytes store. Keys are slash-separated, relative and normalized, e.g.
 * `objects/sha256/ab/cdef…` or `runs/<id>.json`. Backends know nothing about pointers, trees or
 * workspaces; the transfer engine in core decides what to send.
 */
import { TroveError } from '../core/errors.js';

export interface RemoteEntry {
  key: string;
  size: number;
  /** Last modification time (ms since the epoch) when the backend knows it; gc's grace period uses it. */
  mtimeMs?: number;
}

/**
 * A body that can be read again from its start: called once per attempt (a retry after a reset
 * re-opens it). A local file, an object inside a local pack, or a pack being built all fit. Small
 * bodies may come as a Buffer (no stream objects per file: streams for each of 100k small objects
 * made a push peak at 500 MB).
 * @example const open = () => createReadStream(file)
 */
export type OpenBody = () => NodeJS.ReadableStream | Buffer | Promise<NodeJS.ReadableStream | Buffer>;

/**
 * Reads a body of at most `limit` bytes into memory; more than `limit` is INTEGRITY (`what` names it).
 * For small puts, which then send one buffer (hashed, replayable, no stream per object).
 */
export async function bodyToBuffer(body: NodeJS.ReadableStream | Buffer, limit: number, what: string): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body;
  const parts: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of body as AsyncIterable<Buffer>) {
      n += c.length;
      if (n > limit) throw new TroveError('INTEGRITY', `${what}: the body is longer than the ${limit} bytes expected; it changed while it was being uploaded`);
      parts.push(c);
    }
  } finally {
    (body as { destroy?: () => void }).destroy?.();
  }
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

/** Bytes `start` to `end` of an object, both inclusive (as in an HTTP Range header). */
export interface ByteRange {
  start: number;
  end: number;
}

export interface PutOptions {
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
  /** expected SHA-256 (hex) of the bytes: checked while reading, before the object is visible */
  sha256?: string;
}

export interface Remote {
  /** Config name, e.g. "origin". */
  readonly name: string;
  /** Display url; never contains credentials. */
  readonly url: string;
  /**
   * How many times a request to this remote should be attempted in all (the S3 option
   * `max_attempts`); read by the one retry policy (retry.ts).
   */
  readonly attempts: number;
  /** Size of the object at `key`, or null when there is none. */
  stat(key: string, o?: { signal?: AbortSignal }): Promise<{ size: number } | null>;
  /**
   * Every key that starts with `prefix` (a plain string prefix, as in S3; '' lists everything),
   * paginated internally. Memory stays flat however many keys there are.
   */
  list(prefix: string, o?: { signal?: AbortSignal }): AsyncIterable<RemoteEntry>;
  /**
   * A stream of the object's bytes (with `range`, of those bytes only); throws TroveError('NOT_FOUND')
   * if there is none. Backends do not retry: a failed request is a TroveError with `retryable` set
   * when another attempt may succeed, and a body that dies midway surfaces as a stream error; the
   * caller retries the whole get (it verifies the hash anyway). The caller must consume or destroy
   * the stream.
   */
  get(key: string, o?: { signal?: AbortSignal; range?: ByteRange }): Promise<NodeJS.ReadableStream>;
  /**
   * Upload `size` bytes read from `open()`. Atomic: a reader sees the old object, no object, or
   * the complete new one, never a partial one. `onBytes(n)` reports newly sent bytes (deltas; a
   * retried attempt does not report the same bytes twice). With `sha256` (hex), the bytes are hashed
   * while they are read and a mismatch fails the put with INTEGRITY before the object becomes visible.
   * A body that is not `size` bytes is INTEGRITY too. A retryable failure may be retried by calling
   * put again: `open` is called once per call (per part of a multipart upload at most once).
   */
  put(
    key: string,
    open: OpenBody,
    size: number,
    o?: PutOptions,
  ): Promise<void>;
  /** Small things (run records); atomic like put. */
  putBytes(key: string, body: Buffer | string, o?: { signal?: AbortSignal }): Promise<void>;
  /** Delete keys; missing keys are fine. */
  delete(keys: string[]): Promise<void>;
  /** Release sockets and handles. The remote must not be used afterwards. */
  close(): Promise<void>;
}

/**
 * Check that `key` is a relative, normalized, slash-separated key and return it unchanged.
 * Every backend calls this before touching storage, so a key taken from a pointer, tree or run
 * record can never address anything outside the remote's root.
 *
 * @example validateKey('objects/sha256/ab/cdef') // → 'objects/sha256/ab/cdef'
 * @example validateKey('../x')                   // throws TroveError('REMOTE')
 */
export function validateKey(key: string): string {
  const why = keyProblem(key, false);
  if (why) throw new TroveError('REMOTE', `invalid remote key ${JSON.stringify(key)}: ${why}`);
  return key;
}

/**
 * Like validateKey, for a listing prefix: '' (everything) and a trailing '/' are allowed.
 * @example validatePrefix('objects/') // → 'objects/'
 */
export function validatePrefix(prefix: string): string {
  if (prefix === '') return prefix;
  const why = keyProblem(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix, true);
  if (why) throw new TroveError('REMOTE', `invalid remote prefix ${JSON.stringify(prefix)}: ${why}`);
  return prefix;
}

function keyProblem(key: string, isPrefix: boolean): string | undefined {
  if (typeof key !== 'string' || key === '') return isPrefix ? 'empty segment' : 'empty key';
  if (key.startsWith('/')) return 'must be relative (leading "/")';
  if (key.includes('\\')) return 'backslash is not allowed';
  // Control characters (NUL above all) break file systems and S3 listings alike.
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(key)) return 'control characters are not allowed';
  for (const seg of key.split('/')) {
    if (seg === '') return 'empty segment ("//" or trailing "/")';
    if (seg === '.' || seg === '..') return `"${seg}" segments are not allowed`;
  }
  return undefined;
}
