/**
 * `Repo`: the façade that the CLI and library users open. It is a RepoContext (context.ts) whose methods call
 * the operations under `ops/`, one module each; the operations are also exported as free functions
 * `op(ctx, args, opts)` from `src/index.ts`. Nothing is implemented here.
 */
import { RepoContext, initRepo, locateRepo } from './context.js';
import type { ActiveRun, StartRunOptions } from './runs/recorder.js';
import type { OnProgress, Scanned } from './workspace.js';
// each operation is loaded when first called: a command pays for its own modules only (`status`
// loading add, checkout, fsck, ls, move and remove measured ~60 M instructions of its start, callgrind)
import type { AddResult } from './ops/add.js';
import type { checkoutTracked, checkoutVersions, CheckoutOptions, CheckoutResult } from './ops/checkout.js';
import { configGet, configList, configSet } from './ops/config.js';
import type { FsckResult } from './ops/fsck.js';
import type { LsEntry } from './ops/ls.js';
import type { StatusEntry } from './ops/status.js';
import { listTracked, readTracked, resolveTargets, scanTracked, type Tracked } from './ops/tracked.js';

export { TROVE_DIR, TROVE_GITIGNORE } from './context.js';
export { shellQuote } from './shellQuote.js';
export type { AddResult, CheckoutOptions, CheckoutResult, FsckResult, LsEntry, StatusEntry, Tracked };

/**
 * A trove repository: the git work tree that holds `.trove/`.
 *
 * @example
 * const repo = await Repo.open(process.cwd());
 * const { results: [res] } = await repo.add(['data']);
 * console.log(res.oid, res.files);
 */
export class Repo extends RepoContext {
  /** Finds the repository that holds `cwd` (nearest folder with `.trove/`). */
  static override async open(cwd: string = process.cwd()): Promise<Repo> {
    const { root, cwd: start, config } = await locateRepo(cwd);
    const repo = new Repo(root, start, config);
    await repo.ensureStoreLayout();
    return repo;
  }

  /** Creates `.trove/` at the top of the git work tree holding `cwd`. Harmless when run twice. */
  static async init(cwd: string = process.cwd()): Promise<{ root: string; created: boolean }> {
    return initRepo(cwd);
  }

  // ---------------------------------------------------------------- runs

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

  // ---------------------------------------------------------------- operations (ops/*.ts)

  /** ops/tracked.ts */
  scanTracked(rel: string, o: { store?: boolean } = {}): Promise<Scanned | null> {
    return scanTracked(this, rel, o);
  }

  /** ops/tracked.ts */
  listTracked(): Promise<Tracked[]> {
    return listTracked(this);
  }

  /** ops/tracked.ts */
  readTracked(pointerFile: string): Promise<Tracked | null> {
    return readTracked(this, pointerFile);
  }

  /** ops/tracked.ts */
  resolveTargets(userPaths: string[] | undefined, listed?: Tracked[]): Promise<{ tracked: Tracked; sub: string | null }[]> {
    return resolveTargets(this, userPaths, listed);
  }

  /**
   * Hashes files and folders into the cache and writes their pointers (ops/add.ts).
   * @example await repo.add(['data', 'models/model.pkl'])
   */
  add(userPaths: string[], o: { onProgress?: OnProgress; signal?: AbortSignal; jobs?: number } = {}): Promise<{ results: AddResult[]; gitAdd: string[]; packsMerged?: number }> {
    return import('./ops/add.js').then((m) => m.add(this, userPaths, o));
  }

  /**
   * Compares the workspace with the pointers (ops/status.ts).
   * @example for (const s of await repo.status()) console.log(s.path, s.workspace)
   */
  status(userPaths?: string[], o: { onProgress?: OnProgress } = {}): Promise<StatusEntry[]> {
    return import('./ops/status.js').then((m) => m.status(this, userPaths, o));
  }

  /** Makes the workspace match the pointers (ops/checkout.ts). */
  checkout(userPaths?: string[], o: CheckoutOptions = {}): Promise<CheckoutResult[]> {
    return import('./ops/checkout.js').then((m) => m.checkout(this, userPaths, o));
  }

  /** Checks out explicit pointer versions (ops/checkout.ts). */
  checkoutTracked(tracked: Tracked[], o: Parameters<typeof checkoutTracked>[2] = {}): Promise<CheckoutResult[]> {
    return import('./ops/checkout.js').then((m) => m.checkoutTracked(this, tracked, o));
  }

  /**
   * Makes tracked paths hold the given versions (ops/checkout.ts).
   * @example await repo.checkoutVersions([{ path: 'data', type: 'dir', oid, size, files }])
   */
  checkoutVersions(versions: Parameters<typeof checkoutVersions>[1], o: Parameters<typeof checkoutVersions>[2] = {}): Promise<{ results: CheckoutResult[]; gitAdd: string[] }> {
    return import('./ops/checkout.js').then((m) => m.checkoutVersions(this, versions, o));
  }

  /** Re-hashes every cached object (ops/fsck.ts). */
  fsck(o: { onProgress?: OnProgress; jobs?: number } = {}): Promise<FsckResult> {
    return import('./ops/fsck.js').then((m) => m.fsck(this, o));
  }

  /** Tracked paths, or the files of one tracked folder (ops/ls.ts). */
  ls(userPath?: string): Promise<LsEntry[]> {
    return import('./ops/ls.js').then((m) => m.ls(this, userPath));
  }

  /** Stops tracking (ops/remove.ts). */
  remove(userPaths: string[], o: { purge?: boolean; force?: boolean } = {}): Promise<{ removed: string[]; purged: string[]; gitRm: string[] }> {
    return import('./ops/remove.js').then((m) => m.remove(this, userPaths, o));
  }

  /** Moves tracked data and its pointer together (ops/move.ts). */
  move(src: string, dst: string): Promise<{ from: string; to: string; pointerFile: string; gitAdd: string[] }> {
    return import('./ops/move.js').then((m) => m.move(this, src, dst));
  }

  /** ops/config.ts */
  configGet(key: string): unknown {
    return configGet(this, key);
  }

  /** ops/config.ts */
  configList(): [string, unknown][] {
    return configList(this);
  }

  /** Sets (or with value undefined, unsets) a key (ops/config.ts). */
  configSet(key: string, value: string | undefined, o: { local?: boolean } = {}): Promise<void> {
    return configSet(this, key, value, o);
  }
}
