/**
 * `trove runs import <mlruns-folder>`: brings an MLflow file store into trove's records: experiments,
 * runs (params, metric histories, tags, datasets, artifacts), logged models and the model registry.
 *
 * 1. Idempotent: a run's trove id is derived from its MLflow id and start time (ULID time part from
 *    `start_time`, random part from the SHA-256 of the MLflow id), so a second import finds every
 *    record already there and adds nothing; logged models keep their `m-…` ids; a registered model
 *    that exists is left as it is.
 * 2. The folder is hostile input: every file is read with lstat first (symlinks are skipped, never
 *    followed), names are validated, sizes of the YAML/text files are capped, and absolute paths in it
 *    (artifact_uri from another machine, `file:///home/…`) are resolved inside the folder being
 *    imported: nothing outside it is ever read.
 * 3. Artifacts go into the cache (deduplicated), recorded as outputs at `mlflow-artifacts/<run>/…`;
 *    a logged model's folder becomes a tree, recorded as `mlflow-models/<m-id>` of its source run.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { TroveError, isErrno } from '../errors.js';
import type { RepoContext } from '../context.js';
import { ExperimentStore } from './experiments.js';
import { LOGGED_MODEL_SCHEMA_VERSION, LoggedModelStore, MODEL_ID_RE, MODEL_OUTPUT_PREFIX, storeFilesAsTree, type LoggedModel } from './logged-models.js';
import {
  RUN_LIMITS, RUN_SCHEMA_VERSION, parseRunRecord, serializeRunRecord,
  type MetricPoint, type RunDataset, type RunOutput, type RunRecord, type RunStatus,
} from './record.js';
import { REGISTRY_SCHEMA_VERSION, Registry, type RegisteredModel } from './registry.js';
import { artifactOutputPath, DELETED_TAG } from './tracking.js';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const MAX_META = 4 * 1024 * 1024;
const MLFLOW_ID = /^[0-9a-f]{32}$/;
const STATUS: Record<number, RunStatus> = { 1: 'KILLED', 2: 'KILLED', 3: 'FINISHED', 4: 'FAILED', 5: 'KILLED' };

/** The trove run id for an imported MLflow run: the same every time for the same run. */
export function importedRunId(mlflowId: string, startMs: number): string {
  const h = createHash('sha256').update(`mlflow-run:${mlflowId}`).digest();
  let time = '';
  for (let t = Math.max(0, Math.min(startMs, 2 ** 48 - 1)), k = 0; k < 10; k++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  let rand = '';
  for (let i = 0; i < 16; i++) rand += CROCKFORD[h[i]! & 31];
  return time + rand;
}

export interface ImportReport {
  experiments: number;
  runs: number;
  params: number;
  metricPoints: number;
  tags: number;
  datasets: number;
  artifacts: number;
  loggedModels: number;
  registeredModels: number;
  modelVersions: number;
  aliases: number;
  /** already there (second import) */
  skipped: number;
  problems: { file: string; message: string }[];
}

async function lstatOrNull(p: string) {
  try {
    return await fsp.lstat(p);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return null;
    throw err;
  }
}

async function readSmall(p: string): Promise<string | null> {
  const st = await lstatOrNull(p);
  if (!st || !st.isFile() || st.size > MAX_META) return null;
  return fsp.readFile(p, 'utf8');
}

async function readYaml(p: string): Promise<Record<string, unknown> | null> {
  const t = await readSmall(p);
  if (t === null) return null;
  const v = parseYaml(t) as unknown;
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/** Entries of a folder that are real folders/files (no symlinks), with names safe as path segments. */
async function entries(dir: string, kind: 'dir' | 'file'): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return [];
    throw err;
  }
  const out: string[] = [];
  for (const n of names.sort()) {
    // eslint-disable-next-line no-control-regex
    if (n === '.' || n === '..' || n.includes('\\') || /[\u0000-\u001f]/.test(n)) continue;
    const st = await lstatOrNull(path.join(dir, n));
    if (st && (kind === 'dir' ? st.isDirectory() : st.isFile())) out.push(n);
  }
  return out;
}

/** Files below `dir`, recursively (relative `/` paths), symlinks skipped. */
async function walkFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const f of await entries(dir, 'file')) out.push(prefix + f);
  for (const d of await entries(dir, 'dir')) out.push(...(await walkFiles(path.join(dir, d), `${prefix}${d}/`)));
  return out;
}

