import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parseBoundedYaml, syntacticDepth } from '../../src/core/boundedYaml.js';
import { TroveError } from '../../src/core/errors.js';
import { gitignoreLineFor } from '../../src/core/gitignoreLine.js';
import { parsePointer } from '../../src/core/pointer.js';
import { assertNoLinkedParent, assertSafeDataPath, isDotGit, isDotTrove, isPointerName, unsafePathReason, unsafeSegmentReason } from '../../src/core/safePath.js';
import { parseTree, serializeTree } from '../../src/core/tree.js';

const OID = 'sha256:' + 'c'.repeat(64);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof TroveError) return err.code;
    throw err;
  }
  return undefined;
}

describe('safePath: names a filesystem may fold into .git', () => {
  // git's own list (NTFS trailing dots/spaces and 8.3 short name, NTFS streams, HFS+ ignorable code points), any case
  const dotgit = [
    '.git', '.GIT', '.Git', '.gIt', '.git.', '.git..', '.git ', '.git . .', '.GIT. ', 'git~1', 'GIT~1', 'Git~1.', 'git~1 ',
    '.git::$INDEX_ALLOCATION', '.git:stream', '.g\u200cit', '\u200d.git', '.gi\u200et', '.git\u200f', '.g\u202ait', '.gi\u206at', '.git\ufeff',
    'a\\.git', '.git\\config',
  ];
  it.each(dotgit)('refuses %j', (name) => {
    expect(isDotGit(name)).toBe(true);
    expect(unsafeSegmentReason(name)).toMatch(/\.git/);
  });
  const fine = ['git', '.gitx', '.gitignore', 'x.git', '.git-data', 'git~2', '.gi', 'my.git.d', 'digit~1', '.g it', 'g.it'];
  it.each(fine)('accepts %j', (name) => {
    expect(isDotGit(name)).toBe(false);
  });
});

describe('safePath: .trove and pointer names', () => {
  it.each(['.trove', '.TROVE', '.trove.', '.trove ', '.tro\u200cve', 'trove~1'])('refuses %j as trove\'s folder', (name) => {
    expect(isDotTrove(name)).toBe(true);
    expect(unsafeSegmentReason(name)).toMatch(/\.trove/);
  });
  it.each(['data.trove', 'DATA.TROVE', 'x.trove.', 'x.trove ', 'x.tr\u200dove', 'x.trove:s'])('refuses %j as a pointer file', (name) => {
    expect(isPointerName(name)).toBe(true);
    expect(unsafeSegmentReason(name)).toMatch(/pointer/);
  });
  it.each(['trove', 'data.trovex', 'data.tro', 'a.csv', 'troves', '.troveignore'])('accepts %j', (name) => {
    expect(unsafeSegmentReason(name)).toBeNull();
  });
});

describe('safePath: whole paths', () => {
  it.each([
    ['.git/config', /\.git/], ['.git/hooks/pre-commit', /\.git/], ['sub/.GIT/x', /\.git/], ['a/b/git~1/c', /\.git/],
    ['.trove/config', /\.trove/], ['.trove/config.local', /\.trove/], ['.trove/cache/objects/sha256/aa/bb', /\.trove/],
    ['sub/.trove/config', /\.trove/], ['other.trove', /pointer/], ['data.trove', /pointer/], ['d/x.trove', /pointer/],
  ])('%s is refused (%s)', (p, why) => {
    expect(unsafePathReason(p)).toMatch(why);
    expect(codeOf(() => assertSafeDataPath(p, 'x.trove: field \'path\''))).toBe('BAD_POINTER');
  });
  it('refuses git/trove control files and line breaks as tracked paths, with the code asked for', () => {
    for (const p of ['.gitignore', 'sub/.gitattributes', '.gitmodules', '.troveignore', '.GITIGNORE.']) expect(codeOf(() => assertSafeDataPath(p, 'run record', 'BAD_RUN'))).toBe('BAD_RUN');
    expect(codeOf(() => assertSafeDataPath('a\nb', 'add', 'BAD_ARGS'))).toBe('BAD_ARGS');
    expect(codeOf(() => assertSafeDataPath('a\rb', 'add', 'BAD_ARGS'))).toBe('BAD_ARGS');
  });
  it('accepts ordinary data paths', () => {
    for (const p of ['data', 'data/images', 'models/model.pkl', 'a b/c d', '#x', '!y', 'sub/.gitignore-data']) expect(assertSafeDataPath(p, 'w')).toBe(p);
  });
  it('names the file and field in the error', () => {
    try {
      assertSafeDataPath('.git/hooks/pre-commit', "evil.trove: field 'path'");
      expect.unreachable();
    } catch (err) {
      expect((err as TroveError).message).toContain("evil.trove: field 'path'");
      expect((err as TroveError).message).toContain('.git/hooks/pre-commit');
    }
  });
});

describe('safePath: the same check in pointers and trees', () => {
  it('a pointer whose path is .git-like, .trove-like or a pointer is BAD_POINTER naming field path', () => {
    for (const p of ['.git', '.GIT', '.git.', 'git~1', '.trove', 'other.trove', 'evil.trove', '.g\u200cit', '.gitmodules']) {
      const text = `version: 1\npath: ${JSON.stringify(p)}\ntype: file\noid: ${OID}\nsize: 1\n`;
      try {
        parsePointer(text, 'evil.trove');
        expect.unreachable(p);
      } catch (err) {
        expect((err as TroveError).code).toBe('BAD_POINTER');
        expect((err as TroveError).data).toMatchObject({ file: 'evil.trove', field: 'path' });
      }
    }
  });
  it('a tree with a .git entry (any variant), a .trove entry or a pointer-named entry is BAD_TREE', () => {
    for (const name of ['.git', '.GIT', '.git ', 'GIT~1', '.g\ufeffit', '.trove', 'x.trove']) {
      const text = serializeTree([{ name, type: 'dir', oid: OID, size: 0, files: 0 }]);
      expect(codeOf(() => parseTree(text, 'data'))).toBe('BAD_TREE');
    }
    expect(parseTree(serializeTree([{ name: '.gitignore', type: 'file', oid: OID, size: 1 }]), 'data').entries).toHaveLength(1);
  });
});

