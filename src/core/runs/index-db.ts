/**
 * The run/lineage index (`.trove/index.db`): a SQLite cache of what the run records say, so that
 * `runs list` and `lineage` do not parse every record on every query. The records under `runs/` stay
 * the source of truth; this file can be deleted at any time and is rebuilt from them.
 *
 * Staleness: the index remembers, per record file, its name, mtime and size (and whether it parsed).
 * The caller lists the record files with their stats; `plan` says which to (re)load and which are gone,
 * `apply` writes the change in one transaction, and `refresh` does both around a loader. For a RUNNING
 * run whose events file grows, the caller folds the events file's stat into the entry (e.g. the larger
 * mtime and the sum of sizes), so that new events make the entry stale.
 *
 * Queries: SQL narrows by experiment and by data version (indexed), then the filter and sort run in JS
 * on RunViews (`filter.ts`): one grammar, one meaning, and 10,000 runs take tens of milliseconds.
 */
import Database from 'better-sqlite3';
import { rmSync } from 'node:fs';
import { isErrno, TroveError } from '../errors.js';
import { compareDefault, compileFilter, parseOrderBy, type RunView } from './filter.js';
import type { MetricPoint, RunRecord } from './record.js';

/** Bump when the tables change: an index with another version is dropped and rebuilt. */
const INDEX_VERSION = 1;

const SCHEMA = `
CREATE TABLE files (file TEXT PRIMARY KEY, mtime_ms REAL NOT NULL, size INTEGER NOT NULL,
  run_id TEXT, error TEXT);
CREATE TABLE runs (id TEXT PRIMARY KEY, file TEXT NOT NULL REFERENCES files(file) ON DELETE CASCADE,
  name TEXT NOT NULL, experiment TEXT NOT NULL, status TEXT NOT NULL, start_ms REAL NOT NULL, end_ms REAL,
  user TEXT NOT NULL, host TEXT NOT NULL, exit_code INTEGER, pid INTEGER);
CREATE INDEX runs_experiment ON runs(experiment);
CREATE INDEX runs_file ON runs(file);
CREATE TABLE params (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, key TEXT NOT NULL,
  value TEXT NOT NULL, PRIMARY KEY (run_id, key)) WITHOUT ROWID;
CREATE TABLE metrics (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, key TEXT NOT NULL,
  value REAL NOT NULL, step INTEGER NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY (run_id, key)) WITHOUT ROWID;
CREATE TABLE tags (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, key TEXT NOT NULL,
  value TEXT NOT NULL, PRIMARY KEY (run_id, key)) WITHOUT ROWID;
CREATE TABLE inputs (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, path TEXT NOT NULL,
  oid TEXT NOT NULL, role TEXT);
CREATE INDEX inputs_run ON inputs(run_id);
CREATE INDEX inputs_oid ON inputs(oid);
CREATE INDEX inputs_path ON inputs(path);
CREATE TABLE outputs (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, path TEXT NOT NULL,
  oid TEXT);
CREATE INDEX outputs_run ON outputs(run_id);
CREATE INDEX outputs_oid ON outputs(oid);
CREATE INDEX outputs_path ON outputs(path);
`;

export interface RunFileStat {
  /** The record file, as the caller names it (e.g. relative to `.trove/runs`). */
  file: string;
  mtimeMs: number;
  size: number;
}

export interface RunListQuery {
  experiment?: string;
  /** A filter expression (`filter.ts`). */
  filter?: string;
  /** An order_by list (`filter.ts`); default newest first. */
  orderBy?: string;
  limit?: number;
  /** Runs that read this exact data version. */
  usesOid?: string;
  /** Runs that read this path (any version). */
  usesPath?: string;
  /** Runs that wrote this exact data version. */
  producedOid?: string;
  /** Runs that wrote this path (any version). */
  producedPath?: string;
}

export type LineageStart = { oid: string; path?: string } | { runId: string };
export type LineageDirection = 'upstream' | 'downstream';

export type LineageNode =
  | { kind: 'data'; key: string; oid: string; path: string; origin?: { repo: string; rev: string; path: string } }
  | { kind: 'run'; key: string; id: string; name: string; status: string; experiment: string; start: number };

/** Edges follow the data flow whatever the direction asked: input data → run, run → output data. */
export interface LineageEdge { from: string; to: string; kind: 'input' | 'output' }

export interface LineageGraph {
  /** The key of the node the question was about. */
  root: string;
  direction: LineageDirection;
  depth: number;
  nodes: LineageNode[];
  edges: LineageEdge[];
  /** True when `maxNodes` cut the walk short. */
  truncated: boolean;
}

