"""HeteroFeatureBinning's runner at the guest and the hosts (FATE 1.11, docs/fate-secureboost-1.11.md §6).

Fit: each party finds the split points of its bin columns (quantile, bucket, optimal, or the manual ones) and
takes the sorted distinct values of its category columns as theirs. The guest counts its labels per bin and
computes WOE/IV (one-vs-rest per label when there are more than two). For the hosts' columns:

1. the guest packs each sample's one-hot label into one integer (label ``l`` in its own bit field, as wide as
   that label's count, so no field can carry into the next), encrypts it with a fresh Paillier key and sends
   the ciphertexts with its sample ids to every host;
2. a host bins its columns and multiplies the ciphertexts of each (column, bin) together (the encrypted sum
   of the packed labels), rerandomises the sums (so the guest cannot tell which of its ciphertexts went into
   which bin) and sends them under its anonymous column names ``host_<party>_x<i>``, never its split points;
3. the guest decrypts, unpacks the per-label counts and computes the host columns' WOE/IV. A host binning
   with ``optimal`` bins with ``init_bin_nums`` quantiles; the guest merges those buckets and sends back which
   bucket bounds to keep (indices, not values).

A stage with a ``model`` input bins other data with the model's split points; labelled data at the guest
gets the statistics again (``transform_*`` in the model), as FATE does.

Output data: the transform columns replaced by their bin index (``bin_num``) or their bin's WOE (``woe``,
guest only), or unchanged (``transform_type`` null).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fate_flow.components._binning_cipher import encrypt_packed, encrypted_bin_sums, pack, pack_widths, unpack
from fate_flow.components._data_ops import ids_from_wire, ids_to_wire, replace_features
from fate_flow.components._tables import canonical_text, float_matrix, positions_of, select_columns
from fate_flow.components.feature_binning import FeatureBinningParams
from fate_flow.framework import PREDICT, ComponentError, Context, Table
from fate_flow.ml import binning
from fate_flow.ml.paillier import EncryptedVector, PrivateKey, PublicKey, generate_keypair

MODEL_NAME = "binning_model"
MAX_HOST_BINS = 1 << 20  # bins a host may report in total: far above any real binning, bounds the decryption


# -- what a party bins ---------------------------------------------------------------------------------------------
@dataclass
class Plan:
    """One party's binning: its header, the columns binned (numeric and category), their split points."""

    header: list[str]
    anonymous: list[str]
    bin_cols: list[str]
    category_cols: list[str]
    transform_cols: list[str]
    transform_type: str | None
    points: dict[str, np.ndarray] = field(default_factory=dict)
    optimal_metric: dict[str, list[float]] = field(default_factory=dict)

    @property
    def binned(self) -> list[str]:
        """Every column with split points, bin columns first (FATE's order for the statistics)."""
        return self.bin_cols + [c for c in self.category_cols if c not in self.bin_cols]

    def anonymous_of(self, column: str) -> str:
        """The anonymous name of ``column``."""
        return self.anonymous[self.header.index(column)]

    def bins(self, x: np.ndarray, header: list[str], column: str) -> np.ndarray:
        """The bin of each row's value of ``column`` (x's columns named by ``header``)."""
        return binning.bin_column(x[:, header.index(column)], self.points[column])


def anonymous_header(ctx: Context, table: Table) -> list[str]:
    """FATE's anonymous names ``<role>_<party>_x<i>`` (the schema's own when it carries them)."""
    header = list(table.schema.header)
    given = table.schema.extra.get("anonymous_header")
    if isinstance(given, list) and len(given) == len(header) and all(isinstance(n, str) for n in given):
        return list(given)
    return [f"{ctx.role}_{ctx.party_id}_x{i}" for i in range(len(header))]


