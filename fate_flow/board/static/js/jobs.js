/**
 * The jobs page: the running/waiting jobs on top (what is the party busy with, what waits and why),
 * then the filterable, sortable, paged list of every job. While some job runs or waits the page
 * refreshes every 5 s (one timer, re-armed after each answer, so requests never pile up).
 */
import { call } from './api.js';
import { h, clear, fmtTime, fmtDuration, jobDuration, statusBadge, progressBar, isEnded, link, seg, rowLink } from './dom.js';

const PAGE_SIZE = 20;
const ROLES = ['guest', 'host', 'arbiter', 'local'];
const STATUSES = ['success', 'running', 'waiting', 'failed', 'canceled', 'timeout'];
const SORTABLE = [['job_id', 'Job ID'], ['create_time', 'Created'], ['start_time', 'Started'], ['end_time', 'Ended'],
  ['elapsed', 'Duration']];
const REFRESH_MS = 5000;

/** Kept between visits, so coming back from a job shows the same page of the same filtered list. */
const state = {
  filters: { job_id: '', role: '', party_id: '', status: '', tag: '', description: '', from: '', to: '' },
  page: 1, order_by: 'create_time', order: 'desc',
};

export const jobRoute = (j) => `/job/${seg(j.job_id)}/${seg(j.role)}/${seg(j.party_id)}`;

/** The request body of the list for the current filters, sort and page. */
function listBody() {
  const f = state.filters;
  const body = { page: state.page, limit: PAGE_SIZE, order_by: state.order_by, order: state.order };
  if (f.job_id.trim()) body.job_id = f.job_id.trim();
  if (f.party_id.trim()) body.party_id = f.party_id.trim();
  if (f.role) body.role = [f.role];
  if (f.status) body.status = [f.status];
  if (f.tag.trim()) body.tag = f.tag.trim();
  if (f.description.trim()) body.description = f.description.trim();
  const day = (value, plusDays) => {
    const [y, m, d] = value.split('-').map(Number);
    return new Date(y, m - 1, d + plusDays).getTime();
  };
  if (f.from) body.create_time_from = day(f.from, 0);
  if (f.to) body.create_time_to = day(f.to, 1) - 1; // the whole "to" day
  return body;
}

export async function render(root, _params, _query, ctx) {
  delete document.body.dataset.jobsReady;
  const running = h('div', { class: 'running-jobs', 'data-testid': 'running-jobs', 'aria-live': 'polite' });
  const count = h('span', { 'data-testid': 'job-count' }, '');
  const list = h('div', { 'data-testid': 'job-list' });
  const pageInfo = h('span', { 'data-testid': 'page-info' });
  const prev = h('button', { type: 'button', class: 'button small', 'data-testid': 'page-prev',
    on: { click: () => { if (state.page > 1) { state.page -= 1; reload(); } } } }, '‹ Previous');
  const next = h('button', { type: 'button', class: 'button small', 'data-testid': 'page-next',
    on: { click: () => { state.page += 1; reload(); } } }, 'Next ›');

  clear(root,
    h('h1', {}, 'Jobs'),
    h('section', { class: 'card', 'aria-labelledby': 'running-title' },
      h('h2', { id: 'running-title' }, 'Running and waiting'), running),
    h('section', { class: 'card', 'aria-labelledby': 'list-title' },
      h('div', { class: 'list-head' }, h('h2', { id: 'list-title' }, 'All jobs'), h('span', { class: 'muted' }, count, ' jobs')),
      filterForm(() => { state.page = 1; reload(); }),
      list,
      h('div', { class: 'pager' }, prev, pageInfo, next)));

  let timer = null;
  let seq = 0; // answers of a superseded request are dropped

  /** Fetch the banner and the list; re-arm the 5 s refresh while something is unfinished. */
  async function reload() {
    if (timer) clearTimeout(timer);
    timer = null;
    const mine = ++seq;
    const [active, page] = await Promise.all([
      call('/v1/job/list/job', { status: ['waiting', 'running'], page: 1, limit: 50, order_by: 'create_time', order: 'asc' },
        { signal: ctx.signal }),
      call('/v1/job/list/job', listBody(), { signal: ctx.signal }),
    ]);
    if (!ctx.alive || mine !== seq) return;
    const activeJobs = active?.data?.jobs || [];
    renderRunning(running, activeJobs);
    if (page) {
      const { jobs = [], count: total = 0 } = page.data || {};
      const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
      if (state.page > pages && total > 0) { state.page = pages; reload(); return; }
      count.textContent = String(total);
      pageInfo.textContent = `Page ${state.page} of ${pages}`;
      prev.disabled = state.page <= 1;
      next.disabled = state.page >= pages;
      renderList(list, jobs, reload);
      document.body.dataset.jobsReady = '1';
    }
    const unfinished = activeJobs.length > 0 || (page?.data?.jobs || []).some((j) => !isEnded(j.status));
    if (unfinished) {
      timer = ctx.later(reload, REFRESH_MS);
    }
  }
  ctx.onDispose(() => { if (timer) clearTimeout(timer); });
  await reload();
}

