import { describe, expect, it } from 'vitest';
import { TroveError } from '../../src/core/errors.js';
import { parsePointer, serializePointer } from '../../src/core/pointer.js';

const OID = 'sha256:' + 'a'.repeat(64);
const good = (extra = '') => `version: 1\npath: data\ntype: dir\noid: ${OID}\nsize: 10\nfiles: 2\n${extra}`;

function codeOf(fn: () => unknown): { code: string; field?: unknown; message: string } {
  try {
    fn();
  } catch (e) {
    if (e instanceof TroveError) return { code: e.code, field: e.data?.field, message: e.message };
    throw e;
  }
  throw new Error('did not throw');
}

describe('pointer', () => {
  it('parses a valid pointer and round-trips it', () => {
    const p = parsePointer(good(), 'data.trove');
    expect(p).toMatchObject({ version: 1, path: 'data', type: 'dir', oid: OID, size: 10, files: 2 });
    expect(parsePointer(serializePointer(p), 'x.trove')).toEqual(p);
  });

  it('keeps unknown keys when rewritten', () => {
    const p = parsePointer(good('desc: train split\nmeta:\n  owner: ana\n'), 'data.trove');
    const text = serializePointer({ ...p, size: 11 });
    expect(text).toContain('desc: train split');
    expect(parsePointer(text, 'x').extra).toEqual({ desc: 'train split', meta: { owner: 'ana' } });
  });

  const file = (f: string) => `version: 1\npath: m.pkl\ntype: file\noid: ${OID}\nsize: 3\n${f}`;
  it.each([
    ['path: ../x', good().replace('path: data', 'path: ../x'), 'path'],
    ['absolute path', good().replace('path: data', 'path: /etc/passwd'), 'path'],
    ['path with NUL', good().replace('path: data', 'path: "da\\0ta"'), 'path'],
    ['path a/../../b', good().replace('path: data', 'path: a/../../b'), 'path'],
    ['path with backslash', good().replace('path: data', 'path: "..\\\\x"'), 'path'],
    ['empty path', good().replace('path: data', 'path: ""'), 'path'],
    ['bad oid', good().replace(OID, 'sha256:xyz'), 'oid'],
    ['md5 oid', good().replace(OID, 'md5:' + 'a'.repeat(32)), 'oid'],
    ['uppercase oid', good().replace(OID, OID.toUpperCase().replace('SHA256', 'sha256')), 'oid'],
    ['type banana', good().replace('type: dir', 'type: banana'), 'type'],
    ['negative size', good().replace('size: 10', 'size: -1'), 'size'],
    ['huge size', good().replace('size: 10', 'size: 1e300'), 'size'],
    ['fractional size', good().replace('size: 10', 'size: 1.5'), 'size'],
    ['string size', good().replace('size: 10', 'size: "10"'), 'size'],
    ['unknown version', good().replace('version: 1', 'version: 2'), 'version'],
    ['missing version', good().replace('version: 1\n', ''), 'version'],
    ['files on a file', file('files: 3\n'), 'files'],
    ['exec not boolean', file('exec: yes please\n'), 'exec'],
    ['a list', '- a\n- b\n', '(file)'],
    ['not yaml', 'version: [1\n', '(file)'],
    ['duplicate keys', good('path: other\n'), '(file)'],
  ])('rejects %s with BAD_POINTER naming the field', (_name, text, field) => {
    const r = codeOf(() => parsePointer(text, 'data.trove'));
    expect(r.code).toBe('BAD_POINTER');
    expect(r.field).toBe(field);
    expect(r.message).toContain('data.trove');
  });

  it('rejects a YAML alias bomb without expanding it', () => {
    const bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n' + good();
    expect(() => parsePointer(bomb, 'bomb.trove')).toThrow();
  });

  it('rejects a file too large to be a pointer', () => {
    expect(codeOf(() => parsePointer(good('pad: "' + 'x'.repeat(70000) + '"\n'), 'big.trove')).code).toBe('BAD_POINTER');
  });
});
