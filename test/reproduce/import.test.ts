import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePointer } from '../../src/core/pointer.js';
import { validatePointerSource } from '../../src/core/pointerSource.js';
import { git, newRepo, tempDir, write } from '../helpers/repo.js';
import { lastRecord } from '../helpers/runs.js';
import { ok, workTree } from '../helpers/reproRepo.js';

const HEX = 'a'.repeat(40);

/** A source trove repository with a file and a folder, pushed to a folder remote and committed. */
async function sourceRepo() {
  const src = await newRepo();
  const remote = tempDir('trove-remote-');
  await write(src, 'data/iris.csv', 'a,b\n1,2\n');
  await write(src, 'images/cat.txt', 'cat v1\n');
  await write(src, 'images/sub/dog.txt', 'dog\n');
  await ok(src, 0, 'add', 'data/iris.csv', 'images');
  await ok(src, 0, 'remote', 'add', 'origin', remote);
  await ok(src, 0, 'push');
  await git(src, 'add', '-A');
  await git(src, 'commit', '-qm', 'v1');
  const v1 = (await git(src, 'rev-parse', 'HEAD')).trim();
  return { src, remote, v1 };
}

describe('trove import / update', () => {
  it('imports a file and a folder at exact versions through the source\'s folder remote; update shows the diff, then moves it; runs record the origin', async () => {
    const { src, v1 } = await sourceRepo();
    await write(src, 'data/iris.csv', 'a,b\n1,2\n3,4\n');
    await ok(src, 0, 'add', 'data/iris.csv');
    await ok(src, 0, 'push');
    await git(src, 'commit', '-qam', 'iris v2');
    const v2 = (await git(src, 'rev-parse', 'HEAD')).trim();

    const dst = await newRepo();
    const r = await ok(dst, 0, 'import', src, 'data/iris.csv', '--json');
    const imp = JSON.parse(r.stdout);
    expect(imp.source).toEqual({ repo: src, rev: v2, path: 'data/iris.csv' });
    expect(await fsp.readFile(path.join(dst, 'iris.csv'), 'utf8')).toBe('a,b\n1,2\n3,4\n');
    const ptr = parsePointer(await fsp.readFile(path.join(dst, 'iris.csv.trove'), 'utf8'), 'iris.csv.trove');
    expect(ptr.extra?.source).toEqual({ repo: src, rev: v2, path: 'data/iris.csv' });
    expect(await fsp.readFile(path.join(dst, '.gitignore'), 'utf8')).toContain('iris.csv');
    // an exact older version, by commit, into another place
    await ok(dst, 0, 'import', src, 'data/iris.csv', '--rev', v1, '-o', 'old/iris.csv');
    expect(await fsp.readFile(path.join(dst, 'old/iris.csv'), 'utf8')).toBe('a,b\n1,2\n');
    await ok(dst, 0, 'import', src, 'images', '-o', 'data/imgs');
    expect(await fsp.readFile(path.join(dst, 'data/imgs/sub/dog.txt'), 'utf8')).toBe('dog\n');
    // the destination is taken now
    expect((await ok(dst, 1, 'import', src, 'images', '-o', 'data/imgs')).stderr).toMatch(/already tracked/);
    await git(dst, 'add', '-A');
    await git(dst, 'commit', '-qm', 'imports');

    // a run that reads the imported file records its origin; lineage shows it
    await write(dst, 'use.mjs', `import { readFileSync, writeFileSync } from 'node:fs'; writeFileSync('n.txt', String(readFileSync('iris.csv', 'utf8').split('\\n').length));\n`);
    await git(dst, 'add', 'use.mjs');
    await git(dst, 'commit', '-qm', 'use');
    await ok(dst, 0, 'run', '-n', 'count', '-i', 'iris.csv', '-o', 'n.txt', '--', 'node', 'use.mjs');
    const run = await lastRecord(dst);
    expect(run.inputs[0]!.origin).toEqual({ repo: src, rev: v2, path: 'data/iris.csv' });
    const lin = await ok(dst, 0, 'lineage', 'n.txt');
    expect(lin.stdout).toContain(`input iris.csv (${run.inputs[0]!.oid.slice(7, 19)}) imported from ${src} ${v2.slice(0, 12)}:data/iris.csv`);
    const linJson = JSON.parse((await ok(dst, 0, 'lineage', 'n.txt', '--format', 'json')).stdout);
    expect(linJson.nodes.find((n: { path?: string }) => n.path === 'iris.csv').origin).toEqual({ repo: src, rev: v2, path: 'data/iris.csv' });

    // the source's folder changes: update --dry-run shows the files, changes nothing; update applies it
    await write(src, 'images/cat.txt', 'cat v2\n');
    await write(src, 'images/new.txt', 'new\n');
    await ok(src, 0, 'add', 'images');
    await ok(src, 0, 'push');
    await git(src, 'commit', '-qam', 'images v2');
    const v3 = (await git(src, 'rev-parse', 'HEAD')).trim();
    const before = await workTree(dst);
    const dry = await ok(dst, 0, 'update', 'data/imgs', '--dry-run');
    expect(dry.stdout).toContain('added     data/imgs/new.txt');
    expect(dry.stdout).toContain('modified  data/imgs/cat.txt');
    expect(dry.stdout).not.toContain('dog.txt');
    expect(dry.stdout).toContain('dry run: nothing changed');
    expect(await workTree(dst)).toEqual(before);
    const up = await ok(dst, 0, 'update', 'data/imgs');
    expect(up.stdout).toContain('updated data/imgs');
    expect(await fsp.readFile(path.join(dst, 'data/imgs/cat.txt'), 'utf8')).toBe('cat v2\n');
    expect(await fsp.readFile(path.join(dst, 'data/imgs/new.txt'), 'utf8')).toBe('new\n');
    const moved = parsePointer(await fsp.readFile(path.join(dst, 'data/imgs.trove'), 'utf8'), 'x');
    expect(moved.extra?.source).toEqual({ repo: src, rev: v3, path: 'images' });
    expect((await ok(dst, 0, 'update', 'data/imgs')).stdout).toContain('is up to date');
    // the run on the imported file is stale? no: iris.csv did not move
    expect(JSON.parse((await ok(dst, 0, 'runs', 'list', '--stale', '--json')).stdout)).toEqual([]);
    // local changes to imported data are not overwritten by update
    await ok(dst, 0, 'update', 'old/iris.csv', '--dry-run');
    await write(dst, 'old/iris.csv', 'my edit\n');
    expect((await ok(dst, 1, 'update', 'old/iris.csv')).stderr).toMatch(/would overwrite/);
    expect(await fsp.readFile(path.join(dst, 'old/iris.csv'), 'utf8')).toBe('my edit\n');
    expect((await ok(dst, 1, 'update', 'use.mjs')).stderr).toMatch(/not tracked by trove/);
  }, 60_000);

  it('refuses a repo that is not a trove repo, an untracked path, an unknown rev, a missing url; writes nothing', async () => {
    const { src, remote } = await sourceRepo();
    const plain = tempDir('trove-plain-');
    await git(plain, 'init', '-q', '-b', 'main');
    await write(plain, 'x.txt', 'x');
    await git(plain, 'add', '-A');
    await git(plain, '-c', 'user.email=a@b', '-c', 'user.name=a', 'commit', '-qm', 'x');
    const dst = await newRepo();
    const before = await workTree(dst);
    // exit 1 for what the source lacks; 2 for arguments that can never work (usage)
    const cases: [string[], number, RegExp][] = [
      [[plain, 'x.txt'], 1, /is not a trove repository/],
      [[src, 'data/nope.csv'], 1, /data\/nope\.csv is not tracked by trove in/],
      [[src, 'data/iris.csv', '--rev', 'no-such-branch'], 1, /revision "no-such-branch" does not exist in/],
      [[path.join(plain, 'missing'), 'x'], 1, /cannot clone/],
      [[src, '../escape'], 2, /unsafe path/],
      [['--', '--upload-pack=touch /tmp/pwned', 'x'], 2, /starts with '-'/],
      [['ext::sh -c touch% /tmp/pwned', 'x'], 2, /remote helper/],
    ];
    for (const [args, code, msg] of cases) {
      const r = await ok(dst, code, 'import', ...args);
      expect(r.stderr).toMatch(msg);
    }
    // objects gone from the source's remote (loose, packed and the inventory): refused, nothing written
    for (const name of await fsp.readdir(remote)) if (name !== 'runs') await fsp.rm(path.join(remote, name), { recursive: true });
    expect((await ok(dst, 1, 'import', src, 'images')).stderr).toMatch(/cannot fetch images from remote origin/);
    expect(await workTree(dst)).toEqual(before);
    expect(existsSync('/tmp/pwned')).toBe(false);
  }, 40_000);

  it('refuses a pointer whose source field is hostile, like any hostile pointer', async () => {
    const dst = await newRepo();
    const base = 'version: 1\npath: d.csv\ntype: file\noid: sha256:' + 'b'.repeat(64) + '\nsize: 1\n';
    const hostile = [
      `source:\n  repo: "--upload-pack=touch /tmp/pwned"\n  rev: ${HEX}\n  path: d.csv\n`,
      `source:\n  repo: "ext::sh -c id"\n  rev: ${HEX}\n  path: d.csv\n`,
      `source:\n  repo: ../r\n  rev: main\n  path: d.csv\n`,
      `source:\n  repo: ../r\n  rev: ${HEX}\n  path: ../../etc/passwd\n`,
      `source:\n  repo: ../r\n  rev: ${HEX}\n  path: .git/config\n`,
      `source: just-a-string\n`,
      `source:\n  repo: ../r\n  rev: ${HEX}\n  path: d.csv\n  cmd: rm\n`,
    ];
    for (const h of hostile) {
      await write(dst, 'd.csv.trove', base + h);
      expect(() => parsePointer(base + h, 'd.csv.trove')).toThrow(expect.objectContaining({ code: 'BAD_POINTER' }));
      const r = await ok(dst, 1, 'update', 'd.csv');
      expect(r.stderr).toMatch(/d\.csv\.trove: field 'source/);
      expect((await ok(dst, 1, 'status')).stderr).toMatch(/field 'source/);
    }
    expect(validatePointerSource({ repo: 'https://example.com/r.git', rev: HEX, path: 'data/x' }, 'p')).toEqual({ repo: 'https://example.com/r.git', rev: HEX, path: 'data/x' });
  }, 30_000);
});

describe('trove import from a source whose remote is S3 at an endpoint it chose', () => {
  it('refuses to sign requests to that endpoint with your credentials unless you name it', async () => {
    const { startS3 } = await import('../helpers/s3server.js');
    const s3 = await startS3();
    const env = { AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY, AWS_EC2_METADATA_DISABLED: process.env.AWS_EC2_METADATA_DISABLED };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_EC2_METADATA_DISABLED: 'true' });
    try {
      await s3.createBucket('src');
      const src = await newRepo();
      await write(src, 'data/iris.csv', 'a,b\n1,2\n');
      await ok(src, 0, 'add', 'data/iris.csv');
      await ok(src, 0, 'remote', 'add', 'origin', 's3://src/p', '-o', `endpoint=${s3.endpoint}`, '-o', 'region=us-east-1', '-o', 'path_style=true');
      await ok(src, 0, 'push');
      await git(src, 'add', '-A');
      await git(src, 'commit', '-qm', 'v1');
      const dst = await newRepo();
      const before = await workTree(dst);
      const r = await ok(dst, 1, 'import', src, 'data/iris.csv');
      expect(r.stderr).toContain(s3.endpoint);
      expect(r.stderr).toContain('--allow-endpoint');
      expect(await workTree(dst)).toEqual(before);
      await ok(dst, 0, 'import', src, 'data/iris.csv', '--allow-endpoint', s3.endpoint);
      expect(await fsp.readFile(path.join(dst, 'iris.csv'), 'utf8')).toBe('a,b\n1,2\n');
    } finally {
      for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
      await s3.stop();
    }
  });
});

describe('imported data edited here', () => {
  it('loses its source on re-add (it is no longer the source\'s version); an unchanged re-add keeps it', async () => {
    const { src } = await sourceRepo();
    const dst = await newRepo();
    await ok(dst, 0, 'import', src, 'data/iris.csv');
    await ok(dst, 0, 'add', 'iris.csv');
    expect(parsePointer(await fsp.readFile(path.join(dst, 'iris.csv.trove'), 'utf8'), 'p').extra?.source).toBeDefined();
    await fsp.chmod(path.join(dst, 'iris.csv'), 0o644);
    await fsp.writeFile(path.join(dst, 'iris.csv'), 'a,b\nedited here\n');
    await ok(dst, 0, 'add', 'iris.csv');
    expect(parsePointer(await fsp.readFile(path.join(dst, 'iris.csv.trove'), 'utf8'), 'p').extra?.source).toBeUndefined();
  });
});
