import type { Command } from 'commander';
import { TroveError } from '../../core/errors.js';
import { Repo } from '../../core/repo.js';
import type { RunView } from '../../core/runs/filter.js';
import { visible } from '../../core/runs/lineage-render.js';
import { compareRuns, listRuns, showRun, type RunComparison, type ShownRun } from '../../core/runs/queries.js';
import { lastMetricPoint } from '../../core/runs/index-db.js';
import { err, humanBytes, json, out, plural } from '../render.js';
import { UsageError } from '../usage.js';
import { registerLifecycle } from './runs-lifecycle.js';
import { registerImport } from './runs-import.js';

const short = (oid: string | null | undefined) => (oid ? oid.replace(/^sha256:/, '').slice(0, 12) : '-');
const num = (v: number) => String(Number(v.toPrecision(6)));
const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19));
const cell = (s: string, max = 24) => { const v = visible(s); return v.length > max ? v.slice(0, max - 1) + '…' : v; };

/** Rows of cells as aligned columns (two spaces apart). */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

function warnSkipped(skipped: { file: string; error: string }[]): void {
  for (const s of skipped) err(`trove: warning: skipped ${s.file}: ${s.error.startsWith(s.file) ? s.error.slice(s.file.length).replace(/^:\s*/, '') : s.error}`);
}

/** A filter error: the expression with a caret under the column it points at. */
function explainQuery(e: unknown, expr: string | undefined): never {
  if (e instanceof TroveError && e.code === 'BAD_QUERY' && typeof e.data?.column === 'number' && expr !== undefined) {
    const col = e.data.column as number;
    throw new TroveError('BAD_QUERY', `${e.message}\n  ${expr}\n  ${' '.repeat(Math.max(0, col - 1))}^`, e.hint, { cause: e, data: e.data });
  }
  throw e;
}

/** What narrowed the listing, for the message when nothing is left. */
function describeQuery(o: { experiment?: string; filter?: string; uses?: string; produced?: string }): string[] {
  const parts: string[] = [];
  if (o.filter !== undefined && o.filter.trim() !== '') parts.push(`--filter ${JSON.stringify(o.filter)}`);
  if (o.experiment !== undefined) parts.push(`--experiment ${JSON.stringify(o.experiment)}`);
  if (o.uses !== undefined) parts.push(`--uses ${o.uses}`);
  if (o.produced !== undefined) parts.push(`--produced ${o.produced}`);
  return parts.map(visible);
}

function renderList(runs: RunView[], query: string[] = [], limited = false): void {
  if (!runs.length) {
    if (query.length) return out(`No runs match ${query.join(' and ')}.`);
    if (limited) return out('No runs shown (--limit 0).');
    return out('No runs yet. Record one with `trove run -- <command>`.');
  }
  const varying = (get: (r: RunView) => Record<string, unknown>) => {
    const keys = [...new Set(runs.flatMap((r) => Object.keys(get(r))))].sort();
    return runs.length === 1 ? keys : keys.filter((k) => new Set(runs.map((r) => String(get(r)[k]))).size > 1);
  };
  const params = varying((r) => r.params);
  const metrics = varying((r) => r.metrics);
  const experiments = new Set(runs.map((r) => r.experiment)).size > 1;
  const head = ['RUN', 'NAME', 'STATUS', 'STARTED', ...(experiments ? ['EXPERIMENT'] : []), ...params.map((k) => `params.${cell(k)}`), ...metrics.map((k) => `metrics.${cell(k)}`)];
  const rows = runs.map((r) => [
    r.id, cell(r.name || '-'), r.status, when(r.start), ...(experiments ? [cell(r.experiment)] : []),
    ...params.map((k) => (r.params[k] === undefined ? '-' : cell(r.params[k]!))),
    ...metrics.map((k) => (r.metrics[k] === undefined ? '-' : num(r.metrics[k]!))),
  ]);
  out(table([head, ...rows]));
}

const MARK: Record<string, string> = { matches: 'matches workspace', differs: 'DIFFERS from workspace', missing: 'not in workspace', 'not-produced': 'not produced' };

