/** `trove remove`: stop tracking paths (pointer and .gitignore line), with `purge` the data too. */
import { promises as fsp } from 'node:fs';
import type { RepoContext } from '../context.js';
import { TroveError } from '../errors.js';
import { assertNoLinkedParent } from '../safePath.js';
import { unignoreInGit } from './gitignore.js';
import { status } from './status.js';
import { resolveTargets, uniqTargets } from './tracked.js';

/**
 * Stops tracking: the pointer and the .gitignore line go; with `purge` the data too.
 * @example await remove(ctx, ['data'], { purge: false })
 */
export async function remove(ctx: RepoContext, userPaths: string[], o: { purge?: boolean; force?: boolean } = {}): Promise<{ removed: string[]; purged: string[]; gitRm: string[] }> {
  const targets = uniqTargets(await resolveTargets(ctx, userPaths));
  // remove deletes (with --purge, the data too) and edits the .gitignore beside it: never through a link
  for (const { tracked } of targets) assertNoLinkedParent(ctx.root, tracked.path, tracked.pointerFile);
  const unlock = await ctx.lock('remove');
  try {
    if (o.purge && !o.force) {
      const st = await status(ctx, targets.map((x) => x.tracked.path));
      const dirty = st.filter((s) => s.workspace === 'modified');
      if (dirty.length) {
        throw new TroveError('WOULD_OVERWRITE', `--purge would delete changes that are not in the cache: ${dirty.map((d) => d.path).join(', ')}`, 'run `trove add` first, or add --force');
      }
    }
    const removed: string[] = [];
    const purged: string[] = [];
    const gitRm: string[] = [];
    // `git add -A <pointer>` only works for a pointer git knows: one never committed or staged is
    // simply gone, and naming it would make git refuse the whole line
    const known = await ctx.git.known(targets.map((x) => x.tracked.pointerFile));
    for (const { tracked } of targets) {
      await fsp.rm(ctx.abs(tracked.pointerFile), { force: true });
      const gi = await unignoreInGit(ctx, tracked.path);
      if (gi) gitRm.push(gi);
      if (known.has(tracked.pointerFile)) gitRm.push(tracked.pointerFile);
      ctx.state.forget(tracked.path);
      ctx.state.save();
      if (o.purge) {
        await fsp.rm(ctx.abs(tracked.path), { recursive: true, force: true });
        purged.push(tracked.path);
      }
      removed.push(tracked.path);
    }
    return { removed, purged, gitRm };
  } finally {
    await unlock();
  }
}