export const dataKey = (oid: string) => `data:${oid}`;
export const runKey = (id: string) => `run:${id}`;

interface RunRow {
  id: string; name: string; experiment: string; status: string; start_ms: number; end_ms: number | null;
  user: string; host: string; exit_code: number | null;
}

/**
 * The latest point of a metric, as MLflow defines it: the largest step, then the largest timestamp,
 * then the one logged last.
 */
export function lastMetricPoint(points: readonly MetricPoint[]): MetricPoint | undefined {
  let best: MetricPoint | undefined;
  for (const p of points) if (!best || p.step > best.step || (p.step === best.step && p.ts >= best.ts)) best = p;
  return best;
}

/** A run record as the filter sees it. */
export function runViewOf(rec: RunRecord): RunView {
  const metrics: Record<string, number> = Object.create(null);
  for (const [k, pts] of Object.entries(rec.metrics)) {
    const last = lastMetricPoint(pts);
    if (last) metrics[k] = last.value;
  }
  return {
    id: rec.id, name: rec.name, experiment: rec.experiment, status: rec.status,
    start: Date.parse(rec.start), end: rec.end === null ? null : Date.parse(rec.end),
    user: rec.user, host: rec.host, exitCode: rec.exitCode,
    params: Object.assign(Object.create(null), rec.params),
    metrics,
    tags: Object.assign(Object.create(null), rec.tags),
  };
}

export class RunIndex {
  private constructor(private readonly db: Database.Database) {}

