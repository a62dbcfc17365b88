/**
 * Recording a run: what the code and the data were when it started, what it logged while it ran, and
 * what it produced. The CLI's `trove run` and library users both go through `startRun`:
 *
 * ```ts
 * const run = await repo.startRun({ name: 'baseline', params: { lr: '0.1' }, inputs: ['data'], outputs: ['model.pkl'] });
 * await run.logMetric('loss', 0.41, 3);
 * const { record } = await run.end({ exitCode: 0 });
 * ```
 *
 * 1. Start: the code version (commit, branch, dirty; a dirty tree's `git diff HEAD --binary` plus its
 *    untracked files as new files is stored as an object, see `codeVersion`), then the inputs, hashed now (through the stat cache), so that a file rewritten while
 *    the command runs is still recorded at the version the command started from. An input whose
 *    workspace content differs from its pointer is recorded by what is actually there (`modified`), and
 *    that content is stored in the cache so `checkout --run` can bring it back. Then the RUNNING record
 *    is written (temp + fsync + rename) and an empty events file created.
 * 2. While running: every log call appends one line to `runs/<id>.events.jsonl` (also what the child
 *    process does, through `trove log-*` or by appending lines itself).
 * 3. End: declared outputs are added to the cache when the run succeeded (recorded as not produced
 *    otherwise), the events are folded in (a bad line is reported and kept in `problems`, never fatal),
 *    the metrics file is read, and the final record replaces the RUNNING one; then the events file is
 *    removed.
 *    A crash anywhere leaves the RUNNING record plus its events, shown as KILLED later.
 */
import { assertNoLinkedParent, assertSafeDataPath } from '../safePath.js';
import { closeSync, openSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { TroveError, isErrno } from '../errors.js';
import { gitToFd, runGit } from '../git/spawn.js';
import type { Oid } from '../oid.js';
import type { RepoContext } from '../context.js';
import { add } from '../ops/add.js';
import { listTracked, resolveTargets, scanTracked, type Tracked } from '../ops/tracked.js';
import {
  RUN_LIMITS, applyEvents, newRunRecord, parseRunRecord, serializeRunRecord,
  type EventProblem, type RunEvent, type RunInput, type RunOutput, type RunRecord, type RunStatus,
} from './record.js';
import type { RunStore } from './store.js';
import { sourceOf } from '../pointerSource.js';
import { codeDiffHash, reuseKeyOf } from './reuseKey.js';

export interface StartRunOptions {
  name?: string;
  experiment?: string;
  /** The command, for the record (argv). Library runs may leave it empty. */
  command?: string[];
  params?: Record<string, string>;
  tags?: Record<string, string>;
  /** Tracked paths the run reads. None: every tracked path, with role `workspace`. */
  inputs?: string[];
  /** Paths the run writes; added to the cache when it ends successfully. */
  outputs?: string[];
  /** A JSON or YAML file of metrics to read when the run ends (nested keys flattened with dots). */
  metricsFile?: string;
  /** The process to judge liveness by (default this one). */
  pid?: number;
  /** The run this one reruns (`trove reproduce`). */
  reproduces?: string;
}

export interface EndRunOptions {
  /** Default: FINISHED when exitCode is 0 or absent, FAILED otherwise. */
  status?: Exclude<RunStatus, 'RUNNING'>;
  exitCode?: number | null;
  /** The command did not run: its outputs were restored from this earlier run (`trove run --reuse`). */
  reusedFrom?: string;
  /** The command could not be started (not found, not executable): why. The run is then FAILED. */
  startError?: string;
}

export interface EndRunResult {
  record: RunRecord;
  /**
   * Bad events lines, unreadable metrics file, declared outputs that were not there, a command that
   * could not start: reported, not fatal. The same list (with any from the start, such as untracked
   * files left out of the diff) is kept in `record.problems`.
   */
  problems: Problem[];
  /** Pointer and .gitignore files that the outputs wrote, for `git add` (staged already with core.autostage). */
  gitAdd: string[];
}

/**
 * Flattens nested YAML/JSON into dotted keys: `{a: {b: 1}}` → `{'a.b': 1}`. Arrays are kept as
 * values (a list of params is one param).
 */
export function flatten(v: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) out[prefix] = v;
  return out;
}

