/**
 * The web UI as a request handler: the static pages at `/` (plain ES modules from `static/`, no build
 * step), the two chart/layout libraries from `node_modules`, and the JSON the pages need under
 * `/api/trove/…`, built on the core queries (not on the MLflow endpoints). `trove ui` serves it on its
 * own; `trove server` mounts it beside MLflow's REST API.
 *
 * Safety: every response carries a Content-Security-Policy that allows scripts, styles and data only
 * from this origin (no inline script, no eval), `nosniff`, and no framing. Nothing from a run record
 * becomes markup: the pages write it with `textContent`. Artifacts are previewed as text in JSON, or
 * served as bytes only when they are a raster image by their magic bytes (an SVG or HTML artifact is
 * never served with a type a browser would run).
 */
import { createReadStream, existsSync, promises as fsp } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TroveError } from '../core/errors.js';
import type { Oid } from '../core/oid.js';
import { Repo } from '../core/repo.js';
import { renderLineageJson } from '../core/runs/lineage-render.js';
import { compareRuns, lineageOf, listRuns, showRun } from '../core/runs/queries.js';
import { diffFolders } from '../core/diff.js';
import { log } from '../core/versions.js';
import { artifactPreview, imageType } from './preview.js';

export const CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: blob:",
  "connect-src 'self'", "font-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

// In a checkout the pages are served from src/ui/static (edits show without a rebuild); the npm
// package ships no src/, and the build copies them to dist/ui/static beside this file.
const HERE = path.dirname(fileURLToPath(import.meta.url));
const STATIC_DIR = [path.resolve(HERE, '../../src/ui/static'), path.join(HERE, 'static')].find((d) => existsSync(path.join(d, 'index.html')))
  ?? path.join(HERE, 'static');
const require = createRequire(import.meta.url);

/** Third-party files the pages load, resolved in node_modules at run time (never copied here). */
const VENDOR: Record<string, () => string> = {
  'uplot.js': () => require.resolve('uplot/dist/uPlot.iife.min.js'),
  'uplot.css': () => require.resolve('uplot/dist/uPlot.min.css'),
  'dagre.js': () => path.join(path.dirname(require.resolve('@dagrejs/dagre/package.json')), 'dist/dagre.min.js'),
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon',
};

/** Caps on what one answer may carry, so a huge folder or diff cannot exhaust the page or the server. */
export const UI_LIMITS = Object.freeze({ diffFiles: 500, gitDiffBytes: 1 << 20 });

