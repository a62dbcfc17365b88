/** Repos for the reproduce / stale / import / export tests: real git, real trove runs through the CLI. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { git, newLooseRepo as newRepo, ROOT, snapshot, trove, write } from './repo.js';
import { lastRecord } from './runs.js';
import type { RunRecord } from '../../src/core/runs/record.js';

/** Runs the CLI and fails the test with its output when the exit code is not `code`. */
export async function ok(dir: string, code: number, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const r = await trove(dir, ...args);
  if (r.code !== code) throw new Error(`trove ${args.join(' ')} exited ${r.code}, expected ${code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** The iris example's code and data v1 committed, trove initialised and committed. */
export async function irisRepo(): Promise<string> {
  const dir = await newRepo();
  await fsp.mkdir(path.join(dir, 'src'));
  for (const f of ['gen-data.mjs', 'train.mjs']) await fsp.copyFile(path.join(ROOT, 'examples/iris', f), path.join(dir, 'src', f));
  await execNode(dir, ['src/gen-data.mjs', 'data/iris.csv', '--version', '1']);
  await ok(dir, 0, 'add', 'data/iris.csv');
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-qm', 'iris');
  return dir;
}

export async function execNode(dir: string, args: string[]): Promise<void> {
  const { sh } = await import('./repo.js');
  const r = await sh(process.execPath, args, dir);
  if (r.code !== 0) throw new Error(`node ${args.join(' ')}: ${r.stderr}`);
}

/** `trove run` of the iris training; returns the record. */
export async function trainIris(dir: string, epochs = '60'): Promise<RunRecord> {
  await ok(dir, 0, 'run', '-n', 'iris', '-p', 'lr=0.5', '-p', `epochs=${epochs}`, '-i', 'data/iris.csv',
    '-o', 'models/scaler.json', '-o', 'models/model.bin', '--', 'node', 'src/train.mjs', '--lr', '0.5', '--epochs', epochs);
  return lastRecord(dir);
}

/** Everything in the work tree except `.git` and trove's own state (cache, runs, index). */
export const workTree = (dir: string) => snapshot(dir, (rel) => rel === '.git' || rel.startsWith('.trove/'));

/** Only the main worktree is registered. */
export async function expectNoExtraWorktree(dir: string): Promise<void> {
  const list = (await git(dir, 'worktree', 'list', '--porcelain')).split('\n').filter((l) => l.startsWith('worktree '));
  expect(list).toHaveLength(1);
}

export { write };
