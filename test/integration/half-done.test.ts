/**
 * Issue 8 §2 and §5: behaviours that were half done, each through the CLI as a user meets it.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, promises as fsp, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Repo } from '../../src/index.js';
import { ROOT, TROVE, git, newLooseRepo as newRepo, sh, snapshot, tempDir, trove, write } from '../helpers/repo.js';
import { startS3, type TestS3 } from '../helpers/s3server.js';
import { cloneOf, commitAll, objectNames, ok, okJson } from './remoteHelpers.js';
import { repoObjectFile } from '../helpers/cacheLayout.js';

const sha = (s: string | Buffer) => 'sha256:' + createHash('sha256').update(s).digest('hex');
const objectFile = (dir: string, oid: string, kind: 'blob' | 'tree' = 'blob') => repoObjectFile(dir, oid, kind);

/** Replaces a cache object's bytes (same size) as bit rot would. */
async function corrupt(dir: string, oid: string, kind: 'blob' | 'tree' = 'blob'): Promise<void> {
  const f = objectFile(dir, oid, kind);
  const buf = await fsp.readFile(f);
  buf[0] ^= 0xff;
  chmodSync(f, 0o644);
  writeFileSync(f, buf);
}

describe('diff', () => {
  it('an unknown revision exits 1 with the "unknown revision" message', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a', 'a');
    await ok(dir, 'add', 'data');
    await commitAll(dir, 'v1');
    const r = await trove(dir, 'diff', 'no-such-rev');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unknown revision "no-such-rev"');
    const r2 = await trove(dir, 'diff', 'HEAD', 'no-such-rev');
    expect(r2.code).toBe(1);
  });

  it('works with no commit yet (everything added), and so does status', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a.csv', 'a\n');
    await write(dir, 'data/sub/b.csv', 'bb\n');
    await ok(dir, 'add', 'data');
    const d = await okJson<{ path: string; status: string; files: { added: { path: string; oid: string }[] } }[]>(dir, 'diff');
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ path: 'data', status: 'added' });
    expect(d[0].files.added).toEqual([
      { path: 'data/a.csv', size: 2, oid: sha('a\n') },
      { path: 'data/sub/b.csv', size: 3, oid: sha('bb\n') },
    ]);
    const st = await okJson<{ path: string; workspace: string }[]>(dir, 'status');
    expect(st).toEqual([expect.objectContaining({ path: 'data', workspace: 'unchanged' })]);
  });

  it('--json lists every change deep inside folders with old and new oids; -- <path> limits it', async () => {
    const dir = await newRepo();
    await write(dir, 'data/top.csv', 'top\n');
    await write(dir, 'data/x/y/deep.csv', 'deep v1\n');
    await write(dir, 'data/x/gone.csv', 'gone\n');
    await write(dir, 'models/m.bin', 'model v1');
    await ok(dir, 'add', 'data', 'models/m.bin');
    await commitAll(dir, 'v1');
    await write(dir, 'data/x/y/deep.csv', 'deep v2 longer\n');
    await fsp.rm(path.join(dir, 'data/x/gone.csv'));
    await write(dir, 'data/x/y/z/new.csv', 'new\n');
    await write(dir, 'models/m.bin', 'model v2');
    const all = await okJson<{ path: string; old?: { oid: string }; new?: { oid: string }; files?: Record<string, unknown[]> }[]>(dir, 'diff');
    expect(all.map((d) => d.path)).toEqual(['data', 'models/m.bin']);
    expect(all[0].files).toEqual({
      added: [{ path: 'data/x/y/z/new.csv', size: 4, oid: sha('new\n') }],
      deleted: [{ path: 'data/x/gone.csv', size: 5, oid: sha('gone\n') }],
      modified: [{ path: 'data/x/y/deep.csv', oldSize: 8, newSize: 15, oldOid: sha('deep v1\n'), newOid: sha('deep v2 longer\n') }],
      renamed: [],
    });
    expect(all[1]).toMatchObject({ old: { oid: sha('model v1') }, new: { oid: sha('model v2') } });
    const sub = JSON.parse((await ok(dir, 'diff', '--json', '--', 'data/x/y')).stdout) as { path: string; files: Record<string, { path: string }[]> }[];
    expect(sub.map((d) => d.path)).toEqual(['data']);
    expect(sub[0].files.added.map((f) => f.path)).toEqual(['data/x/y/z/new.csv']);
    expect(sub[0].files.modified.map((f) => f.path)).toEqual(['data/x/y/deep.csv']);
    expect(sub[0].files.deleted).toEqual([]);
    const one = JSON.parse((await ok(dir, 'diff', '--json', '--', 'models/m.bin')).stdout) as { path: string }[];
    expect(one.map((d) => d.path)).toEqual(['models/m.bin']);
  });
});

