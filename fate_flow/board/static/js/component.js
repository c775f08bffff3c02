/**
 * The selected component's panel on the job page: tabs for its parameters, output data, model,
 * metrics, summary and log. A tab loads when it is opened (and again when reopened, so a running
 * job's outputs are fresh); leaving a tab destroys its charts and closes its log stream.
 */
import { call } from './api.js';
import { h, clear, table, jsonView, flatten, cellText, loading, statusBadge, fmtTime, fmtDuration, link, seg } from './dom.js';
import { metricCard, drawCard, barChart } from './charts.js';
import { mountLogView } from './logs.js';

const TABS = [['parameters', 'Parameters'], ['data', 'Data output'], ['model', 'Model output'], ['metrics', 'Metrics'],
  ['summary', 'Summary'], ['log', 'Log']];

/** The panel in `box` for the job `key` ({job_id, role, party_id}); returns {select, setTasks}. */
export function createPanel(box, key, pageCtx) {
  let name = null;
  let module = '';
  let tab = 'parameters';
  let tabCtx = null;
  let tasks = {};
  const taskLine = h('p', { class: 'muted' });
  const content = h('div', { role: 'tabpanel' });
  const buttons = new Map();

  function showTask() {
    const t = tasks[name];
    clear(taskLine, t ? [statusBadge(t.status), ` task version ${t.task_version}`,
      t.start_time ? ` · started ${fmtTime(t.start_time)}` : '',
      t.end_time ? ` · took ${fmtDuration(t.end_time - t.start_time)}` : ''] : 'no task yet');
  }

  function open(which) {
    tab = which;
    for (const [k, b] of buttons) b.setAttribute('aria-selected', k === which ? 'true' : 'false');
    if (tabCtx) tabCtx.dispose();
    tabCtx = pageCtx.child();
    const body = { ...key, component_name: name };
    const loaders = { parameters, data: outputData, model, metrics, summary, log };
    clear(content, loading(which));
    loaders[which](content, body, tabCtx, module).catch((err) => {
      if (tabCtx.alive) clear(content, h('p', { class: 'muted' }, `could not show this: ${err && err.message ? err.message : err}`));
    });
  }

  return {
    select(component, mod) {
      name = component;
      module = mod || '';
      buttons.clear();
      const tablist = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Component views' },
        TABS.map(([k, label]) => {
          const b = h('button', { type: 'button', role: 'tab', 'data-testid': `tab-${k}`, 'aria-selected': 'false',
            on: { click: () => open(k) } }, label);
          buttons.set(k, b);
          return b;
        }));
      clear(box, h('div', { 'data-testid': 'component-panel', 'data-component': component },
        h('h2', {}, component, module ? h('span', { class: 'muted' }, ` · ${module}`) : null),
        taskLine, tablist, content));
      showTask();
      open(tab);
    },
    setTasks(latest) {
      tasks = latest || {};
      if (name) showTask();
    },
  };
}

/* ---- the tabs ------------------------------------------------------------------------------- */

async function parameters(box, body, ctx) {
  const answer = await call('/v1/tracking/component/parameters', body, { signal: ctx.signal });
  if (!ctx.alive) return;
  const data = answer?.data || {};
  const rows = flatten(data).filter(([k]) => k !== 'module');
  clear(box, h('div', { 'data-testid': 'component-parameters' },
    data.module ? h('p', {}, 'Module: ', h('strong', {}, String(data.module))) : null,
    rows.length ? table(['Parameter', 'Value'], rows.map(([k, v]) => [k, cellText(v)]), { class: 'kv-table' })
      : h('p', { class: 'muted' }, answer ? 'No parameters.' : 'Parameters unavailable.'),
    jsonView(data, 'As JSON')));
}

async function outputData(box, body, ctx) {
  const answer = await call('/v1/tracking/component/output/data', body, { signal: ctx.signal });
  if (!ctx.alive) return;
  const tables = Array.isArray(answer?.data) ? answer.data : [];
  const meta = answer?.meta || {};
  const out = h('div', { 'data-testid': 'output-data' });
  if (!tables.length) out.appendChild(h('p', { class: 'muted' }, answer?.retmsg === 'no data' || answer ? 'No output data.' : 'Output data unavailable.'));
  tables.forEach((rows, i) => {
    const header = meta.header?.[i] || (rows[0] || []).map((_, c) => `column ${c}`);
    const total = meta.total?.[i];
    out.appendChild(h('h3', {}, meta.names?.[i] || `table ${i}`,
      h('span', { class: 'muted' }, ` · ${total ?? rows.length} rows${total > rows.length ? `, the first ${rows.length} shown` : ''}`)));
    out.appendChild(table(header, rows.map((r) => (Array.isArray(r) ? r : [r]).map(cellText))));
  });
  clear(box, out);
}

