import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from './atomicWrite.js';
import { TroveError } from './errors.js';
import type { Git } from './git/git.js';

/**
 * git hooks that keep data and code together. Hooks live where git looks for them
 * (`git rev-parse --git-path hooks`, which honours core.hooksPath as husky and simple-git-hooks
 * set it). An existing hook is never overwritten: it is renamed to `<hook>.pre-trove` and trove's
 * hook runs it first with the same arguments and stdin, stopping if it fails. Uninstall removes
 * only trove's hooks and puts the originals back.
 */
export const HOOK_MARK = '# installed by trove install-hooks';

export const HOOKS: Record<string, string> = {
  // after `git checkout <branch|tag>`: $3 is 1 for a branch checkout, 0 for a file checkout
  'post-checkout': `[ "$3" = "1" ] || exit 0\ntrove_run checkout || echo "trove: data not checked out; fix the above and run \\\`trove checkout\\\`" >&2\nexit 0`,
  // after `git pull` / `git merge`
  'post-merge': `trove_run checkout || echo "trove: data not checked out; fix the above and run \\\`trove checkout\\\`" >&2\nexit 0`,
  // before `git push`: push the objects the pushed commits name; refuse the git push if that fails
  'pre-push': `revs=""\nwhile read -r lref lsha rref rsha; do\n  case "$lsha" in *[!0]*) revs="$revs --rev $lsha" ;; esac\ndone <<EOF_TROVE\n$stdin_copy\nEOF_TROVE\n[ -z "$revs" ] && exit 0\ntrove_run push $revs || { echo "trove: pushing data failed; the git push was stopped so that nobody gets pointers without data" >&2; exit 1; }`,
};

function script(hook: string, troveCmd: string): string {
  const readStdin = hook === 'pre-push' ? 'stdin_copy=$(cat)\n' : '';
  const feedOriginal = hook === 'pre-push' ? `printf '%s\\n' "$stdin_copy" | ` : '';
  return `#!/bin/sh
${HOOK_MARK} (${hook}); \`trove install-hooks --uninstall\` removes it
${readStdin}orig="$(dirname "$0")/${hook}.pre-trove"
if [ -x "$orig" ]; then ${feedOriginal}"$orig" "$@" || exit $?; fi
trove_run() { if command -v trove >/dev/null 2>&1; then trove "$@"; else ${troveCmd} "$@"; fi; }
${HOOKS[hook]}
`;
}

export async function hooksDir(git: Git): Promise<string> {
  const p = (await git.raw(['rev-parse', '--git-path', 'hooks'])).trim();
  return path.resolve(git.dir, p);
}

export interface HookResult {
  hook: string;
  file: string;
  action: 'installed' | 'chained' | 'already' | 'removed' | 'restored' | 'absent';
}

/** `troveCmd`: how the hook calls trove when it is not on PATH (this installation's launcher). */
export async function installHooks(git: Git, troveCmd: string): Promise<HookResult[]> {
  const dir = await hooksDir(git);
  await fsp.mkdir(dir, { recursive: true });
  const out: HookResult[] = [];
  for (const hook of Object.keys(HOOKS)) {
    const file = path.join(dir, hook);
    const body = script(hook, troveCmd);
    let action: HookResult['action'] = 'installed';
    if (existsSync(file)) {
      const cur = await fsp.readFile(file, 'utf8');
      if (cur.includes(HOOK_MARK)) {
        if (cur === body) {
          out.push({ hook, file, action: 'already' });
          continue;
        }
      } else {
        if (existsSync(file + '.pre-trove')) {
          throw new TroveError('WOULD_OVERWRITE', `${file}.pre-trove already exists: refusing to overwrite a saved hook`, 'move it aside, then run `trove install-hooks` again');
        }
        await fsp.rename(file, file + '.pre-trove');
        action = 'chained';
      }
    }
    await writeFileAtomic(file, body, 0o755);
    out.push({ hook, file, action });
  }
  return out;
}

export async function uninstallHooks(git: Git): Promise<HookResult[]> {
  const dir = await hooksDir(git);
  const out: HookResult[] = [];
  for (const hook of Object.keys(HOOKS)) {
    const file = path.join(dir, hook);
    const cur = existsSync(file) ? await fsp.readFile(file, 'utf8') : null;
    if (cur === null || !cur.includes(HOOK_MARK)) {
      out.push({ hook, file, action: 'absent' });
      continue;
    }
    if (existsSync(file + '.pre-trove')) {
      await fsp.rename(file + '.pre-trove', file);
      out.push({ hook, file, action: 'restored' });
    } else {
      await fsp.rm(file);
      out.push({ hook, file, action: 'removed' });
    }
  }
  return out;
}
