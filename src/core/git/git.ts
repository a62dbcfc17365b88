import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import type { SimpleGit } from 'simple-git';
import { TroveError } from '../errors.js';
import { gitEnv } from './env.js';

/**
 * The one git adapter. This class: the few git questions core asks, through one simple-git instance per repo.
 * Beside it: `catFile.ts` (many objects through one `cat-file --batch`, answers in order), `lsTree.ts`
 * (files at a commit or in the index), `spawn.ts` (git with binary output or stdin) and `env.ts` (the
 * scrubbed environment all of them use: LC_ALL=C, so nothing depends on the user's locale, and no
 * inherited GIT_DIR & co.). Errors are wrapped as GIT with the command named.
 */
export class Git {
  private _sg?: SimpleGit;
  constructor(readonly dir: string) {}

  /** simple-git, loaded on first use (~10 ms of module loading that `status` does not need). */
  get sg(): SimpleGit {
    if (!this._sg) {
      const { simpleGit } = createRequire(import.meta.url)('simple-git') as typeof import('simple-git');
      const env = gitEnv();
      this._sg = simpleGit({ baseDir: this.dir, maxConcurrentProcesses: 4, trimmed: false, allowEnvironment: Object.keys(env).filter((k) => k.startsWith('GIT_')) }).env(env);
    }
    return this._sg;
  }

  /**
   * The pointer files in the work tree, tracked or not, never git-ignored ones. On the path of every
   * `status`, so one plain execFile (no library on top): measured 20 ms → 7 ms for a small repo.
   */
  lsPointerFiles(): Promise<string[]> {
    return new Promise((resolve, reject) => {
      execFile('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--deduplicate', '--', ':(glob)**/*.trove'],
        { cwd: this.dir, env: gitEnv(), maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
          if (err) reject(new TroveError('GIT', `git ls-files failed: ${String(stderr || err.message).trim().split('\n')[0]}`, undefined, { cause: err }));
          else resolve([...new Set(stdout.split('\0').filter(Boolean))].sort());
        });
    });
  }

  async raw(args: string[]): Promise<string> {
    try {
      return await this.sg.raw(args);
    } catch (err) {
      throw new TroveError('GIT', `git ${args[0]} failed: ${String((err as Error).message).trim().split('\n')[0]}`, undefined, { cause: err });
    }
  }

  async topLevel(): Promise<string | null> {
    try {
      return (await this.sg.raw(['rev-parse', '--show-toplevel'])).trim();
    } catch {
      return null;
    }
  }

  /** Paths (repo-relative to `dir`) among `paths` that git tracks (in the index), including files below folders. */
  async trackedUnder(paths: string[]): Promise<string[]> {
    if (!paths.length) return [];
    // a plain execFile as lsPointerFiles: on the path of every `add`, where loading simple-git was
    // ~10% of a re-add of an unchanged 20,000-file folder (callgrind)
    const out = await new Promise<string>((resolve, reject) => {
      execFile('git', ['ls-files', '-z', '--cached', '--full-name', '--', ...paths.map((p) => `:(literal)${p}`)],
        { cwd: this.dir, env: gitEnv(), maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
          if (err) reject(new TroveError('GIT', `git ls-files failed: ${String(stderr || err.message).trim().split('\n')[0]}`, undefined, { cause: err }));
          else resolve(stdout);
        });
    });
    return out.split('\0').filter(Boolean);
  }

  /** False in a repository with no commit yet (unborn HEAD): then everything tracked counts as added. */
  async hasCommits(): Promise<boolean> {
    return new Promise((resolve) => {
      execFile('git', ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'], { cwd: this.dir, env: gitEnv() }, (err) => resolve(!err));
    });
  }

  /** Which of `paths` git knows (in the index): the ones a `git add -A <path>` line may name. */
  async known(paths: string[]): Promise<Set<string>> {
    return new Set(await this.trackedUnder(paths));
  }

  /** `git add` of files (used by autostage). */
  async add(paths: string[]): Promise<void> {
    if (paths.length) await this.raw(['add', '--', ...paths.map((p) => `:(literal)${p}`)]);
  }
}
