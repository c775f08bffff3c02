/**
 * The models page: every model version this party holds (trained, or deployed from a trained one),
 * their tags, and on request a version's predict DSL.
 */
import { call } from './api.js';
import { h, clear, fmtTime, link, seg } from './dom.js';

export async function render(root, _params, _query, ctx) {
  const list = h('div');
  const dsl = h('section', { class: 'card', 'aria-live': 'polite', hidden: true });
  const filter = h('input', { id: 'model-id-filter', 'data-testid': 'filter-model-id', placeholder: 'model id' });
  clear(root,
    h('h1', {}, 'Models'),
    h('section', { class: 'card' },
      h('form', { class: 'filters', role: 'search', on: { submit: (e) => { e.preventDefault(); load(); } } },
        h('label', { for: 'model-id-filter' }, 'Model ID', filter),
        h('button', { type: 'submit', class: 'button primary', 'data-testid': 'model-filter-apply' }, 'Search')),
      list),
    dsl);

  /** version -> tag names, from the tag list (one call) and each used tag's models. */
  async function tagsByVersion() {
    const tags = await call('/v1/model/tag/list', {}, { signal: ctx.signal });
    const used = (tags?.data?.tags || []).filter((t) => t.model_count > 0);
    const answers = await Promise.all(used.map((t) => call('/v1/model/tag/retrieve', { tag_name: t.name, with_model: true },
      { signal: ctx.signal })));
    const out = {};
    used.forEach((t, i) => {
      for (const m of answers[i]?.data?.models || []) (out[m.model_version] ||= []).push(t.name);
    });
    return out;
  }

  async function showDsl(row) {
    dsl.hidden = false;
    clear(dsl, h('p', { class: 'muted' }, 'Loading the predict DSL…'));
    const answer = await call('/v1/model/get/predict/dsl', { model_id: row.model_id, model_version: row.model_version },
      { signal: ctx.signal });
    if (!ctx.alive) return;
    clear(dsl, h('h2', {}, 'Predict DSL'),
      h('p', { class: 'muted' }, `${row.model_id} · ${row.model_version}`),
      h('pre', { 'data-testid': 'predict-dsl', class: 'json-block', 'data-model-id': row.model_id, 'data-model-version': row.model_version },
        answer ? JSON.stringify(answer.data, null, 2) : 'unavailable'));
    dsl.scrollIntoView({ block: 'nearest' });
  }

  async function load() {
    const body = filter.value.trim() ? { model_id: filter.value.trim() } : {};
    const [answer, tags] = await Promise.all([
      call('/v1/model/query', body, { signal: ctx.signal, quiet: (a) => /no model/i.test(a.retmsg || '') }),
      tagsByVersion(),
    ]);
    if (!ctx.alive) return;
    const rows = (answer?.retcode === 0 && Array.isArray(answer.data) ? answer.data : [])
      .slice().sort((a, b) => (b.create_time || 0) - (a.create_time || 0));
    if (!rows.length) { clear(list, h('p', { class: 'muted' }, 'No model.')); return; }
    clear(list, h('div', { class: 'table-scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Model ID', 'Version', 'Role', 'Party', 'Job', 'Kind', 'Created', 'Size', 'Tags', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows.map((m) => h('tr', { 'data-testid': 'model-row', 'data-model-id': m.model_id, 'data-model-version': m.model_version },
        h('td', { class: 'wrap' }, m.model_id),
        h('td', {}, m.model_version),
        h('td', {}, m.role || ''), h('td', {}, String(m.party_id ?? '')),
        h('td', {}, m.job_id ? link(`/job/${seg(m.job_id)}/${seg(m.role)}/${seg(m.party_id)}`, m.job_id) : ''),
        h('td', {}, m.parent === false && m.parent_info?.parent_model_version
          ? `deployed from ${m.parent_info.parent_model_version}` : (m.imported ? 'imported' : 'trained')),
        h('td', {}, fmtTime(m.create_time)),
        h('td', {}, m.size ? `${(m.size / 1024).toFixed(1)} KiB` : ''),
        h('td', { 'data-testid': 'model-tags' }, (tags[m.model_version] || []).map((t) => h('span', { class: 'badge tag' }, t))),
        h('td', {}, h('button', { type: 'button', class: 'button small', 'data-testid': 'show-predict-dsl',
          on: { click: () => showDsl(m) } }, 'Predict DSL'))))))));
  }
  await load();
}
