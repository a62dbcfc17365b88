import { describe, expect, it } from 'vitest';
import { TroveError } from '../../src/core/errors.js';
import { hashBytes } from '../../src/core/oid.js';
import { compareNames, parseTree, serializeTree } from '../../src/core/tree.js';
import { validateRelPath, repoRelative } from '../../src/core/paths.js';

const OID = 'sha256:' + 'b'.repeat(64);

describe('tree', () => {
  it('serializes canonically: sorted by name bytes, fixed key order, no whitespace', () => {
    const text = serializeTree([
      { name: 'b.csv', type: 'file', oid: OID, size: 2 },
      { name: 'B.csv', type: 'file', oid: OID, size: 1, exec: true },
      { name: 'é', type: 'dir', oid: OID, size: 5, files: 3 },
      { name: 'a', type: 'dir', oid: OID, size: 0, files: 0 },
    ]);
    expect(text).toBe(
      `{"version":1,"entries":[{"name":"B.csv","type":"file","oid":"${OID}","size":1,"exec":true},` +
        `{"name":"a","type":"dir","oid":"${OID}","size":0,"files":0},{"name":"b.csv","type":"file","oid":"${OID}","size":2},` +
        `{"name":"é","type":"dir","oid":"${OID}","size":5,"files":3}]}`,
    );
    // same entries in any order give the same oid
    const again = serializeTree([
      { name: 'a', type: 'dir', oid: OID, size: 0, files: 0 },
      { name: 'é', type: 'dir', oid: OID, size: 5, files: 3 },
      { name: 'B.csv', type: 'file', oid: OID, size: 1, exec: true },
      { name: 'b.csv', type: 'file', oid: OID, size: 2 },
    ]);
    expect(hashBytes(again)).toBe(hashBytes(text));
    expect(parseTree(text, 't').entries.map((e) => e.name)).toEqual(['B.csv', 'a', 'b.csv', 'é']);
  });

  it('sorts by UTF-8 bytes, not UTF-16 code units', () => {
    // U+FF61 (EF BD A1) sorts before U+1F600 (F0 9F 98 80) in UTF-8; UTF-16 order is the reverse
    expect(compareNames('\uFF61', '\u{1F600}')).toBeLessThan(0);
  });

  const entry = (name: unknown, extra: Record<string, unknown> = {}) => JSON.stringify({ version: 1, entries: [{ name, type: 'file', oid: OID, size: 1, ...extra }] });
  it.each([
    ['..', entry('..')],
    ['.', entry('.')],
    ['a/b', entry('a/b')],
    ['NUL', entry('a\0b')],
    ['empty', entry('')],
    ['number name', entry(5)],
    ['bad type', entry('x', { type: 'link' })],
    ['bad oid', entry('x', { oid: 'sha256:zz' })],
    ['negative size', entry('x', { size: -5 })],
    ['unsorted', JSON.stringify({ version: 1, entries: [{ name: 'b', type: 'file', oid: OID, size: 1 }, { name: 'a', type: 'file', oid: OID, size: 1 }] })],
    ['duplicate', JSON.stringify({ version: 1, entries: [{ name: 'a', type: 'file', oid: OID, size: 1 }, { name: 'a', type: 'file', oid: OID, size: 1 }] })],
    ['version 2', JSON.stringify({ version: 2, entries: [] })],
    ['not json', '{"version":1,'],
  ])('rejects a hostile tree: %s', (_n, text) => {
    let code = '';
    try {
      parseTree(text, 'data');
    } catch (e) {
      code = (e as TroveError).code;
    }
    expect(code).toBe('BAD_TREE');
  });
});

describe('paths', () => {
  it.each(['a', 'a/b', 'data set/ünï cödé', '-leading-dash', 'a..b'])('accepts %s', (p) => {
    expect(validateRelPath(p, 'x')).toBe(p);
  });
  it.each(['', '/abs', '../x', 'a/../b', 'a//b', './a', 'a/', 'a\\b', 'C:/x', 'a\0b'])('rejects %j', (p) => {
    expect(() => validateRelPath(p, 'x')).toThrow(TroveError);
  });
  it('maps user paths into the repo and refuses ones outside it', () => {
    expect(repoRelative('/r', '/r/sub', '../data/')).toBe('data');
    expect(repoRelative('/r', '/r', '/r/x/y')).toBe('x/y');
    expect(() => repoRelative('/r', '/r', '../etc')).toThrow(/outside/);
    expect(() => repoRelative('/r', '/r', '/etc/passwd')).toThrow(/outside/);
  });
});
