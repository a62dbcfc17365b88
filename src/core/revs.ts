/**
 * Pointers at any git revision, read without touching HEAD, the index or the work tree.
 *
 * 1. `git ls-tree -r -z --full-tree <rev>` (git/lsTree.ts) lists the revision's files; keep blobs named
 *    `*.trove` (not under `.trove/`).
 * 2. One `git cat-file --batch` process (git/catFile.ts) reads every distinct pointer blob (a pointer that
 *    did not change between commits is the same blob, so it is read and parsed once per call, not once per commit).
 * 3. Each blob goes through parsePointer; a bad pointer at an old revision is reported (rev + path) and
 *    skipped, never fatal: gc and `push --all-commits` must not stop at one broken commit.
 *
 * Used by push/fetch (`--all-branches`, `--all-tags`, `--all-commits`), gc's roots, `trove checkout <rev> -- path`,
 * `trove diff` and stale runs (those three with `strict`: a bad pointer there is an error, not a gap).
 */
import path from 'node:path';
import { TroveError } from './errors.js';
import { catFileBatch } from './git/catFile.js';
import type { Git } from './git/git.js';
import { lsIndex, lsTree } from './git/lsTree.js';
import { parsePointer, trackedFrom, type Pointer, type Tracked } from './pointer.js';

/** A pointer as committed at `rev` (or staged in the index, rev `:index`). Paths are repo-relative. */
export interface RevTracked extends Tracked {
  rev: string;
  /** the pointer file's git blob id */
  blob: string;
}

/** A pointer that could not be parsed; reported, not fatal. */
export interface BadRevPointer {
  rev: string;
  pointerFile: string;
  message: string;
}

export interface RevScope {
  allBranches?: boolean;
  allTags?: boolean;
  allCommits?: boolean;
  /** these revisions too (the pre-push hook names the commits being pushed) */
  revs?: string[];
}

/** The revision name shown for pointers staged in git's index. */
export const INDEX_REV = ':index';

/**
 * Commit ids named by a scope: branch tips, tag targets (annotated tags peeled; tags of non-commits
 * skipped), or every commit reachable from any ref. Sorted, unique.
 * @example await listRevs(repo.git, { allBranches: true, allTags: true })
 */
export async function listRevs(git: Git, scope: RevScope): Promise<string[]> {
  const out = new Set<string>();
  if (scope.allCommits) {
    const txt = await git.raw(['rev-list', '--all']);
    for (const l of txt.split('\n')) if (l.trim()) out.add(l.trim());
  }
  const refs: string[] = [];
  if (scope.allBranches && !scope.allCommits) refs.push('refs/heads');
  if (scope.allTags && !scope.allCommits) refs.push('refs/tags');
  if (refs.length) {
    const txt = await git.raw(['for-each-ref', '--format=%(objectname) %(objecttype) %(*objectname) %(*objecttype)', ...refs]);
    for (const line of txt.split('\n')) {
      const [obj, type, peeled, peeledType] = line.trim().split(' ');
      if (!obj) continue;
      if (type === 'commit') out.add(obj);
      else if (type === 'tag' && peeledType === 'commit' && peeled) out.add(peeled);
    }
  }
  for (const r of scope.revs ?? []) out.add(await resolveRev(git, r));
  return [...out].sort();
}