def _plan(ctx: Context, table: Table, params: FeatureBinningParams) -> Plan:
    """The columns to bin, as FATE chooses them: bin columns minus category columns; transform columns are
    every binned column for -1 (else the indexes, then the names)."""
    header = list(table.schema.header)
    bin_cols = select_columns(header, params.bin_indexes, params.bin_names, ctx.logger, ctx.component_name)
    if params.category_indexes == -1:
        category = list(header)
    else:
        category = select_columns(header, params.category_indexes or [], params.category_names, ctx.logger,
                                  ctx.component_name)
    bin_cols = [c for c in bin_cols if c not in category]
    transform = params.transform_param
    if transform.transform_cols == -1:
        transform_cols = bin_cols + category
    else:
        unknown = [n for n in transform.transform_names or [] if n not in header]
        if unknown or any(i >= len(header) for i in transform.transform_cols or []):
            raise ComponentError(f"{ctx.component_name}: transform_param names columns the data lacks "
                                 f"({unknown or transform.transform_cols})")
        transform_cols = select_columns(header, transform.transform_cols or [], transform.transform_names,
                                        ctx.logger, ctx.component_name)
    return Plan(header, anonymous_header(ctx, table), bin_cols, category, transform_cols, transform.transform_type)


def _manual_points(ctx: Context, plan: Plan, params: FeatureBinningParams) -> dict[str, np.ndarray] | None:
    """The manual split points (``split_points_by_index`` / ``_by_col_name``), or None when there are none.
    They must cover every bin column; a category column given points is binned by them."""
    if params.split_points_by_index is None and params.split_points_by_col_name is None:
        return None
    manual: dict[str, list[float]] = {}
    for key, points in (params.split_points_by_index or {}).items():
        if int(key) >= len(plan.header):
            raise ComponentError(f"{ctx.component_name}: split_points_by_index: index {key} is beyond the "
                                 f"data's {len(plan.header)} features")
        manual[plan.header[int(key)]] = points
    for name, points in (params.split_points_by_col_name or {}).items():
        if name in manual:
            raise ComponentError(f"{ctx.component_name}: split points for {name!r} are given both by index and "
                                 "by name")
        manual[name] = points
    unknown = sorted(set(manual) - set(plan.bin_cols) - set(plan.category_cols))
    uncovered = [c for c in plan.bin_cols if c not in manual]
    if unknown or uncovered:
        raise ComponentError(f"{ctx.component_name}: the manual split points must name exactly the bin columns "
                             f"(not bin columns: {unknown[:10]}; without points: {uncovered[:10]})")
    return {name: np.asarray(points, dtype=np.float64) for name, points in manual.items()}


# -- labels --------------------------------------------------------------------------------------------------------
@dataclass
class Labels:
    """The guest's labels: distinct values in descending order (FATE's: the first is the event) and one-hot."""

    values: list[str]
    onehot: np.ndarray  # rows x labels, 0/1

    @property
    def counts(self) -> np.ndarray:
        """Samples per label."""
        return self.onehot.sum(axis=0).astype(np.int64)


def _labels(ctx: Context, table: Table, known: list[str] | None = None) -> Labels:
    y = table.labels()
    if np.isnan(y).any():
        raise ComponentError(f"{ctx.component_name}: some labels are missing")
    distinct = np.unique(y)[::-1]
    texts = [canonical_text(v) for v in distinct]
    if known is not None:
        unknown = sorted(set(texts) - set(known))
        if unknown:
            raise ComponentError(f"{ctx.component_name}: labels {unknown} were not seen when the model was fitted")
        distinct = np.asarray([float(v) for v in known])
        texts = list(known)
    elif len(distinct) < 2:
        raise ComponentError(f"{ctx.component_name}: the label has a single value ({texts}): WOE and IV need two")
    onehot = (y[:, None] == distinct[None, :]).astype(np.int64)
    return Labels(texts, onehot)


