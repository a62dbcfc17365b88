/**
 * Questions over the run records: which runs (filter, sort, data version used or produced), one run in
 * full (and whether its data still matches the workspace), several runs side by side, and lineage.
 * All go through the index (`RunStore.openIndex`, refreshed when stale) except `showRun`, which reads
 * the record file itself so that a damaged record is reported by name.
 */
import path from 'node:path';
import { TroveError } from '../errors.js';
import type { Oid } from '../oid.js';
import { parsePointer, type Pointer } from '../pointer.js';
import type { RepoContext } from '../context.js';
import { checkoutVersions, type CheckoutResult } from '../ops/checkout.js';
import { listTracked, scanTracked } from '../ops/tracked.js';
import { loadFlatTree, type OnProgress } from '../workspace.js';
import type { LineageGraph, RunIndex, RunListQuery } from './index-db.js';
import { lastMetricPoint } from './index-db.js';
import type { RunView } from './filter.js';
import type { RunInput, RunOutput, RunProblem, RunRecord } from './record.js';
import { ULID_RE } from './record.js';
import { pointerAt } from '../history.js';

/**
 * The pointer that `path` had at git revision `rev`.
 * @example await pointerAtRev(repo, 'data/iris.csv', 'HEAD~2')
 */
export async function pointerAtRev(repo: RepoContext, userPath: string, rev: string): Promise<{ path: string; pointer: Pointer }> {
  const rel = repo.rel(userPath).replace(/\.trove$/, '');
  const found = await pointerAt(repo.git, rev, `${rel}.trove`);
  if (!found) {
    throw new TroveError('NOT_FOUND', `${rel}.trove does not exist at git revision ${rev}`,
      `check the revision (\`git log -- ${rel}.trove\` lists the commits that changed it)`);
  }
  return { path: rel, pointer: found.pointer };
}

export type Target =
  | { kind: 'data'; oid: Oid; path?: string; via: 'path' | 'path@rev' | 'oid' }
  | { kind: 'run'; id: string };

/**
 * What a user's target names: a tracked path (its current pointer), `path@rev`, an oid or oid prefix
 * (`sha256:` optional, at least 4 hex digits), or (where allowed) a run id or run id prefix.
 */
export async function resolveTarget(repo: RepoContext, spec: string, index: RunIndex, o: { allowRun?: boolean } = {}): Promise<Target> {
  const tracked = await listTracked(repo);
  let rel: string | null = null;
  try {
    rel = repo.rel(spec).replace(/\.trove$/, '');
  } catch {
    /* not a path inside the repo: try the other forms */
  }
  const t = rel === null ? undefined : tracked.find((x) => x.path === rel);
  if (t) return { kind: 'data', oid: t.pointer.oid, path: t.path, via: 'path' };
  const at = spec.lastIndexOf('@');
  if (at > 0 && at < spec.length - 1) {
    const { path, pointer } = await pointerAtRev(repo, spec.slice(0, at), spec.slice(at + 1));
    return { kind: 'data', oid: pointer.oid, path, via: 'path@rev' };
  }
  const hex = /^(sha256:)?([0-9a-f]{4,64})$/.exec(spec);
  if (hex) {
    if (hex[2]!.length === 64) return { kind: 'data', oid: `sha256:${hex[2]}` as Oid, via: 'oid' };
    const hits = index.resolveOid(hex[2]!);
    if (hits.length === 1) return { kind: 'data', oid: hits[0] as Oid, via: 'oid' };
    if (hits.length > 1) throw new TroveError('BAD_ARGS', `oid prefix ${spec} is ambiguous: ${hits.slice(0, 5).join(', ')}`, 'give more digits');
  }
  if (o.allowRun) {
    try {
      return { kind: 'run', id: await (await repo.runStore()).resolveId(spec, index) };
    } catch (err) {
      if (!(err instanceof TroveError && err.code === 'NOT_FOUND')) throw err;
    }
  }
  throw new TroveError('NOT_FOUND', `${spec}: not a tracked path, path@rev, recorded data version${o.allowRun ? ' or run id or name' : ''}`,
    'give a tracked path (data/train.csv), a path at a git revision (data/train.csv@HEAD~1), an oid prefix' + (o.allowRun ? ', or a run id or name from `trove runs list`' : ''));
}

export interface ListRunsQuery {
  experiment?: string;
  filter?: string;
  sort?: string;
  limit?: number;
  /** Runs that read this data version: a path, path@rev, or oid prefix. */
  uses?: string;
  /** Runs that wrote this data version. */
  produced?: string;
}

/**
 * Runs matching a query, newest first unless sorted. `skipped` names the record files that could not
 * be read (they are left out, never fatal).
 * @example await listRuns(repo, { filter: 'metrics.acc > 0.9', sort: 'metrics.acc DESC', uses: 'data@HEAD~1' })
 */
