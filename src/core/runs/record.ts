/**
 * The run record format (`runs/<id>.json`) and its events file (`runs/<id>.events.jsonl`).
 *
 * This module owns the format: everything else reads and writes run records through
 * `parseRunRecord`, `serializeRunRecord` and `applyEvents`. A record may come from a teammate's
 * remote, so parsing treats it as hostile: every path, oid, id, number and size is checked, and a
 * failure is a `TroveError('BAD_RUN')` that names the source file and the field.
 *
 * Limits (a record over any of them is rejected; an event that would cross one is skipped):
 * | what                                   | limit       | why |
 * |----------------------------------------|-------------|-----|
 * | record text                            | 256 MiB     | 1,000,000 metric points at ~60 bytes plus headroom |
 * | inputs, outputs (each)                 | 100,000     | a run over 100k separately tracked paths is a bug; a folder is one entry |
 * | metric points (all metrics together)   | 1,000,000   | a step-per-batch loop for a long training run; beyond that, log less often |
 * | distinct params, metrics, tags (each)  | 10,000      | far above MLflow's per-batch limits; keeps `runs list` tables sane |
 * | key length (param, metric, tag)        | 250 chars   | MLflow's key limit |
 * | param value                            | 6,000 chars | MLflow's param value limit |
 * | tag value                              | 8,000 chars | MLflow's tag value limit |
 * | name, experiment, user, host, branch   | 1,000 chars | |
 * | path                                   | 4,096 chars | PATH_MAX |
 * | command                                | 10,000 args, 1 MiB each | |
 * | event line                             | 1 MiB       | a line is one value; anything longer is garbage |
 */
import { unsafePathReason } from '../safePath.js';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { TroveError } from '../errors.js';

export const RUN_SCHEMA_VERSION = 1;

export const RUN_LIMITS = Object.freeze({
  recordBytes: 256 * 1024 * 1024,
  inputs: 100_000,
  outputs: 100_000,
  metricPoints: 1_000_000,
  keys: 10_000,
  keyLength: 250,
  paramValue: 6_000,
  tagValue: 8_000,
  text: 1_000,
  path: 4_096,
  commandArgs: 10_000,
  commandArg: 1024 * 1024,
  eventLine: 1024 * 1024,
  problems: 1_000,
});

// ---------------------------------------------------------------------------------------------
// Run ids: ULIDs (https://github.com/ulid/spec): 48-bit ms timestamp + 80 random bits, written as
// 26 characters of Crockford base32, so ids sort by creation time and are unique across machines.

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** First char 0-7: the 48-bit timestamp leaves only 3 bits for it. */
export const ULID_RE = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

let lastTime = -1;
let lastRandom: number[] = [];

/**
 * A new run id: time-sortable, random part from `crypto`, and monotonic within this process (two ids
 * made in the same millisecond differ by one in the random part, so they still sort in creation order).
 * @example ulid() // '01JD3Z8Q4X6E0T8V5C1N2K7M9R'
 */