# -- split points --------------------------------------------------------------------------------------------------
def _fit_points(ctx: Context, plan: Plan, x: np.ndarray, params: FeatureBinningParams,
                labels: Labels | None) -> None:
    """Fill ``plan.points``: manual, else per method (optimal: guest merges its initial buckets here; a host
    keeps ``init_bin_nums`` quantiles until the guest says which to keep)."""
    manual = _manual_points(ctx, plan, params)
    for column in plan.category_cols:
        plan.points[column] = binning.category_points(x[:, plan.header.index(column)])
    if manual is not None:
        plan.points.update(manual)
        return
    method, optimal = params.method, params.optimal_binning_param
    if method == binning.OPTIMAL:
        _no_missing(ctx, plan, x)
        initial = optimal.init_bucket_method if ctx.role == "guest" else binning.QUANTILE
        bin_num = optimal.init_bin_nums
    else:
        initial, bin_num = method, params.bin_num
    find = binning.quantile_points if initial == binning.QUANTILE else binning.bucket_points
    for column in plan.bin_cols:
        plan.points[column] = find(x[:, plan.header.index(column)], bin_num)
    if method == binning.OPTIMAL and ctx.role == "guest":
        if labels is None or len(labels.values) != 2:
            raise ComponentError(f"{ctx.component_name}: optimal binning needs a binary label")
        for column in plan.bin_cols:
            counts = binning.bin_label_counts(plan.bins(x, plan.header, column), labels.onehot,
                                              len(plan.points[column]))
            kept = _optimal(params, counts[:, 0], counts[:, 1])
            plan.points[column] = plan.points[column][kept]


def _no_missing(ctx: Context, plan: Plan, x: np.ndarray) -> None:
    missing = [c for c in plan.bin_cols if np.isnan(x[:, plan.header.index(c)]).any()]
    if missing:
        raise ComponentError(f"{ctx.component_name}: optimal binning does not take missing values "
                             f"(columns {missing[:10]})")


def _optimal(params: FeatureBinningParams, event: np.ndarray, non_event: np.ndarray,
             optimal: dict[str, Any] | None = None) -> list[int]:
    """The kept bucket indices of optimal binning (``optimal``: a host's settings instead of ours)."""
    own = params.optimal_binning_param
    settings = optimal or {"metric_method": own.metric_method, "bin_num": params.bin_num, "mixture": own.mixture,
                           "min_bin_pct": own.min_bin_pct, "max_bin_pct": own.max_bin_pct}
    if settings["metric_method"] == "ks":
        return binning.ks_split(event, non_event, settings["bin_num"], settings["min_bin_pct"])
    return binning.optimal_merge(event, non_event, settings["bin_num"], settings["metric_method"],
                                 settings["mixture"], settings["min_bin_pct"], settings["max_bin_pct"],
                                 params.adjustment_factor)


# -- statistics ----------------------------------------------------------------------------------------------------
def _column_counts(bins: np.ndarray, onehot: np.ndarray, n_points: int) -> np.ndarray:
    """Per-bin label counts; the missing bin (index ``n_points``) only when some value is missing."""
    n_bins = n_points + 1 if (bins == n_points).any() and n_points else max(n_points, 1)
    return binning.bin_label_counts(bins, onehot, n_bins)


def iv_params(counts: np.ndarray, label_index: int, adjustment_factor: float,
              points: np.ndarray | None) -> dict[str, Any]:
    """FATE's IVParam (JSON names) of one column for label ``label_index`` against the rest."""
    event = counts[:, label_index]
    non_event = counts.sum(axis=1) - event
    result = binning.woe_iv(event, non_event, adjustment_factor)
    n_points = 0 if points is None else len(points)
    return {"woeArray": result["woe_array"], "ivArray": result["iv_array"],
            "eventCountArray": result["event_count_array"], "nonEventCountArray": result["non_event_count_array"],
            "eventRateArray": result["event_rate_array"], "nonEventRateArray": result["non_event_rate_array"],
            "splitPoints": [] if points is None else [float(p) for p in points], "iv": result["iv"],
            "isWoeMonotonic": result["is_woe_monotonic"],
            "binNums": int(max(len(event), n_points)) if points is not None else int(len(event)),
            "binAnonymous": [f"bin_{i}" for i in range(len(event))], "optimalMetricArray": []}


