/**
 * The run cache: a finished run whose result is decided by the same things as a new one can stand in
 * for it (`trove run --reuse`): `findReusableRun` looks its reuse key up (the key: reuseKey.ts), and
 * `reuseRun` ends a new run as a reuse of it.
 */
import type { Oid } from '../oid.js';
import type { RepoContext } from '../context.js';
import { checkoutVersions } from '../ops/checkout.js';
import { TroveError } from '../errors.js';
import type { RunRecord } from './record.js';
import type { ActiveRun, EndRunResult } from './recorder.js';

export { REUSE_KEY_VERSION, codeDiffHash, reuseKeyOf } from './reuseKey.js';

/**
 * The newest earlier FINISHED run with the same reuse key whose every output was produced and is in the
 * cache whole (checked by re-hashing files; folders by their trees and files), or null.
 * @example const hit = await findReusableRun(repo, run.started)
 */
export async function findReusableRun(repo: RepoContext, rec: RunRecord): Promise<RunRecord | null> {
  if (!rec.reuseKey) return null;
  const store = await repo.runStore();
  const names = (await store.names()).filter((n) => n !== `${rec.id}.json`).reverse(); // newest first
  for (const n of names) {
    let other: RunRecord;
    try {
      other = (await store.load(n)).record;
    } catch {
      continue; // a damaged record is `runs list`'s to report, never a reason to fail a run
    }
    if (other.reuseKey !== rec.reuseKey || other.status !== 'FINISHED' || other.exitCode !== 0) continue;
    if (!other.outputs.length || other.outputs.some((o) => o.oid === null)) continue;
    if (await outputsCached(repo, other)) return other;
  }
  return null;
}

async function outputsCached(repo: RepoContext, rec: RunRecord): Promise<boolean> {
  const { checkObjects } = await import('./verify.js');
  for (const o of rec.outputs) {
    const problems = await checkObjects(repo, o.oid as Oid, o.type ?? 'file', o.path, { remote: null });
    if (problems.length) return false;
  }
  return true;
}

/** The versions to check out to restore a run's outputs. */
export function outputVersions(rec: RunRecord): { path: string; type: 'file' | 'dir'; oid: string; size: number; files?: number }[] {
  return rec.outputs.map((o) => {
    if (o.oid === null || o.type === undefined || o.size === undefined) throw new TroveError('BAD_RUN', `run ${rec.id}: output ${o.path} was not produced`);
    return { path: o.path, type: o.type, oid: o.oid, size: o.size, ...(o.files === undefined ? {} : { files: o.files }) };
  });
}

/**
 * Ends `run` as a reuse of `hit` instead of running its command: `hit`'s outputs are checked out from
 * the cache (byte-identical by their oids; a workspace file with changes not in the cache is not
 * overwritten), its metrics, the params its command logged, its tags and the outputs it logged itself
 * are copied in as events, and the record says `reusedFrom`. When the outputs cannot be restored the
 * run ends FAILED and the error is thrown.
 * @example const hit = await findReusableRun(repo, run.started); if (hit) await reuseRun(repo, run, hit)
 */
export async function reuseRun(repo: RepoContext, run: ActiveRun, hit: RunRecord): Promise<EndRunResult> {
  try {
    await checkoutVersions(repo, outputVersions(hit));
  } catch (err) {
    await run.end({ status: 'FAILED', exitCode: null });
    throw err;
  }
  const store = await repo.runStore();
  for (const [k, v] of Object.entries(hit.params)) if (run.started.params[k] === undefined) await store.appendEvent(run.id, { param: k, value: v });
  for (const [k, pts] of Object.entries(hit.metrics)) for (const p of pts) await store.appendEvent(run.id, { metric: k, value: p.value, step: p.step, ts: p.ts });
  for (const [k, v] of Object.entries(hit.tags)) await store.appendEvent(run.id, { tag: k, value: v });
  const declared = new Set(JSON.parse(run.declaredOutputs) as string[]);
  for (const o of hit.outputs) {
    if (declared.has(o.path) || o.oid === null) continue;
    await store.appendEvent(run.id, { output: o.path, oid: o.oid, type: o.type!, size: o.size!, ...(o.files === undefined ? {} : { files: o.files }) });
  }
  return run.end({ exitCode: 0, reusedFrom: hit.id });
}
