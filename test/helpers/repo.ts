import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, promises as fsp, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TROVE = path.join(ROOT, 'bin/trove.js');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A temp dir removed when the test ends. */
export function tempDir(prefix = 'trove-test-'): string {
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), prefix)));
  onTestFinished(async () => {
    await fsp.chmod(dir, 0o755).catch(() => {});
    await fsp.rm(dir, { recursive: true, force: true });
  });
  return dir;
}

export function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env: { ...process.env, ...env, LC_ALL: 'C' }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Runs the CLI as a user would. */
export function trove(cwd: string, ...args: string[]): Promise<RunResult> {
  return sh(process.execPath, [TROVE, ...args], cwd, { CI: '1' });
}

export function spawnTrove(cwd: string, args: string[]): ChildProcess {
  return spawn(process.execPath, [TROVE, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: '1' } });
}

export async function git(cwd: string, ...args: string[]): Promise<string> {
  const r = await sh('git', args, cwd);
  if (r.code !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** A fresh git repo with trove initialised and a committer configured. */
export async function newRepo(sub?: string): Promise<string> {
  let dir = tempDir();
  if (sub) {
    dir = path.join(dir, sub);
    await fsp.mkdir(dir);
  }
  await git(dir, 'init', '-q', '-b', 'main');
  await git(dir, 'config', 'user.email', 'test@example.com');
  await git(dir, 'config', 'user.name', 'Test');
  await git(dir, 'config', 'commit.gpgsign', 'false');
  const r = await trove(dir, 'init');
  if (r.code !== 0) throw new Error(`trove init failed: ${r.stderr}`);
  return dir;
}

/**
 * newRepo with `cache.packs false`: every object stored loose, one file each. For tests that corrupt,
 * remove or inspect single object files behind trove's back (packed objects have no file of their own;
 * test/integration/packs-cli.test.ts covers the same failures inside packs).
 */
export async function newLooseRepo(sub?: string): Promise<string> {
  const dir = await newRepo(sub);
  const r = await trove(dir, 'config', 'cache.packs', 'false');
  if (r.code !== 0) throw new Error(`trove config cache.packs false failed: ${r.stderr}`);
  return dir;
}

export async function write(dir: string, rel: string, content: string | Buffer): Promise<void> {
  const p = path.join(dir, rel);
  await fsp.mkdir(path.dirname(p), { recursive: true });
  await fsp.writeFile(p, content);
}

/** Every file below dir (relative paths, sorted), for "nothing else changed" assertions. */
export async function snapshot(dir: string, skip: (rel: string) => boolean = () => false): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const { createHash } = await import('node:crypto');
  const walk = async (d: string, prefix: string) => {
    for (const e of await fsp.readdir(d, { withFileTypes: true })) {
      const rel = prefix ? `${prefix}/${e.name}` : e.name;
      if (skip(rel)) continue;
      const abs = path.join(d, e.name);
      if (e.isDirectory()) {
        out.set(rel + '/', 'dir');
        await walk(abs, rel);
      } else if (e.isSymbolicLink()) out.set(rel, 'link:' + (await fsp.readlink(abs)));
      else out.set(rel, createHash('sha256').update(await fsp.readFile(abs)).digest('hex'));
    }
  };
  await walk(dir, '');
  return out;
}

export async function sha256File(file: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  const h = createHash('sha256');
  for await (const c of (await import('node:fs')).createReadStream(file)) h.update(c as Buffer);
  return h.digest('hex');
}
