import { describe, expect, it } from 'vitest';
import { isTroveError } from '../../src/core/errors.js';
import { openRemote, parseRemoteUrl } from '../../src/remotes/index.js';
import { redactSecrets } from '../../src/remotes/redact.js';
import { validateKey, validatePrefix } from '../../src/remotes/remote.js';
import { isNotFound, isTransient } from '../../src/remotes/s3.js';

const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return isTroveError(e) ? e.code : `not a TroveError: ${String(e)}`;
  }
  return 'no error';
};

describe('validateKey', () => {
  it.each(['objects/sha256/ab/cdef', 'runs/01HX.json', 'a', 'a.b/c..d/.e'])('accepts %j', (k) => {
    expect(validateKey(k)).toBe(k);
  });
  it.each(['', '/abs', '../x', 'a/../../b', 'a/./b', '.', '..', 'a//b', 'a/', 'a\\b', 'a\0b', 'a\nb'])('rejects %j', (k) => {
    expect(codeOf(() => validateKey(k))).toBe('REMOTE');
  });
  it('prefixes may be empty or end in /', () => {
    expect(validatePrefix('')).toBe('');
    expect(validatePrefix('objects/')).toBe('objects/');
    expect(validatePrefix('objects/sha256/a')).toBe('objects/sha256/a');
    expect(codeOf(() => validatePrefix('../'))).toBe('REMOTE');
    expect(codeOf(() => validatePrefix('/x'))).toBe('REMOTE');
  });
});

describe('parseRemoteUrl', () => {
  it.each([
    ['s3://bkt', { kind: 's3', bucket: 'bkt', prefix: '' }],
    ['s3://bkt/', { kind: 's3', bucket: 'bkt', prefix: '' }],
    ['s3://my.bkt/team/data/', { kind: 's3', bucket: 'my.bkt', prefix: 'team/data' }],
    ['/mnt/share/trove', { kind: 'fs', root: '/mnt/share/trove' }],
    ['/mnt/share/../trove/', { kind: 'fs', root: '/mnt/trove' }],
    ['file:///mnt/share', { kind: 'fs', root: '/mnt/share' }],
  ])('%s', (url, want) => {
    expect(parseRemoteUrl(url)).toEqual(want);
  });
  it.each(['', 'relative/dir', './x', 'gs://bkt/x', 'http://host/x', 's3://', 's3://b/a/../c', 'file://remotehost/x'])(
    'rejects %j with CONFIG',
    (url) => {
      expect(codeOf(() => parseRemoteUrl(url))).toBe('CONFIG');
    },
  );
  it('never echoes credentials written into an s3 url', () => {
    let msg = '';
    try {
      parseRemoteUrl('s3://AKIAIOSFODNN7EXAMPLE:hunter2@bkt/x');
    } catch (e) {
      msg = `${(e as Error).message} ${(e as { hint?: string }).hint}`;
    }
    expect(msg).toMatch(/credentials/);
    expect(msg).not.toContain('hunter2');
  });
  it('says which schemes are supported and that relative paths are the caller’s job', () => {
    expect(() => parseRemoteUrl('gs://x')).toThrow(expect.objectContaining({ hint: expect.stringContaining('s3://') }));
    expect(() => parseRemoteUrl('data/remote')).toThrow(/relative/);
  });
  it('folder remotes take no options', () => {
    expect(codeOf(() => openRemote('o', '/tmp/x', { region: 'x' }))).toBe('CONFIG');
    expect(openRemote('o', '/tmp/x', { url: '/tmp/x' }).url).toBe('/tmp/x');
  });
});

describe('redactSecrets', () => {
  it.each([
    ['key AKIAIOSFODNN7EXAMPLE denied', 'key [redacted] denied'],
    ['secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY here', 'secret [redacted] here'],
    ['aws_secret_access_key = abc123', 'aws_secret_access_key = [redacted]'],
    ['{"secretAccessKey":"abc"}', '{"secretAccessKey":"[redacted]"}'],
    ['?X-Amz-Security-Token=FQoGZX&X-Amz-Signature=' + 'a'.repeat(64), '?X-Amz-Security-Token=[redacted]&X-Amz-Signature=[redacted]'],
    // Object keys and hashes stay readable.
    ['get objects/sha256/ab/' + 'c'.repeat(62) + ' failed', 'get objects/sha256/ab/' + 'c'.repeat(62) + ' failed'],
    ['sha1 ' + '0123456789abcdef0123456789abcdef01234567', 'sha1 0123456789abcdef0123456789abcdef01234567'],
  ])('%s', (input, want) => {
    expect(redactSecrets(input)).toBe(want);
  });
});

describe('S3 error classification', () => {
  it('NOT_FOUND by name or by status, but not a missing bucket', () => {
    expect(isNotFound({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } })).toBe(true);
    expect(isNotFound({ name: 'NotFound', $metadata: { httpStatusCode: 404 } })).toBe(true);
    expect(isNotFound({ name: '', $metadata: { httpStatusCode: 404 } })).toBe(true);
    expect(isNotFound({ name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } })).toBe(false);
    expect(isNotFound({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } })).toBe(false);
  });
  it('transient: 5xx, throttling, resets, timeouts; not 4xx', () => {
    expect(isTransient({ $metadata: { httpStatusCode: 503 } })).toBe(true);
    expect(isTransient({ name: 'SlowDown' })).toBe(true);
    expect(isTransient(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isTransient({ name: 'TimeoutError', message: 'timed out' })).toBe(true);
    expect(isTransient({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } })).toBe(false);
  });
});
