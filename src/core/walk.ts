import { readFileSync, readdirSync, lstatSync, statSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Ignore } from 'ignore';
import { TroveError, isErrno } from './errors.js';
import type { Oid } from './oid.js';
import { statKey, type StatKey } from './statusIndex.js';
import { unsafeSegmentReason } from './safePath.js';

/**
 * The workspace side of a tracked folder, as a tree of nodes with their lstat.
 *
 * Sync fs on purpose: a walk is tens of thousands of readdir/lstat calls, each a few µs in the
 * kernel; through the thread pool each also costs a promise and a queue hop, which measured ~3×
 * slower here for `status` of 20,000 files. Hashing and copying (the heavy I/O) stay async.
 */
/**
 * A file: the stat fields the stat cache compares, flat on the node (one small object per file;
 * keeping Stats objects or a nested key made the GC a top entry of a 20,000-file status profile).
 */
export interface FileNode extends StatKey {
  exec: boolean;
  oid?: Oid;
}
export interface DirNode {
  files: Map<string, FileNode>;
  dirs: Map<string, DirNode>;
}

export const IGNORE_FILE = '.troveignore';

interface Matcher {
  base: string; // repo-relative dir of the ignore file ('' for root)
  ig: Ignore;
}

/** Patterns from `.troveignore` files: the repo root's, and any inside the walked folders. */
export class IgnoreRules {
  private constructor(private readonly stack: Matcher[]) {}

  static load(root: string): IgnoreRules {
    const m = readMatcher(path.join(root, IGNORE_FILE), '');
    return new IgnoreRules(m ? [m] : []);
  }

  /** Rules for a sub-folder: these plus that folder's own `.troveignore`, if any. */
  enter(absDir: string, relDir: string): IgnoreRules {
    const m = readMatcher(path.join(absDir, IGNORE_FILE), relDir);
    return m ? new IgnoreRules([...this.stack, m]) : this;
  }

  get empty(): boolean {
    return this.stack.length === 0;
  }

  ignores(rel: string, isDir: boolean): boolean {
    for (const m of this.stack) {
      const sub = m.base === '' ? rel : rel.startsWith(m.base + '/') ? rel.slice(m.base.length + 1) : null;
      if (sub && m.ig.ignores(isDir ? sub + '/' : sub)) return true;
    }
    return false;
  }
}

/**
 * The ignore package, loaded on first use and through require: imported as an ES module, Node runs
 * its CommonJS export scanner over the package's source, which measured ~190 M instructions
 * (callgrind) — 12% of a 20,000-file `status` — in a repo that has no `.troveignore` at all.
 */
let ignoreModule: typeof import('ignore') | undefined;
function newIgnore(): Ignore {
  ignoreModule ??= createRequire(import.meta.url)('ignore') as typeof import('ignore');
  return ignoreModule();
}

function readMatcher(file: string, base: string): Matcher | null {
  try {
    const text = readFileSync(file, 'utf8');
    return { base, ig: newIgnore().add(text) };
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return null;
    throw err;
  }
}

export type ChildWalker = (abs: string, rel: string, rules: IgnoreRules) => DirNode;

/**
 * Walks `abs` (repo-relative `rel`). Symlinks and special files are refused with an error naming
 * them: a link inside a tracked folder could point anywhere, and trove never follows one.
 */
/**
 * `linkedBlob`: the store's reading of a symlink (`cache.link: symlink` puts links to read-only
 * blobs in the workspace); such a link is the file it names. Without it, every link is refused.
 */
export function walkDir(abs: string, rel: string, rules: IgnoreRules, linkedBlob?: (abs: string) => Oid | null, onFolder?: (rel: string, node: DirNode) => void, walkChild?: ChildWalker): DirNode {
  const node: DirNode = { files: new Map(), dirs: new Map() };
  const dirents = readdirSync(abs, { withFileTypes: true });
  // read a .troveignore only where the listing shows one: no failed open() per folder
  const here = dirents.some((d) => d.name === IGNORE_FILE) ? rules.enter(abs, rel) : rules;
  const noRules = here.empty;
  for (const d of dirents) {
    const childRel = `${rel}/${d.name}`;
    const childAbs = `${abs}/${d.name}`; // names from readdir need no normalizing
    // a name that checkout would refuse (.git in any form, .trove, a pointer) is not stored either
    const unsafe = unsafeSegmentReason(d.name);
    if (unsafe && !here.ignores(childRel, d.isDirectory())) {
      throw new TroveError('BAD_INPUT', `${childRel}: ${unsafe}; trove does not store it inside a tracked folder`, `list it in ${IGNORE_FILE} (or move it out), then add again`, { data: { path: childRel } });
    }
    if (d.isDirectory()) {
      if (!noRules && here.ignores(childRel, true)) continue;
      // sub-folders through walkChild when given (statusWalk.ts: its fast path resumes below a changed folder)
      node.dirs.set(d.name, walkChild ? walkChild(childAbs, childRel, here) : walkDir(childAbs, childRel, here, linkedBlob, onFolder));
    } else if (d.isFile()) {
      if (!noRules && here.ignores(childRel, false)) continue;
      const st = lstatSync(childAbs);
      node.files.set(d.name, { dev: st.dev, ino: st.ino, size: st.size, mtime: st.mtimeMs, ctime: st.ctimeMs, exec: (st.mode & 0o100) !== 0 });
    } else if (d.isSymbolicLink()) {
      if (here.ignores(childRel, false)) continue;
      // `cache.link: symlink` puts links to read-only cache objects in the workspace: their name is their oid.
      const linked = linkedBlob ? linkedBlob(childAbs) : null;
      if (linked) {
        const st = statSync(childAbs); // the object's own stat: size is the content's
        node.files.set(d.name, { ...statKey(st), exec: false, oid: linked });
        continue;
      }
      throw new TroveError('SYMLINK', `${childRel}: is a symbolic link; trove does not follow links inside tracked folders`, `replace it with the file it points to, or list it in ${IGNORE_FILE}`, { data: { path: childRel } });
    } else {
      if (here.ignores(childRel, false)) continue;
      throw new TroveError('IO', `${childRel}: is not a regular file or folder (socket, fifo or device)`, `remove it or list it in ${IGNORE_FILE}`);
    }
  }
  onFolder?.(rel, node);
  return node;
}