def label_results(columns: dict[str, np.ndarray], labels: Labels, adjustment_factor: float, role: str,
                  party_id: str, points: dict[str, np.ndarray] | None) -> list[dict[str, Any]]:
    """FATE's FeatureBinningResult per label (one for a binary label): ``columns`` maps a name to its counts."""
    labels_used = [0] if len(labels.values) == 2 else list(range(len(labels.values)))
    return [{"binningResult": {name: iv_params(counts, index, adjustment_factor,
                                               None if points is None else points.get(name))
                               for name, counts in columns.items()},
             "role": role, "partyId": str(party_id)} for index in labels_used]


def _local_counts(plan: Plan, x: np.ndarray, labels: Labels) -> dict[str, np.ndarray]:
    return {c: _column_counts(plan.bins(x, plan.header, c), labels.onehot, len(plan.points[c]))
            for c in plan.binned}


# -- the guest -----------------------------------------------------------------------------------------------------
@dataclass
class HostResult:
    """What the guest learnt of one host: per-label results keyed by anonymous names."""

    party_id: str
    results: list[dict[str, Any]]


def _guest_federated(ctx: Context, params: FeatureBinningParams, table: Table, labels: Labels,
                     fitting: bool) -> list[HostResult]:
    public, private = generate_keypair(params.encrypt_param.key_length)
    widths = pack_widths(labels.counts)
    bound = (1 << sum(widths)) - 1
    encrypted = encrypt_packed(public, pack(labels.onehot, widths), bound, ctx.cores)
    ctx.hosts.put("encrypted_label", {"public_key": public.to_wire(), "labels": encrypted.to_wire(),
                                      "sample_ids": ids_to_wire(table.sids())})
    results = []
    host_ids = ctx.roles.get("host", [])
    for index, sent in enumerate(ctx.hosts.get("encrypted_bin_sum")):
        party = str(host_ids[index]) if index < len(host_ids) else str(index)
        counts, category, method, optimal = _host_counts(ctx, sent, public, private, widths, labels, party)
        if fitting and method == binning.OPTIMAL:
            counts = _host_optimal(ctx, params, index, counts, category, optimal, labels)
        results.append(HostResult(party, label_results(counts, labels, params.adjustment_factor, "host", party,
                                                       None)))
    return results


def _host_counts(ctx: Context, sent: Any, public: PublicKey, private: PrivateKey, widths: list[int],
                 labels: Labels, party: str) -> tuple[dict[str, np.ndarray], list[str], str, dict[str, Any]]:
    """A host's per-bin label counts, decrypted; everything it sent checked first."""
    what = f"{ctx.component_name}: host {party} sent"
    if not isinstance(sent, dict) or not {"columns", "bin_nums", "sums", "category_names", "bin_method",
                                          "optimal_params"} <= set(sent):
        raise ComponentError(f"{what} a malformed binning result")
    columns, bin_nums = sent["columns"], sent["bin_nums"]
    if (not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
            or len(set(columns)) != len(columns) or not isinstance(bin_nums, list)
            or len(bin_nums) != len(columns)
            or not all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in bin_nums)
            or sum(bin_nums) > MAX_HOST_BINS):
        raise ComponentError(f"{what} bad column names or bin counts")
    category = sent["category_names"]
    if not isinstance(category, list) or not set(category) <= set(columns):
        raise ComponentError(f"{what} category names that are not among its columns")
    if sent["bin_method"] not in (binning.QUANTILE, binning.BUCKET, binning.OPTIMAL):
        raise ComponentError(f"{what} an unknown binning method")
    try:
        sums = EncryptedVector.from_wire(public, sent["sums"])
    except (ValueError, OverflowError) as exc:
        raise ComponentError(f"{what} bad encrypted sums: {exc}") from None
    if len(sums) != sum(bin_nums) or sums.exponent != 0:
        raise ComponentError(f"{what} {len(sums)} encrypted sums for {sum(bin_nums)} bins")
    plain = private.decrypt_integers(sums.ciphertexts, ctx.cores)
    if any(value >> sum(widths) for value in plain):
        raise ComponentError(f"{what} a sum beyond any count of the labels (a wrong or corrupted ciphertext)")
    counts = unpack(plain, widths)
    out, start = {}, 0
    for name, size in zip(columns, bin_nums, strict=True):
        column = counts[start:start + size]
        start += size
        if not np.array_equal(column.sum(axis=0), labels.counts):
            raise ComponentError(f"{what} bin sums of {name!r} that do not add up to the label counts")
        out[name] = column
    return out, list(category), sent["bin_method"], sent["optimal_params"]