  /**
   * Open (or create) the index. An index written by another version of trove, or a file that is not
   * a SQLite database, is deleted and recreated empty: it is a cache, and `refresh` refills it.
   * @example const idx = RunIndex.open('.trove/index.db'); await idx.refresh(stats, load)
   */
  static open(dbPath: string): RunIndex {
    const tryOpen = () => {
      const db = new Database(dbPath);
      try {
        db.pragma('journal_mode = WAL');
        db.pragma('foreign_keys = ON');
        db.pragma('synchronous = NORMAL');
        const version = db.pragma('user_version', { simple: true }) as number;
        if (version !== INDEX_VERSION) {
          db.transaction(() => {
            for (const t of ['outputs', 'inputs', 'tags', 'metrics', 'params', 'runs', 'files']) db.exec(`DROP TABLE IF EXISTS ${t}`);
            db.exec(SCHEMA);
            db.pragma(`user_version = ${INDEX_VERSION}`);
          })();
        }
        return db;
      } catch (err) {
        db.close();
        throw err;
      }
    };
    try {
      return new RunIndex(tryOpen());
    } catch (err) {
      const code = isErrno(err) ? err.code : '';
      if (dbPath !== ':memory:' && (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT')) {
        for (const suffix of ['', '-wal', '-shm']) rmSync(dbPath + suffix, { force: true });
        return new RunIndex(tryOpen());
      }
      throw new TroveError('CONFIG', `cannot open the run index ${dbPath}: ${(err as Error).message}`,
        'delete it; it is rebuilt from the run records', { cause: err });
    }
  }

  close(): void {
    this.db.close();
  }

  /**
   * Compare the record files on disk with what the index holds.
   * @returns the files to (re)load (new, or mtime/size changed) and the indexed files that are gone.
   */
  plan(files: Iterable<RunFileStat>): { load: RunFileStat[]; remove: string[] } {
    const known = new Map<string, { mtime_ms: number; size: number }>();
    for (const row of this.db.prepare('SELECT file, mtime_ms, size FROM files').all() as { file: string; mtime_ms: number; size: number }[]) {
      known.set(row.file, row);
    }
    const load: RunFileStat[] = [];
    for (const f of files) {
      const k = known.get(f.file);
      if (!k || k.mtime_ms !== f.mtimeMs || k.size !== f.size) load.push(f);
      known.delete(f.file);
    }
    return { load, remove: [...known.keys()] };
  }

  /**
   * Write a set of changes in one transaction: records loaded (replacing what their file held before),
   * files that failed to load (remembered so they are not re-read until they change), files removed.
   */
  apply(changes: {
    upsert?: Iterable<RunFileStat & { record: RunRecord }>;
    failed?: Iterable<RunFileStat & { error: string }>;
    remove?: Iterable<string>;
  }): void {
    const db = this.db;
    const delFile = db.prepare('DELETE FROM files WHERE file = ?');
    const delRun = db.prepare('DELETE FROM runs WHERE id = ?');
    const insFile = db.prepare('INSERT INTO files (file, mtime_ms, size, run_id, error) VALUES (?, ?, ?, ?, ?)');
    const insRun = db.prepare(`INSERT INTO runs (id, file, name, experiment, status, start_ms, end_ms, user, host, exit_code, pid)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const insParam = db.prepare('INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)');
    const insMetric = db.prepare('INSERT INTO metrics (run_id, key, value, step, ts) VALUES (?, ?, ?, ?, ?)');
    const insTag = db.prepare('INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)');
    const insInput = db.prepare('INSERT INTO inputs (run_id, path, oid, role) VALUES (?, ?, ?, ?)');
    const insOutput = db.prepare('INSERT INTO outputs (run_id, path, oid) VALUES (?, ?, ?)');

    db.transaction(() => {
      for (const file of changes.remove ?? []) delFile.run(file);
      for (const f of changes.failed ?? []) {
        delFile.run(f.file);
        insFile.run(f.file, f.mtimeMs, f.size, null, f.error);
      }
      for (const { record: r, ...f } of changes.upsert ?? []) {
        delFile.run(f.file); // cascades to the run that file held
        delRun.run(r.id); // the same id under another file name: the newer load wins
        insFile.run(f.file, f.mtimeMs, f.size, r.id, null);
        insRun.run(r.id, f.file, r.name, r.experiment, r.status, Date.parse(r.start),
          r.end === null ? null : Date.parse(r.end), r.user, r.host, r.exitCode, r.pid);
        for (const [k, v] of Object.entries(r.params)) insParam.run(r.id, k, v);
        for (const [k, pts] of Object.entries(r.metrics)) {
          const last = lastMetricPoint(pts);
          if (last) insMetric.run(r.id, k, last.value, last.step, last.ts);
        }
        for (const [k, v] of Object.entries(r.tags)) insTag.run(r.id, k, v);
        for (const i of r.inputs) insInput.run(r.id, i.path, i.oid, i.role ?? null);
        for (const o of r.outputs) insOutput.run(r.id, o.path, o.oid);
      }
    })();
  }

  /**
   * Bring the index up to date with the record files: load only what is new or changed, drop what is
   * gone. `load` parses one file (normally `parseRunRecord` + `applyEvents`); a file it throws on is
   * reported in `problems` and skipped until it changes.
   * @example
   * const r = await idx.refresh(await statRunFiles(dir), async (f) => parseRunRecord(await readFile(join(dir, f.file), 'utf8'), f.file))
   */
  async refresh(
    files: Iterable<RunFileStat>,
    load: (file: RunFileStat) => RunRecord | Promise<RunRecord>,
  ): Promise<{ loaded: number; removed: number; problems: { file: string; error: unknown }[] }> {
    const { load: toLoad, remove } = this.plan(files);
    const upsert: (RunFileStat & { record: RunRecord })[] = [];
    const failed: (RunFileStat & { error: string })[] = [];
    const problems: { file: string; error: unknown }[] = [];
    for (const f of toLoad) {
      try {
        upsert.push({ ...f, record: await load(f) });
      } catch (error) {
        problems.push({ file: f.file, error });
        failed.push({ ...f, error: error instanceof Error ? error.message : String(error) });
      }
    }
    this.apply({ upsert, failed, remove });
    return { loaded: upsert.length, removed: remove.length, problems };
  }

  /** Files that failed to load, with the reason, as remembered by the index. */
  failedFiles(): { file: string; error: string }[] {
    return this.db.prepare('SELECT file, error FROM files WHERE error IS NOT NULL ORDER BY file').all() as { file: string; error: string }[];
  }

  /** Runs the index holds as RUNNING, with where they run (to judge whether they are still alive). */
  runningRuns(): { id: string; file: string; host: string; pid: number | null }[] {
    return this.db.prepare("SELECT id, file, host, pid FROM runs WHERE status = 'RUNNING'").all() as { id: string; file: string; host: string; pid: number | null }[];
  }

  /** How many runs the index holds. */
  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM runs').get() as { n: number }).n;
  }

  /**
   * Runs matching a query, as RunViews, sorted (default newest first) and limited.
   * The filter and order_by are parsed before any work, so a bad one fails fast with BAD_QUERY.
   * @example idx.list({ filter: 'metrics.acc > 0.9', orderBy: 'metrics.acc DESC', limit: 10 })
   */
  list(q: RunListQuery = {}): RunView[] {
    const pred = q.filter === undefined ? undefined : compileFilter(q.filter);
    const order = q.orderBy === undefined ? compareDefault : parseOrderBy(q.orderBy);
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.experiment !== undefined) { where.push('r.experiment = ?'); args.push(q.experiment); }
    if (q.usesOid !== undefined) { where.push('r.id IN (SELECT run_id FROM inputs WHERE oid = ?)'); args.push(q.usesOid); }
    if (q.usesPath !== undefined) { where.push('r.id IN (SELECT run_id FROM inputs WHERE path = ?)'); args.push(q.usesPath); }
    if (q.producedOid !== undefined) { where.push('r.id IN (SELECT run_id FROM outputs WHERE oid = ?)'); args.push(q.producedOid); }
    if (q.producedPath !== undefined) { where.push('r.id IN (SELECT run_id FROM outputs WHERE path = ? AND oid IS NOT NULL)'); args.push(q.producedPath); }
    const cond = where.length ? `WHERE ${where.join(' AND ')}` : '';

    const views = new Map<string, RunView>();
    for (const r of this.db.prepare(`SELECT r.* FROM runs r ${cond}`).all(...args) as RunRow[]) {
      views.set(r.id, {
        id: r.id, name: r.name, experiment: r.experiment, status: r.status, start: r.start_ms, end: r.end_ms,
        user: r.user, host: r.host, exitCode: r.exit_code,
        params: Object.create(null), metrics: Object.create(null), tags: Object.create(null),
      });
    }
    if (views.size > 0) {
      for (const table of ['params', 'metrics', 'tags'] as const) {
        const rows = this.db.prepare(`SELECT t.run_id, t.key, t.value FROM ${table} t JOIN runs r ON r.id = t.run_id ${cond}`)
          .raw().all(...args) as [string, string, never][];
        for (const [id, k, v] of rows) views.get(id)![table][k] = v;
      }
    }
    let out = [...views.values()];
    if (pred) out = out.filter(pred);
    out.sort(order);
    return q.limit === undefined ? out : out.slice(0, Math.max(0, q.limit));
  }

  /** One run's view, or undefined. */
  get(id: string): RunView | undefined {
    if (!this.db.prepare('SELECT 1 FROM runs WHERE id = ?').get(id)) return undefined;
    return this.list({ filter: `run_id = '${id.replace(/'/g, "''")}'` })[0];
  }