export async function listRuns(repo: RepoContext, q: ListRunsQuery = {}): Promise<{ runs: RunView[]; skipped: { file: string; error: string }[] }> {
  const { index, skipped } = await (await repo.runStore()).openIndex();
  try {
    const query: RunListQuery = { experiment: q.experiment, filter: q.filter, orderBy: q.sort, limit: q.limit };
    if (q.uses !== undefined) {
      const t = await resolveTarget(repo, q.uses, index);
      if (t.kind === 'data') query.usesOid = t.oid;
    }
    if (q.produced !== undefined) {
      const t = await resolveTarget(repo, q.produced, index);
      if (t.kind === 'data') query.producedOid = t.oid;
    }
    // Runs deleted through the MLflow API (tag trove.deleted) are hidden, as MLflow's lists hide them.
    const limit = query.limit;
    const runs = index.list({ ...query, limit: undefined }).filter((r) => r.tags['trove.deleted'] === undefined);
    return { runs: limit === undefined ? runs : runs.slice(0, Math.max(0, limit)), skipped };
  } finally {
    index.close();
  }
}

export type WorkspaceMatch = 'matches' | 'differs' | 'missing' | 'not-produced';

export interface ShownRun {
  record: RunRecord;
  file: string;
  /**
   * The record's own `problems` (kept when the run ended) and, for a run still going, the bad lines of
   * its events file so far.
   */
  problems: RunProblem[];
  inputs: (RunInput & { workspace: WorkspaceMatch })[];
  outputs: (RunOutput & { workspace: WorkspaceMatch })[];
}

/** Whether the workspace holds `oid` at `rel` now (through the stat cache: unchanged data is not read). */
async function matchWorkspace(repo: RepoContext, rel: string, oid: string | null): Promise<WorkspaceMatch> {
  if (oid === null) return 'not-produced';
  const scanned = await scanTracked(repo, rel, { store: false }).catch(() => null);
  if (!scanned) return 'missing';
  return scanned.oid === oid ? 'matches' : 'differs';
}

/** One run, every field, each input and output marked as matching the workspace or not. */
export async function showRun(repo: RepoContext, idOrPrefix: string): Promise<ShownRun> {
  const store = await repo.runStore();
  const { record, problems: pending, file } = await store.read(idOrPrefix);
  const events = path.relative(repo.root, store.eventsFile(record.id)).split(path.sep).join('/');
  const problems: RunProblem[] = [...(record.problems ?? []), ...pending.map((p) => ({ source: events, line: p.line, message: p.message }))];
  const inputs = [];
  for (const i of record.inputs) inputs.push({ ...i, workspace: await matchWorkspace(repo, i.path, i.oid) });
  const outputs = [];
  for (const o of record.outputs) outputs.push({ ...o, workspace: await matchWorkspace(repo, o.path, o.oid) });
  return { record, file, problems, inputs, outputs };
}

export interface FolderDiffCounts { added: number; removed: number; modified: number; unchanged: number }

export interface RunComparison {
  runs: { id: string; name: string; status: string; experiment: string; commit: string | null; dirty: boolean | null }[];
  /** key → value per run (null where a run lacks it); `differs` when not all equal. */
  params: { key: string; values: (string | null)[]; differs: boolean }[];
  metrics: { key: string; values: (number | null)[]; differs: boolean }[];
  /**
   * Per input path: the oid each run read (null: not an input of that run); for folders whose versions
   * differ, file-level counts against the first run's version (null when a tree is not in the cache).
   */
  inputs: { path: string; oids: (string | null)[]; differs: boolean; files?: (FolderDiffCounts | null)[] }[];
  outputs: { path: string; oids: (string | null)[]; differs: boolean }[];
}

async function folderCounts(repo: RepoContext, a: Oid, b: Oid, where: string): Promise<FolderDiffCounts | null> {
  try {
    const [ta, tb] = await Promise.all([loadFlatTree(repo.cache, a, where), loadFlatTree(repo.cache, b, where)]);
    const c: FolderDiffCounts = { added: 0, removed: 0, modified: 0, unchanged: 0 };
    for (const [p, e] of tb.files) {
      const old = ta.files.get(p);
      if (!old) c.added++;
      else if (old.oid !== e.oid) c.modified++;
      else c.unchanged++;
    }
    for (const p of ta.files.keys()) if (!tb.files.has(p)) c.removed++;
    return c;
  } catch (err) {
    if (err instanceof TroveError && err.code === 'MISSING_OBJECT') return null;
    throw err;
  }
}