def _host_optimal(ctx: Context, params: FeatureBinningParams, index: int, counts: dict[str, np.ndarray],
                  category: list[str], optimal: Any, labels: Labels) -> dict[str, np.ndarray]:
    """Optimal binning of a host's columns from its bucket counts; tells the host which bucket bounds stay."""
    settings = _host_optimal_settings(ctx, optimal)
    if len(labels.values) != 2:
        raise ComponentError(f"{ctx.component_name}: optimal binning needs a binary label")
    kept: dict[str, list[int]] = {}
    merged: dict[str, np.ndarray] = {}
    for name, column in counts.items():
        if name in category:
            merged[name] = column
            continue
        indices = _optimal(params, column[:, 0], column[:, 1], settings)
        kept[name] = indices
        bounds = np.concatenate([[-1], indices])
        merged[name] = np.stack([column[a + 1:b + 1].sum(axis=0) for a, b in zip(bounds[:-1], bounds[1:],
                                                                                   strict=True)])
    ctx.hosts[index].put("bucket_idx", kept)
    return merged


def _host_optimal_settings(ctx: Context, optimal: Any) -> dict[str, Any]:
    """A host's optimal-binning settings, checked."""
    try:
        settings = {"metric_method": str(optimal["metric_method"]).lower().replace("-", "_"),
                    "bin_num": int(optimal["bin_num"]), "mixture": bool(optimal["mixture"]),
                    "min_bin_pct": float(optimal["min_bin_pct"]), "max_bin_pct": float(optimal["max_bin_pct"])}
    except (TypeError, KeyError, ValueError):
        raise ComponentError(f"{ctx.component_name}: a host sent malformed optimal binning settings") from None
    if settings["metric_method"] not in (*binning.MERGE_METRICS, "ks") or settings["bin_num"] < 1:
        raise ComponentError(f"{ctx.component_name}: a host sent unknown optimal binning settings")
    return settings


def _summary_of(results: list[dict[str, Any]], labels: list[str], points: dict[str, list[float]] | None
                ) -> dict[str, Any]:
    """FATE's summary of one party's results: ``{"result": ...}`` for a binary label, else one key per label."""
    out = {}
    for index, result in enumerate(results):
        columns = result["binningResult"]
        key = "result" if len(results) == 1 else labels[index]
        out[key] = {"iv": [[name, value["iv"]] for name, value in columns.items()],
                    "woe": {name: value["woeArray"] for name, value in columns.items()},
                    "monotonic": {name: value["isWoeMonotonic"] for name, value in columns.items()},
                    "split_points": {name: (points or {}).get(name, value["splitPoints"])
                                     for name, value in columns.items()}}
    return out