function renderShow(s: ShownRun): void {
  const r = s.record;
  const dur = r.end ? ` (${((Date.parse(r.end) - Date.parse(r.start)) / 1000).toFixed(1)} s)` : '';
  out(`run ${r.id}${r.name ? ` ${visible(r.name)}` : ''}`);
  out(table([
    ['status:', `${r.status}${r.exitCode === null ? '' : ` (exit ${r.exitCode})`}`],
    ['experiment:', visible(r.experiment)],
    ['command:', visible(r.command.map((a) => (/^[\w./=:@%+-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')) || '-'],
    ['started:', `${r.start}${r.end ? `, ended ${r.end}${dur}` : ''}`],
    ['by:', `${visible(r.user)}@${visible(r.host)}${r.pid ? ` pid ${r.pid}` : ''}`],
    ['git:', r.git ? `${r.git.commit ?? '(no commit)'}${r.git.branch ? ` (${visible(r.git.branch)})` : ''}${r.git.dirty ? `, dirty: diff stored as ${r.git.diffOid}` : ', clean'}` : '(not a git repository)'],
  ]));
  const section = (title: string, rows: string[][]) => {
    out(`${title}:`);
    if (!rows.length) out('  (none)');
    else out(table(rows.map((row) => ['', ...row])).replace(/^ {2}/gm, ' '));
  };
  section('params', Object.entries(r.params).map(([k, v]) => [visible(k), '=', visible(v)]));
  section('metrics', Object.entries(r.metrics).map(([k, pts]) => {
    const last = lastMetricPoint(pts);
    return [visible(k), '=', last ? num(last.value) : '-', last ? `(step ${last.step}, ${plural(pts.length, 'point')})` : ''];
  }));
  section('tags', Object.entries(r.tags).map(([k, v]) => [visible(k), '=', visible(v)]));
  const data = (x: { path: string; oid: string | null; type?: string; size?: number; files?: number; workspace: string }) => [
    visible(x.path), short(x.oid), x.type === 'dir' ? `${plural(x.files ?? 0, 'file')}, ${humanBytes(x.size ?? 0)}` : x.size === undefined ? '' : humanBytes(x.size),
    MARK[x.workspace] ?? x.workspace,
  ];
  section('inputs', s.inputs.map((i) => [...data(i), [i.role ? `role ${visible(i.role)}` : '', i.modified ? 'read with uncommitted changes' : ''].filter(Boolean).join(', ')]));
  section('outputs', s.outputs.map((o) => data(o)));
  if (s.problems.length) section('problems', s.problems.map((p) => [visible(p.source) + (p.line === undefined ? '' : `:${p.line}`), visible(p.message)]));
}

function renderCompare(c: RunComparison): void {
  const head = ['', ...c.runs.map((r) => r.id.slice(0, 10) + '…' + (r.name ? ` ${cell(r.name, 14)}` : ''))];
  const mark = (d: boolean) => (d ? '*' : ' ');
  const rows: string[][] = [head];
  rows.push(['status', ...c.runs.map((r) => r.status)]);
  rows.push(['commit', ...c.runs.map((r) => (r.commit ? r.commit.slice(0, 10) : '-') + (r.dirty ? '+dirty' : ''))]);
  for (const p of c.params) rows.push([`${mark(p.differs)}params.${cell(p.key)}`, ...p.values.map((v) => (v === null ? '-' : cell(v)))]);
  for (const m of c.metrics) rows.push([`${mark(m.differs)}metrics.${cell(m.key)}`, ...m.values.map((v) => (v === null ? '-' : num(v)))]);
  for (const i of c.inputs) {
    rows.push([`${mark(i.differs)}in ${cell(i.path, 40)}`, ...i.oids.map((o, k) => {
      const f = i.files?.[k];
      const counts = k > 0 && f ? ` (+${f.added} -${f.removed} ~${f.modified})` : '';
      return short(o) + counts;
    })]);
  }
  for (const o of c.outputs) rows.push([`${mark(o.differs)}out ${cell(o.path, 40)}`, ...o.oids.map(short)]);
  out(table(rows));
  out('\n(* = differs between the runs; folder counts are files added/removed/modified against the first run)');
}

/** `runs list --stale`: the listed runs that are stale, each with the inputs that moved on. */
async function renderStale(repo: Repo, runs: RunView[], at: string, limit: number | undefined, asJson: boolean): Promise<void> {
  const { staleRuns } = await import('../../core/runs/stale.js');
  const { stale, commit } = await staleRuns(repo, { at });
  const hits = runs.filter((r) => stale.has(r.id)).slice(0, limit ?? Infinity);
  if (asJson) return json(hits.map((r) => ({ ...r, stale: stale.get(r.id) })));
  if (!hits.length) return out(`No stale runs: every run read the versions the pointers at ${at} (${commit.slice(0, 10)}) name.`);
  const rows = [['RUN', 'NAME', 'STATUS', 'STARTED', 'STALE INPUTS']];
  for (const r of hits) {
    rows.push([r.id, cell(r.name || '-'), r.status, when(r.start), stale.get(r.id)!.map((i) => `${visible(i.path)} ${short(i.was)} -> ${i.now ? short(i.now) : '(not tracked)'}`).join(', ')]);
  }
  out(table(rows));
  out(`\n(${plural(hits.length, 'run')} read data that the pointers at ${at} (${commit.slice(0, 10)}) no longer name)`);
}

function renderStaleOf(stale: { path: string; was: string; now: string | null }[] | null): void {
  if (stale === null) return out('stale:      (unknown: no commit to compare with)');
  if (!stale.length) return out('stale:      no (every input is the version HEAD names)');
  out(`stale:      YES: ${stale.map((i) => `${visible(i.path)} is ${i.now ? short(i.now) : 'not tracked'} at HEAD, the run read ${short(i.was)}`).join('; ')}`);
}

export function register(program: Command): void {
  const runs = program.command('runs').description('list, show and compare recorded runs').addHelpText('after', `
Examples:
  $ trove runs list --sort "metrics.test_accuracy DESC"
  $ trove runs list --filter "metrics.acc > 0.9 and params.C = '1.0'" --uses data@v1
  $ trove runs show 01JD3Z8Q4X
  $ trove runs compare 01JD3Z8Q4X 01JD40A1B2`);
  runs
    .command('list')
    .description('runs, newest first, with the params and metrics that vary between them')
    .option('-e, --experiment <name>', 'only this experiment')
    .option('-f, --filter <expr>', "MLflow search filter, e.g. \"metrics.acc > 0.9 and params.C = '1.0'\"")
    .option('-s, --sort <keys>', 'MLflow order_by, e.g. "metrics.acc DESC, params.lr"')
    .option('-n, --limit <n>', 'at most n runs', (v) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--limit must be a whole number, got ${v}`);
      return n;
    })
    .option('--uses <data>', 'runs that read this data version: path, path@rev, or oid prefix')
    .option('--produced <data>', 'runs that wrote this data version: path, path@rev, or oid prefix')
    .option('--stale', 'only runs whose inputs are no longer the versions the pointers at HEAD (or --at) name')
    .option('--at <rev>', 'with --stale: compare with the pointers at this git revision', 'HEAD')
    .option('--json', 'print the runs as JSON')
    .addHelpText('after', `
Examples:
  $ trove runs list --stale                           runs trained on data that has changed since
  $ trove runs list --stale --at v2.0
  $ trove runs list --sort "metrics.test_accuracy DESC" --limit 5
  $ trove runs list --filter "metrics.acc > 0.9 and params.C = '1.0'"
  $ trove runs list --filter "attributes.status = 'FAILED' or tags.\\"x.y\\" LIKE '%a%'"
  $ trove runs list --uses data/iris.csv@HEAD~1      runs that read that version of the data
  $ trove runs list --produced models/model.bin      runs that wrote the current model

A filter error exits 1 and points at the column. Record files that cannot be read are reported
on stderr and left out.`)
    .action(async (o: { experiment?: string; filter?: string; sort?: string; limit?: number; uses?: string; produced?: string; json?: boolean; stale?: boolean; at?: string }) => {
      const repo = await Repo.open();
      try {
        const { limit, ...unlimited } = o;
        const res = await listRuns(repo, o.stale ? unlimited : o).catch((e) => explainQuery(e, o.filter ?? o.sort));
        warnSkipped(res.skipped);
        if (o.stale) return await renderStale(repo, res.runs, o.at ?? 'HEAD', limit, !!o.json);
        if (o.json) return json(res.runs);
        renderList(res.runs, describeQuery(o), o.limit === 0);
      } finally {
        repo.close();
      }
    });
  runs
    .command('show')
    .description('everything recorded about a run; each input and output marked as matching the workspace or not')
    .argument('<run>', 'run id (or its first characters)')
    .option('--json', 'print the run as JSON')
    .addHelpText('after', `
Examples:
  $ trove runs show 01JD3Z8Q4X
  $ trove runs show 01JD3Z8Q4X --json | jq .metrics`)
    .action(async (id: string, o: { json?: boolean }) => {
      const repo = await Repo.open();
      try {
        const s = await showRun(repo, id);
        const { staleRuns } = await import('../../core/runs/stale.js');
        const stale = await staleRuns(repo, { records: [s.record] }).then((x) => x.stale.get(s.record.id) ?? [], () => null);
        if (o.json) return json({ ...s.record, inputs: s.inputs, outputs: s.outputs, problems: s.problems, stale });
        renderShow(s);
        renderStaleOf(stale);
      } finally {
        repo.close();
      }
    });
  runs
    .command('export')
    .description('runs as OpenLineage RunEvents (JSON lines) or one W3C PROV-JSON document')
    .argument('[runs...]', 'run ids (or their first characters); default: every run')
    .option('--format <format>', 'openlineage | prov-json', 'openlineage')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .option('--to <url>', 'post the OpenLineage events to a collector (Marquez: POST /api/v1/lineage), with retries')
    .option('--namespace <ns>', 'OpenLineage namespace for this repository (default: its origin url)')
    .addHelpText('after', `
Examples:
  $ trove runs export --format openlineage > lineage.jsonl
  $ trove runs export 01JD3Z8Q4X --to http://127.0.0.1:5000        Marquez
  $ trove runs export --format prov-json -o prov.json

OpenLineage: a START and a COMPLETE/FAIL/ABORT event per run; each dataset's version facet is the
full oid; the job has the git sourceCodeLocation facet (commit as version).`)
    .action(async (ids: string[], o: { format: string; output?: string; to?: string; namespace?: string }) => {
      if (o.format !== 'openlineage' && o.format !== 'prov-json') throw new UsageError(`--format must be openlineage or prov-json, got ${JSON.stringify(o.format)}`);
      if (o.to && o.format !== 'openlineage') throw new UsageError('--to posts OpenLineage events; use it with --format openlineage');
      const repo = await Repo.open();
      try {
        const store = await repo.runStore();
        const names = ids.length ? await Promise.all(ids.map(async (id) => `${await store.resolveId(id)}.json`)) : await store.names();
        const recs = [];
        for (const n of names) {
          try {
            recs.push((await store.load(n)).record);
          } catch (e) {
            if (ids.length) throw e;
            warnSkipped([{ file: n, error: (e as Error).message }]);
          }
        }
        let text: string;
        if (o.format === 'prov-json') {
          const { runsToProv } = await import('../../core/runs/export-prov.js');
          text = JSON.stringify(runsToProv(recs), null, 2) + '\n';
        } else {
          const ol = await import('../../core/runs/export-openlineage.js');
          const ctx = await ol.lineageContext(repo, o.namespace);
          const events = recs.flatMap((r) => ol.runToOpenLineage(r, ctx));
          if (o.to) {
            const res = await ol.postLineage(events, o.to);
            err(`trove: posted ${plural(res.posted, 'event')} for ${plural(recs.length, 'run')} to ${res.endpoint} (${plural(res.attempts, 'request')})`);
            if (!o.output) return;
          }
          text = events.map((e) => JSON.stringify(e)).join('\n') + (events.length ? '\n' : '');
        }
        if (o.output) {
          const { writeFileAtomic } = await import('../../core/atomicWrite.js');
          await writeFileAtomic(o.output, text);
          err(`trove: wrote ${plural(recs.length, 'run')} to ${o.output}`);
        } else process.stdout.write(text);
      } finally {
        repo.close();
      }
    });
  runs
    .command('compare')
    .description('runs side by side: params, last metric values, commits, and which data versions differ')
    .argument('<runs...>', 'two or more run ids (or their first characters)')
    .option('--json', 'print the comparison as JSON')
    .addHelpText('after', `
Examples:
  $ trove runs compare 01JD3Z8Q4X 01JD40A1B2
  $ trove runs compare 01JD3Z8Q4X 01JD40A1B2 01JD41C3D4 --json`)
    .action(async (ids: string[], o: { json?: boolean }) => {
      if (ids.length < 2) throw new UsageError('compare needs at least two runs');
      const repo = await Repo.open();
      try {
        const c = await compareRuns(repo, ids);
        if (o.json) return json(c);
        renderCompare(c);
      } finally {
        repo.close();
      }
    });
  registerLifecycle(runs);
  registerImport(runs);
}