/** A param value as text: strings as they are, everything else as JSON (`0.1`, `true`, `[1,2]`). */
export function paramText(v: unknown): string {
  return typeof v === 'string' ? v : v === null || v === undefined ? '' : JSON.stringify(v);
}

/** Reads a params file (YAML or JSON) into flat string params. */
export async function readParamsFile(file: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    throw new TroveError('NOT_FOUND', `${file}: cannot read the params file (${(err as Error).message})`, undefined, { cause: err });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new TroveError('BAD_INPUT', `${file}: not valid YAML or JSON (${(err as Error).message.split('\n')[0]})`, undefined, { cause: err });
  }
  return Object.fromEntries(Object.entries(flatten(doc)).map(([k, v]) => [k, paramText(v)]));
}

/**
 * How much of the untracked files goes into a run's stored diff: files are taken in path order while
 * they fit; the rest are named in the record's `problems` (the run is dirty either way).
 */
export const UNTRACKED_DIFF_LIMITS = Object.freeze({ bytes: 16 * 1024 * 1024, files: 1_000, named: 20 });

type Problem = { source: string; line?: number; message: string };

/**
 * The code version: commit, branch, dirty, and for a dirty tree a binary patch against HEAD (or the
 * empty tree before the first commit) streamed into the cache. Dirty means tracked files changed or
 * untracked files that git does not ignore are present (a script not yet committed is code the command
 * could have run); their content is in the patch as new files, up to UNTRACKED_DIFF_LIMITS, so
 * `git apply` on the commit gives back the tree the run saw.
 */
async function codeVersion(repo: RepoContext): Promise<{ git: RunRecord['git']; problems: Problem[] }> {
  const ask = async (args: string[]) => {
    try {
      return (await repo.git.raw(args)).trim() || null;
    } catch {
      return null;
    }
  };
  const top = await repo.git.topLevel();
  if (!top) return { git: null, problems: [] };
  const commit = await ask(['rev-parse', '--verify', '-q', 'HEAD^{commit}']);
  const branch = await ask(['symbolic-ref', '--short', '-q', 'HEAD']);
  const porcelain = await repo.git.raw(['status', '--porcelain', '-z', '--untracked-files=no', '--ignore-submodules=dirty']);
  const untracked = (await runGit(top, ['ls-files', '--others', '--exclude-standard', '-z', '--full-name', '--', ':/'])).toString('utf8')
    .split('\0').filter(Boolean);
  const dirty = porcelain.length > 0 || untracked.length > 0;
  const problems: Problem[] = [];
  if (!dirty) return { git: { commit, branch, dirty, diffOid: null }, problems };

  // Which untracked files fit: regular files and symlinks, in path order, within the limits.
  const take: string[] = [];
  const left: { path: string; why: string }[] = [];
  let bytes = 0;
  for (const rel of untracked.sort()) {
    const st = await fsp.lstat(path.join(top, rel)).catch(() => null);
    if (!st || !(st.isFile() || st.isSymbolicLink())) continue;
    const size = st.isFile() ? st.size : 0;
    if (take.length >= UNTRACKED_DIFF_LIMITS.files) left.push({ path: rel, why: `more than ${UNTRACKED_DIFF_LIMITS.files} untracked files` });
    else if (bytes + size > UNTRACKED_DIFF_LIMITS.bytes) left.push({ path: rel, why: `${size} bytes would pass the ${UNTRACKED_DIFF_LIMITS.bytes}-byte limit for untracked files` });
    else { take.push(rel); bytes += size; }
  }
  for (const l of left.slice(0, UNTRACKED_DIFF_LIMITS.named)) {
    problems.push({ source: l.path, message: `untracked file not in the stored diff: ${l.why}; commit it, or ignore it in .gitignore` });
  }
  if (left.length > UNTRACKED_DIFF_LIMITS.named) {
    problems.push({ source: '.', message: `${left.length - UNTRACKED_DIFF_LIMITS.named} more untracked files not in the stored diff` });
  }
  // 4b825dc… is git's empty tree: before the first commit the diff is everything staged.
  const base = commit ?? '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
  // --no-textconv: a diff driver's text view would make a patch that does not apply.
  const diffArgs = ['diff', '--binary', '--no-color', '--no-ext-diff', '--no-textconv', base, '--'];
  if (!take.length) return { git: { commit, branch, dirty, diffOid: await storeGitOutput(repo, top, diffArgs) }, problems };
  // The untracked files go in as "intent to add" entries of a copy of the index, so that one
  // `git diff` writes them as new files (one process, not one per file); the real index is untouched.
  const index = await repo.cache.tempPath();
  try {
    const real = path.resolve(top, (await runGit(top, ['rev-parse', '--git-path', 'index'])).toString('utf8').trim());
    await fsp.copyFile(real, index).catch((err: unknown) => {
      if (!isErrno(err, 'ENOENT')) throw err; // no index yet: git starts an empty one
    });
    // Literal pathspecs: an untracked file named `*.py` must not pull in others.
    const env = { GIT_INDEX_FILE: index, GIT_LITERAL_PATHSPECS: '1' };
    await runGit(top, ['add', '--intent-to-add', '--pathspec-from-file=-', '--pathspec-file-nul'], { env, input: take.join('\0') });
    return { git: { commit, branch, dirty, diffOid: await storeGitOutput(repo, top, diffArgs, env) }, problems };
  } finally {
    await fsp.rm(index, { force: true });
    await fsp.rm(`${index}.lock`, { force: true });
  }
}

