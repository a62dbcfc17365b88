/**
 * Writing into run records from outside a `trove run`: what MLflow's tracking API does to a run
 * (create, log params/metrics/tags/datasets, store artifacts, end, delete/restore, rename), as plain
 * functions over the run store. The HTTP layer (`src/server/`) and the CLI call these.
 *
 * 1. A RUNNING run takes values by appending lines to its events file (O_APPEND, one `write` per
 *    request), so concurrent requests on one run interleave whole lines and a killed server loses at
 *    most the requests it had not answered.
 * 2. A run that has ended (MLflow lets clients tag or rename a finished run) is rewritten whole under
 *    a per-run lock in this process: load, fold the new events in, validate, temp + fsync + rename.
 * 3. Artifacts are cache objects, recorded as outputs at `mlflow-artifacts/<run-id>/<artifact path>`
 *    (deduplicated across runs by content), so push, pull, gc and `checkout --run` treat them as data.
 */
import { constants as fsc, promises as fsp } from 'node:fs';
import type { Readable } from 'node:stream';
import { TroveError, isErrno } from '../errors.js';
import type { Oid } from '../oid.js';
import type { RepoContext } from '../context.js';
import {
  applyEvents, formatEvent, newRunRecord, parseRunRecord, runPathProblem, serializeRunRecord,
  type RunEvent, type RunOutput, type RunRecord, type RunStatus,
} from './record.js';
import type { RunStore } from './store.js';

/** The tag that marks a deleted run (its value: when). */
export const DELETED_TAG = 'trove.deleted';

export function isDeleted(rec: { tags: Record<string, string> }): boolean {
  return rec.tags[DELETED_TAG] !== undefined;
}

/** Where a run's MLflow artifacts are recorded among its outputs. */
export const ARTIFACT_PREFIX = 'mlflow-artifacts';

export function artifactOutputPath(runId: string, artifactPath: string): string {
  return artifactPath ? `${ARTIFACT_PREFIX}/${runId}/${artifactPath}` : `${ARTIFACT_PREFIX}/${runId}`;
}

/** Serializes async work per key (one run, one model) inside this process. */
export class KeyedLock {
  private tails = new Map<string, Promise<unknown>>();
  async with<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const run = prev.catch(() => {}).then(fn);
    const tail = run.catch(() => {});
    this.tails.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/**
 * Why an artifact path is refused, or null. Relative, `/`-separated, no empty, `.` or `..` segment,
 * no backslash, NUL or control character (the HTTP layer has already percent-decoded it once).
 */
export function artifactPathProblem(p: string): string | null {
  if (p === '') return null;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'contains a control character';
  if (p.includes('%')) {
    // A second level of encoding (%252e, %2f that survived) is never a real artifact name here.
    if (/%(2e|2f|5c|00)/i.test(p)) return 'contains an encoded separator or dot';
  }
  return runPathProblem(p);
}

export interface CreateRunInput {
  experiment: string;
  name?: string;
  user?: string;
  startMs?: number;
  tags?: Record<string, string>;
}

/** The MLflow tracking operations over one repo's run store. */
export class Tracking {
  readonly lock = new KeyedLock();

  constructor(readonly repo: RepoContext, readonly store: RunStore) {}

  static async open(repo: RepoContext): Promise<Tracking> {
    return new Tracking(repo, await repo.runStore());
  }

  /**
   * A new RUNNING run with no process to judge it by (pid null): it stays RUNNING until a client ends
   * it or a user marks it KILLED, as MLflow's server does.
   */
  async createRun(o: CreateRunInput): Promise<RunRecord> {
    const now = Date.now();
    const start = o.startMs !== undefined && Number.isSafeInteger(o.startMs) && o.startMs > 0 ? o.startMs : now;
    const rec = newRunRecord({
      name: o.name ?? '', experiment: o.experiment, command: [], user: o.user ?? '', host: '', pid: null,
      tags: o.tags ?? {}, start: new Date(start).toISOString(),
    }, now);
    parseRunRecord(serializeRunRecord(rec), `${rec.id}.json`);
    await this.store.write(rec);
    await fsp.writeFile(this.store.eventsFile(rec.id), '', { flag: 'a' });
    return rec;
  }

  /** The run with its events folded in. NOT_FOUND when there is none. */
  async get(id: string): Promise<RunRecord> {
    if (!/^[0-9A-HJKMNP-TV-Z]{26}$/.test(id)) throw new TroveError('NOT_FOUND', `run ${JSON.stringify(id).slice(0, 60)} not found`);
    return (await this.store.load(`${id}.json`)).record;
  }

  /**
   * Appends events to a run: one O_APPEND write for the whole batch on a running run, or a locked
   * rewrite of an ended one. Events that the record would refuse are refused here first (the caller
   * validated keys and values; this re-checks by folding them into a copy).
   */
  async log(id: string, events: RunEvent[]): Promise<void> {
    if (events.length === 0) {
      await this.get(id);
      return;
    }
    const text = events.map(formatEvent).join('');
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(this.store.eventsFile(id), fsc.O_WRONLY | fsc.O_APPEND);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    if (fh) {
      try {
        await fh.write(text);
      } finally {
        await fh.close();
      }
      return;
    }
    await this.rewrite(id, (rec) => {
      const folded = applyEvents(rec, text.split('\n'));
      if (folded.problems.length) throw new TroveError('BAD_ARGS', folded.problems[0]!.message);
      return folded.record;
    });
  }

