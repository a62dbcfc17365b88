/**
 * Opening remotes by url. Relative folder paths are the caller's to resolve (against the repo root),
 * because only the caller knows what they are relative to.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TroveError } from '../core/errors.js';
import { FsRemote } from './fs.js';
import type { ByteRange, OpenBody, PutOptions, Remote, RemoteEntry } from './remote.js';
import { parseS3Options } from './s3-options.js';

export type { ByteRange, OpenBody, PutOptions, Remote, RemoteEntry } from './remote.js';
export { DEFAULT_ATTEMPTS, isRetryable, withRetry } from './retry.js';
export { validateKey, validatePrefix } from './remote.js';
export { FsRemote } from './fs.js';
export type { S3RemoteOptions } from './s3-options.js';
export { redactSecrets } from './redact.js';

export type RemoteLocation =
  | { kind: 'fs'; root: string }
  | { kind: 's3'; bucket: string; prefix: string };

const SUPPORTED = 's3://bucket/prefix, file:///abs/path, or an absolute folder path';

/**
 * Parse a remote url.
 * @example parseRemoteUrl('s3://bkt/team/data') // → { kind: 's3', bucket: 'bkt', prefix: 'team/data' }
 * @example parseRemoteUrl('/mnt/share/trove')   // → { kind: 'fs', root: '/mnt/share/trove' }
 */
export function parseRemoteUrl(url: string): RemoteLocation {
  if (typeof url !== 'string' || url.trim() === '') {
    throw new TroveError('CONFIG', 'remote url is empty', `use ${SUPPORTED}`);
  }
  if (url.startsWith('s3://')) {
    const rest = url.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    // Never echo the url here: it could hold credentials (s3://KEY:SECRET@bucket).
    if (bucket.includes('@') || bucket.includes(':')) {
      throw new TroveError('CONFIG', 'remote url must not contain credentials or a port after s3://',
        'use s3://bucket/prefix; put the endpoint in the remote\'s `endpoint` option and credentials in the AWS default chain');
    }
    if (!/^[a-z0-9][a-z0-9.\-_]{0,254}$/i.test(bucket)) {
      throw new TroveError('CONFIG', `remote url ${url} has no valid bucket name`, 'use s3://bucket/prefix');
    }
    const prefix = (slash < 0 ? '' : rest.slice(slash + 1)).replace(/^\/+|\/+$/g, '');
    if (prefix.split('/').some((s) => s === '.' || s === '..' || (prefix !== '' && s === '')) || prefix.includes('\\')) {
      throw new TroveError('CONFIG', `remote url ${url} has an invalid prefix`, 'use s3://bucket/some/prefix without "." or ".." segments');
    }
    return { kind: 's3', bucket, prefix };
  }
  if (url.startsWith('file:')) {
    let root: string;
    try {
      root = fileURLToPath(url);
    } catch (err) {
      throw new TroveError('CONFIG', `remote url ${url} is not a valid file url`, 'use file:///abs/path', { cause: err });
    }
    return { kind: 'fs', root: path.resolve(root) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    const scheme = url.slice(0, url.indexOf(':'));
    throw new TroveError('CONFIG', `remote url scheme "${scheme}:" is not supported`, `use ${SUPPORTED}`);
  }
  if (!path.isAbsolute(url)) {
    throw new TroveError('CONFIG', `remote path ${url} is relative; resolve it against the repository root before opening it`,
      `use ${SUPPORTED}`);
  }
  return { kind: 'fs', root: path.resolve(url) };
}

/**
 * Open the remote named `name` at `url` with its config `options`.
 * @example const r = openRemote('origin', 's3://bkt/data', { region: 'eu-west-1', part_size: 16 * 1024 * 1024 })
 */
export function openRemote(name: string, url: string, options: Record<string, unknown> = {}): Remote {
  const loc = parseRemoteUrl(url);
  if (loc.kind === 's3') return new LazyS3Remote(name, loc.bucket, loc.prefix, options);
  const unknown = Object.keys(options).filter((k) => k !== 'url');
  if (unknown.length > 0) {
    throw new TroveError('CONFIG', `folder remote "${name}": option ${unknown[0]} is not known (folder remotes take no options)`);
  }
  return new FsRemote(name, loc.root);
}

/**
 * An S3 remote whose AWS SDK is loaded on first use: the options are checked now (a bad one is a
 * CONFIG error at once), the ~100 ms of SDK loading is paid only by commands that talk to S3.
 */
class LazyS3Remote implements Remote {
  readonly url: string;
  readonly attempts: number;
  private impl?: Promise<Remote>;

  constructor(readonly name: string, private readonly bucket: string, private readonly prefix: string, private readonly options: Record<string, unknown>) {
    this.attempts = parseS3Options(name, options).max_attempts;
    this.url = `s3://${bucket}${prefix ? `/${prefix}` : ''}`;
  }

  private load(): Promise<Remote> {
    // The SDK warns on every process below Node 22 that its later releases will need Node 22;
    // package-lock pins a release that runs on 20, so the warning is only noise in trove's output.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    return (this.impl ??= import('./s3.js').then((m) => new m.S3Remote(this.name, this.bucket, this.prefix, this.options)));
  }

  async stat(key: string, o?: { signal?: AbortSignal }) {
    return (await this.load()).stat(key, o);
  }
  async *list(prefix: string, o?: { signal?: AbortSignal }): AsyncIterable<RemoteEntry> {
    yield* (await this.load()).list(prefix, o);
  }
  async get(key: string, o?: { signal?: AbortSignal; range?: ByteRange }) {
    return (await this.load()).get(key, o);
  }
  async put(key: string, open: OpenBody, size: number, o?: PutOptions) {
    return (await this.load()).put(key, open, size, o);
  }
  async putBytes(key: string, body: Buffer | string, o?: { signal?: AbortSignal }) {
    return (await this.load()).putBytes(key, body, o);
  }
  async delete(keys: string[]) {
    return (await this.load()).delete(keys);
  }
  async close() {
    if (this.impl) await (await this.impl).close();
  }
}
