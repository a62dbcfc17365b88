/** Helpers for run tests: read the records a repo holds, wait for a file. */
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import type { RunRecord } from '../../src/core/runs/record.js';

/** Every run record in `.trove/runs/`, oldest first (ids sort by time). */
export async function records(dir: string): Promise<RunRecord[]> {
  const runs = path.join(dir, '.trove/runs');
  const names = (await fsp.readdir(runs).catch(() => [] as string[])).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort();
  return Promise.all(names.map(async (n) => JSON.parse(await fsp.readFile(path.join(runs, n), 'utf8')) as RunRecord));
}

export async function lastRecord(dir: string): Promise<RunRecord> {
  const all = await records(dir);
  if (!all.length) throw new Error(`no run records in ${dir}`);
  return all[all.length - 1]!;
}

/** Polls until `file` exists (a child process signalling that it is ready). */
export async function waitFor(file: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${file}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A node one-liner as argv (node is always there; sh quoting is not needed). */
export const nodeArgs = (code: string): string[] => [process.execPath, '-e', code];