async function model(box, body, ctx) {
  const answer = await call('/v1/tracking/component/output/model', body, { signal: ctx.signal });
  if (!ctx.alive) return;
  const data = answer?.data || {};
  const meta = answer?.meta || {};
  const moduleName = meta.module_name || '';
  const view = h('div', { 'data-testid': 'model-view', 'data-module': moduleName });
  clear(box, view);
  if (!Object.keys(data).length) {
    view.appendChild(h('p', { class: 'muted' }, 'No model output.'));
    return;
  }
  const trees = data.trees_ || data.trees;
  const lr = linearWeights(data);
  if (Array.isArray(trees)) {
    secureBoost(view, data, trees, ctx);
  } else if (lr) {
    view.append(h('h3', {}, 'Weights'), table(['Feature', ...lr.columns], lr.rows, { 'data-testid': 'model-weights' }));
  }
  const scalars = Object.entries(data).filter(([, v]) => v === null || typeof v !== 'object');
  if (scalars.length) view.append(h('h3', {}, 'Model'), table(['Field', 'Value'], scalars));
  view.append(jsonView(data, 'Model parameters (JSON)', !trees && !lr), jsonView(meta.meta_data || {}, 'Model meta (JSON)'));
}

/**
 * The weight table of a linear model: FATE's {weight: {feature: w}, intercept}, its one-vs-rest
 * form, or this server's {header, weights: [[w..., intercept]], classes, fit_intercept}.
 * Returns {columns, rows} or null if the model is not linear.
 */
export function linearWeights(data) {
  const header = data.header || [];
  if (data.weight && typeof data.weight === 'object') {
    const names = header.length ? header : Object.keys(data.weight);
    const rows = names.map((f) => [f, data.weight[f]]);
    if ('intercept' in data) rows.push(['intercept', data.intercept]);
    return { columns: ['Weight'], rows };
  }
  const ovr = data.one_vs_rest_result?.completed_models;
  if (Array.isArray(ovr) && ovr.length && ovr[0].weight) {
    const names = header.length ? header : Object.keys(ovr[0].weight);
    const classes = data.one_vs_rest_result.one_vs_rest_classes || ovr.map((_, i) => i);
    const rows = names.map((f) => [f, ...ovr.map((m) => m.weight?.[f])]);
    rows.push(['intercept', ...ovr.map((m) => m.intercept)]);
    return { columns: classes.map((c) => `class ${c}`), rows };
  }
  if (Array.isArray(data.weights) && data.weights.length) {
    const vectors = Array.isArray(data.weights[0]) ? data.weights : [data.weights];
    const withIntercept = vectors[0].length === header.length + 1;
    const names = header.length ? header : vectors[0].map((_, i) => `x${i}`);
    const columns = vectors.length > 1 ? vectors.map((_, i) => `class ${data.classes?.[i] ?? i}`) : ['Weight'];
    const rows = names.map((f, i) => [f, ...vectors.map((v) => v[i])]);
    if (withIntercept) rows.push(['intercept', ...vectors.map((v) => v[v.length - 1])]);
    return { columns, rows };
  }
  return null;
}

