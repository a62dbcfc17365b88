import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseSimpleMap, validateSetting } from '../../src/core/config.js';
import { TroveError } from '../../src/core/errors.js';

describe('config fast path', () => {
  it.each([
    'core:\n  remote: origin\nremotes:\n  origin:\n    url: s3://bkt/pre/fix\n    endpoint: http://127.0.0.1:9000\n    path_style: true\n    part_size: 8388608\n',
    '# comment\ncache:\n  link: reflink,copy\n  dir: /mnt/x\n',
    'a:\n  b:\n    c: x\n  d: z\ne: 1\n',
    'remotes:\n  origin:\n    url: ../store\n',
    'a: rel/path\nb: -5\nc: 0\n',
  ])('reads what trove writes exactly as the YAML parser does: %j', (text) => {
    const fast = parseSimpleMap(text);
    expect(fast).not.toBeNull();
    expect(fast).toEqual(parse(text));
  });

  it.each(['a: yes\n', 'a:\n', 'a: "q"\n', 'a: [1]\n', 'a: 1.5\n', 'a: x # c\n', 'a: null\n', 'a: 007\n', 'a: .inf\n', 'a: 1\na: 2\n', '- x\n', 'a: b: c\n', 'a:\n  b: 1\n c: 2\n'])(
    'leaves anything else to the YAML parser: %j',
    (text) => {
      expect(parseSimpleMap(text)).toBeNull();
    },
  );
});

describe('config settings', () => {
  it.each([
    ['cache.link', 'hardlink,copy', ['hardlink', 'copy']],
    ['core.autostage', 'true', true],
    ['cache.jobs', '8', 8],
  ])('%s = %s', (k, v, want) => {
    expect(validateSetting(k, v)).toEqual(want);
  });
  it.each([['cache.link', 'warp'], ['core.autostage', 'maybe'], ['cache.jobs', '0'], ['nope', 'x'], ['no.such', 'x'], ['remotes.s3.secret_access_key', 'x'], ['remotes.s3.session_token', 'x']])(
    'refuses %s = %s',
    (k, v) => {
      expect(() => validateSetting(k, v)).toThrow(TroveError);
    },
  );
});
