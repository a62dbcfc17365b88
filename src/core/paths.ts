import path from 'node:path';
import { TroveError, type ErrorCode } from './errors.js';
import { unsafeSegmentReason } from './safePath.js';

/**
 * Validates a path read from a pointer, tree, run record or remote: relative, posix, normalized,
 * no `..`, no NUL, no backslash. Returns it unchanged or throws `code` naming `where`.
 */
export function validateRelPath(p: unknown, where: string, code: ErrorCode = 'BAD_POINTER'): string {
  const bad = (why: string) =>
    new TroveError(code, `${where}: unsafe path ${JSON.stringify(p)?.slice(0, 120)}: ${why}`, 'paths must be relative, normalized and stay inside the repository');
  if (typeof p !== 'string' || p.length === 0) throw bad('must be a non-empty string');
  if (p.includes('\0')) throw bad('contains a NUL byte');
  if (p.includes('\\')) throw bad('contains a backslash');
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) throw bad('is absolute');
  const segs = p.split('/');
  for (const s of segs) {
    if (s === '..') throw bad("contains '..'");
    if (s === '.' || s === '') throw bad('is not normalized');
  }
  if (p.length > 4096) throw bad('is too long');
  return p;
}

/** A single path segment, as used in tree entries. */
export function validateName(name: unknown, where: string): string {
  if (typeof name !== 'string' || name.length === 0 || name === '.' || name === '..' || name.includes('/') || name.includes('\0') || name.length > 1024) {
    throw new TroveError('BAD_TREE', `${where}: bad entry name ${JSON.stringify(name)?.slice(0, 120)}`, 'tree entry names are single path segments (no "/", NUL, "." or "..")');
  }
  // A tree that names .git (any variant), .trove or a pointer file is hostile: the whole tree is refused.
  const why = unsafeSegmentReason(name);
  if (why) throw new TroveError('BAD_TREE', `${where}: hostile tree: entry ${why}`, 'this tree cannot be checked out; nothing was written', { data: { where, name } });
  return name;
}

/** posix form of a relative path (Windows separators never reach pointers). */
export function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

/**
 * Turns a user-supplied path (relative to cwd, or absolute) into a repo-relative posix path.
 * Throws PATH_OUTSIDE_REPO for anything that resolves outside `root`.
 */
export function repoRelative(root: string, cwd: string, userPath: string): string {
  const abs = path.resolve(cwd, userPath);
  const rel = path.relative(root, abs);
  if (rel === '') return '';
  if (rel.startsWith('..' + path.sep) || rel === '..' || path.isAbsolute(rel)) {
    throw new TroveError('PATH_OUTSIDE_REPO', `${userPath}: outside the repository (${root})`, 'trove tracks paths inside the repository only; copy or move the data into it first');
  }
  return toPosix(rel);
}

/** True when `child` is `parent` or below it (both repo-relative posix). */
export function isWithin(child: string, parent: string): boolean {
  return parent === '' || child === parent || child.startsWith(parent + '/');
}

/** The pointer file for a tracked path: `data` → `data.trove`. */
export function pointerPathFor(rel: string): string {
  return rel + '.trove';
}
