// The run page: status and duration, code version (and the stored uncommitted diff), params, metrics
// (latest and history charts), tags, inputs and outputs as data versions with a badge when the
// workspace no longer matches, and previews of the artifacts (text, JSON, CSV rows, images).
import { api, h, route, table, errorBox, shortOid, humanBytes, fmtNum, fmtTime, fmtDuration, statusBadge } from './dom.js';
import { metricChart } from './charts.js';

const BADGE = { matches: ['ok', 'matches workspace'], differs: ['warn', 'workspace differs'], missing: ['warn', 'not in workspace'], 'not-produced': ['muted', 'not produced'] };

const lastPoint = (pts) => pts.reduce((best, p) => (!best || p.step > best.step || (p.step === best.step && p.ts >= best.ts) ? p : best), null);

export async function show(view, { arg, isCurrent }) {
  const shown = await api(`runs/${arg}`);
  const r = shown.record;
  const end = r.end ? Date.parse(r.end) : null;
  const dur = (end ?? (r.status === 'RUNNING' ? Date.now() : NaN)) - Date.parse(r.start);
  view.append(
    h('p', { class: 'crumbs' }, h('a', { href: route('runs', { experiment: r.experiment }) }, r.experiment), ' / run'),
    h('h1', null, r.name || r.id, ' ', statusBadge(r.status)),
    h('dl', { class: 'facts' },
      h('dt', null, 'Run id'), h('dd', null, h('code', null, r.id)),
      h('dt', null, 'Experiment'), h('dd', null, r.experiment),
      h('dt', null, 'Status'), h('dd', null, r.status, r.exitCode === null ? '' : ` (exit ${r.exitCode})`),
      h('dt', null, 'Started'), h('dd', null, fmtTime(Date.parse(r.start))),
      h('dt', null, 'Duration'), h('dd', null, fmtDuration(dur)),
      h('dt', null, 'Command'), h('dd', null, h('code', null, r.command.join(' ') || '–')),
      h('dt', null, 'By'), h('dd', null, `${r.user}@${r.host}`),
      h('dt', null, 'Code'), h('dd', null, r.git ? [h('code', null, r.git.commit ? r.git.commit.slice(0, 12) : '(no commit)'), r.git.branch ? ` on ${r.git.branch}` : '', r.git.dirty ? ' — uncommitted changes' : ' — clean'] : 'not a git repository'),
    ),
    h('p', null, h('a', { href: route('lineage', { target: r.id }) }, 'Lineage of this run')),
  );
  if (shown.problems.length) view.append(h('div', { class: 'error' }, `${shown.problems.length} event line(s) could not be read; the first: line ${shown.problems[0].line}: ${shown.problems[0].message}`));
  if (r.git?.dirty && r.git.diffOid) {
    const pre = h('pre', { class: 'diff', hidden: true });
    const btn = h('button', { type: 'button', 'aria-expanded': 'false', onclick: async () => {
      if (!pre.hidden) { pre.hidden = true; btn.setAttribute('aria-expanded', 'false'); return; }
      try {
        const d = await api(`runs/${r.id}/diff`);
        pre.textContent = (d.diff ?? '') + (d.truncated ? '\n… (truncated)' : '');
      } catch (e) { pre.replaceChildren(errorBox(e)); }
      pre.hidden = false; btn.setAttribute('aria-expanded', 'true');
    } }, 'Show the uncommitted diff');
    view.append(h('section', null, btn, pre));
  }

  const kv = (title, obj) => h('section', null, h('h2', null, title),
    Object.keys(obj).length ? table(['Key', 'Value'], Object.entries(obj).map(([k, v]) => [k, v]), { class: `grid kv ${title.toLowerCase()}` }) : h('p', { class: 'muted' }, 'none'));
  view.append(kv('Params', r.params));

  const metricKeys = Object.keys(r.metrics).sort();
  const charts = h('div', { class: 'charts' });
  view.append(h('section', null, h('h2', null, 'Metrics'),
    metricKeys.length ? table(['Key', 'Latest', 'Step', 'Points'], metricKeys.map((k) => {
      const last = lastPoint(r.metrics[k]);
      return [k, fmtNum(last?.value), last ? String(last.step) : '–', String(r.metrics[k].length)];
    }), { class: 'grid kv metrics' }) : h('p', { class: 'muted' }, 'none'), charts));
  for (const k of metricKeys) {
    if (r.metrics[k].length > 1) charts.append(metricChart(k, [{ id: r.id, name: r.name, start: Date.parse(r.start), points: r.metrics[k] }]));
  }
  view.append(kv('Tags', r.tags));

  const dataRows = (list) => list.map((x) => [
    x.path, h('code', { title: x.oid ?? '' }, shortOid(x.oid)), x.type ?? '–', humanBytes(x.size), x.type === 'dir' ? String(x.files ?? 0) : '1',
    h('span', { class: `badge ${BADGE[x.workspace]?.[0] ?? ''}` }, BADGE[x.workspace]?.[1] ?? x.workspace),
    x.oid ? h('a', { href: route('lineage', { target: x.oid, direction: 'downstream' }) }, 'lineage') : '',
  ]);
  const head = ['Path', 'Version', 'Type', 'Size', 'Files', 'Workspace', ''];
  view.append(h('section', null, h('h2', null, 'Inputs'), shown.inputs.length ? table(head, dataRows(shown.inputs), { class: 'grid inputs' }) : h('p', { class: 'muted' }, 'none')));
  view.append(h('section', null, h('h2', null, 'Outputs'), shown.outputs.length ? table(head, dataRows(shown.outputs), { class: 'grid outputs' }) : h('p', { class: 'muted' }, 'none')));

  const files = shown.outputs.filter((o) => o.type === 'file' && o.oid);
  const area = h('div', { class: 'preview', 'aria-live': 'polite' });
  const previewOf = async (o) => {
    area.replaceChildren(h('h3', null, o.path));
    try {
      const p = await api('artifact', { run: r.id, path: o.path });
      if (p.kind === 'image') area.append(h('img', { src: `/api/trove/artifact?${new URLSearchParams({ run: r.id, path: o.path, raw: '1' })}`, alt: `image ${o.path}` }));
      else if (p.kind === 'csv') area.append(table(p.rows[0] ?? [], p.rows.slice(1), { class: 'grid csv' }), p.truncated ? h('p', { class: 'muted' }, 'first rows only') : null);
      else if (p.kind === 'json' || p.kind === 'text') area.append(h('pre', { class: 'text' }, p.text), p.truncated ? h('p', { class: 'muted' }, 'first 64 KiB only') : null);
      else if (p.kind === 'binary') area.append(h('p', { class: 'muted' }, `binary file, ${humanBytes(p.size)}`));
      else area.append(h('p', { class: 'muted' }, 'a folder'));
    } catch (e) { area.append(errorBox(e)); }
  };
  view.append(h('section', null, h('h2', null, 'Artifacts'),
    files.length ? h('ul', { class: 'artifacts' }, files.map((o) => h('li', null, h('button', { type: 'button', class: 'link', onclick: () => previewOf(o) }, o.path), ' ', h('span', { class: 'muted' }, humanBytes(o.size))))) : h('p', { class: 'muted' }, 'none'),
    area));

  // Live update while the run is RUNNING: reload the page's data every few seconds.
  let timer = null;
  if (r.status === 'RUNNING') timer = setTimeout(() => { if (isCurrent()) dispatchEvent(new HashChangeEvent('hashchange')); }, 3000);
  return () => clearTimeout(timer);
}