/** Key/value files of a folder (params/, tags/): file name = key (nested folders join with `/`). */
async function keyValues(dir: string, max: number): Promise<Record<string, string>> {
  const out: Record<string, string> = Object.create(null);
  for (const rel of await walkFiles(dir)) {
    if (rel.length > RUN_LIMITS.keyLength || rel === '__proto__') continue;
    const v = await readSmall(path.join(dir, rel));
    if (v !== null && v.length <= max) out[rel] = v;
  }
  return out;
}

async function metricHistories(dir: string): Promise<{ metrics: Record<string, MetricPoint[]>; points: number }> {
  const metrics: Record<string, MetricPoint[]> = Object.create(null);
  let points = 0;
  for (const rel of await walkFiles(dir)) {
    if (rel.length > RUN_LIMITS.keyLength || rel === '__proto__') continue;
    const st = await lstatOrNull(path.join(dir, rel));
    if (!st || st.size > 256 * 1024 * 1024) continue;
    const pts: MetricPoint[] = [];
    for (const line of (await fsp.readFile(path.join(dir, rel), 'utf8')).split('\n')) {
      const [ts, value, step] = line.trim().split(/\s+/);
      if (ts === undefined || value === undefined || ts === '') continue;
      const v = Number(value);
      const t = Number(ts);
      const s = step === undefined ? 0 : Number(step);
      if (!Number.isFinite(v) || !Number.isSafeInteger(t) || t < 0 || !Number.isSafeInteger(s)) continue;
      pts.push({ value: v, ts: t, step: s });
    }
    metrics[rel] = pts;
    points += pts.length;
  }
  return { metrics, points };
}

/** An artifact folder named by a URI in the folder's files: inside `root`, or the default place. */
function resolveInside(root: string, uri: unknown, fallback: string): string {
  if (typeof uri === 'string' && uri.startsWith('file://')) {
    const p = decodeURIComponent(uri.slice('file://'.length));
    const rel = path.relative(root, path.resolve(p));
    if (!rel.startsWith('..') && !path.isAbsolute(rel)) return path.join(root, rel);
  }
  return fallback;
}

const ms = (v: unknown, dflt: number) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : dflt);
const str = (v: unknown) => (typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v));

/**
 * Imports an MLflow file store (the `mlruns/` folder). See the module comment.
 * @example const report = await importMlruns(repo, 'mlruns')
 */
