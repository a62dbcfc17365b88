/**
 * Experiments, logged models and the model registry travel with push and fetch, beside the run
 * records: `runs/experiments/<id>.json`, `runs/models/<m-id>.json`, `runs/registry/<key>.json` on the
 * remote. Unlike finished run records these files change (an alias moves, a model becomes READY), so:
 * - push uploads a file the remote lacks, or whose copy there differs and is older (`updated`);
 * - fetch writes a file this clone lacks, or whose local copy is older than the remote's.
 * Every downloaded file is validated by its format's parser before it is written (atomically); a
 * hostile one is skipped and reported, never written.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../atomicWrite.js';
import { TroveError, isErrno } from '../errors.js';
import type { Remote } from '../../remotes/index.js';
import { parseExperiment } from './experiments.js';
import { parseLoggedModel } from './logged-models.js';
import { parseRegisteredModel } from './registry.js';
import { readCappedBody } from './jsonRecord.js';

const MAX_BYTES = 64 * 1024 * 1024;

const KINDS = [
  { sub: 'experiments', name: /^[0-9]{1,20}\.json$/, parse: parseExperiment },
  { sub: 'models', name: /^m-[0-9a-f]{32}\.json$/, parse: parseLoggedModel },
  { sub: 'registry', name: /^[0-9a-f]{32}\.json$/, parse: parseRegisteredModel },
] as const;

const readBody = (body: NodeJS.ReadableStream, key: string) => readCappedBody(body, key, MAX_BYTES, 'an experiment, model or registry file');

async function localText(file: string): Promise<string | null> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
}

const updatedOf = (v: unknown) => (v as { updated?: number }).updated ?? 0;

export interface MlflowSyncReport { transferred: number; skipped: number; rejected: { key: string; error: string }[] }

/** Pushes (or fetches) the experiment, logged model and registry files under `runsDir`. */
export async function syncMlflowFiles(runsDir: string, remote: Remote, direction: 'push' | 'fetch', signal?: AbortSignal): Promise<MlflowSyncReport> {
  const report: MlflowSyncReport = { transferred: 0, skipped: 0, rejected: [] };
  for (const kind of KINDS) {
    const dir = path.join(runsDir, kind.sub);
    const there = new Set<string>();
    const here = (await fsp.readdir(dir).catch(() => [] as string[])).filter((n) => kind.name.test(n));
    if (direction === 'push' && !here.length) continue; // nothing to push: no listing
    for await (const e of remote.list(`runs/${kind.sub}/`, { signal })) {
      const n = e.key.slice(`runs/${kind.sub}/`.length);
      if (kind.name.test(n)) there.add(n);
    }
    const names = direction === 'push' ? here : [...there];
    for (const n of names) {
      const key = `runs/${kind.sub}/${n}`;
      try {
        const mine = await localText(path.join(dir, n));
        const theirs = there.has(n) ? await readBody(await remote.get(key, { signal }), key) : null;
        if (mine === theirs) {
          report.skipped++;
          continue;
        }
        if (direction === 'push') {
          if (mine === null) continue;
          const m = kind.parse(mine, n);
          if (theirs !== null) {
            let t: unknown = null;
            try {
              t = kind.parse(theirs, n);
            } catch {
              /* a damaged remote copy is replaced */
            }
            if (t && updatedOf(t) > updatedOf(m)) {
              report.skipped++;
              continue;
            }
          }
          await remote.putBytes(key, mine, { signal });
        } else {
          const t = kind.parse(theirs!, n);
          if (mine !== null) {
            let m: unknown = null;
            try {
              m = kind.parse(mine, n);
            } catch {
              /* a damaged local copy is replaced */
            }
            if (m && updatedOf(m) >= updatedOf(t)) {
              report.skipped++;
              continue;
            }
          }
          await fsp.mkdir(dir, { recursive: true });
          await writeFileAtomic(path.join(dir, n), theirs!);
        }
        report.transferred++;
      } catch (err) {
        if (!(err instanceof TroveError) || err.code === 'ABORTED') throw err;
        report.rejected.push({ key, error: err.message });
      }
    }
  }
  return report;
}
