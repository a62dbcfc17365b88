/**
 * The tracking and registry endpoints of MLflow's REST API (`/api/2.0/mlflow/...`), over trove's run
 * records (`src/core/runs/`). Response shapes follow what the MLflow 3.11 client reads (see
 * `../shared/mlflow/` traces): `run_id` and `run_uuid` both, `artifact_uri` as
 * `mlflow-artifacts:/<exp>/<run>/artifacts`, logged models under `mlflow-artifacts:/<exp>/models/<id>/artifacts`.
 */
import type http from 'node:http';
import { TroveError } from '../core/errors.js';
import type { Repo } from '../core/repo.js';
import { DEFAULT_EXPERIMENT, ExperimentStore, experimentIdFor, type Experiment } from '../core/runs/experiments.js';
import { compileFilter, parseOrderBy, type RunView } from '../core/runs/filter.js';
import { lastMetricPoint } from '../core/runs/index-db.js';
import { LoggedModelStore, MODEL_OUTPUT_PREFIX, storeFilesAsTree, type LoggedModel } from '../core/runs/logged-models.js';
import type { RunEvent, RunRecord } from '../core/runs/record.js';
import { ULID_RE } from '../core/runs/record.js';
import { Registry, type ModelVersion, type RegisteredModel } from '../core/runs/registry.js';
import type { RunStore } from '../core/runs/store.js';
import { DELETED_TAG, Tracking, isDeleted } from '../core/runs/tracking.js';
import { resolveDatasetInput } from './datasets.js';
import { RunCache, type WriteState } from './run-cache.js';
import {
  LIMITS, checkArray, checkBatchSizes, checkInt, checkKey, checkMetricValue, checkObject, checkString, checkValue, invalid, required,
} from './mlflow-validation.js';
import { MlflowError, sendJson } from './mlflowError.js';

type Body = Record<string, unknown>;
type Handler = (q: Body, req: http.IncomingMessage) => Promise<unknown>;

const STATUSES = ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'] as const;

export interface ApiOptions {
  maxJsonBytes: number;
  maxArtifactBytes: number;
  attach?: { runId: string; adoptExperiment: boolean };
}

