// Compare: params and metrics side by side with the differing rows marked, the data versions each run
// read (and, for a folder, which files differ from the first run's version, from trove's diff), and
// the metric histories overlaid.
import { api, getJson, h, route, table, shortOid, fmtNum } from './dom.js';
import { metricChart } from './charts.js';

export async function show(view, { params }) {
  const ids = (params.get('ids') ?? '').split(',').filter(Boolean);
  const c = await api('compare', { ids: ids.join(',') });
  // A fresh set of header links per table (a DOM node can only be in one place).
  const names = () => c.runs.map((r) => h('a', { href: route('run', r.id) }, r.name || r.id));
  const mark = (differs) => h('td', { class: 'mark', 'aria-label': differs ? 'differs' : 'same' }, differs ? '≠' : '');
  const rows = (list, fmt) => list.map((x) => h('tr', { class: x.differs ? 'differs' : null, 'data-key': x.key ?? x.path },
    mark(x.differs), h('th', { scope: 'row' }, x.key ?? x.path), (x.values ?? x.oids).map((v) => h('td', null, v === null ? h('span', { class: 'muted' }, '–') : fmt(v)))));
  const head = () => ['', 'Key', ...names()];
  view.append(h('h1', null, `Compare ${c.runs.length} runs`),
    h('section', null, h('h2', null, 'Params'), table(head(), rows(c.params, String), { class: 'grid compare params' })),
    h('section', null, h('h2', null, 'Metrics (latest)'), table(head(), rows(c.metrics, fmtNum), { class: 'grid compare metrics' })),
    h('section', null, h('h2', null, 'Inputs'), table(['', 'Path', ...names()], rows(c.inputs, (o) => h('code', { title: o }, shortOid(o))), { class: 'grid compare inputs' })),
    h('section', null, h('h2', null, 'Outputs'), table(['', 'Path', ...names()], rows(c.outputs, (o) => h('code', { title: o }, shortOid(o))), { class: 'grid compare outputs' })));

  if (c.files.length) {
    const sec = h('section', { class: 'datadiff' }, h('h2', null, 'Data differences'));
    for (const f of c.files) {
      f.diffs.forEach((d, i) => {
        const other = c.runs[i + 1];
        sec.append(h('h3', null, f.path, ': ', other.name || other.id, ' against ', c.runs[0].name || c.runs[0].id));
        if (!d) { sec.append(h('p', { class: 'muted' }, 'same version, or its folder trees are not in the cache')); return; }
        sec.append(table(['Change', 'File'], d.files.map((x) => [h('span', { class: `change ${x.change}` }, x.change), x.path]), { class: 'grid files' }));
        if (d.total > d.files.length) sec.append(h('p', { class: 'muted' }, `and ${d.total - d.files.length} more`));
      });
    }
    view.append(sec);
  }

  const { series } = await getJson('/api/trove/metrics', { runs: ids.join(',') });
  const charts = h('div', { class: 'charts' });
  view.append(h('section', null, h('h2', null, 'Metric histories'), charts));
  const keys = [...new Set(series.flatMap((s) => Object.keys(s.metrics)))].sort();
  for (const k of keys) {
    const runs = series.filter((s) => s.metrics[k]?.length).map((s) => ({ id: s.id, name: s.name, start: s.start, points: s.metrics[k] }));
    if (runs.some((x) => x.points.length > 1)) charts.append(metricChart(k, runs));
  }
}
