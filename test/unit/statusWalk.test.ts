import { chmodSync, mkdirSync, mkdtempSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { hashBytes } from '../../src/core/oid.js';
import { StatusIndex } from '../../src/core/statusIndex.js';
import { walkVouched } from '../../src/core/statusWalk.js';
import { IgnoreRules, walkDir, type DirNode } from '../../src/core/walk.js';

/**
 * The status fast path (statusWalk.ts) against the full walk (walk.ts), on real files: for every
 * kind of change, the fast walk must describe the same files as the full walk, vouch only for
 * folders that did not change, and refuse exactly what the full walk refuses.
 */

function tmp(): string {
  const d = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'trove-swalk-')));
  onTestFinished(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const PAST = new Date(Date.now() - 60_000);

/** root/data with files in three levels; mtimes a minute ago, so rows recorded now are not racy. */
function makeTree(): string {
  const root = tmp();
  const files = ['data/a.txt', 'data/b.txt', 'data/sub/c.txt', 'data/sub/d.txt', 'data/sub/deep/e.txt', 'data/other/f.txt'];
  for (const f of files) {
    mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    writeFileSync(path.join(root, f), `content of ${f}\n`);
    utimesSync(path.join(root, f), PAST, PAST);
  }
  return root;
}

/** An index as a scan leaves it: every folder's rows in the full walk's order, saved and loaded back. */
function indexOf(root: string): StatusIndex {
  const file = path.join(root, 'status-index');
  rmSync(file, { force: true });
  const idx = StatusIndex.empty(file);
  const visit = (node: DirNode, rel: string) => {
    idx.record([...node.files].map(([name, f]) => ({ path: `${rel}/${name}`, key: f, oid: hashBytes(name), exec: f.exec })));
    if (!node.files.size) idx.recordTree(rel, { oid: hashBytes(rel), size: 0, count: 0, subdirs: node.dirs.size });
    for (const [name, d] of node.dirs) visit(d, `${rel}/${name}`);
  };
  visit(walkDir(path.join(root, 'data'), 'data', IgnoreRules.load(root)), 'data');
  idx.save();
  return StatusIndex.load(file);
}

type Plain = { files: Record<string, object>; dirs: Record<string, Plain> };
/** A walked tree as plain values; a vouched folder's files come from its rows (what listFiles does). */
function plain(node: DirNode, rel: string, idx: StatusIndex, vouched: Set<string>): Plain {
  const files: Record<string, object> = {};
  if (vouched.has(rel)) for (const [name, r] of idx.rowsOf(rel)!) files[name] = { dev: r.dev, ino: r.ino, size: r.size, mtime: r.mtime, ctime: r.ctime, exec: r.exec };
  else for (const [name, f] of node.files) files[name] = { dev: f.dev, ino: f.ino, size: f.size, mtime: f.mtime, ctime: f.ctime, exec: f.exec };
  const dirs: Record<string, Plain> = {};
  for (const [name, d] of node.dirs) dirs[name] = plain(d, `${rel}/${name}`, idx, vouched);
  return { files, dirs };
}

/** Both walks of root/data against one index: the fast one's result, the folders it vouched for, the full one's result. */
function bothWalks(root: string, idx: StatusIndex) {
  const vouched = new Set<string>();
  const fast = walkVouched(path.join(root, 'data'), 'data', IgnoreRules.load(root), idx, () => null, (rel) => vouched.add(rel), () => {});
  const full = walkDir(path.join(root, 'data'), 'data', IgnoreRules.load(root));
  return { fast: plain(fast, 'data', idx, vouched), full: plain(full, 'data', idx, new Set()), vouched: [...vouched].sort() };
}

const ALL = ['data', 'data/other', 'data/sub', 'data/sub/deep'];

describe('status walk fast path (statusWalk.ts) against the full walk', () => {
  it('vouches for every folder of an unchanged tree and describes the same files', () => {
    const root = makeTree();
    const { fast, full, vouched } = bothWalks(root, indexOf(root));
    expect(vouched).toEqual(ALL);
    expect(fast).toEqual(full);
    expect(Object.keys(fast.dirs.sub.dirs.deep.files)).toEqual(['e.txt']);
  });

  const cases: [string, (root: string) => void, string[]][] = [
    ['content and mtime changed', (r) => writeFileSync(path.join(r, 'data/sub/c.txt'), 'other bytes, other size\n'), ALL.filter((d) => d !== 'data/sub')],
    ['same size, same mtime, new inode', (r) => {
      const f = path.join(r, 'data/sub/deep/e.txt');
      const st = statSync(f);
      writeFileSync(f + '.new', 'X'.repeat(st.size));
      renameSync(f + '.new', f);
      utimesSync(f, st.atime, st.mtime);
    }, ALL.filter((d) => d !== 'data/sub/deep')],
    ['file deleted', (r) => rmSync(path.join(r, 'data/b.txt')), ALL.filter((d) => d !== 'data')],
    ['file added', (r) => writeFileSync(path.join(r, 'data/other/new.txt'), 'new'), ALL.filter((d) => d !== 'data/other')],
    ['file renamed (same count)', (r) => renameSync(path.join(r, 'data/other/f.txt'), path.join(r, 'data/other/g.txt')), ALL.filter((d) => d !== 'data/other')],
    ['exec bit set', (r) => chmodSync(path.join(r, 'data/a.txt'), 0o755), ALL.filter((d) => d !== 'data')],
    ["folder deleted (the parent folder's files still match; the tree check sees the folder count)", (r) => rmSync(path.join(r, 'data/sub/deep'), { recursive: true }), ['data', 'data/other', 'data/sub']],
    ['folder added', (r) => {
      mkdirSync(path.join(r, 'data/sub/fresh'));
      writeFileSync(path.join(r, 'data/sub/fresh/h.txt'), 'h');
    }, ALL],
    ['.troveignore added in a folder (it is a file, and it hides one)', (r) => writeFileSync(path.join(r, 'data/sub/.troveignore'), 'd.txt\n'), ALL.filter((d) => d !== 'data/sub')],
    ['.troveignore at the repo root hides a file', (r) => writeFileSync(path.join(r, '.troveignore'), 'data/other/f.txt\n'), ALL.filter((d) => d !== 'data/other')],
    ['.troveignore at the repo root hides a folder', (r) => writeFileSync(path.join(r, '.troveignore'), 'deep/\n'), ['data', 'data/other', 'data/sub']],
  ];
  for (const [what, change, stillVouched] of cases) {
    it(`${what}: same files as the full walk, only unchanged folders vouched for`, () => {
      const root = makeTree();
      const idx = indexOf(root);
      change(root);
      const { fast, full, vouched } = bothWalks(root, idx);
      expect(fast).toEqual(full);
      expect(vouched).toEqual(stillVouched);
    });
  }

  it('a row recorded within a second of the mtime (racy) is not trusted', () => {
    const root = makeTree();
    const now = new Date();
    utimesSync(path.join(root, 'data/sub/d.txt'), now, now);
    const { fast, full, vouched } = bothWalks(root, indexOf(root));
    expect(fast).toEqual(full);
    expect(vouched).toEqual(ALL.filter((d) => d !== 'data/sub'));
  });

  it('refuses what the full walk refuses: a symlink, a .git folder, a fifo', () => {
    const attempts: [(root: string) => void, string][] = [
      [(r) => symlinkSync('/etc/passwd', path.join(r, 'data/sub/link')), 'SYMLINK'],
      [(r) => mkdirSync(path.join(r, 'data/sub/.git')), 'BAD_INPUT'],
      [(r) => execFileSync('mkfifo', [path.join(r, 'data/other/pipe')]), 'IO'],
    ];
    for (const [change, code] of attempts) {
      const root = makeTree();
      const idx = indexOf(root);
      change(root);
      expect(() => bothWalks(root, idx)).toThrow(expect.objectContaining({ code }));
      expect(() => walkDir(path.join(root, 'data'), 'data', IgnoreRules.load(root))).toThrow(expect.objectContaining({ code }));
    }
  });

  it('a folder the index does not know, or whose rows were decoded in this process, takes the full walk', () => {
    const root = makeTree();
    const idx = indexOf(root);
    idx.rowsOf('data/sub'); // decoded: the cursor is gone for this folder
    const { fast, full, vouched } = bothWalks(root, idx);
    expect(fast).toEqual(full);
    expect(vouched).toEqual(ALL.filter((d) => d !== 'data/sub'));
    expect(idx.cursor('data/nowhere')).toBeNull();
  });
});
