"""Intersection's runners: read the party's table, run the protocol its parameters name, write the table
restricted to the intersected ids (with ``join_method`` left_join: every row of ``sample_id_generator``'s
table, padded at the other parties), the summary and FATE's ``intersection`` metric."""

from __future__ import annotations

import time
import uuid
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fate_flow.components._data_ops import arrow, concat, ids_from_wire, ids_to_wire, with_sids
from fate_flow.components.intersection import IntersectParams, commutative, rsa
from fate_flow.components.intersection.bloom import BloomFilter
from fate_flow.components.intersection.cache import generate as generate_cache
from fate_flow.components.intersection.cache import run_with as run_with_cache
from fate_flow.components.intersection.ciphers import ModpCipher, X25519Cipher
from fate_flow.components.intersection.commutative import Outcome
from fate_flow.components.intersection.hashing import digest_function, salted
from fate_flow.engine.standalone import ArrowTable
from fate_flow.framework import ComponentError, Context, Schema, Table
from fate_flow.framework.federation import Parties, PartyHandle

# what the sample id generator sends the other parties in a left join: the sample ids of its rows outside
# the intersection (FATE's ``join_id_from_guest`` / ``join_id_from_host``)
LEFT_JOIN_IDS = "left_join_sids"


def run_guest(ctx: Context) -> None:
    """The guest: learns the intersection (or its size) over every host."""
    _run(ctx)


def run_host(ctx: Context) -> None:
    """A host: learns the intersection only with ``sync_intersect_ids`` (its size with ``sync_cardinality``)."""
    _run(ctx)


def _run(ctx: Context) -> None:
    params: IntersectParams = ctx.params
    table = ctx.inputs.first("data")
    match_id = table.schema.extra.get("match_id_name") or None
    _refuse_unsupported(ctx, params, match_id)
    ids = unique_ids(table, match_id)
    if ids.size == 0:
        raise ComponentError(f"{ctx.component_name}: the input data at {ctx.role} {ctx.party_id} has no rows")
    started = time.perf_counter()
    cache = ctx.models.load("cache") if ctx.models.available("cache") else None
    outcome = intersect_ids(ctx, params, ids, cache)
    ctx.logger.info("%s: %s intersection of %d ids with %d host(s)%s: %s in %.1f s", ctx.component_name,
                    params.method, ids.size, len(ctx.roles.get("host", [])), " (cache)" if cache else "",
                    "cache made" if outcome.cache else "unknown here" if outcome.count is None else outcome.count,
                    time.perf_counter() - started)
    if outcome.cache is not None:
        _keep_cache(ctx, params, *outcome.cache)
        return
    unique = len(cache.arrays["ids_end"]) if cache is not None and ctx.role == "host" else ids.size
    _record(ctx, params, unique, outcome.count)
    intersected = outcome.ids
    if intersected is None:
        return  # a host without sync_intersect_ids (or cardinality only): no output data, as FATE
    if intersected.size == 0:
        raise ComponentError(f"{ctx.component_name}: the intersection is empty: none of the {ids.size} ids at "
                             f"{ctx.role} {ctx.party_id} is also at {_peers(ctx)}")
    ctx.outputs[0].write(_output(ctx, params, table, match_id, intersected))


def _refuse_unsupported(ctx: Context, params: IntersectParams, match_id: str | None) -> None:
    """FATE's run-time refusals (they depend on the data and the roles, so they cannot be checked at submit)."""
    if params.join_method == "left_join" and not match_id:
        # FATE's fit refuses it too: without match ids the sample ids are the real ids, and a left join would
        # send the generator's ids outside the intersection to the other parties
        raise ComponentError(f"{ctx.component_name}: join_method left_join needs data with match ids (DataTransform's "
                             f"with_match_id); the input data at {ctx.role} {ctx.party_id} has none")
    if match_id and params.sample_id_generator == "host" and len(ctx.roles.get("host", [])) != 1:
        raise ComponentError(f"{ctx.component_name}: sample_id_generator host takes exactly one host "
                             "(with several hosts it must be guest)")
    if params.new_sample_id and params.join_method != "left_join":
        ctx.logger.warning("%s: new_sample_id only takes effect with join_method left_join (as in FATE 1.11); "
                           "ignored", ctx.component_name)


