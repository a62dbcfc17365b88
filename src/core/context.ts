/**
 * The repository context: what every operation under `ops/` needs, opened once.
 *
 * - `root`, `cwd`: the work tree holding `.trove/`, and the folder user paths are relative to
 * - `config` and `settings`: the merged `.trove/config` + `.trove/config.local`, and the typed settings parsed
 *   from it once at open (a bad value is a CONFIG error before anything is written)
 * - `cache`: the object store; `state`: the status index (loaded on first use); `git`: the git adapter
 * - `lock(what)`: the repository lock, held by every operation that writes; `runStore()`: the run records
 *
 * Operations are free functions `op(ctx, args, opts)` (see `src/core/README.md`); `Repo` (repo.ts) is a façade
 * over them and is itself a RepoContext, so `op(repo, …)` works too.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from './atomicWrite.js';
import { ensureLayout } from './store/layout.js';
import { ChunkedStore, chunkThreshold } from './store/chunked.js';
import { LooseStore } from './store/loose.js';
import { PACK_MAX_OBJECT, PackedStore } from './store/packed.js'; // small objects in packs, large ones loose
import type { LinkMode, ObjectStore } from './store/objectStore.js';
import { getKey, mergeConfig, parseBool, parseLinkModes, readConfigFile, writeConfigFile, type ConfigTree } from './config.js';
import { TroveError } from './errors.js';
import { Git } from './git/git.js';
import { acquireLock } from './lock.js';
import { repoRelative } from './paths.js';
import { isDotGit, isInsideOrSame } from './safePath.js';
import { LEGACY_STATE_FILE, migrateStateDb } from './state.js';
import { STATUS_INDEX_FILE, StatusIndex } from './statusIndex.js';
import { IgnoreRules } from './walk.js';
import type { RunStore } from './runs/store.js';
import type { scanPath } from './workspace.js';

export const TROVE_DIR = '.trove';
export const CONFIG_HEADER = '# trove config: committed to git. Per-machine settings go in config.local (not committed).\n';
export const LOCAL_HEADER = '# trove local config: this machine only, never committed. No secrets: credentials come from the AWS chain.\n';
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

/** What a workspace scan needs (workspace.ts `scanPath`'s first argument). */
export type ScanContext = Parameters<typeof scanPath>[0];

/** The settings trove reads from the config, parsed once when the repository is opened. */
export interface RepoSettings {
  /** `cache.link`: link modes to try, in order */
  linkModes: LinkMode[];
  /** `cache.jobs`: parallel file operations */
  jobs: number;
  /** `core.autostage`: trove runs `git add` on the files it changed for git */
  autostage: boolean;
}

/** The merged config of the repository that holds `cwd` (nearest folder with `.trove/`). */
export async function locateRepo(cwd: string = process.cwd()): Promise<{ root: string; cwd: string; config: ConfigTree }> {
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
  return { root: dir, cwd: start, config: mergeConfig(committed, local) };
}

/** Creates `.trove/` at the top of the git work tree holding `cwd`. Harmless when run twice. */
export async function initRepo(cwd: string = process.cwd()): Promise<{ root: string; created: boolean }> {
  const top = await new Git(path.resolve(cwd)).topLevel();
  if (!top) throw new TroveError('NOT_A_GIT_REPO', `${path.resolve(cwd)} is not inside a git work tree`, 'run `git init` first (trove keeps its pointers in git)');
  const dir = path.join(top, TROVE_DIR);
  const created = !existsSync(path.join(dir, 'config'));
  await fsp.mkdir(dir, { recursive: true });
  if (created) await writeConfigFile(path.join(dir, 'config'), {}, CONFIG_HEADER);
  if (!existsSync(path.join(dir, '.gitignore'))) await writeFileAtomic(path.join(dir, '.gitignore'), TROVE_GITIGNORE);
  return { root: top, created };
}

/**
 * @example
 * const ctx = await RepoContext.open(process.cwd());
 * const entries = await status(ctx, ['data']);
 * ctx.close();
 */
export class RepoContext {
  readonly troveDir: string;
  /** the object store (store/objectStore.ts); named `cache` as in wave 1 */
  readonly cache: ObjectStore;
  readonly settings: RepoSettings;
  private _state?: StatusIndex;
  private _git?: Git;

