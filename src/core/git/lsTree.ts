/** The files git records at a commit (`ls-tree -r`) or in its index (`ls-files -s`), NUL-separated so any name is safe. */
import type { Git } from './git.js';

export interface GitFileEntry {
  /** e.g. `100644`, `160000` for a submodule */
  mode: string;
  /** `blob`, `tree` or `commit`; from the index always `blob` (or `commit` for a submodule) */
  type: string;
  /** the git object id */
  id: string;
  /** repo-relative, '/'-separated */
  path: string;
}

/**
 * Every file at `commit` (a resolved commit id), recursively, from the top of the repository.
 * @example for (const e of await lsTree(repo.git, commit)) if (e.path.endsWith('.trove')) …
 */
export async function lsTree(git: Git, commit: string): Promise<GitFileEntry[]> {
  const txt = await git.raw(['ls-tree', '-r', '-z', '--full-tree', commit]);
  const out: GitFileEntry[] = [];
  for (const rec of txt.split('\0')) {
    if (!rec) continue;
    const tab = rec.indexOf('\t');
    const [mode, type, id] = rec.slice(0, tab).split(' ');
    out.push({ mode, type, id, path: rec.slice(tab + 1) });
  }
  return out;
}

/** Every entry staged in git's index (`ls-files -s`; during a merge, one per stage). */
export async function lsIndex(git: Git): Promise<GitFileEntry[]> {
  const txt = await git.raw(['ls-files', '-s', '-z', '--full-name']);
  const out: GitFileEntry[] = [];
  for (const rec of txt.split('\0')) {
    if (!rec) continue;
    const tab = rec.indexOf('\t');
    const [mode, id] = rec.slice(0, tab).split(' ');
    out.push({ mode, type: mode === '160000' ? 'commit' : 'blob', id, path: rec.slice(tab + 1) });
  }
  return out;
}
