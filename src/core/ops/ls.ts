/** `trove ls`: tracked paths, or the files of one tracked folder, from the trees and the status index (no data read). */
import { lstatSync } from 'node:fs';
import type { RepoContext } from '../context.js';
import { TroveError } from '../errors.js';
import type { Oid } from '../oid.js';
import { isWithin } from '../paths.js';
import { shellQuote } from '../shellQuote.js';
import { statKey } from '../statusIndex.js';
import { loadFlatTree } from '../workspace.js';
import { listTracked, resolveTargets } from './tracked.js';

export interface LsEntry {
  path: string;
  type: 'file' | 'dir';
  size: number;
  files?: number;
  oid: Oid;
  state: 'present' | 'modified' | 'missing' | 'unknown';
}

/**
 * Tracked paths, or the files of one tracked folder, from the trees and the stat cache (no data read).
 * @example for (const e of await ls(ctx, 'data')) console.log(e.path, e.state)
 */
export async function ls(ctx: RepoContext, userPath?: string): Promise<LsEntry[]> {
  if (!userPath) {
    const out: LsEntry[] = [];
    for (const t of await listTracked(ctx)) {
      out.push({ path: t.path, type: t.pointer.type, size: t.pointer.size, files: t.pointer.files, oid: t.pointer.oid, state: quickState(ctx, t.path, t.pointer.oid, t.pointer.type) });
    }
    return out;
  }
  const [{ tracked, sub }] = await resolveTargets(ctx, [userPath]);
  if (tracked.pointer.type === 'file') {
    return [{ path: tracked.path, type: 'file', size: tracked.pointer.size, oid: tracked.pointer.oid, state: quickState(ctx, tracked.path, tracked.pointer.oid, 'file') }];
  }
  const flat = await loadFlatTree(ctx.cache, tracked.pointer.oid, tracked.path);
  const out: LsEntry[] = [];
  for (const [p, e] of [...flat.files].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const rel = `${tracked.path}/${p}`;
    if (sub && !isWithin(rel, sub)) continue;
    out.push({ path: rel, type: 'file', size: e.size, oid: e.oid, state: quickState(ctx, rel, e.oid, 'file') });
  }
  if (sub && !out.length && ![...flat.dirs].some((d) => isWithin(`${tracked.path}/${d}`, sub))) {
    throw new TroveError('PATH_NOT_TRACKED', `${userPath}: no such path in ${tracked.path} (${tracked.pointerFile})`, `list what it holds with \`trove ls ${shellQuote(tracked.path)}\``);
  }
  return out;
}

export function quickState(ctx: RepoContext, rel: string, oid: Oid, type: 'file' | 'dir'): LsEntry['state'] {
  let st;
  try {
    st = lstatSync(ctx.abs(rel));
  } catch {
    return 'missing';
  }
  if (type === 'dir') return st.isDirectory() ? 'present' : 'modified';
  const known = ctx.state.lookupLoose(rel, statKey(st));
  if (known === null) return 'unknown';
  return known === oid ? 'present' : 'modified';
}
