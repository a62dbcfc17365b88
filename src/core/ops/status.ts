/** `trove status`: the workspace against the pointers, and whether the pointers' objects are in the cache. */
import type { RepoContext, ScanContext } from '../context.js';
import { TroveError, isErrno } from '../errors.js';
import type { Oid } from '../oid.js';
import { isWithin } from '../paths.js';
import { scanPath, type FolderChanges, type OnProgress, type Scanned } from '../workspace.js';
import { listTrackedWithConflicts, resolveTargets, type Tracked } from './tracked.js';

export interface StatusEntry {
  path: string;
  pointerFile: string;
  type: 'file' | 'dir';
  oid: Oid;
  /** unchanged | modified | missing (no data in the workspace) | conflict (merge markers in the pointer) */
  workspace: 'unchanged' | 'modified' | 'missing' | 'conflict';
  /** whether the pointer's object (the file, or the folder's trees) is in the local cache */
  cache: 'present' | 'missing';
  workspaceOid?: Oid;
  changes?: FolderChanges;
  /** folders: the files (and sub-folders) whose objects are not in the local cache, repo-relative */
  missingObjects?: string[];
  /** workspace 'conflict': both sides' oids (null where a side does not parse), and the message */
  conflict?: { ours: Oid | null; theirs: Oid | null; message: string; hint?: string };
}

/**
 * Compares the workspace with the pointers. Files whose stat matches the stat cache are not read.
 * @example for (const s of await status(ctx)) console.log(s.path, s.workspace)
 */
export async function status(ctx: RepoContext, userPaths?: string[], o: { onProgress?: OnProgress } = {}): Promise<StatusEntry[]> {
  // a merge conflict in a pointer is something to report, not a reason to fail
  // git lists the pointers in a process of its own: load the status index meanwhile (one read and a
  // CRC of ~10 MB at 100,000 rows, ~10 ms) rather than after git exits. Started first, awaited after.
  const listing = listTrackedWithConflicts(ctx, true);
  try {
    void ctx.state;
  } catch (err) {
    await listing.catch(() => undefined); // the index's error is the one to report; settle git's first
    throw err;
  }
  const listed = await listing;
  const all = listed.tracked;
  const conflicts = listed.conflicts.map((c): StatusEntry => ({
    path: c.path, pointerFile: c.pointerFile, type: 'file', oid: (c.ours ?? c.theirs ?? '') as Oid, workspace: 'conflict', cache: 'present',
    conflict: { ours: c.ours, theirs: c.theirs, message: c.message, hint: c.hint },
  }));
  const asked = userPaths?.length ? userPaths.map((p) => ctx.rel(p).replace(/\.trove$/, '')) : null;
  const conflicted = conflicts.filter((c) => !asked || asked.some((a) => isWithin(c.path, a) || isWithin(a, c.path)));
  const rest = asked ? userPaths!.filter((_, i) => !conflicted.some((c) => isWithin(asked[i], c.path))) : undefined;
  const targets = rest && !rest.length ? [] : await resolveTargets(ctx, rest, all);
  const scan = ctx.scanContext();
  const out: StatusEntry[] = [...conflicted];
  const seen = new Set<string>();
  for (const { tracked, sub } of targets) {
    if (seen.has(tracked.pointerFile) && !sub) continue;
    seen.add(tracked.pointerFile);
    const e = await statusOf(ctx, scan, tracked, o.onProgress);
    if (sub && e.changes) {
      const keep = (p: string) => isWithin(p, sub);
      e.changes = { added: e.changes.added.filter(keep), modified: e.changes.modified.filter(keep), deleted: e.changes.deleted.filter(keep) };
      if (e.workspace === 'modified' && !e.changes.added.length && !e.changes.modified.length && !e.changes.deleted.length) e.workspace = 'unchanged';
      e.path = sub;
    }
    out.push(e);
  }
  return out;
}

export async function statusOf(ctx: RepoContext, scan: ScanContext, t: Tracked, onProgress?: OnProgress): Promise<StatusEntry> {
  const { pointer: ptr } = t;
  const base: Pick<StatusEntry, 'path' | 'pointerFile' | 'type' | 'oid' | 'missingObjects'> = { path: t.path, pointerFile: t.pointerFile, type: ptr.type, oid: ptr.oid };
  // folders: file by file, except subtrees the status index knows are whole (treeCompleteness.ts)
  let missingObjects: string[] | undefined;
  let inCache: boolean;
  if (ptr.type === 'dir') {
    const { findMissingObjects } = await import('../treeCompleteness.js');
    missingObjects = (await findMissingObjects(ctx.cache, ctx.state, ptr.oid, t.path)).paths;
    inCache = missingObjects.length === 0;
    if (inCache) missingObjects = undefined;
  } else inCache = await ctx.cache.has(ptr.oid, 'blob');
  let scanned: Scanned | null;
  try {
    scanned = await scanPath(scan, ctx.root, t.path, { store: false, jobs: ctx.jobs, onProgress, lazyOids: true });
  } catch (err) {
    if (isErrno(err, 'EACCES')) throw new TroveError('IO', `${t.path}: cannot read (${(err as Error).message})`, 'check the file permissions (`ls -l`), or run as the user who owns the data', { cause: err });
    throw err;
  }
  if (missingObjects) base.missingObjects = missingObjects;
  if (!scanned) return { ...base, workspace: 'missing', cache: inCache ? 'present' : 'missing' };
  const same = scanned.oid === ptr.oid && scanned.type === ptr.type && (ptr.type === 'dir' || !!ptr.exec === scanned.exec);
  if (same) return { ...base, workspace: 'unchanged', cache: inCache ? 'present' : 'missing', workspaceOid: scanned.oid };
  const e: StatusEntry = { ...base, workspace: 'modified', cache: inCache ? 'present' : 'missing', workspaceOid: scanned.oid };
  if (ptr.type === 'dir' && scanned.type === 'dir' && (inCache || (await ctx.cache.has(ptr.oid, 'tree')))) {
    try {
      // the same tree walk as `trove diff` (equal subtrees skipped by oid); status lists a move as delete + add
      // folders vouched for by the status index list their files only if the diff descends into them
      const { diffFolders } = await import('../diff.js');
      const d = await diffFolders(ctx.cache, { kind: 'tree', oid: ptr.oid }, scanned.node ? { kind: 'scan', node: scanned.node } : null, t.path);
      e.changes = {
        added: [...d.added.map((f) => f.path), ...d.renamed.map((r) => r.to)].sort(),
        modified: d.modified.map((f) => f.path).sort(),
        deleted: [...d.deleted.map((f) => f.path), ...d.renamed.map((r) => r.from)].sort(),
      };
    } catch (err) {
      if (!(err instanceof TroveError && err.code === 'MISSING_OBJECT')) throw err;
      e.cache = 'missing';
    }
  }
  return e;
}
