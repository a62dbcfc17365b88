import { simpleGit, type SimpleGit } from 'simple-git';
import { TroveError } from './errors.js';

/**
 * The few git questions core asks, through one simple-git instance per repo. LC_ALL=C so that
 * nothing depends on the user's locale; errors are wrapped as GIT with the command named.
 */
export class Git {
  readonly sg: SimpleGit;
  constructor(readonly dir: string) {
    const env = gitEnv();
    this.sg = simpleGit({ baseDir: dir, maxConcurrentProcesses: 4, trimmed: false, allowEnvironment: Object.keys(env).filter((k) => k.startsWith('GIT_')) }).env(env);
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
    const out = await this.raw(['ls-files', '-z', '--cached', '--full-name', '--', ...paths.map((p) => `:(literal)${p}`)]);
    return out.split('\0').filter(Boolean);
  }

  /** `git add` of files (used by autostage). */
  async add(paths: string[]): Promise<void> {
    if (paths.length) await this.raw(['add', '--', ...paths.map((p) => `:(literal)${p}`)]);
  }
}

/**
 * The environment for git children: the user's (HOME, PATH, proxy and SSL settings) with LC_ALL=C
 * for stable output. simple-git refuses some variables when passed explicitly (EDITOR, PAGER,
 * SSH_ASKPASS, PREFIX, most GIT_*): none matter for the plumbing trove runs, so they are left out,
 * and so is any repository location inherited from a hook (GIT_DIR, GIT_INDEX_FILE…), which would
 * point git at the wrong repo when trove runs inside another repo's hook.
 */
const GIT_KEEP = ['GIT_SSL_CAINFO', 'GIT_SSL_CAPATH', 'GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_AUTHOR_DATE', 'GIT_COMMITTER_NAME', 'GIT_COMMITTER_EMAIL', 'GIT_COMMITTER_DATE', 'GIT_CEILING_DIRECTORIES'];
const UNSAFE = new Set(['EDITOR', 'VISUAL', 'PAGER', 'SSH_ASKPASS', 'PREFIX']);
export function gitEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || UNSAFE.has(k)) continue;
    if (k.startsWith('GIT_') && !GIT_KEEP.includes(k)) continue;
    env[k] = v;
  }
  env.LC_ALL = 'C';
  env.GIT_TERMINAL_PROMPT = '0';
  return env;
}
