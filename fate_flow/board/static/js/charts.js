/**
 * Metric charts with the vendored Chart.js (window.Chart). One canvas per metric, carrying
 * data-metric, data-metric-type and, once drawn, data-points (how many points it plots), so a
 * test or a reader can tell what is on it. Curves whose x is not numeric (a summary of scalars)
 * are shown as a table instead.
 */
import { h, table } from './dom.js';

const COLOURS = ['#1f6fc5', '#c2410c', '#15803d', '#7e22ce', '#b91c1c', '#0f766e'];

const num = (v) => (typeof v === 'number' ? v : Number(v));
const isNum = (v) => v !== null && v !== '' && Number.isFinite(num(v));

/** Chart.js options shared by every plot: no animation (drawn once, at once), axes titled. */
function options(xTitle, yTitle, legend) {
  return {
    animation: false, responsive: true, maintainAspectRatio: false, parsing: false, normalized: true,
    interaction: { mode: 'nearest', intersect: false },
    plugins: { legend: { display: Boolean(legend) }, tooltip: { enabled: true } },
    scales: {
      x: { type: 'linear', title: { display: Boolean(xTitle), text: xTitle || '' } },
      y: { type: 'linear', title: { display: Boolean(yTitle), text: yTitle || '' } },
    },
  };
}

const series = (label, points, i = 0) => ({
  label, data: points, borderColor: COLOURS[i % COLOURS.length], backgroundColor: COLOURS[i % COLOURS.length],
  showLine: true, pointRadius: points.length > 60 ? 0 : 2, borderWidth: 2, stepped: false,
});

/**
 * What to plot for one metric answer ({data, meta}): {datasets, x, y, points} or null when it is
 * not a curve (then the caller shows a table).
 */
export function plotSpec(data, meta) {
  const type = meta.metric_type || '';
  const thresholds = Array.isArray(meta.thresholds) ? meta.thresholds : [];
  if (type === 'CONFUSION_MAT' && thresholds.length) {
    const sets = ['tp', 'fp', 'tn', 'fn'].filter((k) => Array.isArray(meta[k]))
      .map((k, i) => series(k.toUpperCase(), meta[k].map((v, j) => ({ x: num(thresholds[j]), y: num(v) })), i));
    return { datasets: sets, x: 'threshold', y: 'count', points: thresholds.length, legend: true };
  }
  if (type === 'F1_SCORE' && Array.isArray(meta.f1_scores)) {
    const pts = meta.f1_scores.map((v, j) => ({ x: num(thresholds[j] ?? j), y: num(v) }));
    return { datasets: [series('F1', pts)], x: 'threshold', y: 'F1 score', points: pts.length };
  }
  if (type === 'QUANTILE_PR' && Array.isArray(meta.p_scores)) {
    const pick = (v) => (Array.isArray(v) ? num(v[v.length - 1]) : num(v));
    const p = meta.p_scores.map((v, j) => ({ x: num(thresholds[j] ?? j), y: pick(v) }));
    const r = (meta.r_scores || []).map((v, j) => ({ x: num(thresholds[j] ?? j), y: pick(v) }));
    return { datasets: [series('precision', p, 0), series('recall', r, 1)], x: 'threshold', y: '', points: p.length, legend: true };
  }
  if (!Array.isArray(data) || !data.length) return null;
  if (!data.every((row) => Array.isArray(row) && isNum(row[0]) && isNum(row[1]))) return null;
  const pts = data.map(([x, y]) => ({ x: num(x), y: num(y) }));
  let x = meta.unit_name || '';
  let y = meta.ordinate_name || meta.name || '';
  if (type === 'LOSS') { x = meta.unit_name || 'iteration'; y = 'loss'; }
  else if (type === 'ROC_EVALUATION') { x = meta.unit_name || 'fpr'; y = meta.ordinate_name || 'tpr'; }
  else if (type === 'KS_EVALUATION') { x = 'fraction of samples'; y = meta.curve_name || meta.name; }
  else if (type === 'LIFT_EVALUATION') { x = 'fraction of samples'; y = 'lift'; }
  else if (type === 'GAIN_EVALUATION') { x = 'fraction of samples'; y = 'gain'; }
  return { datasets: [series(meta.curve_name || meta.name || 'value', pts)], x, y, points: pts.length };
}

/**
 * A card for one metric: its chart (a canvas with the data attributes) or, for scalars, a table.
 * Returns {el, chart} (chart null for tables); the caller destroys the chart when the page goes.
 */
export function metricCard(namespace, name, answer) {
  const data = answer?.data ?? [];
  const meta = answer?.meta ?? {};
  const type = meta.metric_type || '';
  const title = h('h3', {}, `${namespace} / ${name}`, type ? h('span', { class: 'muted' }, ` · ${type}`) : null);
  const spec = plotSpec(data, meta);
  if (!spec) {
    const rows = Array.isArray(data) ? data.map((r) => (Array.isArray(r) ? r : [r])) : [];
    const body = rows.length ? table(['key', 'value'], rows) : h('p', { class: 'muted' }, 'no data');
    return { el: h('div', { class: 'chart-card', 'data-metric': `${namespace}/${name}`, 'data-metric-type': type }, title, body), chart: null };
  }
  const canvas = h('canvas', {
    'data-testid': 'chart', 'data-metric': `${namespace}/${name}`, 'data-metric-type': type,
    role: 'img', 'aria-label': `${name} (${type || 'curve'}), ${spec.points} points`,
  });
  const el = h('div', { class: 'chart-card' }, title, h('div', { class: 'chart-box' }, canvas));
  return { el, canvas, spec, chart: null };
}

/** Draw a card's chart once it is in the document (Chart.js measures its box). */
export function drawCard(card) {
  if (!card.canvas || !window.Chart) return null;
  card.chart = new window.Chart(card.canvas, {
    type: 'scatter', data: { datasets: card.spec.datasets }, options: options(card.spec.x, card.spec.y, card.spec.legend),
  });
  card.canvas.dataset.points = String(card.spec.points);
  return card.chart;
}

/** A horizontal bar chart (feature importance); returns the Chart (destroy it when done). */
export function barChart(canvas, labels, values, label) {
  const chart = new window.Chart(canvas, {
    type: 'bar',
    data: { labels, datasets: [{ label, data: values, backgroundColor: COLOURS[0] }] },
    options: {
      indexAxis: 'y', animation: false, responsive: true, maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { x: { title: { display: true, text: label } } },
    },
  });
  canvas.dataset.points = String(values.length);
  return chart;
}
