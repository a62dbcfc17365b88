/**
 * MLflow 3 logged models (`.trove/runs/models/<model-id>.json`): a model folder logged by a run,
 * created PENDING, filled by artifact uploads, then READY. Its files are cache objects; when it becomes
 * READY the folder is stored as a trove tree and recorded as an output of its source run
 * (`mlflow-models/<model-id>`, type dir, the tree's oid), so it is pushed, pulled, kept by gc and
 * restored by `checkout --run` like any tracked folder, and shared between runs that log the same bytes.
 *
 * Format, version 1 (temp + fsync + rename under a per-model lock; validated when read):
 * `{"schema":1,"id":"m-<32 hex>","experiment":"iris","name":"model","sourceRun":"<run id>|null",
 *   "status":"LOGGED_MODEL_PENDING","created":ms,"updated":ms,"modelType":"","params":{},"tags":{},
 *   "metrics":[{key,value,step,ts,runId}],"files":{"MLmodel":{"oid":"sha256:…","size":12}},"tree":null}`
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../atomicWrite.js';
import { TroveError, isErrno } from '../errors.js';
import { parseJsonRecord } from './jsonRecord.js';
import type { Oid } from '../oid.js';
import type { RepoContext } from '../context.js';
import { serializeTree, type TreeEntry } from '../tree.js';
import { RUN_LIMITS, ULID_RE, runPathProblem } from './record.js';
import { KeyedLock } from './tracking.js';

export const LOGGED_MODEL_SCHEMA_VERSION = 1;
export const MODEL_ID_RE = /^m-[0-9a-f]{32}$/;
export const MODEL_OUTPUT_PREFIX = 'mlflow-models';

const key = z.string().min(1).max(RUN_LIMITS.keyLength).refine((k) => k !== '__proto__', 'key __proto__ is not allowed');
const oid = z.string().regex(/^sha256:[0-9a-f]{64}$/);
const relPath = z.string().refine((p) => runPathProblem(p) === null, 'must be a relative, normalized path');

const LoggedModelSchema = z.strictObject({
  schema: z.literal(LOGGED_MODEL_SCHEMA_VERSION),
  id: z.string().regex(MODEL_ID_RE),
  experiment: z.string().min(1).max(RUN_LIMITS.text),
  name: z.string().max(RUN_LIMITS.text),
  sourceRun: z.string().regex(ULID_RE).nullable(),
  status: z.enum(['LOGGED_MODEL_PENDING', 'LOGGED_MODEL_READY', 'LOGGED_MODEL_UPLOAD_FAILED']),
  created: z.number().int().nonnegative(),
  updated: z.number().int().nonnegative(),
  modelType: z.string().max(RUN_LIMITS.text),
  params: z.record(key, z.string().max(RUN_LIMITS.paramValue)),
  tags: z.record(key, z.string().max(RUN_LIMITS.tagValue)),
  metrics: z.array(z.strictObject({ key, value: z.number(), step: z.number().int(), ts: z.number().int().nonnegative(), runId: z.string().regex(ULID_RE).nullable() })).max(RUN_LIMITS.metricPoints),
  files: z.record(relPath, z.strictObject({ oid, size: z.number().int().nonnegative() })),
  tree: z.strictObject({ oid, size: z.number().int().nonnegative(), files: z.number().int().nonnegative() }).nullable(),
});
export type LoggedModel = z.infer<typeof LoggedModelSchema>;

const nullProto = <T>(o: Record<string, T>) => Object.assign(Object.create(null) as Record<string, T>, o);

export function parseLoggedModel(text: string, source: string): LoggedModel {
  const m = parseJsonRecord(LoggedModelSchema, text, source, '.trove/runs/models/', (raw) => {
    if (typeof raw === 'object' && raw !== null) {
      for (const f of ['params', 'tags', 'files']) {
        const v = (raw as Record<string, unknown>)[f];
        if (v && typeof v === 'object' && Object.hasOwn(v, '__proto__')) throw new TroveError('BAD_RUN', `${source}: field ${f}.__proto__ is not allowed`);
      }
    }
  });
  if (source.endsWith('.json') && path.basename(source) !== `${m.id}.json`) throw new TroveError('BAD_RUN', `${source}: file name does not match id ${m.id}`);
  return { ...m, params: nullProto(m.params), tags: nullProto(m.tags), files: nullProto(m.files) };
}

const sorted = <T>(o: Record<string, T>) => Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));

export function serializeLoggedModel(m: LoggedModel): string {
  return JSON.stringify({
    schema: m.schema, id: m.id, experiment: m.experiment, name: m.name, sourceRun: m.sourceRun, status: m.status,
    created: m.created, updated: m.updated, modelType: m.modelType, params: sorted(m.params), tags: sorted(m.tags),
    metrics: m.metrics, files: sorted(m.files), tree: m.tree,
  }, null, 2) + '\n';
}

/**
 * Builds the trove tree objects for a flat `{path: {oid, size}}` map, bottom-up, and stores them in the
 * cache. Returns the root tree's oid, total size and file count.
 */
