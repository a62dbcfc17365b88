import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../atomicWrite.js';
import { TroveError, isErrno } from '../errors.js';
import type { RepoContext } from '../context.js';
import { kindOf } from '../store/objectStore.js';
import type { RecordSync, Root } from '../transferRoot.js';
import type { Remote } from '../../remotes/index.js';
import { syncMlflowFiles } from './mlflow-sync.js';
import { parseRunRecord, type RunRecord } from './record.js';
import { readCappedBody } from './jsonRecord.js';

/**
 * Run records travel with push and fetch (`runs/<id>.json` on the remote), so that a teammate's
 * clone answers the same lineage questions. Only finished records move (a RUNNING record is still
 * being written); records are immutable once finished, so "the remote has that file name" means "the
 * remote has that record". Every downloaded record is validated like a local one before it is
 * written (atomically) into `.trove/runs/`; a hostile one is skipped and reported, never written.
 */
const MAX_RECORD_BYTES = 64 * 1024 * 1024;

export interface RecordSyncReport {
  transferred: number;
  skipped: number;
  rejected: { key: string; error: string }[];
}

async function localRecords(repo: RepoContext): Promise<{ name: string; text: string; record: RunRecord }[]> {
  const store = (await repo.runStore());
  const out: { name: string; text: string; record: RunRecord }[] = [];
  for (const name of await store.names()) {
    const file = path.join(store.dir, name);
    let text: string;
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) continue;
      throw err;
    }
    try {
      out.push({ name, text, record: parseRunRecord(text, `.trove/runs/${name}`) });
    } catch {
      // a bad local record is reported by `runs list`; it is never pushed
    }
  }
  return out;
}

async function remoteNames(remote: Remote, signal?: AbortSignal): Promise<Set<string>> {
  const names = new Set<string>();
  for await (const e of remote.list('runs/', { signal })) {
    const name = e.key.slice('runs/'.length);
    if (/^[0-9A-HJKMNP-TV-Z]{26}\.json$/.test(name)) names.add(name);
  }
  return names;
}

const readBody = (body: NodeJS.ReadableStream, key: string) => readCappedBody(body, key, MAX_RECORD_BYTES, 'a run record');

/** Experiments, logged models and the registry travel with the records (`mlflow-sync.ts`). */
function addMlflow(report: RecordSyncReport, r: { transferred: number; skipped: number; rejected: { key: string; error: string }[] }): void {
  report.transferred += r.transferred;
  report.skipped += r.skipped;
  report.rejected.push(...r.rejected);
}

export function runRecordSync(repo: RepoContext): RecordSync & { report: RecordSyncReport } {
  const report: RecordSyncReport = { transferred: 0, skipped: 0, rejected: [] };
  return {
    report,
    async push(remote, o) {
      // no finished record here: nothing to compare, so no listing (a no-op push stays at its object requests)
      const mine = (await localRecords(repo)).filter((r) => r.record.status !== 'RUNNING');
      const there = mine.length ? await remoteNames(remote, o.signal) : new Set<string>();
      for (const r of mine) {
        if (r.record.status === 'RUNNING') continue;
        if (there.has(r.name)) {
          report.skipped++;
          continue;
        }
        await remote.putBytes(`runs/${r.name}`, r.text, { signal: o.signal });
        report.transferred++;
      }
      addMlflow(report, await syncMlflowFiles((await repo.runStore()).dir, remote, 'push', o.signal));
      return report;
    },
    async fetch(remote, o) {
      const store = (await repo.runStore());
      const here = new Set(await store.names());
      for (const name of await remoteNames(remote, o.signal)) {
        if (here.has(name)) {
          report.skipped++;
          continue;
        }
        const key = `runs/${name}`;
        try {
          const text = await readBody(await remote.get(key, { signal: o.signal }), key);
          const rec = parseRunRecord(text, `${remote.name}:${key}`);
          if (rec.status === 'RUNNING') throw new TroveError('BAD_RUN', `${key}: a RUNNING record on a remote`);
          await fsp.mkdir(store.dir, { recursive: true });
          await writeFileAtomic(path.join(store.dir, name), text);
          report.transferred++;
        } catch (err) {
          if (!(err instanceof TroveError) || err.code === 'ABORTED') throw err;
          report.rejected.push({ key, error: err.message });
        }
      }
      addMlflow(report, await syncMlflowFiles(store.dir, remote, 'fetch', o.signal));
      return report;
    },
  };
}

/**
 * The data versions that local run records read and wrote, as roots: gc keeps them, and push sends
 * those in the local cache with the records (so that `checkout --run` works in a teammate's clone).
 */
export async function runRoots(repo: RepoContext, o: { onlyCached?: boolean } = {}): Promise<Root[]> {
  const roots: Root[] = [];
  for (const { record } of await localRecords(repo)) {
    for (const x of [...record.inputs, ...record.outputs]) {
      if (!x.oid || !x.type) continue;
      if (o.onlyCached && !(await repo.cache.has(x.oid as Root['oid'], kindOf(x.type)))) continue;
      roots.push({ oid: x.oid as Root['oid'], type: x.type, where: `${x.path} (run ${record.id})`, size: x.size, files: x.files });
    }
    if (record.git?.diffOid && (!o.onlyCached || (await repo.cache.has(record.git.diffOid as Root['oid'], 'blob')))) {
      roots.push({ oid: record.git.diffOid as Root['oid'], type: 'file', where: `uncommitted diff of run ${record.id}` });
    }
  }
  return roots;
}

/**
 * Roots from the run records on a remote (teammates' runs this clone may never have fetched), for
 * `gc --remote`. A record that cannot be read stops the gc: deleting what it might name is not safe.
 */
export async function remoteRunRoots(remote: Remote, signal?: AbortSignal): Promise<Root[]> {
  const roots: Root[] = [];
  for (const name of await remoteNames(remote, signal)) {
    const key = `runs/${name}`;
    let record: RunRecord;
    try {
      record = parseRunRecord(await readBody(await remote.get(key, { signal }), key), `${remote.name}:${key}`);
    } catch (err) {
      throw new TroveError('REMOTE', `gc --remote: cannot read run record ${key}: ${(err as Error).message}`, 'fix or remove that record on the remote; nothing was deleted', { cause: err });
    }
    for (const x of [...record.inputs, ...record.outputs]) {
      if (x.oid && x.type) roots.push({ oid: x.oid as Root['oid'], type: x.type, where: `${x.path} (run ${record.id} on ${remote.name})` });
    }
    if (record.git?.diffOid) roots.push({ oid: record.git.diffOid as Root['oid'], type: 'file', where: `uncommitted diff of run ${record.id}` });
  }
  return roots;
}