/** Runs git with stdout into a cache temp file (binary-safe, flat memory), then stores it as an object. */
async function storeGitOutput(repo: RepoContext, cwd: string, args: string[], extraEnv: Record<string, string> = {}): Promise<Oid> {
  const tmp = await repo.cache.tempPath();
  const fd = openSync(tmp, 'wx', 0o600);
  // closed exactly once: a second close after putFile could hit a descriptor the store opened
  // meanwhile under the same number (the pack writer's, which then failed with EBADF)
  let open = true;
  try {
    await gitToFd(cwd, args, fd, { env: extraEnv });
    closeSync(fd);
    open = false;
    return (await repo.cache.putFile(tmp, 'blob')).oid;
  } finally {
    if (open) closeSync(fd);
    await fsp.rm(tmp, { force: true });
  }
}

function userName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? process.env.USERNAME ?? '';
  }
}

/**
 * The version of a tracked path as it is now. Unchanged content is vouched for by the stat cache (no
 * read); content that differs from the pointer is hashed and stored, and flagged `modified`.
 * Returns null when the path is not in the workspace.
 */
export async function inputVersion(repo: RepoContext, t: Tracked, role?: string): Promise<RunInput | null> {
  let scanned = await scanTracked(repo, t.path, { store: false });
  if (!scanned) return null;
  const modified = scanned.oid !== t.pointer.oid || scanned.type !== t.pointer.type;
  if (modified) scanned = (await scanTracked(repo, t.path, { store: true })) ?? scanned;
  const input: RunInput = { path: t.path, oid: scanned.oid, type: scanned.type, size: scanned.size };
  if (scanned.type === 'dir') input.files = scanned.files;
  if (role) input.role = role;
  if (modified) input.modified = true;
  const origin = sourceOf(t.pointer);
  if (origin) input.origin = origin;
  return input;
}

/** Resolves user paths to tracked entries (a path inside a tracked folder names the folder). */
async function trackedOf(repo: RepoContext, userPaths: string[]): Promise<Tracked[]> {
  const seen = new Map<string, Tracked>();
  for (const { tracked } of await resolveTargets(repo, userPaths)) seen.set(tracked.path, tracked);
  return [...seen.values()];
}