export function ulid(now: number = Date.now()): string {
  if (!Number.isSafeInteger(now) || now < 0 || now > 2 ** 48 - 1) {
    throw new TroveError('BAD_RUN', `cannot make a run id for time ${now}`);
  }
  let random: number[];
  if (now <= lastTime) {
    // Same (or an earlier: the clock stepped back) millisecond: increment the previous random part
    // and keep the previous time, so ids stay strictly increasing within the process.
    random = lastRandom.slice();
    let i = random.length - 1;
    while (i >= 0 && random[i] === 31) random[i--] = 0;
    if (i < 0) throw new TroveError('BAD_RUN', 'run id random part overflowed in one millisecond');
    random[i]! += 1;
    now = lastTime;
  } else {
    const bytes = randomBytes(16);
    random = Array.from({ length: 16 }, (_, k) => bytes[k]! & 31);
  }
  lastTime = now;
  lastRandom = random;
  let time = '';
  for (let t = now, k = 0; k < 10; k++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  return time + random.map((d) => CROCKFORD[d]).join('');
}

/** The creation time (ms since the epoch) encoded in a run id. */
export function ulidTime(id: string): number {
  let t = 0;
  for (const ch of id.slice(0, 10)) t = t * 32 + CROCKFORD.indexOf(ch);
  return t;
}

// ---------------------------------------------------------------------------------------------
// Schema

const ISO_UTC_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const OID_RE = /^sha256:[0-9a-f]{64}$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/** Why `path` is not a safe repo-relative path, or null when it is. */
export function runPathProblem(path: string): string | null {
  if (path.length === 0) return 'is empty';
  if (path.length > RUN_LIMITS.path) return `is longer than ${RUN_LIMITS.path} characters`;
  if (path.includes('\0')) return 'contains NUL';
  if (path.includes('\\')) return 'contains a backslash';
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) return 'is absolute';
  for (const seg of path.split('/')) {
    if (seg === '..') return "contains '..'";
    if (seg === '.' || seg === '') return 'is not normalized';
  }
  // .git/.trove in any form, or a pointer file: the same check as pointers and trees (safePath.ts)
  const unsafe = unsafePathReason(path);
  return unsafe ? `is not a place for data: ${unsafe}` : null;
}

const text = (max: number = RUN_LIMITS.text) => z.string().max(max);
const iso = z.string().regex(ISO_UTC_RE, 'must be an ISO-8601 UTC time like 2026-01-02T03:04:05.678Z')
  .refine((s) => Number.isFinite(Date.parse(s)), 'is not a valid date');
const oid = z.string().regex(OID_RE, 'must be sha256:<64 lowercase hex>');
const relPath = z.string().superRefine((p, ctx) => {
  const problem = runPathProblem(p);
  if (problem) ctx.addIssue({ code: 'custom', message: `path ${problem}` });
});
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const key = z.string().min(1).max(RUN_LIMITS.keyLength)
  .refine((k) => !CONTROL_RE.test(k), 'key contains a control character')
  // `__proto__` as a plain-object key would set the prototype instead of a property.
  .refine((k) => k !== '__proto__', 'key __proto__ is not allowed');

const MetricPoint = z.strictObject({
  value: z.number(), // zod 4 rejects NaN and ±Infinity here
  step: z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER),
  ts: count,
});

const Input = z.strictObject({
  path: relPath,
  oid,
  type: z.enum(['file', 'dir']),
  size: count,
  files: count.optional(),
  role: text(100).optional(),
  /** The workspace content differed from its pointer at start; `oid` is what was actually read. */
  modified: z.boolean().optional(),
  /** Imported from another trove repository (`trove import`): where this version came from. */
  origin: z.strictObject({ repo: z.string().min(1).max(RUN_LIMITS.path), rev: z.string().regex(/^([0-9a-f]{40}|[0-9a-f]{64})$/), path: relPath }).optional(),
});

const Output = z.strictObject({
  path: relPath,
  oid: oid.nullable(),
  type: z.enum(['file', 'dir']).optional(),
  size: count.optional(),
  files: count.optional(),
  produced: z.boolean().optional(),
}).superRefine((o, ctx) => {
  if (o.oid === null && o.produced !== false) {
    ctx.addIssue({ code: 'custom', path: ['produced'], message: 'must be false when oid is null' });
  }
  if (o.oid !== null && o.produced === false) {
    ctx.addIssue({ code: 'custom', path: ['oid'], message: 'must be null when produced is false' });
  }
  if (o.oid !== null && (o.type === undefined || o.size === undefined)) {
    ctx.addIssue({ code: 'custom', path: [o.type === undefined ? 'type' : 'size'], message: 'is required for a produced output' });
  }
});

/**
 * A dataset as MLflow's `log_input` describes it (its fields kept as sent). When its source is a
 * tracked path, the path's version is also in `inputs` (role `dataset`).
 */
