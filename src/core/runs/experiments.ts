/**
 * Experiments (`.trove/runs/experiments/<id>.json`): the MLflow experiment a run is filed under.
 *
 * A run record names its experiment by name (`experiment`), so an experiment's id is derived from its
 * name (`experimentIdFor`): two clones that create "iris" on their own agree on its id, and records
 * pulled from a teammate land in the same experiment without any id mapping. `Default` is MLflow's
 * id `0`. The file holds what the name cannot: creation time, lifecycle stage and tags. An experiment
 * that runs name but that has no file (a run made with `trove run -e x`) still exists, with times
 * taken from its runs.
 *
 * Format, version 1 (written atomically, validated as hostile input when read):
 * `{"schema":1,"id":"4711…","name":"iris","lifecycle":"active","created":1767225600000,"updated":…,"tags":{}}`
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../atomicWrite.js';
import { TroveError, isErrno } from '../errors.js';
import { parseJsonRecord } from './jsonRecord.js';
import { RUN_LIMITS } from './record.js';

export const EXPERIMENT_SCHEMA_VERSION = 1;
export const DEFAULT_EXPERIMENT = 'Default';

const ExperimentSchema = z.strictObject({
  schema: z.literal(EXPERIMENT_SCHEMA_VERSION),
  id: z.string().regex(/^[0-9]{1,20}$/),
  name: z.string().min(1).max(RUN_LIMITS.text),
  lifecycle: z.enum(['active', 'deleted']),
  created: z.number().int().nonnegative(),
  updated: z.number().int().nonnegative(),
  tags: z.record(z.string().min(1).max(RUN_LIMITS.keyLength).refine((k) => k !== '__proto__'), z.string().max(RUN_LIMITS.tagValue)),
});
export type Experiment = z.infer<typeof ExperimentSchema>;

/**
 * The id of the experiment called `name`: `0` for Default, otherwise a decimal number from the
 * SHA-256 of the name (52 bits: a safe integer, so clients that parse it as a number keep it exact).
 * @example experimentIdFor('iris') // '2817394028713345'
 */
export function experimentIdFor(name: string): string {
  if (name === DEFAULT_EXPERIMENT) return '0';
  return BigInt('0x' + createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 13)).toString();
}

export function parseExperiment(text: string, source: string): Experiment {
  const e = parseJsonRecord(ExperimentSchema, text, source, '.trove/runs/experiments/');
  if (e.id !== experimentIdFor(e.name)) throw new TroveError('BAD_RUN', `${source}: id ${e.id} is not the id of experiment ${JSON.stringify(e.name)}`);
  if (path.basename(source) !== `${e.id}.json` && source.endsWith('.json')) throw new TroveError('BAD_RUN', `${source}: file name does not match id ${e.id}`);
  return { ...e, tags: Object.assign(Object.create(null) as Record<string, string>, e.tags) };
}

export function serializeExperiment(e: Experiment): string {
  const tags: Record<string, string> = {};
  for (const k of Object.keys(e.tags).sort()) tags[k] = e.tags[k]!;
  return JSON.stringify({ schema: e.schema, id: e.id, name: e.name, lifecycle: e.lifecycle, created: e.created, updated: e.updated, tags }, null, 2) + '\n';
}

/** The experiments folder. Bad files are skipped in listings (reported in `skipped`), never fatal. */
export class ExperimentStore {
  constructor(readonly dir: string) {}

  file(id: string): string {
    if (!/^[0-9]{1,20}$/.test(id)) throw new TroveError('NOT_FOUND', `no experiment with id ${JSON.stringify(id).slice(0, 40)}`);
    return path.join(this.dir, `${id}.json`);
  }

  async get(id: string): Promise<Experiment | null> {
    let text: string;
    try {
      text = await fsp.readFile(this.file(id), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return null;
      throw err;
    }
    return parseExperiment(text, `.trove/runs/experiments/${id}.json`);
  }

  async list(): Promise<{ experiments: Experiment[]; skipped: { file: string; error: string }[] }> {
    let names: string[] = [];
    try {
      names = (await fsp.readdir(this.dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    const experiments: Experiment[] = [];
    const skipped: { file: string; error: string }[] = [];
    for (const n of names.sort()) {
      try {
        experiments.push(parseExperiment(await fsp.readFile(path.join(this.dir, n), 'utf8'), `.trove/runs/experiments/${n}`));
      } catch (err) {
        skipped.push({ file: `.trove/runs/experiments/${n}`, error: (err as Error).message });
      }
    }
    return { experiments, skipped };
  }

  async write(e: Experiment): Promise<void> {
    parseExperiment(serializeExperiment(e), `${e.id}.json`);
    await fsp.mkdir(this.dir, { recursive: true });
    await writeFileAtomic(this.file(e.id), serializeExperiment(e));
  }

  /**
   * Makes the experiment's file (a new experiment, or one that so far existed only through its runs).
   * `RESOURCE_ALREADY_EXISTS` semantics are the caller's: this returns `created: false` when a file is there.
   */
  async ensure(name: string, now = Date.now(), tags: Record<string, string> = {}): Promise<{ experiment: Experiment; created: boolean }> {
    const id = experimentIdFor(name);
    const old = await this.get(id);
    if (old) return { experiment: old, created: false };
    const e: Experiment = { schema: EXPERIMENT_SCHEMA_VERSION, id, name, lifecycle: 'active', created: now, updated: now, tags: Object.assign(Object.create(null), tags) };
    await this.write(e);
    return { experiment: e, created: true };
  }
}
