/** Shared by the remote-*.test.ts files: data sets, remote checks, clones. */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { git, tempDir, trove, type RunResult } from '../helpers/repo.js';

/** `n` small files in nested folders below `rel` (a few levels, so trees nest). */
export async function makeFiles(dir: string, rel: string, n: number, seed = 'x'): Promise<void> {
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const sub = path.join(dir, rel, `d${i % 7}`, `e${i % 3}`);
    if (i < 21) await fsp.mkdir(sub, { recursive: true });
    jobs.push(fsp.writeFile(path.join(sub, `f${i}.txt`), `${seed} file ${i} ${'y'.repeat(i % 300)}\n`));
    if (jobs.length >= 256) await Promise.all(jobs.splice(0));
  }
  await Promise.all(jobs);
}

export async function ok(cwd: string, ...args: string[]): Promise<RunResult> {
  const r = await trove(cwd, ...args);
  if (r.code !== 0) throw new Error(`trove ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

export async function okJson<T = Record<string, unknown>>(cwd: string, ...args: string[]): Promise<T> {
  return JSON.parse((await ok(cwd, ...args, '--json')).stdout) as T;
}

/** Every object file below a folder remote (or a cache dir) hashes to its name; returns the count. */
export async function verifyObjectDir(root: string): Promise<number> {
  const objs = path.join(root, 'objects', 'sha256');
  let n = 0;
  let fans: string[] = [];
  try {
    fans = await fsp.readdir(objs);
  } catch {
    return 0;
  }
  for (const fan of fans) {
    for (const name of await fsp.readdir(path.join(objs, fan))) {
      const hex = createHash('sha256').update(await fsp.readFile(path.join(objs, fan, name))).digest('hex');
      expect(hex, `${fan}/${name}`).toBe(fan + name);
      n++;
    }
  }
  return n;
}

/** Objects (hex names) in an object dir. */
export async function objectNames(root: string): Promise<Set<string>> {
  const out = new Set<string>();
  // a remote keeps every object in objects/; a cache (layout 2) keeps trees in trees/
  for (const kindDir of ['objects', 'trees']) {
    const objs = path.join(root, kindDir, 'sha256');
    for (const fan of await fsp.readdir(objs).catch(() => [] as string[])) {
      for (const name of await fsp.readdir(path.join(objs, fan))) out.add(fan + name);
    }
  }
  return out;
}

/** `git clone` of a repo into a fresh temp dir (the pointers and .trove/config come along). */
export async function cloneOf(src: string): Promise<string> {
  const dst = path.join(tempDir('trove-clone-'), 'b');
  await git(path.dirname(dst), 'clone', '-q', src, dst);
  await git(dst, 'config', 'user.email', 'test@example.com');
  await git(dst, 'config', 'user.name', 'Test');
  return dst;
}

export async function commitAll(dir: string, msg: string): Promise<void> {
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-q', '-m', msg);
}
