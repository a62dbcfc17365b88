import { catFileBatch } from './git/catFile.js';
import type { Git } from './git/git.js';
import { parsePointer, trackedFrom, type Pointer, type Tracked } from './pointer.js';
import { resolveRev } from './revs.js';

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

/** @deprecated the one tracked-pointer type is `Tracked` (pointer.ts); kept for wave-1 importers */
export type PointerAtRev = Tracked;

/** One pointer file at `rev`, or null when that revision does not have it. */
export async function pointerAt(git: Git, rev: string, pointerFile: string): Promise<Tracked | null> {
  const commit = await resolveRev(git, rev);
  const [blob] = await catFileBatch(git.dir, [`${commit}:${pointerFile}`]);
  return blob ? trackedFrom(pointerFile, parsePointer(blob.toString('utf8'), `${pointerFile} at ${rev}`)) : null;
}

/** A pointer in git's index at a merge stage (2 = ours, 3 = theirs). */
export async function pointerAtStage(git: Git, stage: 2 | 3, pointerFile: string): Promise<Tracked | null> {
  const [blob] = await catFileBatch(git.dir, [`:${stage}:${pointerFile}`]);
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
  const blobs = await catFileBatch(git.dir, entries.map((e) => `${e.commit}:${e.pointerFile}`));
  return entries.map((e, i) => ({ ...e, pointer: blobs[i] ? parsePointer(blobs[i]!.toString('utf8'), `${e.pointerFile} at ${e.commit.slice(0, 10)}`) : null }));
}

export { hasConflictMarkers } from './pointerConflict.js';
