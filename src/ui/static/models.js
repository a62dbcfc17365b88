// Models: registered models, their versions and aliases, from MLflow's registry endpoints that
// `trove server` provides. A server without them (404) is told plainly.
import { getJson, h, route, table, errorBox, fmtTime } from './dom.js';

export async function show(view) {
  view.append(h('h1', null, 'Models'));
  let models;
  try {
    ({ registered_models: models = [] } = await getJson('/api/2.0/mlflow/registered-models/search', { max_results: '1000' }));
  } catch (e) {
    view.append(e.status === 404 ? h('p', { class: 'notice', role: 'status' }, 'No model registry on this server. Start it with trove server to register models.') : errorBox(e));
    return;
  }
  if (!models.length) { view.append(h('p', { class: 'muted' }, 'No registered models yet.')); return; }
  for (const m of models) {
    const sec = h('section', { class: 'model', 'data-model': m.name }, h('h2', null, m.name));
    if (m.description) sec.append(h('p', null, m.description));
    const aliases = m.aliases ?? [];
    if (aliases.length) sec.append(h('p', null, 'Aliases: ', aliases.map((a, i) => [i ? ', ' : '', h('code', null, a.alias), ` → v${a.version}`])));
    try {
      const filter = `name='${String(m.name).replace(/'/g, "''")}'`;
      const { model_versions: versions = [] } = await getJson('/api/2.0/mlflow/model-versions/search', { filter, max_results: '1000' });
      const byVersion = new Map();
      for (const a of aliases) byVersion.set(String(a.version), [...(byVersion.get(String(a.version)) ?? []), a.alias]);
      sec.append(table(['Version', 'Aliases', 'Status', 'Run', 'Source', 'Created', 'Updated'], versions.map((v) => [
        String(v.version), (v.aliases ?? byVersion.get(String(v.version)) ?? []).join(', ') || '–', v.status ?? v.current_stage ?? '–',
        v.run_id ? h('a', { href: route('run', v.run_id) }, v.run_id) : '–', v.source ?? '–',
        fmtTime(Number(v.creation_timestamp) || null), fmtTime(Number(v.last_updated_timestamp) || null),
      ]), { class: 'grid versions' }));
    } catch (e) {
      sec.append(errorBox(e));
    }
    view.append(sec);
  }
}
