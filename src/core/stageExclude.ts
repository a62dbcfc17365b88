/**
 * Keeps checkout's staging folders (`.trove-stage-<pid>-<hex>`, checkoutStage.ts) out of `git status`.
 *
 * Where: the repository's `info/exclude` (in the common git dir, so a linked worktree's checkout is
 * covered too), not a `.gitignore`. A staging folder is trove's own transient state on this machine,
 * like git's `index.lock`: nothing about it belongs in a committed file, and a fresh clone's first
 * `pull` must not leave a modified `.gitignore` behind. One line, `.trove-stage-*`, not anchored to
 * the top because a stage sits beside its tracked folder, at any depth.
 *
 * The line is added once (the file is read, and rewritten with temp + rename only when the line is
 * missing). Failing to write it never fails a checkout: the folder is then only visible, not wrong.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempBeside } from './tempName.js';

/** The pattern written to `info/exclude`. */
export const STAGE_EXCLUDE_LINE = '.trove-stage-*';

const done = new Set<string>();

/** The git dir whose `info/exclude` git reads for the worktree at `root` (its common dir), or null. */
export function gitCommonDir(root: string): string | null {
  const dotgit = path.join(root, '.git');
  try {
    if (lstatSync(dotgit).isDirectory()) return dotgit;
    const m = /^gitdir: (.+)$/m.exec(readFileSync(dotgit, 'utf8'));
    if (!m) return null;
    const gitdir = path.resolve(root, m[1].trim());
    try {
      return path.resolve(gitdir, readFileSync(path.join(gitdir, 'commondir'), 'utf8').trim());
    } catch {
      return gitdir;
    }
  } catch {
    return null;
  }
}

/**
 * Makes sure git ignores staging folders in the repository at `root`. Returns whether the line is
 * there now (false: no git dir, or it could not be written).
 * @example excludeStagesFromGit('/home/me/project')
 */
export function excludeStagesFromGit(root: string): boolean {
  if (done.has(root)) return true;
  const common = gitCommonDir(root);
  // only into a real git dir: a `.git` file naming some other folder gets no `info/` made in it
  if (!common || !existsSync(path.join(common, 'HEAD'))) return false;
  const file = path.join(common, 'info', 'exclude');
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    /* absent: created below */
  }
  if (text.split(/\r?\n/).some((l) => l.trim() === STAGE_EXCLUDE_LINE)) {
    done.add(root);
    return true;
  }
  const tmp = tempBeside(file);
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const sep = text && !text.endsWith('\n') ? '\n' : '';
    writeFileSync(tmp, `${text}${sep}# trove: checkout's staging folders (removed when done, or by the next checkout after a kill)\n${STAGE_EXCLUDE_LINE}\n`, { flag: 'wx', mode: 0o644 });
    renameSync(tmp, file);
    done.add(root);
    return true;
  } catch {
    rmSync(tmp, { force: true });
    return false;
  }
}
