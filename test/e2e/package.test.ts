import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, git, sh, tempDir } from '../helpers/repo.js';

/**
 * What a library user does: install the packed tarball into a fresh project and import the public
 * API by the package name. `exports` in package.json decides what resolves, and `files` what ships,
 * so a deep import that worked inside this checkout can fail there (ERR_PACKAGE_PATH_NOT_EXPORTED).
 *
 * The tarball is extracted into the project's node_modules/trove; its dependencies are linked from
 * this checkout's node_modules (the same versions `npm install` would resolve from the lock file),
 * which keeps the test offline and fast, and reuses the better-sqlite3 addon built by `npm ci`.
 */
describe('the packed package', () => {
  it('imports { Repo, push, fetch, diff, log } from "trove" in a fresh project and runs them', async () => {
    const tmp = tempDir();
    const packed = await sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT);
    expect(packed.code, packed.stderr).toBe(0);
    const [{ filename, files }] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    // what ships: the built library and the launcher, never sources, tests or local state
    const shipped = files.map((f) => f.path);
    expect(shipped).toContain('dist/index.js');
    expect(shipped).toContain('dist/index.d.ts');
    expect(shipped).toContain('bin/trove.js');
    expect(shipped.filter((p) => /^(src|test|bench|node_modules)\//.test(p) || p.includes('.trove/'))).toEqual([]);

    const proj = path.join(tmp, 'proj');
    const pkgDir = path.join(proj, 'node_modules', 'trove');
    await fsp.mkdir(pkgDir, { recursive: true });
    const tar = await sh('tar', ['-xzf', path.join(tmp, path.basename(filename)), '-C', pkgDir, '--strip-components=1'], tmp);
    expect(tar.code, tar.stderr).toBe(0);
    for (const dep of await fsp.readdir(path.join(ROOT, 'node_modules'))) {
      if (dep.startsWith('.') || dep === 'trove') continue;
      await fsp.symlink(path.join(ROOT, 'node_modules', dep), path.join(proj, 'node_modules', dep));
    }
    await fsp.writeFile(path.join(proj, 'package.json'), JSON.stringify({ name: 'user-project', type: 'module', private: true }));

    // a repo with one version, a folder remote, and a second version
    const repoDir = path.join(tmp, 'repo');
    await fsp.mkdir(path.join(repoDir, 'data'), { recursive: true });
    await git(repoDir, 'init', '-q', '-b', 'main');
    await git(repoDir, 'config', 'user.email', 'test@example.com');
    await git(repoDir, 'config', 'user.name', 'Test');
    await fsp.writeFile(path.join(repoDir, 'data', 'a.csv'), 'a\n');
    await fsp.writeFile(path.join(proj, 'main.mjs'), `
import { Repo, RepoContext, push, fetch, diff, log, status, ls, TroveError } from 'trove';
import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
const dir = process.argv[2];
await Repo.init(dir);
let repo = await Repo.open(dir);
const { results } = await repo.add(['data']);
execFileSync('git', ['add', '-A'], { cwd: dir });
execFileSync('git', ['commit', '-qm', 'v1'], { cwd: dir });
writeFileSync(dir + '/data/b.csv', 'b\\n');
const changes = await diff(repo, { from: 'HEAD' });
await repo.add(['data']);
execFileSync('git', ['commit', '-qam', 'v2'], { cwd: dir });
const history = await log(repo, 'data');
const { addRemote } = await import('trove');
await addRemote(repo, 'origin', process.argv[3]);
const pushed = await push(repo);
const fetched = await fetch(repo);
let code = null;
try { await repo.add(['../outside']); } catch (e) { code = e instanceof TroveError ? e.code : 'not a TroveError'; }
repo.close();
// the same operations as free functions over a context (op(ctx, args, opts))
const ctx = await RepoContext.open(dir);
const st = (await status(ctx)).map((s) => s.path + ':' + s.workspace);
const listed = (await ls(ctx, 'data')).map((e) => e.path);
ctx.close();
console.log(JSON.stringify({ added: results[0].files, diff: changes[0].files.added.map((f) => f.path), history: history.length, pushed: pushed.transferred, fetchedAgain: fetched.transferred, code, st, listed }));
`);
    // pushed: v2's tree and its two files
    const r = await sh(process.execPath, ['main.mjs', repoDir, path.join(tmp, 'remote')], proj);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ added: 1, diff: ['data/b.csv'], history: 2, pushed: 3, fetchedAgain: 0, code: 'PATH_OUTSIDE_REPO', st: ['data:unchanged'], listed: ['data/a.csv', 'data/b.csv'] });
    // deep imports stay private, as the exports map says
    const deep = await sh(process.execPath, ['--input-type=module', '-e', "await import('trove/dist/core/versions.js')"], proj);
    expect(deep.code).not.toBe(0);
    expect(deep.stderr).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');

    // the web UI from the installed package: its pages (copied into dist by the build) and the chart
    // and layout libraries, resolved from the project's node_modules
    expect(shipped).toContain('dist/ui/static/index.html');
    const ui = spawn(process.execPath, [path.join(pkgDir, 'bin/trove.js'), 'ui', '--port', '0', '--no-open'], { cwd: repoDir, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let text = '';
        ui.stdout!.on('data', (c) => { text += c; const m = /at (http:\/\/\S+)/.exec(text); if (m) resolve(m[1]!); });
        ui.on('exit', (c) => reject(new Error(`trove ui exited ${c}`)));
      });
      for (const p of ['', 'static/app.js', 'vendor/uplot.js', 'vendor/dagre.js', 'api/trove/runs']) {
        expect((await globalThis.fetch(url + p)).status, p).toBe(200);
      }
    } finally {
      ui.kill();
    }
  });
});
