/**
 * What the server remembers between requests, so that a search or a log call does not re-read the
 * world. Measured here (10,000 records, machine shared with other jobs): `RunStore.openIndex` stats
 * every record file (0.4–3 s), `index.list` builds 10,000 views (~0.4 s), loading one record ~0.5–2 ms.
 *
 * - Views for search: kept while the `runs/` folder is unchanged. Every record write is a rename into
 *   that folder, so its mtime moves; appends to a RUNNING run's events file do not, so those files are
 *   stat'ed too (only the running ones). As in git's "racily clean" rule, a fill made within 100 ms of
 *   the folder's mtime is not trusted (mtime granularity is coarser than the time between two renames).
 *   The server's own writes drop the cache at once.
 * - Finished records, parsed: kept under the same rule (a changed file is a rename, so the folder moves).
 * - Per-run write state for the log endpoints (params, metric points seen, deleted): built from one full
 *   load, then updated by this process's own writes, so a log-metric costs one append, not a re-read of
 *   the run. Another process writing the same run's params is settled when the run ends (first wins).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { RunView } from '../core/runs/filter.js';
import type { RunRecord } from '../core/runs/record.js';
import type { RunStore } from '../core/runs/store.js';

const RACY_MS = 100;

export interface WriteState {
  params: Map<string, string>;
  points: Map<string, Set<string>>;
  deleted: boolean;
  running: boolean;
}

export class RunCache {
  private views: RunView[] | null = null;
  private dirMtime = -1;
  private runningStats = new Map<string, string>();
  private records = new Map<string, RunRecord>();
  private writes = new Map<string, WriteState>();

  constructor(private readonly store: RunStore) {}

  /** Something changed that the cache may not see (this process wrote a record). */
  invalidate(runId?: string): void {
    this.views = null;
    if (runId) {
      this.records.delete(runId);
      this.writes.delete(runId);
    } else {
      this.records.clear();
      this.writes.clear();
    }
  }

  private async dirStamp(): Promise<number> {
    try {
      return (await fsp.stat(this.store.dir)).mtimeMs;
    } catch {
      return -1;
    }
  }

  private async eventsStamp(id: string): Promise<string> {
    try {
      const st = await fsp.stat(path.join(this.store.dir, `${id}.events.jsonl`));
      return `${st.mtimeMs}:${st.size}`;
    } catch {
      return 'none';
    }
  }

  /** Whether what was filled is still what is on disk. */
  private async fresh(): Promise<boolean> {
    if (this.views === null) return false;
    if ((await this.dirStamp()) !== this.dirMtime) return false;
    for (const [id, stamp] of this.runningStats) if ((await this.eventsStamp(id)) !== stamp) return false;
    return true;
  }

  /** Every run's view (through the index, refreshed when the folder changed). */
  async allViews(): Promise<RunView[]> {
    if (await this.fresh()) return this.views!;
    const before = await this.dirStamp();
    const { index } = await this.store.openIndex();
    let views: RunView[];
    try {
      views = index.list({});
    } finally {
      index.close();
    }
    this.records.clear();
    this.runningStats.clear();
    for (const v of views) if (v.status === 'RUNNING') this.runningStats.set(v.id, await this.eventsStamp(v.id));
    const trusted = Date.now() - before > RACY_MS && (await this.dirStamp()) === before;
    this.views = trusted ? views : null;
    this.dirMtime = before;
    return views;
  }

  /** A run's record; finished ones from memory while the folder is unchanged. */
  async record(id: string): Promise<RunRecord> {
    const hit = this.records.get(id);
    if (hit && (await this.fresh())) return hit;
    const { record } = await this.store.load(`${id}.json`);
    if (record.status !== 'RUNNING' && this.views !== null) this.records.set(id, record);
    return record;
  }

  /** The write state of a run, from `load` the first time. */
  async writeState(id: string, load: () => Promise<RunRecord>): Promise<WriteState> {
    let s = this.writes.get(id);
    if (s) return s;
    const rec = await load();
    s = {
      params: new Map(Object.entries(rec.params)),
      points: new Map(Object.entries(rec.metrics).map(([k, pts]) => [k, new Set(pts.map((p) => `${p.value}\0${p.ts}\0${p.step}`))])),
      deleted: rec.tags['trove.deleted'] !== undefined,
      running: rec.status === 'RUNNING',
    };
    // Only a running run is cached: an ended one is rewritten on each write, and reloaded.
    if (s.running) this.writes.set(id, s);
    return s;
  }
}