const Dataset = z.strictObject({
  name: text(500),
  digest: text(100),
  sourceType: text(100),
  source: z.string().max(RUN_LIMITS.tagValue),
  schema: z.string().max(1024 * 1024).optional(),
  profile: z.string().max(RUN_LIMITS.tagValue).optional(),
  tags: z.record(key, z.string().max(RUN_LIMITS.tagValue)).optional(),
});
export type RunDataset = z.infer<typeof Dataset>;
const RunProblem = z.strictObject({
  /** What the problem is about: a file relative to the repo (`.trove/runs/<id>.events.jsonl`) or a path. */
  source: text(RUN_LIMITS.path),
  /** 1-based line in `source`, where it has lines. */
  line: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  message: text(),
});
export type RunProblem = z.infer<typeof RunProblem>;

export const RunStatus = z.enum(['RUNNING', 'FINISHED', 'FAILED', 'KILLED']);
export type RunStatus = z.infer<typeof RunStatus>;

export const RunRecordSchema = z.strictObject({
  schema: z.literal(RUN_SCHEMA_VERSION),
  id: z.string().regex(ULID_RE, 'must be a ULID: 26 characters of Crockford base32'),
  name: text(),
  experiment: text().min(1),
  status: RunStatus,
  start: iso,
  end: iso.nullable(),
  command: z.array(z.string().max(RUN_LIMITS.commandArg)).max(RUN_LIMITS.commandArgs),
  exitCode: z.number().int().min(-(2 ** 31)).max(2 ** 32).nullable(),
  user: text(),
  host: text(),
  pid: z.number().int().positive().max(2 ** 32).nullable(),
  git: z.strictObject({
    commit: z.string().regex(/^([0-9a-f]{40}|[0-9a-f]{64})$/, 'must be a full git commit id').nullable(),
    branch: text().nullable(),
    dirty: z.boolean(),
    diffOid: oid.nullable(),
  }).nullable(),
  params: z.record(key, z.string().max(RUN_LIMITS.paramValue)),
  metrics: z.record(key, z.array(MetricPoint)),
  tags: z.record(key, z.string().max(RUN_LIMITS.tagValue)),
  inputs: z.array(Input),
  outputs: z.array(Output),
  /** MLflow datasets (`log_input`); absent when none. */
  datasets: z.array(Dataset).max(RUN_LIMITS.inputs).optional(),
  /**
   * What went wrong around the run without costing it its record (optional; absent in records written
   * before it existed): bad events lines, a metrics file that could not be read, a declared output that
   * was not written, a command that could not start, untracked files left out of the stored diff.
   */
  problems: z.array(RunProblem).max(RUN_LIMITS.problems).optional(),
  /** Wave 2, optional (records without them stay valid): this run reran run `reproduces` (`trove reproduce`). */
  reproduces: z.string().regex(ULID_RE).optional(),
  /** This run did not execute: its outputs were restored from run `reusedFrom` (`trove run --reuse`). */
  reusedFrom: z.string().regex(ULID_RE).optional(),
  /** sha256 hex of what decides a run's result (see runCache.ts); equal keys may reuse each other's outputs. */
  reuseKey: z.string().regex(/^[0-9a-f]{64}$/).optional(),
});

export type RunRecord = z.infer<typeof RunRecordSchema>;
export type MetricPoint = z.infer<typeof MetricPoint>;
export type RunInput = z.infer<typeof Input>;
export type RunOutput = z.infer<typeof Output>;

// ---------------------------------------------------------------------------------------------
// Parsing

function bad(source: string, field: string, message: string, cause?: unknown): TroveError {
  return new TroveError('BAD_RUN', `${source}: ${field ? `field ${field} ` : ''}${message}`,
    'the run record is damaged or was not written by trove; move it out of runs/ to ignore it',
    { cause, data: { source, field } });
}

