import { lstatSync } from 'node:fs';
import path from 'node:path';
import { TroveError, isErrno, type ErrorCode } from './errors.js';

/**
 * The one path-safety check. Every path that comes from a pointer, a tree entry, a run record, a
 * remote or the command line goes through `unsafeSegmentReason` (name by name) before trove writes
 * there, and every workspace path goes through `assertNoLinkedParent` (on disk) before a write.
 *
 * What a name may not be, whatever the letter case:
 * - `.git`, or a name some filesystem folds into it. NTFS drops trailing dots and spaces and knows
 *   the 8.3 short name `git~1`; it also reads `name:stream` as the file `name`. HFS+ ignores a set
 *   of zero-width and direction code points when it compares names. (git refuses the same set for
 *   the same reason; this is written from the filesystems' rules, not from git's code.)
 * - `.trove` (trove's own folder, and the marker that makes a folder a repository), folded the same way.
 * - a pointer file (`*.trove`): data never lands on a pointer, its own or another one.
 */

/** Code points that HFS+ ignores when it compares names: a name holding them can still mean `.git`. */
const HFS_IGNORABLE = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/gu;

/** The name as a case-insensitive, folding filesystem may see it: ignorables gone, lower case, no trailing dots/spaces, no stream. */
export function foldedName(name: string): string {
  // plain ASCII (nearly every name) needs neither step; this runs once per file of a folder walk
  let n = /^[\x20-\x7e]*$/.test(name) ? name : name.replace(HFS_IGNORABLE, '').normalize('NFKC');
  const colon = n.indexOf(':'); // NTFS: `.git::$INDEX_ALLOCATION` is `.git`
  if (colon >= 0) n = n.slice(0, colon);
  return n.toLowerCase().replace(/[. ]+$/, '');
}

/** True when a filesystem could take `name` for `.git` (or `git~1`). */
export function isDotGit(name: string): boolean {
  // backslash separates segments on Windows: `a\.git` holds a `.git`
  return name.split('\\').some((s) => {
    const f = foldedName(s);
    return f === '.git' || f === 'git~1';
  });
}

/** True when a filesystem could take `name` for `.trove` (or its short name). */
export function isDotTrove(name: string): boolean {
  return name.split('\\').some((s) => {
    const f = foldedName(s);
    return f === '.trove' || f === 'trove~1';
  });
}

/** True for a pointer file's name (`*.trove`, any case, folded). */
export function isPointerName(name: string): boolean {
  const f = foldedName(name);
  return f.endsWith('.trove') && f !== '.trove';
}

/**
 * Why `name` (one path segment) must never be written, or null when it is safe. Tree entries,
 * pointer paths, run-record paths and command-line paths all go through here.
 */
export function unsafeSegmentReason(name: string): string | null {
  // fast path (runs once per file of a folder walk): one fold, and most names end here
  if (!name.includes('\\')) {
    const f = foldedName(name);
    if (!f.endsWith('.git') && !f.endsWith('~1') && !f.endsWith('.trove')) return null;
  }
  if (isDotGit(name)) return `${JSON.stringify(name)} is git's folder (.git) as a filesystem may read it`;
  if (isDotTrove(name)) return `${JSON.stringify(name)} is trove's folder (.trove) as a filesystem may read it`;
  if (isPointerName(name)) return `${JSON.stringify(name)} is a pointer file's name; data never lands on a pointer`;
  return null;
}

/** The first unsafe segment of a repo-relative posix path, with its reason; null when all are safe. */
export function unsafePathReason(rel: string): string | null {
  for (const seg of rel.split('/')) {
    const why = unsafeSegmentReason(seg);
    if (why) return why;
  }
  return null;
}

/** True when absolute `child` is `parent` or below it (lexically; resolve links first where they matter). */
export function isInsideOrSame(parent: string, child: string): boolean {
  const r = path.relative(parent, child);
  return r === '' || (r !== '..' && !r.startsWith('..' + path.sep) && !path.isAbsolute(r));
}

/** Names that git and trove read as configuration: a pointer may not own one at the top of its path. */
const CONTROL_FILES = new Set(['.gitignore', '.gitattributes', '.gitmodules', '.troveignore', '.mailmap']);

/**
 * Throws `code` when a tracked path (the data a pointer owns) is not a place for data: any unsafe
 * segment, or a git/trove control file. `where` names the file and field in the error.
 */
export function assertSafeDataPath(rel: string, where: string, code: ErrorCode = 'BAD_POINTER'): string {
  const base = path.posix.basename(rel);
  const why = unsafePathReason(rel)
    ?? (CONTROL_FILES.has(foldedName(base)) ? `${JSON.stringify(base)} is a git/trove control file, not data` : null)
    ?? (/[\n\r]/.test(rel) ? 'it holds a line break, which .gitignore cannot express' : null)
    ?? (rel.includes('\\') ? 'it holds a backslash, which a pointer cannot name (a folder separator on Windows)' : null);
  if (why) {
    throw new TroveError(code, `${where}: refusing path ${JSON.stringify(rel).slice(0, 200)}: ${why}`,
      'trove writes only the data a pointer owns, never into .git, .trove or over a pointer file', { data: { path: rel, where } });
  }
  return rel;
}

/**
 * lstat every existing component of `rel` below `root`, parents first; the first one that is a
 * symbolic link is refused (SYMLINK, naming the link). With `includeLeaf`, `rel` itself too. A
 * component that does not exist ends the walk: what is below it will be created by trove, as folders.
 */
export function assertNoLinkedParent(root: string, rel: string, where: string, o: { includeLeaf?: boolean } = {}): void {
  const segs = rel.split('/').filter(Boolean);
  const last = o.includeLeaf ? segs.length : segs.length - 1;
  let cur = root;
  for (let i = 0; i < last; i++) {
    cur = path.join(cur, segs[i]!);
    let st;
    try {
      st = lstatSync(cur);
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return;
      throw err;
    }
    if (st.isSymbolicLink()) {
      const link = segs.slice(0, i + 1).join('/');
      throw new TroveError('SYMLINK', `${where}: ${link} is a symbolic link; trove never writes through a link (path ${rel})`,
        `replace ${link} with a real folder, or track the data where the link points`, { data: { path: rel, link } });
    }
    if (i < segs.length - 1 && !st.isDirectory()) return; // a file where a folder should be: the plan decides
  }
}
