// DOM helpers for the UI. Everything that comes from a run record is written as text (textContent
// through text nodes); attributes are set one by one and links only ever point inside this app.

/** Only in-app links: `#/…` routes and `/…` paths on this server. Anything else becomes '#'. */
export function safeHref(v) {
  const s = String(v);
  return s.startsWith('#/') || (s.startsWith('/') && !s.startsWith('//')) ? s : '#';
}

/** h('a', { href: '#/runs', class: 'x', onclick }, 'text', child) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'href') el.setAttribute('href', safeHref(v));
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code ?? body?.error_code ?? null;
    this.hint = body?.error?.hint ?? null;
    this.column = body?.error?.column ?? null;
  }
}

/** GET a JSON endpoint; a non-2xx answer throws ApiError with the server's message and column. */
export async function getJson(path, params) {
  const qs = params ? '?' + new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '')) : '';
  const res = await fetch(path + qs, { headers: { accept: 'application/json' } });
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

export const api = (name, params) => getJson('/api/trove/' + name.split('/').map(encodeURIComponent).join('/'), params);

/** A route link: route('run', id) → '#/run/<id>', route('runs', { filter }) → '#/runs?filter=…' */
export function route(page, arg) {
  if (typeof arg === 'string') return `#/${page}/${encodeURIComponent(arg)}`;
  const qs = arg ? new URLSearchParams(Object.entries(arg).filter(([, v]) => v !== undefined && v !== null && v !== '')).toString() : '';
  return `#/${page}${qs ? '?' + qs : ''}`;
}

export const shortOid = (oid) => (oid ? String(oid).replace(/^sha256:/, '').slice(0, 12) : '–');

export function humanBytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0, v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export const fmtNum = (v) => (v === null || v === undefined ? '–' : String(Number(Number(v).toPrecision(6))));
export const fmtTime = (ms) => (ms === null || ms === undefined ? '–' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19));
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export const statusBadge = (status) => h('span', { class: `badge status-${String(status).toLowerCase()}` }, status);

/** An error box: the message, the hint, and for a filter error the expression with a caret under the column. */
export function errorBox(e, expr) {
  const box = h('div', { class: 'error', role: 'alert' }, h('strong', null, 'Error: '), e.message);
  if (typeof e.column === 'number' && expr !== undefined) {
    box.append(h('pre', { class: 'caret' }, expr + '\n' + ' '.repeat(Math.max(0, e.column - 1)) + '^'));
  }
  if (e.hint) box.append(h('div', { class: 'hint' }, 'Hint: ', e.hint));
  return box;
}

export function table(head, rows, attrs) {
  return h('table', attrs ?? { class: 'grid' },
    h('thead', null, h('tr', null, head.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null, rows.map((r) => (r instanceof Node ? r : h('tr', null, r.map((c) => (c instanceof Node && c.tagName === 'TD' ? c : h('td', null, c))))))));
}

/**
 * Replace the hash without a new history entry (typing in the filter box), or push one. replaceState fires no
 * event of its own, so one is sent: the router (app.js) renders on hashchange either way.
 */
export function navigate(hash, { replace = false } = {}) {
  if (replace) {
    history.replaceState(null, '', hash);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else location.hash = hash;
}