function fieldName(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

/**
 * Cheap checks on the raw JSON before zod walks it, so that a hostile record with ten million inputs
 * is refused in microseconds rather than validated element by element, and `__proto__` keys never
 * reach an object literal.
 */
function checkShape(raw: unknown, source: string): void {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(source, '', 'is not a JSON object');
  const r = raw as Record<string, unknown>;
  if (typeof r.schema === 'number' && r.schema > RUN_SCHEMA_VERSION) {
    throw new TroveError('BAD_RUN', `${source}: run record schema ${r.schema} is newer than this trove understands (${RUN_SCHEMA_VERSION})`,
      'upgrade trove to read this run', { data: { source, field: 'schema' } });
  }
  for (const [field, max] of [['inputs', RUN_LIMITS.inputs], ['outputs', RUN_LIMITS.outputs], ['command', RUN_LIMITS.commandArgs], ['problems', RUN_LIMITS.problems]] as const) {
    const v = r[field];
    if (Array.isArray(v) && v.length > max) throw bad(source, field, `has ${v.length} entries, more than the limit of ${max}`);
  }
  for (const field of ['params', 'metrics', 'tags']) {
    const v = r[field];
    if (typeof v !== 'object' || v === null) continue;
    if (Object.hasOwn(v, '__proto__')) throw bad(source, `${field}.__proto__`, 'is not an allowed key');
    const n = Object.keys(v).length;
    if (n > RUN_LIMITS.keys) throw bad(source, field, `has ${n} keys, more than the limit of ${RUN_LIMITS.keys}`);
  }
  if (typeof r.metrics === 'object' && r.metrics !== null) {
    let points = 0;
    for (const [k, v] of Object.entries(r.metrics)) {
      if (Array.isArray(v)) points += v.length;
      if (points > RUN_LIMITS.metricPoints) {
        throw bad(source, `metrics.${k}`, `brings the metric points over the limit of ${RUN_LIMITS.metricPoints}`);
      }
    }
  }
}

/**
 * Parse and validate one run record. `source` is the file it came from (used in messages, and when it
 * ends in `.json` its name must be `<id>.json`, so a hostile remote cannot overwrite another run's
 * record under a different name). Maps come back with a null prototype.
 * @example const rec = parseRunRecord(await readFile(f, 'utf8'), f)
 */
export function parseRunRecord(text: string, source: string): RunRecord {
  if (text.length > RUN_LIMITS.recordBytes) throw bad(source, '', `is larger than ${RUN_LIMITS.recordBytes} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw bad(source, '', `is not valid JSON (${(err as Error).message})`, err);
  }
  checkShape(raw, source);
  const res = RunRecordSchema.safeParse(raw);
  if (!res.success) {
    const issue = res.error.issues[0]!;
    throw bad(source, fieldName(issue.path), issue.message, res.error);
  }
  const rec = res.data;
  const base = source.split(/[\\/]/).pop() ?? '';
  if (base.endsWith('.json') && base !== `${rec.id}.json`) {
    throw bad(source, 'id', `is ${rec.id} but the file is named ${base}`);
  }
  const seen = new Set<string>();
  rec.inputs.forEach((inp, i) => {
    const k = `${inp.path}\0${inp.oid}`;
    if (seen.has(k)) throw bad(source, `inputs[${i}]`, `repeats ${inp.path} at the same version`);
    seen.add(k);
  });
  const outs = new Set<string>();
  rec.outputs.forEach((o, i) => {
    if (outs.has(o.path)) throw bad(source, `outputs[${i}].path`, `repeats ${o.path}`);
    outs.add(o.path);
  });
  return { ...rec, params: nullProto(rec.params), metrics: nullProto(rec.metrics), tags: nullProto(rec.tags) };
}

function nullProto<T>(o: Record<string, T>): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, o);
}

/** A new record for a run that starts now. */
export function newRunRecord(init: Partial<RunRecord> & Pick<RunRecord, 'command'>, now = Date.now()): RunRecord {
  return {
    schema: RUN_SCHEMA_VERSION,
    id: init.id ?? ulid(now),
    name: init.name ?? '',
    experiment: init.experiment ?? 'Default',
    status: init.status ?? 'RUNNING',
    start: init.start ?? new Date(now).toISOString(),
    end: init.end ?? null,
    command: init.command,
    exitCode: init.exitCode ?? null,
    user: init.user ?? '',
    host: init.host ?? '',
    pid: init.pid ?? null,
    git: init.git ?? null,
    params: nullProto(init.params ?? {}),
    metrics: nullProto(init.metrics ?? {}),
    tags: nullProto(init.tags ?? {}),
    inputs: init.inputs ?? [],
    outputs: init.outputs ?? [],
    ...(init.reproduces ? { reproduces: init.reproduces } : {}),
    ...(init.reusedFrom ? { reusedFrom: init.reusedFrom } : {}),
    ...(init.reuseKey ? { reuseKey: init.reuseKey } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Serializing

const sortedMap = <T>(m: Record<string, T>, f: (v: T) => unknown = (v) => v) => {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(m).sort()) out[k] = f(m[k]!);
  return out;
};

/**
 * The record as canonical text: fixed key order (the schema's), map keys sorted, 2-space JSON and a
 * final newline, so that the same record always gives the same bytes (diffs and hashes stay stable).
 * The caller writes it with temp + fsync + rename.
 */
export function serializeRunRecord(rec: RunRecord): string {
  const out = {
    schema: rec.schema,
    id: rec.id,
    name: rec.name,
    experiment: rec.experiment,
    status: rec.status,
    start: rec.start,
    end: rec.end,
    command: rec.command,
    exitCode: rec.exitCode,
    user: rec.user,
    host: rec.host,
    pid: rec.pid,
    git: rec.git && { commit: rec.git.commit, branch: rec.git.branch, dirty: rec.git.dirty, diffOid: rec.git.diffOid },
    params: sortedMap(rec.params),
    metrics: sortedMap(rec.metrics, (pts) => pts.map((p) => ({ value: p.value, step: p.step, ts: p.ts }))),
    tags: sortedMap(rec.tags),
    inputs: rec.inputs.map((i) => ({
      path: i.path, oid: i.oid, type: i.type, size: i.size, files: i.files, role: i.role, modified: i.modified,
      origin: i.origin && { repo: i.origin.repo, rev: i.origin.rev, path: i.origin.path },
    })),
    outputs: rec.outputs.map((o) => ({
      path: o.path, oid: o.oid, type: o.type, size: o.size, files: o.files, produced: o.produced,
    })),
    ...(rec.datasets?.length ? { datasets: rec.datasets } : {}),
    problems: rec.problems?.length ? rec.problems.map((p) => ({ source: p.source, line: p.line, message: p.message })) : undefined,
    reproduces: rec.reproduces,
    reusedFrom: rec.reusedFrom,
    reuseKey: rec.reuseKey,
  };
  return JSON.stringify(out, null, 2) + '\n';
}

// ---------------------------------------------------------------------------------------------
// Events

/**
 * One line of `runs/<id>.events.jsonl`. Any process may append lines (one `write` of one line each, with
 * `O_APPEND`, so concurrent writers interleave whole lines); trove folds them into the record when the
 * run ends (and when showing a running run). The kinds:
 *
 * ```jsonl
 * {"metric":"loss","value":0.41,"step":3,"ts":1767225600000}   step, ts optional
 * {"param":"lr","value":"0.1"}                                 write-once; a number or boolean value is stringified
 * {"tag":"stage","value":"tuning"}                             last value wins
 * {"input":"data/train.csv","oid":"sha256:…","type":"file","size":123,"files":1,"role":"train","modified":false}
 * {"output":"models/model.bin","oid":"sha256:…","type":"file","size":456,"files":1}
 * {"dataset":{"name":"iris","digest":"8f9eb48c","sourceType":"local","source":"{…}"}}   MLflow log_input
 * ```
 * - `step` defaults to the number of points already recorded for that metric (0, 1, 2, …).
 * - `ts` (ms since the epoch) defaults to `now` given to `applyEvents` (on every kind; only metrics keep it).
 * - params: the same value again is fine; a different value is a problem and the first one stays.
 * - inputs: the same path and oid again is ignored; the same path with another oid is a problem (the
 *   first version stays: a run reads one version of a path).
 * - outputs: the same path again replaces the earlier entry (the file was rewritten and logged again).
 * - A line that is empty or whitespace is skipped silently; anything else that is not one valid event is
 *   reported with its 1-based line number and skipped. A last line without its newline that does not
 *   parse is reported as truncated (the writer died mid-write).
 */
export type RunEvent =
  | { metric: string; value: number; step?: number; ts?: number }
  | { param: string; value: string; ts?: number }
  | { tag: string; value: string; ts?: number }
  | ({ input: string; ts?: number } & Omit<RunInput, 'path'>)
  | ({ output: string; ts?: number } & Omit<RunOutput, 'path' | 'oid' | 'produced'> & { oid: string })
  | { dataset: RunDataset; ts?: number };

const ts = count.optional();
const scalar = z.union([z.string(), z.number(), z.boolean()]).transform(String);
const EventSchemas = {
  metric: z.strictObject({ metric: key, value: z.number(), step: MetricPoint.shape.step.optional(), ts }),
  param: z.strictObject({ param: key, value: scalar.pipe(z.string().max(RUN_LIMITS.paramValue)), ts }),
  tag: z.strictObject({ tag: key, value: scalar.pipe(z.string().max(RUN_LIMITS.tagValue)), ts }),
  input: z.strictObject({ input: relPath, ...Input.omit({ path: true }).shape, ts }),
  output: z.strictObject({
    output: relPath, oid, type: z.enum(['file', 'dir']), size: count, files: count.optional(), ts,
  }),
  dataset: z.strictObject({ dataset: Dataset, ts }),
} as const;
const KINDS = Object.keys(EventSchemas) as (keyof typeof EventSchemas)[];

export interface EventProblem { line: number; message: string }

/**
 * Fold event lines into a record. Never throws on bad input: each bad line becomes a problem with its
 * 1-based line number, and the rest still apply. Returns a new record; `record` is not changed.
 * @example
 * const text = await readFile(eventsFile, 'utf8')
 * const { record, problems } = applyEvents(rec, text.split('\n'))
 */
export function applyEvents(
  record: RunRecord,
  lines: readonly string[],
  opts: { now?: number } = {},
): { record: RunRecord; problems: EventProblem[] } {
  const now = opts.now ?? Date.now();
  const rec: RunRecord = {
    ...record,
    params: nullProto(record.params),
    metrics: nullProto(Object.fromEntries(Object.entries(record.metrics).map(([k, v]) => [k, v.slice()]))),
    tags: nullProto(record.tags),
    inputs: record.inputs.slice(),
    outputs: record.outputs.slice(),
    ...(record.datasets ? { datasets: record.datasets.slice() } : {}),
  };
  const problems: EventProblem[] = [];
  let points = Object.values(rec.metrics).reduce((n, v) => n + v.length, 0);
  // Counts and path maps kept alongside, so that a file of a million events stays linear.
  const keyCount = {
    params: Object.keys(rec.params).length, metrics: Object.keys(rec.metrics).length, tags: Object.keys(rec.tags).length,
  };
  const inputByPath = new Map(rec.inputs.map((x) => [x.path, x]));
  const outputAt = new Map(rec.outputs.map((x, i) => [x.path, i]));
  const lastIndex = lines.length - 1;

  lines.forEach((line, i) => {
    const lineNo = i + 1;
    const problem = (message: string) => problems.push({ line: lineNo, message });
    /** Room for one more key in `map`? Reports the problem when there is none. */
    const roomFor = (map: keyof typeof keyCount) => {
      if (keyCount[map] < RUN_LIMITS.keys) return (keyCount[map]++, true);
      problem(`more than ${RUN_LIMITS.keys} distinct ${map}`);
      return false;
    };
    if (line.trim() === '') return;
    if (line.length > RUN_LIMITS.eventLine) return problem(`line is longer than ${RUN_LIMITS.eventLine} characters`);
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      // Only the very last element can be a torn write: every earlier line was followed by '\n'.
      return problem(i === lastIndex ? 'truncated last line (the writer stopped mid-write)' : 'not valid JSON');
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return problem('not a JSON object');
    const kinds = KINDS.filter((k) => Object.hasOwn(raw, k));
    if (kinds.length !== 1) {
      return problem(kinds.length === 0
        ? `no event kind: expected one of ${KINDS.join(', ')}`
        : `more than one event kind: ${kinds.join(', ')}`);
    }
    const kind = kinds[0]!;
    const res = EventSchemas[kind].safeParse(raw);
    if (!res.success) {
      const issue = res.error.issues[0]!;
      return problem(`${kind} event: ${fieldName(issue.path) || 'event'} ${issue.message}`);
    }
    const ev = res.data;
    if ('metric' in ev) {
      if (points >= RUN_LIMITS.metricPoints) return problem(`metric points over the limit of ${RUN_LIMITS.metricPoints}`);
      let history = rec.metrics[ev.metric];
      if (!history) {
        if (!roomFor('metrics')) return;
        history = rec.metrics[ev.metric] = [];
      }
      history.push({ value: ev.value, step: ev.step ?? history.length, ts: ev.ts ?? now });
      points++;
    } else if ('param' in ev) {
      const old = rec.params[ev.param];
      if (old !== undefined) {
        if (old !== ev.value) problem(`param ${ev.param} is already ${JSON.stringify(old)}; params are write-once`);
        return;
      }
      if (roomFor('params')) rec.params[ev.param] = ev.value;
    } else if ('tag' in ev) {
      if (rec.tags[ev.tag] !== undefined || roomFor('tags')) rec.tags[ev.tag] = ev.value;
    } else if ('input' in ev) {
      const { input: path, ts: _ts, ...rest } = ev;
      const same = inputByPath.get(path);
      if (same) {
        if (same.oid !== rest.oid) problem(`input ${path} was already recorded at ${same.oid}`);
        return;
      }
      if (rec.inputs.length >= RUN_LIMITS.inputs) return problem(`inputs over the limit of ${RUN_LIMITS.inputs}`);
      const entry: RunInput = { path, ...rest };
      rec.inputs.push(entry);
      inputByPath.set(path, entry);
    } else if ('dataset' in ev) {
      // The same dataset (name + digest + context) again is ignored, as MLflow does.
      const ds = (rec.datasets ??= []);
      const ctx = (d: RunDataset) => d.tags?.['mlflow.data.context'];
      if (ds.some((d) => d.name === ev.dataset.name && d.digest === ev.dataset.digest && ctx(d) === ctx(ev.dataset))) return;
      if (ds.length >= RUN_LIMITS.inputs) return problem(`datasets over the limit of ${RUN_LIMITS.inputs}`);
      ds.push(ev.dataset);
    } else {
      const { output: path, ts: _ts, ...rest } = ev;
      const entry: RunOutput = { path, ...rest };
      const at = outputAt.get(path);
      if (at !== undefined) rec.outputs[at] = entry;
      else if (rec.outputs.length >= RUN_LIMITS.outputs) problem(`outputs over the limit of ${RUN_LIMITS.outputs}`);
      else outputAt.set(path, rec.outputs.push(entry) - 1);
    }
  });
  return { record: rec, problems };
}

/** One event as the line to append (with its newline). */
export function formatEvent(ev: RunEvent): string {
  return JSON.stringify(ev) + '\n';
}

/**
 * The status to show for a record: a RUNNING record whose process is gone is KILLED. Only a run started
 * on this host can be judged (a pid means nothing elsewhere); `isAlive` is injected so this stays pure
 * (in the CLI: `process.kill(pid, 0)` that does not throw ESRCH).
 * @example effectiveStatus(rec, { host: os.hostname(), isAlive: pidIsAlive })
 */
export function effectiveStatus(rec: RunRecord, here: { host: string; isAlive: (pid: number) => boolean }): RunStatus {
  if (rec.status !== 'RUNNING' || rec.pid === null || rec.host !== here.host) return rec.status;
  return here.isAlive(rec.pid) ? 'RUNNING' : 'KILLED';
}
