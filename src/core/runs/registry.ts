/**
 * The model registry (`.trove/runs/registry/<key>.json`, one file per registered model; `<key>` is
 * the first 32 hex digits of the SHA-256 of its name, so any name is a safe file name).
 *
 * A version is numbered (1, 2, …), pinned to the run that made it and to the artifact's oid (the
 * logged model's tree), so `models:/name/3` names exact bytes forever. Aliases point at versions;
 * every move is appended to `aliasHistory`, so "which version was `champion` on 1 March" is
 * `aliasAt(model, 'champion', Date.parse('2026-03-01'))`.
 *
 * Format, version 1 (temp + fsync + rename under a per-name lock; validated when read):
 * `{"schema":1,"name":"iris","created":ms,"updated":ms,"description":"","tags":{},
 *   "versions":[{"version":1,"created":ms,"updated":ms,"source":"models:/m-…","runId":"<ulid>|null",
 *                "modelId":"m-…|null","oid":"sha256:…|null","description":"","tags":{},"deleted":false}],
 *   "aliases":{"champion":1},"aliasHistory":[{"alias":"champion","version":1,"at":ms}]}`
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../atomicWrite.js';
import { TroveError, isErrno } from '../errors.js';
import { parseJsonRecord } from './jsonRecord.js';
import { RUN_LIMITS, ULID_RE } from './record.js';
import { KeyedLock } from './tracking.js';

export const REGISTRY_SCHEMA_VERSION = 1;

const key = z.string().min(1).max(RUN_LIMITS.keyLength).refine((k) => k !== '__proto__', 'key __proto__ is not allowed');
const tags = z.record(key, z.string().max(RUN_LIMITS.tagValue));
const ms = z.number().int().nonnegative();
/** MLflow refuses alias names like `v1` or `latest` (they read as version references). */
export const ALIAS_RE = /^[\w-]{1,255}$/;

const VersionSchema = z.strictObject({
  version: z.number().int().positive(),
  created: ms,
  updated: ms,
  source: z.string().max(RUN_LIMITS.path),
  runId: z.string().regex(ULID_RE).nullable(),
  modelId: z.string().regex(/^m-[0-9a-f]{32}$/).nullable(),
  oid: z.string().regex(/^sha256:[0-9a-f]{64}$/).nullable(),
  description: z.string().max(RUN_LIMITS.tagValue),
  tags,
  deleted: z.boolean(),
});

const RegisteredModelSchema = z.strictObject({
  schema: z.literal(REGISTRY_SCHEMA_VERSION),
  name: z.string().min(1).max(256),
  created: ms,
  updated: ms,
  description: z.string().max(RUN_LIMITS.tagValue),
  tags,
  versions: z.array(VersionSchema).max(100_000),
  aliases: z.record(z.string().regex(ALIAS_RE), z.number().int().positive()),
  aliasHistory: z.array(z.strictObject({ alias: z.string().regex(ALIAS_RE), version: z.number().int().positive().nullable(), at: ms })).max(1_000_000),
});
export type RegisteredModel = z.infer<typeof RegisteredModelSchema>;
export type ModelVersion = z.infer<typeof VersionSchema>;

export function registryKey(name: string): string {
  return createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 32);
}

/** Why a registered model name is refused, or null (MLflow: non-empty; trove also refuses control characters and `/`). */
export function modelNameProblem(name: unknown): string | null {
  if (typeof name !== 'string' || name === '') return 'must be a non-empty string';
  if (name.length > 256) return 'is longer than 256 characters';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'contains a control character';
  if (name.includes('/') || name.includes('@') || name.includes(':')) return "contains '/', '@' or ':', which model URIs use as separators";
  return null;
}

export function aliasProblem(alias: unknown): string | null {
  if (typeof alias !== 'string' || !ALIAS_RE.test(alias)) return 'must be 1-255 letters, digits, _ or -';
  if (/^v\d+$/i.test(alias) || alias.toLowerCase() === 'latest') return "is reserved ('latest' and 'v<number>' name versions)";
  return null;
}

export function parseRegisteredModel(text: string, source: string): RegisteredModel {
  const m = parseJsonRecord(RegisteredModelSchema, text, source, '.trove/runs/registry/');
  if (source.endsWith('.json') && path.basename(source) !== `${registryKey(m.name)}.json`) throw new TroveError('BAD_RUN', `${source}: file name does not match model ${JSON.stringify(m.name)}`);
  m.versions.forEach((v, i) => {
    if (v.version !== i + 1) throw new TroveError('BAD_RUN', `${source}: field versions[${i}].version is ${v.version}, expected ${i + 1}`);
  });
  for (const [a, v] of Object.entries(m.aliases)) {
    if (v > m.versions.length) throw new TroveError('BAD_RUN', `${source}: alias ${a} names version ${v}, which does not exist`);
  }
  return m;
}

