/**
 * The data pages: the tables this party stores (paged, searchable) with the recent uploads, and one
 * table's count, schema, first rows and upload history.
 */
import { call } from './api.js';
import { h, clear, table, fmtTime, cellText, link, seg, rowLink } from './dom.js';

const PAGE_SIZE = 20;
const state = { namespace: '', table_name: '', page: 1 };

export async function render(root, params, _query, ctx) {
  if (params.length === 2) return tablePage(root, params[0], params[1], ctx);
  return listPage(root, ctx);
}

/** Upload-history entries as rows ({job_id: {upload_info, notes, schema}} per entry). */
function uploadRows(history, only) {
  const rows = [];
  for (const entry of history || []) {
    for (const [jobId, item] of Object.entries(entry || {})) {
      const info = item?.upload_info || {};
      if (only && (info.namespace !== only.namespace || info.table_name !== only.table_name)) continue;
      rows.push({ jobId, info, notes: item?.notes || '' });
    }
  }
  return rows;
}

function uploadTable(rows) {
  if (!rows.length) return h('p', { class: 'muted' }, 'No upload recorded.');
  return h('div', { class: 'table-scroll' }, h('table', {},
    h('thead', {}, h('tr', {}, ['Upload job', 'Namespace', 'Table', 'Rows uploaded', 'Partitions', 'Notes'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.map((r) => h('tr', { 'data-testid': 'upload-row', 'data-job-id': r.jobId },
      h('td', {}, r.jobId),
      h('td', {}, cellText(r.info.namespace)),
      h('td', {}, r.info.namespace && r.info.table_name ? link(`/data/${seg(r.info.namespace)}/${seg(r.info.table_name)}`, r.info.table_name) : cellText(r.info.table_name)),
      h('td', {}, cellText(r.info.upload_count)), h('td', {}, cellText(r.info.partition)), h('td', { class: 'wrap' }, r.notes))))));
}

async function listPage(root, ctx) {
  const list = h('div');
  const count = h('span', { 'data-testid': 'table-total' });
  const pageInfo = h('span', { 'data-testid': 'page-info' });
  const prev = h('button', { type: 'button', class: 'button small', 'data-testid': 'page-prev',
    on: { click: () => { if (state.page > 1) { state.page -= 1; load(); } } } }, '‹ Previous');
  const next = h('button', { type: 'button', class: 'button small', 'data-testid': 'page-next',
    on: { click: () => { state.page += 1; load(); } } }, 'Next ›');
  const ns = h('input', { id: 'table-namespace', value: state.namespace, 'data-testid': 'filter-namespace' });
  const name = h('input', { id: 'table-name', value: state.table_name, 'data-testid': 'filter-table-name' });
  const uploads = h('div');
  clear(root,
    h('h1', {}, 'Data'),
    h('section', { class: 'card', 'aria-labelledby': 'tables-title' },
      h('div', { class: 'list-head' }, h('h2', { id: 'tables-title' }, 'Tables'), h('span', { class: 'muted' }, count, ' tables')),
      h('form', { class: 'filters', role: 'search', on: { submit: (e) => {
        e.preventDefault();
        state.namespace = ns.value.trim(); state.table_name = name.value.trim(); state.page = 1; load();
      } } },
      h('label', { for: 'table-namespace' }, 'Namespace', ns), h('label', { for: 'table-name' }, 'Table name', name),
      h('button', { type: 'submit', class: 'button primary', 'data-testid': 'table-filter-apply' }, 'Search')),
      list, h('div', { class: 'pager' }, prev, pageInfo, next)),
    h('section', { class: 'card', 'aria-labelledby': 'uploads-title' }, h('h2', { id: 'uploads-title' }, 'Recent uploads'), uploads));

  async function load() {
    const body = { page: state.page, limit: PAGE_SIZE };
    if (state.namespace) body.namespace = state.namespace;
    if (state.table_name) body.table_name = state.table_name;
    const answer = await call('/v1/table/list', body, { signal: ctx.signal });
    if (!ctx.alive) return;
    if (!answer) { clear(list, h('p', { class: 'muted' }, 'The table list is unavailable.')); return; }
    const { tables = [], count: total = 0 } = answer.data || {};
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    count.textContent = String(total);
    pageInfo.textContent = `Page ${state.page} of ${pages}`;
    prev.disabled = state.page <= 1;
    next.disabled = state.page >= pages;
    clear(list, tables.length ? h('div', { class: 'table-scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Namespace', 'Table', 'Rows', 'Partitions', 'Created'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, tables.map((t) => h('tr', { ...rowLink(`/data/${seg(t.namespace)}/${seg(t.table_name)}`), 'data-testid': 'table-row', 'data-namespace': t.namespace, 'data-name': t.table_name },
        h('td', {}, t.namespace),
        h('td', {}, link(`/data/${seg(t.namespace)}/${seg(t.table_name)}`, t.table_name)),
        h('td', { 'data-field': 'count' }, cellText(t.count)),
        h('td', { 'data-field': 'partitions' }, cellText(t.partitions)),
        h('td', {}, fmtTime(t.create_time)))))))
      : h('p', { class: 'muted' }, 'No table matches.'));
  }

  const [, history] = await Promise.all([load(), call('/v1/data/upload/history', { limit: 20 }, { signal: ctx.signal })]);
  if (!ctx.alive) return;
  clear(uploads, uploadTable(uploadRows(history?.data)));
}

async function tablePage(root, namespace, name, ctx) {
  const info = h('div', { 'aria-busy': 'true' });
  const preview = h('div', { 'data-testid': 'table-preview' });
  const uploads = h('div');
  clear(root,
    h('h1', {}, `${namespace}.${name}`),
    h('section', { class: 'card' }, info),
    h('section', { class: 'card', 'aria-labelledby': 'preview-title' }, h('h2', { id: 'preview-title' }, 'First rows'), preview),
    h('section', { class: 'card', 'aria-labelledby': 'uploads-title' }, h('h2', { id: 'uploads-title' }, 'Uploads of this table'), uploads),
    h('p', {}, link('/data', '‹ All tables')));
  const key = { namespace, table_name: name };
  const [tableInfo, rows, history] = await Promise.all([
    call('/v1/table/table_info', key, { signal: ctx.signal }),
    call('/v1/table/preview', { ...key, limit: 20 }, { signal: ctx.signal }),
    call('/v1/data/upload/history', { limit: 1000 }, { signal: ctx.signal }),
  ]);
  if (!ctx.alive) return;
  info.removeAttribute('aria-busy');
  const t = tableInfo?.data;
  if (t) {
    const schema = t.schema || {};
    const header = Array.isArray(schema.header) ? schema.header : String(schema.header || '').split(',').filter(Boolean);
    clear(info, h('dl', { class: 'summary-grid' },
      h('div', {}, h('dt', {}, 'Rows'), h('dd', { 'data-testid': 'table-count' }, cellText(t.count))),
      h('div', {}, h('dt', {}, 'Partitions'), h('dd', { 'data-testid': 'table-partitions' }, cellText(t.partition ?? t.partitions))),
      h('div', {}, h('dt', {}, 'Origin'), h('dd', {}, cellText(t.origin))),
      h('div', {}, h('dt', {}, 'Exists'), h('dd', {}, t.exist ? 'yes' : 'no'))),
    h('h2', {}, 'Schema'),
    h('div', { 'data-testid': 'table-schema' },
      schema.sid ? h('p', {}, 'Id column: ', h('strong', {}, String(schema.sid))) : null,
      header.length ? h('p', {}, `Columns (${header.length}): `, h('span', { class: 'columns' }, header.map((c) => h('code', {}, c))))
        : h('p', { class: 'muted' }, 'No header.'),
      Object.keys(schema).some((k) => !['sid', 'header'].includes(k))
        ? table(['Schema field', 'Value'], Object.entries(schema).filter(([k]) => !['sid', 'header'].includes(k)).map(([k, v]) => [k, cellText(v)])) : null));
  } else {
    clear(info, h('p', { class: 'muted' }, 'No such table.'));
  }
  const p = rows?.data;
  if (p && Array.isArray(p.rows)) {
    clear(preview, h('p', { class: 'muted' }, `${p.rows.length} of ${p.count ?? '?'} rows`),
      table(p.header || (p.rows[0] || []).map((_, i) => `column ${i}`), p.rows.map((r) => (Array.isArray(r) ? r : [r]).map(cellText))));
  } else {
    preview.appendChild(h('p', { class: 'muted' }, 'No preview.'));
  }
  clear(uploads, uploadTable(uploadRows(history?.data, key)));
}
