/** `trove add`: hash files and folders into the cache, then write their pointers and .gitignore lines. */
import { existsSync, lstatSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { TROVE_DIR, type RepoContext } from '../context.js';
import { TroveError, isErrno } from '../errors.js';
import { gitignoreLineFor } from '../gitignoreLine.js';
import type { Oid } from '../oid.js';
import { isWithin, pointerPathFor } from '../paths.js';
import { writePointerIfChanged, type Pointer } from '../pointer.js';
import { assertNoLinkedParent, assertSafeDataPath } from '../safePath.js';
import { shellQuote } from '../shellQuote.js';
import { getKey } from '../config.js';
import { MERGE_AUTO_PACKS, mergeIfDue } from '../store/packMerge.js';
import { scanPath, type OnProgress, type Scanned } from '../workspace.js';
import { ignoreInGit } from './gitignore.js';
import { listTracked, readTracked, type Tracked } from './tracked.js';

export interface AddResult {
  path: string;
  pointerFile: string;
  type: 'file' | 'dir';
  oid: Oid;
  size: number;
  files: number;
  changed: boolean;
  hashed: number;
  stored: number;
  storedBytes: number;
}

/**
 * Hashes files and folders into the cache and writes their pointers.
 * @example await add(ctx, ['data', 'models/model.pkl'])
 */
export async function add(ctx: RepoContext, userPaths: string[], o: { onProgress?: OnProgress; signal?: AbortSignal; jobs?: number } = {}): Promise<{ results: AddResult[]; gitAdd: string[]; packsMerged?: number }> {
  if (!userPaths.length) throw new TroveError('BAD_ARGS', 'nothing to add', 'name files or folders, e.g. `trove add data/ models/model.pkl`');
  const targets = await expandAddPaths(ctx, userPaths);
  const autoPacks = autoMergePacks(ctx); // a bad setting is refused before anything is stored
  const unlock = await ctx.lock(`add ${targets.join(' ')}`);
  try {
    await ctx.cache.cleanStaleTemp();
    // both ask git, so both at once; the errors are still raised in this order
    const gitTrackedP = ctx.git.trackedUnder(targets);
    gitTrackedP.catch(() => {}); // awaited below; an early failure of the other must not leave it unhandled
    const all = await listTracked(ctx);
    for (const rel of targets) await checkAddable(ctx, rel, all);
    const gitTracked = await gitTrackedP;
    if (gitTracked.length) {
      const first = gitTracked[0];
      const t = targets.find((x) => isWithin(first, x)) ?? first;
      throw new TroveError('PATH_TRACKED_BY_GIT', `${t}: git already tracks ${first === t ? 'it' : first}${gitTracked.length > 1 ? ` and ${gitTracked.length - 1} more` : ''}`,
        `stop tracking it in git first: \`git rm -r --cached ${shellQuote(t)}\` (the files stay on disk), then \`trove add ${shellQuote(t)}\``);
    }
    const results: AddResult[] = [];
    const gitAdd = new Set<string>();
    const scan = ctx.scanContext();
    const scans: Scanned[] = [];
    for (const rel of targets) {
      const scanned = await scanPath(scan, ctx.root, rel, { store: true, jobs: o.jobs ?? ctx.jobs, onProgress: o.onProgress, signal: o.signal, lazyOids: true });
      if (!scanned) throw new TroveError('NOT_FOUND', `${rel}: no such file or folder`);
      scans.push(scanned);
    }
    // the objects are on disk before any pointer names them
    await ctx.cache.syncToDisk();
    for (const [i, rel] of targets.entries()) {
      const scanned = scans[i];
      const pointerFile = pointerPathFor(rel);
      const prev = await readTracked(ctx, pointerFile).catch(() => null);
      const ptr = pointerFromScan(path.posix.basename(rel), scanned, prev?.pointer);
      await writePointerIfChanged(ctx.abs(pointerFile), ptr);
      const gi = await ignoreInGit(ctx, rel);
      gitAdd.add(pointerFile);
      if (gi) gitAdd.add(gi);
      results.push({
        path: rel, pointerFile, type: scanned.type, oid: scanned.oid, size: scanned.size, files: scanned.files,
        changed: prev?.pointer.oid !== scanned.oid, hashed: scanned.hashed, stored: scanned.stored, storedBytes: scanned.storedBytes,
      });
    }
    const files = [...gitAdd];
    if (ctx.autostage()) await ctx.git.add(files);
    // many small adds leave many small packs: merged here once enough have piled up (packMerge.ts)
    const packsMerged = await mergeIfDue(ctx.cache, autoPacks);
    return { results, gitAdd: files, ...(packsMerged && { packsMerged }) };
  } finally {
    await unlock();
  }
}

export async function expandAddPaths(ctx: RepoContext, userPaths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const up of userPaths) {
    if (/[*?[\]{}]/.test(up) && !existsSync(path.resolve(ctx.cwd, up))) {
      const fg = (await import('fast-glob')).default;
      const hits = await fg(up, { cwd: ctx.cwd, onlyFiles: false, dot: false, followSymbolicLinks: false, ignore: ['**/.trove/**', '**/.git/**', '**/*.trove'] });
      if (!hits.length) throw new TroveError('NOT_FOUND', `${up}: no file or folder matches`);
      for (const h of hits.sort()) out.push(ctx.rel(h));
    } else out.push(ctx.rel(up));
  }
  // a folder and something inside it: keep the folder
  const uniq = [...new Set(out)].sort();
  return uniq.filter((p) => !uniq.some((q) => q !== p && isWithin(p, q)));
}

