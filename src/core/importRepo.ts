/**
 * `trove import <git-url> <path>` and `trove update <path>`: data tracked in another trove repository,
 * at an exact version (DVC's import).
 *
 * 1. Clone the source with real git into a temp folder (bare, no checkout: only the commits and the
 *    small pointer and config blobs are read), with git's `ext::` transport disabled.
 * 2. Resolve the revision (default HEAD) to a commit; read `.trove/config` there (none: not a trove
 *    repository) and `<path>.trove` there (none: not tracked). Both are parsed as hostile input.
 * 3. Open the source's default remote (a relative folder remote is relative to the source repository,
 *    so it only works for a source on this machine) and fetch the objects into this cache; every
 *    object is verified as it lands.
 * 4. Only then write anything: the pointer, with `source: {repo, rev, path}` (pointerSource.ts), and the
 *    data, through `checkoutTracked` (a workspace file in the way is not overwritten without force).
 *
 * `update` repeats 1-3 at the source's newest commit (or `--rev`), returns the file-level diff against
 * the current version, and applies it unless `dryRun`.
 */
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readConfigFile } from './config.js';
import { diffFolders, type FilesDiff } from './diff.js';
import { TroveError, isTroveError } from './errors.js';
import { execFile } from 'node:child_process';
import { gitEnv } from './git/env.js';
import { Git } from './git/git.js';
import type { Oid } from './oid.js';
import { parsePointer, type Pointer } from './pointer.js';
import { sourceOf, sourceRepoProblem, type PointerSource } from './pointerSource.js';
import { isWithin, pointerPathFor, validateRelPath } from './paths.js';
import type { RepoContext } from './context.js';
import { checkoutTracked } from './ops/checkout.js';
import { listTracked, type Tracked } from './ops/tracked.js';
import type { OnProgress } from './workspace.js';
import { listRemotes } from './remoteConfig.js';

export interface ImportResult {
  path: string;
  pointerFile: string;
  source: PointerSource;
  pointer: Pointer;
  /** Files to `git add`. */
  gitAdd: string[];
}

export interface UpdateResult extends ImportResult {
  previous: { oid: string; rev: string };
  changed: boolean;
  /** For a file: old and new size; for a folder: the files that differ. */
  diff: { kind: 'file'; oldSize: number; newSize: number } | { kind: 'dir'; files: FilesDiff } | null;
  applied: boolean;
}

/** The url with any user:password@ removed, for messages. */
const shown = (url: string) => url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, '$1***@');

/** A local path source is stored absolute (it is resolved against the cwd once, here). */
function normalizeUrl(url: string, cwd: string): string {
  const problem = sourceRepoProblem(url);
  if (problem) throw new TroveError('BAD_ARGS', `source repository ${JSON.stringify(shown(url)).slice(0, 200)} ${problem}`);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) || /^[^/]+@[^/]+:/.test(url)) return url; // scheme:// or scp-like user@host:path
  return path.resolve(cwd, url);
}

/** The source's local folder (for its relative remote urls), or null when it is not on this machine. */
function localRoot(url: string): string | null {
  if (url.startsWith('file://')) return new URL(url).pathname;
  return path.isAbsolute(url) ? url : null;
}

interface Source { git: Git; dir: string; url: string; commit: string; pointer: Pointer; config: Record<string, unknown> }

/**
 * `git clone --bare` with only the ordinary transports allowed (GIT_ALLOW_PROTOCOL: no `ext::`, which
 * runs commands, and no `fd::`). Plain execFile: simple-git refuses protocol settings as options.
 */
function cloneBare(url: string, dir: string, cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('git', ['clone', '--quiet', '--bare', '--no-tags', '--', url, dir],
      { cwd, env: { ...gitEnv(), GIT_ALLOW_PROTOCOL: 'file:git:http:https:ssh' }, maxBuffer: 16 << 20 }, (err, _out, stderr) => {
        if (err) reject(new Error(String(stderr || err.message).trim().split('\n').filter((l) => !/^hint:/.test(l)).pop() ?? 'failed', { cause: err }));
        else resolve();
      });
  });
}

