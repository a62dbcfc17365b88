import { describe, expect, it } from 'vitest';
import { isTroveError } from '../../src/core/errors.js';
import { CHUNK_THRESHOLD, chunkThreshold, parseChunkSetting } from '../../src/core/store/chunked.js';

describe('cache.chunk', () => {
  it.each([
    ['off', Infinity], ['OFF', Infinity], ['false', Infinity],
    ['16MiB', 16 << 20], ['64MB', 64e6], ['1GiB', 1 << 30], ['2097152', 2 << 20], [String(1 << 20), 1 << 20],
  ])('%s → %d', (v, n) => expect(parseChunkSetting(v)).toBe(n));

  it.each(['', '0', '1KiB', '1048575', '-5MiB', '1.5GiB', 'lots', '16 Mebibytes', '9'.repeat(30)])('%j is a CONFIG error', (v) => {
    let err: unknown;
    try { parseChunkSetting(v); } catch (e) { err = e; }
    expect(isTroveError(err, 'CONFIG')).toBe(true);
  });

  it('defaults: chunk from 16 MiB, off when links are the first choice, the setting wins', () => {
    expect(chunkThreshold(undefined, ['reflink', 'copy'])).toBe(CHUNK_THRESHOLD);
    expect(chunkThreshold(undefined, ['hardlink', 'copy'])).toBe(Infinity);
    expect(chunkThreshold(undefined, ['symlink'])).toBe(Infinity);
    expect(chunkThreshold('32MiB', ['hardlink'])).toBe(32 << 20);
    expect(chunkThreshold('off', ['copy'])).toBe(Infinity);
  });
});
