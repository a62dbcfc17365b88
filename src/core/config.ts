import { writeFileAtomic } from './atomicWrite.js';
import { yaml } from './lazyYaml.js';
import { parseBoundedYaml, readSmallRegularFile } from './boundedYaml.js';
import { TroveError } from './errors.js';
import { parseChunkSetting } from './store/chunked.js';
import type { LinkMode } from './store/objectStore.js';

/**
 * `.trove/config` (committed) and `.trove/config.local` (per machine), YAML, merged with local
 * winning. Keys are dotted paths into the mapping: `cache.link`, `core.remote`, `remotes.origin.url`.
 */
export type ConfigTree = Record<string, unknown>;

const SECRET_RE = /(secret|password|passwd|token|access_?key|session_?key|credential)/i;

/** The keys trove knows, with a validator each. `remotes.<name>.*` are checked by the remote layer. */
const KNOWN: Record<string, (v: string) => unknown> = {
  'core.remote': (v) => v,
  'core.autostage': parseBool,
  'cache.dir': (v) => v,
  'cache.link': parseLinkModes,
  'cache.jobs': parsePositiveInt,
  'cache.packs': parseBool,
  'cache.chunk': (v) => (parseChunkSetting(v), v.trim()), // stored as written: off, 16MiB
  'gc.grace': (v) => v,
  'gc.autoMerge': parseCount,
  'runs.experiment': (v) => v,
};

export function parseBool(v: string): boolean {
  if (/^(true|yes|on|1)$/i.test(v)) return true;
  if (/^(false|no|off|0)$/i.test(v)) return false;
  throw new TroveError('CONFIG', `expected true or false, got ${JSON.stringify(v)}`);
}

function parseCount(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new TroveError('CONFIG', `expected a whole number ≥ 0, got ${JSON.stringify(v)}`);
  return n;
}

function parsePositiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new TroveError('CONFIG', `expected a whole number ≥ 1, got ${JSON.stringify(v)}`);
  return n;
}

export function parseLinkModes(v: unknown): LinkMode[] {
  const list = Array.isArray(v) ? v : String(v).split(',').map((s) => s.trim());
  const modes: LinkMode[] = [];
  for (const m of list) {
    if (m !== 'reflink' && m !== 'copy' && m !== 'hardlink' && m !== 'symlink') {
      throw new TroveError('CONFIG', `cache.link: unknown link mode ${JSON.stringify(m)}`, 'use one or more of reflink, copy, hardlink, symlink, e.g. `trove config cache.link reflink,copy`');
    }
    modes.push(m);
  }
  if (!modes.length) throw new TroveError('CONFIG', 'cache.link: empty');
  return modes;
}

export async function readConfigFile(file: string, display: string): Promise<ConfigTree> {
  // lstat, size cap and a non-blocking open before anything is parsed: a cloned repository's config may be hostile
  const text = await readSmallRegularFile(file, display, 'CONFIG', 1 << 20, { followLink: true });
  if (text === null) return {};
  // The nested `key: value` maps that trove writes are read without loading the YAML parser
  // (~25 ms); anything else goes to the full parser.
  const simple = parseSimpleMap(text);
  if (simple) return simple;
  const v = parseBoundedYaml(text, display, 'CONFIG', { maxBytes: 1 << 20, maxDepth: 16, maxAliases: 10 });
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new TroveError('CONFIG', `${display}: must be a YAML mapping`);
  return v as ConfigTree;
}

export async function writeConfigFile(file: string, tree: ConfigTree, header: string): Promise<void> {
  const body = Object.keys(tree).length ? yaml().stringify(tree, { lineWidth: 0 }) : '';
  await writeFileAtomic(file, header + body);
}

