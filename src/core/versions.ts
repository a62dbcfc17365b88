import { diffFolders, type FilesDiff, type Side } from './diff.js';
import { TroveError } from './errors.js';
import { isRev, pointerAt, pointerAtStage, pointerLog, resolveRev } from './history.js';
import { pointersAt } from './revs.js';
import type { Oid } from './oid.js';
import { isWithin, pointerPathFor } from './paths.js';
import type { Pointer } from './pointer.js';
import type { RepoContext } from './context.js';
import { checkoutTracked, type CheckoutResult } from './ops/checkout.js';
import { listTracked, scanTracked, type Tracked } from './ops/tracked.js';
import type { OnProgress } from './workspace.js';

/**
 * Versions beside git: `checkout <rev> -- paths`, `diff`, `log`, and merge conflicts in pointers.
 */

export interface PathDiff {
  path: string;
  status: 'added' | 'deleted' | 'modified' | 'typechange';
  old?: { oid: Oid; type: 'file' | 'dir'; size: number; files?: number };
  new?: { oid: Oid; type: 'file' | 'dir'; size: number; files?: number };
  files?: FilesDiff;
  /** folder trees needed for file-level detail were not in the cache */
  incomplete?: boolean;
}

interface Version {
  path: string;
  pointer: Pointer;
  side: Side | null;
}

const summary = (v: Version) => ({ oid: v.pointer.oid, type: v.pointer.type, size: v.pointer.size, ...(v.pointer.type === 'dir' ? { files: v.pointer.files } : {}) });

/** The workspace side: the data itself (edits not yet added count); the pointer where data is absent. */
async function workspaceVersions(repo: RepoContext, filter: (p: string) => boolean): Promise<Version[]> {
  const out: Version[] = [];
  for (const t of await listTracked(repo)) {
    if (!filter(t.path)) continue;
    const s = await scanTracked(repo, t.path);
    if (!s) {
      out.push({ path: t.path, pointer: t.pointer, side: t.pointer.type === 'dir' ? { kind: 'tree', oid: t.pointer.oid } : null });
      continue;
    }
    const pointer: Pointer = { version: 1, path: t.pointer.path, type: s.type, oid: s.oid, size: s.size, ...(s.type === 'dir' ? { files: s.files } : {}) };
    out.push({ path: t.path, pointer, side: s.node ? { kind: 'scan', node: s.node } : null });
  }
  return out;
}

async function revVersions(repo: RepoContext, rev: string, filter: (p: string) => boolean): Promise<Version[]> {
  return (await pointersAt(repo.git, rev, { strict: true })).tracked.filter((t) => filter(t.path)).map((t) => ({ path: t.path, pointer: t.pointer, side: t.pointer.type === 'dir' ? { kind: 'tree', oid: t.pointer.oid } : null }));
}

/**
 * What changed in tracked data between two revisions, or a revision and the workspace.
 * @example await diff(repo, { from: 'v1' })            // v1 → workspace
 * @example await diff(repo, { from: 'v1', to: 'v2', paths: ['data'] })
 */
