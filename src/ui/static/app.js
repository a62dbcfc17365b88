// The router: one page at a time in <main>, chosen by the URL's hash (#/runs?filter=…), so that the
// state of each page (filter, sort, columns, selection for compare) is in a link that can be shared.
import { h, errorBox } from './dom.js';

const PAGES = {
  runs: () => import('./runs.js'),
  run: () => import('./run.js'),
  compare: () => import('./compare.js'),
  lineage: () => import('./lineage.js'),
  data: () => import('./data.js'),
  models: () => import('./models.js'),
};

let cleanup = null;
let generation = 0;

export function parseHash(hash = location.hash) {
  const s = hash.replace(/^#\/?/, '');
  const q = s.indexOf('?');
  const pathPart = q < 0 ? s : s.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : s.slice(q + 1));
  const [page, ...rest] = pathPart.split('/').map((x) => { try { return decodeURIComponent(x); } catch { return x; } });
  return { page: page || 'runs', arg: rest.join('/'), params };
}

async function render() {
  const gen = ++generation;
  const { page, arg, params } = parseHash();
  if (cleanup) { try { cleanup(); } catch { /* ignore */ } cleanup = null; }
  const main = document.getElementById('main');
  for (const a of document.querySelectorAll('header nav a')) {
    if (a.dataset.page === (page === 'run' || page === 'compare' ? 'runs' : page)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const load = PAGES[page];
  if (!load) {
    main.replaceChildren(h('h1', null, 'Not found'), h('p', null, 'No page named ', h('code', null, page), '. ', h('a', { href: '#/runs' }, 'Go to the runs')));
    return;
  }
  try {
    const mod = await load();
    if (gen !== generation) return;
    const view = h('div', { class: `page page-${page}` });
    main.replaceChildren(view);
    const c = await mod.show(view, { arg, params, isCurrent: () => gen === generation });
    if (gen !== generation) { if (typeof c === 'function') c(); return; }
    cleanup = typeof c === 'function' ? c : null;
    document.body.dataset.ready = page;
  } catch (e) {
    if (gen !== generation) return;
    main.replaceChildren(errorBox(e));
    document.body.dataset.ready = page;
  }
}

// navigate lives in dom.js (pages import it; importing it from here was a circle): a replaceState there
// announces itself with a hashchange event, which renders as a new hash does
export { navigate } from './dom.js';

window.addEventListener('hashchange', render);
render();
