import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { catFileBatch } from '../../src/core/git/catFile.js';
import { Git } from '../../src/core/git/git.js';
import { lsIndex, lsTree } from '../../src/core/git/lsTree.js';
import { runGit, streamGit } from '../../src/core/git/spawn.js';
import { pointersAt } from '../../src/core/revs.js';
import { git, tempDir, write } from '../helpers/repo.js';

/** A git repo with one commit: small files, a 200 KiB one, a name with a space, and two pointers (one bad). */
async function repoWithCommit(): Promise<{ dir: string; commit: string; big: Buffer }> {
  const dir = tempDir();
  await git(dir, 'init', '-q', '-b', 'main');
  const big = randomBytes(200 * 1024);
  await write(dir, 'a.txt', 'alpha\n');
  await write(dir, 'sub dir/b c.txt', 'bee\n');
  await write(dir, 'big.bin', big);
  await write(dir, 'data.trove', `version: 1\npath: data\ntype: file\noid: sha256:${'ab'.repeat(32)}\nsize: 3\n`);
  await write(dir, 'sub dir/bad.trove', 'version: 1\npath: ../escape\ntype: file\n');
  await git(dir, 'add', '-A');
  await git(dir, '-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'one');
  const commit = (await git(dir, 'rev-parse', 'HEAD')).trim();
  return { dir, commit, big };
}

describe('git adapter (src/core/git/)', () => {
  it('catFileBatch answers in the order asked; names git lacks, other types and large objects are null', async () => {
    const { dir, commit, big } = await repoWithCommit();
    const specs = [`${commit}:sub dir/b c.txt`, `${commit}:nope.txt`, `${commit}:a.txt`, `${commit}:sub dir`, `${commit}:big.bin`, `${commit}:a.txt`];
    const out = await catFileBatch(dir, specs);
    expect(out.map((b) => b?.toString('utf8') ?? null)).toEqual(['bee\n', null, 'alpha\n', null, null, 'alpha\n']);
    // with room for it, the large blob comes back whole and exact (it arrives in many chunks)
    const [whole] = await catFileBatch(dir, [`${commit}:big.bin`], { maxSize: 1 << 20 });
    expect(whole!.equals(big)).toBe(true);
    // a tree when asked for trees
    const [tree] = await catFileBatch(dir, [`${commit}:sub dir`], { type: 'tree' });
    expect(tree!.length).toBeGreaterThan(0);
    expect(await catFileBatch(dir, [])).toEqual([]);
  });

  it('catFileBatch refuses a name with a newline (it would split into two requests) before starting git', async () => {
    const { dir, commit } = await repoWithCommit();
    expect(() => catFileBatch(dir, [`${commit}:a.txt\nHEAD:a.txt`])).toThrow(expect.objectContaining({ code: 'BAD_ARGS' }));
  });

  it('lsTree and lsIndex list every file with its id, names with spaces intact', async () => {
    const { dir, commit } = await repoWithCommit();
    const g = new Git(dir);
    const files = await lsTree(g, commit);
    expect(files.map((f) => f.path).sort()).toEqual(['a.txt', 'big.bin', 'data.trove', 'sub dir/b c.txt', 'sub dir/bad.trove']);
    const a = files.find((f) => f.path === 'a.txt')!;
    expect(a).toMatchObject({ mode: '100644', type: 'blob' });
    expect(a.id).toBe((await git(dir, 'rev-parse', `${commit}:a.txt`)).trim());
    const staged = await lsIndex(g);
    expect(staged.find((f) => f.path === 'sub dir/b c.txt')?.id).toBe((await git(dir, 'rev-parse', `${commit}:sub dir/b c.txt`)).trim());
  });

  it('pointersAt: one function; a bad pointer is reported and skipped, or with strict an error naming it', async () => {
    const { dir, commit } = await repoWithCommit();
    const g = new Git(dir);
    const { tracked, bad } = await pointersAt(g, commit);
    expect(tracked.map((t) => [t.path, t.pointerFile, t.rev, t.pointer.oid])).toEqual([['data', 'data.trove', commit, `sha256:${'ab'.repeat(32)}`]]);
    expect(bad.map((b) => b.pointerFile)).toEqual(['sub dir/bad.trove']);
    await expect(pointersAt(g, commit, { strict: true })).rejects.toMatchObject({ code: 'BAD_POINTER', message: expect.stringContaining('sub dir/bad.trove') });
  });

  it('spawned git gets the scrubbed environment: an inherited GIT_DIR does not redirect it', async () => {
    const { dir } = await repoWithCommit();
    const other = tempDir();
    await git(other, 'init', '-q');
    const saved = process.env.GIT_DIR;
    process.env.GIT_DIR = `${other}/.git`;
    try {
      const top = (await runGit(dir, ['rev-parse', '--show-toplevel'])).toString().trim();
      expect(top).toBe(dir);
    } finally {
      if (saved === undefined) delete process.env.GIT_DIR;
      else process.env.GIT_DIR = saved;
    }
    let streamed = '';
    await streamGit(dir, ['cat-file', '--batch'], (b) => (streamed += b.toString()), { input: 'HEAD:a.txt\n' });
    expect(streamed).toMatch(/ blob 6\nalpha\n\n$/);
    await expect(runGit(dir, ['rev-parse', '--verify', 'no-such-ref'])).rejects.toMatchObject({ code: 'GIT' });
  });
});
