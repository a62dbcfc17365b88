import { existsSync, lstatSync, mkdirSync, readFileSync, statSync, writeFileSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { writeFileAtomic } from './atomicWrite.js';
import { LooseStore, SYNC_FILE } from './store/loose.js';
import { ensureLayout } from './store/layout.js';
import type { LinkMode, ObjectKind, ObjectStore } from './store/objectStore.js';
import {
  flattenConfig, getKey, mergeConfig, parseBool, parseLinkModes, readConfigFile, setKey, unsetKey, validateSetting,
  writeConfigFile, type ConfigTree,
} from './config.js';
import { TroveError, isErrno, isTroveError } from './errors.js';
import { Git } from './git.js';
import { acquireLock } from './lock.js';
import { assertOid, type Oid } from './oid.js';
import { isWithin, pointerPathFor, repoRelative, validateRelPath } from './paths.js';
import { gitignoreLineFor } from './gitignoreLine.js';
import { assertNoLinkedParent, assertSafeDataPath, isDotGit, isInsideOrSame, unsafePathReason } from './safePath.js';
import { readPointer, writePointer, type Pointer } from './pointer.js';
import { LEGACY_STATE_FILE, migrateStateDb } from './state.js';
import { STATUS_INDEX_FILE, StatusIndex, statKey } from './statusIndex.js';
import type { ActiveRun, StartRunOptions } from './runs/recorder.js';
import type { RunStore } from './runs/store.js';
import { IgnoreRules } from './walk.js';
import {
  loadFlatTree, scanPath, type FolderChanges, type OnProgress, type Scanned,
} from './workspace.js';

export const TROVE_DIR = '.trove';
const CONFIG_HEADER = '# trove config: committed to git. Per-machine settings go in config.local (not committed).\n';
const LOCAL_HEADER = '# trove local config: this machine only, never committed. No secrets: credentials come from the AWS chain.\n';
export const TROVE_GITIGNORE = `# written by trove init: the cache and per-machine state stay out of git
/cache/
/tmp/
/state.db
/state.db-*
/status-index
/.status-index.*
/index.db
/index.db-*
/runs/
/lock
/lock.*
/config.local
`;

/** A tracked path: its pointer and where the data lives (both repo-relative). */
export interface Tracked {
  /** data path, e.g. `data/images` */
  path: string;
  /** pointer file, e.g. `data/images.trove` */
  pointerFile: string;
  pointer: Pointer;
}

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

export interface CheckoutResult {
  path: string;
  written: number;
  deleted: number;
  unchanged: number;
  missing: Oid[];
  missingFiles: string[];
  linkMode: LinkMode | null;
  /** when the pointer file was rewritten (checkout <rev>, --ours/--theirs) and not auto-staged: what to `git add` */
  gitAdd?: string[];
}

export interface FsckResult {
  checked: number;
  bytes: number;
  corrupt: { oid: Oid; kind: ObjectKind; quarantinedAs: string }[];
  strayTemp: number;
}

export interface LsEntry {
  path: string;
  type: 'file' | 'dir';
  size: number;
  files?: number;
  oid: Oid;
  state: 'present' | 'modified' | 'missing' | 'unknown';
}

/**
 * A trove repository: the git work tree that holds `.trove/`.
 *
 * @example
 * const repo = await Repo.open(process.cwd());
 * const [res] = await repo.add(['data']);
 * console.log(res.oid, res.files);
 */
export class Repo {
  readonly troveDir: string;
  /** the object store (store/objectStore.ts); named `cache` as in wave 1 */
  readonly cache: ObjectStore;
  private _state?: StatusIndex;
  private _git?: Git;

  private constructor(readonly root: string, readonly cwd: string, readonly config: ConfigTree) {
    this.troveDir = path.join(root, TROVE_DIR);
    const cacheDir = getKey(config, 'cache.dir');
    if (typeof cacheDir === 'string' && cacheDir) {
      const dir = path.resolve(root, cacheDir);
      this.cache = new LooseStore(dir, path.join(dir, 'tmp'));
    } else {
      // A linked worktree (`git worktree add`) shares the main checkout's cache.
      const home = mainWorktreeTrove(root) ?? this.troveDir;
      this.cache = new LooseStore(path.join(home, 'cache'), path.join(home, 'tmp'));
    }
  }

  /** Finds the repository that holds `cwd` (nearest folder with `.trove/`). */
  static async open(cwd: string = process.cwd()): Promise<Repo> {
    const start = path.resolve(cwd);
    let dir = start;
    for (;;) {
      if (existsSync(path.join(dir, TROVE_DIR, 'config')) || existsSync(path.join(dir, TROVE_DIR, '.gitignore'))) break;
      const up = path.dirname(dir);
      if (up === dir) {
        throw new TroveError('NOT_A_REPO', `not a trove repository (or any parent up to /): ${start}`, 'run `trove init` at the top of your git repository');
      }
      dir = up;
    }
    const committed = await readConfigFile(path.join(dir, TROVE_DIR, 'config'), '.trove/config');
    const local = await readConfigFile(path.join(dir, TROVE_DIR, 'config.local'), '.trove/config.local');
    const repo = new Repo(dir, start, mergeConfig(committed, local));
    repo.linkModes(); // validate early: a bad config is an error before anything is written
    assertSafeCacheDir(dir, repo.cache.dir, getKey(repo.config, 'cache.dir'));
    // a cache newer than this trove is refused; wave 1's is migrated once (store/layout.ts)
    await ensureLayout(repo.cache.dir, () => repo.lock('migrate the cache layout'));
    return repo;
  }

  /** Creates `.trove/` at the top of the git work tree holding `cwd`. Harmless when run twice. */
  static async init(cwd: string = process.cwd()): Promise<{ root: string; created: boolean }> {
    const top = await new Git(path.resolve(cwd)).topLevel();
    if (!top) throw new TroveError('NOT_A_GIT_REPO', `${path.resolve(cwd)} is not inside a git work tree`, 'run `git init` first (trove keeps its pointers in git)');
    const dir = path.join(top, TROVE_DIR);
    const created = !existsSync(path.join(dir, 'config'));
    await fsp.mkdir(dir, { recursive: true });
    if (created) await writeConfigFile(path.join(dir, 'config'), {}, CONFIG_HEADER);
    if (!existsSync(path.join(dir, '.gitignore'))) await writeFileAtomic(path.join(dir, '.gitignore'), TROVE_GITIGNORE);
    return { root: top, created };
  }

  /** The status index (statusIndex.ts), loaded on first use; wave 1's state.db is migrated into it once. */
  get state(): StatusIndex {
    if (!this._state) {
      mkdirSyncSafe(this.troveDir);
      const file = path.join(this.troveDir, STATUS_INDEX_FILE);
      this._state = StatusIndex.load(file);
      if (this._state.loadProblem === 'missing') {
        // a repo made before the index: its .trove/.gitignore must learn the new names first
        ignoreStatusIndex(path.join(this.troveDir, '.gitignore'));
        migrateStateDb(path.join(this.troveDir, LEGACY_STATE_FILE), this._state);
      }
    }
    return this._state;
  }

  get git(): Git {
    return (this._git ??= new Git(this.root));
  }

  close(): void {
    this._state?.save();
    this._state = undefined;
  }

  get jobs(): number {
    const j = getKey(this.config, 'cache.jobs');
    return typeof j === 'number' && j > 0 ? j : Math.max(8, os.availableParallelism() * 4);
  }

  linkModes(): LinkMode[] {
    const v = getKey(this.config, 'cache.link');
    try {
      return v === undefined ? ['reflink', 'copy'] : parseLinkModes(v);
    } catch (err) {
      throw new TroveError('CONFIG', `.trove/config: ${(err as Error).message}`, (err as TroveError).hint);
    }
  }

  /** `core.autostage`: trove runs `git add` on the files it changed for git (pointers, .gitignore, config). */
  autostage(): boolean {
    const v = getKey(this.config, 'core.autostage');
    return v === true || (typeof v === 'string' && parseBool(v));
  }

  /** Repo-relative form of a user path (relative to cwd); throws for paths outside the repo. */
  rel(userPath: string): string {
    return repoRelative(this.root, this.cwd, userPath.replace(/\/+$/, '') || '/');
  }

  abs(rel: string): string {
    return path.join(this.root, rel);
  }

  private lock(what: string) {
    mkdirSyncSafe(this.troveDir);
    return acquireLock(path.join(this.troveDir, 'lock'), what);
  }

  private ctx() {
    return { cache: this.cache, state: this.state, rules: IgnoreRules.load(this.root) };
  }

  // ---------------------------------------------------------------- runs

  /** The run records under `.trove/runs/` and their index. */
  async runStore(): Promise<RunStore> {
    // loaded on use: the runs modules bring zod and yaml, which status and add never need
    const { RunStore } = await import('./runs/store.js');
    return new RunStore(path.join(this.troveDir, 'runs'), path.join(this.troveDir, 'index.db'));
  }

  /**
   * Starts recording a run: code version and input versions now, then log calls, then `end()`.
   * @example
   * const run = await repo.startRun({ name: 'baseline', inputs: ['data'], outputs: ['model.pkl'] });
   * await run.logMetric('acc', 0.93);
   * await run.end({ exitCode: 0 });
   */
  async startRun(o: StartRunOptions = {}): Promise<ActiveRun> {
    const { startRun } = await import('./runs/recorder.js');
    return startRun(this, o);
  }

  /** What a tracked path holds in the workspace now (null when absent); with `store`, new content goes into the cache. */
  async scanTracked(rel: string, o: { store?: boolean } = {}): Promise<Scanned | null> {
    return scanPath(this.ctx(), this.root, rel, { store: !!o.store, jobs: this.jobs });
  }

  // ---------------------------------------------------------------- pointers

  /**
   * Every pointer in the work tree: tracked by git or not, but never git-ignored ones
   * (`git ls-files --cached --others --exclude-standard`, so git's own untracked cache does the walk).
   */
  async listTracked(): Promise<Tracked[]> {
    return (await this.listTrackedWithConflicts(false)).tracked;
  }

  /**
   * listTracked for `status`: with `tolerate`, a pointer that a merge left conflict markers in is
   * returned in `conflicts` (with both sides) instead of failing the whole listing.
   */
  private async listTrackedWithConflicts(tolerate: boolean): Promise<{ tracked: Tracked[]; conflicts: StatusEntry[] }> {
    const files = await this.git.lsPointerFiles();
    const tracked: Tracked[] = [];
    const conflicts: StatusEntry[] = [];
    for (const f of files) {
      if (f.startsWith(TROVE_DIR + '/')) continue;
      let t: Tracked | null;
      try {
        t = await this.readTracked(f);
      } catch (err) {
        if (!(tolerate && err instanceof TroveError && err.data?.field === '(conflict)')) throw err;
        const ours = (err.data.ours as Oid | undefined) ?? null;
        const theirs = (err.data.theirs as Oid | undefined) ?? null;
        conflicts.push({ path: f.replace(/\.trove$/, ''), pointerFile: f, type: 'file', oid: (ours ?? theirs ?? '') as Oid, workspace: 'conflict', cache: 'present', conflict: { ours, theirs, message: err.message, hint: err.hint } });
        continue;
      }
      if (t) tracked.push(t);
    }
    return { tracked, conflicts };
  }

  /** Reads one pointer file (repo-relative); null if it does not exist. */
  async readTracked(pointerFile: string): Promise<Tracked | null> {
    let ptr: Pointer | null;
    try {
      ptr = await readPointer(this.abs(pointerFile), pointerFile);
    } catch (err) {
      throw await this.explainConflict(pointerFile, err);
    }
    if (!ptr) return null;
    const dir = path.posix.dirname(pointerFile);
    const p = dir === '.' ? ptr.path : `${dir}/${ptr.path}`;
    return { path: p, pointerFile, pointer: ptr };
  }

  /** A pointer that fails to parse because a merge left conflict markers in it: say so, with both sides. */
  private async explainConflict(pointerFile: string, err: unknown): Promise<unknown> {
    if (!(err instanceof TroveError && err.code === 'BAD_POINTER')) return err;
    const text = await fsp.readFile(this.abs(pointerFile), 'utf8').catch(() => '');
    const { conflictSides } = await import('./versions.js');
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
   */
  async resolveTargets(userPaths: string[] | undefined, listed?: Tracked[]): Promise<{ tracked: Tracked; sub: string | null }[]> {
    const all = listed ?? (await this.listTracked());
    if (!userPaths || userPaths.length === 0) return all.map((tracked) => ({ tracked, sub: null }));
    const out: { tracked: Tracked; sub: string | null }[] = [];
    for (const up of userPaths) {
      let rel = this.rel(up);
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

  // ---------------------------------------------------------------- add

  /**
   * Hashes files and folders into the cache and writes their pointers.
   * @example await repo.add(['data', 'models/model.pkl'])
   */
  async add(userPaths: string[], o: { onProgress?: OnProgress; signal?: AbortSignal; jobs?: number } = {}): Promise<{ results: AddResult[]; gitAdd: string[] }> {
    if (!userPaths.length) throw new TroveError('BAD_ARGS', 'nothing to add', 'name files or folders, e.g. `trove add data/ models/model.pkl`');
    const targets = await this.expandAddPaths(userPaths);
    const unlock = await this.lock(`add ${targets.join(' ')}`);
    try {
      await this.cache.cleanStaleTemp();
      const all = await this.listTracked();
      for (const rel of targets) await this.checkAddable(rel, all);
      const gitTracked = await this.git.trackedUnder(targets);
      if (gitTracked.length) {
        const first = gitTracked[0];
        const t = targets.find((x) => isWithin(first, x)) ?? first;
        throw new TroveError('PATH_TRACKED_BY_GIT', `${t}: git already tracks ${first === t ? 'it' : first}${gitTracked.length > 1 ? ` and ${gitTracked.length - 1} more` : ''}`,
          `stop tracking it in git first: \`git rm -r --cached ${shellQuote(t)}\` (the files stay on disk), then \`trove add ${shellQuote(t)}\``);
      }
      const results: AddResult[] = [];
      const gitAdd = new Set<string>();
      const ctx = this.ctx();
      const scans: Scanned[] = [];
      for (const rel of targets) {
        const scanned = await scanPath(ctx, this.root, rel, { store: true, jobs: o.jobs ?? this.jobs, onProgress: o.onProgress, signal: o.signal, lazyOids: true });
        if (!scanned) throw new TroveError('NOT_FOUND', `${rel}: no such file or folder`);
        scans.push(scanned);
      }
      // the objects are on disk before any pointer names them
      await this.cache.syncToDisk();
      for (const [i, rel] of targets.entries()) {
        const scanned = scans[i];
        const pointerFile = pointerPathFor(rel);
        const prev = await this.readTracked(pointerFile).catch(() => null);
        const ptr = pointerFromScan(path.posix.basename(rel), scanned, prev?.pointer);
        await writePointer(this.abs(pointerFile), ptr);
        const gi = await this.ignoreInGit(rel);
        gitAdd.add(pointerFile);
        if (gi) gitAdd.add(gi);
        results.push({
          path: rel, pointerFile, type: scanned.type, oid: scanned.oid, size: scanned.size, files: scanned.files,
          changed: prev?.pointer.oid !== scanned.oid, hashed: scanned.hashed, stored: scanned.stored, storedBytes: scanned.storedBytes,
        });
      }
      const files = [...gitAdd];
      if (this.autostage()) await this.git.add(files);
      return { results, gitAdd: files };
    } finally {
      await unlock();
    }
  }

  private async expandAddPaths(userPaths: string[]): Promise<string[]> {
    const out: string[] = [];
    for (const up of userPaths) {
      if (/[*?[\]{}]/.test(up) && !existsSync(path.resolve(this.cwd, up))) {
        const fg = (await import('fast-glob')).default;
        const hits = await fg(up, { cwd: this.cwd, onlyFiles: false, dot: false, followSymbolicLinks: false, ignore: ['**/.trove/**', '**/.git/**', '**/*.trove'] });
        if (!hits.length) throw new TroveError('NOT_FOUND', `${up}: no file or folder matches`);
        for (const h of hits.sort()) out.push(this.rel(h));
      } else out.push(this.rel(up));
    }
    // a folder and something inside it: keep the folder
    const uniq = [...new Set(out)].sort();
    return uniq.filter((p) => !uniq.some((q) => q !== p && isWithin(p, q)));
  }

  private async checkAddable(rel: string, all: Tracked[]): Promise<void> {
    if (rel === '') throw new TroveError('BAD_ARGS', 'cannot track the whole repository', 'name the data folders or model files, e.g. `trove add data`');
    const first = rel.split('/')[0];
    if (first === TROVE_DIR) throw new TroveError('BAD_ARGS', `${rel}: inside .trove/, trove's own folder`, 'track your data, not trove\'s cache');
    if (first === '.git' || rel.split('/').includes('.git')) throw new TroveError('BAD_ARGS', `${rel}: inside .git/`);
    if (rel.endsWith('.trove')) throw new TroveError('BAD_ARGS', `${rel}: is a pointer file`, `add the data it names instead: \`trove add ${rel.slice(0, -6)}\``);
    assertSafeDataPath(rel, 'add', 'BAD_ARGS');
    gitignoreLineFor(rel); // a name .gitignore cannot express is refused before anything is stored
    assertNoLinkedParent(this.root, rel, 'add');
    const abs = this.abs(rel);
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
    const realRoot = await fsp.realpath(this.root);
    const realRel = path.relative(realRoot, real);
    if (realRel === '..' || realRel.startsWith('..' + path.sep) || path.isAbsolute(realRel)) {
      throw new TroveError('PATH_OUTSIDE_REPO', `${rel}: resolves outside the repository through a symbolic link (${real})`);
    }
    const parent = all.find((t) => t.pointer.type === 'dir' && t.path !== rel && isWithin(rel, t.path));
    if (parent) throw new TroveError('PATH_ALREADY_TRACKED', `${rel}: inside ${parent.path}, which trove already tracks`, `re-add the whole folder instead: \`trove add ${shellQuote(parent.path)}\``);
    const child = all.find((t) => t.path !== rel && isWithin(t.path, rel));
    if (child) throw new TroveError('PATH_ALREADY_TRACKED', `${rel}: contains ${child.path}, which trove tracks on its own`, `stop tracking it first: \`trove remove ${shellQuote(child.path)}\`, then add ${rel}`);
  }

  /** Makes git ignore the data path (`/name` in the .gitignore beside it). Returns that .gitignore if changed. */
  private async ignoreInGit(rel: string): Promise<string | null> {
    const dir = path.posix.dirname(rel);
    const giRel = dir === '.' ? '.gitignore' : `${dir}/.gitignore`;
    const line = gitignoreLineFor(rel);
    const file = this.abs(giRel);
    let text = '';
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    if (text.split(/\r?\n/).includes(line)) return null;
    await writeFileAtomic(file, text + (text && !text.endsWith('\n') ? '\n' : '') + line + '\n');
    return giRel;
  }

  private async unignoreInGit(rel: string): Promise<string | null> {
    const dir = path.posix.dirname(rel);
    const giRel = dir === '.' ? '.gitignore' : `${dir}/.gitignore`;
    const line = gitignoreLineFor(rel);
    let text: string;
    try {
      text = await fsp.readFile(this.abs(giRel), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return null;
      throw err;
    }
    const lines = text.split('\n');
    const kept = lines.filter((l) => l.replace(/\r$/, '') !== line);
    if (kept.length === lines.length) return null;
    await writeFileAtomic(this.abs(giRel), kept.join('\n'));
    return giRel;
  }

  // ---------------------------------------------------------------- status

  /**
   * Compares the workspace with the pointers. Files whose stat matches the stat cache are not read.
   * @example for (const s of await repo.status()) console.log(s.path, s.workspace)
   */
  async status(userPaths?: string[], o: { onProgress?: OnProgress } = {}): Promise<StatusEntry[]> {
    // a merge conflict in a pointer is something to report, not a reason to fail
    const { tracked: all, conflicts } = await this.listTrackedWithConflicts(true);
    const asked = userPaths?.length ? userPaths.map((p) => this.rel(p).replace(/\.trove$/, '')) : null;
    const conflicted = conflicts.filter((c) => !asked || asked.some((a) => isWithin(c.path, a) || isWithin(a, c.path)));
    const rest = asked ? userPaths!.filter((_, i) => !conflicted.some((c) => isWithin(asked[i], c.path))) : undefined;
    const targets = rest && !rest.length ? [] : await this.resolveTargets(rest, all);
    const ctx = this.ctx();
    const out: StatusEntry[] = [...conflicted];
    const seen = new Set<string>();
    for (const { tracked, sub } of targets) {
      if (seen.has(tracked.pointerFile) && !sub) continue;
      seen.add(tracked.pointerFile);
      const e = await this.statusOf(ctx, tracked, o.onProgress);
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

  private async statusOf(ctx: ReturnType<Repo['ctx']>, t: Tracked, onProgress?: OnProgress): Promise<StatusEntry> {
    const { pointer: ptr } = t;
    const base: Pick<StatusEntry, 'path' | 'pointerFile' | 'type' | 'oid' | 'missingObjects'> = { path: t.path, pointerFile: t.pointerFile, type: ptr.type, oid: ptr.oid };
    // folders: file by file, except subtrees the status index knows are whole (treeCompleteness.ts)
    let missingObjects: string[] | undefined;
    let inCache: boolean;
    if (ptr.type === 'dir') {
      const { findMissingObjects } = await import('./treeCompleteness.js');
      missingObjects = (await findMissingObjects(this.cache, this.state, ptr.oid, t.path)).paths;
      inCache = missingObjects.length === 0;
      if (inCache) missingObjects = undefined;
    } else inCache = await this.cache.has(ptr.oid, 'blob');
    let scanned: Scanned | null;
    try {
      scanned = await scanPath(ctx, this.root, t.path, { store: false, jobs: this.jobs, onProgress, lazyOids: true });
    } catch (err) {
      if (isErrno(err, 'EACCES')) throw new TroveError('IO', `${t.path}: cannot read (${(err as Error).message})`, 'check the file permissions (`ls -l`), or run as the user who owns the data', { cause: err });
      throw err;
    }
    if (missingObjects) base.missingObjects = missingObjects;
    if (!scanned) return { ...base, workspace: 'missing', cache: inCache ? 'present' : 'missing' };
    const same = scanned.oid === ptr.oid && scanned.type === ptr.type && (ptr.type === 'dir' || !!ptr.exec === scanned.exec);
    if (same) return { ...base, workspace: 'unchanged', cache: inCache ? 'present' : 'missing', workspaceOid: scanned.oid };
    const e: StatusEntry = { ...base, workspace: 'modified', cache: inCache ? 'present' : 'missing', workspaceOid: scanned.oid };
    if (ptr.type === 'dir' && scanned.type === 'dir' && (inCache || (await this.cache.has(ptr.oid, 'tree')))) {
      try {
        // the same tree walk as `trove diff` (equal subtrees skipped by oid); status lists a move as delete + add
        // folders vouched for by the status index list their files only if the diff descends into them
        const { diffFolders } = await import('./diff.js');
        const d = await diffFolders(this.cache, { kind: 'tree', oid: ptr.oid }, scanned.node ? { kind: 'scan', node: scanned.node } : null, t.path);
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

  // ---------------------------------------------------------------- checkout

  /**
   * Makes the workspace match the pointers: restores missing and changed files, removes files a
   * folder no longer lists. Never overwrites or deletes content that is not in the cache unless
   * `force` (WOULD_OVERWRITE names the files). Objects missing from the cache are reported in
   * `missing`, everything else is still restored.
   */
  async checkout(userPaths?: string[], o: CheckoutOptions = {}): Promise<CheckoutResult[]> {
    const targets = await this.resolveTargets(userPaths);
    // `checkout data/sub/file.bin` restores just that path: collect the sub-paths asked for per
    // pointer; a pointer also asked for whole is checked out whole.
    const only = new Map<string, string[] | null>();
    for (const { tracked, sub } of targets) {
      const prev = only.get(tracked.pointerFile);
      if (sub === null || prev === null) only.set(tracked.pointerFile, null);
      else only.set(tracked.pointerFile, [...(prev ?? []), sub]);
    }
    return this.checkoutTracked(uniqTargets(targets).map((t) => t.tracked), { ...o, only });
  }

  /**
   * Checks out explicit pointer versions (from a revision, a merge stage or a run record). With
   * `writePointers`, each pointer file is rewritten to the given version, but only once the whole
   * plan is known to be safe: a refusal or a missing object changes nothing.
   */
  async checkoutTracked(tracked: Tracked[], o: CheckoutOptions & { writePointers?: boolean; requireObjects?: boolean; only?: Map<string, string[] | null> } = {}): Promise<CheckoutResult[]> {
    const unlock = await this.lock('checkout');
    try {
      const out: CheckoutResult[] = [];
      const ctx = this.ctx();
      // Every path is checked before anything is planned or written: never into .git/.trove, over a
      // pointer, or through a linked folder (a pointer, a revision or a run record may be hostile).
      for (const t of tracked) {
        assertSafeDataPath(t.path, `${t.pointerFile}: field 'path'`);
        const where = unsafePathReason(path.posix.dirname(t.pointerFile));
        if (where && path.posix.dirname(t.pointerFile) !== '.') throw new TroveError('BAD_POINTER', `${t.pointerFile}: refusing a pointer there: ${where}`);
        if (o.writePointers) gitignoreLineFor(t.path);
        assertNoLinkedParent(this.root, t.path, t.pointerFile);
      }
      // a pointer owns data that git does not track: never over a committed file (e.g. `path: Makefile`)
      const inGit = tracked.length ? await this.git.trackedUnder(tracked.map((t) => t.path)) : [];
      if (inGit.length) {
        const t = tracked.find((x) => inGit.some((g) => isWithin(g, x.path)))!;
        throw new TroveError('BAD_POINTER', `${t.pointerFile}: field 'path' names ${t.path}, which git tracks (${inGit[0]}); a pointer never writes over a file in git`,
          `if ${t.path} should be data, \`git rm -r --cached ${shellQuote(t.path)}\` first`, { data: { file: t.pointerFile, field: 'path' } });
      }
      // Plan everything first, so that a refusal changes nothing.
      const plans = [];
      for (const t of tracked) plans.push(await this.planCheckout(ctx, t, !!o.force, o.only?.get(t.pointerFile) ?? null));
      if (o.requireObjects) {
        // every object to be written must be here before anything changes
        for (const p of plans) {
          for (const w of p.writes) {
            if (!this.cache.hasSync(w.oid, 'blob')) {
              p.missing.push(w.oid);
              p.missingFiles.push(w.rel);
            }
          }
        }
      }
      const missing = plans.flatMap((p) => p.missingFiles);
      if (o.requireObjects && missing.length) {
        throw new TroveError('MISSING_OBJECT', `not in the cache: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ` and ${missing.length - 10} more` : ''}`,
          'fetch them first with `trove fetch` (or `trove pull`); nothing was changed', { data: { oids: plans.flatMap((p) => p.missing), files: missing } });
      }
      const conflicts = plans.flatMap((p) => p.conflicts);
      if (conflicts.length && !o.force) {
        const shown = conflicts.slice(0, 10).join(', ') + (conflicts.length > 10 ? ` and ${conflicts.length - 10} more` : '');
        throw new TroveError('WOULD_OVERWRITE', `checkout would overwrite or delete changes that are not in the cache: ${shown}`,
          'run `trove add <path>` to keep them, or `trove checkout --force <path>` to discard them', { data: { files: conflicts } });
      }
      if (o.writePointers) {
        for (const t of tracked) {
          const prev = await this.readTracked(t.pointerFile).catch(() => null);
          await writePointer(this.abs(t.pointerFile), prev?.pointer.extra && !t.pointer.extra ? { ...t.pointer, extra: prev.pointer.extra } : t.pointer);
          await this.ignoreInGit(t.path);
        }
      }
      for (const plan of plans) out.push(await this.applyCheckout(plan, o));
      if (o.writePointers) {
        const staged = this.autostage();
        const files = (t: Tracked) => [t.pointerFile, gitignoreFor(t.path)].filter((f) => existsSync(this.abs(f)));
        if (staged) await this.git.add(tracked.flatMap(files));
        else tracked.forEach((t, i) => (out[i].gitAdd = files(t)));
      }
      return out;
    } finally {
      await unlock();
    }
  }

  /**
   * Makes tracked paths hold the given versions (from a run record, or a pointer at another revision):
   * writes each pointer and checks its data out of the cache, with `checkout`'s safety: everything is
   * planned first, so a refusal changes nothing. Every object must be in the cache (MISSING_OBJECT names
   * the paths otherwise); workspace content that is not in the cache is not overwritten without `force`.
   * @example await repo.checkoutVersions([{ path: 'data', type: 'dir', oid, size, files }])
   */
  async checkoutVersions(
    versions: { path: string; type: 'file' | 'dir'; oid: string; size: number; files?: number }[],
    o: { force?: boolean; onProgress?: OnProgress; jobs?: number } = {},
  ): Promise<{ results: CheckoutResult[]; gitAdd: string[] }> {
    const unlock = await this.lock('checkout');
    const targets: Tracked[] = [];
    try {
      const all = await this.listTracked();
      for (const v of versions) {
        const rel = assertSafeDataPath(validateRelPath(v.path, 'run record', 'BAD_RUN'), 'run record', 'BAD_RUN');
        const inside = all.find((t) => t.path !== rel && (isWithin(rel, t.path) || isWithin(t.path, rel)));
        if (inside) {
          throw new TroveError('PATH_ALREADY_TRACKED', `${rel}: overlaps ${inside.path}, which trove tracks now`,
            `stop tracking one of them first (\`trove remove ${shellQuote(inside.path)}\`)`);
        }
        const oid = assertOid(v.oid, rel);
        const prev = all.find((t) => t.path === rel);
        const pointer: Pointer = { version: 1, path: path.posix.basename(rel), type: v.type, oid, size: v.size };
        if (v.type === 'dir') pointer.files = v.files ?? 0;
        else if (prev?.pointer.oid === oid && prev.pointer.exec) pointer.exec = true;
        if (prev?.pointer.extra) pointer.extra = prev.pointer.extra;
        targets.push({ path: rel, pointerFile: pointerPathFor(rel), pointer });
      }
    } finally {
      await unlock();
    }
    // checkoutTracked plans first: a conflict or a missing object changes nothing
    const results = await this.checkoutTracked(targets, { ...o, writePointers: true, requireObjects: true });
    const gitAdd = targets.flatMap((t) => [t.pointerFile, gitignoreFor(t.path)]).filter((f) => existsSync(this.abs(f)));
    return { results, gitAdd };
  }

  /**
   * What checking out `t` would do, decided before anything is written. `only` limits a folder's
   * plan to paths inside it (`checkout data/sub/file.bin`): nothing else is written or deleted.
   */
  private async planCheckout(ctx: ReturnType<Repo['ctx']>, t: Tracked, force: boolean, only: string[] | null = null) {
    const ptr = t.pointer;
    const plan = {
      t,
      conflicts: [] as string[],
      writes: [] as { rel: string; oid: Oid; exec: boolean; size: number; fresh: boolean }[],
      chmods: [] as { rel: string; exec: boolean }[],
      deletes: [] as string[],
      dirsToRemove: [] as string[],
      dirsToMake: [] as string[],
      unchanged: 0,
      missing: [] as Oid[],
      missingFiles: [] as string[],
    };
    const abs = this.abs(t.path);
    // The workspace as it is (hash only what the stat cache cannot vouch for).
    let scanned: Scanned | null = null;
    try {
      scanned = await scanPath(ctx, this.root, t.path, { store: false, jobs: this.jobs });
    } catch (err) {
      if (!(err instanceof TroveError && err.code === 'SYMLINK') || !force) throw err;
      await fsp.rm(abs, { recursive: true, force: true });
    }
    const safeToDrop = async (oid: Oid | undefined) => force || (oid !== undefined && (await this.cache.has(oid, 'blob')));

    if (ptr.type === 'file') {
      if (!(await this.cache.has(ptr.oid, 'blob'))) {
        plan.missing.push(ptr.oid);
        plan.missingFiles.push(t.path);
        return plan;
      }
      if (scanned?.type === 'file' && scanned.oid === ptr.oid) {
        if (scanned.exec !== !!ptr.exec) plan.chmods.push({ rel: t.path, exec: !!ptr.exec });
        else plan.unchanged++;
        return plan;
      }
      if (scanned?.type === 'file' && !(await safeToDrop(scanned.oid))) plan.conflicts.push(t.path);
      if (scanned?.type === 'dir') {
        for (const [rel, f] of flatScan(scanned, t.path)) if (!(await safeToDrop(f))) plan.conflicts.push(rel);
        plan.dirsToRemove.push(t.path);
      }
      plan.writes.push({ rel: t.path, oid: ptr.oid, exec: !!ptr.exec, size: ptr.size, fresh: !scanned });
      return plan;
    }

    // folder
    if (scanned?.type === 'dir' && scanned.oid === ptr.oid) {
      plan.unchanged = scanned.files;
      return plan;
    }
    let want;
    try {
      want = await loadFlatTree(this.cache, ptr.oid, t.path);
    } catch (err) {
      if (err instanceof TroveError && err.code === 'MISSING_OBJECT') {
        plan.missing.push(...(((err.data?.oids as Oid[]) ?? [ptr.oid])));
        plan.missingFiles.push(t.path);
        return plan;
      }
      throw err;
    }
    // with `only`: a path is kept when it is inside one of the sub-paths asked for
    const keep = (rel: string) => !only || only.some((sub) => isWithin(rel, sub));
    const isAncestorOfOnly = (rel: string) => !!only && only.some((sub) => isWithin(sub, rel));
    const have = new Map<string, { oid: Oid; exec: boolean }>();
    if (scanned?.type === 'file' && only) {
      throw new TroveError('WOULD_OVERWRITE', `${t.path}: is a file in the workspace, but a folder in ${t.pointerFile}`, `restore the whole folder with \`trove checkout --force ${shellQuote(t.path)}\``);
    }
    if (scanned?.type === 'file') {
      if (!(await safeToDrop(scanned.oid))) plan.conflicts.push(t.path);
      plan.deletes.push(t.path);
    } else if (scanned?.node) {
      const walk = (n: NonNullable<Scanned['node']>, prefix: string) => {
        for (const [name, f] of n.files) have.set(prefix ? `${prefix}/${name}` : name, { oid: f.oid, exec: f.exec });
        for (const [name, d] of n.dirs) walk(d, prefix ? `${prefix}/${name}` : name);
      };
      walk(scanned.node, '');
    }
    if (only) {
      const named = (sub: string) => [...want.files.keys(), ...want.dirs, ...have.keys()].some((p) => isWithin(`${t.path}/${p}`, sub));
      const unknown = only.filter((sub) => !named(sub));
      if (unknown.length) {
        throw new TroveError('PATH_NOT_TRACKED', `${unknown.join(', ')}: not in ${t.path} (neither in ${t.pointerFile} nor in the workspace)`, `list what it holds with \`trove ls ${shellQuote(t.path)}\``);
      }
      for (const p of [...have.keys()]) if (!keep(`${t.path}/${p}`)) have.delete(p);
    }
    for (const [p, h] of have) {
      const w = want.files.get(p);
      if (w && w.oid === h.oid) {
        if (!!w.exec !== h.exec) plan.chmods.push({ rel: `${t.path}/${p}`, exec: !!w.exec });
        else plan.unchanged++;
        continue;
      }
      if (!(await safeToDrop(h.oid))) plan.conflicts.push(`${t.path}/${p}`);
      if (!w) plan.deletes.push(`${t.path}/${p}`);
    }
    // folders in the workspace that the tree does not have
    if (scanned?.node) {
      const dirs = (n: NonNullable<Scanned['node']>, prefix: string) => {
        for (const [name, d] of n.dirs) {
          const p = prefix ? `${prefix}/${name}` : name;
          if (!want.dirs.has(p) && keep(`${t.path}/${p}`)) plan.dirsToRemove.push(`${t.path}/${p}`);
          dirs(d, p);
        }
      };
      dirs(scanned.node, '');
    }
    plan.dirsToMake.push(t.path, ...[...want.dirs].sort().map((d) => `${t.path}/${d}`).filter((d) => keep(d) || isAncestorOfOnly(d)));
    for (const [p, w] of want.files) {
      if (!keep(`${t.path}/${p}`)) continue;
      const h = have.get(p);
      if (h && h.oid === w.oid) continue;
      plan.writes.push({ rel: `${t.path}/${p}`, oid: w.oid, exec: !!w.exec, size: w.size, fresh: !h });
    }
    return plan;
  }

  private async applyCheckout(plan: Awaited<ReturnType<Repo['planCheckout']>>, o: { onProgress?: OnProgress; jobs?: number }): Promise<CheckoutResult> {
    const modes = this.linkModes();
    let mode: LinkMode = modes.includes('reflink') || modes.includes('copy') ? 'copy' : modes[0];
    if (modes[0] === 'hardlink' || modes[0] === 'symlink') mode = modes[0];
    let usedMode: LinkMode | null = null;
    for (const rel of plan.deletes) await fsp.rm(this.abs(rel), { force: true });
    // deepest first so that parents empty out
    for (const rel of plan.dirsToRemove.sort((a, b) => b.length - a.length)) await fsp.rm(this.abs(rel), { recursive: true, force: true });
    for (const rel of plan.dirsToMake) {
      try {
        const st = lstatSync(this.abs(rel));
        if (!st.isDirectory()) await fsp.rm(this.abs(rel), { force: true });
      } catch {
        /* absent */
      }
      await fsp.mkdir(this.abs(rel), { recursive: true });
    }
    for (const c of plan.chmods) await fsp.chmod(this.abs(c.rel), c.exec ? 0o755 : 0o644);
    const limit = pLimit(o.jobs ?? this.jobs);
    const records: { path: string; key: ReturnType<typeof statKey>; oid: Oid; exec: boolean }[] = [];
    let done = 0;
    const total = plan.writes.length;
    const missing = new Set(plan.missing);
    const missingFiles = [...plan.missingFiles];
    if (plan.t.pointer.type === 'file' && plan.writes.length) await fsp.mkdir(path.dirname(this.abs(plan.t.path)), { recursive: true });
    // cache objects are read-only and never executable: an executable file is always a copy
    const modeFor = (w: (typeof plan.writes)[number]): LinkMode => (w.exec ? 'copy' : mode);
    const written = (w: (typeof plan.writes)[number], dest: string) => {
      if (mode !== 'symlink') records.push({ path: w.rel, key: statKey(statSync(dest)), oid: w.oid, exec: w.exec });
      done++;
      if (o.onProgress && (done & 63) === 0) o.onProgress({ phase: 'checkout', done, total });
    };
    const notCached = (w: (typeof plan.writes)[number], err: unknown) => {
      const gone = isTroveError(err, 'MISSING_OBJECT') || (isErrno(err, 'ENOENT') && !this.cache.hasSync(w.oid, 'blob'));
      if (!gone) throw err;
      missing.add(w.oid);
      missingFiles.push(w.rel);
    };
    // Large files stream through the thread pool, several at a time; small ones are written here in
    // a plain loop, with no promise per file (see Cache.materializeSync), yielding now and then so
    // that progress is drawn and the large copies' callbacks run.
    const large = Promise.all(
      plan.writes.filter((w) => w.size > SYNC_FILE).map((w) =>
        limit(async () => {
          const dest = this.abs(w.rel);
          try {
            usedMode = await this.cache.materialize(w.oid, dest, modeFor(w), w.exec);
          } catch (err) {
            return notCached(w, err);
          }
          written(w, dest);
        }),
      ),
    );
    let n = 0;
    for (const w of plan.writes) {
      if (w.size > SYNC_FILE) continue;
      const dest = this.abs(w.rel);
      try {
        usedMode = this.cache.materializeSync(w.oid, dest, modeFor(w), w.exec, w.fresh);
      } catch (err) {
        notCached(w, err);
        continue;
      }
      written(w, dest);
      if ((++n & 511) === 0) await new Promise((r) => setImmediate(r));
    }
    await large;
    o.onProgress?.({ phase: 'checkout', done, total });
    this.state.record(records);
    this.state.save();
    return {
      path: plan.t.path, written: done, deleted: plan.deletes.length, unchanged: plan.unchanged,
      missing: [...missing], missingFiles: missingFiles.sort(), linkMode: usedMode,
    };
  }

  // ---------------------------------------------------------------- fsck

  /** Re-hashes every cached object; corrupt ones are moved to `cache/quarantine/`, never deleted. */
  async fsck(o: { onProgress?: OnProgress; jobs?: number } = {}): Promise<FsckResult> {
    // each object checked as the kind the store holds it as: nothing is guessed from bytes
    const oids: { oid: Oid; kind: ObjectKind; size: number }[] = [];
    for await (const e of this.cache.list()) oids.push({ oid: e.oid, kind: e.kind, size: e.size });
    const limit = pLimit(o.jobs ?? Math.max(2, os.availableParallelism()));
    const corrupt: FsckResult['corrupt'] = [];
    let done = 0;
    let bytes = 0;
    await Promise.all(
      oids.map(({ oid, kind, size }) =>
        limit(async () => {
          if (!(await this.cache.verify(oid, kind))) corrupt.push({ oid, kind, quarantinedAs: path.relative(this.root, await this.cache.quarantine(oid, kind)) });
          done++;
          bytes += size;
          if (o.onProgress && (done & 15) === 0) o.onProgress({ phase: 'fsck', done, total: oids.length, bytes });
        }),
      ),
    );
    o.onProgress?.({ phase: 'fsck', done, total: oids.length, bytes });
    const strayTemp = await this.cache.countTemp();
    corrupt.sort((a, b) => a.oid.localeCompare(b.oid));
    return { checked: oids.length, bytes, corrupt, strayTemp };
  }

  // ---------------------------------------------------------------- ls

  /** Tracked paths, or the files of one tracked folder, from the trees and the stat cache (no data read). */
  async ls(userPath?: string): Promise<LsEntry[]> {
    if (!userPath) {
      const out: LsEntry[] = [];
      for (const t of await this.listTracked()) {
        out.push({ path: t.path, type: t.pointer.type, size: t.pointer.size, files: t.pointer.files, oid: t.pointer.oid, state: this.quickState(t.path, t.pointer.oid, t.pointer.type) });
      }
      return out;
    }
    const [{ tracked, sub }] = await this.resolveTargets([userPath]);
    if (tracked.pointer.type === 'file') {
      return [{ path: tracked.path, type: 'file', size: tracked.pointer.size, oid: tracked.pointer.oid, state: this.quickState(tracked.path, tracked.pointer.oid, 'file') }];
    }
    const flat = await loadFlatTree(this.cache, tracked.pointer.oid, tracked.path);
    const out: LsEntry[] = [];
    for (const [p, e] of [...flat.files].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      const rel = `${tracked.path}/${p}`;
      if (sub && !isWithin(rel, sub)) continue;
      out.push({ path: rel, type: 'file', size: e.size, oid: e.oid, state: this.quickState(rel, e.oid, 'file') });
    }
    if (sub && !out.length && ![...flat.dirs].some((d) => isWithin(`${tracked.path}/${d}`, sub))) {
      throw new TroveError('PATH_NOT_TRACKED', `${userPath}: no such path in ${tracked.path} (${tracked.pointerFile})`, `list what it holds with \`trove ls ${shellQuote(tracked.path)}\``);
    }
    return out;
  }

  private quickState(rel: string, oid: Oid, type: 'file' | 'dir'): LsEntry['state'] {
    let st;
    try {
      st = lstatSync(this.abs(rel));
    } catch {
      return 'missing';
    }
    if (type === 'dir') return st.isDirectory() ? 'present' : 'modified';
    const known = this.state.lookupLoose(rel, statKey(st));
    if (known === null) return 'unknown';
    return known === oid ? 'present' : 'modified';
  }

  // ---------------------------------------------------------------- remove / move

  /** Stops tracking: the pointer and the .gitignore line go; with `purge` the data too. */
  async remove(userPaths: string[], o: { purge?: boolean; force?: boolean } = {}): Promise<{ removed: string[]; purged: string[]; gitRm: string[] }> {
    const targets = uniqTargets(await this.resolveTargets(userPaths));
    // remove deletes (with --purge, the data too) and edits the .gitignore beside it: never through a link
    for (const { tracked } of targets) assertNoLinkedParent(this.root, tracked.path, tracked.pointerFile);
    const unlock = await this.lock('remove');
    try {
      if (o.purge && !o.force) {
        const st = await this.status(targets.map((x) => x.tracked.path));
        const dirty = st.filter((s) => s.workspace === 'modified');
        if (dirty.length) {
          throw new TroveError('WOULD_OVERWRITE', `--purge would delete changes that are not in the cache: ${dirty.map((d) => d.path).join(', ')}`, 'run `trove add` first, or add --force');
        }
      }
      const removed: string[] = [];
      const purged: string[] = [];
      const gitRm: string[] = [];
      // `git add -A <pointer>` only works for a pointer git knows: one never committed or staged is
      // simply gone, and naming it would make git refuse the whole line
      const known = await this.git.known(targets.map((x) => x.tracked.pointerFile));
      for (const { tracked } of targets) {
        await fsp.rm(this.abs(tracked.pointerFile), { force: true });
        const gi = await this.unignoreInGit(tracked.path);
        if (gi) gitRm.push(gi);
        if (known.has(tracked.pointerFile)) gitRm.push(tracked.pointerFile);
        this.state.forget(tracked.path);
        this.state.save();
        if (o.purge) {
          await fsp.rm(this.abs(tracked.path), { recursive: true, force: true });
          purged.push(tracked.path);
        }
        removed.push(tracked.path);
      }
      return { removed, purged, gitRm };
    } finally {
      await unlock();
    }
  }

  /** Moves tracked data and its pointer together. */
  async move(src: string, dst: string): Promise<{ from: string; to: string; pointerFile: string; gitAdd: string[] }> {
    const [{ tracked, sub }] = await this.resolveTargets([src]);
    assertNoLinkedParent(this.root, tracked.path, tracked.pointerFile);
    if (sub) throw new TroveError('BAD_ARGS', `${src}: inside tracked folder ${tracked.path}; move the whole folder, or edit it and \`trove add ${tracked.path}\``);
    let to = this.rel(dst);
    try {
      if (statSync(this.abs(to)).isDirectory()) to = to ? `${to}/${path.posix.basename(tracked.path)}` : path.posix.basename(tracked.path);
    } catch {
      /* destination does not exist: that is the new name */
    }
    const unlock = await this.lock('move');
    try {
      const all = await this.listTracked();
      if (existsSync(this.abs(to)) || existsSync(this.abs(pointerPathFor(to)))) throw new TroveError('WOULD_OVERWRITE', `${to}: already exists`, 'choose another destination');
      await this.checkMoveTarget(to, all, tracked);
      await fsp.mkdir(path.dirname(this.abs(to)), { recursive: true });
      const hasData = existsSync(this.abs(tracked.path));
      if (hasData) await fsp.rename(this.abs(tracked.path), this.abs(to));
      const newPtr: Pointer = { ...tracked.pointer, path: path.posix.basename(to) };
      const pointerFile = pointerPathFor(to);
      await writePointer(this.abs(pointerFile), newPtr);
      await fsp.rm(this.abs(tracked.pointerFile), { force: true });
      const gitAdd = [pointerFile, tracked.pointerFile];
      const gi1 = await this.unignoreInGit(tracked.path);
      const gi2 = await this.ignoreInGit(to);
      for (const g of [gi1, gi2]) if (g && !gitAdd.includes(g)) gitAdd.push(g);
      this.state.forget(tracked.path);
      this.state.save();
      return { from: tracked.path, to, pointerFile, gitAdd };
    } finally {
      await unlock();
    }
  }

  private async checkMoveTarget(to: string, all: Tracked[], self: Tracked): Promise<void> {
    if (to === '' || to.split('/')[0] === TROVE_DIR || to.split('/').includes('.git')) throw new TroveError('BAD_ARGS', `${to || '.'}: not a place for tracked data`);
    assertSafeDataPath(to, 'move', 'BAD_ARGS');
    gitignoreLineFor(to);
    assertNoLinkedParent(this.root, to, 'move');
    const parent = all.find((t) => t !== self && t.pointer.type === 'dir' && isWithin(to, t.path));
    if (parent) throw new TroveError('PATH_ALREADY_TRACKED', `${to}: inside ${parent.path}, which trove already tracks`);
    if (isWithin(to, self.path)) throw new TroveError('BAD_ARGS', `${to}: inside ${self.path} itself`);
  }

  // ---------------------------------------------------------------- config

  configGet(key: string): unknown {
    return getKey(this.config, key);
  }

  configList(): [string, unknown][] {
    return flattenConfig(this.config);
  }

  /** Sets (or with value undefined, unsets) a key in `.trove/config` or, with `local`, `.trove/config.local`. */
  async configSet(key: string, value: string | undefined, o: { local?: boolean } = {}): Promise<void> {
    const file = path.join(this.troveDir, o.local ? 'config.local' : 'config');
    const display = o.local ? '.trove/config.local' : '.trove/config';
    const tree = await readConfigFile(file, display);
    if (value === undefined) {
      if (!unsetKey(tree, key)) throw new TroveError('CONFIG', `${key}: not set in ${display}`);
    } else setKey(tree, key, validateSetting(key, value));
    await writeConfigFile(file, tree, o.local ? LOCAL_HEADER : CONFIG_HEADER);
  }
}

export interface CheckoutOptions {
  force?: boolean;
  onProgress?: OnProgress;
  jobs?: number;
}

function gitignoreFor(rel: string): string {
  const dir = path.posix.dirname(rel);
  return dir === '.' ? '.gitignore' : `${dir}/.gitignore`;
}

function uniqTargets<T extends { tracked: Tracked }>(targets: T[]): T[] {
  const seen = new Set<string>();
  return targets.filter((t) => (seen.has(t.tracked.pointerFile) ? false : (seen.add(t.tracked.pointerFile), true)));
}

function flatScan(s: Scanned, base: string): [string, Oid][] {
  const out: [string, Oid][] = [];
  const walk = (n: NonNullable<Scanned['node']>, p: string) => {
    for (const [name, f] of n.files) out.push([`${p}/${name}`, f.oid]);
    for (const [name, d] of n.dirs) walk(d, `${p}/${name}`);
  };
  if (s.node) walk(s.node, base);
  return out;
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

/**
 * For a linked worktree (its `.git` is a file `gitdir: <main>/.git/worktrees/<name>`), the main
 * checkout's `.trove` folder, so that every worktree shares one cache. null otherwise.
 */
function mainWorktreeTrove(root: string): string | null {
  try {
    const dotgit = path.join(root, '.git');
    if (!lstatSync(dotgit).isFile()) return null;
    const m = /^gitdir: (.+)$/m.exec(readFileSync(dotgit, 'utf8'));
    if (!m) return null;
    const gitdir = path.resolve(root, m[1].trim());
    const common = path.resolve(gitdir, readFileSync(path.join(gitdir, 'commondir'), 'utf8').trim());
    if (path.basename(common) !== '.git') return null;
    const main = path.join(path.dirname(common), TROVE_DIR);
    return main !== path.join(root, TROVE_DIR) && existsSync(main) ? main : null;
  } catch {
    return null;
  }
}

/** Adds the status index's names to a `.trove/.gitignore` written before it existed. */
function ignoreStatusIndex(file: string): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return; // none: `trove init` writes a complete one
  }
  if (text.split(/\r?\n/).includes('/status-index')) return;
  writeFileSync(file, text + (text.endsWith('\n') ? '' : '\n') + '/status-index\n/.status-index.*\n');
}

/**
 * `cache.dir` may come from a cloned repository's committed config: it must not send cache writes
 * into a `.git` (any variant), onto the filesystem root, the repository itself or a folder above it.
 */
function assertSafeCacheDir(root: string, cacheDir: string, setting: unknown): void {
  if (setting === undefined) return;
  const refuse = (why: string) => new TroveError('CONFIG', `.trove/config: cache.dir ${JSON.stringify(setting)} ${why}`,
    'point cache.dir at a folder of its own (set it in .trove/config.local, per machine), or unset it', { data: { file: '.trove/config', field: 'cache.dir' } });
  if (path.dirname(cacheDir) === cacheDir) throw refuse('is the filesystem root');
  if (path.relative(cacheDir, root) === '') throw refuse('is the repository itself');
  if (isInsideOrSame(cacheDir, root)) throw refuse('holds the repository');
  if (isInsideOrSame(root, cacheDir) && path.relative(root, cacheDir).split(path.sep).some((x) => isDotGit(x))) throw refuse("is inside the repository's .git");
}

function mkdirSyncSafe(dir: string): void {
  // sync: called from getters; the folder almost always exists already
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
}

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./@%+=:,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
