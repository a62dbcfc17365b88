/**
 * Pointers at any git revision, read without touching HEAD, the index or the work tree.
 *
 * 1. `git ls-tree -r -z --full-tree <rev>` lists the revision's files; keep blobs named `*.trove`
 *    (not under `.trove/`).
 * 2. One `git cat-file --batch` process reads every distinct pointer blob (a pointer that did not change
 *    between commits is the same blob, so it is read and parsed once per process, not once per commit).
 * 3. Each blob goes through parsePointer; a bad pointer at an old revision is reported (rev + path) and
 *    skipped, never fatal: gc and `push --all-commits` must not stop at one broken commit.
 *
 * Used by push/fetch (`--all-branches`, `--all-tags`, `--all-commits`), gc's roots, and later by
 * `trove checkout <rev> -- path` and `trove diff`.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { TroveError } from './errors.js';
import { gitEnv, type Git } from './git.js';
import { parsePointer, type Pointer } from './pointer.js';

/** A pointer as committed at `rev` (or staged in the index, rev `:index`). Paths are repo-relative. */
export interface RevTracked {
  rev: string;
  /** data path, e.g. `data/images` */
  path: string;
  /** pointer file, e.g. `data/images.trove` */
  pointerFile: string;
  pointer: Pointer;
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
    const txt = await git.raw(['ls-tree', '-r', '-z', '--full-tree', id]);
    for (const rec of txt.split('\0')) {
      if (!rec) continue;
      const tab = rec.indexOf('\t');
      const [, type, blob] = rec.slice(0, tab).split(' ');
      const file = rec.slice(tab + 1);
      if (type === 'blob' && isPointerFile(file)) listed.push({ rev, pointerFile: file, blob });
    }
  }
  return parseListed(git, listed);
}

/** Pointers at one revision. */
export async function pointersAt(git: Git, rev: string): Promise<{ tracked: RevTracked[]; bad: BadRevPointer[] }> {
  return pointersAtRevs(git, [rev]);
}

/** Pointers staged in git's index (`git ls-files -s`), which gc must keep even before a commit. */
export async function pointersInIndex(git: Git): Promise<{ tracked: RevTracked[]; bad: BadRevPointer[] }> {
  const txt = await git.raw(['ls-files', '-s', '-z', '--full-name']);
  const listed: { rev: string; pointerFile: string; blob: string }[] = [];
  for (const rec of txt.split('\0')) {
    if (!rec) continue;
    const tab = rec.indexOf('\t');
    const [mode, blob] = rec.slice(0, tab).split(' ');
    const file = rec.slice(tab + 1);
    if (mode !== '160000' && isPointerFile(file)) listed.push({ rev: INDEX_REV, pointerFile: file, blob });
  }
  return parseListed(git, listed);
}

function isPointerFile(file: string): boolean {
  return file.endsWith('.trove') && !file.startsWith('.trove/') && path.posix.basename(file) !== '.trove';
}

async function parseListed(git: Git, listed: { rev: string; pointerFile: string; blob: string }[]): Promise<{ tracked: RevTracked[]; bad: BadRevPointer[] }> {
  const blobs = await catFileBatch(git.dir, [...new Set(listed.map((l) => l.blob))]);
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
    const dir = path.posix.dirname(l.pointerFile);
    tracked.push({ rev: l.rev, pointerFile: l.pointerFile, path: dir === '.' ? ptr.path : `${dir}/${ptr.path}`, pointer: ptr, blob: l.blob });
  }
  return { tracked, bad };
}

/** Pointers are small; a blob larger than this is not one (and is not read into memory). */
const MAX_BLOB = 64 * 1024;

/**
 * `git cat-file --batch` for many blobs in one process: writes the ids to stdin, parses
 * `<oid> <type> <size>\n<bytes>\n` records (or `<oid> missing`) from stdout.
 */
export function catFileBatch(cwd: string, ids: string[]): Promise<Map<string, Buffer>> {
  const result = new Map<string, Buffer>();
  if (!ids.length) return Promise.resolve(result);
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['cat-file', '--batch'], { cwd, env: gitEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let buf: Buffer = Buffer.alloc(0);
    let stderr = '';
    let pending: { id: string; size: number } | null = null;
    const drain = () => {
      for (;;) {
        if (!pending) {
          const nl = buf.indexOf(10);
          if (nl < 0) return;
          const header = buf.subarray(0, nl).toString('utf8');
          buf = buf.subarray(nl + 1);
          const [id, type, size] = header.split(' ');
          if (type === 'missing' || size === undefined) continue;
          pending = { id, size: Number(size) };
        }
        if (buf.length < pending.size + 1) return;
        if (pending.size <= MAX_BLOB) result.set(pending.id, Buffer.from(buf.subarray(0, pending.size)));
        buf = buf.subarray(pending.size + 1);
        pending = null;
      }
    };
    child.stdout.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      drain();
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', (err) => reject(new TroveError('GIT', `git cat-file failed: ${err.message}`, undefined, { cause: err })));
    child.on('close', (code) => {
      if (code !== 0) return reject(new TroveError('GIT', `git cat-file failed (exit ${code}): ${stderr.trim().split('\n')[0]}`));
      resolve(result);
    });
    child.stdin.on('error', () => {}); // EPIPE if git died: reported by 'close'
    child.stdin.end(ids.join('\n') + '\n');
  });
}