export async function checkAddable(ctx: RepoContext, rel: string, all: Tracked[]): Promise<void> {
  if (rel === '') throw new TroveError('BAD_ARGS', 'cannot track the whole repository', 'name the data folders or model files, e.g. `trove add data`');
  const first = rel.split('/')[0];
  if (first === TROVE_DIR) throw new TroveError('BAD_ARGS', `${rel}: inside .trove/, trove's own folder`, 'track your data, not trove\'s cache');
  if (first === '.git' || rel.split('/').includes('.git')) throw new TroveError('BAD_ARGS', `${rel}: inside .git/`);
  if (rel.endsWith('.trove')) throw new TroveError('BAD_ARGS', `${rel}: is a pointer file`, `add the data it names instead: \`trove add ${rel.slice(0, -6)}\``);
  assertSafeDataPath(rel, 'add', 'BAD_ARGS');
  gitignoreLineFor(rel); // a name .gitignore cannot express is refused before anything is stored
  assertNoLinkedParent(ctx.root, rel, 'add');
  const abs = ctx.abs(rel);
  let st;
  try {
    st = lstatSync(abs);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw new TroveError('NOT_FOUND', `${rel}: no such file or folder`);
    throw err;
  }
  if (st.isSymbolicLink()) throw new TroveError('SYMLINK', `${rel}: is a symbolic link; trove does not track or follow links`, 'add the file or folder it points to (if it is inside this repository) instead');
  // A parent folder that is a link would let a path escape the repo.
  const real = await fsp.realpath(abs);
  const realRoot = await fsp.realpath(ctx.root);
  const realRel = path.relative(realRoot, real);
  if (realRel === '..' || realRel.startsWith('..' + path.sep) || path.isAbsolute(realRel)) {
    throw new TroveError('PATH_OUTSIDE_REPO', `${rel}: resolves outside the repository through a symbolic link (${real})`);
  }
  const parent = all.find((t) => t.pointer.type === 'dir' && t.path !== rel && isWithin(rel, t.path));
  if (parent) throw new TroveError('PATH_ALREADY_TRACKED', `${rel}: inside ${parent.path}, which trove already tracks`, `re-add the whole folder instead: \`trove add ${shellQuote(parent.path)}\``);
  const child = all.find((t) => t.path !== rel && isWithin(t.path, rel));
  if (child) throw new TroveError('PATH_ALREADY_TRACKED', `${rel}: contains ${child.path}, which trove tracks on its own`, `stop tracking it first: \`trove remove ${shellQuote(child.path)}\`, then add ${rel}`);
}

function pointerFromScan(name: string, s: Scanned, prev?: Pointer): Pointer {
  const ptr: Pointer = { version: 1, path: name, type: s.type, oid: s.oid, size: s.size };
  if (s.type === 'dir') ptr.files = s.files;
  else if (s.exec) ptr.exec = true;
  if (prev?.extra) {
    // `source` says "this is repo X's data at rev Y" (trove import); once the content is changed
    // here that is no longer true, and runs must not record it as the origin
    const { source, ...rest } = prev.extra;
    const keep = prev.oid === s.oid && source !== undefined ? { ...rest, source } : rest;
    if (Object.keys(keep).length) ptr.extra = keep;
  }
  return ptr;
}

/** `gc.autoMerge`: how many small packs make `add` merge them (0: never; default MERGE_AUTO_PACKS). */
function autoMergePacks(ctx: RepoContext): number {
  const v = getKey(ctx.config, 'gc.autoMerge');
  if (v === undefined || v === null || v === '') return MERGE_AUTO_PACKS;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new TroveError('CONFIG', `gc.autoMerge: expected a whole number ≥ 0, got ${JSON.stringify(v)}`, 'set it with `trove config gc.autoMerge 16` (0 turns merging on add off)');
  return n;
}