/** The commit id of `rev`; NOT_FOUND with a clear message when git does not know it. */
export async function resolveRev(git: Git, rev: string): Promise<string> {
  if (!rev || rev.startsWith('-')) throw new TroveError('BAD_ARGS', `bad revision ${JSON.stringify(rev)}`);
  let txt: string;
  try {
    txt = await git.raw(['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`]);
  } catch (err) {
    throw new TroveError('NOT_FOUND', `unknown revision ${JSON.stringify(rev)}: git has no commit by that name`, 'check the name with `git log --oneline` or `git branch -a`', { cause: err });
  }
  const id = txt.trim();
  if (!/^[0-9a-f]{40,64}$/.test(id)) throw new TroveError('NOT_FOUND', `unknown revision ${JSON.stringify(rev)}: git has no commit by that name`, 'check the name with `git log --oneline` or `git branch -a`');
  return id;
}

/**
 * Reads pointers at many revisions with one cat-file process for all distinct blobs.
 * `onBad` hears about each pointer that fails validation (and it is skipped).
 * @example const { tracked, bad } = await pointersAtRevs(repo.git, await listRevs(repo.git, { allBranches: true }))
 */
export async function pointersAtRevs(git: Git, revs: string[]): Promise<{ tracked: RevTracked[]; bad: BadRevPointer[] }> {
  const listed: { rev: string; pointerFile: string; blob: string }[] = [];
  for (const rev of revs) {
    const id = await resolveRev(git, rev);
    for (const e of await lsTree(git, id)) if (e.type === 'blob' && isPointerFile(e.path)) listed.push({ rev, pointerFile: e.path, blob: e.id });
  }
  return parseListed(git, listed);
}

/**
 * Pointers at one revision. By default a bad pointer is reported in `bad` and skipped (gc, push); with
 * `strict` it is a BAD_POINTER error: a checkout or diff of that revision must not silently leave one out.
 */
export async function pointersAt(git: Git, rev: string, o: { strict?: boolean } = {}): Promise<{ tracked: RevTracked[]; bad: BadRevPointer[] }> {
  const res = await pointersAtRevs(git, [rev]);
  if (o.strict && res.bad.length) throw new TroveError('BAD_POINTER', res.bad[0].message, 'that revision holds a pointer trove cannot read; name the paths you want instead');
  return res;
}

/** Pointers staged in git's index (`git ls-files -s`), which gc must keep even before a commit. */
export async function pointersInIndex(git: Git): Promise<{ tracked: RevTracked[]; bad: BadRevPointer[] }> {
  const listed: { rev: string; pointerFile: string; blob: string }[] = [];
  for (const e of await lsIndex(git)) if (e.mode !== '160000' && isPointerFile(e.path)) listed.push({ rev: INDEX_REV, pointerFile: e.path, blob: e.id });
  return parseListed(git, listed);
}

function isPointerFile(file: string): boolean {
  return file.endsWith('.trove') && !file.startsWith('.trove/') && path.posix.basename(file) !== '.trove';
}

async function parseListed(git: Git, listed: { rev: string; pointerFile: string; blob: string }[]): Promise<{ tracked: RevTracked[]; bad: BadRevPointer[] }> {
  const ids = [...new Set(listed.map((l) => l.blob))];
  const bodies = await catFileBatch(git.dir, ids, { maxSize: MAX_BLOB });
  const blobs = new Map<string, Buffer>();
  ids.forEach((id, i) => bodies[i] && blobs.set(id, bodies[i]!));
  const tracked: RevTracked[] = [];
  const bad: BadRevPointer[] = [];
  const parsed = new Map<string, Pointer | Error>();
  for (const l of listed) {
    const where = `${l.pointerFile} at ${l.rev === INDEX_REV ? 'the git index' : l.rev.slice(0, 12)}`;
    let ptr = parsed.get(l.blob);
    if (ptr === undefined) {
      const buf = blobs.get(l.blob);
      try {
        if (!buf) throw new TroveError('GIT', `git object ${l.blob} is missing`);
        ptr = parsePointer(buf.toString('utf8'), l.pointerFile);
      } catch (err) {
        ptr = err as Error;
      }
      parsed.set(l.blob, ptr);
    }
    if (ptr instanceof Error) {
      bad.push({ rev: l.rev, pointerFile: l.pointerFile, message: `${where}: ${ptr.message}` });
      continue;
    }
    tracked.push({ rev: l.rev, ...trackedFrom(l.pointerFile, ptr), blob: l.blob });
  }
  return { tracked, bad };
}

/** Pointers are small; a blob larger than this is not one (and is not read into memory). */
const MAX_BLOB = 64 * 1024;
