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
import { createHash } from 'node:crypto';
import { streamGit } from '../git/spawn.js';
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
  await streamGit(root, ['diff', '--binary', '--no-color', '--no-ext-diff', '--no-textconv', commit, '--', '.', ':(exclude,glob)**/*.trove', ':(exclude,glob)**/.gitignore'],
    (b) => ((any = true), h.update(b)));
  let listing = '';
  await streamGit(root, ['ls-files', '--others', '--exclude-standard', '-z', '--', '.'], (b) => (listing += b.toString('utf8')));
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