describe('checkout of one path inside a tracked folder', () => {
  it('restores just that path and leaves every other file as it is', async () => {
    const dir = await newRepo();
    await write(dir, 'data/keep.csv', 'keep\n');
    await write(dir, 'data/sub/file.bin', 'original');
    await write(dir, 'data/sub/other.bin', 'other');
    await ok(dir, 'add', 'data');
    await commitAll(dir, 'v1');
    await write(dir, 'data/keep.csv', 'my uncommitted edit\n');
    await write(dir, 'data/sub/extra.txt', 'not in the pointer');
    await fsp.rm(path.join(dir, 'data/sub/file.bin'));
    await write(dir, 'data/sub/other.bin', 'edited too');
    const r = await trove(dir, 'checkout', 'data/sub/file.bin');
    expect(r.code, r.stderr).toBe(0);
    expect(await fsp.readFile(path.join(dir, 'data/sub/file.bin'), 'utf8')).toBe('original');
    // nothing else was touched: edits and extra files outside the path stay
    expect(await fsp.readFile(path.join(dir, 'data/keep.csv'), 'utf8')).toBe('my uncommitted edit\n');
    expect(await fsp.readFile(path.join(dir, 'data/sub/extra.txt'), 'utf8')).toBe('not in the pointer');
    expect(await fsp.readFile(path.join(dir, 'data/sub/other.bin'), 'utf8')).toBe('edited too');
    // a path that neither the pointer nor the workspace has is an error naming it; nothing changes
    const statCache = (p: string) => p === '.git' || p.startsWith('.trove/status-index') || p.startsWith('.trove/state.db');
    const before = await snapshot(dir, statCache);
    const bad = await trove(dir, 'checkout', 'data/sub/nope.bin');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('data/sub/nope.bin');
    expect(await snapshot(dir, statCache)).toEqual(before);
    // --force on a sub-folder discards edits there only
    expect((await trove(dir, 'checkout', '--force', 'data/sub')).code).toBe(0);
    expect(await fsp.readFile(path.join(dir, 'data/sub/other.bin'), 'utf8')).toBe('other');
    expect(existsSync(path.join(dir, 'data/sub/extra.txt'))).toBe(false);
    expect(await fsp.readFile(path.join(dir, 'data/keep.csv'), 'utf8')).toBe('my uncommitted edit\n');
  });
});

