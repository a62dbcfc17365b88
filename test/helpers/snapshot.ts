/**
 * "Nothing changed" for hostile-input tests: every entry under some roots (the repo with `.git` and
 * the cache, a sentinel folder beside it) with its type, mode and, for files, the SHA-256 of its
 * bytes. Only regular files are opened, so a planted FIFO never blocks the snapshot itself.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';

export type Snapshot = Map<string, string>;

/** `roots`: label → folder. Keys are `label:rel`; `skip(label, rel)` leaves an entry (and what is below it) out. */
export async function takeSnapshot(roots: Record<string, string>, skip: (label: string, rel: string) => boolean = () => false): Promise<Snapshot> {
  const out: Snapshot = new Map();
  const walk = async (label: string, dir: string, prefix: string) => {
    let names: string[];
    try {
      names = (await fsp.readdir(dir)).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const rel = prefix ? `${prefix}/${name}` : name;
      if (skip(label, rel)) continue;
      const abs = path.join(dir, name);
      const st = await fsp.lstat(abs);
      const mode = (st.mode & 0o7777).toString(8);
      const key = `${label}:${rel}`;
      if (st.isDirectory()) {
        out.set(key, `dir ${mode}`);
        await walk(label, abs, rel);
      } else if (st.isSymbolicLink()) out.set(key, `link -> ${await fsp.readlink(abs)}`);
      else if (st.isFile()) out.set(key, `file ${mode} ${createHash('sha256').update(await fsp.readFile(abs)).digest('hex')}`);
      else out.set(key, `special ${mode} ${st.isFIFO() ? 'fifo' : st.isSocket() ? 'socket' : 'device'}`);
    }
  };
  for (const [label, dir] of Object.entries(roots)) await walk(label, dir, '');
  return out;
}

/** The entries that differ between two snapshots, as readable lines (empty when nothing changed). */
export function snapshotDiff(before: Snapshot, after: Snapshot): string[] {
  const lines: string[] = [];
  for (const [k, v] of before) {
    const w = after.get(k);
    if (w === undefined) lines.push(`- ${k} (${v})`);
    else if (w !== v) lines.push(`~ ${k} (${v} → ${w})`);
  }
  for (const [k, v] of after) if (!before.has(k)) lines.push(`+ ${k} (${v})`);
  return lines;
}

/** A repo with a sentinel folder beside it, and a snapshot of both (repo includes `.git` and `.trove/cache`). */
export interface World {
  repo: string;
  sentinel: string;
  snap(): Promise<Snapshot>;
  /** asserts that nothing under the repo (incl. .git and the cache) or the sentinel changed since `before` */
  expectUnchanged(before: Snapshot): Promise<void>;
}

/**
 * `repo` must sit in a temp folder of its own (e.g. `newRepo('repo')`); the sentinel is created beside
 * it. The lock file and trove's per-machine state (status-index, state.db, index.db and their journals) are left
 * out: commands may open them, and they hold no data a pointer owns.
 */
export async function worldAround(repo: string, o: { skip?: (label: string, rel: string) => boolean } = {}): Promise<World> {
  const sentinel = path.join(path.dirname(repo), 'sentinel');
  await fsp.mkdir(path.join(sentinel, 'hooks'), { recursive: true });
  await fsp.writeFile(path.join(sentinel, 'keep.txt'), 'sentinel: must never change\n');
  await fsp.writeFile(path.join(sentinel, 'hooks', 'pre-commit'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  const volatile = /^\.trove\/(lock(\..*)?|state\.db.*|status-index|\.status-index\..*|index\.db.*|tmp)$/;
  const skip = (label: string, rel: string) => (label === 'repo' && volatile.test(rel)) || (o.skip?.(label, rel) ?? false);
  const snap = () => takeSnapshot({ repo, sentinel }, skip);
  return {
    repo,
    sentinel,
    snap,
    async expectUnchanged(before) {
      expect(snapshotDiff(before, await snap())).toEqual([]);
    },
  };
}