export async function importMlruns(repo: RepoContext, folder: string): Promise<ImportReport> {
  const root = path.resolve(repo.cwd, folder);
  const st = await lstatOrNull(root);
  if (!st || !st.isDirectory()) throw new TroveError('NOT_FOUND', `${folder}: not a folder`, 'give the mlruns folder of an MLflow file store');
  const store = await repo.runStore();
  const experiments = new ExperimentStore(path.join(store.dir, 'experiments'));
  const models = new LoggedModelStore(path.join(store.dir, 'models'));
  const registry = new Registry(path.join(store.dir, 'registry'));
  const existing = new Set(await store.names());
  const report: ImportReport = { experiments: 0, runs: 0, params: 0, metricPoints: 0, tags: 0, datasets: 0, artifacts: 0, loggedModels: 0, registeredModels: 0, modelVersions: 0, aliases: 0, skipped: 0, problems: [] };
  const runIds = new Map<string, string>(); // MLflow run id → trove run id
  const modelTrees = new Map<string, string>(); // model id → tree oid
  const pending: { rec: RunRecord; file: string }[] = [];

  const expDirs = (await entries(root, 'dir')).filter((d) => /^[0-9]+$/.test(d));
  // 1. experiments and runs (records are written after the logged models, which add outputs)
  for (const e of expDirs) {
    const edir = path.join(root, e);
    const meta = await readYaml(path.join(edir, 'meta.yaml'));
    if (!meta || typeof meta.name !== 'string' || meta.name === '' || meta.name.length > RUN_LIMITS.text) {
      report.problems.push({ file: `${e}/meta.yaml`, message: 'no experiment name; skipped' });
      continue;
    }
    const expName = meta.name;
    const { created } = await experiments.ensure(expName, ms(meta.creation_time, Date.now()));
    if (created) report.experiments++;
    for (const r of await entries(edir, 'dir')) {
      if (!MLFLOW_ID.test(r)) continue;
      const rdir = path.join(edir, r);
      const rm = await readYaml(path.join(rdir, 'meta.yaml'));
      if (!rm) continue;
      const start = ms(rm.start_time, 0);
      const id = importedRunId(r, start);
      runIds.set(r, id);
      if (existing.has(`${id}.json`)) {
        report.skipped++;
        continue;
      }
      const params = await keyValues(path.join(rdir, 'params'), RUN_LIMITS.paramValue);
      const tags = await keyValues(path.join(rdir, 'tags'), RUN_LIMITS.tagValue);
      const { metrics, points } = await metricHistories(path.join(rdir, 'metrics'));
      if (rm.lifecycle_stage === 'deleted') tags[DELETED_TAG] = new Date(ms(rm.end_time, start) || Date.now()).toISOString();
      tags['trove.mlflow.run_id'] = r;
      const datasets: RunDataset[] = [];
      for (const i of await entries(path.join(rdir, 'inputs'), 'dir')) {
        const im = await readYaml(path.join(rdir, 'inputs', i, 'meta.yaml'));
        if (!im || im.source_type !== 'DATASET' || typeof im.source_id !== 'string' || !/^[0-9a-f]{32}$/.test(im.source_id)) continue;
        const dm = await readYaml(path.join(edir, 'datasets', im.source_id, 'meta.yaml'));
        if (!dm) continue;
        const dtags = im.tags && typeof im.tags === 'object' ? Object.fromEntries(Object.entries(im.tags as Record<string, unknown>).map(([k, v]) => [k, str(v)])) : {};
        datasets.push({
          name: str(dm.name), digest: str(dm.digest), sourceType: str(dm.source_type), source: str(dm.source),
          ...(dm.schema !== undefined && dm.schema !== null ? { schema: str(dm.schema) } : {}),
          ...(dm.profile !== undefined && dm.profile !== null ? { profile: str(dm.profile) } : {}),
          ...(Object.keys(dtags).length ? { tags: dtags } : {}),
        });
      }
      const outputs: RunOutput[] = [];
      const adir = resolveInside(root, rm.artifact_uri, path.join(rdir, 'artifacts'));
      for (const rel of await walkFiles(adir)) {
        const put = await repo.cache.putFile(path.join(adir, rel), 'blob');
        outputs.push({ path: artifactOutputPath(id, rel), oid: put.oid, type: 'file', size: put.size });
      }
      const status = STATUS[Number(rm.status)] ?? 'FINISHED';
      const end = ms(rm.end_time, 0);
      const rec: RunRecord = {
        schema: RUN_SCHEMA_VERSION, id, name: str(rm.run_name) || str(tags['mlflow.runName']), experiment: expName, status,
        start: new Date(start).toISOString(), end: new Date(Math.max(end || start, start)).toISOString(), command: [], exitCode: null,
        user: str(rm.user_id).slice(0, RUN_LIMITS.text), host: '', pid: null, git: null,
        params, metrics, tags, inputs: [], outputs, ...(datasets.length ? { datasets } : {}),
      };
      pending.push({ rec, file: `${e}/${r}` });
      report.params += Object.keys(params).length;
      report.metricPoints += points;
      report.tags += Object.keys(tags).length - 1;
      report.datasets += datasets.length;
      report.artifacts += outputs.length;
    }
  }
  // the parent of a nested run is named by its MLflow id: point it at the trove id
  for (const { rec } of pending) {
    const parent = rec.tags['mlflow.parentRunId'];
    if (parent && runIds.has(parent)) rec.tags['mlflow.parentRunId'] = runIds.get(parent)!;
  }

  // 2. logged models
  const byId = new Map(pending.map((p) => [p.rec.id, p.rec]));
  for (const e of expDirs) {
    const edir = path.join(root, e);
    const expName = (await readYaml(path.join(edir, 'meta.yaml')))?.name;
    if (typeof expName !== 'string' || !expName) continue;
    for (const m of await entries(path.join(edir, 'models'), 'dir')) {
      if (!MODEL_ID_RE.test(m)) continue;
      const mdir = path.join(edir, 'models', m);
      const mm = await readYaml(path.join(mdir, 'meta.yaml'));
      if (!mm) continue;
      const adir = resolveInside(root, mm.artifact_location, path.join(mdir, 'artifacts'));
      const files: LoggedModel['files'] = Object.create(null);
      for (const rel of await walkFiles(adir)) {
        const put = await repo.cache.putFile(path.join(adir, rel), 'blob');
        files[rel] = { oid: put.oid, size: put.size };
      }
      const tree = Object.keys(files).length ? await storeFilesAsTree(repo, files) : null;
      if (tree) modelTrees.set(m, tree.oid);
      const sourceRun = typeof mm.source_run_id === 'string' ? runIds.get(mm.source_run_id) ?? null : null;
      const src = sourceRun ? byId.get(sourceRun) : undefined;
      if (src && tree) src.outputs.push({ path: `${MODEL_OUTPUT_PREFIX}/${m}`, oid: tree.oid, type: 'dir', size: tree.size, files: tree.files });
      const already = await models.get(m).then(() => true, () => false);
      if (already) continue;
      const { metrics } = await metricHistories(path.join(mdir, 'metrics'));
      const status = Number(mm.status) === 2 ? 'LOGGED_MODEL_READY' : Number(mm.status) === 3 ? 'LOGGED_MODEL_UPLOAD_FAILED' : 'LOGGED_MODEL_PENDING';
      await models.write({
        schema: LOGGED_MODEL_SCHEMA_VERSION, id: m, experiment: expName, name: str(mm.name), sourceRun, status,
        created: ms(mm.creation_timestamp, Date.now()), updated: ms(mm.last_updated_timestamp, Date.now()), modelType: str(mm.model_type),
        params: await keyValues(path.join(mdir, 'params'), RUN_LIMITS.paramValue), tags: await keyValues(path.join(mdir, 'tags'), RUN_LIMITS.tagValue),
        metrics: Object.entries(metrics).flatMap(([key, pts]) => pts.map((p) => ({ key, value: p.value, step: p.step, ts: p.ts, runId: sourceRun }))),
        files, tree,
      });
      report.loggedModels++;
    }
  }

  // 3. the run records, validated as any record is, written atomically
  for (const { rec, file } of pending) {
    try {
      parseRunRecord(serializeRunRecord(rec), `${rec.id}.json`);
    } catch (err) {
      report.problems.push({ file, message: (err as Error).message });
      continue;
    }
    await store.write(rec);
    report.runs++;
  }

  // 4. the registry
  for (const name of await entries(path.join(root, 'models'), 'dir')) {
    const gdir = path.join(root, 'models', name);
    const gm = await readYaml(path.join(gdir, 'meta.yaml'));
    if (!gm || str(gm.name) !== name) continue;
    if (await registry.find(name)) {
      report.skipped++;
      continue;
    }
    const versions: RegisteredModel['versions'] = [];
    const vdirs = (await entries(gdir, 'dir')).filter((d) => /^version-\d+$/.test(d)).sort((a, b) => Number(a.slice(8)) - Number(b.slice(8)));
    for (const vd of vdirs) {
      const vm = await readYaml(path.join(gdir, vd, 'meta.yaml'));
      if (!vm || Number(vm.version) !== versions.length + 1) break; // versions are numbered without gaps
      const modelId = typeof vm.model_id === 'string' && MODEL_ID_RE.test(vm.model_id) ? vm.model_id : null;
      versions.push({
        version: versions.length + 1, created: ms(vm.creation_timestamp, Date.now()), updated: ms(vm.last_updated_timestamp, Date.now()),
        source: str(vm.source), runId: typeof vm.run_id === 'string' ? runIds.get(vm.run_id) ?? null : null, modelId,
        oid: (modelId ? (modelTrees.get(modelId) ?? null) : null) as RegisteredModel['versions'][number]['oid'],
        description: str(vm.description), tags: await keyValues(path.join(gdir, vd, 'tags'), RUN_LIMITS.tagValue), deleted: false,
      });
    }
    const aliases: Record<string, number> = {};
    const history: RegisteredModel['aliasHistory'] = [];
    for (const a of await entries(path.join(gdir, 'aliases'), 'file')) {
      const v = Number((await readSmall(path.join(gdir, 'aliases', a)))?.trim());
      if (!Number.isInteger(v) || v < 1 || v > versions.length || !/^[\w-]{1,255}$/.test(a)) continue;
      aliases[a] = v;
      history.push({ alias: a, version: v, at: ms(gm.last_updated_timestamp, Date.now()) });
    }
    const reg: RegisteredModel = {
      schema: REGISTRY_SCHEMA_VERSION, name, created: ms(gm.creation_timestamp, Date.now()), updated: ms(gm.last_updated_timestamp, Date.now()),
      description: str(gm.description), tags: await keyValues(path.join(gdir, 'tags'), RUN_LIMITS.tagValue), versions, aliases, aliasHistory: history,
    };
    await registry.importModel(reg);
    report.registeredModels++;
    report.modelVersions += versions.length;
    report.aliases += Object.keys(aliases).length;
  }
  return report;
}
