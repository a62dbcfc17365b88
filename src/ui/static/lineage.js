// Lineage: the graph that `trove lineage --format json` gives (the same endpoint answer), laid out
// left to right by dagre and drawn as SVG. Data versions are boxes, runs are rounded; every node is
// a link (a run opens its page, a data version re-centres the graph on it) reachable by Tab.
import { api, h, navigate, route, errorBox, shortOid } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const svg = (tag, attrs) => {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs ?? {})) el.setAttribute(k, String(v));
  return el;
};
const CHAR_W = 7.2, LINE_H = 16, PAD = 10, MAX_CHARS = 40;
const clip = (s) => (s.length > MAX_CHARS ? s.slice(0, MAX_CHARS - 1) + '…' : s);

export function labelOf(n) {
  return n.kind === 'data' ? [n.path || '(unknown path)', shortOid(n.oid)] : [`run ${n.name || '(unnamed)'}`, `${n.id.slice(0, 10)}… ${n.status}`];
}

/**
 * A rank (column) per node: one more than its furthest predecessor, and a source (a data version no
 * recorded run produced) just left of its first reader. A cycle (it cannot come from real runs, but
 * records are input) is cut where the walk meets a node it is inside of.
 */
export function ranksOf(g) {
  const preds = new Map(g.nodes.map((n) => [n.key, []]));
  const succs = new Map(g.nodes.map((n) => [n.key, []]));
  for (const e of g.edges) { preds.get(e.to)?.push(e.from); succs.get(e.from)?.push(e.to); }
  const rank = new Map(), state = new Map();
  for (const start of g.nodes.map((n) => n.key)) {
    if (state.has(start)) continue;
    // iterative DFS (a 200-run chain is deeper than is safe to recurse in every browser)
    const stack = [[start, 0]];
    state.set(start, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const ps = preds.get(top[0]);
      if (top[1] < ps.length) {
        const p = ps[top[1]++];
        if (!state.has(p)) { state.set(p, 1); stack.push([p, 0]); }
      } else {
        let r = 0;
        for (const p of ps) if (state.get(p) === 2) r = Math.max(r, rank.get(p) + 1);
        rank.set(top[0], r);
        state.set(top[0], 2);
        stack.pop();
      }
    }
  }
  for (const n of g.nodes) {
    const s = succs.get(n.key);
    if (!preds.get(n.key).length && s.length) rank.set(n.key, Math.min(...s.map((k) => rank.get(k))) - 1);
  }
  return rank;
}

