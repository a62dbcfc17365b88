/**
 * Remotes in trove config: `remotes.<name>.url` plus backend options, `core.remote` the default.
 *
 * ```yaml
 * core:
 *   remote: origin
 * remotes:
 *   origin:
 *     url: s3://bucket/team/data
 *     endpoint: https://minio.example.com
 *     jobs: 16
 * ```
 *
 * Relative folder paths: the user types them relative to the cwd; they are stored relative to the
 * repository root (and resolved against the root when opened). Why: `.trove/config` is committed, so
 * `../shared-remote` keeps working in every clone laid out the same way, and no home-folder path
 * (`/home/alice/…`) leaks into the repository. Absolute paths and urls are stored as given.
 *
 * Secrets never enter config: validateSetting refuses secret-looking keys, and openRemote refuses
 * credential-looking options and urls that carry credentials.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getKey, readConfigFile, setKey, unsetKey, validateSetting, writeConfigFile, type ConfigTree } from './config.js';
import { TroveError } from './errors.js';
import type { RepoContext } from './context.js';
import { isDotGit, isDotTrove, isInsideOrSame } from './safePath.js';
import { openRemote, type Remote } from '../remotes/index.js';

/** One configured remote, with its options as written in config (merged from config and config.local). */
export interface RemoteSpec {
  name: string;
  url: string;
  /** backend options (everything but `url` and the keys core owns, see CORE_KEYS) */
  options: Record<string, unknown>;
  /** objects transferred in parallel (remote option `jobs`), when set */
  jobs?: number;
  isDefault: boolean;
  /** where the url is set: `config` or `config.local` */
  source: 'config' | 'config.local';
}

/**
 * Keys that core reads and the backend must not see. `jobs` is the number of objects in flight for
 * push/fetch (the S3 backend's own `jobs`, parts in flight per multipart upload, stays at its
 * default of 4: objects × parts × part_size would otherwise multiply memory, 64 × 64 × 8 MiB).
 */
const CORE_KEYS = new Set(['url', 'jobs']);

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const CONFIG_HEADER = '# trove config: committed to git. Per-machine settings go in config.local (not committed).\n';
const LOCAL_HEADER = '# trove local config: this machine only, never committed. No secrets: credentials come from the AWS chain.\n';

/** Default number of objects in flight (measured: bench/transfer.mjs; 16 saturates the fs remote and the local S3 server). */
export const DEFAULT_TRANSFER_JOBS = 16;

export function validateRemoteName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw new TroveError('BAD_ARGS', `bad remote name ${JSON.stringify(name)}`, 'use letters, digits, "-" and "_", e.g. origin or team-s3');
  }
  return name;
}

/** Every remote in the (merged) config, sorted by name. */
export function listRemotes(config: ConfigTree, local?: ConfigTree): RemoteSpec[] {
  const section = getKey(config, 'remotes');
  if (typeof section !== 'object' || section === null) return [];
  const def = defaultRemoteName(config);
  const out: RemoteSpec[] = [];
  for (const [name, raw] of Object.entries(section as Record<string, unknown>)) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) continue;
    const sec = raw as Record<string, unknown>;
    if (typeof sec.url !== 'string') continue;
    const options: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(sec)) if (!CORE_KEYS.has(k)) options[k] = v;
    const jobs = sec.jobs === undefined ? undefined : Number(sec.jobs);
    if (jobs !== undefined && (!Number.isSafeInteger(jobs) || jobs < 1 || jobs > 1024)) {
      throw new TroveError('CONFIG', `remote "${name}": jobs must be a whole number from 1 to 1024, got ${JSON.stringify(sec.jobs)}`);
    }
    const fromLocal = local !== undefined && typeof getKey(local, `remotes.${name}.url`) === 'string';
    out.push({ name, url: sec.url, options, jobs, isDefault: name === def, source: fromLocal ? 'config.local' : 'config' });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function defaultRemoteName(config: ConfigTree): string | undefined {
  const v = getKey(config, 'core.remote');
  return typeof v === 'string' && v ? v : undefined;
}

/** The remote named `name`, or the default one. CONFIG error when there is none. */
export function resolveRemote(config: ConfigTree, name?: string): RemoteSpec {
  const all = listRemotes(config);
  if (!all.length) {
    throw new TroveError('CONFIG', 'no remote is configured', 'add one: `trove remote add origin s3://bucket/prefix` (or a folder path)');
  }
  const want = name ?? defaultRemoteName(config) ?? (all.length === 1 ? all[0].name : undefined);
  if (!want) throw new TroveError('CONFIG', 'no default remote is set', `name one with -r, or set it: \`trove remote default ${all[0].name}\``);
  const spec = all.find((r) => r.name === want);
  if (!spec) throw new TroveError('CONFIG', `no remote named "${want}"`, `configured remotes: ${all.map((r) => r.name).join(', ')}`);
  return spec;
}