export async function diff(repo: RepoContext, o: { from?: string; to?: string; paths?: string[]; stat?: boolean } = {}): Promise<PathDiff[]> {
  const wanted = (o.paths ?? []).map((p) => repo.rel(p).replace(/\.trove$/, ''));
  const filter = (p: string) => !wanted.length || wanted.some((w) => isWithin(p, w) || isWithin(w, p));
  const from = o.from ?? 'HEAD';
  // No commit yet (unborn HEAD): against HEAD, everything tracked is added.
  const unborn = from === 'HEAD' && !(await repo.git.hasCommits());
  const a = unborn ? [] : await revVersions(repo, from, filter);
  const b = o.to ? await revVersions(repo, o.to, filter) : await workspaceVersions(repo, filter);
  const byPath = new Map<string, { a?: Version; b?: Version }>();
  for (const v of a) byPath.set(v.path, { a: v });
  for (const v of b) byPath.set(v.path, { ...byPath.get(v.path), b: v });
  const out: PathDiff[] = [];
  for (const [p, { a: x, b: y }] of [...byPath].sort((m, n) => m[0].localeCompare(n[0]))) {
    if (x && y && x.pointer.oid === y.pointer.oid && x.pointer.type === y.pointer.type) continue;
    const d: PathDiff = {
      path: p,
      status: !x ? 'added' : !y ? 'deleted' : x.pointer.type !== y.pointer.type ? 'typechange' : 'modified',
      ...(x ? { old: summary(x) } : {}),
      ...(y ? { new: summary(y) } : {}),
    };
    const folder = (x?.pointer.type ?? y?.pointer.type) === 'dir' && (!x || !y || x.pointer.type === y.pointer.type);
    if (folder) {
      try {
        d.files = await diffFolders(repo.cache, x?.side ?? null, y?.side ?? null, p);
      } catch (err) {
        if (!(err instanceof TroveError && err.code === 'MISSING_OBJECT')) throw err;
        d.incomplete = true;
      }
    }
    // sub-path filter inside a folder
    if (d.files && wanted.length) {
      const keep = (q: string) => wanted.some((w) => isWithin(q, w) || isWithin(w, q));
      d.files = {
        added: d.files.added.filter((f) => keep(f.path)),
        deleted: d.files.deleted.filter((f) => keep(f.path)),
        modified: d.files.modified.filter((f) => keep(f.path)),
        renamed: d.files.renamed.filter((f) => keep(f.from) || keep(f.to)),
      };
    }
    out.push(d);
  }
  return out;
}

export interface LogRow {
  commit: string;
  date: string;
  author: string;
  subject: string;
  pointerFile: string;
  oid: Oid | null;
  size: number | null;
  files: number | null;
  /** against the previous (older) version; null where trees are not in the cache */
  changes: { added: number; modified: number; deleted: number; renamed: number } | null;
}

/** The history of one tracked path: every commit where its pointer changed, newest first. */
export async function log(repo: RepoContext, userPath: string, o: { follow?: boolean; max?: number } = {}): Promise<LogRow[]> {
  let rel = repo.rel(userPath);
  if (!rel.endsWith('.trove')) rel = pointerPathFor(rel);
  const entries = await pointerLog(repo.git, rel, o);
  if (!entries.length) {
    throw new TroveError('NOT_FOUND', `${userPath}: no commit has ${rel}`, 'commit the pointer first (`git add ' + rel + ' && git commit`), or check the path with `trove ls`');
  }
  const rows: LogRow[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const prev = entries.slice(i + 1).find((x) => x.pointer)?.pointer ?? null;
    const cur = e.pointer;
    let changes: LogRow['changes'] = null;
    if (cur && prev && cur.type === 'dir' && prev.type === 'dir') {
      try {
        const d = await diffFolders(repo.cache, { kind: 'tree', oid: prev.oid }, { kind: 'tree', oid: cur.oid }, '');
        changes = { added: d.added.length, modified: d.modified.length, deleted: d.deleted.length, renamed: d.renamed.length };
      } catch (err) {
        if (!(err instanceof TroveError && err.code === 'MISSING_OBJECT')) throw err;
      }
    } else if (cur && prev) changes = { added: 0, modified: cur.oid === prev.oid ? 0 : 1, deleted: 0, renamed: 0 };
    else if (cur && !prev) changes = { added: cur.type === 'dir' ? cur.files ?? 0 : 1, modified: 0, deleted: 0, renamed: 0 };
    rows.push({
      commit: e.commit, date: e.date, author: e.author, subject: e.subject, pointerFile: e.pointerFile,
      oid: cur?.oid ?? null, size: cur?.size ?? null, files: cur?.type === 'dir' ? cur.files ?? 0 : cur ? 1 : null, changes,
    });
  }
  return rows;
}

