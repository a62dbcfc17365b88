/**
 * The run records on disk (`.trove/runs/`): where each record and events file lives, how a record is
 * written (temp + fsync + rename), read (a RUNNING record with its events folded in and its status
 * judged by pid + host), listed, and mirrored into the index (`.trove/index.db`).
 *
 * Everything read from `runs/` is hostile until `parseRunRecord` says otherwise (records arrive from
 * teammates through `pull`): file names are matched against the run id inside, and a file that does not
 * parse is reported by name and skipped, never fatal to a listing.
 */
import { constants as fsc, promises as fsp, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../atomicWrite.js';
import { TroveError, isErrno } from '../errors.js';
import { pidIsAlive } from '../pidAlive.js';
import { RunIndex, type RunFileStat } from './index-db.js';
import {
  applyEvents, effectiveStatus, formatEvent, parseRunRecord, RUN_LIMITS, serializeRunRecord, ULID_RE,
  type EventProblem, type RunEvent, type RunRecord,
} from './record.js';

export { pidIsAlive }; // wave-1 import path

function notRunning(id: string): TroveError {
  return new TroveError('NOT_IN_RUN', `run ${id} is not running (it has ended, or no such run)`, 'log into a run from inside the command that `trove run` started');
}

const here = () => ({ host: os.hostname(), isAlive: pidIsAlive });

export interface LoadedRun {
  record: RunRecord;
  /** Bad lines of the events file (only for a run that is still RUNNING on disk). */
  problems: EventProblem[];
  /** The record file, relative to the repo root (for messages). */
  file: string;
}

export class RunStore {
  /**
   * @param dir `.trove/runs`
   * @param indexPath `.trove/index.db`
   * @param display how `dir` is named in messages (`.trove/runs`)
   */
  constructor(readonly dir: string, readonly indexPath: string, readonly display = '.trove/runs') {}

  private checkId(id: string): string {
    if (!ULID_RE.test(id)) throw new TroveError('BAD_ARGS', `${JSON.stringify(id).slice(0, 60)} is not a run id`, 'run ids are 26 characters, as shown by `trove runs list`');
    return id;
  }

  recordFile(id: string): string {
    return path.join(this.dir, `${this.checkId(id)}.json`);
  }

  eventsFile(id: string): string {
    return path.join(this.dir, `${this.checkId(id)}.events.jsonl`);
  }

  /** Writes a record whole: temp + fsync + rename, so no reader ever sees half of one. */
  async write(rec: RunRecord): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    await writeFileAtomic(this.recordFile(rec.id), serializeRunRecord(rec));
  }

  /**
   * Appends one event as one `write` on an O_APPEND descriptor, so concurrent writers interleave whole
   * lines. The events file is created when the run starts and removed when it ends, so its absence
   * means the run is over (or never was): NOT_IN_RUN.
   */
  async appendEvent(id: string, ev: RunEvent): Promise<void> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(this.eventsFile(id), fsc.O_WRONLY | fsc.O_APPEND);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw notRunning(id);
      throw err;
    }
    try {
      await fh.write(formatEvent(ev));
    } finally {
      await fh.close();
    }
  }

  /** Throws NOT_IN_RUN unless run `id` is still taking events. */
  async assertRunning(id: string): Promise<void> {
    try {
      await fsp.access(this.eventsFile(id));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw notRunning(id);
      throw err;
    }
  }

  /**
   * Reads one record file (a name inside `runs/`). A RUNNING record gets its events folded in and its
   * status judged (KILLED when its process is gone on this host). Throws BAD_RUN naming the file.
   */
  async load(name: string): Promise<LoadedRun> {
    const file = `${this.display}/${name}`;
    const abs = path.join(this.dir, name);
    let text: string;
    try {
      const st = await fsp.lstat(abs);
      if (!st.isFile()) throw new TroveError('BAD_RUN', `${file}: is not a regular file`, 'move it out of .trove/runs/');
      // cap before reading: a record far past the limit is refused without being read into memory
      if (st.size > RUN_LIMITS.recordBytes) throw new TroveError('BAD_RUN', `${file}: is ${st.size} bytes, larger than the limit of ${RUN_LIMITS.recordBytes}`, 'move it out of .trove/runs/');
      text = await fsp.readFile(abs, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new TroveError('NOT_FOUND', `${file}: no such run record`, 'see `trove runs list`');
      throw err;
    }
    let record = parseRunRecord(text, file);
    let problems: EventProblem[] = [];
    if (record.status === 'RUNNING') {
      let events = '';
      try {
        events = await fsp.readFile(this.eventsFile(record.id), 'utf8');
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
      ({ record, problems } = applyEvents(record, events.split('\n')));
      record = { ...record, status: effectiveStatus(record, here()) };
    }
    return { record, problems, file };
  }

  /** One run by id, unique id prefix (case-insensitive) or unique run name. */
  async read(idOrPrefix: string): Promise<LoadedRun> {
    return this.load(`${await this.resolveId(idOrPrefix)}.json`);
  }

  /**
   * The run id that `spec` names: an exact id, a prefix of ids (case-insensitive), or a run name
   * (exact). When more than one run fits, the error lists them; `index` is used for the names when
   * the caller has one open (else one is opened here).
   * @example await store.resolveId('01JD3Z') // or: await store.resolveId('baseline')
   */
  async resolveId(spec: string, index?: RunIndex): Promise<string> {
    const want = spec.toUpperCase();
    if (ULID_RE.test(want)) return want;
    if (spec === '' || spec.length > 200 || /[\0-\x1f]/.test(spec)) {
      throw new TroveError('BAD_ARGS', `${JSON.stringify(spec).slice(0, 60)} is not a run id or name`, 'give a run id (or its first characters) or a run name, as shown by `trove runs list`');
    }
    const byPrefix = /^[0-9A-HJKMNP-TV-Z]{1,25}$/.test(want)
      ? (await this.names()).map((n) => n.slice(0, -'.json'.length)).filter((id) => id.startsWith(want))
      : [];
    const own = index ? undefined : (await this.openIndex()).index;
    let named: { id: string; name: string }[];
    let names: Map<string, string>;
    try {
      const idx = (index ?? own)!;
      named = idx.runsNamed(spec);
      names = idx.namesOf([...byPrefix.slice(0, 10), ...named.map((r) => r.id)]);
    } finally {
      own?.close();
    }
    const hits = [...new Set([...byPrefix, ...named.map((r) => r.id)])].sort();
    if (hits.length === 1) return hits[0]!;
    if (hits.length === 0) {
      throw new TroveError('NOT_FOUND', `no run has the id or name ${JSON.stringify(spec).slice(0, 60)}`, 'see `trove runs list` for ids and names');
    }
    const shown = hits.slice(0, 10).map((id) => (names.get(id) ? `${id} (${names.get(id)})` : id));
    throw new TroveError('BAD_ARGS', `${JSON.stringify(spec).slice(0, 60)} is ambiguous: ${hits.length} runs match: ${shown.join(', ')}${hits.length > 10 ? ', …' : ''}`,
      'give more characters of the id, or the whole id', { data: { candidates: hits } });
  }

  /** Record file names in `runs/` (`*.json`; temp files start with a dot). */
  async names(): Promise<string[]> {
    try {
      return (await fsp.readdir(this.dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort();
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
  }

  /**
   * The record files with the stats the index compares. A record with an events file (a run that is
   * still going, or was killed) counts the events file too, so a new event makes its entry stale.
   */
  async stats(): Promise<RunFileStat[]> {
    const names = await this.names();
    const all = new Set(await fsp.readdir(this.dir).catch(() => [] as string[]));
    const out: RunFileStat[] = [];
    // statSync: one awaited fsp.stat per record went through the thread pool one at a time; with
    // 10,000 records on a loaded 2-core machine that was 1.1-1.4 s of waiting before every `runs list`
    // (and every runs page of the web UI); synchronous stats take ~30 ms.
    for (const name of names) {
      let st;
      try {
        st = statSync(path.join(this.dir, name));
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue; // finished and renamed meanwhile: next time
        throw err;
      }
      let mtimeMs = st.mtimeMs;
      let size = st.size;
      const ev = name.replace(/\.json$/, '.events.jsonl');
      if (all.has(ev)) {
        let es = null;
        try { es = statSync(path.join(this.dir, ev)); } catch { /* gone meanwhile */ }
        if (es) {
          mtimeMs = Math.max(mtimeMs, es.mtimeMs);
          size += es.size;
        }
      }
      out.push({ file: name, mtimeMs, size });
    }
    return out;
  }

  /**
   * The index, brought up to date with the records (only new or changed files are read). A run the
   * index holds as RUNNING whose process has died on this host is reloaded, so it shows as KILLED.
   * The caller closes the index.
   * @example const { index, skipped } = await store.openIndex(); try { index.list({...}) } finally { index.close() }
   */
  async openIndex(): Promise<{ index: RunIndex; skipped: { file: string; error: string }[] }> {
    const index = RunIndex.open(this.indexPath);
    try {
      const h = here();
      const dead = index.runningRuns().filter((r) => r.host === h.host && r.pid !== null && !h.isAlive(r.pid));
      if (dead.length) index.apply({ remove: dead.map((r) => r.file) });
      await index.refresh(await this.stats(), async (f) => (await this.load(f.file)).record);
      const skipped = index.failedFiles().map((f) => ({ file: `${this.display}/${f.file}`, error: f.error }));
      return { index, skipped };
    } catch (err) {
      index.close();
      throw err;
    }
  }
}