  /** Runs whose name is exactly `name` (for run lookup by name). */
  runsNamed(name: string): { id: string; name: string }[] {
    return this.db.prepare('SELECT id, name FROM runs WHERE name = ? ORDER BY id LIMIT 100').all(name) as { id: string; name: string }[];
  }

  /** id → name for the given ids that the index holds. */
  namesOf(ids: string[]): Map<string, string> {
    const get = this.db.prepare('SELECT name FROM runs WHERE id = ?').pluck();
    const out = new Map<string, string>();
    for (const id of ids) {
      const n = get.get(id) as string | undefined;
      if (n !== undefined) out.set(id, n);
    }
    return out;
  }

  /** Oids recorded as an input or output that start with `prefix` (for `lineage <oid prefix>`). */
  resolveOid(prefix: string, limit = 10): string[] {
    const p = prefix.startsWith('sha256:') ? prefix : `sha256:${prefix}`;
    const like = p.replace(/[\\%_]/g, '\\$&') + '%';
    return (this.db.prepare(`SELECT oid FROM inputs WHERE oid LIKE ? ESCAPE '\\'
      UNION SELECT oid FROM outputs WHERE oid LIKE ? ESCAPE '\\' ORDER BY oid LIMIT ?`).pluck().all(like, like, limit) as string[]);
  }

