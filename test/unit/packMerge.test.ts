import { describe, expect, it } from 'vitest';
import { DEFAULT_MERGE, MERGE_MIN_PACKS, MERGE_SMALL_BYTES, planMerge } from '../../src/core/store/packMerge.js';
import { PACK_TARGET_BYTES } from '../../src/core/store/packed.js';

const MiB = 1 << 20;
const packs = (...sizes: number[]) => sizes.map((bytes, i) => ({ id: `p${String(i).padStart(2, '0')}`, bytes }));

describe('planMerge: which small packs gc merges', () => {
  it('the thresholds written down: small is below 8 MiB, merging starts at 4 small packs', () => {
    expect(MERGE_SMALL_BYTES).toBe(8 * MiB);
    expect(MERGE_MIN_PACKS).toBe(4);
    expect(DEFAULT_MERGE.targetBytes).toBe(PACK_TARGET_BYTES);
  });

  it('fewer small packs than the minimum: nothing; large packs never count', () => {
    expect(planMerge(packs(1000, 2000, 3000))).toEqual([]);
    expect(planMerge(packs(1000, 2000, 3000, 8 * MiB, 30 * MiB))).toEqual([]);
  });

  it('enough small packs: one group, smallest first, large ones left out', () => {
    expect(planMerge(packs(3000, 1000, 20 * MiB, 2000, 4000))).toEqual([['p01', 'p03', 'p00', 'p04']]);
  });

  it('groups stay within the target size; a group of one is not rewritten', () => {
    const p = { smallBytes: 100, minPacks: 2, targetBytes: 100 };
    // smallest first: 30+60 fit in 100; 70 and 90 would each be alone, so they stay as they are
    expect(planMerge(packs(60, 30, 70, 90), p)).toEqual([['p01', 'p00']]);
    // 10+20+30+40 = 100 fit; 50 alone stays
    expect(planMerge(packs(10, 20, 30, 40, 50), p)).toEqual([['p00', 'p01', 'p02', 'p03']]);
    // within 110: 45+45, then 55+55: two groups of two
    expect(planMerge(packs(45, 55, 45, 55), { ...p, targetBytes: 110 })).toEqual([['p00', 'p02'], ['p01', 'p03']]);
  });
});
