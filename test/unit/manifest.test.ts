import { describe, expect, it } from 'vitest';
import { isTroveError } from '../../src/core/errors.js';
import { hashBytes, type Oid } from '../../src/core/oid.js';
import { DEFAULT_CHUNKING } from '../../src/core/store/chunker.js';
import { makeManifest, MAX_MANIFEST_BYTES, parseManifest, serializeManifest } from '../../src/core/store/manifest.js';

const fileOid = hashBytes('the whole file');
const c1 = hashBytes('chunk one');
const c2 = hashBytes('chunk two');

function good() {
  return makeManifest(fileOid, [{ oid: c1, size: 300 }, { oid: c2, size: 45 }], DEFAULT_CHUNKING);
}

function refused(buf: Buffer | string, expected?: Oid): string {
  try {
    parseManifest(Buffer.from(buf), 'cache manifest for x', expected);
  } catch (err) {
    expect(isTroveError(err, 'INTEGRITY')).toBe(true);
    expect((err as Error).message).toContain('cache manifest for x');
    return (err as Error).message;
  }
  throw new Error('accepted');
}

describe('chunk manifest', () => {
  it('round-trips through canonical bytes (same manifest, same bytes)', () => {
    const m = good();
    const bytes = serializeManifest(m);
    expect(m.size).toBe(345);
    expect(parseManifest(bytes, 'm', fileOid)).toEqual(m);
    expect(serializeManifest(parseManifest(bytes, 'm'))).toEqual(bytes);
    expect(JSON.parse(bytes.toString())).toMatchObject({ version: 1, oid: fileOid, size: 345, chunks: [[c1, 300], [c2, 45]] });
  });

  it('refuses an unknown version, naming it', () => {
    const v = JSON.parse(serializeManifest(good()).toString());
    v.version = 2;
    expect(refused(JSON.stringify(v))).toMatch(/version 2/);
  });

  it('refuses hostile manifests', () => {
    const base = JSON.parse(serializeManifest(good()).toString());
    const variants: Record<string, unknown>[] = [
      { ...base, version: undefined },
      { ...base, version: '1' },
      { ...base, oid: 'sha256:xyz' },
      { ...base, oid: c1.toUpperCase() },
      { ...base, size: -1 },
      { ...base, size: 1.5 },
      { ...base, size: 346 },
      { ...base, size: 344 },
      { ...base, size: 2 ** 60 },
      { ...base, chunks: 'nope' },
      { ...base, chunks: [[c1, 345, 'extra']] },
      { ...base, chunks: [[c1, 0], [c2, 345]] },
      { ...base, chunks: [[c1, -300], [c2, 645]] },
      { ...base, chunks: [[c1, '300'], [c2, 45]] },
      { ...base, chunks: [['../../etc/passwd', 300], [c2, 45]] },
      { ...base, chunks: [{ oid: c1, size: 345 }] },
      { ...base, chunks: [[c1, 2 ** 40]], size: 2 ** 40 },
      { ...base, chunking: undefined },
      { ...base, chunking: { min: 'a', avg: 1, max: 2 } },
    ];
    for (const v of variants) refused(JSON.stringify(v));
    for (const raw of ['', 'null', '[]', '"x"', '{"version":1', '\u0000\u0001binary']) refused(raw);
    refused(Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20));
  });

  it('refuses a manifest for another file than the one asked for', () => {
    expect(refused(serializeManifest(good()), c1)).toMatch(/describes/);
  });

  it('an empty file has an empty chunk list', () => {
    const m = makeManifest(hashBytes(''), [], DEFAULT_CHUNKING);
    expect(parseManifest(serializeManifest(m), 'm')).toEqual(m);
  });
});
