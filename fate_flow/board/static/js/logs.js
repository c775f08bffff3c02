/**
 * The log viewer: the lines already written (log/size + log/cat, at most the last MAX_INITIAL),
 * then a live tail over server-sent events (/v1/log/stream) until the server says the job has
 * ended and the file is drained. Never polling. Lines are text nodes only; the level and search
 * filters work on the lines in the browser.
 */
import { call } from './api.js';
import { h, clear, showError, seg } from './dom.js';

const PARTY_TYPES = ['jobSchedule', 'jobScheduleError', 'partyError', 'partyWarning', 'partyInfo', 'partyDebug'];
const COMPONENT_TYPES = ['componentInfo'];
const LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR'];
const MAX_INITIAL = 2000;   // lines fetched at first; older ones stay in the file
const MAX_KEPT = 50000;     // lines kept in the page while tailing
const RETRY_MS = 3000;
const MAX_RETRIES = 5;

/** A line's level from its text ("[INFO] [2024-...] ..."); null when it names none (a traceback's lines). */
export function levelOf(content) {
  const m = /^\s*\[(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\]/.exec(content)
    || /\b(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b/.exec(String(content).slice(0, 80));
  if (!m) return null;
  return { WARN: 'WARNING', CRITICAL: 'ERROR', FATAL: 'ERROR' }[m[1]] || m[1];
}

/** The logs page: which component's which log, then the viewer. */
export async function render(root, [jobId, role, partyId], query, ctx) {
  const component = query.get('component') || 'default';
  const types = component === 'default' ? PARTY_TYPES : COMPONENT_TYPES;
  const type = types.includes(query.get('type')) ? query.get('type') : types[0];
  const go = (c, t) => {
    window.location.hash = `#/logs/${seg(jobId)}/${seg(role)}/${seg(partyId)}?component=${seg(c)}&type=${seg(t)}`;
  };
  const componentSelect = h('select', { id: 'log-component', 'data-testid': 'log-component',
    on: { change: () => go(componentSelect.value, componentSelect.value === 'default' ? 'jobSchedule' : 'componentInfo') } },
  h('option', { value: 'default' }, 'job (default)'));
  if (component !== 'default') componentSelect.appendChild(h('option', { value: component }, component));
  componentSelect.value = component;
  const typeSelect = h('select', { id: 'log-type', 'data-testid': 'log-type', on: { change: () => go(component, typeSelect.value) } },
    types.map((t) => h('option', { value: t }, t)));
  typeSelect.value = type;
  const holder = h('div');
  clear(root,
    h('h1', {}, 'Logs of job ', jobId, h('span', { class: 'muted' }, ` · ${role} ${partyId}`)),
    h('div', { class: 'card' },
      h('div', { class: 'log-tools' },
        h('label', { for: 'log-component' }, 'Component', componentSelect),
        h('label', { for: 'log-type' }, 'Log', typeSelect),
        h('a', { href: `#/job/${seg(jobId)}/${seg(role)}/${seg(partyId)}`, class: 'button' }, 'Back to the job')),
      holder));
  mountLogView(holder, { job_id: jobId, role, party_id: partyId, component_name: component, log_type: type }, ctx);

  // the job's components, for the component select (the DAG's list)
  const dag = await call('/v1/pipeline/dag/dependency', { job_id: jobId, role, party_id: partyId }, { signal: ctx.signal });
  if (!ctx.alive || !dag?.data) return;
  for (const name of dag.data.component_list || []) {
    if (name !== component) componentSelect.appendChild(h('option', { value: name }, name));
  }
  componentSelect.value = component;
}

/**
 * The viewer of one log ({job_id, role, party_id, component_name, log_type}) in `holder`: level and
 * search filters, the lines, the live badge. Everything stops with ctx.
 */
export function mountLogView(holder, key, ctx) {
  const lines = [];              // {num, content, level, el}
  let next = 1;                  // the first line number not yet shown
  let stick = true;              // follow the end unless the user scrolled up
  let source = null;
  let retries = 0;
  let ended = false;

  const level = h('select', { id: 'log-level', 'data-testid': 'log-level', on: { change: refilter } },
    h('option', { value: '' }, 'all levels'), LEVELS.map((l) => h('option', { value: l }, l)));
  let searchTimer = null;
  const search = h('input', { id: 'log-search', type: 'search', 'data-testid': 'log-search', placeholder: 'text in the line',
    on: { input: () => { clearTimeout(searchTimer); searchTimer = setTimeout(refilter, 150); } } });
  const live = h('span', { class: 'log-live', 'data-testid': 'log-live', hidden: true }, 'live');
  const counter = h('span', { class: 'muted' });
  const note = h('p', { class: 'muted' });
  const box = h('div', { class: 'log-lines', 'data-testid': 'log-lines', tabindex: 0, role: 'log', 'aria-label': `${key.log_type} log` });
  box.addEventListener('scroll', () => { stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 24; });
  clear(holder,
    h('div', { class: 'log-tools' },
      h('label', { for: 'log-level' }, 'Level', level),
      h('label', { for: 'log-search' }, 'Search', search),
      live, counter),
    note, box);

  const matches = (line) => {
    const lv = level.value;
    const text = search.value.trim().toLowerCase();
    return (!lv || line.level === lv) && (!text || line.content.toLowerCase().includes(text));
  };
  function showCount() {
    counter.textContent = `${box.childElementCount} of ${lines.length} lines`;
  }
  /** Re-show the lines that pass the filters (hidden lines are not in the DOM at all). */
  function refilter() {
    box.replaceChildren(...lines.filter(matches).map((l) => l.el));
    showCount();
    if (stick) box.scrollTop = box.scrollHeight;
  }
  /** Add lines ([{line_num, content}]) past the ones already shown. */
  function add(batch) {
    if (!Array.isArray(batch) || !batch.length) return;
    const frag = document.createDocumentFragment();
    let previous = lines.length ? lines[lines.length - 1].level : null;
    for (const raw of batch) {
      const num = Number(raw.line_num);
      if (!(num >= next)) continue; // already shown
      const content = String(raw.content ?? '');
      const lv = levelOf(content) || previous; // a traceback's lines go with the line that logged it
      previous = lv;
      const el = h('div', { class: `log-line${lv ? ` level-${lv}` : ''}`, 'data-testid': 'log-line', 'data-line-num': num }, content);
      const line = { num, content, level: lv, el };
      lines.push(line);
      next = num + 1;
      if (matches(line)) frag.appendChild(el);
    }
    box.appendChild(frag);
    if (lines.length > MAX_KEPT) {
      for (const old of lines.splice(0, lines.length - MAX_KEPT)) old.el.remove();
    }
    showCount();
    if (stick) box.scrollTop = box.scrollHeight;
  }

  function close() {
    if (source) source.close();
    source = null;
    live.hidden = true;
  }
  ctx.onDispose(() => { close(); clearTimeout(searchTimer); });

  /** Tail from `next` over SSE; reconnect a few times (from the last line seen) if it breaks. */
  function tail() {
    if (!ctx.alive || ended) return;
    const qs = new URLSearchParams({ ...key, begin: String(next) });
    source = new EventSource(`/v1/log/stream?${qs}`, { withCredentials: true });
    live.hidden = false;
    source.addEventListener('open', () => { retries = 0; });
    source.addEventListener('lines', (ev) => {
      let batch = [];
      try { batch = JSON.parse(ev.data); } catch (err) { batch = []; }
      add(batch);
    });
    source.addEventListener('end', () => { ended = true; close(); });
    source.addEventListener('error', () => {
      close();
      if (ended || !ctx.alive) return;
      retries += 1;
      if (retries > MAX_RETRIES) {
        showError('the live log stream stopped; reload the page to try again');
        return;
      }
      ctx.later(tail, RETRY_MS);
    });
  }

  (async () => {
    const size = await call('/v1/log/size', key, { signal: ctx.signal });
    if (!ctx.alive) return;
    const total = Number(size?.data?.size) || 0;
    if (total > 0) {
      const begin = Math.max(1, total - MAX_INITIAL + 1);
      const cat = await call('/v1/log/cat', { ...key, begin, end: total }, { signal: ctx.signal });
      if (!ctx.alive) return;
      next = begin;
      add((cat?.data || []).filter((l) => Number(l.line_num) <= total));
      next = Math.max(next, total + 1);
      if (begin > 1) note.textContent = `The first ${begin - 1} lines are not shown (the last ${MAX_INITIAL} and what follows are).`;
    }
    tail();
  })();
}
