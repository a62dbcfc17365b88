/**
 * `trove reproduce <run>`: run a recorded command again, at the code and data it ran with, and say
 * whether it made the same outputs.
 *
 * 1. Check everything that can be checked before anything changes: the run has a command and a commit,
 *    the commit is in this repository, the command's program is on PATH, every input object (and the
 *    stored diff of a dirty run) is in the cache or fetched now from the default remote.
 * 2. A fresh `git worktree` at the run's commit (in the system temp folder, so the user's work tree is
 *    never touched), with the stored diff applied by `git apply --binary`. It shares this repository's
 *    cache (see Repo's constructor). `--in-place` uses the work tree itself instead, and refuses unless
 *    it is clean and at the run's commit and the run had no uncommitted diff.
 * 3. The inputs restored there by hash (`checkoutVersions`), then the command started through
 *    `startRun` with the recorded params, declared inputs and outputs, and `reproduces: <id>`; the
 *    command gets the environment `trove run` gives (TROVE_RUN_ID, TROVE_RUN_EVENTS, TROVE_REPO and
 *    `trove` on PATH). The caller spawns it (core does not own the terminal): see `Executor`.
 * 4. The new record is copied into this repository's `runs/` (a worktree's own `.trove/runs` goes away
 *    with it). Each output is compared with the original's by oid; a folder that differs is diffed file
 *    by file (`diff.ts`).
 * 5. The worktree is removed (`git worktree remove --force --force`, then `prune`) whatever happened,
 *    unless `keep`. It is created locked with `trove reproduce <pid>@<host>`, so that one left behind by
 *    a killed reproduce is removed by the next one (pid gone), and never one that is still in use.
 *
 * Known limits: the command runs from the repository root (records do not store the cwd); a metrics
 * file given with `--metrics` to the original run is not known to the record, so it is not read again.
 */
