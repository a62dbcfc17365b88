import { writeFileAtomic } from './atomicWrite.js';
import { yaml } from './lazyYaml.js';
import { parseBoundedYaml, readSmallRegularFile } from './boundedYaml.js';
import { TroveError } from './errors.js';
import { isOid, type Oid } from './oid.js';
import { validateRelPath } from './paths.js';
import { validatePointerSource } from './pointerSource.js';
import { assertSafeDataPath } from './safePath.js';

/** The pointer file committed to git: `<path>.trove`. See DESIGN.md. */
export interface Pointer {
  version: 1;
  path: string;
  type: 'file' | 'dir';
  oid: Oid;
  size: number;
  files?: number;
  exec?: boolean;
  /** keys this version does not know, kept when the pointer is rewritten */
  extra?: Record<string, unknown>;
}

/**
 * A tracked pointer: the pointer and where it is (both repo-relative). The one type for it, whether read from
 * the work tree (ops/tracked.ts), at a git revision (revs.ts adds `rev` and `blob`) or from a merge stage.
 */
export interface Tracked {
  /** data path, e.g. `data/images` */
  path: string;
  /** pointer file, e.g. `data/images.trove` */
  pointerFile: string;
  pointer: Pointer;
}

/** A pointer file's Tracked: its data path is the pointer's `path`, beside the pointer file. */
export function trackedFrom(pointerFile: string, pointer: Pointer): Tracked {
  const slash = pointerFile.lastIndexOf('/');
  return { path: slash < 0 ? pointer.path : `${pointerFile.slice(0, slash)}/${pointer.path}`, pointerFile, pointer };
}

const HEADER = '# trove pointer: commit this file; the data itself is in the trove cache and remotes\n';
const KNOWN = new Set(['version', 'path', 'type', 'oid', 'size', 'files', 'exec']);
/** A pointer is a few hundred bytes; anything much larger is not one. */
const MAX_POINTER_BYTES = 64 * 1024;

function bad(file: string, field: string, why: string): TroveError {
  return new TroveError('BAD_POINTER', `${file}: field '${field}' ${why}`, `fix or restore ${file} (e.g. \`git checkout -- ${file}\`)`, { data: { file, field } });
}

function count(v: unknown, file: string, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(file, field, `must be a whole number from 0 to 2^53-1, got ${JSON.stringify(v)?.slice(0, 40)}`);
  return v;
}

/** Parses and validates pointer text. `file` names the pointer in errors. */
export function parsePointer(text: string, file: string): Pointer {
  if (text.length > MAX_POINTER_BYTES) throw bad(file, '(file)', `is ${text.length} bytes: too large to be a pointer`);
  if (text.includes('\0')) throw bad(file, '(file)', 'contains a NUL byte');
  const v: unknown = parseSimple(text) ?? parseYaml(text, file);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(file, '(file)', 'must be a YAML mapping');
  const o = v as Record<string, unknown>;
  if (o.version !== 1) throw bad(file, 'version', `must be 1 (this trove reads pointer version 1), got ${JSON.stringify(o.version)?.slice(0, 40)}`);
  let p: string;
  try {
    p = assertSafeDataPath(validateRelPath(o.path, `${file}: field 'path'`), `${file}: field 'path'`);
  } catch (err) {
    throw new TroveError('BAD_POINTER', (err as Error).message, `fix or restore ${file}`, { data: { file, field: 'path' } });
  }
  if (o.type !== 'file' && o.type !== 'dir') throw bad(file, 'type', `must be 'file' or 'dir', got ${JSON.stringify(o.type)?.slice(0, 40)}`);
  if (!isOid(o.oid)) throw bad(file, 'oid', `must be "sha256:" and 64 lowercase hex digits, got ${JSON.stringify(o.oid)?.slice(0, 80)}`);
  const size = count(o.size, file, 'size');
  const ptr: Pointer = { version: 1, path: p, type: o.type, oid: o.oid, size };
  if (o.type === 'dir') {
    ptr.files = count(o.files ?? 0, file, 'files');
    if ('exec' in o) throw bad(file, 'exec', 'is only for files');
  } else {
    if ('files' in o) throw bad(file, 'files', 'is only for folders');
    if (o.exec !== undefined && typeof o.exec !== 'boolean') throw bad(file, 'exec', 'must be true or false');
    if (o.exec === true) ptr.exec = true;
  }
  const extra: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(o)) if (!KNOWN.has(k)) extra[k] = val;
  if (Object.keys(extra).length) ptr.extra = extra;
  // An imported pointer's origin is handed to git later: hostile until validated (pointerSource.ts).
  if ('source' in extra) validatePointerSource(extra.source, file);
  return ptr;
}

