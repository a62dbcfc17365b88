/** Shared by the remote-*.test.ts files: data sets, remote checks, clones. */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { hexOf } from '../../src/core/oid.js';
import { scanPack } from '../../src/core/store/pack.js';
import { parsePackIndex, type PackIndex } from '../../src/core/store/packIndex.js';
import { git, tempDir, trove, type RunResult } from '../helpers/repo.js';

/**
 * Overwrites an object's bytes where a folder remote keeps it (loose file, or its body inside a
 * pack) with `bytes` of the same length: the state a disk error or a hostile remote leaves.
 */
export async function corruptRemoteObject(root: string, hex: string, with_: Buffer | number): Promise<void> {
  for (const [id, idx] of await remotePacks(root)) {
    const e = idx.find(`sha256:${hex}`);
    if (!e) continue;
    const bytes = typeof with_ === 'number' ? Buffer.alloc(e.length, with_) : with_;
    expect(bytes.length).toBe(e.length);
    const file = path.join(root, 'packs', `${id}.pack`);
    await fsp.chmod(file, 0o644);
    const fh = await fsp.open(file, 'r+');
    await fh.write(bytes, 0, bytes.length, e.offset);
    await fh.close();
    return;
  }
  const obj = path.join(root, 'objects/sha256', hex.slice(0, 2), hex.slice(2));
  const size = (await fsp.stat(obj)).size;
  await fsp.chmod(obj, 0o644);
  await fsp.writeFile(obj, typeof with_ === 'number' ? Buffer.alloc(size, with_) : with_);
}

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

/** The packs of a folder remote (`packs/<id>.pack` with its `.idx`): id → parsed index. */
export async function remotePacks(root: string): Promise<Map<string, PackIndex>> {
  const out = new Map<string, PackIndex>();
  const dir = path.join(root, 'packs');
  for (const name of await fsp.readdir(dir).catch(() => [] as string[])) {
    const m = /^([0-9a-f]{64})\.idx$/.exec(name);
    if (!m) continue;
    const doomed = await fsp.stat(path.join(dir, `${m[1]}.doomed`)).then(() => true, () => false);
    if (!doomed) out.set(m[1], parsePackIndex(await fsp.readFile(path.join(dir, name)), name));
  }
  return out;
}

/**
 * Every object below a folder remote (or a cache dir) hashes to its name, loose or in a live pack
 * (each pack scanned whole: entries, trailer, and that it matches its index); returns the count of
 * distinct objects.
 */
export async function verifyObjectDir(root: string): Promise<number> {
  const seen = new Set<string>();
  for (const [id, idx] of await remotePacks(root)) {
    const scan = await scanPack(path.join(root, 'packs', `${id}.pack`));
    expect(scan.problem, `pack ${id}`).toBeNull();
    expect(scan.id).toBe(id);
    expect(scan.entries.length).toBe(idx.count);
    for (const e of scan.entries) seen.add(hexOf(e.oid));
  }
  return seen.size + (await verifyLooseDir(root, seen));
}

async function verifyLooseDir(root: string, seen: Set<string>): Promise<number> {
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
      if (!seen.has(hex)) n++;
    }
  }
  return n;
}

/** Objects (hex names) in an object dir or a folder remote: loose, and in live packs. */
export async function objectNames(root: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (const idx of (await remotePacks(root)).values()) for (const e of idx.entries()) out.add(hexOf(e.oid));
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
