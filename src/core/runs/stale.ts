/**
 * Stale runs: runs whose inputs are no longer the versions that the pointers at a git revision (HEAD by
 * default) name. "This model was trained on old data." An input whose path has no pointer at that
 * revision any more is stale too (`now: null`). Only the committed pointers count, not the workspace:
 * the question is about the project's history, so it gives the same answer on every clone.
 */
import type { RepoContext } from '../context.js';
import { pointersAt } from '../revs.js';
import type { RunRecord } from './record.js';

export interface StaleInput {
  path: string;
  /** The version the run read. */
  was: string;
  /** The version the pointer names at the revision; null when the path is not tracked there. */
  now: string | null;
}

export interface Staleness {
  /** The revision compared against, as given, and the commit it resolved to. */
  at: string;
  commit: string;
  /** run id → its stale inputs; runs with none are not in the map. */
  stale: Map<string, StaleInput[]>;
}

/** The stale inputs of one run against a path → oid map of the pointers at a revision. */
export function staleInputs(rec: RunRecord, current: ReadonlyMap<string, string>): StaleInput[] {
  const out: StaleInput[] = [];
  for (const i of rec.inputs) {
    const now = current.get(i.path) ?? null;
    if (now !== i.oid) out.push({ path: i.path, was: i.oid, now });
  }
  return out;
}

/**
 * Which of `recs` (default: every readable run record) read data that the pointers at `at` no longer name.
 * @example const { stale } = await staleRuns(repo, { at: 'HEAD' }); stale.has(run.id)
 */
export async function staleRuns(repo: RepoContext, o: { at?: string; records?: RunRecord[] } = {}): Promise<Staleness> {
  const at = o.at ?? 'HEAD';
  const { resolveRev } = await import('../history.js');
  const commit = await resolveRev(repo.git, at);
  const current = new Map((await pointersAt(repo.git, commit, { strict: true })).tracked.map((p) => [p.path, p.pointer.oid as string]));
  let recs = o.records;
  if (!recs) {
    const store = await repo.runStore();
    recs = [];
    for (const n of await store.names()) {
      try {
        recs.push((await store.load(n)).record);
      } catch {
        /* unreadable records are reported by `runs list` itself */
      }
    }
  }
  const stale = new Map<string, StaleInput[]>();
  for (const r of recs) {
    const s = staleInputs(r, current);
    if (s.length) stale.set(r.id, s);
  }
  return { at, commit, stale };
}