describe('status, ls, remove: what they print works', () => {
  it('status suggests --force to discard; ls of a missing sub-path is an error', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a', 'a');
    await ok(dir, 'add', 'data');
    await write(dir, 'data/a', 'changed');
    const st = await trove(dir, 'status');
    expect(st.code).toBe(0);
    expect(st.stdout).toContain('trove checkout --force <path>');
    const ls = await trove(dir, 'ls', 'data/nope');
    expect(ls.code).toBe(1);
    expect(ls.stderr).toMatch(/data\/nope: no such path in data/);
    expect((await trove(dir, 'ls', 'data/a')).code).toBe(0);
  });

  it('remove of a pointer that was never committed prints a git line that git accepts', async () => {
    const dir = await newRepo();
    await write(dir, 'm/x', 'x');
    await ok(dir, 'add', 'm');
    const r = await ok(dir, 'remove', 'm');
    const line = r.stdout.split('\n').find((l) => l.includes('git add'));
    expect(line).toBeDefined();
    expect(line).not.toContain('m.trove');
    const g = await sh('bash', ['-c', line!.trim()], dir);
    expect(g.code, g.stderr).toBe(0);
    // a committed one is named, so that its deletion is recorded
    await write(dir, 'n/y', 'y');
    await ok(dir, 'add', 'n');
    await commitAll(dir, 'n');
    const r2 = await ok(dir, 'remove', 'n');
    const line2 = r2.stdout.split('\n').find((l) => l.includes('git add'))!;
    expect(line2).toContain('n.trove');
    expect((await sh('bash', ['-c', line2.trim()], dir)).code).toBe(0);
    expect(await git(dir, 'status', '--porcelain')).toContain('D  n.trove');
  });

  it('checkout <rev> and remote add print the git add line (autostage stages instead)', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a', 'v1');
    await ok(dir, 'add', 'data');
    await commitAll(dir, 'v1');
    await git(dir, 'tag', 'v1');
    await write(dir, 'data/a', 'v2');
    await ok(dir, 'add', 'data');
    await commitAll(dir, 'v2');
    const co = await ok(dir, 'checkout', 'v1', '--', 'data');
    expect(co.stdout).toMatch(/git add data\.trove/);
    const ra = await ok(dir, 'remote', 'add', 'origin', path.join(tempDir(), 'remote'));
    expect(ra.stdout).toContain('git add .trove/config');
    const ral = await ok(dir, 'remote', 'add', 'mine', path.join(tempDir(), 'r2'), '--local');
    expect(ral.stdout).not.toContain('git add');
    await git(dir, 'reset', '-q', '--hard');
    await ok(dir, 'checkout', '--force');
    await ok(dir, 'config', 'core.autostage', 'true', '--local');
    const co2 = await ok(dir, 'checkout', 'v1', '--', 'data');
    expect(co2.stdout).not.toContain('git add');
    expect(await git(dir, 'diff', '--cached', '--name-only')).toContain('data.trove');
  });
});

describe('exit codes and closed pipes', () => {
  it('2 only for usage; a bad params file (data, not usage) is 1', async () => {
    const dir = await newRepo();
    expect((await trove(dir, 'status', '--no-such-option')).code).toBe(2);
    await write(dir, 'params.yaml', 'a: [unclosed');
    const r = await trove(dir, 'run', '--params-file', 'params.yaml', '--', 'true');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('params.yaml');
  });

  it('`trove ls data | head -1` ends quietly when the reader goes away', async () => {
    const dir = await newRepo();
    for (let i = 0; i < 3000; i++) await write(dir, `data/f${String(i).padStart(5, '0')}`, `${i}`);
    await ok(dir, 'add', 'data');
    const res = await new Promise<{ code: number | null; stderr: string; first: string }>((resolve) => {
      const child = spawn(process.execPath, [TROVE, 'ls', 'data'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: '1' } });
      let stderr = '';
      let first = '';
      child.stderr.on('data', (c) => (stderr += c));
      child.stdout.once('data', (c: Buffer) => {
        first = c.toString().split('\n')[0];
        child.stdout.destroy(); // like `head -1` exiting
      });
      child.on('close', (code) => resolve({ code, stderr, first }));
    });
    expect(res.first).toContain('data/f00000');
    expect(res.stderr).not.toMatch(/EPIPE|internal error|at /);
    expect(res.code).toBe(0);
  });
});