/** A run in progress. Log calls append to the events file; `end` writes the final record. */
export class ActiveRun {
  private ended = false;

  constructor(
    private readonly repo: RepoContext,
    private readonly store: RunStore,
    /** The record as written at start (events are not folded into it). */
    readonly started: RunRecord,
    private readonly opts: { outputs: string[]; metricsFile?: string },
  ) {}

  get id(): string {
    return this.started.id;
  }

  /** The declared outputs (`--out`), as JSON text of repo-relative paths. */
  get declaredOutputs(): string {
    return JSON.stringify(this.opts.outputs.map((p) => this.repo.rel(p)));
  }

  get recordFile(): string {
    return this.store.recordFile(this.id);
  }

  get eventsFile(): string {
    return this.store.eventsFile(this.id);
  }

  /** Environment for a child process that should log into this run. */
  childEnv(): Record<string, string> {
    return { TROVE_RUN_ID: this.id, TROVE_RUN_EVENTS: this.eventsFile, TROVE_REPO: this.repo.root };
  }

  private async append(ev: RunEvent): Promise<void> {
    if (this.ended) throw new TroveError('NOT_IN_RUN', `run ${this.id} has ended`);
    await this.store.appendEvent(this.id, ev);
  }

  /**
   * Sets a param. Write-once: the same value again is fine, another value is PARAM_CONFLICT.
   * @example await run.logParam('lr', 0.1)
   */
  async logParam(key: string, value: string | number | boolean): Promise<void> {
    await logParamTo(this.store, this.id, key, String(value));
  }

  /** Appends a metric point (step default: the next one for that metric). */
  async logMetric(key: string, value: number, step?: number): Promise<void> {
    await this.append(step === undefined ? { metric: key, value, ts: Date.now() } : { metric: key, value, step, ts: Date.now() });
  }

  async logTag(key: string, value: string): Promise<void> {
    await this.append({ tag: key, value });
  }

  /** Records a tracked path as an input, at its version now. */
  async useInput(userPath: string, role?: string): Promise<RunInput> {
    if (this.ended) throw new TroveError('NOT_IN_RUN', `run ${this.id} has ended`);
    return logInputTo(this.repo, this.id, userPath, role);
  }

  /** Adds a file or folder to the cache (writes its pointer) and records it as an output. */
  async logOutput(userPath: string): Promise<RunOutput> {
    if (this.ended) throw new TroveError('NOT_IN_RUN', `run ${this.id} has ended`);
    return logOutputTo(this.repo, this.id, userPath);
  }