def _merge_summaries(total: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    for key, part in other.items():
        mine = total.setdefault(key, {"iv": [], "woe": {}, "monotonic": {}, "split_points": {}})
        mine["iv"] = sorted(mine["iv"] + part["iv"], key=lambda pair: pair[1], reverse=True)
        for name in ("woe", "monotonic", "split_points"):
            mine[name].update(part[name])
    return total


# -- runner --------------------------------------------------------------------------------------------------------
def run(ctx: Context) -> None:
    """Fit or load the binning, compute the statistics, transform, write data, model and summary."""
    params: FeatureBinningParams = ctx.params
    table = ctx.inputs.first("data", "train_data", "test_data")
    if ctx.stage == PREDICT:
        plan, meta, param = _load(ctx, table)
        skip_static, local_only = bool(meta.get("skipStatic")), bool(meta.get("localOnly"))
    else:
        plan, meta, param = _plan(ctx, table, params), None, None
        skip_static, local_only = params.skip_static, params.local_only
    if ctx.role == "guest":
        _guest(ctx, params, table, plan, skip_static, local_only, meta, param)
    else:
        _host(ctx, params, table, plan, meta, param)


def _guest(ctx: Context, params: FeatureBinningParams, table: Table, plan: Plan, skip_static: bool,
           local_only: bool, meta: dict[str, Any] | None, param: dict[str, Any] | None) -> None:
    fitting = meta is None
    x = float_matrix(table, plan.header)
    has_label = bool(table.schema.label)
    known = None if fitting else list(param["multiClassResult"]["labels"])
    stats = not skip_static and has_label
    labels = _labels(ctx, table, known) if stats or (fitting and params.method == binning.OPTIMAL) else None
    if fitting:
        _fit_points(ctx, plan, x, params, labels)
    federated = stats and not local_only and bool(ctx.roles.get("host"))
    ctx.hosts.put("plan", {"federated": federated})
    results: list[dict[str, Any]] = []
    hosts: list[HostResult] = []
    if stats:
        adjustment = params.adjustment_factor if fitting else float(meta.get("adjustmentFactor", 0.5))
        results = label_results(_local_counts(plan, x, labels), labels, adjustment, "guest", ctx.party_id,
                                plan.points)
        if federated:
            hosts = _guest_federated(ctx, params, table, labels, fitting)
    label_values = labels.values if labels is not None else (known or [])
    if fitting:
        model_results, model_hosts = results, hosts
    else:
        model_results = param["multiClassResult"]["results"]
        model_hosts = _hosts_of(param)
    woe = _woe_of(model_results)
    ctx.outputs[0].write(_transform(ctx, table, plan, x, woe))
    extra = {} if fitting else _transform_results(results, hosts, label_values, ctx)
    ctx.models.save(param=_guest_param(plan, model_results, model_hosts, label_values, ctx) | extra,
                    meta=_meta(plan, params, meta))
    if results:
        summary = _summary_of(results, label_values, None)
        for host in hosts:
            summary = _merge_summaries(summary, _summary_of(host.results, label_values, None))
        ctx.summary(summary)
    ctx.logger.info("%s: %d columns binned, %d hosts", ctx.component_name, len(plan.binned), len(hosts))


def _host(ctx: Context, params: FeatureBinningParams, table: Table, plan: Plan, meta: dict[str, Any] | None,
          param: dict[str, Any] | None) -> None:
    fitting = meta is None
    x = float_matrix(table, plan.header)
    if fitting:
        _fit_points(ctx, plan, x, params, None)
    request = ctx.guest.get("plan")
    if not isinstance(request, dict) or not isinstance(request.get("federated"), bool):
        raise ComponentError(f"{ctx.component_name}: the guest sent a malformed binning plan")
    if request["federated"]:
        method = params.method if fitting else meta.get("method", binning.QUANTILE)
        _host_federated(ctx, params, table, plan, x, method, fitting)
    ctx.outputs[0].write(_transform(ctx, table, plan, x, {}))
    results = [{"binningResult": {c: {"splitPoints": [float(p) for p in plan.points[c]],
                                      "binNums": len(plan.points[c])} for c in plan.binned},
                "role": "host", "partyId": str(ctx.party_id)}]
    ctx.models.save(param={"binningResult": results[0], "hostResults": [], "header": plan.header,
                           "headerAnonymous": plan.anonymous, "modelName": MODEL_NAME,
                           "multiClassResult": {"results": results, "labels": [], "hostResults": [],
                                                "hostPartyIds": [], "hasHostResult": False}},
                    meta=_meta(plan, params, meta))
    ctx.summary({c: [float(p) for p in plan.points[c]] for c in plan.binned})


def _host_federated(ctx: Context, params: FeatureBinningParams, table: Table, plan: Plan, x: np.ndarray,
                    method: str, fitting: bool) -> None:
    """Sum the guest's encrypted labels per (column, bin); for optimal, keep the bounds the guest chose."""
    sent = ctx.guest.get("encrypted_label")
    if not isinstance(sent, dict) or set(sent) != {"public_key", "labels", "sample_ids"}:
        raise ComponentError(f"{ctx.component_name}: the guest sent malformed encrypted labels")
    try:
        public = PublicKey.from_wire(sent["public_key"])
        labels = EncryptedVector.from_wire(public, sent["labels"])
    except (ValueError, OverflowError) as exc:
        raise ComponentError(f"{ctx.component_name}: the guest sent bad encrypted labels: {exc}") from None
    order = ids_from_wire(sent["sample_ids"], "sample ids")
    if len(order) != len(labels) or labels.exponent != 0:
        raise ComponentError(f"{ctx.component_name}: the guest sent {len(labels)} encrypted labels for "
                             f"{len(order)} samples")
    rows = positions_of(table.sids(), order, f"{ctx.component_name}: the guest's samples")
    aligned = x[rows]
    columns, bin_nums, sums = [], [], []
    for column in plan.binned:
        n_points = len(plan.points[column])
        bins = plan.bins(aligned, plan.header, column)
        n_bins = n_points + 1 if (bins == n_points).any() and n_points else max(n_points, 1)
        columns.append(plan.anonymous_of(column))
        bin_nums.append(n_bins)
        sums.extend(encrypted_bin_sums(labels, bins, n_bins))
    try:
        vector = EncryptedVector(public, sums, 0, labels.bound * max(len(labels), 1)).rerandomize(ctx.cores)
    except OverflowError as exc:
        raise ComponentError(f"{ctx.component_name}: {exc}") from None
    optimal = params.optimal_binning_param
    ctx.guest.put("encrypted_bin_sum", {
        "columns": columns, "bin_nums": bin_nums, "sums": vector.to_wire(),
        "category_names": [plan.anonymous_of(c) for c in plan.category_cols], "bin_method": method,
        "optimal_params": {"metric_method": optimal.metric_method, "bin_num": params.bin_num,
                           "mixture": optimal.mixture, "max_bin_pct": optimal.max_bin_pct,
                           "min_bin_pct": optimal.min_bin_pct}})
    if fitting and method == binning.OPTIMAL:
        _keep_buckets(ctx, plan, ctx.guest.get("bucket_idx"))


def _keep_buckets(ctx: Context, plan: Plan, kept: Any) -> None:
    by_anonymous = {plan.anonymous_of(c): c for c in plan.bin_cols}
    if not isinstance(kept, dict) or not set(kept) <= set(by_anonymous):
        raise ComponentError(f"{ctx.component_name}: the guest sent bucket indices of unknown columns")
    for name, indices in kept.items():
        column = by_anonymous[name]
        points = plan.points[column]
        if (not isinstance(indices, list) or not indices
                or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(points) for i in indices)
                or indices != sorted(set(indices))):
            raise ComponentError(f"{ctx.component_name}: the guest sent bad bucket indices for {name}")
        plan.points[column] = points[indices]