/** The filter inputs; apply on the button or Enter. */
function filterForm(apply) {
  const f = state.filters;
  const input = (key, label, attrs) => h('label', {}, label, h('input', {
    'data-testid': `filter-${key === 'party_id' ? 'party' : key.replace('_', '-')}`, value: f[key], ...attrs,
    on: { input: (e) => { f[key] = e.target.value; } },
  }));
  const select = (key, label, options) => {
    const el = h('select', { 'data-testid': `filter-${key}`, on: { change: (e) => { f[key] = e.target.value; } } },
      h('option', { value: '' }, 'any'), options.map((o) => h('option', { value: o }, o)));
    el.value = f[key];
    return h('label', {}, label, el);
  };
  return h('form', { class: 'filters', role: 'search', on: { submit: (e) => { e.preventDefault(); apply(); } } },
    input('job_id', 'Job ID', { placeholder: 'part of an id' }),
    select('role', 'Role', ROLES),
    input('party_id', 'Party ID', { inputmode: 'numeric' }),
    select('status', 'Status', STATUSES),
    input('tag', 'Tag'),
    input('description', 'Description'),
    input('from', 'Created from', { type: 'date' }),
    input('to', 'Created to', { type: 'date' }),
    h('button', { type: 'submit', class: 'button primary', 'data-testid': 'filter-apply' }, 'Apply'));
}

/** One card per running/waiting job: id, status, progress, and what a waiting job waits for. */
function renderRunning(box, jobs) {
  if (!jobs.length) {
    clear(box, h('p', { class: 'muted' }, 'No job is running or waiting.'));
    return;
  }
  clear(box, jobs.map((j) => h('div', {
    class: `running-job ${j.status}`, 'data-testid': 'running-job',
    dataset: { jobId: j.job_id, role: j.role, partyId: j.party_id, status: j.status },
  },
  h('div', {}, link(jobRoute(j), j.job_id), ' ', h('span', { class: 'muted' }, `${j.role} ${j.party_id}`)),
  h('div', {}, statusBadge(j.status), ' ', progressBar(j.progress)),
  j.status === 'waiting' ? h('div', { class: 'wait-reason', 'data-testid': 'wait-reason' },
    j.wait_reason || 'waiting for its turn', j.queue_position ? ` (position ${j.queue_position} in the queue)` : '') : null,
  j.start_time ? h('div', { class: 'muted' }, `running for ${fmtDuration(Date.now() - j.start_time)}`) : null)));
}

/** The table of jobs with sortable headers. */
function renderList(box, jobs, reload) {
  const sortHeader = ([key, label]) => {
    const sorted = state.order_by === key;
    return h('button', {
      type: 'button', class: 'sort', 'data-testid': `sort-${key}`,
      'aria-sort': sorted ? (state.order === 'asc' ? 'ascending' : 'descending') : null,
      title: `Sort by ${label}`,
      on: { click: () => {
        if (state.order_by === key) state.order = state.order === 'asc' ? 'desc' : 'asc';
        else { state.order_by = key; state.order = 'desc'; }
        state.page = 1;
        reload();
      } },
    }, label);
  };
  const labels = Object.fromEntries(SORTABLE.map((s) => [s[0], sortHeader(s)]));
  const header = [labels.job_id, 'Role', 'Party', 'Status', 'Progress', labels.create_time, labels.start_time,
    labels.end_time, labels.elapsed, 'Partners', 'Tag', 'Description'];
  const rows = jobs.map((j) => h('tr', {
    ...rowLink(jobRoute(j)), 'data-testid': 'job-row', 'data-job-id': j.job_id, 'data-role': j.role, 'data-party-id': j.party_id, 'data-status': j.status,
  },
  h('td', {}, link(jobRoute(j), j.job_id)),
  h('td', {}, j.role), h('td', {}, String(j.party_id)),
  h('td', {}, statusBadge(j.status)),
  h('td', {}, progressBar(j.progress)),
  h('td', {}, fmtTime(j.create_time)), h('td', {}, fmtTime(j.start_time)), h('td', {}, fmtTime(j.end_time)),
  h('td', {}, fmtDuration(jobDuration(j))),
  h('td', {}, (j.partners || []).join(', ')),
  h('td', {}, j.tag || ''), h('td', { class: 'wrap' }, j.description || '')));
  clear(box, jobs.length ? h('div', { class: 'table-scroll' }, h('table', {},
    h('thead', {}, h('tr', {}, header.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows))) : h('p', { class: 'muted' }, 'No job matches.'));
}