import { constants as fsc, existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { diffFolders, type FilesDiff } from './diff.js';
import { TroveError, isTroveError } from './errors.js';
import { Git } from './git/git.js';
import type { Oid } from './oid.js';
import { Repo } from './repo.js';
import type { ActiveRun } from './runs/recorder.js';
import type { RunRecord } from './runs/record.js';

/** Spawns the command (inherited stdio in the CLI) and resolves when it ends. */
export type Executor = (argv: string[], o: { cwd: string; env: NodeJS.ProcessEnv; run: ActiveRun }) => Promise<{ code: number; signal: string | null }>;

export interface ReproduceOptions {
  exec: Executor;
  inPlace?: boolean;
  keep?: boolean;
  /** Where the worktree goes (default: the system temp folder). */
  tmpDir?: string;
  /** When an earlier finished run had the same reuse key (runCache.ts), restore its outputs instead of running. */
  reuse?: boolean;
}

export interface OutputComparison {
  path: string;
  original: string | null;
  reproduced: string | null;
  same: boolean;
  /** For folders that differ: the files that differ (paths include the folder). */
  files?: FilesDiff;
}

export interface ReproduceResult {
  original: RunRecord;
  record: RunRecord;
  problems: { source: string; line?: number; message: string }[];
  outputs: OutputComparison[];
  /** All outputs the original produced came out with the same oids. */
  identical: boolean;
  /** The worktree, when kept. */
  worktree: string | null;
}

function fail(code: 'NOT_FOUND' | 'GIT' | 'MISSING_OBJECT' | 'WOULD_OVERWRITE' | 'BAD_RUN', message: string, hint: string, data?: Record<string, unknown>): TroveError {
  return new TroveError(code, message, hint, { data });
}

/** The file `prog` names: a path (relative to `cwd`) when it has a slash, else the first hit on PATH. */
export async function findProgram(prog: string, cwd: string, envPath = process.env.PATH ?? ''): Promise<string | null> {
  const candidates = prog.includes('/') ? [path.resolve(cwd, prog)] : envPath.split(path.delimiter).filter(Boolean).map((d) => path.join(path.resolve(cwd, d), prog));
  for (const c of candidates) {
    try {
      const st = await fsp.stat(c);
      if (st.isFile()) {
        await fsp.access(c, fsc.X_OK);
        return c;
      }
    } catch {
      /* not this one */
    }
  }
  return null;
}

/**
 * Makes every object the run needs local: inputs and diff, fetching from the default remote. Cached
 * objects are taken as present without re-hashing (a dataset of many GB would be read once more for
 * nothing; `trove verify` is the command that re-hashes); downloads are verified as they land.
 */
async function ensureObjects(repo: Repo, rec: RunRecord): Promise<void> {
  const { checkObjects } = await import('./runs/verify.js');
  const lacking = async () => {
    const out: { path: string; oid: Oid; type: 'file' | 'dir' }[] = [];
    for (const i of rec.inputs) if ((await checkObjects(repo, i.oid as Oid, i.type, i.path, { remote: null, rehash: false })).length) out.push({ path: i.path, oid: i.oid as Oid, type: i.type });
    const d = rec.git?.diffOid as Oid | null | undefined;
    if (d && !(await repo.cache.has(d, 'blob'))) out.push({ path: '(git diff)', oid: d, type: 'file' });
    return out;
  };
  let missing = await lacking();
  if (!missing.length) return;
  const { defaultRemoteName, openRepoRemote, transferJobs } = await import('./remoteConfig.js');
  let fetchError = '';
  if (defaultRemoteName(repo.config)) {
    const { fetchObjects } = await import('./transfer.js');
    const { remote, spec } = openRepoRemote(repo);
    try {
      await fetchObjects(repo.cache, remote, missing.map((m) => ({ oid: m.oid, type: m.type, where: m.path })), { jobs: transferJobs(spec) });
    } catch (err) {
      fetchError = ` (fetch from ${spec.name}: ${(err as Error).message})`;
    } finally {
      await remote.close();
    }
    missing = await lacking();
  }
  if (missing.length) {
    throw fail('MISSING_OBJECT', `run ${rec.id}: not in the cache${defaultRemoteName(repo.config) ? ' nor on the default remote' : ' and no default remote is set'}: ${missing.map((m) => `${m.path} (${m.oid.slice(7, 19)})`).join(', ')}${fetchError}`,
      'push them from a machine that has them (`trove push`), or set the remote that holds them with `trove remote default <name>`; nothing was changed',
      { files: missing.map((m) => m.path) });
  }
}

async function gitOk(git: Git, args: string[]): Promise<boolean> {
  try {
    await git.raw(args);
    return true;
  } catch {
    return false;
  }
}

const LOCK_REASON = 'trove reproduce';

/**
 * Worktrees that an earlier `reproduce` on this host left behind when it was killed (its pid is gone):
 * removed. A worktree of a reproduce still running (pid alive) or from another host is left alone.
 */
async function removeOrphanWorktrees(repo: Repo): Promise<void> {
  const { pidIsAlive } = await import('./runs/store.js');
  const list = await repo.git.raw(['worktree', 'list', '--porcelain']).catch(() => '');
  for (const block of list.split('\n\n')) {
    const dir = /^worktree (.+)$/m.exec(block)?.[1];
    const m = new RegExp(`^locked ${LOCK_REASON} (\\d+)@(.+)$`, 'm').exec(block);
    if (!dir || !m || m[2] !== os.hostname() || pidIsAlive(Number(m[1]))) continue;
    await repo.git.raw(['worktree', 'remove', '--force', '--force', dir]).catch(() => undefined);
    await fsp.rm(dir, { recursive: true, force: true });
  }
  await repo.git.raw(['worktree', 'prune']).catch(() => undefined);
}

/** Compares each output the original produced with the reproduction's. */
export async function compareOutputs(repo: Repo, a: RunRecord, b: RunRecord): Promise<OutputComparison[]> {
  const out: OutputComparison[] = [];
  for (const o of a.outputs) {
    if (o.oid === null) continue;
    const n = b.outputs.find((x) => x.path === o.path);
    const c: OutputComparison = { path: o.path, original: o.oid, reproduced: n?.oid ?? null, same: n?.oid === o.oid };
    if (!c.same && n?.oid && o.type === 'dir' && n.type === 'dir') {
      c.files = await diffFolders(repo.cache, { kind: 'tree', oid: o.oid as Oid }, { kind: 'tree', oid: n.oid as Oid }, o.path);
    }
    out.push(c);
  }
  return out;
}

/**
 * Reruns a recorded run (see the module comment) and compares its outputs with the original's.
 * @example const r = await reproduceRun(repo, '01JD3Z8Q4X', { exec }); if (!r.identical) …
 */
export async function reproduceRun(repo: Repo, idOrPrefix: string, o: ReproduceOptions): Promise<ReproduceResult> {
  const store = await repo.runStore();
  const { record: rec } = await store.read(idOrPrefix);
  if (rec.status === 'RUNNING') throw fail('BAD_RUN', `run ${rec.id} is still running`, 'wait for it to end, then reproduce it');
  if (!rec.command.length) throw fail('BAD_RUN', `run ${rec.id} has no command to rerun (it was recorded through the library)`, 'reproduce runs recorded with `trove run -- <command>`');
  const commit = rec.git?.commit;
  if (!commit) throw fail('BAD_RUN', `run ${rec.id} has no git commit (it ran outside git or before the first commit)`, 'only runs recorded at a commit can be reproduced');
  if (!(await gitOk(repo.git, ['cat-file', '-e', `${commit}^{commit}`]))) {
    throw fail('NOT_FOUND', `commit ${commit} of run ${rec.id} is not in this repository`,
      'fetch it (`git fetch --all`, or from the clone it was made in); a commit dropped by a rebase may still be in that clone\'s reflog');
  }
  const prog = rec.command[0]!;
  if (!prog.includes('/') && !(await findProgram(prog, repo.root))) {
    throw fail('NOT_FOUND', `command ${JSON.stringify(prog)} of run ${rec.id} is not on PATH`, `install it or add its folder to PATH, then run \`trove reproduce ${rec.id}\` again`);
  }
  if (o.inPlace) {
    const dirty = (await repo.git.raw(['status', '--porcelain', '-z', '--untracked-files=no'])).length > 0;
    if (dirty) throw fail('WOULD_OVERWRITE', 'the work tree has uncommitted changes; --in-place needs a clean one', 'commit or stash them, or reproduce without --in-place (a separate worktree)');
    const head = (await repo.git.raw(['rev-parse', 'HEAD'])).trim();
    if (head !== commit) throw fail('GIT', `HEAD is ${head.slice(0, 12)} but run ${rec.id} ran at ${commit.slice(0, 12)}`, `\`git checkout ${commit.slice(0, 12)}\` first, or reproduce without --in-place`);
    if (rec.git?.dirty) throw fail('GIT', `run ${rec.id} ran with uncommitted changes; --in-place would have to apply them to your work tree`, 'reproduce without --in-place (a separate worktree gets the diff)');
  }
  await ensureObjects(repo, rec);

  let wt: string | null = null;
  let wtRepo: Repo = repo;
  try {
    if (!o.inPlace) {
      wt = await fsp.mkdtemp(path.join(o.tmpDir ?? os.tmpdir(), `trove-reproduce-${rec.id.slice(0, 10)}-`));
      await removeOrphanWorktrees(repo);
      // Locked with our pid: a later reproduce removes it if this process dies before its cleanup.
      await repo.git.raw(['worktree', 'add', '--detach', '--quiet', '--lock', '--reason', `${LOCK_REASON} ${process.pid}@${os.hostname()}`, wt, commit]);
      if (rec.git?.diffOid) {
        try {
          await repo.cache.withFile(rec.git.diffOid as Oid, 'blob', (diff) => new Git(wt!).raw(['apply', '--binary', '--whitespace=nowarn', diff]));
        } catch (err) {
          throw fail('GIT', `the stored diff of run ${rec.id} (${rec.git.diffOid.slice(7, 19)}) no longer applies to commit ${commit.slice(0, 12)}: ${(err as Error).message.replace(/^git apply failed: /, '')}`,
            'the run cannot be rebuilt as it was; `trove checkout --run` still brings back its data');
        }
      }
      // A commit from before `.trove/` was committed: make the worktree a trove repo (shares the cache).
      if (!existsSync(path.join(wt, '.trove', 'config'))) await Repo.init(wt);
      wtRepo = await Repo.open(wt);
      if (wtRepo.cache.dir !== repo.cache.dir) {
        // cache.dir set in this checkout's config.local (which the worktree does not have): share it
        await wtRepo.configSet('cache.dir', repo.cache.dir, { local: true });
        wtRepo.close();
        wtRepo = await Repo.open(wt);
      }
    }
    if (prog.includes('/') && !(await findProgram(prog, wtRepo.root))) {
      throw fail('NOT_FOUND', `command ${JSON.stringify(prog)} of run ${rec.id} does not exist at commit ${commit.slice(0, 12)}`, 'it may have been untracked when the run was recorded; commit it and record the run again');
    }
    const inputs = rec.inputs.map((i) => ({ path: i.path, type: i.type, oid: i.oid, size: i.size, files: i.files }));
    if (inputs.length) await wtRepo.checkoutVersions(inputs, { force: !o.inPlace });
    const declared = rec.inputs.every((i) => i.role === 'workspace') ? undefined : rec.inputs.map((i) => i.path);
    const run = await wtRepo.startRun({
      name: rec.name, experiment: rec.experiment, command: rec.command, params: { ...rec.params },
      inputs: declared, outputs: rec.outputs.map((x) => x.path), reproduces: rec.id,
    });
    const { findReusableRun, reuseRun } = await import('./runs/runCache.js');
    const hit = o.reuse ? await findReusableRun(repo, run.started) : null;
    let ended;
    if (hit) ended = await reuseRun(wtRepo, run, hit);
    else {
      let exit: { code: number; signal: string | null };
      try {
        exit = await o.exec(rec.command, { cwd: wtRepo.root, env: { ...process.env, ...run.childEnv() }, run });
      } catch (err) {
        await run.end({ status: 'FAILED', exitCode: null });
        throw err;
      }
      ended = await run.end({ status: exit.signal ? 'KILLED' : exit.code === 0 ? 'FINISHED' : 'FAILED', exitCode: exit.code });
    }
    if (wtRepo !== repo) await store.write(ended.record);
    const outputs = await compareOutputs(repo, rec, ended.record);
    return { original: rec, record: ended.record, problems: ended.problems, outputs, identical: outputs.every((c) => c.same), worktree: o.keep ? wt : null };
  } finally {
    if (wtRepo !== repo) wtRepo.close();
    if (wt && !o.keep) {
      await repo.git.raw(['worktree', 'remove', '--force', '--force', wt]).catch(() => undefined);
      await fsp.rm(wt, { recursive: true, force: true });
      await repo.git.raw(['worktree', 'prune']).catch(() => undefined);
    }
  }
}

export { isTroveError };
