/**
 * Run records as OpenLineage RunEvents (spec 2-0-2, https://openlineage.io/spec/2-0-2/OpenLineage.json):
 * a START event at the run's start and, for an ended run, one COMPLETE (FINISHED), FAIL (FAILED) or
 * ABORT (KILLED) event at its end.
 *
 * - `run.runId`: the run's ULID written as a UUID (both are 128 bits; the mapping is exact and reversible).
 * - `job`: namespace (the repository, see `lineageNamespace`) and name `<experiment>.<run name or program>`,
 *   with the `sourceCodeLocation` facet: type git, the repository url, the commit as `version`, the branch.
 * - `inputs` / `outputs`: namespace + the tracked path as name, with the `version` facet
 *   (DatasetVersionDatasetFacet) holding the full oid (`sha256:<64 hex>`). An imported input is named
 *   where it came from: the source repository as namespace, its path there as name. Outputs that were
 *   not produced are left out; the START event has the inputs only.
 */
import type { RunRecord } from './record.js';

export const OPENLINEAGE_SCHEMA_URL = 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent';
export const DATASET_VERSION_FACET_URL = 'https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet';
export const SOURCE_CODE_LOCATION_FACET_URL = 'https://openlineage.io/spec/facets/1-1-0/SourceCodeLocationJobFacet.json#/$defs/SourceCodeLocationJobFacet';
/** Who wrote the events (a URI, as the spec asks). */
export const PRODUCER = 'https://github.com/trove-data/trove/tree/v0.1.0';