/** The url a backend gets: relative folder paths resolved against the repository root. */
export function effectiveUrl(root: string, url: string): string {
  if (url.startsWith('s3://') || url.startsWith('file:') || /^[a-z][a-z0-9+.-]*:\/\//i.test(url) || path.isAbsolute(url)) return url;
  return path.resolve(root, url);
}

/** The folder a folder-remote url names (absolute), or null for other kinds of remote. */
function folderOf(url: string): string | null {
  if (url.startsWith('file:')) {
    try {
      return path.resolve(fileURLToPath(url));
    } catch {
      return null; // openRemote reports a malformed file url
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return null;
  return path.isAbsolute(url) ? path.resolve(url) : null;
}

/** The real path of `p`, or of its nearest existing parent with the rest appended. */
function realish(p: string): string {
  const rest: string[] = [];
  let cur = p;
  for (;;) {
    try {
      return path.join(realpathSync(cur), ...rest.reverse());
    } catch {
      const up = path.dirname(cur);
      if (up === cur) return p;
      rest.push(path.basename(cur));
      cur = up;
    }
  }
}

/**
 * A folder remote must not be the filesystem root, the repository, a folder that holds it, or a
 * place inside its `.git` or `.trove`: push writes `objects/` and `runs/` there and `gc --remote`
 * deletes from it. Checked at `remote add`/`modify` and again whenever a remote is opened, since a
 * cloned repository's committed config may name any folder. Throws CONFIG with the reason.
 */
export function assertSafeFolderRemote(root: string, name: string, effective: string): void {
  const dir = folderOf(effective);
  if (dir === null) return;
  const real = realish(dir);
  const realRoot = realish(root);
  const refuse = (why: string) => new TroveError('CONFIG', `remote "${name}": folder ${dir} ${why}`,
    'use a folder of its own outside the repository, e.g. ../trove-remote or /srv/trove/project', { data: { remote: name, url: effective } });
  if (path.dirname(real) === real) throw refuse('is the filesystem root');
  if (real === realRoot) throw refuse('is the repository itself');
  if (isInsideOrSame(real, realRoot)) throw refuse(`holds the repository (${realRoot})`);
  if (isInsideOrSame(realRoot, real)) {
    const seg = path.relative(realRoot, real).split(path.sep).find((x) => isDotGit(x) || isDotTrove(x));
    if (seg) throw refuse(`is inside the repository's ${seg} folder`);
  }
}

/**
 * Opens the named (or default) remote of a repository. The caller closes it.
 * @example const { remote, spec } = openRepoRemote(repo, 'origin'); try { … } finally { await remote.close() }
 */
export function openRepoRemote(repo: RepoContext, name?: string): { remote: Remote; spec: RemoteSpec } {
  const spec = resolveRemote(repo.config, name);
  const url = effectiveUrl(repo.root, spec.url);
  assertSafeFolderRemote(repo.root, spec.name, url);
  return { remote: openRemote(spec.name, url, spec.options), spec };
}

/** The transfer concurrency: option > remote's `jobs` > default. */
export function transferJobs(spec: RemoteSpec, jobs?: number): number {
  const j = jobs ?? spec.jobs ?? DEFAULT_TRANSFER_JOBS;
  if (!Number.isSafeInteger(j) || j < 1) throw new TroveError('BAD_ARGS', `--jobs must be a whole number ≥ 1, got ${j}`);
  return j;
}

// ------------------------------------------------------------------ editing

async function edit(repo: RepoContext, local: boolean, fn: (tree: ConfigTree) => void): Promise<void> {
  const file = path.join(repo.troveDir, local ? 'config.local' : 'config');
  const tree = await readConfigFile(file, local ? '.trove/config.local' : '.trove/config');
  fn(tree);
  await writeConfigFile(file, tree, local ? LOCAL_HEADER : CONFIG_HEADER);
}

async function readBoth(repo: RepoContext): Promise<{ committed: ConfigTree; local: ConfigTree }> {
  return {
    committed: await readConfigFile(path.join(repo.troveDir, 'config'), '.trove/config'),
    local: await readConfigFile(path.join(repo.troveDir, 'config.local'), '.trove/config.local'),
  };
}

/** Validates a remote option: a legal config key, not a secret, and accepted by the backend. */
function checkOptions(name: string, url: string, options: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(options)) validateSetting(`remotes.${name}.${k}`, String(v));
  const backend: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) if (!CORE_KEYS.has(k)) backend[k] = v;
  if (options.jobs !== undefined) {
    const j = Number(options.jobs);
    if (!Number.isSafeInteger(j) || j < 1 || j > 1024) throw new TroveError('CONFIG', `remote "${name}": jobs must be a whole number from 1 to 1024`);
  }
  // Opening is cheap (no I/O): it checks the url and every option the way push will.
  void openRemote(name, url, backend).close();
}

/** Typed option value: numbers and booleans as such, so the YAML reads naturally. */
function typed(v: string): unknown {
  if (/^(true|false)$/.test(v)) return v === 'true';
  if (/^\d{1,15}$/.test(v)) return Number(v);
  return v;
}

/**
 * `trove remote add`: stores the url (relative folder paths made relative to the repo root) and
 * options; the first remote becomes the default.
 * @example await addRemote(repo, 'origin', 's3://bkt/data', { options: { region: 'eu-west-1' } })
 */
export async function addRemote(repo: RepoContext, name: string, url: string, o: { local?: boolean; force?: boolean; options?: Record<string, string>; makeDefault?: boolean } = {}): Promise<RemoteSpec> {
  validateRemoteName(name);
  let stored = url;
  if (!url.startsWith('s3://') && !/^[a-z][a-z0-9+.-]*:/i.test(url) && !path.isAbsolute(url)) {
    const abs = path.resolve(repo.cwd, url);
    stored = path.relative(repo.root, abs) || '.';
  }
  const options: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o.options ?? {})) options[k] = typed(v);
  assertSafeFolderRemote(repo.root, name, effectiveUrl(repo.root, stored));
  checkOptions(name, effectiveUrl(repo.root, stored), options);
  const { committed, local } = await readBoth(repo);
  const exists = getKey(committed, `remotes.${name}`) !== undefined || getKey(local, `remotes.${name}`) !== undefined;
  if (exists && !o.force) {
    throw new TroveError('CONFIG', `remote "${name}" already exists`, `change it with \`trove remote modify ${name} url <url>\`, or remove it first`);
  }
  const hadAny = listRemotes(committed).length + listRemotes(local).length > 0;
  await edit(repo, !!o.local, (tree) => {
    unsetKey(tree, `remotes.${name}`);
    setKey(tree, `remotes.${name}.url`, stored);
    for (const [k, v] of Object.entries(options)) setKey(tree, `remotes.${name}.${k}`, v);
    if (o.makeDefault || (!hadAny && defaultRemoteName(committed) === undefined && defaultRemoteName(local) === undefined)) {
      setKey(tree, 'core.remote', name);
    }
  });
  await reload(repo);
  return resolveRemote(repo.config, name);
}

