import { spawn } from 'node:child_process';
import { TroveError } from './errors.js';
import { gitEnv, type Git } from './git.js';
import { parsePointer, type Pointer } from './pointer.js';
import { pointersAt as pointersAtRev, resolveRev } from './revs.js';

export { resolveRev };

/**
 * git revisions as trove sees them: pointers read at any revision without moving HEAD, and the
 * history of one pointer. git stays the source of truth for which version is which.
 */

export async function isRev(git: Git, rev: string): Promise<boolean> {
  try {
    await resolveRev(git, rev);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads many blobs `<rev>:<path>` through one `git cat-file --batch` process (one process for
 * a thousand pointers, not a thousand processes). Missing ones come back as null.
 */
export async function readBlobs(cwd: string, specs: string[]): Promise<(Buffer | null)[]> {
  if (!specs.length) return [];
  // Unlike revs.catFileBatch (keyed by blob id), answers come back in the order asked, which is what
  // `<rev>:<path>` lookups need. Pointers are small; callers only ask for *.trove paths.
  const child = spawn('git', ['cat-file', '--batch'], { cwd, stdio: ['pipe', 'pipe', 'pipe'], env: gitEnv() });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const done = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code ?? 1));
  });
  for (const s of specs) {
    if (s.includes('\n')) throw new TroveError('BAD_ARGS', `bad path ${JSON.stringify(s)}`);
    child.stdin.write(s + '\n');
  }
  child.stdin.end();
  const code = await done;
  if (code !== 0) throw new TroveError('GIT', `git cat-file failed: ${stderr.trim().split('\n')[0]}`);
  const buf = Buffer.concat(chunks);
  const out: (Buffer | null)[] = [];
  let pos = 0;
  for (let i = 0; i < specs.length; i++) {
    const nl = buf.indexOf(0x0a, pos);
    const header = buf.subarray(pos, nl).toString();
    pos = nl + 1;
    if (header.endsWith(' missing') || header.endsWith(' ambiguous')) {
      out.push(null);
      continue;
    }
    const size = Number(header.split(' ')[2]);
    out.push(header.split(' ')[1] === 'blob' ? buf.subarray(pos, pos + size) : null);
    pos += size + 1;
  }
  return out;
}

export interface PointerAtRev {
  /** data path (repo-relative) */
  path: string;
  pointerFile: string;
  pointer: Pointer;
}

function trackedFrom(pointerFile: string, ptr: Pointer): PointerAtRev {
  const dir = pointerFile.includes('/') ? pointerFile.slice(0, pointerFile.lastIndexOf('/')) : '';
  return { path: dir ? `${dir}/${ptr.path}` : ptr.path, pointerFile, pointer: ptr };
}

/**
 * Every pointer committed at `rev`. Unlike gc and push (which skip and report a bad pointer at an old
 * revision), a checkout or diff of that revision must not silently leave one out: it is an error.
 */
export async function pointersAt(git: Git, rev: string): Promise<PointerAtRev[]> {
  const { tracked, bad } = await pointersAtRev(git, rev);
  if (bad.length) throw new TroveError('BAD_POINTER', bad[0].message, `that revision holds a pointer trove cannot read; name the paths you want instead`);
  return tracked.map((t) => ({ path: t.path, pointerFile: t.pointerFile, pointer: t.pointer }));
}

/** One pointer file at `rev`, or null when that revision does not have it. */
export async function pointerAt(git: Git, rev: string, pointerFile: string): Promise<PointerAtRev | null> {
  const commit = await resolveRev(git, rev);
  const [blob] = await readBlobs(git.dir, [`${commit}:${pointerFile}`]);
  return blob ? trackedFrom(pointerFile, parsePointer(blob.toString('utf8'), `${pointerFile} at ${rev}`)) : null;
}

/** A pointer in git's index at a merge stage (2 = ours, 3 = theirs). */
export async function pointerAtStage(git: Git, stage: 2 | 3, pointerFile: string): Promise<PointerAtRev | null> {
  const [blob] = await readBlobs(git.dir, [`:${stage}:${pointerFile}`]);
  return blob ? trackedFrom(pointerFile, parsePointer(blob.toString('utf8'), `${pointerFile} (${stage === 2 ? 'ours' : 'theirs'})`)) : null;
}

export interface LogEntry {
  commit: string;
  date: string;
  author: string;
  subject: string;
  pointerFile: string;
  /** null where the commit deleted the pointer */
  pointer: Pointer | null;
}

/**
 * Every commit where a pointer changed, newest first, following renames as `git log --follow` does.
 */
export async function pointerLog(git: Git, pointerFile: string, o: { follow?: boolean; max?: number } = {}): Promise<LogEntry[]> {
  const args = ['log', '--format=%x1e%H%x1f%aI%x1f%an%x1f%s', '--name-only', o.follow === false ? '--no-renames' : '--follow'];
  if (o.max) args.push(`-n${o.max}`);
  args.push('--', pointerFile);
  const out = await git.raw(args);
  const entries: Omit<LogEntry, 'pointer'>[] = [];
  for (const rec of out.split('\x1e').slice(1)) {
    const [head, ...rest] = rec.split('\n');
    const [commit, date, author, subject] = head.split('\x1f');
    const name = rest.map((l) => l.trim()).find((l) => l.length > 0) ?? pointerFile;
    entries.push({ commit, date, author, subject, pointerFile: name });
  }
  const blobs = await readBlobs(git.dir, entries.map((e) => `${e.commit}:${e.pointerFile}`));
  return entries.map((e, i) => ({ ...e, pointer: blobs[i] ? parsePointer(blobs[i]!.toString('utf8'), `${e.pointerFile} at ${e.commit.slice(0, 10)}`) : null }));
}

export { hasConflictMarkers } from './pointerConflict.js';
