/**
 * One job at one party: its summary (status, times, parties, what it waits for), stop/rerun, the
 * DAG of its components coloured by their tasks' statuses, and the panel of the selected
 * component. While the job is unfinished the statuses are polled every 2 s (job row + task list,
 * two requests, the next poll armed only after both answered); a finished job is not polled.
 */
import { call } from './api.js';
import { h, clear, fmtTime, fmtDuration, jobDuration, statusBadge, progressBar, isEnded, confirmDialog, link, seg, showError } from './dom.js';
import { drawDag } from './dag.js';
import { createPanel } from './component.js';

const POLL_MS = 2000;

/** The newest task (highest task_version, then latest create_time) per component. */
export function latestTasks(tasks) {
  const out = {};
  for (const t of tasks || []) {
    const have = out[t.component_name];
    if (!have || t.task_version > have.task_version
      || (t.task_version === have.task_version && (t.create_time || 0) >= (have.create_time || 0))) out[t.component_name] = t;
  }
  return out;
}

export async function render(root, [jobId, role, partyId], query, ctx) {
  delete document.body.dataset.dagReady;
  const key = { job_id: jobId, role, party_id: partyId };
  const keyInt = { ...key, party_id: /^\d+$/.test(partyId) ? Number(partyId) : partyId };

  const fields = {
    badge: h('span'),
    progress: h('span'),
    start: h('dd'), end: h('dd'), duration: h('dd'), initiator: h('dd'), parties: h('dd'), datasets: h('dd'),
    tag: h('dd'), description: h('dd'),
  };
  const waitBox = h('div');
  const stopButton = h('button', { type: 'button', class: 'button danger', 'data-testid': 'stop-job', on: { click: () => stop() } }, 'Stop');
  const rerunButton = h('button', { type: 'button', class: 'button', 'data-testid': 'rerun-job', on: { click: () => rerun() } }, 'Rerun');
  const dagBox = h('div', { class: 'dag-box' }, h('p', { class: 'muted' }, 'Loading the DAG…'));
  const panelBox = h('section', { class: 'card', 'aria-label': 'Selected component' },
    h('p', { class: 'muted' }, 'Select a component in the DAG to see its parameters, output data, model, metrics, summary and log.'));
  const dt = (label, dd) => h('div', {}, h('dt', {}, label), dd);

  clear(root,
    h('h1', {}, 'Job ', h('span', { class: 'mono' }, jobId), h('span', { class: 'muted' }, ` · ${role} ${partyId}`)),
    h('section', { class: 'card', 'data-testid': 'job-summary', 'aria-label': 'Job summary' },
      h('dl', { class: 'summary-grid' },
        dt('Status', h('dd', {}, fields.badge, ' ', fields.progress)),
        dt('Started', fields.start), dt('Ended', fields.end), dt('Duration', fields.duration),
        dt('Initiator', fields.initiator), dt('Parties', fields.parties), dt('Datasets', fields.datasets),
        dt('Tag', fields.tag), dt('Description', fields.description)),
      waitBox,
      h('div', { class: 'actions' }, stopButton, rerunButton,
        link(`/logs/${seg(jobId)}/${seg(role)}/${seg(partyId)}?component=default&type=jobSchedule`, 'Job logs', { class: 'button' }),
        link('/jobs', 'All jobs', { class: 'button' }))),
    h('div', { class: 'job-layout' },
      h('section', { class: 'card', 'aria-labelledby': 'dag-title' }, h('h2', { id: 'dag-title' }, 'Components'), dagBox,
        h('div', { class: 'dag-legend', 'aria-hidden': 'true' },
          ['success', 'running', 'waiting', 'failed', 'canceled'].map((st) => statusBadge(st)))),
      panelBox));

  let job = null;
  let dag = null;
  let drawn = null;
  let pollTimer = null;
  let graceUntil = 0; // after stop/rerun, poll a little even while the row still shows the old end status
  const panel = createPanel(panelBox, key, ctx);

  /** Show the job row's fields (kept elements, so buttons stay the same nodes across polls). */
  function showJob(j) {
    job = j;
    clear(fields.badge, statusBadge(j.status, { 'data-testid': 'job-status' }));
    clear(fields.progress, progressBar(j.progress));
    fields.start.textContent = fmtTime(j.start_time) || '—';
    fields.end.textContent = fmtTime(j.end_time) || '—';
    fields.duration.textContent = fmtDuration(jobDuration(j)) || '—';
    fields.initiator.textContent = `${j.initiator_role || ''} ${j.initiator_party_id || ''}`.trim() || '—';
    const roles = j.roles || {};
    fields.parties.textContent = Object.entries(roles).map(([r, ids]) => `${r}: ${(ids || []).join(', ')}`).join('; ') || '—';
    fields.tag.textContent = j.tag || '—';
    fields.description.textContent = j.description || '—';
    clear(waitBox, j.status === 'waiting' ? h('p', { class: 'wait-reason', 'data-testid': 'wait-reason' },
      'Waiting: ', j.wait_reason || 'for its turn', j.queue_position ? ` (position ${j.queue_position} in the queue)` : '') : null);
    const ended = isEnded(j.status);
    stopButton.disabled = ended;
    rerunButton.disabled = !ended; // the server says what an ended job can rerun
  }

  let inFlight = false;
  let again = false;
  /** One poll: the job row and its tasks; re-armed while the job is unfinished (one chain only). */
  async function poll() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    pollTimer = null;
    const [jobs, tasks] = await Promise.all([
      call('/v1/job/list/job', key, { signal: ctx.signal }),
      drawn ? call('/v1/job/list/task', { ...key, page: 1, limit: 1000 }, { signal: ctx.signal }) : null,
    ]);
    inFlight = false;
    if (!ctx.alive) return;
    const j = jobs?.data?.jobs?.[0];
    if (j) showJob(j);
    if (tasks && drawn) {
      const latest = latestTasks(tasks.data?.tasks);
      for (const name of dag.component_list || []) drawn.setStatus(name, latest[name]?.status);
      panel.setTasks(latest);
    }
    if (again) { again = false; poll(); return; }
    if (!job || !isEnded(job.status) || Date.now() < graceUntil) pollTimer = ctx.later(poll, POLL_MS);
  }

  function pollNow() {
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = null;
    graceUntil = Date.now() + 10000;
    poll();
  }

  async function stop() {
    if (!(await confirmDialog('Stop the job?', `Job ${jobId} will be canceled at every party.`, 'Stop job'))) return;
    const answer = await call('/v1/job/stop', { job_id: jobId }, { signal: ctx.signal });
    if (answer) pollNow();
  }

  async function rerun() {
    if (!(await confirmDialog('Rerun the job?', `The failed or canceled components of job ${jobId} run again.`, 'Rerun'))) return;
    const answer = await call('/v1/job/rerun', { job_id: jobId }, { signal: ctx.signal });
    if (answer) pollNow();
  }

  // the job row, its datasets and its DAG, in parallel
  const [jobs, view, dependency] = await Promise.all([
    call('/v1/job/list/job', key, { signal: ctx.signal }),
    call('/v1/tracking/job/data_view', keyInt, { signal: ctx.signal, quiet: () => true }),
    call('/v1/pipeline/dag/dependency', key, { signal: ctx.signal }),
  ]);
  if (!ctx.alive) return;
  const j = jobs?.data?.jobs?.[0];
  if (!j) {
    if (jobs) showError(`no job ${jobId} at ${role} ${partyId}`);
    clear(dagBox, h('p', { class: 'muted' }, 'No such job here.'));
    return;
  }
  showJob(j);
  const datasets = view?.retcode === 0 ? (view.data?.dataset || {}) : {};
  const described = [];
  for (const [r, parties] of Object.entries(datasets)) {
    for (const [pid, readers] of Object.entries(parties || {})) {
      for (const [reader, table] of Object.entries(readers || {})) described.push(`${r} ${pid} ${reader}: ${typeof table === 'string' ? table : JSON.stringify(table)}`);
    }
  }
  fields.datasets.textContent = described.join('; ') || '—';

  if (dependency?.data) {
    dag = dependency.data;
    if (!window.dagre) {
      showError('the DAG layout library did not load');
    } else {
      drawn = drawDag(dagBox, dag, (name) => {
        drawn.select(name);
        panel.select(name, dag.component_module?.[name]);
      });
    }
  } else {
    clear(dagBox, h('p', { class: 'muted' }, 'No DAG for this job.'));
  }
  await poll(); // statuses before we say the DAG is ready
  if (!ctx.alive) return;
  if (drawn) {
    document.body.dataset.dagReady = '1';
    const wanted = query.get('component');
    if (wanted && (dag.component_list || []).includes(wanted)) {
      drawn.select(wanted);
      panel.select(wanted, dag.component_module?.[wanted]);
    }
  }
}
