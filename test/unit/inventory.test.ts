/** The remote inventory format (inventory.ts): round trip, and every malformed input refused naming the field. */
import { describe, expect, it } from 'vitest';
import { encodeInventory, parseInventory } from '../../src/core/inventory.js';
import { hashBytes, hexOf } from '../../src/core/oid.js';
import { encodePackIndex, parsePackIndex } from '../../src/core/store/packIndex.js';

const a = hashBytes('a');
const b = hashBytes('b');
const packId = 'cd'.repeat(32);
const idx = parsePackIndex(encodePackIndex(packId, 200, [{ oid: a, kind: 'blob', offset: 57, length: 1 }]), 'x.idx');

describe('inventory', () => {
  it('round-trips packs (their index bytes) and loose objects', () => {
    const buf = encodeInventory({ packs: [idx], loose: new Set([b]) }, new Date(0));
    const doc = JSON.parse(buf.toString());
    expect(doc).toMatchObject({ format: 'trove-inventory', version: 1, written: '1970-01-01T00:00:00.000Z', loose: [hexOf(b)] });
    const inv = parseInventory(buf, 'inventory.json');
    expect(inv.packs.map((p) => [p.packId, p.find(a)?.offset])).toEqual([[packId, 57]]);
    expect([...inv.loose]).toEqual([b]);
  });

  it('records the files held as manifests; an inventory without the field (an older trove) reads as "not recorded"', () => {
    const buf = encodeInventory({ packs: [idx], loose: new Set([b]), manifests: new Set([a]) }, new Date(0));
    expect(JSON.parse(buf.toString())).toMatchObject({ version: 1, manifests: [hexOf(a)] });
    expect([...parseInventory(buf, 'inventory.json').manifests!]).toEqual([a]);
    const old = encodeInventory({ packs: [idx], loose: new Set([b]) });
    expect(JSON.parse(old.toString())).not.toHaveProperty('manifests');
    expect(parseInventory(old, 'inventory.json').manifests).toBeUndefined();
  });

  it('refuses malformed input, naming the file and the field', () => {
    const good = JSON.parse(encodeInventory({ packs: [idx], loose: new Set([b]) }).toString());
    const cases: [string, unknown, RegExp][] = [
      ['not JSON', '{', /not JSON/],
      ['an array', [], /not a JSON object/],
      ['another format', { ...good, format: 'x' }, /"format"/],
      ['packs not a list', { ...good, packs: {} }, /"packs"/],
      ['loose not a list', { ...good, loose: 'x' }, /"loose"/],
      ['a bad pack id', { ...good, packs: [{ id: 'zz', idx: good.packs[0].idx }] }, /packs\[0\]\.id/],
      ['an index of another pack', { ...good, packs: [{ id: 'ef'.repeat(32), idx: good.packs[0].idx }] }, /packs\[0\].*not ef/],
      ['a pack twice', { ...good, packs: [good.packs[0], good.packs[0]] }, /listed twice/],
      ['a corrupt index', { ...good, packs: [{ id: packId, idx: Buffer.from('nope').toString('base64') }] }, /packs\[0\]/],
      ['a bad loose name', { ...good, loose: ['../etc'] }, /loose\[0\]/],
      ['manifests not a list', { ...good, manifests: 'x' }, /"manifests"/],
      ['a bad manifest name', { ...good, manifests: [hexOf(a), 'AB'] }, /manifests\[1\]/],
    ];
    for (const [what, doc, re] of cases) {
      const buf = Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc));
      expect(() => parseInventory(buf, 'remote "origin": inventory.json'), what).toThrow(re);
      expect(() => parseInventory(buf, 'remote "origin": inventory.json'), what).toThrow(/inventory\.json/);
    }
  });

  it('refuses an unknown version with an error that says so (a newer trove wrote it)', () => {
    const doc = { ...JSON.parse(encodeInventory({ packs: [], loose: new Set() }).toString()), version: 2 };
    let err: unknown;
    try {
      parseInventory(Buffer.from(JSON.stringify(doc)), 'inventory.json');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'REMOTE', data: { unknownVersion: true } });
    expect(String((err as Error).message)).toMatch(/version 2 is not supported/);
  });
});