export interface Facet { _producer: string; _schemaURL: string; [k: string]: unknown }
export interface OLDataset { namespace: string; name: string; facets: { version: Facet } }
export interface OLRunEvent {
  eventType: 'START' | 'COMPLETE' | 'FAIL' | 'ABORT';
  eventTime: string;
  producer: string;
  schemaURL: string;
  run: { runId: string; facets?: Record<string, Facet> };
  job: { namespace: string; name: string; facets: { sourceCodeLocation?: Facet } };
  inputs: OLDataset[];
  outputs: OLDataset[];
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A ULID as a UUID string (the same 128 bits). @example ulidToUuid('01ARZ3NDEKTSV4RRFFQ69G5FAV') */
export function ulidToUuid(id: string): string {
  let n = 0n;
  for (const ch of id) n = n * 32n + BigInt(CROCKFORD.indexOf(ch));
  const hex = n.toString(16).padStart(32, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export interface LineageContext {
  /** The namespace of this repository's jobs and data, e.g. its git url. */
  namespace: string;
  /** The repository url for the source-code facet (no credentials). */
  repoUrl: string;
  /** The URL to locate the code (a `file://` url for a local repository). */
  codeUrl: (commit: string) => string;
}

const facet = (schemaURL: string, body: Record<string, unknown>): Facet => ({ _producer: PRODUCER, _schemaURL: schemaURL, ...body });

function dataset(ctx: LineageContext, d: { path: string; oid: string; origin?: { repo: string; path: string } }): OLDataset {
  return {
    namespace: d.origin ? d.origin.repo : ctx.namespace,
    name: d.origin ? d.origin.path : d.path,
    facets: { version: facet(DATASET_VERSION_FACET_URL, { datasetVersion: d.oid }) },
  };
}

/** The events for one run (see the module comment). */
export function runToOpenLineage(rec: RunRecord, ctx: LineageContext): OLRunEvent[] {
  const job: OLRunEvent['job'] = {
    namespace: ctx.namespace,
    name: `${rec.experiment}.${rec.name || (rec.command[0] ?? 'run').split('/').pop() || 'run'}`,
    facets: {},
  };
  if (rec.git?.commit) {
    job.facets.sourceCodeLocation = facet(SOURCE_CODE_LOCATION_FACET_URL, {
      type: 'git', url: ctx.codeUrl(rec.git.commit), repoUrl: ctx.repoUrl, version: rec.git.commit,
      ...(rec.git.branch ? { branch: rec.git.branch } : {}),
    });
  }
  const base = { producer: PRODUCER, schemaURL: OPENLINEAGE_SCHEMA_URL, run: { runId: ulidToUuid(rec.id) }, job };
  const inputs = rec.inputs.map((i) => dataset(ctx, i));
  const events: OLRunEvent[] = [{ eventType: 'START', eventTime: rec.start, ...base, inputs, outputs: [] }];
  if (rec.status !== 'RUNNING' && rec.end) {
    const outputs = rec.outputs.filter((o) => o.oid !== null).map((o) => dataset(ctx, { path: o.path, oid: o.oid! }));
    const eventType = rec.status === 'FINISHED' ? 'COMPLETE' : rec.status === 'FAILED' ? 'FAIL' : 'ABORT';
    events.push({ eventType, eventTime: rec.end, ...base, inputs, outputs });
  }
  return events;
}

/**
 * Posts events to an OpenLineage collector (Marquez: `POST /api/v1/lineage`, one event per request).
 * A url without a path gets `/api/v1/lineage`. Transient failures (network, 5xx, 429) are retried
 * with the one retry policy (remotes/retry.ts); other 4xx are not. Credentials in the url are never echoed.
 * @example await postLineage(events, 'http://127.0.0.1:5000')
 */
export async function postLineage(events: OLRunEvent[], url: string, o: { attempts?: number; baseMs?: number; signal?: AbortSignal } = {}): Promise<{ posted: number; attempts: number; endpoint: string }> {
  const { TroveError } = await import('../errors.js');
  const { withRetry } = await import('../../remotes/retry.js');
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TroveError('BAD_ARGS', `--to ${JSON.stringify(url.replace(/\/\/[^@/]*@/, '//***@'))}: not a url`, 'give the collector as http://host:port (POST /api/v1/lineage is added)');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TroveError('BAD_ARGS', `--to: ${u.protocol} is not http or https`);
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/api/v1/lineage';
  const auth = u.username || u.password ? `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}` : undefined;
  u.username = '';
  u.password = '';
  const endpoint = u.toString();
  let attempts = 0;
  for (const ev of events) {
    await withRetry(async () => {
      attempts++;
      let res: Response;
      try {
        res = await fetch(endpoint, {
          method: 'POST', body: JSON.stringify(ev), signal: o.signal,
          headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
        });
      } catch (err) {
        throw new TroveError('REMOTE', `POST ${endpoint}: ${(err as Error).message}`, 'is the collector running?', { cause: err, retryable: !o.signal?.aborted });
      }
      await res.arrayBuffer().catch(() => undefined); // drain, so the socket is reused
      if (res.ok) return;
      const transient = res.status >= 500 || res.status === 429 || res.status === 408;
      throw new TroveError(transient ? 'REMOTE' : 'CONFIG', `POST ${endpoint}: the collector answered ${res.status} ${res.statusText}`,
        transient ? 'the collector kept failing; try again later' : 'check the collector url and that it accepts OpenLineage RunEvents', { retryable: transient });
    }, { attempts: o.attempts ?? 5, baseMs: o.baseMs ?? 100, signal: o.signal });
  }
  return { posted: events.length, attempts, endpoint };
}

/**
 * The namespace and code location of a repository: its `origin` git url (credentials removed) when it
 * has one, else `file://<root>`. `namespace` overrides the namespace only.
 */
export async function lineageContext(repo: { root: string; git: { raw(args: string[]): Promise<string> } }, namespace?: string): Promise<LineageContext> {
  let origin = '';
  try {
    origin = (await repo.git.raw(['config', '--get', 'remote.origin.url'])).trim();
  } catch {
    /* no origin */
  }
  origin = origin.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, '$1');
  const repoUrl = origin || new URL(`file://${repo.root}`).toString();
  const web = /^https?:\/\//.test(repoUrl) ? repoUrl.replace(/\.git$/, '') : null;
  return {
    namespace: namespace ?? repoUrl,
    repoUrl,
    codeUrl: (commit) => (web ? `${web}/tree/${commit}` : `${new URL(`file://${repo.root}`).toString()}#${commit}`),
  };
}