/** Lays out and draws a lineage graph; returns the <svg> and the layout time in ms. */
export function drawLineage(g, onOpen) {
  const t0 = performance.now();
  const dg = new dagre.graphlib.Graph({ multigraph: true });
  dg.setGraph({ rankdir: 'LR', nodesep: 18, ranksep: 56, marginx: 12, marginy: 12 });
  dg.setDefaultEdgeLabel(() => ({}));
  for (const n of g.nodes) {
    const lines = labelOf(n).map(clip);
    dg.setNode(n.key, { width: Math.max(...lines.map((l) => l.length)) * CHAR_W + 2 * PAD, height: lines.length * LINE_H + PAD, lines, node: n });
  }
  // dagre routes an edge that spans k ranks through k-1 dummy nodes, and orders them all: a raw data
  // version read by runs 1, 11, 21 … of a 200-run chain made ~40,000 dummies and took 60 s (elkjs:
  // 118 s). So only edges between adjacent ranks go to dagre; longer ones are drawn afterwards as
  // curves between their end nodes (same graph, same edges, laid out in ~0.5 s).
  const rank = ranksOf(g);
  const short = new Set();
  g.edges.forEach((e, i) => {
    if (rank.get(e.to) - rank.get(e.from) === 1) { dg.setEdge(e.from, e.to, { kind: e.kind }, `e${i}`); short.add(i); }
  });
  dagre.layout(dg);
  const layoutMs = performance.now() - t0;
  const { width, height } = dg.graph();
  const root = svg('svg', { class: 'lineage', width: Math.ceil(width), height: Math.ceil(height), viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`, role: 'group', 'aria-label': 'lineage graph' });
  const defs = svg('defs');
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }));
  defs.append(marker);
  root.append(defs);
  g.edges.forEach((e, i) => {
    let d;
    if (short.has(i)) {
      d = 'M' + dg.edge(e.from, e.to, `e${i}`).points.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' L');
    } else {
      const a = dg.node(e.from), b = dg.node(e.to);
      const x1 = a.x + a.width / 2, x2 = b.x - b.width / 2, dx = Math.max(40, (x2 - x1) / 3);
      d = `M${x1.toFixed(1)},${a.y.toFixed(1)} C${(x1 + dx).toFixed(1)},${a.y.toFixed(1)} ${(x2 - dx).toFixed(1)},${b.y.toFixed(1)} ${x2.toFixed(1)},${b.y.toFixed(1)}`;
    }
    const path = svg('path', { class: `edge ${e.kind}${short.has(i) ? '' : ' long'}`, d, 'marker-end': 'url(#arrow)', 'data-from': e.from, 'data-to': e.to, 'data-kind': e.kind });
    root.append(path);
  });
  for (const key of dg.nodes()) {
    const d = dg.node(key);
    const n = d.node;
    const gEl = svg('g', { class: `node ${n.kind}${key === g.root ? ' root' : ''}`, 'data-key': key, tabindex: 0, role: 'link', transform: `translate(${(d.x - d.width / 2).toFixed(1)},${(d.y - d.height / 2).toFixed(1)})` });
    const title = svg('title');
    title.textContent = n.kind === 'data' ? `${n.path} ${n.oid}` : `run ${n.name} ${n.id} ${n.status}`;
    gEl.append(title, svg('rect', { width: d.width, height: d.height, rx: n.kind === 'run' ? 12 : 2 }));
    d.lines.forEach((line, i) => {
      const t = svg('text', { x: PAD, y: PAD / 2 + LINE_H * (i + 0.8), class: i ? 'sub' : 'main' });
      t.textContent = line;
      gEl.append(t);
    });
    gEl.setAttribute('aria-label', title.textContent);
    const open = () => onOpen(n);
    gEl.addEventListener('click', open);
    gEl.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); open(); } });
    root.append(gEl);
  }
  return { el: root, layoutMs, drawMs: performance.now() - t0 };
}

export async function show(view, { params }) {
  const target = params.get('target') ?? '';
  const direction = params.get('direction') === 'downstream' ? 'downstream' : 'upstream';
  const input = h('input', { type: 'search', name: 'target', value: target, placeholder: 'models/model.bin, data@HEAD~1, an oid prefix or a run id', 'aria-label': 'lineage target' });
  const dirSel = h('select', { name: 'direction', 'aria-label': 'direction' },
    h('option', { value: 'upstream', selected: direction === 'upstream' }, 'upstream (where it came from)'),
    h('option', { value: 'downstream', selected: direction === 'downstream' }, 'downstream (what was made from it)'));
  view.append(h('h1', null, 'Lineage'), h('form', { class: 'filter', onsubmit: (ev) => { ev.preventDefault(); navigate(route('lineage', { target: input.value.trim(), direction: dirSel.value })); } },
    input, dirSel, h('button', { type: 'submit' }, 'Show')));
  if (!target) {
    view.append(h('p', { class: 'muted' }, 'Give a tracked path, path@rev, oid prefix or run id.'));
    return;
  }
  try {
    const g = await api('lineage', { target, direction });
    const open = (n) => navigate(n.kind === 'run' ? route('run', n.id) : route('lineage', { target: n.oid, direction }));
    const { el, layoutMs } = drawLineage(g, open);
    el.dataset.layoutMs = String(layoutMs);
    view.append(h('p', { class: 'muted' }, `${g.nodes.length} nodes, ${g.edges.length} edges${g.truncated ? ' (truncated: too many nodes)' : ''}`),
      h('div', { class: 'graph' }, el));
    if (g.nodes.length === 1) view.append(h('p', { class: 'muted' }, direction === 'upstream' ? 'No recorded run produced this.' : 'No recorded run used this.'));
  } catch (e) {
    view.append(errorBox(e));
  }
}