/** Pointer files for user paths at a revision: a data path or a pointer path; all when none. */
async function pointersForPaths(repo: RepoContext, rev: string, userPaths: string[]): Promise<Tracked[]> {
  await resolveRev(repo.git, rev);
  if (!userPaths.length) return (await pointersAt(repo.git, rev, { strict: true })).tracked;
  const out: Tracked[] = [];
  for (const up of userPaths) {
    const rel = repo.rel(up).replace(/\.trove$/, '');
    const exact = await pointerAt(repo.git, rev, pointerPathFor(rel));
    if (exact) {
      out.push(exact);
      continue;
    }
    const all = (await pointersAt(repo.git, rev, { strict: true })).tracked;
    const below = all.filter((t) => isWithin(t.path, rel));
    const parent = all.find((t) => t.pointer.type === 'dir' && isWithin(rel, t.path));
    if (parent) throw new TroveError('BAD_ARGS', `${up}: inside tracked folder ${parent.path}; restore the whole folder: \`trove checkout ${rev} -- ${parent.path}\``);
    if (!below.length) throw new TroveError('PATH_NOT_TRACKED', `${up}: not tracked by trove at ${rev}`, `see what was tracked then: \`git ls-tree -r --name-only ${rev} | grep '\\.trove$'\``);
    out.push(...below);
  }
  return out;
}

/**
 * `trove checkout <rev> -- <paths>`: the pointer as it was at `rev` and the data it names, like
 * `git checkout <rev> -- <path>` for code. Workspace changes not in the cache are never overwritten
 * without `force`; missing objects are fetched by `fetchMissing` when given (the default remote),
 * otherwise named in a MISSING_OBJECT error, and nothing is changed.
 */
export async function checkoutRev(
  repo: RepoContext,
  rev: string,
  userPaths: string[],
  o: { force?: boolean; jobs?: number; onProgress?: OnProgress; fetchMissing?: (t: Tracked[]) => Promise<{ remote: string } | null | void> } = {},
): Promise<CheckoutResult[]> {
  const targets: Tracked[] = (await pointersForPaths(repo, rev, userPaths)).map((t) => ({ path: t.path, pointerFile: t.pointerFile, pointer: t.pointer }));
  const asked = o.fetchMissing ? await o.fetchMissing(targets) : null;
  try {
    return await checkoutTracked(repo, targets, { force: o.force, jobs: o.jobs, onProgress: o.onProgress, writePointers: true, requireObjects: true });
  } catch (err) {
    // The remote was asked already and lacks them too: `trove fetch` would not help. Say which
    // remote, what it lacks, and where the data probably still is.
    if (!(err instanceof TroveError && err.code === 'MISSING_OBJECT' && asked)) throw err;
    const files = (err.data?.files as string[] | undefined) ?? [];
    throw new TroveError('MISSING_OBJECT',
      `${rev}: neither the cache nor remote "${asked.remote}" has ${files.length ? `${files.slice(0, 10).join(', ')}${files.length > 10 ? ` and ${files.length - 10} more` : ''}` : 'the objects it needs'}; nothing was changed`,
      `they were probably never pushed: on the machine that has them, run \`trove push --all-tags --all-branches\` (or \`trove push --rev ${rev}\`), then try again`,
      { data: err.data, cause: err });
  }
}

/** Resolves a merge conflict in pointers by taking one side (`git checkout --ours/--theirs`) and its data. */
export async function checkoutSide(repo: RepoContext, side: 'ours' | 'theirs', userPaths: string[], o: { force?: boolean } = {}): Promise<CheckoutResult[]> {
  if (!userPaths.length) throw new TroveError('BAD_ARGS', `--${side} needs the conflicted paths`, `e.g. \`trove checkout --${side} data\``);
  const targets: Tracked[] = [];
  for (const up of userPaths) {
    const rel = repo.rel(up).replace(/\.trove$/, '');
    const t = await pointerAtStage(repo.git, side === 'ours' ? 2 : 3, pointerPathFor(rel));
    if (!t) throw new TroveError('NOT_FOUND', `${up}: no ${side} version in git's index`, 'only a pointer with a merge conflict has one; see `git status`');
    targets.push(t);
  }
  return checkoutTracked(repo, targets, { force: o.force, writePointers: true, requireObjects: true });
}

export { conflictSides } from './pointerConflict.js';

export { isRev };