describe('gc fails safe', () => {
  it.each(['missing', 'corrupt'])('deletes nothing when a tree it must mark is %s, and names the pointer and the tree', async (how) => {
    const dir = await newRepo();
    await write(dir, 'data/top.csv', 'top');
    await write(dir, 'data/sub/inner.csv', 'inner');
    await write(dir, 'data/sub/deeper/x.csv', 'x');
    await ok(dir, 'add', 'data');
    await commitAll(dir, 'v1');
    await write(dir, 'old.bin', 'garbage to be');
    await ok(dir, 'add', 'old.bin');
    await ok(dir, 'remove', 'old.bin'); // its object is now unreachable garbage
    // the tree of data/sub, read from the root tree in the cache
    const repo = await Repo.open(dir);
    const root = (await repo.listTracked()).find((t) => t.path === 'data')!.pointer.oid;
    const { parseTree } = await import('../../src/index.js');
    const subOid = parseTree(await fsp.readFile(objectFile(dir, root, 'tree')), 'root').entries.find((e) => e.name === 'sub')!.oid;
    repo.close();
    if (how === 'missing') await fsp.rm(objectFile(dir, subOid, 'tree'), { force: true });
    else await corrupt(dir, subOid, 'tree');
    const cacheBefore = await snapshot(path.join(dir, '.trove/cache'));
    const r = await trove(dir, 'gc', '--force', '--grace', '0');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('gc deleted nothing');
    expect(r.stderr).toContain('data/sub');
    expect(r.stderr).toContain(subOid);
    expect(await snapshot(path.join(dir, '.trove/cache'))).toEqual(cacheBefore);
    // the files below the unreadable tree are all still there
    expect(existsSync(objectFile(dir, sha('inner')))).toBe(true);
    expect(existsSync(objectFile(dir, sha('x')))).toBe(true);
    // --dry-run shows the reason and still exits 0 (it deletes nothing by definition)
    const dry = await trove(dir, 'gc', '--dry-run', '--grace', '0');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('some trees cannot be read');
  });
});

describe('push', () => {
  it('never uploads a corrupt local object: it is quarantined and named (folder remote)', async () => {
    const dir = await newRepo();
    await write(dir, 'data/good.csv', 'good\n');
    await write(dir, 'data/bad.csv', 'will rot\n');
    await write(dir, 'big.bin', Buffer.alloc(3 << 20, 7)); // the streamed path (> 256 KiB)
    await ok(dir, 'add', 'data', 'big.bin');
    const remote = path.join(tempDir(), 'remote');
    await ok(dir, 'remote', 'add', 'origin', remote);
    await corrupt(dir, sha('will rot\n'));
    await corrupt(dir, sha(Buffer.alloc(3 << 20, 7)));
    const r = await trove(dir, 'push', '--json');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('data/bad.csv');
    expect(r.stderr).toContain('big.bin');
    expect(r.stderr).toContain('corrupt');
    const on = await objectNames(remote);
    expect(on.has(sha('will rot\n').slice(7))).toBe(false);
    expect(on.has(sha(Buffer.alloc(3 << 20, 7)).slice(7))).toBe(false);
    expect(on.has(sha('good\n').slice(7))).toBe(true);
    // the data's tree is not sent either: a tree on a remote means its subtree is complete
    expect([...on].length).toBe(1);
    expect(existsSync(objectFile(dir, sha('will rot\n')))).toBe(false);
    expect((await fsp.readdir(path.join(dir, '.trove/cache/quarantine'))).length).toBe(2);
    expect(await fsp.readdir(path.join(remote, 'tmp')).catch(() => [])).toEqual([]);
  });

  it('counts distinct objects with --all-tags and names tags whose data it did not push', async () => {
    const dir = await newRepo();
    for (let i = 0; i < 40; i++) await write(dir, `data/f${i}`, `file ${i}`);
    await ok(dir, 'add', 'data');
    await commitAll(dir, 'v1');
    await git(dir, 'tag', 'v1');
    await write(dir, 'data/extra', 'one more');
    await ok(dir, 'add', 'data');
    await commitAll(dir, 'v2');
    await git(dir, 'tag', 'v2');
    const remote = path.join(tempDir(), 'remote');
    await ok(dir, 'remote', 'add', 'origin', remote);
    // a plain push sends the workspace's version and says that v1's data is not on the remote
    const first = await ok(dir, 'push');
    expect(first.stderr).toMatch(/not on origin: data at [0-9a-f]{12}/);
    expect(first.stderr).toContain('--all-tags');
    await ok(dir, 'push', '--all-tags');
    const again = await okJson<{ transferred: number; skipped: number }>(dir, 'push', '--all-tags');
    expect(again.transferred).toBe(0);
    expect(again.skipped).toBe(41); // 41 distinct files, although two versions name 81 file entries
    const quiet = await ok(dir, 'push');
    expect(quiet.stderr).toBe('');
  });

  it('checkout of a tag the remote lacks says which remote, what, and to push tags from where they are', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a', 'v1 only');
    await ok(dir, 'add', 'data');
    await commitAll(dir, 'v1');
    await git(dir, 'tag', 'v1');
    await write(dir, 'data/a', 'v2');
    await ok(dir, 'add', 'data');
    await ok(dir, 'remote', 'add', 'origin', path.join(tempDir(), 'remote'));
    await commitAll(dir, 'v2');
    await ok(dir, 'push');
    const clone = await cloneOf(dir);
    await ok(clone, 'pull');
    const before = await snapshot(clone, (p) => p === '.git' || p.startsWith('.trove/'));
    const r = await trove(clone, 'checkout', 'v1', '--', 'data');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('remote "origin" has data');
    expect(r.stderr).toContain('never pushed');
    expect(r.stderr).toContain('trove push --all-tags');
    expect(await snapshot(clone, (p) => p === '.git' || p.startsWith('.trove/'))).toEqual(before);
  });
});