# -- transform -----------------------------------------------------------------------------------------------------
def _woe_of(results: list[dict[str, Any]]) -> dict[str, list[float]]:
    """The WOE arrays of the first label's results (what a ``woe`` transform uses)."""
    if not results:
        return {}
    return {name: list(value.get("woeArray") or []) for name, value in results[0]["binningResult"].items()}


def _transform(ctx: Context, table: Table, plan: Plan, x: np.ndarray, woe: dict[str, list[float]]) -> Table:
    if plan.transform_type is None or not plan.transform_cols:
        return table
    columns = [c for c in plan.transform_cols if c in plan.points]
    values = np.empty((len(x), len(columns)), dtype=np.float64)
    for index, column in enumerate(columns):
        bins = plan.bins(x, plan.header, column)
        if plan.transform_type == "woe":
            if ctx.role != "guest" or not woe.get(column):
                raise ComponentError(f"{ctx.component_name}: WOE transform needs the column's WOE, which only the "
                                     "guest has (use transform_type bin_num or null at hosts)")
            array = np.asarray(woe[column], dtype=np.float64)
            values[:, index] = array[np.minimum(bins, len(array) - 1)]
        else:
            values[:, index] = bins
    return replace_features(table, values, columns)


# -- model ---------------------------------------------------------------------------------------------------------
def _meta(plan: Plan, params: FeatureBinningParams, loaded: dict[str, Any] | None) -> dict[str, Any]:
    if loaded is not None:
        return loaded
    optimal = params.method == binning.OPTIMAL and params.split_points_by_index is None \
        and params.split_points_by_col_name is None
    return {"needRun": params.need_run, "method": params.method, "compressThres": params.compress_thres,
            "headSize": params.head_size, "error": params.error, "binNum": params.bin_num,
            "cols": plan.bin_cols, "categoryCols": plan.category_cols,
            "adjustmentFactor": params.adjustment_factor, "localOnly": params.local_only,
            "transformParam": {"transformCols": [plan.header.index(c) for c in plan.transform_cols],
                               "transformType": plan.transform_type},
            "skipStatic": params.skip_static,
            "optimalMetricMethod": params.optimal_binning_param.metric_method if optimal else None}


