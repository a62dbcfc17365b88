// Metric charts on uPlot. uPlot draws on one canvas per chart with typed arrays and no per-point
// objects, so 100,000 points draw in milliseconds and zoom (drag to select, double-click to reset)
// stays fluid; it is ~50 KB with no dependencies. Several runs are overlaid on a joined x axis.
import { h } from './dom.js';

// Whole-number tick spacings for a step axis (no 0.2 steps).
const STEP_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7];
// Line colours with at least 3:1 contrast against the page (WCAG 1.4.11), one set per system theme.
const PALETTE_LIGHT = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#c55a00', '#0f7f8c', '#8c564b', '#b4458f', '#6e6e6e', '#7d7e0f'];
const PALETTE_DARK = ['#4ea1e8', '#ff6b6b', '#4cc94c', '#b39ddb', '#ff9f43', '#33d1e0', '#c49a8a', '#f48fcf', '#b0b0b0', '#d4d645'];
const palette = () => (matchMedia('(prefers-color-scheme: dark)').matches ? PALETTE_DARK : PALETTE_LIGHT);

/** TensorBoard-style exponential moving average, debiased so the first points are not pulled to 0. */
export function smooth(ys, weight) {
  if (!weight) return ys;
  const out = new Array(ys.length);
  let last = 0, n = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (y === null || !Number.isFinite(y)) { out[i] = y; continue; }
    last = last * weight + (1 - weight) * y;
    n++;
    out[i] = last / (1 - Math.pow(weight, n));
  }
  return out;
}

/** x and y arrays of one run's metric for an x mode: step, wall (epoch seconds) or relative (seconds). */
function xy(points, mode, start) {
  const pts = [...points].sort((a, b) => (mode === 'step' ? a.step - b.step || a.ts - b.ts : a.ts - b.ts));
  const xs = new Float64Array(pts.length), ys = new Array(pts.length);
  let prev = -Infinity;
  for (let i = 0; i < pts.length; i++) {
    let x = mode === 'step' ? pts[i].step : mode === 'wall' ? pts[i].ts / 1000 : (pts[i].ts - start) / 1000;
    if (x <= prev) x = prev + 1e-9; // uPlot wants strictly increasing x
    xs[i] = prev = x;
    ys[i] = pts[i].value;
  }
  return [xs, ys];
}

/**
 * A chart of metric `key` for several runs: [{ id, name, start, points }]. Returns the element; its
 * controls (x axis, smoothing, log scale) redraw it in place.
 */
export function metricChart(key, runs, { width } = {}) {
  const wrap = h('figure', { class: 'chart', 'data-metric': key });
  const plotBox = h('div', { class: 'plot' });
  const xSel = h('select', { 'aria-label': `${key}: x axis` },
    h('option', { value: 'step' }, 'step'), h('option', { value: 'relative' }, 'relative time'), h('option', { value: 'wall' }, 'wall time'));
  const smoothIn = h('input', { type: 'range', min: '0', max: '0.99', step: '0.01', value: '0', 'aria-label': `${key}: smoothing` });
  const logIn = h('input', { type: 'checkbox', 'aria-label': `${key}: log scale` });
  wrap.append(h('figcaption', null, h('span', { class: 'metric-name' }, key),
    h('label', null, 'x ', xSel), h('label', null, 'smoothing ', smoothIn), h('label', null, logIn, ' log')), plotBox);
  let plot = null;
  const draw = () => {
    const t0 = performance.now();
    const mode = xSel.value, w = Number(smoothIn.value), log = logIn.checked;
    const per = runs.map((r) => xy(r.points, mode, r.start));
    const data = per.length === 1 ? [per[0][0], per[0][1]] : uPlot.join(per.map(([xs, ys]) => [xs, ys]));
    for (let s = 1; s < data.length; s++) {
      let ys = Array.from(data[s]);
      if (log) ys = ys.map((y) => (y === null || y === undefined || y <= 0 ? null : y));
      data[s] = smooth(ys, w);
    }
    // a canvas knows no currentColor: take the page's text colour for axes and labels
    const ink = getComputedStyle(document.body).color;
    const opts = {
      width: width ?? Math.max(320, Math.min(900, (wrap.parentElement?.clientWidth || 700) - 24)),
      height: 240,
      scales: { x: { time: mode === 'wall' }, y: { distr: log ? 3 : 1 } },
      axes: [{ stroke: ink, ...(mode === 'step' ? { incrs: STEP_INCRS } : {}), grid: { stroke: 'rgba(128,128,128,.25)' }, ticks: { stroke: 'rgba(128,128,128,.4)' } },
        { stroke: ink, grid: { stroke: 'rgba(128,128,128,.25)' }, ticks: { stroke: 'rgba(128,128,128,.4)' } }],
      series: [{ label: mode }, ...runs.map((r, i) => ({ label: r.name || r.id, stroke: palette()[i % 10], width: 1.5, spanGaps: true, points: { show: false } }))],
      cursor: { drag: { x: true, y: false } },
    };
    if (plot) plot.destroy();
    plot = new uPlot(opts, data, plotBox);
    wrap.dataset.drawMs = String(performance.now() - t0);
    wrap.dataset.points = String(runs.reduce((n, r) => n + r.points.length, 0));
  };
  xSel.addEventListener('change', draw);
  smoothIn.addEventListener('input', draw);
  logIn.addEventListener('change', draw);
  queueMicrotask(() => { if (wrap.isConnected) draw(); else requestAnimationFrame(draw); });
  wrap.redraw = draw;
  return wrap;
}
