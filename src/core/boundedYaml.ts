import { constants as fsc, promises as fsp } from 'node:fs';
import { TroveError, isErrno, type ErrorCode } from './errors.js';
import { yaml } from './lazyYaml.js';

/**
 * YAML from files that someone else may have written (pointers, configs, a cloned repository's
 * files, blobs at old revisions): bounded before the parser sees it, so alias bombs, deep nesting
 * and huge documents end as a clear error of `code` naming the file, never as a hang, an
 * out-of-memory or a stack trace.
 */
export interface YamlLimits {
  /** bytes of text */
  maxBytes: number;
  /** nesting of maps and lists */
  maxDepth: number;
  /** aliases resolved (each can copy a whole subtree) */
  maxAliases: number;
}

export const DEFAULT_YAML_LIMITS: YamlLimits = { maxBytes: 1 << 20, maxDepth: 32, maxAliases: 10 };

/** Parses `text` as YAML within `limits`; any failure is a TroveError(code) that names `file`. */
export function parseBoundedYaml(text: string, file: string, code: ErrorCode, limits: YamlLimits = DEFAULT_YAML_LIMITS, field = '(file)'): unknown {
  const bad = (why: string, cause?: unknown) =>
    new TroveError(code, `${file}: ${code === 'BAD_POINTER' ? `field '${field}' ` : ''}${why}`, `fix ${file} by hand or restore it from git`, { cause, data: { file, field } });
  if (Buffer.byteLength(text, 'utf8') > limits.maxBytes) throw bad(`is larger than ${limits.maxBytes} bytes: not a file trove writes`);
  // Nesting is judged before parsing: the parser recurses per level, and its own failure at
  // some thousands of levels is a stack overflow.
  const depth = syntacticDepth(text);
  if (depth > limits.maxDepth) throw bad(`nests ${depth > 10_000 ? 'over 10000' : depth} levels deep (limit ${limits.maxDepth}): not a file trove writes`);
  let v: unknown;
  try {
    const doc = yaml().parseDocument(text, { uniqueKeys: true, prettyErrors: false });
    if (doc.errors.length) throw bad(`${code === 'BAD_POINTER' ? 'is ' : ''}not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
    v = doc.toJS({ maxAliasCount: limits.maxAliases });
  } catch (err) {
    if (err instanceof TroveError) throw err;
    // the yaml package's alias-count guard (a ReferenceError), or anything else it throws
    throw bad(`cannot be read safely: ${(err as Error)?.message?.split('\n')[0] ?? String(err)}`, err);
  }
  return v;
}

/**
 * An upper bound on the nesting of a YAML text: flow brackets open at once, plus the number of
 * distinct indentation levels on the current path of block lines. Quotes are not parsed, so a
 * bracket inside a string counts too: the bound errs on the side of refusing.
 */
export function syntacticDepth(text: string): number {
  let max = 0;
  let flow = 0;
  const indents: number[] = [];
  let lineStart = true;
  let indent = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      lineStart = true;
      indent = 0;
      continue;
    }
    if (lineStart) {
      if (c === 32 || c === 45 /* '-' opens a level too */) {
        indent++;
        continue;
      }
      lineStart = false;
      if (c !== 35 /* # */ && c !== 13) {
        while (indents.length && indents[indents.length - 1]! >= indent) indents.pop();
        indents.push(indent);
      }
    }
    if (c === 91 || c === 123) flow++;
    else if ((c === 93 || c === 125) && flow > 0) flow--;
    const d = flow + indents.length;
    if (d > max) max = d;
  }
  return max;
}

/**
 * Reads a small file that must be a regular file: lstat first (a link, FIFO, socket or device is
 * refused with `code`, never opened, so nothing blocks), size checked before reading. null when absent
 * (with `followLink`, also when a link points nowhere).
 */
export async function readSmallRegularFile(abs: string, display: string, code: ErrorCode, maxBytes: number, o: { followLink?: boolean } = {}): Promise<string | null> {
  let st;
  try {
    // followLink: a link is judged by what it points to (still only a regular file is opened)
    st = await (o.followLink ? fsp.stat(abs) : fsp.lstat(abs));
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return null;
    throw err;
  }
  const data = { file: display, field: '(file)' };
  if (st.isSymbolicLink()) throw new TroveError(code, `${display}: is a symbolic link; trove reads it only as a regular file`, `replace ${display} with a regular file`, { data });
  if (!st.isFile()) throw new TroveError(code, `${display}: is not a regular file (a folder, fifo, socket or device)`, `remove ${display} or replace it with a regular file`, { data });
  if (st.size > maxBytes) throw new TroveError(code, `${display}: is ${st.size} bytes, larger than the limit of ${maxBytes}`, `fix ${display} by hand or restore it from git`, { data });
  // O_NONBLOCK: should the file be swapped for a FIFO after the lstat, the open still returns
  const fh = await fsp.open(abs, fsc.O_RDONLY | fsc.O_NONBLOCK);
  try {
    if (!(await fh.stat()).isFile()) throw new TroveError(code, `${display}: is not a regular file`, undefined, { data });
    const buf = Buffer.allocUnsafe(Math.min(maxBytes, st.size + 4096) + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) throw new TroveError(code, `${display}: grew while being read (past ${st.size} bytes)`, 'run the command again once nothing writes it', { data });
    }
    return buf.subarray(0, n).toString('utf8');
  } finally {
    await fh.close();
  }
}
