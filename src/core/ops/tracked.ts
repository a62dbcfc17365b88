/** Tracked paths: reading pointers (with merge-conflict explanations), listing them, resolving user paths to them. */
import { promises as fsp } from 'node:fs';
import { TROVE_DIR, type RepoContext } from '../context.js';
import { TroveError } from '../errors.js';
import type { Oid } from '../oid.js';
import { isWithin } from '../paths.js';
import { readPointer, trackedFrom, type Pointer, type Tracked } from '../pointer.js';
import { conflictSides } from '../pointerConflict.js';
import { scanPath, type Scanned } from '../workspace.js';

export type { Tracked };

/** What a tracked path holds in the workspace now (null when absent); with `store`, new content goes into the cache. */
export async function scanTracked(ctx: RepoContext, rel: string, o: { store?: boolean } = {}): Promise<Scanned | null> {
  return scanPath(ctx.scanContext(), ctx.root, rel, { store: !!o.store, jobs: ctx.jobs });
}

/**
 * Every pointer in the work tree: tracked by git or not, but never git-ignored ones
 * (`git ls-files --cached --others --exclude-standard`, so git's own untracked cache does the walk).
 */
export async function listTracked(ctx: RepoContext): Promise<Tracked[]> {
  return (await listTrackedWithConflicts(ctx, false)).tracked;
}

/** A pointer file that a merge left conflict markers in: both sides' oids (null where a side does not parse). */
export interface ConflictedPointer {
  path: string;
  pointerFile: string;
  ours: Oid | null;
  theirs: Oid | null;
  message: string;
  hint?: string;
}

/**
 * listTracked for `status`: with `tolerate`, a pointer that a merge left conflict markers in is
 * returned in `conflicts` (with both sides) instead of failing the whole listing.
 */
export async function listTrackedWithConflicts(ctx: RepoContext, tolerate: boolean): Promise<{ tracked: Tracked[]; conflicts: ConflictedPointer[] }> {
  const files = await ctx.git.lsPointerFiles();
  const tracked: Tracked[] = [];
  const conflicts: ConflictedPointer[] = [];
  for (const f of files) {
    if (f.startsWith(TROVE_DIR + '/')) continue;
    let t: Tracked | null;
    try {
      t = await readTracked(ctx, f);
    } catch (err) {
      if (!(tolerate && err instanceof TroveError && err.data?.field === '(conflict)')) throw err;
      const ours = (err.data.ours as Oid | undefined) ?? null;
      const theirs = (err.data.theirs as Oid | undefined) ?? null;
      conflicts.push({ path: f.replace(/\.trove$/, ''), pointerFile: f, ours, theirs, message: err.message, hint: err.hint });
      continue;
    }
    if (t) tracked.push(t);
  }
  return { tracked, conflicts };
}

/** Reads one pointer file (repo-relative); null if it does not exist. */
export async function readTracked(ctx: RepoContext, pointerFile: string): Promise<Tracked | null> {
  let ptr: Pointer | null;
  try {
    ptr = await readPointer(ctx.abs(pointerFile), pointerFile);
  } catch (err) {
    throw await explainConflict(ctx, pointerFile, err);
  }
  return ptr ? trackedFrom(pointerFile, ptr) : null;
}

/** A pointer that fails to parse because a merge left conflict markers in it: say so, with both sides. */
export async function explainConflict(ctx: RepoContext, pointerFile: string, err: unknown): Promise<unknown> {
  if (!(err instanceof TroveError && err.code === 'BAD_POINTER')) return err;
  const text = await fsp.readFile(ctx.abs(pointerFile), 'utf8').catch(() => '');
  const sides = conflictSides(text, pointerFile);
  if (!sides) return err;
  const dataPath = pointerFile.replace(/\.trove$/, '');
  const desc = (p: Pointer | null) => (p ? `${p.oid}${p.type === 'dir' ? ` (${p.files} files)` : ''}` : 'unreadable');
  return new TroveError('BAD_POINTER', `${pointerFile}: merge conflict: ours ${desc(sides.ours)}, theirs ${desc(sides.theirs)}`,
    `keep one side and its data with \`trove checkout --ours ${dataPath}\` or \`trove checkout --theirs ${dataPath}\`, then \`git add ${pointerFile}\``,
    { data: { file: pointerFile, field: '(conflict)', ours: sides.ours?.oid, theirs: sides.theirs?.oid } });
}

/**
 * The tracked entries that user paths name: a data path, its pointer file, or a path inside a
 * tracked folder (`sub` then says which part). No paths: all of them.
 * @example const [{ tracked, sub }] = await resolveTargets(ctx, ['data/images/cats'])
 */
export async function resolveTargets(ctx: RepoContext, userPaths: string[] | undefined, listed?: Tracked[]): Promise<{ tracked: Tracked; sub: string | null }[]> {
  const all = listed ?? (await listTracked(ctx));
  if (!userPaths || userPaths.length === 0) return all.map((tracked) => ({ tracked, sub: null }));
  const out: { tracked: Tracked; sub: string | null }[] = [];
  for (const up of userPaths) {
    let rel = ctx.rel(up);
    if (rel.endsWith('.trove')) {
      const t = all.find((x) => x.pointerFile === rel);
      if (t) {
        out.push({ tracked: t, sub: null });
        continue;
      }
      rel = rel.slice(0, -'.trove'.length);
    }
    const exact = all.find((x) => x.path === rel);
    if (exact) {
      out.push({ tracked: exact, sub: null });
      continue;
    }
    const parent = all.find((x) => x.pointer.type === 'dir' && isWithin(rel, x.path));
    if (parent) {
      out.push({ tracked: parent, sub: rel });
      continue;
    }
    const below = all.filter((x) => rel === '' || isWithin(x.path, rel));
    if (below.length) {
      for (const t of below) out.push({ tracked: t, sub: null });
      continue;
    }
    throw new TroveError('PATH_NOT_TRACKED', `${up}: not tracked by trove`, `track it with \`trove add ${up}\`, or run \`trove status\` to list tracked paths`);
  }
  return out;
}

/** Each pointer once, in first-seen order. */
export function uniqTargets<T extends { tracked: Tracked }>(targets: T[]): T[] {
  const seen = new Set<string>();
  return targets.filter((t) => (seen.has(t.tracked.pointerFile) ? false : (seen.add(t.tracked.pointerFile), true)));
}