  /**
   * Ends the run and writes its final record. Declared outputs are added when the run succeeded.
   * @example const { record, problems } = await run.end({ exitCode: code })
   */
  async end(o: EndRunOptions = {}): Promise<EndRunResult> {
    if (this.ended) throw new TroveError('NOT_IN_RUN', `run ${this.id} has already ended`);
    const exitCode = o.startError === undefined ? o.exitCode ?? null : null;
    const status = o.startError !== undefined ? 'FAILED' : o.status ?? (exitCode === null || exitCode === 0 ? 'FINISHED' : 'FAILED');
    const problems: EndRunResult['problems'] = [];
    const gitAdd = new Set<string>();
    if (o.startError !== undefined) {
      problems.push({ source: this.started.command[0] ?? '', message: `the command could not start: ${o.startError}` });
    }
    const eventsName = path.relative(this.repo.root, this.eventsFile);

    // Outputs first: they may take a while, and the events should include anything logged meanwhile.
    const declared: RunOutput[] = [];
    for (const p of this.opts.outputs) {
      const rel = this.repo.rel(p);
      if (status !== 'FINISHED') {
        declared.push({ path: rel, oid: null, produced: false });
        continue;
      }
      try {
        const added = await addOutput(this.repo, p);
        declared.push(added.output);
        for (const f of added.gitAdd) gitAdd.add(f);
      } catch (err) {
        if (!(err instanceof TroveError && err.code === 'NOT_FOUND')) throw err;
        problems.push({ source: rel, message: 'declared as an output (--out) but the run did not write it' });
        declared.push({ path: rel, oid: null, produced: false });
      }
    }

    let text = '';
    try {
      text = await fsp.readFile(this.eventsFile, 'utf8');
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    // The record on disk, not the one written at start: an MLflow client attached through `trove
    // server` may have renamed the run or filed it under the experiment its script set.
    let base = this.started;
    try {
      base = parseRunRecord(await fsp.readFile(this.recordFile, 'utf8'), `${this.id}.json`);
    } catch {
      /* unreadable: the record as started */
    }
    const folded = applyEvents(base, text.split('\n'));
    const rec = folded.record;
    for (const p of folded.problems) problems.push({ source: eventsName, line: p.line, message: p.message });
    for (const d of declared) {
      const at = rec.outputs.findIndex((x) => x.path === d.path);
      // A declared output that was not produced does not erase one the command logged itself.
      if (at >= 0 && d.oid === null && rec.outputs[at]!.oid !== null) continue;
      if (at >= 0) rec.outputs[at] = d;
      else rec.outputs.push(d);
    }
    if (this.opts.metricsFile) await this.readMetricsFile(rec, problems);

    const kept = [...(this.started.problems ?? []), ...problems].slice(0, RUN_LIMITS.problems)
      .map((p) => ({ ...p, source: p.source.slice(0, RUN_LIMITS.path), message: p.message.slice(0, RUN_LIMITS.text) }));
    if (kept.length) rec.problems = kept;
    rec.status = status;
    rec.exitCode = exitCode;
    if (o.reusedFrom) rec.reusedFrom = o.reusedFrom;
    rec.end = new Date(Math.max(Date.now(), Date.parse(rec.start))).toISOString();
    // Never write a record this trove would refuse to read back.
    parseRunRecord(serializeRunRecord(rec), `${rec.id}.json`);
    await this.repo.cache.syncToDisk(); // outputs and inputs are durable before the record names them
    await this.store.write(rec);
    this.ended = true;
    await fsp.rm(this.eventsFile, { force: true });
    return { record: rec, problems, gitAdd: [...gitAdd] };
  }

  private async readMetricsFile(rec: RunRecord, problems: EndRunResult['problems']): Promise<void> {
    const file = this.opts.metricsFile!;
    const name = path.relative(this.repo.root, path.resolve(this.repo.cwd, file)) || file;
    let doc: unknown;
    try {
      doc = parseYaml(await fsp.readFile(path.resolve(this.repo.cwd, file), 'utf8'));
    } catch (err) {
      problems.push({ source: name, message: `metrics file not read: ${(err as Error).message.split('\n')[0]}` });
      return;
    }
    const now = Date.now();
    const lines: string[] = [];
    for (const [k, v] of Object.entries(flatten(doc))) {
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
      if (!Number.isFinite(n)) {
        problems.push({ source: name, message: `${k}: not a number, skipped` });
        continue;
      }
      lines.push(JSON.stringify({ metric: k, value: n, ts: now }));
    }
    const folded = applyEvents(rec, lines);
    for (const p of folded.problems) problems.push({ source: name, message: p.message });
    Object.assign(rec, { metrics: folded.record.metrics });
  }
}

async function addOutput(repo: RepoContext, userPath: string): Promise<{ output: RunOutput; gitAdd: string[] }> {
  const { results, gitAdd } = await add(repo, [userPath]);
  const r = results[0]!;
  const output: RunOutput = { path: r.path, oid: r.oid, type: r.type, size: r.size };
  if (r.type === 'dir') output.files = r.files;
  return { output, gitAdd };
}

/** `log-input`: records a tracked path, at its version now, as an input of run `id`. */
export async function logInputTo(repo: RepoContext, id: string, userPath: string, role?: string): Promise<RunInput> {
  const [t] = await trackedOf(repo, [userPath]);
  const input = await inputVersion(repo, t!, role);
  if (!input) throw new TroveError('NOT_FOUND', `${t!.path}: not in the workspace`, `restore it with \`trove checkout ${t!.path}\``);
  const { path: p, ...rest } = input;
  await (await repo.runStore()).appendEvent(id, { input: p, ...rest });
  return input;
}

/** `log-artifact`: adds a path to the cache (writes its pointer) and records it as an output of run `id`. */
export async function logOutputTo(repo: RepoContext, id: string, userPath: string): Promise<RunOutput> {
  const store = (await repo.runStore());
  await store.assertRunning(id);
  const { output: out } = await addOutput(repo, userPath);
  await store.appendEvent(id, { output: out.path, oid: out.oid!, type: out.type!, size: out.size!, ...(out.files === undefined ? {} : { files: out.files }) });
  return out;
}

/**
 * Appends a param event unless the run already has another value for it (write-once).
 * Concurrent writers of the same key are settled when the run ends: the first line wins.
 */
export async function logParamTo(store: RunStore, id: string, key: string, value: string): Promise<void> {
  const { record } = await store.read(id);
  if (record.status !== 'RUNNING') throw new TroveError('NOT_IN_RUN', `run ${id} is ${record.status}; only a running run takes new values`);
  const old = record.params[key];
  if (old !== undefined && old !== value) {
    throw new TroveError('PARAM_CONFLICT', `param ${key} is already ${JSON.stringify(old)} in run ${id}; params are write-once`,
      'log the new value under another name, or as a tag or metric');
  }
  if (old === undefined) await store.appendEvent(id, { param: key, value });
}

/** Starts a run: see the module comment. */
export async function startRun(repo: RepoContext, o: StartRunOptions = {}): Promise<ActiveRun> {
  const store = (await repo.runStore());
  const { git, problems } = await codeVersion(repo);
  const inputs: RunInput[] = [];
  if (o.inputs && o.inputs.length) {
    for (const t of await trackedOf(repo, o.inputs)) {
      const input = await inputVersion(repo, t);
      if (!input) throw new TroveError('NOT_FOUND', `input ${t.path} is not in the workspace`, `restore it with \`trove checkout ${t.path}\``);
      inputs.push(input);
    }
  } else {
    // No declared inputs: record every tracked path, so a run is never without its data versions.
    for (const t of await listTracked(repo)) {
      const input = await inputVersion(repo, t, 'workspace');
      if (input) inputs.push(input);
    }
  }
  // Outputs are checked now, before the command runs: never into .git/.trove, over a pointer, or
  // through a linked folder (checked again when they are added at the end, before the cache is written).
  const outputs = (o.outputs ?? []).map((p) => {
    const rel = assertSafeDataPath(repo.rel(p), `--out ${p}`, 'BAD_ARGS');
    assertNoLinkedParent(repo.root, rel, `--out ${p}`, { includeLeaf: true });
    return rel;
  });
  const rec = newRunRecord({
    name: o.name ?? '',
    experiment: o.experiment || 'Default',
    command: o.command ?? [],
    user: userName(),
    host: os.hostname(),
    pid: o.pid ?? process.pid,
    git,
    params: o.params ?? {},
    tags: o.tags ?? {},
    inputs,
    reproduces: o.reproduces,
  });
  const codeDiff = git?.commit && git.dirty ? await codeDiffHash(repo.root, git.commit) : null;
  rec.reuseKey = reuseKeyOf({ command: rec.command, git, codeDiff, params: rec.params, inputs, outputs });
  if (problems.length) rec.problems = problems;
  // Refuse bad names, keys or values now, before the command runs, rather than at the end.
  parseRunRecord(serializeRunRecord(rec), `${rec.id}.json`);
  await repo.cache.syncToDisk();
  await store.write(rec);
  await fsp.writeFile(store.eventsFile(rec.id), '', { flag: 'a' });
  return new ActiveRun(repo, store, rec, { outputs, metricsFile: o.metricsFile });
}

export type { EventProblem };
