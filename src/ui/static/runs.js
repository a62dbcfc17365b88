// The runs page: experiments on the side, a table of runs with the columns the user picks, sorted by any
// column and filtered with trove's grammar (server side, the same code as `trove runs list`), all kept in
// the URL. Rows are virtual: only the visible ones (plus a margin) exist in the DOM, so 10,000 runs
// scroll as smoothly as 10. Keyboard: arrows move, Enter opens, Space selects for compare.
import { api, h, navigate, route, errorBox, fmtNum, fmtTime, fmtDuration, statusBadge } from './dom.js';

const ROW_H = 30;
const MARGIN = 10;
const POLL_MS = 3000;

/** A key as the filter grammar wants it: bare when it can be, else in backquotes. */
export const quoteKey = (k) => (/^[A-Za-z0-9_.\-/]+$/.test(k) ? k : '`' + k.replace(/`/g, '') + '`');

const FIXED = [
  { id: 'run_name', label: 'Run', sortKey: 'attributes.run_name' },
  { id: 'status', label: 'Status', sortKey: 'attributes.status' },
  { id: 'start_time', label: 'Started', sortKey: 'attributes.start_time' },
  { id: 'duration', label: 'Duration', sortKey: null },
];

function columnOf(spec) {
  const dot = spec.indexOf('.');
  const kind = spec.slice(0, dot), key = spec.slice(dot + 1);
  const prefix = { params: 'params', metrics: 'metrics', tags: 'tags' }[kind];
  if (!prefix) return null;
  return { id: spec, kind, key, label: `${kind}.${key}`, sortKey: `${prefix}.${quoteKey(key)}` };
}

export async function show(view, { params, isCurrent }) {
  const filter = params.get('filter') ?? '';
  const sort = params.get('sort') ?? '';
  const experiment = params.get('experiment') ?? '';
  const selected = new Set((params.get('selected') ?? '').split(',').filter(Boolean));
  const state = { runs: [], keys: { params: [], metrics: [], tags: [] }, cursor: 0, cols: [] };

  const setUrl = (changes, replace = false) => {
    const p = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) { if (v === '' || v === null || v === undefined) p.delete(k); else p.set(k, v); }
    navigate('#/runs' + (p.toString() ? '?' + p : ''), { replace });
  };

  // --- layout
  const side = h('nav', { class: 'side', 'aria-label': 'experiments' }, h('h2', null, 'Experiments'));
  const input = h('input', { type: 'search', id: 'filter', name: 'filter', value: filter, placeholder: "metrics.acc > 0.9 AND params.model = 'cnn'", 'aria-label': 'filter runs', autocomplete: 'off', spellcheck: 'false' });
  const form = h('form', { class: 'filter', role: 'search', onsubmit: (ev) => { ev.preventDefault(); setUrl({ filter: input.value.trim() }); } },
    input, h('button', { type: 'submit' }, 'Filter'),
    filter ? h('button', { type: 'button', onclick: () => setUrl({ filter: '' }) }, 'Clear') : null);
  const errArea = h('div', { class: 'filter-error', 'aria-live': 'polite' });
  const count = h('span', { class: 'count', 'aria-live': 'polite' });
  const compareBtn = h('button', { type: 'button', id: 'compare', disabled: true, onclick: () => navigate(route('compare', { ids: [...selected].join(',') })) }, 'Compare');
  const colsBtn = h('button', { type: 'button', 'aria-expanded': 'false', 'aria-controls': 'colpicker', onclick: () => {
    const open = picker.hidden; picker.hidden = !open; colsBtn.setAttribute('aria-expanded', String(open));
  } }, 'Columns');
  const picker = h('fieldset', { id: 'colpicker', class: 'picker', hidden: true });
  const headRow = h('tr');
  const spacerTop = h('tr', { class: 'spacer', 'aria-hidden': 'true' });
  const spacerBottom = h('tr', { class: 'spacer', 'aria-hidden': 'true' });
  const body = h('tbody');
  const tbl = h('table', { class: 'grid runs', role: 'grid', 'aria-label': 'runs', 'aria-rowcount': '0' }, h('thead', null, headRow), body);
  const scroller = h('div', { class: 'scroller', tabindex: '0', 'aria-label': 'runs table: arrows move, Enter opens, Space selects' }, tbl);
  view.append(side, h('section', { class: 'content' },
    h('div', { class: 'toolbar' }, form, colsBtn, compareBtn, count), errArea, picker, scroller));

  const updateCompare = () => {
    compareBtn.disabled = selected.size < 2;
    compareBtn.textContent = `Compare (${selected.size})`;
  };
  updateCompare();

  const toggle = (id) => {
    if (selected.has(id)) selected.delete(id); else selected.add(id);
    updateCompare();
    history.replaceState(null, '', (() => { const p = new URLSearchParams(params); if (selected.size) p.set('selected', [...selected].join(',')); else p.delete('selected'); return '#/runs?' + p; })());
    paint();
  };

  // --- columns
  const chooseCols = () => {
    const fromUrl = params.get('cols');
    if (fromUrl !== null) return fromUrl.split(',').filter(Boolean).map(columnOf).filter(Boolean);
    return [...state.keys.metrics.slice(0, 6).map((k) => `metrics.${k}`), ...state.keys.params.slice(0, 6).map((k) => `params.${k}`)].map(columnOf);
  };
  const renderPicker = () => {
    const chosen = new Set(state.cols.map((c) => c.id));
    picker.replaceChildren(h('legend', null, 'Columns'));
    for (const kind of ['metrics', 'params', 'tags']) {
      for (const k of state.keys[kind]) {
        const id = `${kind}.${k}`;
        const box = h('input', { type: 'checkbox', checked: chosen.has(id), onchange: () => {
          const next = state.cols.map((c) => c.id).filter((c) => c !== id);
          if (box.checked) next.push(id);
          setUrl({ cols: next.join(',') || ',' }, true);
        } });
        picker.append(h('label', null, box, ' ', id));
      }
    }
  };
  const sortState = () => {
    const m = /^(.*?)(?:\s+(ASC|DESC))?$/i.exec(sort.trim());
    return { key: m?.[1] ?? '', desc: (m?.[2] ?? 'ASC').toUpperCase() === 'DESC' };
  };
  const renderHead = () => {
    const all = [...FIXED, ...state.cols];
    const s = sortState();
    headRow.replaceChildren(h('th', { scope: 'col', class: 'sel' }, h('span', { class: 'visually-hidden' }, 'Select')));
    for (const c of all) {
      const active = c.sortKey && s.key === c.sortKey;
      const th = h('th', { scope: 'col', 'data-col': c.id, 'aria-sort': active ? (s.desc ? 'descending' : 'ascending') : null });
      if (c.sortKey) {
        th.append(h('button', { type: 'button', class: 'sort', onclick: () => setUrl({ sort: `${c.sortKey} ${active && !s.desc ? 'DESC' : 'ASC'}` }) },
          c.label, active ? (s.desc ? ' ▼' : ' ▲') : ''));
      } else th.append(c.label);
      headRow.append(th);
    }
  };

  const cellOf = (r, c) => {
    switch (c.id) {
      case 'run_name': return h('a', { href: route('run', r.id), tabindex: '-1' }, r.name || r.id);
      case 'status': return statusBadge(r.status);
      case 'start_time': return fmtTime(r.start);
      case 'duration': return fmtDuration((r.end ?? (r.status === 'RUNNING' ? Date.now() : null)) - r.start);
    }
    const v = r[c.kind][c.key];
    if (v === undefined) return h('span', { class: 'muted' }, '–');
    return c.kind === 'metrics' ? fmtNum(v) : v;
  };

  // --- virtual rows
  let painted = [-1, -1];
  const paint = (force = true) => {
    const n = state.runs.length;
    const top = scroller.scrollTop;
    const visible = Math.ceil((scroller.clientHeight || 600) / ROW_H);
    const start = Math.max(0, Math.floor(top / ROW_H) - MARGIN);
    const end = Math.min(n, start + visible + 2 * MARGIN);
    if (!force && painted[0] === start && painted[1] === end) return;
    painted = [start, end];
    const all = [...FIXED, ...state.cols];
    spacerTop.style.height = `${start * ROW_H}px`;
    spacerBottom.style.height = `${(n - end) * ROW_H}px`;
    const rows = [spacerTop];
    for (let i = start; i < end; i++) {
      const r = state.runs[i];
      const box = h('input', { type: 'checkbox', tabindex: '-1', 'aria-label': `select ${r.name || r.id}`, checked: selected.has(r.id), onchange: () => toggle(r.id) });
      const tr = h('tr', { 'data-id': r.id, 'aria-rowindex': String(i + 2), class: i === state.cursor ? 'cursor' : null, 'aria-selected': selected.has(r.id) ? 'true' : 'false' },
        h('td', { class: 'sel' }, box), all.map((c) => h('td', { 'data-col': c.id }, cellOf(r, c))));
      tr.addEventListener('click', (ev) => { if (ev.target === box || ev.target.tagName === 'A') return; state.cursor = i; paint(); });
      rows.push(tr);
    }
    rows.push(spacerBottom);
    body.replaceChildren(...rows);
  };
  let raf = 0;
  scroller.addEventListener('scroll', () => { if (!raf) raf = requestAnimationFrame(() => { raf = 0; paint(false); }); });
  scroller.addEventListener('keydown', (ev) => {
    const n = state.runs.length;
    if (!n) return;
    const page = Math.max(1, Math.floor(scroller.clientHeight / ROW_H) - 1);
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page, Home: -Infinity, End: Infinity };
    if (ev.key in moves) {
      ev.preventDefault();
      state.cursor = Math.max(0, Math.min(n - 1, state.cursor + moves[ev.key]));
      const y = state.cursor * ROW_H;
      const head = ROW_H;
      if (y < scroller.scrollTop) scroller.scrollTop = y;
      else if (y + ROW_H > scroller.scrollTop + scroller.clientHeight - head) scroller.scrollTop = y + ROW_H - scroller.clientHeight + head;
      paint();
    } else if (ev.key === 'Enter') {
      ev.preventDefault();
      navigate(route('run', state.runs[state.cursor].id));
    } else if (ev.key === ' ') {
      ev.preventDefault();
      toggle(state.runs[state.cursor].id);
    }
  });

  // --- data
  let timer = null;
  const load = async (first) => {
    try {
      const res = await api('runs', { filter, sort, experiment });
      if (!isCurrent()) return;
      state.runs = res.runs;
      state.keys = res.keys;
      if (first) { state.cols = chooseCols(); renderHead(); renderPicker(); }
      tbl.setAttribute('aria-rowcount', String(res.runs.length + 1));
      count.textContent = `${res.runs.length} run${res.runs.length === 1 ? '' : 's'}` + (res.skipped.length ? ` (${res.skipped.length} unreadable record${res.skipped.length === 1 ? '' : 's'} skipped)` : '');
      if (!res.runs.length && first) errArea.replaceChildren(h('p', { class: 'muted' }, filter ? 'No runs match this filter.' : 'No runs yet. Record one with trove run -- <command>.'));
      paint();
      // Live update while something is running.
      if (res.runs.some((r) => r.status === 'RUNNING')) timer = setTimeout(() => load(false), POLL_MS);
    } catch (e) {
      if (!isCurrent()) return;
      if (first) { state.cols = chooseCols(); renderHead(); }
      errArea.replaceChildren(errorBox(e, filter));
      count.textContent = '';
    }
  };
  // --- experiments (asked after the first rows are on screen: it lists every run too)
  const loadExperiments = () => api('experiments').then(({ experiments }) => {
    const list = h('ul', null, h('li', null, h('a', { href: route('runs', { ...Object.fromEntries(params), experiment: '' }), 'aria-current': experiment ? null : 'page' }, 'All runs')));
    for (const x of experiments) {
      list.append(h('li', null, h('a', { href: route('runs', { ...Object.fromEntries(params), experiment: x.name }), 'aria-current': x.name === experiment ? 'page' : null }, x.name, ' ', h('span', { class: 'muted' }, `(${x.runs})`))));
    }
    side.append(list);
  }).catch((e) => side.append(errorBox(e)));

  await load(true);
  if (isCurrent()) loadExperiments();
  return () => { clearTimeout(timer); if (raf) cancelAnimationFrame(raf); };
}
