/** The `.gitignore` line beside each tracked path that keeps its data out of git. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../atomicWrite.js';
import type { RepoContext } from '../context.js';
import { isErrno } from '../errors.js';
import { gitignoreLineFor } from '../gitignoreLine.js';

/** Makes git ignore the data path (`/name` in the .gitignore beside it). Returns that .gitignore if changed. */
export async function ignoreInGit(ctx: RepoContext, rel: string): Promise<string | null> {
  const dir = path.posix.dirname(rel);
  const giRel = dir === '.' ? '.gitignore' : `${dir}/.gitignore`;
  const line = gitignoreLineFor(rel);
  const file = ctx.abs(giRel);
  let text = '';
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  if (text.split(/\r?\n/).includes(line)) return null;
  await writeFileAtomic(file, text + (text && !text.endsWith('\n') ? '\n' : '') + line + '\n');
  return giRel;
}

export async function unignoreInGit(ctx: RepoContext, rel: string): Promise<string | null> {
  const dir = path.posix.dirname(rel);
  const giRel = dir === '.' ? '.gitignore' : `${dir}/.gitignore`;
  const line = gitignoreLineFor(rel);
  let text: string;
  try {
    text = await fsp.readFile(ctx.abs(giRel), 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
  const lines = text.split('\n');
  const kept = lines.filter((l) => l.replace(/\r$/, '') !== line);
  if (kept.length === lines.length) return null;
  await writeFileAtomic(ctx.abs(giRel), kept.join('\n'));
  return giRel;
}

/** The `.gitignore` (repo-relative) that holds the line for a data path. */
export function gitignoreFor(rel: string): string {
  const dir = path.posix.dirname(rel);
  return dir === '.' ? '.gitignore' : `${dir}/.gitignore`;
}