  /**
   * The lineage graph around a data version or a run.
   *
   * 1. Upstream from data: the runs that produced it, then their inputs; from each input, the runs
   *    that produced it, and so on. Downstream from data: the runs that read it, then their outputs,
   *    and so on. From a run: its inputs (upstream) or outputs (downstream), then onwards; the run's
   *    other side (its outputs upstream, its inputs downstream) is added too, without walking on.
   * 2. `depth` counts runs along a path: 1 = the producing (or consuming) runs and their
   *    inputs (outputs); from a run, 1 = the run and its inputs (outputs). Default unlimited.
   * 3. Each node is visited once (diamonds share nodes, cycles stop), and the walk stops at `maxNodes`
   *    (default 10,000) with `truncated: true`.
   * @example idx.lineage({ oid: 'sha256:…', path: 'models/model.bin' }, 'upstream')
   */
  lineage(start: LineageStart, direction: LineageDirection, depth = Infinity, opts: { maxNodes?: number } = {}): LineageGraph {
    const maxNodes = opts.maxNodes ?? 10_000;
    const nodes = new Map<string, LineageNode>();
    const edges = new Map<string, LineageEdge>();
    let truncated = false;
    const up = direction === 'upstream';

    const runStmt = this.db.prepare('SELECT id, name, status, experiment, start_ms FROM runs WHERE id = ?');
    // Upstream: who produced this oid; downstream: who read it.
    const runsOfData = up
      ? this.db.prepare('SELECT DISTINCT run_id FROM outputs WHERE oid = ? ORDER BY run_id').pluck()
      : this.db.prepare('SELECT DISTINCT run_id FROM inputs WHERE oid = ? ORDER BY run_id').pluck();
    // Upstream: what the run read; downstream: what it wrote.
    const dataOfRun = up
      ? this.db.prepare('SELECT path, oid FROM inputs WHERE run_id = ? ORDER BY rowid')
      : this.db.prepare('SELECT path, oid FROM outputs WHERE run_id = ? AND oid IS NOT NULL ORDER BY rowid');
    const otherSideOfRun = up
      ? this.db.prepare('SELECT path, oid FROM outputs WHERE run_id = ? AND oid IS NOT NULL ORDER BY rowid')
      : this.db.prepare('SELECT path, oid FROM inputs WHERE run_id = ? ORDER BY rowid');
    const pathOf = this.db.prepare(`SELECT path FROM outputs WHERE oid = ? UNION ALL SELECT path FROM inputs WHERE oid = ? LIMIT 1`).pluck();

    const addNode = (n: LineageNode): boolean => {
      if (nodes.has(n.key)) return false;
      if (nodes.size >= maxNodes) { truncated = true; return false; }
      nodes.set(n.key, n);
      return true;
    };
    const addEdge = (e: LineageEdge) => {
      if (nodes.has(e.from) && nodes.has(e.to)) edges.set(`${e.from}>${e.to}>${e.kind}`, e);
    };
    const addRun = (id: string): boolean => {
      const r = runStmt.get(id) as { id: string; name: string; status: string; experiment: string; start_ms: number } | undefined;
      if (!r) return false;
      return addNode({ kind: 'run', key: runKey(r.id), id: r.id, name: r.name, status: r.status, experiment: r.experiment, start: r.start_ms });
    };
    /** Add a run's inputs (outputs); returns the newly seen oids. */
    const expandRun = (id: string): string[] => {
      const fresh: string[] = [];
      for (const { path, oid } of dataOfRun.all(id) as { path: string; oid: string }[]) {
        if (addNode({ kind: 'data', key: dataKey(oid), oid, path })) fresh.push(oid);
        addEdge(up
          ? { from: dataKey(oid), to: runKey(id), kind: 'input' }
          : { from: runKey(id), to: dataKey(oid), kind: 'output' });
      }
      return fresh;
    };

    let root: string;
    let frontier: string[];
    let level = 0;
    if ('runId' in start) {
      root = runKey(start.runId);
      if (!addRun(start.runId)) throw new TroveError('NOT_FOUND', `no run ${start.runId} in the run index`, 'see `trove runs list`');
      frontier = [];
      if (depth >= 1) {
        level = 1;
        frontier = expandRun(start.runId);
        // The run's other side too (upstream: what it wrote; downstream: what it read), not walked on.
        for (const { path, oid } of otherSideOfRun.all(start.runId) as { path: string; oid: string }[]) {
          addNode({ kind: 'data', key: dataKey(oid), oid, path });
          addEdge(up
            ? { from: runKey(start.runId), to: dataKey(oid), kind: 'output' }
            : { from: dataKey(oid), to: runKey(start.runId), kind: 'input' });
        }
      }
    } else {
      root = dataKey(start.oid);
      const path = start.path ?? (pathOf.get(start.oid, start.oid) as string | undefined) ?? '';
      addNode({ kind: 'data', key: root, oid: start.oid, path });
      frontier = [start.oid];
    }

    while (level < depth && frontier.length > 0 && !truncated) {
      level++;
      const next: string[] = [];
      for (const oid of frontier) {
        for (const id of runsOfData.all(oid) as string[]) {
          const fresh = addRun(id);
          addEdge(up
            ? { from: runKey(id), to: dataKey(oid), kind: 'output' }
            : { from: dataKey(oid), to: runKey(id), kind: 'input' });
          if (fresh) next.push(...expandRun(id));
        }
      }
      frontier = next;
    }
    return { root, direction, depth, nodes: [...nodes.values()], edges: [...edges.values()], truncated };
  }
}