  /** Rewrites an ended run's record under the run's lock. */
  async rewrite(id: string, change: (rec: RunRecord) => RunRecord): Promise<RunRecord> {
    return this.lock.with(id, async () => {
      const rec = await this.get(id);
      if (rec.status === 'RUNNING') {
        // Still taking events: the RUNNING record itself may be rewritten only for fields events do
        // not carry (name, experiment, deleted); values go through the events file.
        const fresh = parseRunRecord(await fsp.readFile(this.store.recordFile(id), 'utf8'), `${id}.json`);
        const next = change(fresh);
        parseRunRecord(serializeRunRecord(next), `${id}.json`);
        await this.store.write(next);
        return next;
      }
      const next = change(rec);
      parseRunRecord(serializeRunRecord(next), `${id}.json`);
      await this.store.write(next);
      return next;
    });
  }

  /**
   * Ends a run: folds its events in, sets status and end time, writes the final record, removes the
   * events file. Ending an ended run changes only its status and end (MLflow allows it).
   */
  async end(id: string, status: Exclude<RunStatus, 'RUNNING'>, endMs?: number): Promise<RunRecord> {
    return this.lock.with(id, async () => {
      const rec = await this.get(id);
      const end = endMs !== undefined && Number.isSafeInteger(endMs) && endMs > 0 ? endMs : Date.now();
      const next: RunRecord = { ...rec, status, end: new Date(Math.max(end, Date.parse(rec.start))).toISOString() };
      parseRunRecord(serializeRunRecord(next), `${id}.json`);
      await this.store.write(next);
      await fsp.rm(this.store.eventsFile(id), { force: true });
      return next;
    });
  }

  /**
   * MLflow's delete/restore: the record stays (for gc's grace period, and push/pull), marked by the
   * tag `trove.deleted` (the time it was deleted), which lists and searches hide by default. A tag
   * rather than a new field, so the run index and the filter grammar see it with no change.
   */
  async setDeleted(id: string, deleted: boolean): Promise<RunRecord> {
    return this.rewrite(id, (rec) => {
      const tags = Object.assign(Object.create(null) as Record<string, string>, rec.tags);
      if (deleted) tags[DELETED_TAG] ??= new Date().toISOString();
      else delete tags[DELETED_TAG];
      return { ...rec, tags };
    });
  }

  async rename(id: string, name: string): Promise<RunRecord> {
    return this.rewrite(id, (rec) => ({ ...rec, name, tags: Object.assign(Object.create(null), rec.tags, { 'mlflow.runName': name }) }));
  }

  async setExperiment(id: string, experiment: string): Promise<RunRecord> {
    return this.rewrite(id, (rec) => ({ ...rec, experiment }));
  }

  /**
   * Stores an artifact's bytes (streamed: memory does not grow with size) in the cache and records it
   * as an output of the run. Returns the output entry.
   */
  async putArtifact(id: string, artifactPath: string, body: Readable, maxBytes: number): Promise<RunOutput> {
    const problem = artifactPathProblem(artifactPath);
    if (problem || artifactPath === '') throw new TroveError('PATH_OUTSIDE_REPO', `artifact path ${JSON.stringify(artifactPath).slice(0, 200)} ${problem ?? 'is empty'}`);
    const rec = await this.get(id);
    if (isDeleted(rec)) throw new TroveError('BAD_ARGS', `run ${id} is deleted; restore it first`);
    const { oid, size } = await putStreamToCache(this.repo, body, maxBytes);
    const out: RunOutput = { path: artifactOutputPath(id, artifactPath), oid, type: 'file', size };
    await this.log(id, [{ output: out.path, oid, type: 'file', size }]);
    return out;
  }
}

/** Streams bytes into a cache temp file, then stores it as an object; over `maxBytes` is refused. */
export async function putStreamToCache(repo: RepoContext, body: Readable, maxBytes: number): Promise<{ oid: Oid; size: number }> {
  const tmp = await repo.cache.tempPath();
  const fh = await fsp.open(tmp, 'wx', 0o600);
  try {
    let n = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      n += chunk.length;
      if (n > maxBytes) {
        body.destroy();
        throw new TroveError('BAD_ARGS', `body is larger than the limit of ${maxBytes} bytes`);
      }
      await fh.write(chunk);
    }
    await fh.close();
    const { oid, size } = await repo.cache.putFile(tmp, 'blob');
    // a long-running server never exits: seal and sync now, so that a `trove push` in another process
    // sees the object (a pending pack is private to its writer) and a power cut cannot lose it
    await repo.cache.syncToDisk();
    return { oid, size };
  } finally {
    await fh.close().catch(() => {});
    await fsp.rm(tmp, { force: true });
  }
}
