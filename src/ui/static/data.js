// Data: the history of one tracked path across commits (`trove log`), with the runs that read and
// wrote each version.
import { api, h, route, table, errorBox, shortOid, humanBytes } from './dom.js';

const runLinks = (list) => (list.length ? list.map((r, i) => [i ? ', ' : '', h('a', { href: route('run', r.id) }, r.name || r.id)]) : h('span', { class: 'muted' }, '–'));

export async function show(view, { params }) {
  const current = params.get('path') ?? '';
  const { tracked } = await api('tracked');
  const side = h('nav', { class: 'side', 'aria-label': 'tracked paths' }, h('h2', null, 'Tracked'),
    tracked.length ? h('ul', null, tracked.map((t) => h('li', null, h('a', { href: route('data', { path: t.path }), 'aria-current': t.path === current ? 'page' : null }, t.path)))) : h('p', { class: 'muted' }, 'nothing tracked yet'));
  const content = h('section', { class: 'content' });
  view.append(side, content);
  if (!current) { content.append(h('h1', null, 'Data'), h('p', { class: 'muted' }, 'Pick a tracked path to see its versions.')); return; }
  content.append(h('h1', null, current));
  try {
    const { rows } = await api('log', { path: current });
    content.append(table(['Commit', 'Date', 'Author', 'Subject', 'Version', 'Size', 'Files', 'Changes', 'Used by', 'Produced by', ''], rows.map((r) => [
      h('code', { title: r.commit }, r.commit.slice(0, 10)), r.date.slice(0, 19).replace('T', ' '), r.author, r.subject,
      r.oid ? h('code', { title: r.oid }, shortOid(r.oid)) : h('span', { class: 'muted' }, 'deleted'), humanBytes(r.size), r.files ?? '–',
      r.changes ? `+${r.changes.added} ~${r.changes.modified} −${r.changes.deleted}${r.changes.renamed ? ` →${r.changes.renamed}` : ''}` : '–',
      runLinks(r.usedBy), runLinks(r.producedBy),
      r.oid ? h('a', { href: route('lineage', { target: r.oid, direction: 'downstream' }) }, 'lineage') : '',
    ]), { class: 'grid log' }));
  } catch (e) {
    content.append(errorBox(e));
  }
}
