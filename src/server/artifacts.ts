/**
 * MLflow's artifact proxy (`/api/2.0/mlflow-artifacts/artifacts/...`): upload (PUT), download (GET)
 * and listing (GET `artifacts?path=<dir>`), over cache objects.
 *
 * Paths: `<exp>/<run-id>/artifacts/<path>` (a run's artifacts, recorded as its outputs) and
 * `<exp>/models/<model-id>/artifacts/<path>` (a logged model's files). The raw request path is checked
 * before anything decodes it: a segment that decodes to `..` or `.`, or that holds an encoded `/` or
 * `\`, a NUL or a control character, is refused (400), as is a backslash anywhere. Nothing is ever
 * written to a path on disk: bytes go to a cache temp file and become an object named by their hash,
 * so no request can place a file outside the run's artifact area.
 */
import type http from 'node:http';
import { TroveError } from '../core/errors.js';
import type { Oid } from '../core/oid.js';
import { experimentIdFor } from '../core/runs/experiments.js';
import { MODEL_ID_RE, storeFilesAsTree } from '../core/runs/logged-models.js';
import { ULID_RE } from '../core/runs/record.js';
import { artifactOutputPath, artifactPathProblem, isDeleted, putStreamToCache } from '../core/runs/tracking.js';
import type { MlflowApi } from './mlflow-routes.js';
import { MlflowError, sendJson } from './mlflowError.js';

/** Decodes a raw URL path (no query) into segments, refusing anything that could change the path's meaning. */
export function safeSegments(rawPath: string): string[] {
  if (rawPath.includes('\\')) throw new MlflowError('INVALID_PARAMETER_VALUE', 'artifact path contains a backslash');
  const out: string[] = [];
  for (const raw of rawPath.split('/')) {
    if (raw === '') continue;
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      throw new MlflowError('INVALID_PARAMETER_VALUE', 'artifact path has a malformed percent-encoding');
    }
    // eslint-disable-next-line no-control-regex
    if (seg === '..' || seg === '.' || seg.includes('/') || seg.includes('\\') || /[\u0000-\u001f\u007f]/.test(seg)) {
      throw new MlflowError('INVALID_PARAMETER_VALUE', `artifact path segment ${JSON.stringify(raw).slice(0, 80)} is not allowed ('..', '.', encoded separators, NUL and control characters are refused)`);
    }
    out.push(seg);
  }
  return out;
}

type Target =
  | { kind: 'run'; exp: string; runId: string; path: string }
  | { kind: 'model'; exp: string; modelId: string; path: string };

function parseTarget(segs: string[]): Target {
  const [exp, second, third, fourth, ...rest] = segs;
  if (exp === undefined || second === undefined) throw new MlflowError('RESOURCE_DOES_NOT_EXIST', 'artifact path must be <experiment>/<run>/artifacts/…');
  if (second === 'models' && third && MODEL_ID_RE.test(third) && fourth === 'artifacts') {
    return { kind: 'model', exp, modelId: third, path: rest.join('/') };
  }
  const runId = second.toUpperCase();
  if (ULID_RE.test(runId) && third === 'artifacts') return { kind: 'run', exp, runId, path: [fourth, ...rest].filter((s) => s !== undefined).join('/') };
  throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `no artifact area at ${segs.slice(0, 4).join('/')}`);
}

function checkPath(p: string): void {
  const problem = artifactPathProblem(p);
  if (problem) throw new MlflowError('INVALID_PARAMETER_VALUE', `artifact path ${JSON.stringify(p).slice(0, 200)} ${problem}`);
}

/** The files of an artifact area: path (relative to the area) → oid and size. */
async function areaFiles(api: MlflowApi, t: Target): Promise<Map<string, { oid: string; size: number }>> {
  const files = new Map<string, { oid: string; size: number }>();
  if (t.kind === 'model') {
    const m = await api.models.get(t.modelId).catch((err) => {
      if (err instanceof TroveError && err.code === 'NOT_FOUND') throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `Logged model with ID '${t.modelId}' not found.`);
      throw err;
    });
    if (experimentIdFor(m.experiment) !== t.exp) throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `model ${t.modelId} is not in experiment ${t.exp}`);
    for (const [p, f] of Object.entries(m.files)) files.set(p, f);
    return files;
  }
  const rec = await runOf(api, t);
  const prefix = artifactOutputPath(rec.id, '') + '/';
  for (const o of rec.outputs) {
    if (o.path.startsWith(prefix) && o.oid && o.type === 'file') files.set(o.path.slice(prefix.length), { oid: o.oid, size: o.size ?? 0 });
  }
  return files;
}

async function runOf(api: MlflowApi, t: Extract<Target, { kind: 'run' }>) {
  let rec;
  try {
    rec = await api.tracking.get(t.runId);
  } catch (err) {
    if (err instanceof TroveError && err.code === 'NOT_FOUND') throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `Run with id=${t.runId} not found`);
    throw err;
  }
  if (experimentIdFor(rec.experiment) !== t.exp) throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `run ${rec.id} is not in experiment ${t.exp}`);
  return rec;
}

