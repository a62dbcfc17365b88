import { TroveError } from './errors.js';
import { isOid, type Oid } from './oid.js';
import { validateName } from './paths.js';

/** One entry of a tree object. Key order here is the canonical order on disk. */
export interface TreeEntry {
  name: string;
  type: 'file' | 'dir';
  oid: Oid;
  size: number;
  /** dir entries: files below */
  files?: number;
  /** file entries: executable */
  exec?: boolean;
}

export interface Tree {
  version: 1;
  entries: TreeEntry[];
}

/** A tree lists one directory; beyond this many entries it is hostile, not a dataset. */
const MAX_ENTRIES = 5_000_000;

/** Byte order of UTF-8 names, as git sorts. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Canonical JSON: fixed key order, entries sorted by name bytes, no whitespace. */
export function serializeTree(entries: TreeEntry[]): string {
  const sorted = [...entries].sort((a, b) => compareNames(a.name, b.name));
  const parts = sorted.map((e) => {
    let s = `{"name":${JSON.stringify(e.name)},"type":"${e.type}","oid":"${e.oid}","size":${e.size}`;
    if (e.type === 'dir') s += `,"files":${e.files ?? 0}`;
    if (e.type === 'file' && e.exec) s += `,"exec":true`;
    return s + '}';
  });
  return `{"version":1,"entries":[${parts.join(',')}]}`;
}

/** Parses and validates a tree object's bytes. `where` names it in errors. */
export function parseTree(buf: Buffer | string, where: string): Tree {
  let v: unknown;
  try {
    v = JSON.parse(typeof buf === 'string' ? buf : buf.toString('utf8'));
  } catch {
    throw new TroveError('BAD_TREE', `${where}: tree object is not valid JSON`);
  }
  const fail = (why: string) => new TroveError('BAD_TREE', `${where}: ${why}`, 'run `trove fsck`; the tree object may be corrupt or hostile');
  if (typeof v !== 'object' || v === null) throw fail('not an object');
  const o = v as { version?: unknown; entries?: unknown };
  if (o.version !== 1) throw fail(`unknown tree version ${JSON.stringify(o.version)}`);
  if (!Array.isArray(o.entries)) throw fail('entries must be a list');
  if (o.entries.length > MAX_ENTRIES) throw fail('too many entries');
  const seen = new Set<string>();
  const entries: TreeEntry[] = [];
  let prev: string | undefined;
  for (const raw of o.entries as unknown[]) {
    if (typeof raw !== 'object' || raw === null) throw fail('entry is not an object');
    const e = raw as Record<string, unknown>;
    const name = validateName(e.name, where);
    if (seen.has(name)) throw fail(`duplicate entry ${JSON.stringify(name)}`);
    seen.add(name);
    if (prev !== undefined && compareNames(prev, name) >= 0) throw fail('entries are not sorted');
    prev = name;
    if (e.type !== 'file' && e.type !== 'dir') throw fail(`entry ${JSON.stringify(name)}: bad type ${JSON.stringify(e.type)}`);
    if (!isOid(e.oid)) throw fail(`entry ${JSON.stringify(name)}: bad oid`);
    if (typeof e.size !== 'number' || !Number.isSafeInteger(e.size) || e.size < 0) throw fail(`entry ${JSON.stringify(name)}: bad size`);
    const entry: TreeEntry = { name, type: e.type, oid: e.oid, size: e.size };
    if (e.type === 'dir') {
      if (typeof e.files !== 'number' || !Number.isSafeInteger(e.files) || e.files < 0) throw fail(`entry ${JSON.stringify(name)}: bad files count`);
      entry.files = e.files;
    } else if (e.exec === true) entry.exec = true;
    entries.push(entry);
  }
  return { version: 1, entries };
}