function secure(res: ServerResponse): void {
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cache-Control', 'no-store');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  secure(res);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

const STATUS: Partial<Record<string, number>> = { NOT_FOUND: 404, BAD_QUERY: 400, BAD_ARGS: 400, BAD_RUN: 422, MISSING_OBJECT: 404, PATH_OUTSIDE_REPO: 400, PATH_NOT_TRACKED: 404 };

function sendError(res: ServerResponse, e: unknown): void {
  if (e instanceof TroveError) {
    sendJson(res, STATUS[e.code] ?? 500, { error: { code: e.code, message: e.message, hint: e.hint ?? null, column: typeof e.data?.column === 'number' ? e.data.column : null } });
    return;
  }
  // Not a TroveError: a bug or a system error. Say so without a stack (it could name local paths).
  sendJson(res, 500, { error: { code: 'INTERNAL', message: (e as Error)?.message ?? String(e), hint: null, column: null } });
}

async function sendFile(res: ServerResponse, file: string, type: string): Promise<void> {
  const st = await fsp.stat(file);
  secure(res);
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': st.size });
  await new Promise<void>((resolve, reject) => {
    createReadStream(file).on('error', reject).on('end', resolve).pipe(res);
  });
}

const keySets = (runs: { params: object; metrics: object; tags: object }[]) => {
  const p = new Set<string>(), m = new Set<string>(), t = new Set<string>();
  for (const r of runs) {
    for (const k of Object.keys(r.params)) p.add(k);
    for (const k of Object.keys(r.metrics)) m.add(k);
    for (const k of Object.keys(r.tags)) t.add(k);
  }
  return { params: [...p].sort(), metrics: [...m].sort(), tags: [...t].sort() };
};

type Api = (repo: Repo, q: URLSearchParams, rest: string[], res: ServerResponse) => Promise<unknown>;

const need = (q: URLSearchParams, name: string): string => {
  const v = q.get(name);
  if (v === null || v === '') throw new TroveError('BAD_ARGS', `the query parameter ${name} is required`);
  return v;
};

const ROUTES: Record<string, Api> = {
  /** Experiments with their run counts. */
  async experiments(repo) {
    const { runs } = await listRuns(repo);
    const counts = new Map<string, number>();
    for (const r of runs) counts.set(r.experiment, (counts.get(r.experiment) ?? 0) + 1);
    return { experiments: [...counts].sort((a, b) => a[0].localeCompare(b[0])).map(([name, runs]) => ({ name, runs })) };
  },

  /** Runs with trove's filter grammar and order_by; the keys found, for the column picker. */
  async runs(repo, q, rest) {
    if (rest.length) return ROUTES.run!(repo, q, rest, undefined as never);
    const limit = q.get('limit');
    const { runs, skipped } = await listRuns(repo, {
      experiment: q.get('experiment') || undefined, filter: q.get('filter') || undefined, sort: q.get('sort') || undefined,
      limit: limit ? Math.max(1, Math.min(1e6, Number(limit) || 1)) : undefined,
    });
    return { runs, skipped: skipped.map((s) => s.file), keys: keySets(runs) };
  },

  /** One run: the record, its data versions against the workspace, and its artifacts. */
  async run(repo, _q, rest) {
    const [id, what] = rest;
    const shown = await showRun(repo, id!);
    if (what === 'diff') {
      const oid = shown.record.git?.diffOid;
      if (!oid) return { diff: null };
      const bytes = repo.cache.readSmall(oid as Oid, 'blob', `the uncommitted diff of run ${shown.record.id}`);
      return { diff: bytes.subarray(0, UI_LIMITS.gitDiffBytes).toString('utf8'), truncated: bytes.length > UI_LIMITS.gitDiffBytes };
    }
    if (what !== undefined) throw new TroveError('NOT_FOUND', `no such page: runs/${id}/${what}`);
    return { ...shown, problems: shown.problems };
  },

  /** Metric histories of several runs for one chart. */
  async metrics(repo, q) {
    const ids = need(q, 'runs').split(',').filter(Boolean).slice(0, 100);
    const key = q.get('key');
    const series = [];
    for (const id of ids) {
      const { record } = await (await repo.runStore()).read(id);
      const metrics = key ? { [key]: record.metrics[key] ?? [] } : record.metrics;
      series.push({ id: record.id, name: record.name, start: Date.parse(record.start), metrics });
    }
    return { series };
  },

  /** compareRuns plus, for each folder input whose versions differ, the files that differ (capped). */
  async compare(repo, q) {
    const ids = need(q, 'ids').split(',').filter(Boolean).slice(0, 50);
    const c = await compareRuns(repo, ids);
    const files = [];
    for (const row of c.inputs) {
      if (!row.differs || !row.files) continue;
      const base = row.oids[0];
      const per = [];
      for (let i = 1; i < row.oids.length; i++) {
        const other = row.oids[i];
        if (!base || !other || base === other || row.files[i] === null) { per.push(null); continue; }
        try {
          const d = await diffFolders(repo.cache, { kind: 'tree', oid: base as Oid }, { kind: 'tree', oid: other as Oid }, row.path);
          const all = [
            ...d.added.map((x) => ({ change: 'added', path: x.path })), ...d.deleted.map((x) => ({ change: 'deleted', path: x.path })),
            ...d.modified.map((x) => ({ change: 'modified', path: x.path })), ...d.renamed.map((x) => ({ change: 'renamed', path: `${x.from} → ${x.to}` })),
          ];
          per.push({ run: c.runs[i]!.id, total: all.length, files: all.slice(0, UI_LIMITS.diffFiles) });
        } catch (e) {
          if (!(e instanceof TroveError && e.code === 'MISSING_OBJECT')) throw e;
          per.push(null);
        }
      }
      files.push({ path: row.path, against: c.runs[0]!.id, diffs: per });
    }
    return { ...c, files };
  },

  /** Exactly what `trove lineage --format json` prints for the same target. */
  async lineage(repo, q) {
    const dir = q.get('direction') === 'downstream' ? 'downstream' : 'upstream';
    const depth = q.get('depth');
    const g = await lineageOf(repo, need(q, 'target'), { direction: dir, depth: depth ? Number(depth) : undefined });
    const { skipped, ...graph } = g;
    return { ...JSON.parse(renderLineageJson(graph)), skipped: skipped.map((s) => s.file) };
  },

  /** Tracked paths, for the data page. */
  async tracked(repo) {
    const t = await repo.listTracked();
    return { tracked: t.map((x) => ({ path: x.path, type: x.pointer.type, oid: x.pointer.oid, size: x.pointer.size, files: x.pointer.files ?? null })) };
  },

  /** `trove log <path>` rows, each with the runs that read or wrote that version. */
  async log(repo, q) {
    const rows = await log(repo, need(q, 'path'), { max: 500 });
    const { index } = await (await repo.runStore()).openIndex();
    try {
      const brief = (r: { id: string; name: string; status: string; experiment: string }) => ({ id: r.id, name: r.name, status: r.status, experiment: r.experiment });
      return {
        rows: rows.map((r) => ({
          ...r,
          usedBy: r.oid ? index.list({ usesOid: r.oid }).map(brief) : [],
          producedBy: r.oid ? index.list({ producedOid: r.oid }).map(brief) : [],
        })),
      };
    } finally {
      index.close();
    }
  },

  /** A preview of one file output (artifact) of a run: text, JSON, CSV rows, or an image's type. */
  async artifact(repo, q, _rest, res) {
    const { record } = await (await repo.runStore()).read(need(q, 'run'));
    const p = need(q, 'path');
    const out = record.outputs.find((o) => o.path === p);
    if (!out || out.oid === null) throw new TroveError('NOT_FOUND', `${p} is not an output of run ${record.id}`);
    if (out.type !== 'file') return { kind: 'folder', files: out.files ?? null, size: out.size ?? null };
    if (!(await repo.cache.has(out.oid as Oid, 'blob'))) throw new TroveError('MISSING_OBJECT', `${p}: its object is not in the cache`, 'run `trove pull` to get it');
    if (q.get('raw') === '1') {
      const type = await imageType(await repo.cache.open(out.oid as Oid, 'blob', p));
      if (!type) throw new TroveError('BAD_ARGS', `${p} is not a PNG, JPEG, GIF or WebP image`);
      secure(res);
      res.writeHead(200, { 'Content-Type': type, 'Content-Length': out.size ?? undefined, 'Content-Disposition': 'inline; filename="image"' });
      const body = await repo.cache.open(out.oid as Oid, 'blob', p);
      await new Promise<void>((resolve, reject) => body.on('error', reject).on('end', resolve).pipe(res));
      return undefined;
    }
    return artifactPreview(await repo.cache.open(out.oid as Oid, 'blob', p), p, out.size ?? 0);
  },
};

/**
 * The UI handler for the repository at `root`. Answers `/`, `/static/…`, `/vendor/…` and
 * `/api/trove/…` (GET only); returns false for anything else so the caller can serve it (or 404).
 * @example http.createServer(async (req, res) => { if (!(await ui(req, res))) { res.statusCode = 404; res.end() } })
 */
export function createUiHandler({ root }: { root: string }): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://ui.invalid');
    } catch {
      return false;
    }
    const p = url.pathname;
    const ours = p === '/' || p === '/index.html' || p.startsWith('/static/') || p.startsWith('/vendor/') || p.startsWith('/api/trove/');
    if (!ours) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: { code: 'BAD_ARGS', message: `${req.method} is not allowed here`, hint: null, column: null } });
      return true;
    }
    try {
      if (p === '/' || p === '/index.html') {
        await sendFile(res, path.join(STATIC_DIR, 'index.html'), TYPES['.html']!);
      } else if (p.startsWith('/static/')) {
        const name = p.slice('/static/'.length);
        // One segment of plain characters: no traversal, no encoded separators, no hidden files.
        if (!/^[a-z0-9][a-z0-9_-]*\.(js|css|svg|png|ico)$/.test(name)) return notFound(res, p);
        await sendFile(res, path.join(STATIC_DIR, name), TYPES[path.extname(name)]!).catch(() => notFound(res, p));
      } else if (p.startsWith('/vendor/')) {
        const f = VENDOR[p.slice('/vendor/'.length)];
        if (!f) return notFound(res, p);
        await sendFile(res, f(), TYPES[path.extname(p)]!);
      } else {
        let parts: string[];
        try {
          parts = p.slice('/api/trove/'.length).split('/').map((s) => decodeURIComponent(s));
        } catch {
          return notFound(res, p); // a malformed %-escape names nothing
        }
        const route = Object.hasOwn(ROUTES, parts[0]!) ? ROUTES[parts[0]!] : undefined;
        if (!route) return notFound(res, p);
        const repo = await Repo.open(root);
        try {
          const body = await route(repo, url.searchParams, parts.slice(1), res);
          if (body !== undefined) sendJson(res, 200, body);
        } finally {
          repo.close();
        }
      }
    } catch (e) {
      if (res.headersSent) res.destroy(e as Error);
      else sendError(res, e);
    }
    return true;
  };
}

function notFound(res: ServerResponse, p: string): true {
  sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `nothing at ${p}`, hint: null, column: null } });
  return true;
}