def _output(ctx: Context, params: IntersectParams, table: Table, match_id: str | None,
            intersected: np.ndarray) -> Table:
    """This party's output: its rows of the ``intersected`` ids (keyed by the generator's sample ids when the
    data has match ids); with a left join, also the generator's other rows (padded at the other parties)."""
    inner = table
    if match_id:
        inner = _keyed_by_generator(ctx, params, table, match_id, intersected)
        intersected = unique_ids(inner)
    output = _restricted(ctx, params, inner, intersected)
    if params.join_method != "left_join":
        return output
    if ctx.role == sample_id_generator(params):
        return _generator_left_join(ctx, params, table, output)
    return _partner_left_join(ctx, params, output)


def sample_id_generator(params: IntersectParams) -> str:
    """The role whose sample ids key the output: ``sample_id_generator``, except that without
    ``sync_intersect_ids`` only the guest knows the intersection, so FATE makes it the guest."""
    return params.sample_id_generator if params.sync_intersect_ids else "guest"


def _to_partners(ctx: Context) -> Parties:
    """The generator's counterparts: every host from the guest, the guest from a host."""
    return ctx.hosts if ctx.role == "guest" else ctx.guest


def _from_generator(ctx: Context, params: IntersectParams) -> PartyHandle:
    """The sample id generator, as seen from another party (a host generator means the only host)."""
    return ctx.guest if sample_id_generator(params) == "guest" else ctx.hosts[0]


def _keyed_by_generator(ctx: Context, params: IntersectParams, table: Table, match_id: str,
                        intersected: np.ndarray) -> Table:
    """Data with match ids (FATE's ``with_match_id``): the parties intersected their match ids; every party's
    rows of the intersection are now keyed by the sample ids of ``sample_id_generator``'s rows, which that
    party sends with their match ids (a match id on several of its rows gives the others that many rows)."""
    from fate_flow.components._tables import rows_with_sids

    matches = np.asarray(table.column(match_id)).astype(str)
    rows = np.flatnonzero(np.isin(matches, intersected.astype(str)))
    if ctx.role == sample_id_generator(params):
        if params.sync_intersect_ids:  # else the others must not learn the intersection (nor do they wait)
            pairs = {"match_ids": [str(m) for m in matches[rows]], "sids": [str(s) for s in table.sids()[rows]]}
            _to_partners(ctx).put("generated_sids", pairs)
        return rows_with_sids(table, rows)
    pairs = _from_generator(ctx, params).get("generated_sids")
    if (not isinstance(pairs, dict) or set(pairs) != {"match_ids", "sids"}
            or not all(isinstance(pairs[k], list) and all(isinstance(v, str) for v in pairs[k]) for k in pairs)
            or len(pairs["match_ids"]) != len(pairs["sids"])):
        raise ComponentError("the sample id generator sent malformed sample ids")
    own: dict[str, int] = {}
    for row in rows.tolist():
        if matches[row] in own:
            raise ComponentError(f"{ctx.component_name}: match id {matches[row]!r} is on several rows here; "
                                 "FATE keys such rows by the generator's sample ids only when they are unique here")
        own[matches[row]] = row
    unknown = [m for m in pairs["match_ids"] if m not in own]
    if unknown:
        raise ComponentError(f"the sample id generator sent {len(unknown)} match ids outside the intersection")
    return rows_with_sids(table, np.asarray([own[m] for m in pairs["match_ids"]], dtype=np.int64),
                          np.asarray(pairs["sids"]))


# -- join_method left_join -----------------------------------------------------------------------------------------
def _generator_left_join(ctx: Context, params: IntersectParams, table: Table, output: Table) -> Table:
    """The generator keeps its whole input, in its order (``new_sample_id``: its rows outside the intersection
    under fresh sample ids) and sends the sample ids of those rows to the other parties."""
    sids = np.asarray(table.sids()).astype(object)  # object: a fresh id may be longer than the old ones
    outside = ~among(sids, output.sids())
    if params.new_sample_id:
        sids[outside] = fresh_sample_ids(int(outside.sum()))
        table = with_sids(table, sids)
    _to_partners(ctx).put(LEFT_JOIN_IDS, ids_to_wire(sids[outside]))
    ctx.logger.info("%s: left join: %d of the %d rows here are outside the intersection%s", ctx.component_name,
                    int(outside.sum()), sids.size, " (new sample ids)" if params.new_sample_id else "")
    return _keys_only(ctx, table) if params.only_output_key else table


