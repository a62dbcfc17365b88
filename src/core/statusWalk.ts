import { lstatSync, readdirSync } from 'node:fs';
import type { Oid } from './oid.js';
import type { StatusIndex } from './statusIndex.js';
import { unsafeSegmentReason } from './safePath.js';
import { IGNORE_FILE, walkDir, type DirNode, type IgnoreRules } from './walk.js';

/**
 * The walk of `status` and `add` with the status index's fast path folded in: a folder whose files
 * are exactly the index's rows, in the order the last scan listed them, with matching stats and no
 * racy row, is vouched for while it is listed, and no per-file node, Map entry, Dirent or relative
 * path is made for it. Anything else in a folder (a file that changed, appeared or went, a symlink,
 * a special file, a folder name that needs the safety check) hands that one folder to the full walk
 * (walk.ts), which is the reference, and the fast path resumes in its sub-folders: this walk only
 * ever answers "same as the full walk would", cheaper.
 *
 * Why: at 20,000 files the full walk plus the row check cost ~1.35× Node's own floor (a bare
 * readdir + lstat loop, bench/status-floor.mjs) in instructions (callgrind); with this walk, ~1.05×.
 * The difference was per-file objects that died at once (garbage), Dirents and relative paths.
 *
 * Per file on this path: the name from readdir, its absolute path, the lstat, the row compare.
 * File names are not re-checked with unsafeSegmentReason: a name that equals a row's name was checked
 * by the scan that recorded the row (rows are only written for walked files), and ignore rules are
 * applied here as in walkDir (an ignored file has no row). Folder names are checked.
 *
 * `onVouched(rel, node, files, bytes)` is called for each vouched folder (its `files` Map is empty:
 * the caller fills it from the rows if it ever needs them); `onFolder` as for walkDir otherwise.
 */
export function walkVouched(
  abs: string,
  rel: string,
  rules: IgnoreRules,
  idx: StatusIndex,
  linkedBlob: (abs: string) => Oid | null,
  onVouched: (rel: string, node: DirNode, files: number, bytes: number) => void,
  onFolder: (rel: string, node: DirNode) => void,
): DirNode {
  const child = (a: string, r: string, ru: IgnoreRules): DirNode => walkVouched(a, r, ru, idx, linkedBlob, onVouched, onFolder);
  const full = () => walkDir(abs, rel, rules, linkedBlob, onFolder, child);
  const cursor = idx.cursor(rel);
  if (!cursor) return full();
  const names = readdirSync(abs);
  const here = names.includes(IGNORE_FILE) ? rules.enter(abs, rel) : rules;
  const noRules = here.empty;
  // this folder first, sub-folders after it matched: a mismatch then costs this folder's lstats twice, nothing below
  let dirs: string[] | null = null;
  for (const name of names) {
    const st = lstatSync(`${abs}/${name}`);
    if (st.isFile()) {
      if (!noRules && here.ignores(`${rel}/${name}`, false)) continue;
      if (!cursor.next(name, st)) return full();
    } else if (st.isDirectory()) {
      if (unsafeSegmentReason(name)) return full(); // walkDir refuses it, or skips it as ignored
      if (!noRules && here.ignores(`${rel}/${name}`, true)) continue;
      (dirs ??= []).push(name);
    } else return full(); // links (cache links too) and special files
  }
  if (!cursor.done) return full(); // files went away
  const node: DirNode = { files: new Map(), dirs: new Map() };
  if (dirs) for (const name of dirs) node.dirs.set(name, child(`${abs}/${name}`, `${rel}/${name}`, here));
  onVouched(rel, node, cursor.count, cursor.bytes);
  return node;
}
