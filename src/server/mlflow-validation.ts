/**
 * MLflow's request validation rules, as its server applies them (learned from mlflow/utils/validation.py;
 * written here from the rules, not copied): key names and lengths, value lengths, log-batch limits,
 * and typed fields. Every failure is `INVALID_PARAMETER_VALUE` (HTTP 400) naming the field.
 */
import { MlflowError } from './mlflowError.js';

export const LIMITS = Object.freeze({
  keyLength: 250,
  paramValue: 6000,
  tagValue: 8000,
  metricsPerBatch: 1000,
  paramsTagsPerBatch: 100,
  entitiesPerBatch: 1000,
  maxResults: 50_000,
  runName: 250,
  experimentName: 500,
});

/** Alphanumerics, `_`, `-`, `.`, space, `:` and `/`. */
const KEY_RE = /^[/\w.\- :]+$/;

export function invalid(message: string): MlflowError {
  return new MlflowError('INVALID_PARAMETER_VALUE', message);
}

export function required<T>(body: Record<string, unknown>, field: string): T {
  const v = body[field];
  if (v === undefined || v === null || v === '') throw invalid(`Missing value for required parameter '${field}'. See the API docs for more information about request parameters.`);
  return v as T;
}

/** A param, metric or tag key: MLflow's character set, length, and "must not resolve to another name as a path". */
export function checkKey(kind: 'param' | 'metric' | 'tag', key: unknown): string {
  if (typeof key !== 'string' || key === '') throw invalid(`Invalid ${kind} name: '${String(key)}'. Names must be non-empty strings.`);
  if (!KEY_RE.test(key)) {
    throw invalid(`Invalid ${kind} name: '${key.slice(0, 300)}'. Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/).`);
  }
  if (key.length > LIMITS.keyLength) throw invalid(`${kind} name '${key.slice(0, 50)}…' had length ${key.length}, which exceeded length limit of ${LIMITS.keyLength}`);
  const segs = key.split('/');
  if (key.startsWith('/') || segs.some((s) => s === '..' || s === '.' || s === '') ) {
    throw invalid(`Invalid ${kind} name: '${key}'. Names may be treated as files in certain cases, and must not resolve to other names when treated as such.`);
  }
  if (key === '__proto__') throw invalid(`Invalid ${kind} name: '__proto__'.`);
  return key;
}

export function checkValue(kind: 'param' | 'tag', key: string, value: unknown): string {
  if (value === undefined || value === null) value = '';
  if (typeof value === 'number' || typeof value === 'boolean') value = String(value);
  if (typeof value !== 'string') throw invalid(`${kind} '${key}' value must be a string, got ${typeof value}`);
  const max = kind === 'param' ? LIMITS.paramValue : LIMITS.tagValue;
  if (value.length > max) throw invalid(`${kind} '${key}' had length ${value.length}, which exceeded length limit of ${max}`);
  return value;
}

/** A metric value: a finite JSON number (trove's records keep no NaN/Infinity; MLflow's client sends finite values). */
export function checkMetricValue(key: string, value: unknown): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) {
    throw invalid(`Got invalid value ${JSON.stringify(value)} for metric '${key}' (timestamp=…). Please specify value as a finite number.`);
  }
  return n;
}

export function checkInt(field: string, value: unknown, dflt: number): number {
  if (value === undefined || value === null) return dflt;
  const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw invalid(`Invalid value ${JSON.stringify(value)} for parameter '${field}' supplied: must be an integer`);
  return n;
}

export function checkString(field: string, value: unknown, max = 100_000): string {
  if (typeof value !== 'string') throw invalid(`Invalid value ${JSON.stringify(value)?.slice(0, 100)} for parameter '${field}' supplied: must be a string`);
  if (value.length > max) throw invalid(`parameter '${field}' is longer than ${max} characters`);
  return value;
}

export function checkArray(field: string, value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(`Invalid value for parameter '${field}' supplied: must be a list`);
  return value;
}

export function checkObject(field: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`Invalid value for parameter '${field}': must be an object`);
  return value as Record<string, unknown>;
}

export function checkBatchSizes(metrics: unknown[], params: unknown[], tags: unknown[]): void {
  if (metrics.length > LIMITS.metricsPerBatch) throw invalid(`A batch logging request can contain at most ${LIMITS.metricsPerBatch} metrics. Got ${metrics.length} metrics.`);
  if (params.length > LIMITS.paramsTagsPerBatch) throw invalid(`A batch logging request can contain at most ${LIMITS.paramsTagsPerBatch} params. Got ${params.length} params.`);
  if (tags.length > LIMITS.paramsTagsPerBatch) throw invalid(`A batch logging request can contain at most ${LIMITS.paramsTagsPerBatch} tags. Got ${tags.length} tags.`);
  const total = metrics.length + params.length + tags.length;
  if (total > LIMITS.entitiesPerBatch) throw invalid(`A batch logging request can contain at most ${LIMITS.entitiesPerBatch} total metrics, params and tags. Got ${total}.`);
}