def _partner_left_join(ctx: Context, params: IntersectParams, output: Table) -> Table:
    """Another party: its intersected rows, then a row with missing values (FATE: NaN features) under each of
    the generator's sample ids outside the intersection."""
    sids = left_join_ids(_from_generator(ctx, params).get(LEFT_JOIN_IDS), output.sids())
    ctx.logger.info("%s: left join: %d rows of the sample id generator padded here", ctx.component_name, sids.size)
    return concat([output, missing_rows(output, sids)], output.schema)


def fresh_sample_ids(count: int) -> np.ndarray:
    """``count`` new sample ids: 32 hex digits like FATE's ``fate_uuid``, but random (uuid4) where FATE's
    uuid1 would tell the other parties the time and the MAC address of the machine that made them."""
    return np.array([uuid.uuid4().hex for _ in range(count)], dtype=object)


def left_join_ids(received: Any, intersected_sids: np.ndarray) -> np.ndarray:
    """The generator's sample ids outside the intersection as a peer sent them, checked: distinct, non-empty
    texts, none of them already keys an intersected row here; else a ComponentError naming the fault."""
    sids = ids_from_wire(received, "left join sample ids")
    if (sids == "").any():
        raise ComponentError("the sample id generator sent an empty left join sample id")
    if np.unique(sids).size != sids.size:
        raise ComponentError("the sample id generator sent repeated left join sample ids")
    inside = among(sids, intersected_sids)
    if inside.any():
        raise ComponentError(f"the sample id generator sent {int(inside.sum())} left join sample ids that are "
                             "already in the intersection")
    return sids


def missing_rows(table: Table, sids: np.ndarray) -> Table:
    """Rows under ``sids`` with ``table``'s columns and every value missing: NaN in float columns (FATE pads
    with NaN features), null elsewhere (label, weight, match id, text features)."""
    stored = arrow(table).schema
    count = len(sids)
    columns = []
    for field in stored:
        if field.name == table.schema.sid:
            columns.append(pa.array(np.asarray(sids).astype(str), type=field.type))
        elif pa.types.is_floating(field.type):
            columns.append(pa.array(np.full(count, np.nan), type=field.type))
        else:
            columns.append(pa.nulls(count, type=field.type))
    return ArrowTable(table.schema, pa.Table.from_arrays(columns, schema=stored))