/** `rest`: the path after `/api/2.0/mlflow-artifacts/`. */
export async function artifactRoute(api: MlflowApi, req: http.IncomingMessage, res: http.ServerResponse, url: URL, rest: string): Promise<void> {
  const method = req.method ?? 'GET';
  if (rest === 'artifacts' || rest === 'artifacts/') {
    req.resume();
    if (method !== 'GET') throw new MlflowError('ENDPOINT_NOT_FOUND', `${method} is not supported on the artifact listing`);
    return list(api, res, url.searchParams.get('path') ?? '');
  }
  // Check the raw path: the URL parser has already folded `..` and `%2e%2e` out of url.pathname.
  const raw = (req.url ?? '').split('?')[0]!;
  const at = raw.indexOf('/mlflow-artifacts/artifacts/');
  if (at < 0) throw new MlflowError('ENDPOINT_NOT_FOUND', `unsupported artifact endpoint ${url.pathname}`);
  const segs = safeSegments(raw.slice(at + '/mlflow-artifacts/artifacts/'.length));
  const t = parseTarget(segs);
  checkPath(t.path);
  if (method === 'PUT') return put(api, req, res, t);
  req.resume();
  if (method === 'GET') return get(api, res, t);
  throw new MlflowError('ENDPOINT_NOT_FOUND', `${method} is not supported on artifacts`);
}

async function put(api: MlflowApi, req: http.IncomingMessage, res: http.ServerResponse, t: Target): Promise<void> {
  if (t.path === '') throw new MlflowError('INVALID_PARAMETER_VALUE', 'artifact path is empty');
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > api.o.maxArtifactBytes) throw new MlflowError('INVALID_PARAMETER_VALUE', `artifact is larger than the limit of ${api.o.maxArtifactBytes} bytes`);
  if (t.kind === 'run') {
    const rec = await runOf(api, t);
    if (isDeleted(rec)) throw new MlflowError('INVALID_PARAMETER_VALUE', `The run ${rec.id} must be in the 'active' state. Current state is deleted.`);
    await api.tracking.putArtifact(rec.id, t.path, req, api.o.maxArtifactBytes);
  } else {
    await areaFiles(api, t); // exists, right experiment
    const { oid, size } = await putStreamToCache(api.repo, req, api.o.maxArtifactBytes);
    await api.models.update(t.modelId, async (m) => {
      for (const p of Object.keys(m.files)) {
        if (p.startsWith(`${t.path}/`) || t.path.startsWith(`${p}/`)) throw new MlflowError('INVALID_PARAMETER_VALUE', `artifact ${t.path} collides with ${p} (a file and a folder of one name)`);
      }
      const files = Object.assign(Object.create(null), m.files, { [t.path]: { oid, size } });
      const next = { ...m, files };
      // A READY model that gets another file gets a new tree (MLflow allows late uploads).
      if (m.status === 'LOGGED_MODEL_READY') next.tree = await storeFilesAsTree(api.repo, files);
      return next;
    });
  }
  sendJson(res, 200, {});
}

async function get(api: MlflowApi, res: http.ServerResponse, t: Target): Promise<void> {
  const f = (await areaFiles(api, t)).get(t.path);
  if (!f) throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `artifact ${t.path} not found`);
  if (!(await api.repo.cache.has(f.oid as Oid, 'blob'))) {
    // A run pulled from a teammate: its artifacts are on the default remote (pushed with the run);
    // fetch this one object (verified on arrival) before answering.
    const { fetchForPointers } = await import('../core/transfer.js');
    await fetchForPointers(api.repo, [{ path: t.path, pointer: { oid: f.oid as Oid, type: 'file' } }]).catch(() => null);
    if (!(await api.repo.cache.has(f.oid as Oid, 'blob'))) {
      throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `artifact ${t.path} (${f.oid}) is not in this cache, and no default remote has it`);
    }
  }
  const type = /\.(json)$/.test(t.path) ? 'application/json' : /\.(txt|yaml|yml|md|csv|py)$|(^|\/)MLmodel$/.test(t.path) ? 'text/plain' : 'application/octet-stream';
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': f.size });
  const stream = await api.repo.cache.open(f.oid as Oid, 'blob', `artifact ${t.path}`);
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject);
    res.on('close', resolve);
    stream.pipe(res);
  }).catch(() => res.destroy());
}

async function list(api: MlflowApi, res: http.ServerResponse, rawPath: string): Promise<void> {
  const segs = rawPath.split('/').filter((s) => s !== '');
  for (const s of segs) {
    // eslint-disable-next-line no-control-regex
    if (s === '..' || s === '.' || s.includes('\\') || /[\u0000-\u001f\u007f]/.test(s)) throw new MlflowError('INVALID_PARAMETER_VALUE', `artifact path ${JSON.stringify(rawPath).slice(0, 200)} is not allowed`);
  }
  const t = parseTarget(segs);
  checkPath(t.path);
  const files = await areaFiles(api, t);
  const dir = t.path;
  const children = new Map<string, { is_dir: boolean; file_size?: number }>();
  for (const [p, f] of files) {
    if (dir && !p.startsWith(`${dir}/`)) continue;
    const rel = dir ? p.slice(dir.length + 1) : p;
    const slash = rel.indexOf('/');
    if (slash < 0) children.set(rel, { is_dir: false, file_size: f.size });
    else children.set(rel.slice(0, slash), { is_dir: true });
  }
  const names = [...children.keys()].sort();
  if (!names.length) return sendJson(res, 200, {});
  sendJson(res, 200, { files: names.map((n) => ({ path: n, ...children.get(n)! })) });
}