export async function storeFilesAsTree(repo: RepoContext, files: Record<string, { oid: string; size: number }>): Promise<{ oid: Oid; size: number; files: number }> {
  interface Dir { dirs: Map<string, Dir>; files: Map<string, { oid: string; size: number }> }
  const root: Dir = { dirs: new Map(), files: new Map() };
  for (const [p, f] of Object.entries(files)) {
    const segs = p.split('/');
    let d = root;
    for (const s of segs.slice(0, -1)) {
      let next = d.dirs.get(s);
      if (!next) d.dirs.set(s, (next = { dirs: new Map(), files: new Map() }));
      d = next;
    }
    d.files.set(segs[segs.length - 1]!, f);
  }
  const store = async (d: Dir): Promise<{ oid: Oid; size: number; files: number }> => {
    const entries: TreeEntry[] = [];
    let size = 0;
    let count = 0;
    for (const [name, sub] of d.dirs) {
      if (d.files.has(name)) throw new TroveError('BAD_ARGS', `model path ${name} is both a file and a folder`);
      const t = await store(sub);
      entries.push({ name, type: 'dir', oid: t.oid, size: t.size, files: t.files });
      size += t.size;
      count += t.files;
    }
    for (const [name, f] of d.files) {
      entries.push({ name, type: 'file', oid: f.oid as Oid, size: f.size });
      size += f.size;
      count++;
    }
    return { oid: await repo.cache.putBytes(serializeTree(entries), 'tree'), size, files: count };
  };
  const tree = await store(root);
  await repo.cache.syncToDisk(); // visible to other processes (packs) and durable before a record names it
  return tree;
}

export class LoggedModelStore {
  readonly lock = new KeyedLock();
  constructor(readonly dir: string) {}

  static newId(): string {
    return `m-${randomBytes(16).toString('hex')}`;
  }

  file(id: string): string {
    if (!MODEL_ID_RE.test(id)) throw new TroveError('NOT_FOUND', `no logged model ${JSON.stringify(id).slice(0, 60)}`);
    return path.join(this.dir, `${id}.json`);
  }

  async get(id: string): Promise<LoggedModel> {
    let text: string;
    try {
      text = await fsp.readFile(this.file(id), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new TroveError('NOT_FOUND', `Logged model with ID '${id}' not found`);
      throw err;
    }
    return parseLoggedModel(text, `.trove/runs/models/${id}.json`);
  }

  async write(m: LoggedModel): Promise<void> {
    const text = serializeLoggedModel(m);
    parseLoggedModel(text, `${m.id}.json`);
    await fsp.mkdir(this.dir, { recursive: true });
    await writeFileAtomic(this.file(m.id), text);
  }

  async create(init: Pick<LoggedModel, 'experiment' | 'name' | 'sourceRun'> & Partial<Pick<LoggedModel, 'params' | 'tags' | 'modelType'>>): Promise<LoggedModel> {
    const now = Date.now();
    const m: LoggedModel = {
      schema: LOGGED_MODEL_SCHEMA_VERSION, id: LoggedModelStore.newId(), experiment: init.experiment, name: init.name,
      sourceRun: init.sourceRun, status: 'LOGGED_MODEL_PENDING', created: now, updated: now, modelType: init.modelType ?? '',
      params: nullProto(init.params ?? {}), tags: nullProto(init.tags ?? {}), metrics: [], files: nullProto({}), tree: null,
    };
    await this.write(m);
    return m;
  }

  /** Changes a model under its lock; `change` returns the new model. */
  async update(id: string, change: (m: LoggedModel) => LoggedModel | Promise<LoggedModel>): Promise<LoggedModel> {
    return this.lock.with(id, async () => {
      const next = await change(await this.get(id));
      await this.write({ ...next, updated: Math.max(Date.now(), next.updated) });
      return this.get(id);
    });
  }

  async list(): Promise<LoggedModel[]> {
    let names: string[] = [];
    try {
      names = (await fsp.readdir(this.dir)).filter((n) => /^m-[0-9a-f]{32}\.json$/.test(n));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    const out: LoggedModel[] = [];
    for (const n of names.sort()) {
      try {
        out.push(parseLoggedModel(await fsp.readFile(path.join(this.dir, n), 'utf8'), `.trove/runs/models/${n}`));
      } catch {
        /* a damaged model file is left out of listings; `get` reports it by name */
      }
    }
    return out;
  }
}
