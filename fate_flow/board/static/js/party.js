/**
 * The party page: this server (party id, versions, host and ports), its computing cores and the
 * jobs holding them (and, on Spark, the cluster as its master reports it), and the route table with
 * whether each partner answers now (and, over RabbitMQ, each broker).
 */
import { call } from './api.js';
import { h, clear, table, cellText, link, seg } from './dom.js';

export async function render(root, _params, _query, ctx) {
  const server = h('div', { 'data-testid': 'server-info' }, h('p', { class: 'muted' }, 'Loading…'));
  const resources = h('div', { 'data-testid': 'resources' }, h('p', { class: 'muted' }, 'Loading…'));
  const routes = h('div', { 'data-testid': 'routes' }, h('p', { class: 'muted' }, 'Checking the routes…'));
  clear(root,
    h('h1', {}, 'Party'),
    h('section', { class: 'card', 'aria-labelledby': 'server-title' }, h('h2', { id: 'server-title' }, 'This server'), server),
    h('section', { class: 'card', 'aria-labelledby': 'res-title' }, h('h2', { id: 'res-title' }, 'Computing resources'), resources),
    h('section', { class: 'card', 'aria-labelledby': 'routes-title' }, h('h2', { id: 'routes-title' }, 'Routes to other parties'), routes));

  const [info, version, resource, route] = await Promise.all([
    call('/v1/server/fateflow/info', {}, { signal: ctx.signal }),
    call('/v1/version/get', {}, { signal: ctx.signal }),
    call('/v1/resource/query', {}, { signal: ctx.signal }),
    call('/v1/server/routes', {}, { signal: ctx.signal }),
  ]);
  if (!ctx.alive) return;

  // the instance serving this page (FATE-Board picks the one whose host is the browser's host)
  const instances = Object.values(info?.data || {});
  const me = instances.find((i) => i.host === window.location.hostname) || instances[0] || {};
  const versions = version?.data || {};
  const rows = route?.data?.routes || [];
  // this server's party id: said by the server, else the route-table entry that points at this server
  const own = rows.find((r) => r.host === me.host && Number(r.http_port) === Number(me.http_port));
  const partyId = me.party_id ?? route?.data?.party_id ?? own?.party_id;
  clear(server, table(['Field', 'Value'], [
    ['Party ID', cellText(partyId ?? '(not reported)')],
    ['Instance', cellText(me.instance_id)],
    ['Host', cellText(me.host)],
    ['HTTP port', cellText(me.http_port)],
    ['gRPC port', cellText(me.grpc_port)],
    ...Object.entries(versions).map(([k, v]) => [`${k} version`, cellText(v)]),
  ], { class: 'kv' }));

  const engine = resource?.data?.computing_engine_resource || {};
  const total = Number(engine.f_cores ?? engine.cores ?? 0);
  const free = Number(engine.f_remaining_cores ?? engine.remaining_cores ?? 0);
  const holders = resource?.data?.use_resource_job || [];
  clear(resources, resource ? [
    h('dl', { class: 'summary-grid' },
      h('div', {}, h('dt', {}, 'Engine'), h('dd', {}, cellText(engine.f_engine_name ?? engine.engine_name))),
      h('div', {}, h('dt', {}, 'Cores total'), h('dd', { 'data-testid': 'cores-total' }, String(total))),
      h('div', {}, h('dt', {}, 'Cores in use'), h('dd', { 'data-testid': 'cores-in-use' }, String(total - free))),
      h('div', {}, h('dt', {}, 'Cores free'), h('dd', { 'data-testid': 'cores-free' }, String(free))),
      h('div', {}, h('dt', {}, 'Nodes'), h('dd', {}, cellText(engine.f_nodes ?? engine.nodes)))),
    h('h3', {}, 'Jobs holding cores'),
    holders.length ? table(['Job', 'Role', 'Party', 'Cores', 'Memory'], holders.map((j) => [
      link(`/job/${seg(j.job_id)}/${seg(j.role)}/${seg(j.party_id)}`, j.job_id), j.role, cellText(j.party_id), cellText(j.core ?? j.cores), cellText(j.memory),
    ])) : h('p', { class: 'muted' }, 'No job holds cores now.'),
    sparkCluster(route?.data?.spark),
  ] : h('p', { class: 'muted' }, 'Resources unavailable.'));

  clear(routes, rows.length ? h('div', { class: 'table-scroll' }, h('table', {},
    h('thead', {}, h('tr', {}, ['Party', 'Host', 'HTTP port', 'gRPC port', 'Reachable', 'Latency', 'Error'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.map((r) => h('tr', { 'data-testid': 'route-row', 'data-party-id': r.party_id, 'data-reachable': r.reachable ? 'true' : 'false' },
      h('td', {}, cellText(r.party_id), r === own ? h('span', { class: 'muted' }, ' (this server)') : null), h('td', {}, cellText(r.host)), h('td', {}, cellText(r.http_port)), h('td', {}, cellText(r.grpc_port)),
      h('td', {}, h('span', { class: `badge ${r.reachable ? 'status-success' : 'status-failed'}` }, r.reachable ? 'reachable' : 'unreachable')),
      h('td', {}, r.latency_ms !== null && r.latency_ms !== undefined ? `${Number(r.latency_ms).toFixed(1)} ms` : ''),
      h('td', { class: 'wrap' }, cellText(r.error)))))))
    : h('p', { class: 'muted' }, route ? 'No route to another party.' : 'The route check is unavailable.'),
    brokers(route?.data?.rabbitmq));
}

function reachability(reachable) {
  return h('span', { class: `badge ${reachable ? 'status-success' : 'status-failed'}` }, reachable ? 'reachable' : 'unreachable');
}

/** The Spark cluster the tasks compute on (computing engine spark), as its master reports it now. */
function sparkCluster(spark) {
  if (!spark) return null;
  const rows = [
    ['Master', cellText(spark.master)],
    ['Master web UI', cellText(spark.web_ui)],
    ['State', reachability(spark.reachable)],
    ['Cores this party schedules', cellText(spark.cores_scheduled)],
  ];
  if (spark.reachable) {
    rows.push(['Alive workers', cellText(spark.alive_workers)], ['Cluster cores (in use)', `${spark.cores} (${spark.cores_used})`],
      ['Cluster memory MB (in use)', `${spark.memory_mb} (${spark.memory_used_mb})`], ['Running applications', cellText(spark.active_apps)]);
  } else {
    rows.push(['Error', cellText(spark.error)]);
  }
  return h('div', { 'data-testid': 'spark-cluster' }, h('h3', {}, 'Spark cluster'), table(['Field', 'Value'], rows, { class: 'kv' }));
}

/** The RabbitMQ brokers objects travel through (federation engine rabbitmq). */
function brokers(list) {
  if (!list || !list.length) return null;
  return h('div', { 'data-testid': 'brokers' }, h('h3', {}, 'RabbitMQ brokers'), table(['Party', 'Broker', 'Own', 'Reachable', 'Error'],
    list.map((b) => [cellText(b.party_id), `${b.host}:${b.port}`, b.own ? 'yes' : '', reachability(b.reachable), cellText(b.error)])));
}