/** Reads a JSON body up to `max` bytes; malformed JSON is MLflow's MALFORMED_REQUEST. */
export async function readJson(req: http.IncomingMessage, max: number): Promise<Body> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    // Over the cap: keep reading (and dropping) so the client gets the 400 rather than a reset.
    if (n <= max) chunks.push(c);
  }
  if (n > max) throw new MlflowError('INVALID_PARAMETER_VALUE', `request body is larger than the limit of ${max} bytes`);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new MlflowError('MALFORMED_REQUEST', `Malformed JSON in request body: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new MlflowError('MALFORMED_REQUEST', 'request body must be a JSON object');
  return v as Body;
}

const kv = (m: Record<string, string>) => Object.keys(m).map((key) => ({ key, value: m[key]! }));

export class MlflowApi {
  readonly experiments: ExperimentStore;
  readonly models: LoggedModelStore;
  readonly registry: Registry;
  private adoptPending: boolean;
  readonly cache: RunCache;
  private routes = new Map<string, Handler>();

  private constructor(readonly repo: Repo, readonly store: RunStore, readonly tracking: Tracking, readonly o: ApiOptions) {
    const dir = store.dir;
    this.experiments = new ExperimentStore(`${dir}/experiments`);
    this.models = new LoggedModelStore(`${dir}/models`);
    this.registry = new Registry(`${dir}/registry`);
    this.adoptPending = !!o.attach?.adoptExperiment;
    this.cache = new RunCache(store);
    this.register();
  }

  static async open(repo: Repo, o: ApiOptions): Promise<MlflowApi> {
    const store = await repo.runStore();
    return new MlflowApi(repo, store, new Tracking(repo, store), o);
  }

  /** Dispatches one `/api/2.0/mlflow/<rest>` request. */
  async route(req: http.IncomingMessage, res: http.ServerResponse, url: URL, rest: string): Promise<void> {
    const method = req.method ?? 'GET';
    let routeKey = `${method} ${rest}`;
    let q: Body;
    const lm = /^logged-models\/(m-[0-9a-f]{32}|[^/]+)(\/tags)?$/.exec(rest);
    if (lm && rest !== 'logged-models/search') routeKey = `${method} logged-models/:id${lm[2] ?? ''}`;
    const h = this.routes.get(routeKey);
    if (!h) {
      req.resume();
      throw new MlflowError('ENDPOINT_NOT_FOUND', `unsupported endpoint: ${method} /api/2.0/mlflow/${rest}`);
    }
    if (method === 'GET' || method === 'DELETE' && req.headers['content-length'] === undefined) {
      req.resume();
      q = Object.create(null) as Body;
      for (const [k, v] of url.searchParams) {
        if (k === '__proto__') continue;
        const prev = q[k];
        q[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
      }
    } else {
      q = await readJson(req, this.o.maxJsonBytes);
    }
    if (lm && rest !== 'logged-models/search') q = { ...q, model_id: lm[1] };
    if (method === 'GET') {
      // MLflow's GET forms of the searches send lists as repeated query parameters.
      for (const k of ['order_by', 'experiment_ids']) if (typeof q[k] === 'string') q[k] = [q[k]];
    }
    sendJson(res, 200, (await h(q, req)) ?? {});
  }

  private on(method: string, path: string, h: Handler): void {
    this.routes.set(`${method} ${path}`, h);
  }

  // ------------------------------------------------------------------ experiments

  private experimentJson(e: Experiment) {
    return {
      experiment_id: e.id, name: e.name, artifact_location: `mlflow-artifacts:/${e.id}`, lifecycle_stage: e.lifecycle,
      last_update_time: e.updated, creation_time: e.created, ...(Object.keys(e.tags).length ? { tags: kv(e.tags) } : {}),
    };
  }

  /** The experiment with this id: its file, or (Default, or one known only from runs) a synthesized one. */
  async experimentById(id: string): Promise<Experiment> {
    const e = await this.experiments.get(id).catch((err) => {
      if (err instanceof TroveError && err.code === 'NOT_FOUND') return null;
      throw err;
    });
    if (e) return e;
    if (id === '0') return (await this.experiments.ensure(DEFAULT_EXPERIMENT)).experiment;
    for (const name of await this.runExperimentNames()) {
      if (experimentIdFor(name) === id) return (await this.experiments.ensure(name)).experiment;
    }
    throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `No Experiment with id=${id} exists`);
  }

  private async runExperimentNames(): Promise<string[]> {
    return [...new Set((await this.cache.allViews()).map((r) => r.experiment))];
  }

  private async adopt(name: string): Promise<void> {
    if (!this.adoptPending || !this.o.attach) return;
    this.adoptPending = false;
    await this.tracking.setExperiment(this.o.attach.runId, name);
    this.cache.invalidate(this.o.attach.runId);
  }

  // ------------------------------------------------------------------ runs

  private runId(q: Body): string {
    const id = (q.run_id ?? q.run_uuid) as unknown;
    if (typeof id !== 'string' || id === '') throw invalid("Missing value for required parameter 'run_id'. See the API docs for more information about request parameters.");
    const upper = id.toUpperCase();
    if (!ULID_RE.test(upper)) throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `Run with id=${id.slice(0, 60)} not found`);
    return upper;
  }

  private async loadRun(q: Body): Promise<RunRecord> {
    const id = this.runId(q);
    try {
      return await this.tracking.get(id);
    } catch (err) {
      if (err instanceof TroveError && err.code === 'NOT_FOUND') throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `Run with id=${id} not found`);
      throw err;
    }
  }

  private async activeRun(q: Body): Promise<RunRecord> {
    const rec = await this.loadRun(q);
    if (isDeleted(rec)) throw invalid(`The run ${rec.id} must be in the 'active' state. Current state is deleted.`);
    return rec;
  }

  /** The run to log into and what it holds, without re-reading a running run on every request. */
  private async logTarget(q: Body): Promise<{ id: string; state: WriteState }> {
    const id = this.runId(q);
    const state = await this.cache.writeState(id, () => this.loadRun(q));
    if (state.deleted) throw invalid(`The run ${id} must be in the 'active' state. Current state is deleted.`);
    return { id, state };
  }

  /** Appends validated events; the cached write state takes them only once they are written. */
  private async logInto(id: string, state: WriteState, evs: RunEvent[]): Promise<void> {
    try {
      await this.tracking.log(id, evs);
    } catch (err) {
      this.cache.invalidate(id);
      throw err;
    }
    for (const e of evs) {
      if ('param' in e) state.params.set(e.param, e.value);
      else if ('metric' in e) {
        let set = state.points.get(e.metric);
        if (!set) state.points.set(e.metric, (set = new Set()));
        set.add(`${e.value}\0${e.ts}\0${e.step}`);
      }
    }
    if (!state.running) this.cache.invalidate(id);
  }

  runInfo(rec: RunRecord) {
    const exp = experimentIdFor(rec.experiment);
    return {
      run_uuid: rec.id, experiment_id: exp, run_name: rec.name, user_id: rec.user, status: rec.status,
      start_time: Date.parse(rec.start), ...(rec.end ? { end_time: Date.parse(rec.end) } : {}),
      artifact_uri: `mlflow-artifacts:/${exp}/${rec.id}/artifacts`,
      lifecycle_stage: isDeleted(rec) ? 'deleted' : 'active', run_id: rec.id,
    };
  }

  private publicTags(tags: Record<string, string>, name: string): Record<string, string> {
    const out = Object.assign(Object.create(null) as Record<string, string>, tags);
    delete out[DELETED_TAG];
    if (name && out['mlflow.runName'] === undefined) out['mlflow.runName'] = name;
    return out;
  }

  async runJson(rec: RunRecord, modelsByRun?: Map<string, string[]>) {
    const metrics = Object.keys(rec.metrics).map((key) => {
      const p = lastMetricPoint(rec.metrics[key]!)!;
      return { key, value: p.value, timestamp: p.ts, step: p.step };
    });
    const data: Record<string, unknown> = {};
    if (metrics.length) data.metrics = metrics;
    if (Object.keys(rec.params).length) data.params = kv(rec.params);
    const tags = this.publicTags(rec.tags, rec.name);
    if (Object.keys(tags).length) data.tags = kv(tags);
    const inputs: Record<string, unknown> = {};
    if (rec.datasets?.length) {
      inputs.dataset_inputs = rec.datasets.map((d) => ({
        ...(d.tags && Object.keys(d.tags).length ? { tags: kv(d.tags) } : {}),
        dataset: { name: d.name, digest: d.digest, source_type: d.sourceType, source: d.source, ...(d.schema !== undefined ? { schema: d.schema } : {}), ...(d.profile !== undefined ? { profile: d.profile } : {}) },
      }));
    }
    const outputs: Record<string, unknown> = {};
    const models = (modelsByRun ?? (await this.modelsByRun())).get(rec.id) ?? [];
    if (models.length) outputs.model_outputs = models.map((id) => ({ model_id: id, step: 0 }));
    return { info: this.runInfo(rec), data, inputs, outputs };
  }

  private async modelsByRun(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const m of await this.models.list()) if (m.sourceRun) out.set(m.sourceRun, [...(out.get(m.sourceRun) ?? []), m.id]);
    return out;
  }

  /** Validates params/metrics/tags of a request into events; params checked write-once against the run's. */
  private events(id: string, state: WriteState, metrics: unknown[], params: unknown[], tags: unknown[]): RunEvent[] {
    const evs: RunEvent[] = [];
    const seenParams = new Map<string, string>();
    const seenPoints = new Map<string, Set<string>>();
    for (const raw of params) {
      const p = checkObject('params', raw);
      const key = checkKey('param', p.key);
      const value = checkValue('param', key, p.value);
      const old = state.params.get(key) ?? seenParams.get(key);
      if (old !== undefined && old !== value) {
        throw invalid(`Changing param values is not allowed. Param with key='${key}' was already logged with value='${old}' for run ID='${id}'. Attempted logging new value '${value}'.`);
      }
      if (old === undefined) evs.push({ param: key, value });
      seenParams.set(key, value);
    }
    for (const raw of metrics) {
      const m = checkObject('metrics', raw);
      const key = checkKey('metric', m.key);
      const value = checkMetricValue(key, m.value);
      const ts = checkInt('timestamp', m.timestamp, Date.now());
      if (ts < 0) throw invalid(`metric '${key}' timestamp must not be negative`);
      const step = checkInt('step', m.step, 0);
      // MLflow keeps one point per (key, value, timestamp, step): the client re-sends a run's metrics
      // with a model_id after log_model, and those must not double the history.
      let seen = seenPoints.get(key);
      if (!seen) seenPoints.set(key, (seen = new Set()));
      const sig = `${value}\0${ts}\0${step}`;
      if (seen.has(sig) || state.points.get(key)?.has(sig)) continue;
      seen.add(sig);
      evs.push({ metric: key, value, step, ts });
    }
    for (const raw of tags) {
      const t = checkObject('tags', raw);
      const key = checkKey('tag', t.key);
      if (key === DELETED_TAG) throw invalid(`tag ${DELETED_TAG} is set by delete_run, not by set_tag`);
      evs.push({ tag: key, value: checkValue('tag', key, t.value) });
    }
    return evs;
  }

  /** Metric points logged with a model_id also go to that logged model. */
  private async modelMetrics(runId: string, metrics: unknown[]): Promise<void> {
    const byModel = new Map<string, LoggedModel['metrics']>();
    for (const raw of metrics) {
      const m = raw as Body;
      if (typeof m.model_id !== 'string') continue;
      const list = byModel.get(m.model_id) ?? [];
      list.push({ key: m.key as string, value: Number(m.value), step: checkInt('step', m.step, 0), ts: checkInt('timestamp', m.timestamp, Date.now()), runId });
      byModel.set(m.model_id, list);
    }
    for (const [id, pts] of byModel) {
      await this.models.update(id, (lm) => ({ ...lm, metrics: [...lm.metrics, ...pts] }));
    }
  }

  private async searchRuns(q: Body): Promise<{ runs: unknown[]; next_page_token?: string }> {
    const expIds = checkArray('experiment_ids', q.experiment_ids).map((x) => checkString('experiment_ids', x));
    const filter = q.filter === undefined || q.filter === null ? '' : checkString('filter', q.filter);
    const orderBy = checkArray('order_by', q.order_by).map((x) => checkString('order_by', x));
    const view = q.run_view_type === undefined ? 'ACTIVE_ONLY' : checkString('run_view_type', q.run_view_type);
    if (!['ACTIVE_ONLY', 'DELETED_ONLY', 'ALL'].includes(view)) throw invalid(`Invalid run_view_type ${view}`);
    const max = checkInt('max_results', q.max_results, 1000);
    if (max < 1 || max > LIMITS.maxResults) throw invalid(`Invalid value ${max} for parameter 'max_results' supplied. It must be at most ${LIMITS.maxResults}, and at least 1.`);
    const offset = decodePageToken(q.page_token);
    const names = new Set<string>();
    for (const id of expIds) names.add((await this.experimentById(id)).name);
    let pred: (r: RunView) => boolean;
    let order: (a: RunView, b: RunView) => number;
    try {
      pred = compileFilter(filter);
      order = orderBy.length ? parseOrderBy(orderBy.join(', ')) : (a, b) => b.start - a.start || (a.id < b.id ? -1 : 1);
    } catch (err) {
      throw invalid(`Invalid filter or order_by: ${(err as Error).message}`);
    }
    let views = (await this.cache.allViews()).filter((r) => names.has(r.experiment));
    views = views.filter((r) => {
      const del = r.tags[DELETED_TAG] !== undefined;
      if (view === 'ACTIVE_ONLY' ? del : view === 'DELETED_ONLY' ? !del : false) return false;
      return pred(r);
    });
    views.sort(order);
    const page = views.slice(offset, offset + max);
    const runs = [];
    const byRun = await this.modelsByRun();
    for (const v of page) runs.push(await this.runJson(await this.cache.record(v.id), byRun));
    return { runs, ...(offset + max < views.length ? { next_page_token: encodePageToken(offset + max) } : {}) };
  }

  // ------------------------------------------------------------------ logged models

  private modelJson(m: LoggedModel) {
    const exp = experimentIdFor(m.experiment);
    const data: Record<string, unknown> = {};
    if (Object.keys(m.params).length) data.params = kv(m.params);
    if (m.metrics.length) data.metrics = m.metrics.map((p) => ({ key: p.key, value: p.value, timestamp: p.ts, step: p.step, model_id: m.id, ...(p.runId ? { run_id: p.runId } : {}) }));
    return {
      info: {
        model_id: m.id, experiment_id: exp, name: m.name, creation_timestamp_ms: m.created, last_updated_timestamp_ms: m.updated,
        artifact_uri: `mlflow-artifacts:/${exp}/models/${m.id}/artifacts`, status: m.status, model_type: m.modelType,
        ...(m.sourceRun ? { source_run_id: m.sourceRun } : {}), ...(Object.keys(m.tags).length ? { tags: kv(m.tags) } : {}),
      },
      data,
    };
  }

  private async model(q: Body): Promise<LoggedModel> {
    const id = required<string>(q, 'model_id');
    try {
      return await this.models.get(String(id));
    } catch (err) {
      if (err instanceof TroveError && err.code === 'NOT_FOUND') throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `Logged model with ID '${id}' not found.`);
      throw err;
    }
  }

  /** On READY: the model's files as a tree in the cache, recorded as an output of its source run. */
  private async finalizeModel(m: LoggedModel): Promise<LoggedModel> {
    const tree = Object.keys(m.files).length ? await storeFilesAsTree(this.repo, m.files) : null;
    if (tree && m.sourceRun) {
      await this.tracking.log(m.sourceRun, [{ output: `${MODEL_OUTPUT_PREFIX}/${m.id}`, oid: tree.oid, type: 'dir', size: tree.size, files: tree.files }]).catch((err) => {
        if (!(err instanceof TroveError && err.code === 'NOT_FOUND')) throw err;
      });
    }
    return { ...m, tree };
  }

  // ------------------------------------------------------------------ registry

  versionJson(m: RegisteredModel, v: ModelVersion) {
    const aliases = Object.keys(m.aliases).filter((a) => m.aliases[a] === v.version);
    return {
      name: m.name, version: String(v.version), creation_timestamp: v.created, last_updated_timestamp: v.updated, current_stage: 'None',
      description: v.description, source: v.source, run_id: v.runId ?? '', status: 'READY', run_link: '',
      ...(Object.keys(v.tags).length ? { tags: kv(v.tags) } : {}), ...(aliases.length ? { aliases } : {}),
      ...(v.modelId ? { model_id: v.modelId } : {}),
    };
  }

  registeredJson(m: RegisteredModel) {
    const live = m.versions.filter((v) => !v.deleted);
    const latest = live.length ? [this.versionJson(m, live[live.length - 1]!)] : [];
    return {
      name: m.name, creation_timestamp: m.created, last_updated_timestamp: m.updated,
      ...(m.description ? { description: m.description } : {}),
      ...(latest.length ? { latest_versions: latest } : {}),
      ...(Object.keys(m.tags).length ? { tags: kv(m.tags) } : {}),
      ...(Object.keys(m.aliases).length ? { aliases: Object.keys(m.aliases).map((alias) => ({ alias, version: String(m.aliases[alias]) })) } : {}),
    };
  }

  private async regModel(q: Body): Promise<RegisteredModel> {
    const name = checkString('name', required(q, 'name'), 256);
    const m = await this.registry.find(name);
    if (!m) throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `Registered Model with name=${name} not found`);
    return m;
  }

  private version(m: RegisteredModel, raw: unknown): ModelVersion {
    const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
    const v = typeof n === 'number' ? m.versions[n - 1] : undefined;
    if (!v || v.deleted) throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `Model Version (name=${m.name}, version=${String(raw)}) not found`);
    return v;
  }

  /** The artifact oid and logged model a new version pins: from `models:/m-…` or `runs:/<run>/<path>`. */
  private async pinSource(source: string, runId: string | null, modelId: string | null): Promise<{ oid: string | null; modelId: string | null; runId: string | null }> {
    const mm = /^models:\/(m-[0-9a-f]{32})$/.exec(source);
    const id = modelId ?? mm?.[1] ?? null;
    if (id) {
      const m = await this.models.get(id).catch(() => null);
      if (!m) throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `Logged model with ID '${id}' not found.`);
      const tree = m.tree ?? (Object.keys(m.files).length ? await storeFilesAsTree(this.repo, m.files) : null);
      return { oid: tree?.oid ?? null, modelId: id, runId: runId ?? m.sourceRun };
    }
    const rm = /^runs:\/([0-9A-Za-z]{26})\/(.+)$/.exec(source);
    if (rm) {
      const rec = await this.loadRun({ run_id: rm[1] });
      const out = rec.outputs.find((o) => o.path === `mlflow-artifacts/${rec.id}/${rm[2]}`);
      return { oid: out?.oid ?? null, modelId: null, runId: runId ?? rec.id };
    }
    return { oid: null, modelId: null, runId };
  }

  // ------------------------------------------------------------------ the routes

  private register(): void {
    // experiments
    this.on('GET', 'experiments/get-by-name', async (q) => {
      const name = checkString('experiment_name', required(q, 'experiment_name'), LIMITS.experimentName);
      const id = experimentIdFor(name);
      let e = await this.experiments.get(id);
      if (!e && (name === DEFAULT_EXPERIMENT || (await this.runExperimentNames()).includes(name))) e = (await this.experiments.ensure(name)).experiment;
      if (!e) throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `Could not find experiment with name '${name}'`);
      await this.adopt(e.name);
      return { experiment: this.experimentJson(e) };
    });
    this.on('GET', 'experiments/get', async (q) => {
      const e = await this.experimentById(String(required(q, 'experiment_id')));
      return { experiment: this.experimentJson(e) };
    });
    this.on('POST', 'experiments/create', async (q) => {
      const name = checkString('name', required(q, 'name'), LIMITS.experimentName);
      const tags: Record<string, string> = {};
      for (const raw of checkArray('tags', q.tags)) {
        const t = checkObject('tags', raw);
        const key = checkKey('tag', t.key);
        tags[key] = checkValue('tag', key, t.value);
      }
      const { experiment, created } = await this.experiments.ensure(name, Date.now(), tags);
      if (!created) throw new MlflowError('RESOURCE_ALREADY_EXISTS', `Experiment(name=${name}) already exists.`);
      await this.adopt(name);
      return { experiment_id: experiment.id };
    });
    this.on('POST', 'experiments/search', async (q) => {
      const view = (q.view_type as string | undefined) ?? 'ACTIVE_ONLY';
      const max = checkInt('max_results', q.max_results, 1000);
      const names = new Set([DEFAULT_EXPERIMENT, ...(await this.runExperimentNames())]);
      for (const n of names) await this.experiments.ensure(n);
      let list = (await this.experiments.list()).experiments;
      list = list.filter((e) => view === 'ALL' || (view === 'DELETED_ONLY' ? e.lifecycle === 'deleted' : e.lifecycle === 'active'));
      if (q.filter) {
        const f = /^\s*(?:attributes\.)?name\s*(=|LIKE|ILIKE)\s*'([^']*)'\s*$/i.exec(checkString('filter', q.filter));
        if (!f) throw invalid(`Invalid experiment filter ${JSON.stringify(q.filter)}: supported is name = '…' or name LIKE '…'`);
        const pat = f[2]!;
        const re = new RegExp('^' + pat.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*').replace(/_/g, '.') + '$', f[1]!.toUpperCase() === 'ILIKE' ? 'i' : '');
        list = list.filter((e) => (f[1] === '=' ? e.name === pat : re.test(e.name)));
      }
      list.sort((a, b) => b.created - a.created || (a.name < b.name ? -1 : 1));
      const offset = decodePageToken(q.page_token);
      const page = list.slice(offset, offset + max);
      return { experiments: page.map((e) => this.experimentJson(e)), ...(offset + max < list.length ? { next_page_token: encodePageToken(offset + max) } : {}) };
    });
    for (const [path, stage] of [['experiments/delete', 'deleted'], ['experiments/restore', 'active']] as const) {
      this.on('POST', path, async (q) => {
        const e = await this.experimentById(String(required(q, 'experiment_id')));
        if (e.id === '0' && stage === 'deleted') throw invalid('Cannot delete the default experiment');
        await this.experiments.write({ ...e, lifecycle: stage, updated: Date.now() });
        return {};
      });
    }
    this.on('POST', 'experiments/set-experiment-tag', async (q) => {
      const e = await this.experimentById(String(required(q, 'experiment_id')));
      const key = checkKey('tag', q.key);
      await this.experiments.write({ ...e, tags: { ...e.tags, [key]: checkValue('tag', key, q.value) }, updated: Date.now() });
      return {};
    });

    // runs
    this.on('POST', 'runs/create', async (q) => {
      const expId = q.experiment_id === undefined || q.experiment_id === null ? '0' : String(q.experiment_id);
      const exp = await this.experimentById(expId);
      if (exp.lifecycle === 'deleted') throw invalid(`The experiment ${exp.id} must be in the 'active' state. Current state is deleted.`);
      const tags: Record<string, string> = Object.create(null);
      for (const raw of checkArray('tags', q.tags)) {
        const t = checkObject('tags', raw);
        const key = checkKey('tag', t.key);
        tags[key] = checkValue('tag', key, t.value);
      }
      let name = q.run_name === undefined ? (tags['mlflow.runName'] ?? '') : checkString('run_name', q.run_name, LIMITS.runName);
      if (!name) name = friendlyName();
      tags['mlflow.runName'] = name;
      const user = q.user_id === undefined ? '' : checkString('user_id', q.user_id, 1000);
      const rec = await this.tracking.createRun({ experiment: exp.name, name, user, startMs: checkInt('start_time', q.start_time, Date.now()), tags });
      this.cache.invalidate();
      return { run: await this.runJson(rec) };
    });
    this.on('GET', 'runs/get', async (q) => ({ run: await this.runJson(await this.loadRun(q)) }));
    this.on('POST', 'runs/update', async (q) => {
      let rec = await this.loadRun(q);
      this.cache.invalidate(rec.id);
      if (q.run_name !== undefined && q.run_name !== null && q.run_name !== '') rec = await this.tracking.rename(rec.id, checkString('run_name', q.run_name, LIMITS.runName));
      if (q.status !== undefined) {
        const status = checkString('status', q.status);
        if (!(STATUSES as readonly string[]).includes(status)) throw invalid(`Invalid run status ${status}`);
        const attached = this.o.attach?.runId === rec.id;
        // trove ends its own run when the command exits (exit code, outputs); the script's end_run
        // must not end it early.
        if (!attached && status !== 'RUNNING' && status !== 'SCHEDULED') {
          rec = await this.tracking.end(rec.id, status as 'FINISHED' | 'FAILED' | 'KILLED', q.end_time === undefined ? undefined : checkInt('end_time', q.end_time, Date.now()));
        }
      }
      return { run_info: this.runInfo(rec) };
    });
    for (const [path, del] of [['runs/delete', true], ['runs/restore', false]] as const) {
      this.on('POST', path, async (q) => {
        const rec = await this.loadRun(q);
        await this.tracking.setDeleted(rec.id, del);
        this.cache.invalidate(rec.id);
        return {};
      });
    }
    this.on('POST', 'runs/search', (q) => this.searchRuns(q));
    this.on('POST', 'runs/log-metric', async (q) => {
      const { id, state } = await this.logTarget(q);
      const metric = { key: q.key, value: q.value, timestamp: q.timestamp, step: q.step };
      await this.logInto(id, state, this.events(id, state, [metric], [], []));
      if (typeof q.model_id === 'string') await this.modelMetrics(id, [{ ...metric, model_id: q.model_id }]);
      return {};
    });
    this.on('POST', 'runs/log-parameter', async (q) => {
      const { id, state } = await this.logTarget(q);
      await this.logInto(id, state, this.events(id, state, [], [{ key: q.key, value: q.value }], []));
      return {};
    });
    this.on('POST', 'runs/set-tag', async (q) => {
      const { id, state } = await this.logTarget(q);
      const evs = this.events(id, state, [], [], [{ key: q.key, value: q.value }]);
      if (q.key === 'mlflow.runName') {
        await this.tracking.rename(id, (evs[0] as { value: string }).value);
        this.cache.invalidate(id);
      } else await this.logInto(id, state, evs);
      return {};
    });
    this.on('POST', 'runs/delete-tag', async (q) => {
      const rec = await this.activeRun(q);
      const key = checkKey('tag', q.key);
      if (rec.tags[key] === undefined) throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `No tag with name: ${key} in run with id ${rec.id}`);
      if (rec.status === 'RUNNING') throw invalid('trove records cannot delete a tag of a running run; set it to another value, or delete it after the run ends');
      await this.tracking.rewrite(rec.id, (r) => {
        const tags = Object.assign(Object.create(null) as Record<string, string>, r.tags);
        delete tags[key];
        return { ...r, tags };
      });
      this.cache.invalidate(rec.id);
      return {};
    });
    this.on('POST', 'runs/log-batch', async (q) => {
      const metrics = checkArray('metrics', q.metrics);
      const params = checkArray('params', q.params);
      const tags = checkArray('tags', q.tags);
      checkBatchSizes(metrics, params, tags);
      const { id, state } = await this.logTarget(q);
      await this.logInto(id, state, this.events(id, state, metrics, params, tags));
      await this.modelMetrics(id, metrics);
      return {};
    });
    this.on('POST', 'runs/log-inputs', async (q) => {
      const rec = await this.activeRun(q);
      const evs: RunEvent[] = [];
      for (const raw of checkArray('datasets', q.datasets)) {
        const di = checkObject('datasets', raw);
        const ds = checkObject('dataset', di.dataset);
        const dtags: Record<string, string> = {};
        for (const t of checkArray('tags', di.tags)) {
          const to = checkObject('tags', t);
          const key = checkKey('tag', to.key);
          dtags[key] = checkValue('tag', key, to.value);
        }
        const dataset = {
          name: checkString('dataset.name', required(ds, 'name'), 500), digest: checkString('dataset.digest', required(ds, 'digest'), 100),
          sourceType: checkString('dataset.source_type', required(ds, 'source_type'), 100), source: checkString('dataset.source', required(ds, 'source'), LIMITS.tagValue),
          ...(ds.schema !== undefined ? { schema: checkString('dataset.schema', ds.schema, 1024 * 1024) } : {}),
          ...(ds.profile !== undefined ? { profile: checkString('dataset.profile', ds.profile, LIMITS.tagValue) } : {}),
          ...(Object.keys(dtags).length ? { tags: dtags } : {}),
        };
        evs.push({ dataset });
        const input = await resolveDatasetInput(this.repo, dataset.source, dataset.sourceType);
        if (input) evs.push(input);
      }
      for (const raw of checkArray('models', q.models)) checkObject('models', raw);
      await this.tracking.log(rec.id, evs);
      return {};
    });
    this.on('POST', 'runs/outputs', async (q) => {
      const rec = await this.activeRun(q);
      for (const raw of checkArray('models', q.models)) {
        const m = checkObject('models', raw);
        const lm = await this.model({ model_id: m.model_id });
        if (lm.sourceRun !== rec.id) await this.models.update(lm.id, (x) => ({ ...x, sourceRun: rec.id }));
      }
      return {};
    });
    this.on('GET', 'metrics/get-history', async (q) => {
      const rec = await this.loadRun(q);
      const key = checkString('metric_key', required(q, 'metric_key'), LIMITS.keyLength);
      const max = checkInt('max_results', q.max_results, 25_000);
      const offset = decodePageToken(q.page_token);
      const all = rec.metrics[key] ?? [];
      const page = all.slice(offset, offset + max);
      return {
        metrics: page.map((p) => ({ key, value: p.value, timestamp: p.ts, step: p.step })),
        ...(offset + max < all.length ? { next_page_token: encodePageToken(offset + max) } : {}),
      };
    });

    // logged models
    this.on('POST', 'logged-models', async (q) => {
      const exp = await this.experimentById(String(required(q, 'experiment_id')));
      const name = q.name === undefined ? friendlyName() : checkString('name', q.name, 1000);
      let sourceRun: string | null = null;
      if (q.source_run_id !== undefined && q.source_run_id !== null && q.source_run_id !== '') sourceRun = (await this.loadRun({ run_id: q.source_run_id })).id;
      const params: Record<string, string> = {};
      for (const raw of checkArray('params', q.params)) {
        const p = checkObject('params', raw);
        const key = checkKey('param', p.key);
        params[key] = checkValue('param', key, p.value);
      }
      const tags: Record<string, string> = {};
      for (const raw of checkArray('tags', q.tags)) {
        const t = checkObject('tags', raw);
        const key = checkKey('tag', t.key);
        tags[key] = checkValue('tag', key, t.value);
      }
      const m = await this.models.create({ experiment: exp.name, name, sourceRun, params, tags, modelType: typeof q.model_type === 'string' ? q.model_type : '' });
      return { model: this.modelJson(m) };
    });
    this.on('GET', 'logged-models/:id', async (q) => ({ model: this.modelJson(await this.model(q)) }));
    this.on('PATCH', 'logged-models/:id', async (q) => {
      const m0 = await this.model(q);
      const status = checkString('status', required(q, 'status'));
      if (!['LOGGED_MODEL_READY', 'LOGGED_MODEL_UPLOAD_FAILED', 'LOGGED_MODEL_PENDING'].includes(status)) throw invalid(`Invalid logged model status ${status}`);
      const m = await this.models.update(m0.id, async (x) => {
        const next = { ...x, status: status as LoggedModel['status'] };
        return status === 'LOGGED_MODEL_READY' ? this.finalizeModel(next) : next;
      });
      return { model: this.modelJson(m) };
    });
    this.on('PATCH', 'logged-models/:id/tags', async (q) => {
      const m0 = await this.model(q);
      const tags: Record<string, string> = {};
      for (const raw of checkArray('tags', q.tags)) {
        const t = checkObject('tags', raw);
        const key = checkKey('tag', t.key);
        tags[key] = checkValue('tag', key, t.value);
      }
      await this.models.update(m0.id, (x) => ({ ...x, tags: Object.assign(Object.create(null), x.tags, tags) }));
      return {};
    });
    this.on('DELETE', 'logged-models/:id/tags', async (q) => {
      const m0 = await this.model(q);
      const key = checkString('tag_key', required(q, 'tag_key'));
      await this.models.update(m0.id, (x) => {
        const tags = Object.assign(Object.create(null) as Record<string, string>, x.tags);
        delete tags[key];
        return { ...x, tags };
      });
      return {};
    });
    this.on('POST', 'logged-models/search', async (q) => {
      const expIds = new Set(checkArray('experiment_ids', q.experiment_ids).map(String));
      let list = (await this.models.list()).filter((m) => expIds.size === 0 || expIds.has(experimentIdFor(m.experiment)));
      if (q.filter) {
        const conds = checkString('filter', q.filter).split(/\s+AND\s+/i).map((c) => /^\s*(name|status|source_run_id|model_id)\s*(=|!=)\s*'([^']*)'\s*$/.exec(c));
        if (conds.some((c) => !c)) throw invalid(`Invalid logged model filter ${JSON.stringify(q.filter)}: supported are name, status, source_run_id, model_id with = or != and AND`);
        const field = (m: LoggedModel, f: string) => (f === 'name' ? m.name : f === 'status' ? m.status : f === 'model_id' ? m.id : m.sourceRun ?? '');
        list = list.filter((m) => conds.every((c) => (c![2] === '=') === (field(m, c![1]!) === c![3])));
      }
      list.sort((a, b) => b.created - a.created);
      const max = checkInt('max_results', q.max_results, 100);
      const offset = decodePageToken(q.page_token);
      const page = list.slice(offset, offset + max);
      if (!page.length) return {};
      return { models: page.map((m) => this.modelJson(m)), ...(offset + max < list.length ? { next_page_token: encodePageToken(offset + max) } : {}) };
    });

    // registry
    this.on('POST', 'registered-models/create', async (q) => {
      const name = checkString('name', required(q, 'name'), 256);
      const tags: Record<string, string> = {};
      for (const raw of checkArray('tags', q.tags)) {
        const t = checkObject('tags', raw);
        const key = checkKey('tag', t.key);
        tags[key] = checkValue('tag', key, t.value);
      }
      const m = await this.registry.create(name, { description: typeof q.description === 'string' ? q.description : '', tags });
      return { registered_model: this.registeredJson(m) };
    });
    this.on('GET', 'registered-models/get', async (q) => ({ registered_model: this.registeredJson(await this.regModel(q)) }));
    this.on('GET', 'registered-models/search', (q, req) => this.routes.get('POST registered-models/search')!(q, req));
    this.on('GET', 'model-versions/search', (q, req) => this.routes.get('POST model-versions/search')!(q, req));
    this.on('GET', 'experiments/search', (q, req) => this.routes.get('POST experiments/search')!(q, req));
    this.on('POST', 'registered-models/search', async (q) => {
      let list = await this.registry.list();
      if (q.filter) {
        const f = /^\s*name\s*(=|LIKE|ILIKE)\s*'([^']*)'\s*$/i.exec(checkString('filter', q.filter));
        if (!f) throw invalid(`Invalid registered model filter ${JSON.stringify(q.filter)}: supported is name = '…' or name LIKE '…'`);
        const re = new RegExp('^' + f[2]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*').replace(/_/g, '.') + '$', f[1]!.toUpperCase() === 'ILIKE' ? 'i' : '');
        list = list.filter((m) => (f[1] === '=' ? m.name === f[2] : re.test(m.name)));
      }
      const order = checkArray('order_by', q.order_by).map(String)[0];
      if (order && /last_updated_timestamp/i.test(order)) list.sort((a, b) => (/DESC/i.test(order) ? b.updated - a.updated : a.updated - b.updated));
      else if (order && /DESC/i.test(order)) list.reverse();
      const max = checkInt('max_results', q.max_results, 100);
      const offset = decodePageToken(q.page_token);
      const page = list.slice(offset, offset + max);
      return { registered_models: page.map((m) => this.registeredJson(m)), ...(offset + max < list.length ? { next_page_token: encodePageToken(offset + max) } : {}) };
    });
    this.on('POST', 'registered-models/alias', async (q) => {
      const m = await this.regModel(q);
      const v = this.version(m, required(q, 'version'));
      await this.registry.setAlias(m.name, checkString('alias', required(q, 'alias'), 255), v.version);
      return {};
    });
    this.on('DELETE', 'registered-models/alias', async (q) => {
      const m = await this.regModel(q);
      await this.registry.setAlias(m.name, checkString('alias', required(q, 'alias'), 255), null);
      return {};
    });
    this.on('GET', 'registered-models/alias', async (q) => {
      const m = await this.regModel(q);
      const alias = checkString('alias', required(q, 'alias'), 255);
      const v = m.aliases[alias];
      if (v === undefined) throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `Registered model alias ${alias} not found.`);
      return { model_version: this.versionJson(m, this.version(m, v)) };
    });
    this.on('POST', 'registered-models/set-tag', async (q) => {
      const m = await this.regModel(q);
      const key = checkKey('tag', q.key);
      const value = checkValue('tag', key, q.value);
      await this.registry.update(m.name, (x) => ({ ...x, tags: { ...x.tags, [key]: value } }));
      return {};
    });
    this.on('POST', 'model-versions/create', async (q) => {
      const m = await this.regModel(q);
      const source = checkString('source', required(q, 'source'), 4096);
      const runId = q.run_id ? (await this.loadRun({ run_id: q.run_id })).id : null;
      const pin = await this.pinSource(source, runId, typeof q.model_id === 'string' && q.model_id ? q.model_id : null);
      const tags: Record<string, string> = {};
      for (const raw of checkArray('tags', q.tags)) {
        const t = checkObject('tags', raw);
        const key = checkKey('tag', t.key);
        tags[key] = checkValue('tag', key, t.value);
      }
      const v = await this.registry.addVersion(m.name, { source, runId: pin.runId, modelId: pin.modelId, oid: pin.oid as ModelVersion['oid'], description: typeof q.description === 'string' ? q.description : '', tags });
      if (pin.modelId) {
        // As MLflow's server does: the logged model lists the versions made from it (Python's json.dumps spacing).
        await this.models.update(pin.modelId, (lm) => {
          let list: unknown[] = [];
          try {
            const old = JSON.parse(lm.tags['mlflow.modelVersions'] ?? '[]') as unknown;
            if (Array.isArray(old)) list = old;
          } catch {
            /* a damaged tag is replaced */
          }
          list.push({ name: m.name, version: v.version });
          const text = '[' + list.map((x) => {
            const o = x as { name?: unknown; version?: unknown };
            return `{"name": ${JSON.stringify(o.name)}, "version": ${JSON.stringify(o.version)}}`;
          }).join(', ') + ']';
          return { ...lm, tags: Object.assign(Object.create(null), lm.tags, { 'mlflow.modelVersions': text }) };
        });
      }
      return { model_version: this.versionJson(await this.registry.get(m.name), v) };
    });
    this.on('GET', 'model-versions/get', async (q) => {
      const m = await this.regModel(q);
      return { model_version: this.versionJson(m, this.version(m, required(q, 'version'))) };
    });
    this.on('GET', 'model-versions/get-download-uri', async (q) => {
      const m = await this.regModel(q);
      const v = this.version(m, required(q, 'version'));
      if (v.modelId) {
        const lm = await this.models.get(v.modelId).catch(() => null);
        if (lm) return { artifact_uri: `mlflow-artifacts:/${experimentIdFor(lm.experiment)}/models/${lm.id}/artifacts` };
      }
      const rm = /^runs:\/([0-9A-Za-z]{26})\/(.+)$/.exec(v.source);
      if (rm) {
        const rec = await this.loadRun({ run_id: rm[1] });
        return { artifact_uri: `mlflow-artifacts:/${experimentIdFor(rec.experiment)}/${rec.id}/artifacts/${rm[2]}` };
      }
      return { artifact_uri: v.source };
    });
    this.on('POST', 'model-versions/search', async (q) => {
      const all = await this.registry.list();
      let rows = all.flatMap((m) => m.versions.filter((v) => !v.deleted).map((v) => ({ m, v })));
      if (q.filter) {
        const conds = checkString('filter', q.filter).split(/\s+AND\s+/i).map((c) => /^\s*(name|run_id|source|version_number)\s*(=|!=)\s*'?([^']*)'?\s*$/.exec(c));
        if (conds.some((c) => !c)) throw invalid(`Invalid model version filter ${JSON.stringify(q.filter)}: supported are name, run_id, source, version_number with = or != and AND`);
        const field = (r: { m: RegisteredModel; v: ModelVersion }, f: string) => (f === 'name' ? r.m.name : f === 'run_id' ? r.v.runId ?? '' : f === 'source' ? r.v.source : String(r.v.version));
        rows = rows.filter((r) => conds.every((c) => (c![2] === '=') === (field(r, c![1]!) === c![3])));
      }
      rows.sort((a, b) => (a.m.name < b.m.name ? -1 : a.m.name > b.m.name ? 1 : b.v.version - a.v.version));
      const max = checkInt('max_results', q.max_results, 10_000);
      const offset = decodePageToken(q.page_token);
      const page = rows.slice(offset, offset + max);
      return { model_versions: page.map((r) => this.versionJson(r.m, r.v)), ...(offset + max < rows.length ? { next_page_token: encodePageToken(offset + max) } : {}) };
    });
  }
}

export function encodePageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64');
}

export function decodePageToken(t: unknown): number {
  if (t === undefined || t === null || t === '') return 0;
  try {
    const v = JSON.parse(Buffer.from(String(t), 'base64').toString('utf8')) as { offset?: unknown };
    if (typeof v.offset === 'number' && Number.isSafeInteger(v.offset) && v.offset >= 0) return v.offset;
  } catch {
    /* fall through */
  }
  throw invalid(`Invalid page token ${JSON.stringify(String(t)).slice(0, 60)}`);
}

const ADJ = ['amber', 'bold', 'calm', 'deft', 'eager', 'fleet', 'glad', 'keen', 'lucid', 'merry', 'noble', 'quiet', 'swift', 'tidy', 'vivid', 'wise'];
const NOUN = ['otter', 'finch', 'heron', 'lynx', 'marten', 'newt', 'owl', 'panda', 'quail', 'robin', 'seal', 'tern', 'vole', 'wren', 'yak', 'zebu'];
/** A run name like MLflow's (`lyrical-calf-6`) when the client gives none. */
function friendlyName(): string {
  const r = (n: number) => Math.floor(Math.random() * n);
  return `${ADJ[r(ADJ.length)]}-${NOUN[r(NOUN.length)]}-${r(1000)}`;
}
