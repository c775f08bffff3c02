/**
 * DOM helpers. Server data never goes through innerHTML: every element is built with
 * document.createElement and every piece of text is set with textContent, so nothing the
 * server (or a job's log, or a table's cell) sends can become markup or script.
 */

/**
 * Build an element. attrs: plain attributes (set with setAttribute), plus three special keys:
 * `class`, `dataset` (an object) and `on` (an object of event listeners, functions from our own
 * code only). Attribute names starting with "on" are refused, so data can never add a handler.
 * children: strings (become text nodes), nodes, arrays of either, null/false (skipped).
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'on') for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    else if (/^on/i.test(key)) throw new Error(`h(): refusing event attribute ${key}`);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Same as h() for SVG elements (the DAG). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'on') for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    else if (/^on/i.test(key)) throw new Error(`s(): refusing event attribute ${key}`);
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** "2024-01-02 13:04:05" in the browser's time zone for an epoch-ms value, "" when absent. */
export function fmtTime(ms) {
  if (!ms) return '';
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** "1h 02m 03s" for a millisecond duration. */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || ms === '' || Number.isNaN(Number(ms))) return '';
  let sec = Math.max(0, Math.round(Number(ms) / 1000));
  const hrs = Math.floor(sec / 3600); sec -= hrs * 3600;
  const min = Math.floor(sec / 60); sec -= min * 60;
  if (hrs) return `${hrs}h ${String(min).padStart(2, '0')}m ${String(sec).padStart(2, '0')}s`;
  if (min) return `${min}m ${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

/** A job's or task's duration: end - start, or now - start while it runs (as FATE-Board shows it). */
export function jobDuration(job) {
  if (job.elapsed && job.end_time) return job.elapsed;
  if (job.start_time && job.end_time) return job.end_time - job.start_time;
  if (job.start_time) return Date.now() - job.start_time;
  return null;
}

export const END_STATUSES = ['success', 'failed', 'canceled', 'timeout'];
export const isEnded = (status) => END_STATUSES.includes(status);

/** A status badge: colour for the eye, the word itself for everyone (not colour alone). */
export function statusBadge(status, extra) {
  const st = String(status || 'unknown');
  return h('span', { class: `badge status-${st.replace(/[^a-z_]/gi, '')}`, ...extra }, st);
}

/** A progress bar with its percentage as text. */
export function progressBar(pct) {
  const value = Math.max(0, Math.min(100, Number(pct) || 0));
  const bar = h('span', { class: 'progress-fill' });
  bar.style.width = `${value}%`;
  return h('span', { class: 'progress', role: 'progressbar', 'aria-valuenow': value, 'aria-valuemin': 0,
    'aria-valuemax': 100 }, h('span', { class: 'progress-track' }, bar), h('span', { class: 'progress-text' }, `${value}%`));
}

/** A table (inside a horizontally scrolling box) from a header and rows of cells (text or nodes). */
export function table(header, rows, attrs) {
  return h('div', { class: 'table-scroll' },
    h('table', attrs || {},
      h('thead', {}, h('tr', {}, header.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, cellText(c))))))));
}

/** A cell value as text: objects as JSON, null as empty. */
export function cellText(value) {
  if (value instanceof Node) return value;
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** A collapsible, read-only JSON view (a <pre> set with textContent). */
export function jsonView(value, summary, open) {
  return h('details', { class: 'json', open: open ? true : null },
    h('summary', {}, summary || 'JSON'),
    h('pre', {}, JSON.stringify(value, null, 2)));
}

/** Key/value rows for a nested object, keys joined with dots (parameters, summaries). */
export function flatten(value, prefix = '', out = []) {
  if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.push([prefix, value]);
  }
  return out;
}

/* ---- the error banner ----------------------------------------------------------------------- */

/** Show a message in the error banner ([data-testid=error]); the page underneath stays. */
export function showError(message) {
  const box = document.getElementById('errors');
  if (!box) return;
  const text = String(message || 'error');
  for (const el of box.children) if (el.dataset.message === text) return; // the same error once
  const banner = h('div', { class: 'error-banner', role: 'alert', 'data-testid': 'error', dataset: { message: text } },
    h('span', {}, text),
    h('button', { type: 'button', class: 'link-button', 'aria-label': 'Dismiss', on: { click: () => banner.remove() } }, '×'));
  box.appendChild(banner);
}

/** Remove every banner (a new page starts clean). */
export function clearErrors() {
  const box = document.getElementById('errors');
  if (box) box.replaceChildren();
}

/* ---- the confirm dialog --------------------------------------------------------------------- */

/**
 * Ask before a destructive action (stop, rerun). Resolves true on OK, false on Cancel/Escape.
 * A plain modal built from elements (window.confirm can't carry test ids and blocks the page).
 */
export function confirmDialog(title, message, okLabel = 'OK') {
  return new Promise((resolve) => {
    const done = (answer) => { overlay.remove(); document.removeEventListener('keydown', onKey); resolve(answer); };
    const onKey = (e) => { if (e.key === 'Escape') done(false); };
    const ok = h('button', { type: 'button', class: 'button danger', 'data-testid': 'confirm-ok', on: { click: () => done(true) } }, okLabel);
    const cancel = h('button', { type: 'button', class: 'button', 'data-testid': 'confirm-cancel', on: { click: () => done(false) } }, 'Cancel');
    const overlay = h('div', { class: 'overlay' },
      h('div', { class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'dialog-title', 'data-testid': 'confirm-dialog' },
        h('h2', { id: 'dialog-title' }, title),
        h('p', {}, message),
        h('div', { class: 'dialog-buttons' }, cancel, ok)));
    document.addEventListener('keydown', onKey);
    document.body.appendChild(overlay);
    cancel.focus();
  });
}

/** A "loading" placeholder. */
export const loading = (what) => h('p', { class: 'muted' }, `Loading ${what || ''}…`);

/** A link to a route of the board (hash URLs, so the page is never reloaded). */
export function link(route, text, attrs) {
  return h('a', { href: `#${route}`, ...attrs }, text);
}

/**
 * Row attributes that make a whole table row open `route` on click (its link stays the keyboard
 * and middle-click way; a click on the link itself or a button is left alone).
 */
export function rowLink(route) {
  return {
    class: 'clickable',
    on: { click: (e) => { if (!e.target.closest('a, button, input, select')) window.location.hash = `#${route}`; } },
  };
}

/** Route segment encoding: ids are plain ([.0-9a-zA-Z_-]) but table names may not be. */
export const seg = (value) => encodeURIComponent(String(value));
