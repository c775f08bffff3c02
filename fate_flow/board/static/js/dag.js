/**
 * The job's DAG as an SVG: dagre (vendored, window.dagre) places the components top to bottom,
 * we draw one <g data-testid="dag-node"> per component and one path per dependency. Statuses are
 * changed in place (data-status + the status word), so a poll never rebuilds the drawing.
 */
import { s } from './dom.js';

const NODE_H = 44;
const FONT = '13px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

let measureCtx = null;
/** The text's width in px for the node label font (a canvas is the cheapest exact measure). */
function textWidth(text) {
  if (!measureCtx) {
    measureCtx = document.createElement('canvas').getContext('2d');
    measureCtx.font = FONT;
  }
  return measureCtx.measureText(text).width;
}

/** The upstream component names of one dependency list (FATE's and older spellings). */
export function upstreams(deps) {
  return (deps || []).map((d) => (typeof d === 'string' ? d : d.component_name || d.up_component_name || d.up_component))
    .filter(Boolean);
}

/**
 * Draw the DAG of `dag` ({component_list, dependencies, component_module}) into `box`.
 * onSelect(name) is called when a node is clicked or activated with Enter/Space.
 * Returns {setStatus(name, status), select(name)}.
 */
export function drawDag(box, dag, onSelect) {
  const names = dag.component_list || [];
  const modules = dag.component_module || {};
  const g = new window.dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 36, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const name of names) {
    const width = Math.max(textWidth(name), textWidth(`${modules[name] || ''} · not started`) * 0.86) + 28;
    g.setNode(name, { width: Math.ceil(width), height: NODE_H });
  }
  for (const [name, deps] of Object.entries(dag.dependencies || {})) {
    for (const up of upstreams(deps)) {
      if (g.hasNode(up) && g.hasNode(name) && !g.hasEdge(up, name)) g.setEdge(up, name);
    }
  }
  window.dagre.layout(g);
  const { width = 200, height = 100 } = g.graph();

  const svg = s('svg', {
    class: 'dag', 'data-testid': 'dag', role: 'group', 'aria-label': 'Components of the job',
    viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`, width: Math.ceil(width), height: Math.ceil(height),
  }, s('defs', {}, s('marker', { id: 'dag-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
    orient: 'auto-start-reverse' }, s('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#7d8592' }))));

  for (const e of g.edges()) {
    const pts = g.edge(e).points || [];
    if (!pts.length) continue;
    const d = pts.map((p, i) => `${i ? 'L' : 'M'} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(' ');
    svg.appendChild(s('path', { class: 'dag-edge', d, 'marker-end': 'url(#dag-arrow)', dataset: { from: e.v, to: e.w } }));
  }

  const nodes = new Map();
  for (const name of names) {
    const n = g.node(name);
    const status = s('text', { class: 'node-status', x: n.x, y: n.y + 13, 'text-anchor': 'middle' }, `${modules[name] ? `${modules[name]} · ` : ''}not started`);
    const activate = () => onSelect(name);
    const node = s('g', {
      class: 'dag-node', 'data-testid': 'dag-node', 'data-component': name, 'data-status': 'none', tabindex: 0, role: 'button',
      'aria-label': `${name}: not started`,
      on: { click: activate, keydown: (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); activate(); } } },
    },
    s('title', {}, `${name} (${modules[name] || 'module unknown'})`),
    s('rect', { x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height, rx: 6 }),
    s('text', { x: n.x, y: n.y - 3, 'text-anchor': 'middle' }, name),
    status);
    svg.appendChild(node);
    nodes.set(name, { node, status, module: modules[name] || '' });
  }
  box.replaceChildren(svg);

  return {
    /** Show a component's status (colour + word); "none" = no task yet. */
    setStatus(name, st) {
      const item = nodes.get(name);
      if (!item) return;
      const value = st || 'none';
      if (item.node.getAttribute('data-status') === value) return;
      item.node.setAttribute('data-status', value);
      const word = st || 'not started';
      item.status.textContent = `${item.module ? `${item.module} · ` : ''}${word}`;
      item.node.setAttribute('aria-label', `${name}: ${word}`);
    },
    /** Mark the selected component. */
    select(name) {
      for (const [key, item] of nodes) {
        item.node.classList.toggle('selected', key === name);
        item.node.setAttribute('aria-pressed', key === name ? 'true' : 'false');
      }
    },
  };
}