describe('safePath: linked parents (real files in a temp dir)', () => {
  it('refuses a path whose parent is a symlink, naming the link; absent parents are fine', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'trove-safepath-'));
    onTestFinished(() => rmSync(root, { recursive: true, force: true }));
    mkdirSync(path.join(root, 'real/sub'), { recursive: true });
    symlinkSync(path.join(root, 'real'), path.join(root, 'link'));
    symlinkSync(os.tmpdir(), path.join(root, 'real/out'));
    writeFileSync(path.join(root, 'file'), 'x');
    expect(() => assertNoLinkedParent(root, 'real/sub/x', 'w')).not.toThrow();
    expect(() => assertNoLinkedParent(root, 'nope/deeper/x', 'w')).not.toThrow();
    expect(() => assertNoLinkedParent(root, 'file/x', 'w')).not.toThrow(); // a file as a parent: the plan decides
    for (const [p, link] of [['link/x', 'link'], ['link/sub/x', 'link'], ['real/out/x', 'real/out']] as const) {
      try {
        assertNoLinkedParent(root, p, 'data.trove');
        expect.unreachable(p);
      } catch (err) {
        expect((err as TroveError).code).toBe('SYMLINK');
        expect((err as TroveError).data).toMatchObject({ link });
        expect((err as TroveError).message).toContain(link);
      }
    }
    // the leaf itself only when asked
    expect(() => assertNoLinkedParent(root, 'link', 'w')).not.toThrow();
    expect(codeOf(() => assertNoLinkedParent(root, 'link', 'w', { includeLeaf: true }))).toBe('SYMLINK');
  });
});

describe('gitignoreLineFor', () => {
  it.each([
    ['data', '/data'], ['sub/data', '/data'], ['#notes', '/#notes'], ['!keep', '/!keep'], ['a*b', '/a\\*b'], ['q?', '/q\\?'],
    ['[x]', '/\\[x]'], ['back\\slash', '/back\\\\slash'], [' lead', '/ lead'], ['trail  ', '/trail\\ \\ '], ['mid dle', '/mid dle'],
  ])('%j → %j', (rel, line) => {
    expect(gitignoreLineFor(rel)).toBe(line);
  });
  it('refuses a line break', () => {
    expect(codeOf(() => gitignoreLineFor('a\nb'))).toBe('BAD_INPUT');
    expect(codeOf(() => gitignoreLineFor('sub/a\rb'))).toBe('BAD_INPUT');
  });
});

describe('boundedYaml', () => {
  const limits = { maxBytes: 4096, maxDepth: 8, maxAliases: 10 };
  it('alias bomb: a CONFIG error naming the file, not a ReferenceError', () => {
    let b = 'a: &a [x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i < 9; i++) {
      const p = String.fromCharCode(96 + i);
      b += `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill('*' + p).join(', ')}]\n`;
    }
    try {
      parseBoundedYaml(b, '.trove/config', 'CONFIG', limits);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(TroveError);
      expect((err as TroveError).code).toBe('CONFIG');
      expect((err as TroveError).message).toContain('.trove/config');
    }
  });
  it('deep nesting, flow and block, is refused before parsing', () => {
    expect(codeOf(() => parseBoundedYaml('a: ' + '['.repeat(3000) + ']'.repeat(3000), 'p.trove', 'BAD_POINTER', limits))).toBe('BAD_POINTER');
    let s = '';
    for (let i = 0; i < 40; i++) s += ' '.repeat(i) + 'k:\n';
    expect(codeOf(() => parseBoundedYaml(s, 'p.trove', 'BAD_POINTER', limits))).toBe('BAD_POINTER');
    expect(syntacticDepth('a: 1\nb:\n  c: 2\n  d: [1, {e: 3}]\n')).toBe(4);
  });
  it('too many bytes is refused; ordinary documents parse', () => {
    expect(codeOf(() => parseBoundedYaml('a: ' + 'x'.repeat(5000), 'c', 'CONFIG', limits))).toBe('CONFIG');
    expect(parseBoundedYaml('remotes:\n  origin:\n    url: s3://b/p\n', 'c', 'CONFIG', limits)).toEqual({ remotes: { origin: { url: 's3://b/p' } } });
  });
  it('hostile pointers through parsePointer are BAD_POINTER, never another error', () => {
    const bomb = 'version: 1\npath: data\ntype: file\noid: ' + OID + '\nsize: 1\nx: &a [a, a, a, a, a, a, a, a, a, a]\ny: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n';
    const deep = 'version: 1\npath: data\nx: ' + '{a: '.repeat(2000) + '1' + '}'.repeat(2000) + '\n';
    for (const t of [bomb, deep, 'version: 1\npath: ' + 'x'.repeat(70_000) + '\n']) expect(codeOf(() => parsePointer(t, 'evil.trove'))).toBe('BAD_POINTER');
  });
});