describe('push to S3 verifies while reading', () => {
  let s3: TestS3;
  beforeAll(async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
    s3 = await startS3();
  });
  afterAll(async () => {
    await s3?.stop();
    vi.unstubAllEnvs();
  });

  it('a corrupt object fails a single PUT and a multipart upload before anything is visible', async () => {
    await s3.createBucket('verify');
    const dir = await newRepo();
    const small = Buffer.alloc(600 << 10, 1);
    const big = Buffer.alloc((11 << 20) + 3, 2); // multipart at part_size 5 MiB
    await write(dir, 'small.bin', small);
    await write(dir, 'big.bin', big);
    await write(dir, 'fine.bin', 'fine');
    await ok(dir, 'add', 'small.bin', 'big.bin', 'fine.bin');
    await ok(dir, 'remote', 'add', 'origin', 's3://verify/p', '-o', `endpoint=${s3.endpoint}`, '-o', 'region=us-east-1', '-o', 'path_style=true', '-o', 'part_size=5MiB');
    await corrupt(dir, sha(small));
    await corrupt(dir, sha(big));
    const r = await trove(dir, 'push');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('small.bin');
    expect(r.stderr).toContain('big.bin');
    const st = await okJson<{ path: string; state: string }[] | { entries: { path: string; state: string }[] }>(dir, 'status', '--remote');
    const entries = Array.isArray(st) ? st : st.entries;
    expect(Object.fromEntries(entries.map((e) => [e.path, e.state]))).toEqual({ 'big.bin': 'missing', 'fine.bin': 'in-sync', 'small.bin': 'missing' });
  });
});

describe('progress', () => {
  it('counts bytes, so one large file moves the bar', async () => {
    const dir = await newRepo();
    const size = 24 << 20;
    await write(dir, 'big.bin', Buffer.alloc(size, 5));
    const repo = await Repo.open(dir);
    const seen: { bytes?: number; totalBytes?: number; done: number; total: number }[] = [];
    await repo.add(['big.bin'], { onProgress: (p) => seen.push({ ...p }) });
    repo.close();
    expect(seen.every((p) => p.totalBytes === size && p.total === 1)).toBe(true);
    const mid = seen.filter((p) => p.bytes! > 0 && p.bytes! < size);
    expect(mid.length).toBeGreaterThan(0);
    expect(mid[0].done).toBe(0);
    expect(seen.at(-1)).toMatchObject({ done: 1, bytes: size });
  });
});

// ROOT is imported so the path helpers stay in one place
void ROOT;
