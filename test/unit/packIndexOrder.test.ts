/**
 * PackIndex.parse's overlap check walks entries in offset order: a native sort of offset × count + i
 * where that is exact (below 2^53), a comparator sort for huge pack sizes. Both must accept entries whose
 * offset order differs from their oid order, and both must refuse overlapping entries.
 */
import { describe, expect, it } from 'vitest';
import { isTroveError } from '../../src/core/errors.js';
import { hashBytes } from '../../src/core/oid.js';
import { ENTRY_HEADER_SIZE, PACK_HEADER_SIZE } from '../../src/core/store/pack.js';
import { encodePackIndex, PackIndex, type PackIndexEntry } from '../../src/core/store/packIndex.js';

const PACK_ID = 'ab'.repeat(32);

/** n entries of `len` bytes laid out back to back, listed in a shuffled (not offset) order */
function entries(n: number, len: number, gap = 0): PackIndexEntry[] {
  const out: PackIndexEntry[] = [];
  let at = PACK_HEADER_SIZE;
  for (let i = 0; i < n; i++) {
    out.push({ oid: hashBytes(`entry ${i}`), kind: 'blob', offset: at + ENTRY_HEADER_SIZE, length: len });
    at += ENTRY_HEADER_SIZE + len + gap;
  }
  return out.reverse();
}

function overlapError(buf: Buffer): string {
  try {
    PackIndex.parse(buf, 'x.idx');
  } catch (err) {
    if (isTroveError(err) && err.code === 'INTEGRITY') return err.message;
    throw err;
  }
  return 'accepted';
}

describe('pack index overlap check', () => {
  for (const [label, packSize] of [['native sort (small pack)', 1 << 20], ['comparator sort (pack size near 2^53)', 2 ** 52]] as const) {
    it(`${label}: accepts entries in any offset order, refuses one that overlaps`, () => {
      const ok = entries(500, 100);
      const index = PackIndex.parse(encodePackIndex(PACK_ID, packSize, ok), 'x.idx');
      expect(index.count).toBe(500);
      for (const e of ok) expect(index.find(e.oid)?.offset).toBe(e.offset);
      // one entry one byte too long runs into the next one's header
      const bad = entries(500, 100);
      bad[250] = { ...bad[250], length: bad[250].length + 1 };
      expect(overlapError(encodePackIndex(PACK_ID, packSize, bad))).toMatch(/overlaps/);
      // two entries at the same offset
      const same = entries(500, 100, 10);
      same[10] = { ...same[10], offset: same[11].offset };
      expect(overlapError(encodePackIndex(PACK_ID, packSize, same))).toMatch(/overlaps/);
    });
  }
});