export function getKey(tree: ConfigTree, key: string): unknown {
  let cur: unknown = tree;
  for (const part of key.split('.')) {
    if (typeof cur !== 'object' || cur === null || !Object.hasOwn(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

export function setKey(tree: ConfigTree, key: string, value: unknown): void {
  const parts = key.split('.');
  let cur = tree as Record<string, unknown>;
  for (const part of parts.slice(0, -1)) {
    if (typeof cur[part] !== 'object' || cur[part] === null || Array.isArray(cur[part])) cur[part] = {};
    cur = cur[part] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]] = value;
}

export function unsetKey(tree: ConfigTree, key: string): boolean {
  const parts = key.split('.');
  let cur = tree as Record<string, unknown>;
  const chain: Record<string, unknown>[] = [cur];
  for (const part of parts.slice(0, -1)) {
    if (typeof cur[part] !== 'object' || cur[part] === null) return false;
    cur = cur[part] as Record<string, unknown>;
    chain.push(cur);
  }
  const last = parts[parts.length - 1];
  if (!Object.hasOwn(cur, last)) return false;
  delete cur[last];
  // prune empty parents
  for (let i = chain.length - 1; i > 0; i--) {
    if (Object.keys(chain[i]).length === 0) delete chain[i - 1][parts[i - 1]];
  }
  return true;
}

/** Deep merge, `b` wins. */
export function mergeConfig(a: ConfigTree, b: ConfigTree): ConfigTree {
  const out: ConfigTree = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const av = out[k];
    out[k] = typeof av === 'object' && av !== null && !Array.isArray(av) && typeof v === 'object' && v !== null && !Array.isArray(v)
      ? mergeConfig(av as ConfigTree, v as ConfigTree)
      : v;
  }
  return out;
}

/** Flattens to `a.b.c = value` pairs for `config --list`. */
export function flattenConfig(tree: ConfigTree, prefix = ''): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [k, v] of Object.entries(tree)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) out.push(...flattenConfig(v as ConfigTree, key));
    else out.push([key, v]);
  }
  return out;
}

/** Validates a `config set`: known key, well-formed value, never a secret. Returns the typed value. */
export function validateSetting(key: string, value: string): unknown {
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/.test(key)) {
    throw new TroveError('CONFIG', `bad config key ${JSON.stringify(key)}`, 'keys look like section.name, e.g. cache.link');
  }
  if (SECRET_RE.test(key)) {
    throw new TroveError('CONFIG', `refusing to store ${key} in trove config: credentials never go into trove's files`, 'use the AWS default credential chain (environment, ~/.aws/credentials, SSO) and, if needed, `trove remote modify <name> profile <profile>`');
  }
  const check = KNOWN[key];
  if (check) {
    try {
      return check(value);
    } catch (err) {
      if (err instanceof TroveError) throw new TroveError('CONFIG', `${key}: ${err.message.replace(/^cache\.link: /, '')}`, err.hint);
      throw err;
    }
  }
  if (key.startsWith('remotes.')) return value;
  throw new TroveError('CONFIG', `unknown config key ${key}`, `known keys: ${Object.keys(KNOWN).join(', ')}; remotes are set with \`trove remote\``);
}

/**
 * A strict subset of YAML: comments, blank lines, and nested maps (2-space indentation) of plain
 * scalars: whole numbers, true/false, and words without YAML syntax in them. Returns null for
 * anything else, so that the result is always what the full parser would give.
 */
export function parseSimpleMap(text: string): ConfigTree | null {
  const root: ConfigTree = {};
  const stack: { indent: number; map: ConfigTree }[] = [{ indent: 0, map: root }];
  let opened: { indent: number; map: ConfigTree } | null = null; // a `key:` waiting for its first child
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (/^\s*(#.*)?$/.test(line)) continue;
    const m = /^( *)([A-Za-z0-9_-]+):(?: (.*))?$/.exec(line);
    if (!m) return null;
    const indent = m[1].length;
    const key = m[2];
    const value = m[3] ?? '';
    if (opened) {
      if (indent <= opened.indent) return null; // `key:` with nothing under it is null in YAML
      stack.push({ indent, map: opened.map });
      opened = null;
    }
    while (stack.length > 1 && indent < stack[stack.length - 1].indent) stack.pop();
    const top = stack[stack.length - 1];
    if (indent !== top.indent || Object.hasOwn(top.map, key) || key === '__proto__') return null;
    if (value === '') {
      const child: ConfigTree = {};
      top.map[key] = child;
      opened = { indent, map: child };
      continue;
    }
    const scalar = simpleScalar(value);
    if (scalar === undefined) return null;
    top.map[key] = scalar;
  }
  return opened ? null : root;
}

/** A plain YAML scalar whose meaning is certain, or undefined (let the YAML parser decide). */
function simpleScalar(v: string): string | number | boolean | undefined {
  if (/^(0|-?[1-9][0-9]{0,14})$/.test(v)) return Number(v);
  if (v === 'true' || v === 'false') return v === 'true';
  if (v.includes(': ') || v.includes(' #') || v.endsWith(':')) return undefined;
  if (/^(null|~|yes|no|on|off|y|n)$/i.test(v)) return undefined;
  if (/^[0-9+-]/.test(v) || (/^\.[^./]/.test(v))) return undefined; // numbers, .inf, .nan
  if (/^[A-Za-z0-9_./][A-Za-z0-9_./,@+%=:-]*$/.test(v)) return v;
  return undefined;
}