function parseYaml(text: string, file: string): unknown {
  // bounded: a pointer from someone else's repository (or an old revision) may be an alias bomb or nest deep
  return parseBoundedYaml(text, file, 'BAD_POINTER', { maxBytes: MAX_POINTER_BYTES, maxDepth: 8, maxAliases: 10 });
}

const SIMPLE_LINE = /^(version|path|type|oid|size|files|exec): ([A-Za-z0-9_.:/-]+)$/;

/**
 * The pointers trove writes are flat `key: value` lines with plain scalars; those are read here
 * without the YAML library. Anything else (quotes, unknown keys, other layouts) returns null and goes
 * through the full YAML parser, so both paths accept exactly the same documents.
 */
function parseSimple(text: string): Record<string, unknown> | null {
  const o: Record<string, unknown> = {};
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '' || line.startsWith('#')) continue;
    const m = SIMPLE_LINE.exec(line);
    if (!m || m[1] in o) return null;
    const [, k, v] = m;
    if (/^(0|[1-9][0-9]{0,15})$/.test(v)) o[k] = Number(v);
    else if (v === 'true' || v === 'false') o[k] = v === 'true';
    else if (/^[0-9.+-]|^(null|~|yes|no|on|off|y|n)$/i.test(v)) return null; // leave YAML's number and bool forms to YAML
    else o[k] = v;
  }
  return o;
}

export function serializePointer(ptr: Pointer): string {
  const o: Record<string, unknown> = { version: 1, path: ptr.path, type: ptr.type, oid: ptr.oid, size: ptr.size };
  if (ptr.type === 'dir') o.files = ptr.files ?? 0;
  if (ptr.type === 'file' && ptr.exec) o.exec = true;
  if (ptr.extra) for (const [k, v] of Object.entries(ptr.extra)) if (!KNOWN.has(k)) o[k] = v;
  return HEADER + yaml().stringify(o, { lineWidth: 0 });
}

/** Reads a pointer file; null when it does not exist. */
export async function readPointer(absFile: string, displayName: string): Promise<Pointer | null> {
  // lstat first: a link, FIFO or device named *.trove is refused, never opened (nothing blocks)
  const text = await readSmallRegularFile(absFile, displayName, 'BAD_POINTER', MAX_POINTER_BYTES);
  return text === null ? null : parsePointer(text, displayName);
}

export async function writePointer(absFile: string, ptr: Pointer): Promise<void> {
  await writeFileAtomic(absFile, serializePointer(ptr));
}

/**
 * writePointer, unless the file already holds exactly these bytes: a re-add of unchanged data then
 * writes nothing (no temp file, no fsync, and the pointer's mtime stays, so make-like tools see no
 * change). Returns whether it wrote.
 */
export async function writePointerIfChanged(absFile: string, ptr: Pointer): Promise<boolean> {
  const text = serializePointer(ptr);
  const { readFile } = await import('node:fs/promises');
  const now = await readFile(absFile, 'utf8').catch(() => null);
  if (now === text) return false;
  await writeFileAtomic(absFile, text);
  return true;
}