/** Steps 1-2: a bare clone of `url`, the commit `rev` names, the pointer of `srcPath` there. */
async function openSource(url: string, srcPath: string, rev: string | undefined, tmp: string): Promise<Source> {
  const dir = path.join(tmp, 'source.git');
  try {
    await cloneBare(url, dir, tmp);
  } catch (err) {
    throw new TroveError('NOT_FOUND', `cannot clone ${shown(url)}: ${(err as Error).message.replace(/^git clone failed: /, '').replace(url, shown(url))}`,
      'check the url (a path on this machine, or what `git clone` accepts) and that you can read it; nothing was written', { cause: err });
  }
  const git = new Git(dir);
  if (rev !== undefined && (rev === '' || rev.startsWith('-'))) throw new TroveError('BAD_ARGS', `bad revision ${JSON.stringify(rev)}`);
  let commit: string;
  try {
    commit = (await git.raw(['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev ?? 'HEAD'}^{commit}`])).trim();
    if (!/^[0-9a-f]{40,64}$/.test(commit)) throw new Error('no commit');
  } catch {
    // tags are not cloned with --no-tags: look for one by that name before giving up
    try {
      await git.raw(['fetch', '--quiet', 'origin', `refs/tags/${rev}:refs/tags/${rev}`]);
      commit = (await git.raw(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`])).trim();
    } catch {
      throw new TroveError('NOT_FOUND', `revision ${JSON.stringify(rev ?? 'HEAD')} does not exist in ${shown(url)}`, `list what it has with \`git ls-remote ${shown(url)}\`; nothing was written`);
    }
  }
  const show = async (spec: string): Promise<string | null> => {
    try {
      return await git.raw(['cat-file', 'blob', spec]);
    } catch {
      return null;
    }
  };
  const configText = await show(`${commit}:.trove/config`);
  const ignoreText = configText ?? (await show(`${commit}:.trove/.gitignore`));
  if (ignoreText === null) {
    throw new TroveError('NOT_A_REPO', `${shown(url)} is not a trove repository at ${commit.slice(0, 12)} (it has no .trove/config)`, 'import from a repository where `trove init` was run and committed; nothing was written');
  }
  const cfgFile = path.join(tmp, 'config');
  await fsp.writeFile(cfgFile, configText ?? '');
  const config = await readConfigFile(cfgFile, `${shown(url)}:.trove/config`);
  const rel = srcPath.replace(/\/+$/, '').replace(/\.trove$/, '');
  validateRelPath(rel, `path ${JSON.stringify(srcPath)}`, 'BAD_ARGS');
  const ptrText = await show(`${commit}:${pointerPathFor(rel)}`);
  if (ptrText === null) {
    throw new TroveError('PATH_NOT_TRACKED', `${rel} is not tracked by trove in ${shown(url)} at ${commit.slice(0, 12)} (no ${pointerPathFor(rel)})`,
      'give the path of a tracked file or folder there (the path its .trove pointer names); nothing was written');
  }
  const pointer = parsePointer(ptrText, `${shown(url)}:${pointerPathFor(rel)}`);
  if (pointer.path !== path.posix.basename(rel)) {
    throw new TroveError('PATH_NOT_TRACKED', `${pointerPathFor(rel)} in ${shown(url)} tracks ${pointer.path}, not ${path.posix.basename(rel)}`, 'give the path the pointer names');
  }
  return { git, dir, url, commit, pointer, config };
}

/** Step 3: fetch the pointer's objects (or only its trees) from the source's default remote. */
async function fetchFromSource(repo: RepoContext, src: Source, where: string, o: { treesOnly?: boolean; onProgress?: OnProgress; allowEndpoint?: string } = {}): Promise<void> {
  const { resolveRemote, effectiveUrl, transferJobs } = await import('./remoteConfig.js');
  const { openRemote } = await import('../remotes/index.js');
  const { fetchObjects } = await import('./transfer.js');
  let spec;
  try {
    spec = resolveRemote(src.config);
  } catch (err) {
    throw new TroveError('CONFIG', `${shown(src.url)} has no default remote to fetch ${src.pointer.oid.slice(7, 19)} from (${(err as Error).message})`,
      'its owner sets one with `trove remote add` and pushes; nothing was written', { cause: err });
  }
  const local = localRoot(src.url);
  const isUrl = spec.url.startsWith('s3://') || /^[a-z][a-z0-9+.-]*:/i.test(spec.url) || path.isAbsolute(spec.url);
  if (!isUrl && !local) throw new TroveError('CONFIG', `the default remote of ${shown(src.url)} is a relative folder (${spec.url}), which only works on the machine that has that repository`, 'import from a local clone of it, or give it an s3:// or absolute folder remote');
  assertTrustedEndpoint(repo, src, spec, o.allowEndpoint);
  const remote = openRemote(spec.name, effectiveUrl(local ?? '/', spec.url), spec.options);
  try {
    const res = await fetchObjects(repo.cache, remote, [{ oid: src.pointer.oid, type: src.pointer.type, where }], { jobs: transferJobs(spec), treesOnly: o.treesOnly, onProgress: o.onProgress });
    const bad = [...res.missing.map((m) => `${m.where} (not on the remote)`), ...res.failed.map((f) => `${f.where} (${f.error})`)];
    if (bad.length) {
      throw new TroveError('MISSING_OBJECT', `cannot fetch ${where} from remote ${spec.name} of ${shown(src.url)}: ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ` and ${bad.length - 5} more` : ''}`,
        `the source's owner has to \`trove push\` it; nothing was written`);
    }
  } finally {
    await remote.close();
  }
}

/**
 * An S3 remote named by someone else's committed config is signed with *your* AWS credentials. A
 * custom `endpoint` there would send those signed requests (and your access key id) to a server the
 * source repository chose; so it is used only when this repository already has a remote with that
 * endpoint, or the user names it with --allow-endpoint. AWS's own endpoints need no such consent.
 */
function assertTrustedEndpoint(repo: RepoContext, src: Source, spec: { url: string; options: Record<string, unknown> }, allowed?: string): void {
  if (!spec.url.startsWith('s3://')) return;
  const endpoint = typeof spec.options.endpoint === 'string' ? spec.options.endpoint : undefined;
  if (!endpoint) return;
  const norm = (u: string) => u.replace(/\/+$/, '').toLowerCase();
  const own = listRemotes(repo.config).map((r) => r.options.endpoint).filter((e): e is string => typeof e === 'string');
  if ((allowed && norm(allowed) === norm(endpoint)) || own.some((e) => norm(e) === norm(endpoint))) return;
  throw new TroveError('CONFIG', `the default remote of ${shown(src.url)} is S3 at ${endpoint}, a server that repository chose: trove would sign requests to it with your AWS credentials`,
    `if you trust that server, run again with \`--allow-endpoint ${endpoint}\`; nothing was written`);
}

async function withTemp<T>(fn: (tmp: string) => Promise<T>): Promise<T> {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'trove-import-'));
  try {
    return await fn(tmp);
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

function importedPointer(src: Source, destRel: string, srcPath: string): { pointer: Pointer; source: PointerSource } {
  const source: PointerSource = { repo: src.url, rev: src.commit, path: srcPath };
  const { source: _old, ...extra } = src.pointer.extra ?? {};
  const pointer: Pointer = { ...src.pointer, path: path.posix.basename(destRel), extra: { ...extra, source } };
  return { pointer, source };
}

async function writeImported(repo: RepoContext, destRel: string, pointer: Pointer, force: boolean): Promise<string[]> {
  const t: Tracked = { path: destRel, pointerFile: pointerPathFor(destRel), pointer };
  await fsp.mkdir(path.dirname(repo.abs(destRel)), { recursive: true });
  await checkoutTracked(repo, [t], { writePointers: true, requireObjects: true, force });
  const dir = path.posix.dirname(destRel);
  return [t.pointerFile, dir === '.' ? '.gitignore' : `${dir}/.gitignore`].filter((f) => existsSync(repo.abs(f)));
}

/**
 * Imports `srcPath` of the trove repository at `url` into this repository (see the module comment).
 * @example await importData(repo, '../registry', 'data/iris.csv', { rev: 'v1', dest: 'data/iris.csv' })
 */
export async function importData(repo: RepoContext, url: string, srcPath: string, o: { rev?: string; dest?: string; force?: boolean; onProgress?: OnProgress; allowEndpoint?: string } = {}): Promise<ImportResult> {
  const source = normalizeUrl(url, repo.cwd);
  const destRel = repo.rel(o.dest ?? path.posix.basename(srcPath.replace(/\/+$/, '').replace(/\.trove$/, '')));
  if (destRel === '' || destRel.split('/')[0] === '.trove' || destRel.split('/').includes('.git')) throw new TroveError('BAD_ARGS', `${o.dest ?? srcPath}: not a place for imported data`);
  // Everything that can refuse does so before the clone and before anything is written.
  const tracked = await listTracked(repo);
  const clash = tracked.find((t) => t.path === destRel || isWithin(destRel, t.path) || isWithin(t.path, destRel));
  if (clash) {
    throw new TroveError('PATH_ALREADY_TRACKED', `${destRel}: ${clash.path === destRel ? 'is already tracked' : `overlaps ${clash.path}, which trove tracks`}`,
      clash.path === destRel && sourceOf(clash.pointer) ? `move it to another version with \`trove update ${destRel}\`` : 'choose another destination with -o');
  }
  if ((await repo.git.trackedUnder([destRel])).length) throw new TroveError('PATH_TRACKED_BY_GIT', `${destRel} is tracked by git`, 'choose another destination with -o');
  if (!o.force && existsSync(repo.abs(destRel))) throw new TroveError('WOULD_OVERWRITE', `${destRel} already exists`, 'choose another destination with -o, or remove it first');
  return withTemp(async (tmp) => {
    const src = await openSource(source, srcPath, o.rev, tmp);
    const rel = srcPath.replace(/\/+$/, '').replace(/\.trove$/, '');
    await fetchFromSource(repo, src, destRel, { onProgress: o.onProgress, allowEndpoint: o.allowEndpoint });
    const { pointer, source: s } = importedPointer(src, destRel, rel);
    const gitAdd = await writeImported(repo, destRel, pointer, !!o.force);
    return { path: destRel, pointerFile: pointerPathFor(destRel), source: s, pointer, gitAdd };
  });
}

/**
 * Moves an imported path to its source's newest version (or `rev`): the diff first, then (unless
 * `dryRun`) the new pointer and data. A workspace with changes not in the cache is not overwritten.
 * @example const u = await updateImport(repo, 'data/iris.csv', { dryRun: true }); u.diff
 */
export async function updateImport(repo: RepoContext, userPath: string, o: { rev?: string; dryRun?: boolean; force?: boolean; onProgress?: OnProgress; allowEndpoint?: string } = {}): Promise<UpdateResult> {
  const rel = repo.rel(userPath).replace(/\.trove$/, '');
  const t = (await listTracked(repo)).find((x) => x.path === rel);
  if (!t) throw new TroveError('PATH_NOT_TRACKED', `${rel}: not tracked by trove`, 'bring data from another repository with `trove import <git-url> <path>`');
  const old = sourceOf(t.pointer);
  if (!old) throw new TroveError('BAD_ARGS', `${rel} was not imported (its pointer has no source)`, 'only paths brought in with `trove import` can be updated');
  return withTemp(async (tmp) => {
    const src = await openSource(old.repo, old.path, o.rev, tmp);
    const { pointer, source } = importedPointer(src, rel, old.path);
    const changed = src.pointer.oid !== t.pointer.oid;
    let diff: UpdateResult['diff'] = null;
    if (changed) {
      if (src.pointer.type === 'dir' && t.pointer.type === 'dir') {
        await fetchFromSource(repo, src, rel, { treesOnly: true, allowEndpoint: o.allowEndpoint });
        try {
          diff = { kind: 'dir', files: await diffFolders(repo.cache, { kind: 'tree', oid: t.pointer.oid as Oid }, { kind: 'tree', oid: src.pointer.oid }, rel) };
        } catch (err) {
          if (!isTroveError(err, 'MISSING_OBJECT')) throw err; // the old trees are gone from the cache: no file list
        }
      } else diff = { kind: 'file', oldSize: t.pointer.size, newSize: src.pointer.size };
    }
    const previous = { oid: t.pointer.oid, rev: old.rev };
    const base = { path: rel, pointerFile: t.pointerFile, source, pointer, previous, changed, diff };
    if (o.dryRun || (!changed && old.rev === src.commit)) return { ...base, gitAdd: [], applied: false };
    if (changed) await fetchFromSource(repo, src, rel, { onProgress: o.onProgress, allowEndpoint: o.allowEndpoint });
    const gitAdd = await writeImported(repo, rel, pointer, !!o.force);
    return { ...base, gitAdd, applied: true };
  });
}
