import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, git, newRepo, sh, tempDir, trove, write } from '../helpers/repo.js';

/**
 * What keeps `status`, `--version` and a re-add cheap (issue 9 part 3), checked on the real CLI:
 * which modules a command loads, and that a re-add of unchanged data writes nothing.
 */

/** Runs the CLI with a preload that records every module it loads (ES resolutions and require's cache). */
async function loadedBy(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; modules: string[] }> {
  const dir = tempDir('trove-mods-');
  const log = path.join(dir, 'modules.txt');
  const hooks = path.join(dir, 'hooks.mjs');
  writeFileSync(hooks, `import { appendFileSync } from 'node:fs';
export async function resolve(spec, ctx, next) { const r = await next(spec, ctx); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }
`);
  const preload = path.join(dir, 'preload.mjs');
  writeFileSync(preload, `import { register, createRequire } from 'node:module';
import { appendFileSync } from 'node:fs';
register(${JSON.stringify('file://' + hooks)});
const cache = createRequire(import.meta.url).cache;
process.on('exit', () => appendFileSync(${JSON.stringify(log)}, Object.keys(cache).join('\\n') + '\\n'));
`);
  const r = await sh(process.execPath, ['--import', preload, path.join(ROOT, 'bin/trove.js'), ...args], cwd, { CI: '1' });
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    // nothing loaded at all is a failure the assertions below report
  }
  return { code: r.code, stdout: r.stdout, modules: text.split('\n').filter(Boolean) };
}

const heavy = ['node_modules/ignore/', 'node_modules/yaml/', 'node_modules/simple-git/', 'node_modules/@aws-sdk/', 'node_modules/better-sqlite3/', 'node_modules/zod/', '/dist/server/', '/dist/core/runs/', '/dist/core/store/chunkPipeline.js', '/dist/core/store/gearWasm.js'];

describe('start-up cost', () => {
  it('`trove --version` and `-V` print the version and load no command module', async () => {
    const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await loadedBy(tempDir(), flag);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(version);
      expect(r.modules.some((m) => m.includes('/dist/cli/main.js'))).toBe(true); // the log works
      expect(r.modules.filter((m) => m.includes('/dist/cli/commands/'))).toEqual([]);
    }
  });

  it('`trove status` of a repo without .troveignore loads none of the heavy or unrelated modules', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a.txt', 'alpha');
    await write(dir, 'data/sub/b.txt', 'bravo');
    expect((await trove(dir, 'add', 'data')).code).toBe(0);
    const r = await loadedBy(dir, 'status');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('up to date');
    expect(r.modules.some((m) => m.includes('/dist/core/statusWalk.js'))).toBe(true);
    expect(r.modules.filter((m) => heavy.some((h) => m.includes(h)))).toEqual([]);
    // the bare command runs without commander, and without the other operations' modules
    expect(r.modules.filter((m) => m.includes('node_modules/commander/'))).toEqual([]);
    expect(r.modules.filter((m) => /\/dist\/core\/ops\/(add|checkout|fsck|ls|move|remove)\.js$/.test(m))).toEqual([]);
    const json = await loadedBy(dir, 'status', '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject([{ path: 'data', workspace: 'unchanged', cache: 'present' }]);
    expect(json.modules.filter((m) => m.includes('node_modules/commander/'))).toEqual([]);
    // with anything else on the line, commander parses it as before: a bad flag is a usage error
    const bad = await loadedBy(dir, 'status', '--jsn');
    expect(bad.code).toBe(2);
    expect(bad.modules.some((m) => m.includes('node_modules/commander/'))).toBe(true);
    const sub = await loadedBy(dir, 'status', 'data/sub');
    expect(sub.code).toBe(0);
    expect(sub.modules.some((m) => m.includes('node_modules/commander/'))).toBe(true);
    // with a .troveignore the rules are loaded and applied
    await write(dir, '.troveignore', 'sub/\n');
    const again = await loadedBy(dir, 'status');
    expect(again.modules.some((m) => m.includes('node_modules/ignore/'))).toBe(true);
    expect(again.stdout).toContain('deleted:  data/sub/b.txt');
  });
});

describe('re-add of unchanged data', () => {
  it('writes no pointer (same inode and mtime) and stores nothing; a change rewrites it', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a.txt', 'alpha');
    const past = new Date(Date.now() - 60_000);
    utimesSync(path.join(dir, 'data/a.txt'), past, past);
    expect((await trove(dir, 'add', 'data')).code).toBe(0);
    await git(dir, 'add', '-A');
    await git(dir, 'commit', '-qm', 'data');
    const ptr = path.join(dir, 'data.trove');
    const before = statSync(ptr);
    const again = await trove(dir, 'add', 'data', '--json');
    expect(again.code).toBe(0);
    const res = JSON.parse(again.stdout) as { results: { changed: boolean; hashed: number; stored: number }[] };
    expect(res.results[0]).toMatchObject({ changed: false, hashed: 0, stored: 0 });
    const after = statSync(ptr);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    expect((await git(dir, 'status', '--porcelain')).trim()).toBe('');

    await write(dir, 'data/a.txt', 'alpha, changed');
    const changed = await trove(dir, 'add', 'data', '--json');
    expect((JSON.parse(changed.stdout) as { results: { changed: boolean }[] }).results[0].changed).toBe(true);
    expect(statSync(ptr).ino).not.toBe(before.ino);
    expect((await git(dir, 'status', '--porcelain'))).toContain('data.trove');
  });
});