/** Removes a remote from config and config.local; unsets the default if it was this one. */
export async function removeRemote(repo: RepoContext, name: string): Promise<void> {
  const { committed, local } = await readBoth(repo);
  if (getKey(committed, `remotes.${name}`) === undefined && getKey(local, `remotes.${name}`) === undefined) {
    throw new TroveError('CONFIG', `no remote named "${name}"`);
  }
  for (const [isLocal, tree] of [[false, committed], [true, local]] as const) {
    const hasIt = getKey(tree, `remotes.${name}`) !== undefined || getKey(tree, 'core.remote') === name;
    if (!hasIt) continue;
    await edit(repo, isLocal, (t) => {
      unsetKey(t, `remotes.${name}`);
      if (getKey(t, 'core.remote') === name) unsetKey(t, 'core.remote');
    });
  }
  await reload(repo);
}

/** Sets `core.remote`. */
export async function setDefaultRemote(repo: RepoContext, name: string, o: { local?: boolean } = {}): Promise<void> {
  resolveRemote(repo.config, name);
  await edit(repo, !!o.local, (t) => setKey(t, 'core.remote', name));
  await reload(repo);
}

/**
 * `trove remote modify <name> <key> <value>`: one option (or `url`), validated like `remote add`.
 * With `value` undefined the option is removed.
 */
export async function modifyRemote(repo: RepoContext, name: string, key: string, value: string | undefined, o: { local?: boolean } = {}): Promise<RemoteSpec> {
  const spec = resolveRemote(repo.config, name);
  if (!/^[a-z][a-z0-9_]*$/.test(key)) throw new TroveError('CONFIG', `bad remote option name ${JSON.stringify(key)}`);
  if (key === 'url' && value === undefined) throw new TroveError('CONFIG', 'a remote needs a url', `remove the remote instead: \`trove remote remove ${name}\``);
  const options: Record<string, unknown> = { ...spec.options };
  if (spec.jobs !== undefined) options.jobs = spec.jobs;
  let url = spec.url;
  if (key === 'url') {
    url = value!;
    if (!url.startsWith('s3://') && !/^[a-z][a-z0-9+.-]*:/i.test(url) && !path.isAbsolute(url)) url = path.relative(repo.root, path.resolve(repo.cwd, url)) || '.';
  } else if (value === undefined) delete options[key];
  else options[key] = typed(value);
  assertSafeFolderRemote(repo.root, name, effectiveUrl(repo.root, url));
  checkOptions(name, effectiveUrl(repo.root, url), options);
  await edit(repo, !!o.local, (t) => {
    if (key === 'url') setKey(t, `remotes.${name}.url`, url);
    else if (value === undefined) unsetKey(t, `remotes.${name}.${key}`);
    else setKey(t, `remotes.${name}.${key}`, options[key]);
  });
  await reload(repo);
  return resolveRemote(repo.config, name);
}

/** Re-reads config into the RepoContext object (its `config` is the merged view). */
async function reload(repo: RepoContext): Promise<void> {
  const { committed, local } = await readBoth(repo);
  const { mergeConfig } = await import('./config.js');
  const merged = mergeConfig(committed, local);
  for (const k of Object.keys(repo.config)) delete repo.config[k];
  Object.assign(repo.config, merged);
}

/** For `remote list`: the remotes and where each is set. */
export async function describeRemotes(repo: RepoContext): Promise<RemoteSpec[]> {
  const { local } = await readBoth(repo);
  return listRemotes(repo.config, local);
}