def among(values: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Per value, whether it is one of ``members`` (texts; hashed by Arrow, not sorted)."""
    value_set = pa.array(np.asarray(members, dtype=object), type=pa.string())
    found = pc.is_in(pa.array(np.asarray(values, dtype=object), type=pa.string()), value_set=value_set)
    return found.to_numpy(zero_copy_only=False).astype(bool)


def _peers(ctx: Context) -> str:
    if ctx.role == "guest":
        return "host " + ", ".join(ctx.roles.get("host", []))
    return f"guest {ctx.roles.get('guest', ['?'])[0]}"


def intersect_ids(ctx: Any, params: IntersectParams, ids: np.ndarray, cache: Any = None) -> Outcome:
    """What this party learns from its unique ``ids``: the intersected ids (or None) and the intersection's
    size (or None); with ``run_cache`` the cache to keep instead; given a ``cache``, only the rest of the
    protocol runs."""
    if cache is not None:  # FATE: a cache input comes first (a loader of it inherits run_cache from its maker)
        return run_with_cache(ctx, params, ids, cache)
    if params.run_cache:
        return Outcome(cache=generate_cache(ctx, params, ids))
    candidates = preprocess(ctx, ids, params) if params.run_preprocess else ids
    return intersect(ctx, params, candidates)


def intersect(ctx: Any, params: IntersectParams, ids: np.ndarray) -> Outcome:
    """Run the protocol ``params`` name on unique ``ids`` at this party (``ctx``: role handles and computing)."""
    guest = ctx.role == "guest"
    cardinality, sync, sync_cardinality = params.cardinality_only, params.sync_intersect_ids, params.sync_cardinality
    method = params.method
    if method == "rsa":
        if params.rsa_params.split_calculation and not cardinality:
            split = rsa.split_guest if guest else rsa.split_host
            return split(ctx, params.rsa_params, ids, sync=sync)
        side = rsa.guest if guest else rsa.host
        return side(ctx, params.rsa_params, ids, sync=sync, cardinality=cardinality,
                    preprocess=params.intersect_preprocess_params, sync_cardinality=sync_cardinality)
    if method == "dh":
        cipher: Any = ModpCipher(params.dh_params.key_length, params.dh_params.hash_method, params.dh_params.salt)
    else:
        cipher = X25519Cipher(params.ecdh_params.hash_method, params.ecdh_params.salt)
    if guest:
        return commutative.guest(ctx, cipher, ids, sync=sync, cardinality=cardinality,
                                 sync_cardinality=sync_cardinality)
    return commutative.host(ctx, cipher, ids, sync=sync, cardinality=cardinality, sync_cardinality=sync_cardinality,
                            hosts=len(ctx.roles.get("host", [])))


def preprocess(ctx: Any, ids: np.ndarray, params: IntersectParams) -> np.ndarray:
    """``run_preprocess``: the filter owner sends a Bloom filter of its hashed ids; the other side keeps only
    the ids it (probably) holds (with several hosts as owners, the ids every host's filter holds)."""
    pre = params.intersect_preprocess_params
    digest = digest_function(pre.preprocess_method)
    elements = [digest(v) for v in salted(np.asarray(ids).tolist(), pre.preprocess_salt)]
    if ctx.role == pre.filter_owner:
        wire = BloomFilter.build(elements, pre.false_positive_rate, pre.hash_method, pre.random_state).to_wire()
        (ctx.hosts if ctx.role == "guest" else ctx.guest).put("preprocess_filter", wire)
        return ids
    received = ctx.hosts.get("preprocess_filter") if ctx.role == "guest" else [ctx.guest.get("preprocess_filter")]
    keep = np.ones(ids.size, dtype=bool)
    for wire in received:
        keep &= BloomFilter.from_wire(wire).contains(elements)
    return ids[keep]


def unique_ids(table: Table, match_id: str | None = None) -> np.ndarray:
    """The table's distinct sample ids (or values of its ``match_id`` column) as texts (an object array),
    hashed rather than sorted."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = table.sids() if not match_id else np.asarray(table.column(match_id)).astype(str)
    sids = pa.array(np.asarray(values, dtype=object), type=pa.string())
    return pc.unique(sids).to_numpy(zero_copy_only=False)


def _restricted(ctx: Context, params: IntersectParams, table: Table, intersected: np.ndarray) -> Table:
    """The input rows whose id is intersected, in the input's order (label and features as they were);
    with ``only_output_key`` the ids alone."""
    rows = table.filter_sids(intersected)
    return _keys_only(ctx, rows) if params.only_output_key else rows


def _keys_only(ctx: Context, table: Table) -> Table:
    """``only_output_key``: the sample ids alone (FATE's clean_header keeps the match id's name)."""
    schema = Schema(sid=table.schema.sid, header=(), extra=_kept_extra(table.schema))
    return ctx.computing.from_numpy(schema, table.sids(), np.empty((table.count(), 0)))


def _kept_extra(schema: Schema) -> dict[str, Any]:
    """What FATE's clean_header keeps of a schema besides the id: the match id's name."""
    return {k: v for k, v in schema.extra.items() if k == "match_id_name"}


def _keep_cache(ctx: Context, params: IntersectParams, param: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """The cache as this task's model files (alias ``cache``) and FATE's ``intersection_cache_meta`` metric."""
    ctx.models.save(param=param, meta={"cache": "intersection"}, arrays=arrays, alias="cache")
    ctx.metrics.scalars("train", "intersection_cache_meta", {}, metric_type="INTERSECTION", **param["intersect_meta"])


def _record(ctx: Context, params: IntersectParams, unique: int, count: int | None) -> None:
    """FATE's summary (intersect_num, intersect_rate, cardinality_only, unique_id_num) and ``intersection``
    metric; -1 where this party does not learn the intersection."""
    known = count is not None
    rate = count / unique if known and unique else -1
    ctx.summary({"intersect_num": count if known else -1, "intersect_rate": rate,
                 "cardinality_only": params.cardinality_only, "unique_id_num": unique})
    ctx.metrics.scalars("train", "intersection", {
        "intersect_count": count if known else -1, "input_match_id_count": unique, "intersect_rate": rate,
        "unmatched_count": unique - count if known else -1, "unmatched_rate": 1 - rate if known else -1,
    }, metric_type="INTERSECTION", intersect_method=params.method, join_method=params.join_method)