export function serializeRegisteredModel(m: RegisteredModel): string {
  const sorted = <T>(o: Record<string, T>) => Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
  return JSON.stringify({
    schema: m.schema, name: m.name, created: m.created, updated: m.updated, description: m.description, tags: sorted(m.tags),
    versions: m.versions.map((v) => ({ ...v, tags: sorted(v.tags) })), aliases: sorted(m.aliases), aliasHistory: m.aliasHistory,
  }, null, 2) + '\n';
}

/** The version `alias` pointed at, at time `at` (ms), from the alias history; null when none. */
export function aliasAt(m: RegisteredModel, alias: string, at: number): number | null {
  let v: number | null = null;
  for (const h of m.aliasHistory) {
    if (h.at > at) break;
    if (h.alias === alias) v = h.version;
  }
  return v;
}

export class Registry {
  readonly lock = new KeyedLock();
  constructor(readonly dir: string) {}

  private file(name: string): string {
    return path.join(this.dir, `${registryKey(name)}.json`);
  }

  async find(name: string): Promise<RegisteredModel | null> {
    let text: string;
    try {
      text = await fsp.readFile(this.file(name), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return null;
      throw err;
    }
    const m = parseRegisteredModel(text, `.trove/runs/registry/${registryKey(name)}.json`);
    return m.name === name ? m : null;
  }

  async get(name: string): Promise<RegisteredModel> {
    const m = await this.find(name);
    if (!m) throw new TroveError('NOT_FOUND', `Registered Model with name=${name} not found`, 'see `trove models list`');
    return m;
  }

  async list(): Promise<RegisteredModel[]> {
    let names: string[] = [];
    try {
      names = (await fsp.readdir(this.dir)).filter((n) => /^[0-9a-f]{32}\.json$/.test(n));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    const out: RegisteredModel[] = [];
    for (const n of names) {
      try {
        out.push(parseRegisteredModel(await fsp.readFile(path.join(this.dir, n), 'utf8'), `.trove/runs/registry/${n}`));
      } catch {
        /* a damaged file is left out of listings; `get` reports it by name */
      }
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private async write(m: RegisteredModel): Promise<void> {
    const text = serializeRegisteredModel(m);
    parseRegisteredModel(text, `${registryKey(m.name)}.json`);
    await fsp.mkdir(this.dir, { recursive: true });
    await writeFileAtomic(this.file(m.name), text);
  }

  /** Creates a registered model; ALREADY_EXISTS (as BAD_ARGS with data.exists) when there is one. */
  async create(name: string, o: { description?: string; tags?: Record<string, string> } = {}): Promise<RegisteredModel> {
    const problem = modelNameProblem(name);
    if (problem) throw new TroveError('BAD_ARGS', `registered model name ${problem}`);
    return this.lock.with(name, async () => {
      if (await this.find(name)) throw new TroveError('BAD_ARGS', `Registered Model (name=${name}) already exists.`, undefined, { data: { exists: true } });
      const now = Date.now();
      const m: RegisteredModel = { schema: REGISTRY_SCHEMA_VERSION, name, created: now, updated: now, description: o.description ?? '', tags: o.tags ?? {}, versions: [], aliases: {}, aliasHistory: [] };
      await this.write(m);
      return m;
    });
  }

  /** Writes a registered model made elsewhere (import) unless one of that name exists; returns whether it wrote. */
  async importModel(m: RegisteredModel): Promise<boolean> {
    return this.lock.with(m.name, async () => {
      if (await this.find(m.name)) return false;
      await this.write(m);
      return true;
    });
  }

  /** Changes a registered model under its lock. */
  async update(name: string, change: (m: RegisteredModel, now: number) => RegisteredModel): Promise<RegisteredModel> {
    return this.lock.with(name, async () => {
      const now = Date.now();
      const next = change(await this.get(name), now);
      next.updated = now;
      await this.write(next);
      return next;
    });
  }

  async addVersion(name: string, v: Pick<ModelVersion, 'source' | 'runId' | 'modelId' | 'oid'> & { description?: string; tags?: Record<string, string> }): Promise<ModelVersion> {
    const m = await this.update(name, (m, now) => ({
      ...m,
      versions: [...m.versions, { version: m.versions.length + 1, created: now, updated: now, source: v.source, runId: v.runId, modelId: v.modelId, oid: v.oid, description: v.description ?? '', tags: v.tags ?? {}, deleted: false }],
    }));
    return m.versions[m.versions.length - 1]!;
  }

  /** Points `alias` at `version` (or removes it with null), keeping the move in the history. */
  async setAlias(name: string, alias: string, version: number | null): Promise<RegisteredModel> {
    const problem = aliasProblem(alias);
    if (problem) throw new TroveError('BAD_ARGS', `alias ${JSON.stringify(alias).slice(0, 60)} ${problem}`);
    return this.update(name, (m, now) => {
      if (version !== null && !m.versions[version - 1]) throw new TroveError('NOT_FOUND', `Model Version (name=${name}, version=${version}) not found`);
      const aliases = { ...m.aliases };
      if (version === null) {
        if (!(alias in aliases)) throw new TroveError('NOT_FOUND', `alias ${alias} of ${name} not found`);
        delete aliases[alias];
      } else aliases[alias] = version;
      return { ...m, aliases, aliasHistory: [...m.aliasHistory, { alias, version, at: now }] };
    });
  }
}

/** What a new version is made from: a logged model, or an output of a run (a path among its outputs). */
export type VersionSource = { model: string } | { run: string; path?: string };

/**
 * Registers a new version of `name` (creating the registered model when needed), pinned to the run
 * and the artifact's oid. From a run without `path`: its only logged model, or its only model-like
 * output. The version's `source` is the URI MLflow clients load (`models:/m-…` or `runs:/<id>/<path>`).
 * @example await registerVersion(repo, 'iris', { run: '01JD3Z8Q' })
 */
export async function registerVersion(repo: import('../context.js').RepoContext, name: string, src: VersionSource): Promise<{ model: RegisteredModel; version: ModelVersion }> {
  const problem = modelNameProblem(name);
  if (problem) throw new TroveError('BAD_ARGS', `registered model name ${problem}`);
  const store = await repo.runStore();
  const { LoggedModelStore } = await import('./logged-models.js');
  const models = new LoggedModelStore(path.join(store.dir, 'models'));
  const registry = new Registry(path.join(store.dir, 'registry'));
  let pin: Pick<ModelVersion, 'source' | 'runId' | 'modelId' | 'oid'>;
  if ('model' in src) {
    const m = await models.get(src.model);
    if (!m.tree) throw new TroveError('BAD_ARGS', `logged model ${m.id} is ${m.status} with no files yet`, 'register it once it is READY');
    pin = { source: `models:/${m.id}`, runId: m.sourceRun, modelId: m.id, oid: m.tree.oid as ModelVersion['oid'] };
  } else {
    const { record } = await store.read(src.run);
    let out = src.path === undefined ? undefined : record.outputs.find((o) => o.path === src.path || o.path === `mlflow-artifacts/${record.id}/${src.path}`);
    if (src.path === undefined) {
      const candidates = record.outputs.filter((o) => o.oid && o.path.startsWith('mlflow-models/'));
      const all = candidates.length ? candidates : record.outputs.filter((o) => o.oid);
      if (all.length !== 1) {
        throw new TroveError('BAD_ARGS', `run ${record.id} has ${all.length} outputs that could be the model`, `name one with --path (see \`trove runs show ${record.id}\`)`);
      }
      out = all[0];
    }
    if (!out || !out.oid) throw new TroveError('NOT_FOUND', `run ${record.id} has no output ${src.path}`, `see \`trove runs show ${record.id}\``);
    const modelId = out.path.startsWith('mlflow-models/') ? out.path.slice('mlflow-models/'.length) : null;
    const art = out.path.startsWith(`mlflow-artifacts/${record.id}/`) ? out.path.slice(`mlflow-artifacts/${record.id}/`.length) : out.path;
    pin = { source: modelId ? `models:/${modelId}` : `runs:/${record.id}/${art}`, runId: record.id, modelId, oid: out.oid as ModelVersion['oid'] };
  }
  if (!(await registry.find(name))) {
    try {
      await registry.create(name);
    } catch (err) {
      if (!(err instanceof TroveError && err.data?.exists)) throw err;
    }
  }
  const version = await registry.addVersion(name, pin);
  return { model: await registry.get(name), version };
}