/** Several runs side by side: params, last metric values, code commits, and data versions per path. */
export async function compareRuns(repo: RepoContext, ids: string[]): Promise<RunComparison> {
  if (ids.length < 2) throw new TroveError('BAD_ARGS', 'compare needs at least two runs');
  const recs: RunRecord[] = [];
  for (const id of ids) recs.push((await (await repo.runStore()).read(id)).record);
  const keys = (f: (r: RunRecord) => string[]) => [...new Set(recs.flatMap(f))].sort();
  const allSame = <T>(v: T[]) => v.every((x) => x === v[0]);
  const params = keys((r) => Object.keys(r.params)).map((key) => {
    const values = recs.map((r) => r.params[key] ?? null);
    return { key, values, differs: !allSame(values) };
  });
  const metrics = keys((r) => Object.keys(r.metrics)).map((key) => {
    const values = recs.map((r) => lastMetricPoint(r.metrics[key] ?? [])?.value ?? null);
    return { key, values, differs: !allSame(values) };
  });
  const inputs: RunComparison['inputs'] = [];
  for (const p of keys((r) => r.inputs.map((i) => i.path))) {
    const entries = recs.map((r) => r.inputs.find((i) => i.path === p));
    const oids = entries.map((e) => e?.oid ?? null);
    const row: RunComparison['inputs'][number] = { path: p, oids, differs: !allSame(oids) };
    const base = entries[0];
    if (row.differs && base?.type === 'dir') {
      row.files = [];
      for (const e of entries) {
        row.files.push(e?.type === 'dir' ? await folderCounts(repo, base.oid as Oid, e.oid as Oid, p) : null);
      }
    }
    inputs.push(row);
  }
  const outputs = keys((r) => r.outputs.map((o) => o.path)).map((p) => {
    const oids = recs.map((r) => r.outputs.find((o) => o.path === p)?.oid ?? null);
    return { path: p, oids, differs: !allSame(oids) };
  });
  return {
    runs: recs.map((r) => ({ id: r.id, name: r.name, status: r.status, experiment: r.experiment, commit: r.git?.commit ?? null, dirty: r.git?.dirty ?? null })),
    params, metrics, inputs, outputs,
  };
}

/**
 * The lineage graph around a target (path, path@rev, oid prefix or run id): upstream by default
 * (what it came from), downstream on request (what was made from it).
 * @example await lineageOf(repo, 'models/model.bin', { direction: 'upstream' })
 */
export async function lineageOf(repo: RepoContext, spec: string, o: { direction?: 'upstream' | 'downstream'; depth?: number } = {}): Promise<LineageGraph & { skipped: { file: string; error: string }[] }> {
  const { index, skipped } = await (await repo.runStore()).openIndex();
  try {
    const t = await resolveTarget(repo, spec, index, { allowRun: true });
    const start = t.kind === 'run' ? { runId: t.id } : { oid: t.oid, ...(t.path ? { path: t.path } : {}) };
    const graph = index.lineage(start, o.direction ?? 'upstream', o.depth ?? Infinity);
    await markOrigins(repo, graph);
    return { ...graph, skipped };
  } finally {
    index.close();
  }
}

/** Data that a run read from an imported path: say where it came from (`trove import`'s source). */
async function markOrigins(repo: RepoContext, g: LineageGraph): Promise<void> {
  const store = await repo.runStore();
  const data = new Map(g.nodes.filter((n) => n.kind === 'data').map((n) => [n.key, n]));
  const runs = new Set(g.edges.filter((e) => e.kind === 'input' && data.has(e.from)).map((e) => e.to));
  for (const key of runs) {
    const node = g.nodes.find((n) => n.key === key);
    if (node?.kind !== 'run') continue;
    const rec = await store.read(node.id).then((r) => r.record, () => null);
    for (const i of rec?.inputs ?? []) {
      const d = i.origin && data.get(`data:${i.oid}`);
      if (d && d.kind === 'data') d.origin = i.origin;
    }
  }
}

export { ULID_RE };

/**
 * Restores the data versions a run read (`inputs`), wrote (`outputs`), or both (the default; where a
 * path is both, the version the run wrote wins): pointers and files. `paths` narrows it to some of them.
 * @example await checkoutRun(repo, '01JD3Z8Q4X', { inputs: true })
 */
export async function checkoutRun(
  repo: RepoContext, idOrPrefix: string,
  o: { inputs?: boolean; outputs?: boolean; paths?: string[]; force?: boolean; onProgress?: OnProgress } = {},
): Promise<{ run: string; results: CheckoutResult[]; gitAdd: string[]; notProduced: string[] }> {
  const { record } = await (await repo.runStore()).read(idOrPrefix);
  const both = !o.inputs && !o.outputs;
  const want = new Map<string, { path: string; type: 'file' | 'dir'; oid: string; size: number; files?: number }>();
  if (both || o.inputs) for (const i of record.inputs) want.set(i.path, i);
  const notProduced: string[] = [];
  if (both || o.outputs) {
    for (const x of record.outputs) {
      if (x.oid === null || x.type === undefined || x.size === undefined) notProduced.push(x.path);
      else want.set(x.path, { path: x.path, type: x.type, oid: x.oid, size: x.size, files: x.files });
    }
  }
  let versions = [...want.values()];
  if (o.paths?.length) {
    const rels = o.paths.map((p) => repo.rel(p).replace(/\.trove$/, ''));
    for (const r of rels) {
      if (!want.has(r)) throw new TroveError('NOT_FOUND', `${r}: not among the data of run ${record.id}`, `see \`trove runs show ${record.id}\``);
    }
    versions = versions.filter((v) => rels.includes(v.path));
  }
  if (!versions.length) throw new TroveError('NOT_FOUND', `run ${record.id} recorded no ${o.inputs ? 'inputs' : o.outputs ? 'outputs' : 'data'} to restore`);
  const { results, gitAdd } = await checkoutVersions(repo, versions, { force: o.force, onProgress: o.onProgress });
  return { run: record.id, results, gitAdd, notProduced };
}
