/**
 * The run cache: a finished run whose result is decided by the same things as a new one can stand in
 * for it (`trove run --reuse`). What decides a run's result, hashed into its `reuseKey` when it starts:
 *
 * - the command (argv, exactly),
 * - the code: the commit, and the sha256 of the uncommitted changes (tracked diff and untracked
 *   files) without pointer files and .gitignore files (`codeDiffHash`): those change with every run that writes outputs, and say nothing about the
 *   code; inputs count by their oids and outputs by their paths instead. A changed line is a new hash.
 * - the params given when it started (params the command logs itself follow from the rest),
 * - every input's path and content oid (a changed byte is a new oid),
 * - the declared outputs' paths.
 *
 * A run outside git, or before the first commit, has no code version to compare and gets no key.
 * Key format (version 1): sha256 hex of the canonical JSON
 * `{"v":1,"command":[…],"commit":"…","diff":"<64 hex>"|null,"params":[[k,v]…],"inputs":[[path,oid]…],"outputs":[path…]}`
 * with params, inputs and outputs sorted.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { gitEnv } from '../git.js';
import type { Oid } from '../oid.js';
import type { Repo } from '../repo.js';
import { TroveError } from '../errors.js';
import type { RunInput, RunRecord } from './record.js';

export const REUSE_KEY_VERSION = 1;

/**
 * sha256 hex of the code as it differs from `commit`, or null when it does not: `git diff --binary
 * <commit>` of the tracked files, then each untracked (not ignored) file's path and content hash, all
 * without `*.trove` and `.gitignore` files. Streamed: memory does not grow with the diff or the files.
 */
export async function codeDiffHash(root: string, commit: string): Promise<string | null> {
  const h = createHash('sha256');
  let any = false;
  const skip = (rel: string) => rel.endsWith('.trove') || rel === '.gitignore' || rel.endsWith('/.gitignore');
  await gitStream(root, ['diff', '--binary', '--no-color', '--no-ext-diff', '--no-textconv', commit, '--', '.', ':(exclude,glob)**/*.trove', ':(exclude,glob)**/.gitignore'],
    (b) => ((any = true), h.update(b)));
  let listing = '';
  await gitStream(root, ['ls-files', '--others', '--exclude-standard', '-z', '--', '.'], (b) => (listing += b.toString('utf8')));
  const { createReadStream } = await import('node:fs');
  const path = await import('node:path');
  for (const rel of listing.split('\0').filter((x) => x && !skip(x)).sort()) {
    const fh = createHash('sha256');
    try {
      for await (const c of createReadStream(path.join(root, rel))) fh.update(c as Buffer);
    } catch {
      continue; // vanished, or not a regular file: not code this run can read
    }
    any = true;
    h.update(`\0untracked\0${rel}\0${fh.digest('hex')}\n`);
  }
  return any ? h.digest('hex') : null;
}

function gitStream(root: string, args: string[], onData: (b: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd: root, env: gitEnv(), stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new TroveError('GIT', `git ${args[0]} exited ${code} while computing the run's reuse key`))));
  });
}

/** The reuse key of a run about to start, or undefined when it has no code version. */
export function reuseKeyOf(r: { command: string[]; git: RunRecord['git']; codeDiff: string | null; params: Record<string, string>; inputs: Pick<RunInput, 'path' | 'oid'>[]; outputs: string[] }): string | undefined {
  if (!r.git?.commit || !r.command.length) return undefined;
  const canonical = JSON.stringify({
    v: REUSE_KEY_VERSION,
    command: r.command,
    commit: r.git.commit,
    diff: r.codeDiff,
    params: Object.keys(r.params).sort().map((k) => [k, r.params[k]]),
    inputs: r.inputs.map((i) => [i.path, i.oid]).sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0)),
    outputs: [...r.outputs].sort(),
  });
  return createHash('sha256').update(canonical).digest('hex');
}

/**
 * The newest earlier FINISHED run with the same reuse key whose every output was produced and is in the
 * cache whole (checked by re-hashing files; folders by their trees and files), or null.
 * @example const hit = await findReusableRun(repo, run.started)
 */
export async function findReusableRun(repo: Repo, rec: RunRecord): Promise<RunRecord | null> {
  if (!rec.reuseKey) return null;
  const store = await repo.runStore();
  const names = (await store.names()).filter((n) => n !== `${rec.id}.json`).reverse(); // newest first
  for (const n of names) {
    let other: RunRecord;
    try {
      other = (await store.load(n)).record;
    } catch {
      continue; // a damaged record is `runs list`'s to report, never a reason to fail a run
    }
    if (other.reuseKey !== rec.reuseKey || other.status !== 'FINISHED' || other.exitCode !== 0) continue;
    if (!other.outputs.length || other.outputs.some((o) => o.oid === null)) continue;
    if (await outputsCached(repo, other)) return other;
  }
  return null;
}

async function outputsCached(repo: Repo, rec: RunRecord): Promise<boolean> {
  const { checkObjects } = await import('./verify.js');
  for (const o of rec.outputs) {
    const problems = await checkObjects(repo, o.oid as Oid, o.type ?? 'file', o.path, { remote: null });
    if (problems.length) return false;
  }
  return true;
}

/** The versions to check out to restore a run's outputs. */
export function outputVersions(rec: RunRecord): { path: string; type: 'file' | 'dir'; oid: string; size: number; files?: number }[] {
  return rec.outputs.map((o) => {
    if (o.oid === null || o.type === undefined || o.size === undefined) throw new TroveError('BAD_RUN', `run ${rec.id}: output ${o.path} was not produced`);
    return { path: o.path, type: o.type, oid: o.oid, size: o.size, ...(o.files === undefined ? {} : { files: o.files }) };
  });
}

/**
 * Ends `run` as a reuse of `hit` instead of running its command: `hit`'s outputs are checked out from
 * the cache (byte-identical by their oids; a workspace file with changes not in the cache is not
 * overwritten), its metrics, the params its command logged, its tags and the outputs it logged itself
 * are copied in as events, and the record says `reusedFrom`. When the outputs cannot be restored the
 * run ends FAILED and the error is thrown.
 * @example const hit = await findReusableRun(repo, run.started); if (hit) await reuseRun(repo, run, hit)
 */
export async function reuseRun(repo: Repo, run: import('./recorder.js').ActiveRun, hit: RunRecord): Promise<import('./recorder.js').EndRunResult> {
  try {
    await repo.checkoutVersions(outputVersions(hit));
  } catch (err) {
    await run.end({ status: 'FAILED', exitCode: null });
    throw err;
  }
  const store = await repo.runStore();
  for (const [k, v] of Object.entries(hit.params)) if (run.started.params[k] === undefined) await store.appendEvent(run.id, { param: k, value: v });
  for (const [k, pts] of Object.entries(hit.metrics)) for (const p of pts) await store.appendEvent(run.id, { metric: k, value: p.value, step: p.step, ts: p.ts });
  for (const [k, v] of Object.entries(hit.tags)) await store.appendEvent(run.id, { tag: k, value: v });
  const declared = new Set(JSON.parse(run.declaredOutputs) as string[]);
  for (const o of hit.outputs) {
    if (declared.has(o.path) || o.oid === null) continue;
    await store.appendEvent(run.id, { output: o.path, oid: o.oid, type: o.type!, size: o.size!, ...(o.files === undefined ? {} : { files: o.files }) });
  }
  return run.end({ exitCode: 0, reusedFrom: hit.id });
}