def _guest_param(plan: Plan, results: list[dict[str, Any]], hosts: list[HostResult], labels: list[str],
                 ctx: Context) -> dict[str, Any]:
    if not results:  # skip_static: split points only
        results = [{"binningResult": {c: {"splitPoints": [float(p) for p in plan.points[c]],
                                          "binNums": len(plan.points[c])} for c in plan.binned},
                    "role": "guest", "partyId": str(ctx.party_id)}]
    return {"binningResult": results[0], "hostResults": [h.results[0] for h in hosts], "header": plan.header,
            "headerAnonymous": plan.anonymous, "modelName": MODEL_NAME,
            "multiClassResult": {"results": results, "labels": labels,
                                 "hostResults": [r for h in hosts for r in h.results],
                                 "hostPartyIds": [h.party_id for h in hosts], "hasHostResult": bool(hosts)}}


def _transform_results(results: list[dict[str, Any]], hosts: list[HostResult], labels: list[str],
                       ctx: Context) -> dict[str, Any]:
    if not results:
        return {}
    return {"transformBinningResult": results[0], "transformHostResults": [h.results[0] for h in hosts],
            "transformMultiClassResult": {"results": results, "labels": labels,
                                          "hostResults": [r for h in hosts for r in h.results],
                                          "hostPartyIds": [h.party_id for h in hosts], "hasHostResult": bool(hosts)}}


def _hosts_of(param: dict[str, Any]) -> list[HostResult]:
    multi = param.get("multiClassResult", {})
    per_host = max(len(multi.get("labels", [])) if len(multi.get("labels", [])) > 2 else 1, 1)
    flat = multi.get("hostResults", [])
    ids = multi.get("hostPartyIds", [])
    return [HostResult(ids[i // per_host] if i // per_host < len(ids) else str(i // per_host), flat[i:i + per_host])
            for i in range(0, len(flat), per_host)]


def _load(ctx: Context, table: Table) -> tuple[Plan, dict[str, Any], dict[str, Any]]:
    """The plan a loaded model describes (its header, columns and split points)."""
    model = ctx.models.load()
    meta, param = model.meta, model.param
    if param.get("modelName") != MODEL_NAME:
        raise ComponentError(f"{ctx.component_name}: the model input is not a binning model")
    header = list(param["header"])
    missing = [c for c in header if c not in table.schema.header]
    columns = param["binningResult"]["binningResult"]
    binned = [c for c in columns if c in header]
    if [c for c in binned if c in missing]:
        raise ComponentError(f"{ctx.component_name}: the data lacks the columns {missing[:10]} the binning was "
                             "fitted on")
    transform = meta.get("transformParam", {})
    transform_cols = [header[i] for i in transform.get("transformCols", []) if 0 <= i < len(header)]
    category = [c for c in meta.get("categoryCols", []) if c in columns]
    data_header = list(table.schema.header)
    plan = Plan(data_header, anonymous_header(ctx, table), [c for c in binned if c not in category], category,
                transform_cols, transform.get("transformType"))
    plan.points = {c: np.asarray(columns[c].get("splitPoints", []), dtype=np.float64) for c in binned}
    return plan, meta, param

