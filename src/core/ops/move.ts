/** `trove move`: move tracked data and its pointer together. */
import { existsSync, statSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { TROVE_DIR, type RepoContext } from '../context.js';
import { TroveError } from '../errors.js';
import { gitignoreLineFor } from '../gitignoreLine.js';
import { isWithin, pointerPathFor } from '../paths.js';
import { writePointer, type Pointer } from '../pointer.js';
import { assertNoLinkedParent, assertSafeDataPath } from '../safePath.js';
import { ignoreInGit, unignoreInGit } from './gitignore.js';
import { listTracked, resolveTargets, type Tracked } from './tracked.js';

/**
 * Moves tracked data and its pointer together.
 * @example await move(ctx, 'data', 'datasets/data')
 */
export async function move(ctx: RepoContext, src: string, dst: string): Promise<{ from: string; to: string; pointerFile: string; gitAdd: string[] }> {
  const [{ tracked, sub }] = await resolveTargets(ctx, [src]);
  assertNoLinkedParent(ctx.root, tracked.path, tracked.pointerFile);
  if (sub) throw new TroveError('BAD_ARGS', `${src}: inside tracked folder ${tracked.path}; move the whole folder, or edit it and \`trove add ${tracked.path}\``);
  let to = ctx.rel(dst);
  try {
    if (statSync(ctx.abs(to)).isDirectory()) to = to ? `${to}/${path.posix.basename(tracked.path)}` : path.posix.basename(tracked.path);
  } catch {
    /* destination does not exist: that is the new name */
  }
  const unlock = await ctx.lock('move');
  try {
    const all = await listTracked(ctx);
    if (existsSync(ctx.abs(to)) || existsSync(ctx.abs(pointerPathFor(to)))) throw new TroveError('WOULD_OVERWRITE', `${to}: already exists`, 'choose another destination');
    await checkMoveTarget(ctx, to, all, tracked);
    await fsp.mkdir(path.dirname(ctx.abs(to)), { recursive: true });
    const hasData = existsSync(ctx.abs(tracked.path));
    if (hasData) await fsp.rename(ctx.abs(tracked.path), ctx.abs(to));
    const newPtr: Pointer = { ...tracked.pointer, path: path.posix.basename(to) };
    const pointerFile = pointerPathFor(to);
    await writePointer(ctx.abs(pointerFile), newPtr);
    await fsp.rm(ctx.abs(tracked.pointerFile), { force: true });
    const gitAdd = [pointerFile, tracked.pointerFile];
    const gi1 = await unignoreInGit(ctx, tracked.path);
    const gi2 = await ignoreInGit(ctx, to);
    for (const g of [gi1, gi2]) if (g && !gitAdd.includes(g)) gitAdd.push(g);
    ctx.state.forget(tracked.path);
    ctx.state.save();
    return { from: tracked.path, to, pointerFile, gitAdd };
  } finally {
    await unlock();
  }
}

export async function checkMoveTarget(ctx: RepoContext, to: string, all: Tracked[], self: Tracked): Promise<void> {
  if (to === '' || to.split('/')[0] === TROVE_DIR || to.split('/').includes('.git')) throw new TroveError('BAD_ARGS', `${to || '.'}: not a place for tracked data`);
  assertSafeDataPath(to, 'move', 'BAD_ARGS');
  gitignoreLineFor(to);
  assertNoLinkedParent(ctx.root, to, 'move');
  const parent = all.find((t) => t !== self && t.pointer.type === 'dir' && isWithin(to, t.path));
  if (parent) throw new TroveError('PATH_ALREADY_TRACKED', `${to}: inside ${parent.path}, which trove already tracks`);
  if (isWithin(to, self.path)) throw new TroveError('BAD_ARGS', `${to}: inside ${self.path} itself`);
}