/** SecureBoost: a tree selector with the chosen tree as an outline, and the feature importance. */
function secureBoost(view, data, trees, ctx) {
  const names = data.feature_name_fid_mapping || {};
  const header = data.header || [];
  const dim = Number(data.tree_dim) || 1;
  const feature = (node) => names[node.fid] ?? header[node.fid] ?? `feature ${node.fid}`;
  const holder = h('div', { class: 'tree' });
  const select = h('select', { id: 'sbt-tree', 'aria-label': 'Tree', on: { change: () => show(Number(select.value)) } },
    trees.map((t, i) => h('option', { value: i },
      `Tree ${i}${dim > 1 ? ` (round ${Math.floor(i / dim)}, class ${i % dim})` : ''} · ${(t.tree_ || t.tree || []).length} nodes`)));

  /** Draw tree i as a nested list from its root (node ids link children). */
  function show(i) {
    const nodes = trees[i]?.tree_ || trees[i]?.tree || [];
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const seen = new Set();
    const item = (n) => {
      if (!n || seen.has(n.id)) return null; // a malformed tree must not loop
      seen.add(n.id);
      const local = !n.sitename || String(n.sitename).startsWith('guest');
      if (n.is_leaf) return h('li', { class: 'leaf' }, `#${n.id} leaf · weight ${Number(n.weight).toFixed(6)}`);
      const split = local ? `${feature(n)}${n.bid !== undefined && n.bid !== -1 ? ` ≤ ${n.bid}` : ''}` : `a feature of ${n.sitename} (fid ${n.fid})`;
      return h('li', {}, `#${n.id} split on ${split} · ${n.sitename || ''}`,
        h('ul', {}, item(byId.get(n.left_nodeid)), item(byId.get(n.right_nodeid))));
    };
    clear(holder, nodes.length ? h('ul', {}, item(nodes[0])) : h('p', { class: 'muted' }, 'empty tree'));
  }
  view.append(h('div', { 'data-testid': 'sbt-trees', 'data-tree-count': trees.length },
    h('h3', {}, `Trees (${trees.length})`), h('label', { for: 'sbt-tree' }, 'Tree '), select, holder));
  show(0);

  const importances = (data.feature_importances || []).slice().sort((a, b) => b.importance - a.importance);
  const fi = h('div', { 'data-testid': 'feature-importance', 'data-features': importances.length });
  view.append(h('h3', {}, 'Feature importance'), fi);
  if (!importances.length) {
    fi.appendChild(h('p', { class: 'muted' }, 'No feature importance in this model.'));
    return;
  }
  const labels = importances.map((r) => r.fullname || `${r.sitename} fid ${r.fid}`);
  const values = importances.map((r) => Number(r.importance));
  const canvas = h('canvas', { role: 'img', 'aria-label': `feature importance of ${labels.length} features` });
  const boxEl = h('div', { class: 'chart-box' }, canvas);
  boxEl.style.height = `${Math.max(160, 26 * labels.length + 60)}px`;
  fi.append(boxEl, table(['Feature', 'Importance (splits)', 'Gain'], importances.map((r, i) => [labels[i], r.importance, r.importance2 ?? ''])));
  if (window.Chart) {
    const chart = barChart(canvas, labels, values, 'importance (number of splits)');
    ctx.onDispose(() => chart.destroy());
  }
}

async function metrics(box, body, ctx) {
  const answer = await call('/v1/tracking/component/metrics', body, { signal: ctx.signal });
  if (!ctx.alive) return;
  const groups = answer?.data && typeof answer.data === 'object' ? answer.data : {};
  const pairs = Object.entries(groups).flatMap(([ns, names]) => (names || []).map((n) => [ns, n]));
  const out = h('div', { 'data-testid': 'metrics', 'data-metric-count': pairs.length });
  clear(box, out);
  if (!pairs.length) {
    out.appendChild(h('p', { class: 'muted' }, 'No metrics.'));
    return;
  }
  const answers = await Promise.all(pairs.map(([ns, n]) => call('/v1/tracking/component/metric_data',
    { ...body, metric_namespace: ns, metric_name: n }, { signal: ctx.signal })));
  if (!ctx.alive) return;
  const grid = h('div', { class: 'charts' });
  out.appendChild(grid);
  const cards = pairs.map(([ns, n], i) => metricCard(ns, n, answers[i]));
  // curves first (loss, ROC, KS ...), tables of scalars after
  cards.sort((a, b) => Number(!a.canvas) - Number(!b.canvas));
  for (const card of cards) grid.appendChild(card.el);
  for (const card of cards) {
    const chart = drawCard(card);
    if (chart) ctx.onDispose(() => chart.destroy());
  }
}

async function summary(box, body, ctx) {
  const answer = await call('/v1/tracking/component/summary/download', body,
    { signal: ctx.signal, quiet: (a) => a.retcode === 210 || a.retcode === 404 && /summary/i.test(a.retmsg || '') });
  if (!ctx.alive) return;
  const out = h('div', { 'data-testid': 'component-summary' });
  const data = answer?.retcode === 0 ? answer.data : null;
  if (!data || (typeof data === 'object' && !Object.keys(data).length)) {
    out.appendChild(h('p', { class: 'muted' }, answer?.retmsg && answer.retcode !== 0 ? answer.retmsg : 'No summary.'));
  } else {
    const rows = flatten(data);
    out.append(table(['Key', 'Value'], rows.map(([k, v]) => [k, cellText(v)])), jsonView(data, 'As JSON'));
  }
  clear(box, out);
}

async function log(box, body, ctx) {
  const route = `/logs/${seg(body.job_id)}/${seg(body.role)}/${seg(body.party_id)}?component=${seg(body.component_name)}&type=componentInfo`;
  const holder = h('div');
  clear(box, h('p', {}, link(route, 'Open in the log viewer')), holder);
  mountLogView(holder, { ...body, log_type: 'componentInfo' }, ctx);
}