  /** Validates the settings and `cache.dir` (CONFIG errors) before anything is written. */
  constructor(readonly root: string, readonly cwd: string, readonly config: ConfigTree) {
    this.troveDir = path.join(root, TROVE_DIR);
    const cacheDir = getKey(config, 'cache.dir');
    this.settings = parseSettings(config);
    let loose: LooseStore;
    if (typeof cacheDir === 'string' && cacheDir) {
      const dir = path.resolve(root, cacheDir);
      loose = new LooseStore(dir, path.join(dir, 'tmp'));
    } else {
      // A linked worktree (`git worktree add`) shares the main checkout's cache.
      const home = mainWorktreeTrove(root) ?? this.troveDir;
      loose = new LooseStore(path.join(home, 'cache'), path.join(home, 'tmp'));
    }
    // large files as content-defined chunks (store/chunked.ts); `cache.chunk`, off by default with link modes
    // small objects (and chunks) in packs (store/packed.ts); `cache.packs`, on by default
    this.cache = new ChunkedStore(new PackedStore(loose, packLimit(config)), { threshold: configError(() => chunkThreshold(getKey(config, 'cache.chunk'), this.settings.linkModes)) });
    assertSafeCacheDir(root, this.cache.dir, getKey(config, 'cache.dir'));
  }

  /** Opens the repository that holds `cwd` (nearest folder with `.trove/`). */
  static async open(cwd: string = process.cwd()): Promise<RepoContext> {
    const { root, cwd: start, config } = await locateRepo(cwd);
    const ctx = new RepoContext(root, start, config);
    await ctx.ensureStoreLayout();
    return ctx;
  }

  /** A store newer than this trove is refused (CONFIG); wave 1's cache is migrated once, under the repo lock (store/layout.ts). */
  async ensureStoreLayout(): Promise<void> {
    await ensureLayout(this.cache.dir, () => this.lock('migrate the cache layout'));
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

  /** Saves the status index; the context can be used again after (the index is re-loaded). */
  close(): void {
    this._state?.save();
    this._state = undefined;
  }

  get jobs(): number {
    return this.settings.jobs;
  }

  linkModes(): LinkMode[] {
    return this.settings.linkModes;
  }

  /** `core.autostage`: trove runs `git add` on the files it changed for git (pointers, .gitignore, config). */
  autostage(): boolean {
    return this.settings.autostage;
  }

  /** Repo-relative form of a user path (relative to cwd); throws for paths outside the repo. */
  rel(userPath: string): string {
    return repoRelative(this.root, this.cwd, userPath.replace(/\/+$/, '') || '/');
  }

  abs(rel: string): string {
    return path.join(this.root, rel);
  }

  /** Takes the repository lock (`.trove/lock`); call the returned function to release it. */
  lock(what: string): Promise<() => Promise<void>> {
    mkdirSyncSafe(this.troveDir);
    return acquireLock(path.join(this.troveDir, 'lock'), what);
  }

  /** The run records under `.trove/runs/` and their index. */
  async runStore(): Promise<RunStore> {
    // loaded on use: the runs modules bring zod and yaml, which status and add never need
    const { RunStore } = await import('./runs/store.js');
    return new RunStore(path.join(this.troveDir, 'runs'), path.join(this.troveDir, 'index.db'));
  }

  /** What a workspace scan needs; the ignore rules are read afresh each time. */
  scanContext(): ScanContext {
    return { cache: this.cache, state: this.state, rules: IgnoreRules.load(this.root) };
  }
}

/**
 * `cache.packs` (default true): small objects go into packs. `false` stores every new object loose
 * (packs already there stay readable), for setups that want hardlink/symlink checkouts of every file.
 */
function packLimit(config: ConfigTree): number {
  const v = getKey(config, 'cache.packs');
  const on = v === undefined || v === true || (typeof v === 'string' && parseBool(v));
  return on ? PACK_MAX_OBJECT : -1;
}

function parseSettings(config: ConfigTree): RepoSettings {
  const v = getKey(config, 'cache.link');
  let linkModes: LinkMode[];
  try {
    linkModes = v === undefined ? ['reflink', 'copy'] : parseLinkModes(v);
  } catch (err) {
    throw new TroveError('CONFIG', `.trove/config: ${(err as Error).message}`, (err as TroveError).hint);
  }
  const j = getKey(config, 'cache.jobs');
  const jobs = typeof j === 'number' && j > 0 ? j : Math.max(8, os.availableParallelism() * 4);
  const a = getKey(config, 'core.autostage');
  const autostage = a === true || (typeof a === 'string' && parseBool(a));
  return { linkModes, jobs, autostage };
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

/** A CONFIG error from a setting, named as coming from .trove/config. */
function configError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TroveError && err.code === 'CONFIG') throw new TroveError('CONFIG', `.trove/config: ${err.message}`, err.hint);
    throw err;
  }
}
