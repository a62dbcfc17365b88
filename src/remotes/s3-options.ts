import { TroveError } from '../core/errors.js';

/**
 * S3 remote options: parsed and checked without loading the AWS SDK, so that a bad option is a
 * CONFIG error at `remote add` and a folder remote never pays for the SDK (~100 ms of loading).
 */
const MiB = 1024 * 1024;

/** Options of an s3 remote, as written in trove config (all optional). */
export interface S3RemoteOptions {
  endpoint?: string;
  region?: string;
  profile?: string;
  path_style?: boolean;
  sse?: 'AES256' | 'aws:kms';
  sse_kms_key_id?: string;
  storage_class?: string;
  /** Multipart part size in bytes (default 8 MiB; S3's minimum is 5 MiB). */
  part_size?: number;
  /** Files of at least this many bytes go multipart (default: part_size). */
  multipart_threshold?: number;
  /** Parts in flight per multipart upload (default 4). */
  jobs?: number;
  /** Attempts per request, including the first (default 8). */
  max_attempts?: number;
  retry_mode?: 'standard' | 'adaptive';
}

const KNOWN = new Set(['url', 'endpoint', 'region', 'profile', 'path_style', 'sse', 'sse_kms_key_id', 'storage_class',
  'part_size', 'multipart_threshold', 'jobs', 'max_attempts', 'retry_mode']);
const SECRET_KEYS = /secret|password|token|access_key|credential/i;

export type ParsedS3Options = Required<Pick<S3RemoteOptions, 'part_size' | 'multipart_threshold' | 'jobs' | 'max_attempts'>> & S3RemoteOptions;

/** Parse and check the options object from trove config. */
export function parseS3Options(name: string, raw: Record<string, unknown>): ParsedS3Options {
  const bad = (field: string, why: string) =>
    new TroveError('CONFIG', `s3 remote "${name}": option ${field} ${why}`);
  for (const k of Object.keys(raw)) {
    if (SECRET_KEYS.test(k)) {
      throw new TroveError('CONFIG', `s3 remote "${name}": option ${k} looks like a credential; trove never reads credentials from its config`,
        'remove it and use the AWS default chain: AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY env vars, ~/.aws/credentials, SSO or an instance role');
    }
    if (!KNOWN.has(k)) throw bad(k, `is not known (known: ${[...KNOWN].filter((x) => x !== 'url').join(', ')})`);
  }
  const str = (k: string): string | undefined => {
    const v = raw[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || v === '') throw bad(k, 'must be a non-empty string');
    return v;
  };
  const bool = (k: string): boolean | undefined => {
    const v = raw[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    throw bad(k, 'must be true or false');
  };
  const int = (k: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined => {
    const v = raw[k];
    if (v === undefined || v === null) return undefined;
    const n = typeof v === 'number' ? v : typeof v === 'string' ? parseSize(v) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) throw bad(k, `must be an integer from ${min} to ${max} (got ${String(v)})`);
    return n;
  };
  const sse = str('sse');
  if (sse !== undefined && sse !== 'AES256' && sse !== 'aws:kms') throw bad('sse', 'must be AES256 or aws:kms');
  const retry_mode = str('retry_mode');
  if (retry_mode !== undefined && retry_mode !== 'standard' && retry_mode !== 'adaptive') throw bad('retry_mode', 'must be standard or adaptive');
  const endpoint = str('endpoint');
  if (endpoint !== undefined) {
    let u: URL;
    try {
      u = new URL(endpoint);
    } catch {
      throw bad('endpoint', 'must be a url like https://s3.example.com');
    }
    if (u.username || u.password) throw bad('endpoint', 'must not contain credentials');
  }
  const part_size = int('part_size', 5 * MiB, 5 * 1024 * MiB) ?? 8 * MiB;
  return {
    endpoint,
    region: str('region'),
    profile: str('profile'),
    path_style: bool('path_style'),
    sse: sse as S3RemoteOptions['sse'],
    sse_kms_key_id: str('sse_kms_key_id'),
    storage_class: str('storage_class'),
    part_size,
    multipart_threshold: int('multipart_threshold', 0) ?? part_size,
    jobs: int('jobs', 1, 64) ?? 4,
    max_attempts: int('max_attempts', 1, 50) ?? 8,
    retry_mode: retry_mode as S3RemoteOptions['retry_mode'],
  };
}

/** '8MiB' → 8388608, '5MB' → 5000000, '1024' → 1024. */
function parseSize(s: string): number {
  const m = /^\s*(\d+)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$/i.exec(s);
  if (!m) return NaN;
  const unit = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: MiB, gb: 1e9, gib: 1024 * MiB }[(m[2] ?? 'b').toLowerCase()] ?? NaN;
  return Number(m[1]) * unit;
}
