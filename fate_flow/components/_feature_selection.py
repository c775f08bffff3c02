"""HeteroFeatureSelection's runner at the guest and the hosts (FATE 1.11, docs/fate-secureboost-1.11.md §7).

The filters run in order on the columns still alive; each looks only at the current *select* columns
(``select_col_indexes`` / ``select_names``; the others always pass) and keeps at least one of them. A filter
with several metrics (``iv_param.metrics: [...]``) runs once per metric. Federated filters (IV with
``select_federated``, correlation likewise), per run:

1. each host sends the anonymous names of its current select columns;
2. the guest ranks them with its own columns by the values its isometric model holds for the hosts (the IVs of
   the hosts' columns in its binning model, keyed by the same anonymous names), and sends each host the
   anonymous names that stay; the host maps them back to its columns.

The hosts never see a guest value; the guest sees only the hosts' anonymous names and the values its own
models hold. A stage with a ``model`` input keeps the model's surviving columns of other data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fate_flow.components._binning_plan import anonymous_header
from fate_flow.components._tables import float_matrix, keep_features
from fate_flow.components.feature_selection import FeatureSelectionParams
from fate_flow.framework import PREDICT, ComponentError, Context, Table
from fate_flow.ml import selection

SBT_FILTERS = ("hetero_sbt_filter", "homo_sbt_filter", "hetero_fast_sbt_filter")
SBT_MODELS = ("hetero_sbt", "homo_sbt", "hetero_fast_sbt_mix", "hetero_fast_sbt_layered", "HeteroSecureBoost",
              "HeteroFastSecureBoost", "HomoSecureBoost")


# -- the filter runs -----------------------------------------------------------------------------------------------
@dataclass
class FilterRun:
    """One run of one filter: its kind, the name FATE records it under, its settings."""

    method: str
    kind: str  # manually | iv | statistic | psi | sbt | vif | correlation | percentage
    name: str
    settings: dict[str, Any] = field(default_factory=dict)


def filter_runs(params: FeatureSelectionParams) -> list[FilterRun]:
    """``filter_methods`` expanded as FATE runs them (deprecated spellings as the filters they stand for)."""
    runs: list[FilterRun] = []
    for method in params.filter_methods:
        if method == "manually":
            runs.append(FilterRun(method, "manually", method))
        elif method == "percentage_value":
            runs.append(FilterRun(method, "percentage", method, {"upper_pct": params.percentage_value_param.upper_pct}))
        elif method == "correlation_filter":
            corr = params.correlation_param
            runs.append(FilterRun(method, "correlation", method, {"threshold": corr.threshold,
                                                                  "select_federated": corr.select_federated}))
        elif method == "iv_filter":
            runs += [FilterRun(method, "iv", f"{r['metrics']}_{r['filter_type']}", r) for r in params.iv_param.runs()]
        elif method == "statistic_filter":
            runs += [FilterRun(method, "statistic", r["metrics"], r) for r in params.statistic_param.runs()]
        elif method == "psi_filter":
            runs += [FilterRun(method, "psi", f"{r['metrics']}_{r['filter_type']}", r)
                     for r in params.psi_param.runs()]
        elif method == "vif_filter":
            runs += [FilterRun(method, "vif", method, r) for r in params.vif_param.runs()]
        elif method in SBT_FILTERS:
            runs += [FilterRun(method, "sbt", method, r) for r in params.sbt_param.runs()]
        else:
            runs.append(_deprecated(method, params))
    return runs


def _deprecated(method: str, params: FeatureSelectionParams) -> FilterRun:
    def run(kind: str, metrics: str, filter_type: str, threshold: float, take_high: bool = True,
            federated: bool = False, host_thresholds: list[float] | None = None) -> FilterRun:
        return FilterRun(method, kind, method, {"metrics": metrics, "filter_type": filter_type, "threshold": threshold,
                                                "take_high": take_high, "select_federated": federated,
                                                "host_thresholds": host_thresholds,
                                                "mul_class_merge_type": "average"})

    if method == "unique_value":
        return run("statistic", "stddev", "threshold", params.unique_param.eps)
    if method == "coefficient_of_variation_value_thres":
        return run("statistic", "coefficient_of_variance", "threshold", params.variance_coe_param.value_threshold)
    if method == "outlier_cols":
        outlier = params.outlier_param
        return run("statistic", f"{int(outlier.percentile * 100)}%", "threshold", outlier.upper_threshold, False)
    if method == "iv_value_thres":
        iv = params.iv_value_param
        return run("iv", "iv", "threshold", iv.value_threshold, True, not iv.local_only, iv.host_thresholds)
    if method == "iv_percentile":
        iv = params.iv_percentile_param
        return run("iv", "iv", "top_percentile", iv.percentile_threshold, True, not iv.local_only)
    top_k = params.iv_top_k_param
    return run("iv", "iv", "top_k", top_k.k, True, not top_k.local_only)


# -- this party's columns ------------------------------------------------------------------------------------------
@dataclass
class Columns:
    """The columns alive and, among them, the ones the filters look at."""

    header: list[str]
    anonymous: list[str]
    alive: list[str]
    select: list[str]

    def anonymous_of(self, names: list[str]) -> list[str]:
        """The anonymous names of ``names``."""
        return [self.anonymous[self.header.index(n)] for n in names]

    def real_of(self, anonymous: list[str]) -> list[str]:
        """The columns of ``anonymous`` names (unknown ones skipped)."""
        by_anonymous = dict(zip(self.anonymous, self.header, strict=True))
        return [by_anonymous[a] for a in anonymous if a in by_anonymous]


def _columns(ctx: Context, table: Table, params: FeatureSelectionParams) -> Columns:
    header = list(table.schema.header)
    anonymous = anonymous_header(ctx, table)
    if params.select_col_indexes == -1:
        chosen = list(header)
    else:
        chosen = [header[i] for i in params.select_col_indexes if i < len(header)]
    names = params.select_names or []
    if params.use_anonymous:
        names = [header[anonymous.index(n)] for n in names if n in anonymous]
    chosen += [n for n in names if n in header and n not in chosen]
    select = [c for c in header if c in chosen]
    return Columns(header, anonymous, list(header), select)


# -- isometric models ----------------------------------------------------------------------------------------------
def _iso_models(ctx: Context) -> dict[str, Any]:
    """The isometric models by kind: binning, statistic, psi, pearson, sbt."""
    found: dict[str, Any] = {}
    for index in range(len(ctx.models.available("isometric_model"))):
        model = ctx.models.load("isometric_model", index)
        name = model.param.get("modelName") or model.param.get("model_name") or model.module
        kind = {"binning_model": "binning", "statistic_model": "statistic", "PSI": "psi",
                "HeteroPearson": "pearson"}.get(name)
        if kind is None and (name in SBT_MODELS or "SecureBoost" in model.module):
            kind = "sbt"
        if kind is not None:
            found[kind] = model
    return found


def _need(ctx: Context, iso: dict[str, Any], kind: str, run: FilterRun) -> Any:
    if kind not in iso:
        raise ComponentError(f"{ctx.component_name}: filter {run.method} needs a {kind} model as isometric_model")
    return iso[kind]


def _merge_ivs(per_label: list[float], merge: str) -> float:
    values = np.asarray(per_label, dtype=np.float64)
    if values.size == 0:
        return float("nan")
    return float(values.max() if merge == "max" else values.min() if merge == "min" else values.mean())


def binning_ivs(param: dict[str, Any], merge: str) -> tuple[dict[str, float], list[dict[str, float]]]:
    """IV per guest column and, per host, per anonymous host column, from a binning model's param (multi-class
    IVs merged by ``merge``: average, max or min)."""
    multi = param.get("multiClassResult") or {}
    results = multi.get("results") or [param.get("binningResult") or {"binningResult": {}}]
    labels = max(len(results), 1)

    def merged(per_label: list[dict[str, Any]]) -> dict[str, float]:
        names = list(per_label[0].get("binningResult", {})) if per_label else []
        return {n: _merge_ivs([r["binningResult"][n].get("iv", float("nan")) for r in per_label
                               if n in r.get("binningResult", {})], merge) for n in names}

    flat = multi.get("hostResults") or []
    hosts = [merged(flat[i:i + labels]) for i in range(0, len(flat), labels)]
    return merged(results), hosts


def statistic_values(param: dict[str, Any], metric: str) -> dict[str, float] | None:
    """A DataStatistics model's values of ``metric`` per column (None if it lacks the metric)."""
    for result in (param.get("selfValues") or {}).get("results", []):
        if result.get("valueName") == metric:
            return {c: (np.nan if v is None else float(v)) for c, v in zip(result["colNames"], result["values"],
                                                                          strict=False)}
    return None


def importance_values(param: dict[str, Any], role: str, header: list[str]) -> dict[str, float]:
    """Feature importance of this party's columns from a SecureBoost model (unseen columns: 0)."""
    rows = param.get("featureImportances") or param.get("feature_importances") or []
    values = dict.fromkeys(header, 0.0)
    for row in rows:
        site = str(row.get("sitename", ""))
        mine = site.startswith("guest") if role == "guest" else site in ("hostLocal", "host_local") or \
            site.startswith("host")
        if not mine:
            continue
        name = row.get("fullname")
        if name not in values:
            fid = row.get("fid")
            name = header[fid] if isinstance(fid, int) and 0 <= fid < len(header) else None
        if name in values:
            values[name] += float(row.get("importance", 0.0) or 0.0)
    return values


# -- one filter run ------------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What a run decided: values and kept columns here, and per host (guest only) the same in anonymous names."""

    values: dict[str, Any]
    kept: list[str]
    host_values: list[dict[str, Any]] = field(default_factory=list)
    host_kept: list[list[str]] = field(default_factory=list)
    host_select: list[list[str]] = field(default_factory=list)


def _local_values(ctx: Context, run: FilterRun, cols: Columns, iso: dict[str, Any], table: Table) -> dict[str, float]:
    """Each select column's value of a local filter (NaN where the model has none)."""
    if run.kind == "statistic":
        values = statistic_values(_need(ctx, iso, "statistic", run).param, run.settings["metrics"])
        if values is None:
            raise ComponentError(f"{ctx.component_name}: the statistic model lacks {run.settings['metrics']!r} "
                                 "(add it to DataStatistics' statistics)")
    elif run.kind == "psi":
        values = {k: float(v) for k, v in (_need(ctx, iso, "psi", run).param.get("totalScore") or {}).items()}
    elif run.kind == "sbt":
        values = importance_values(_need(ctx, iso, "sbt", run).param, ctx.role, cols.header)
    elif run.kind == "vif":
        param = _need(ctx, iso, "pearson", run).param
        names = param["allNames"][0 if ctx.role == "guest" else -1]["names"]
        values = {n: (np.nan if v is None else float(v)) for n, v in zip(names, param.get("localVif") or [],
                                                                           strict=False)}
    else:  # iv, local
        guest, _ = binning_ivs(_need(ctx, iso, "binning", run).param, run.settings["mul_class_merge_type"])
        values = guest if ctx.role == "guest" else {}
    return {c: values.get(c, np.nan) for c in cols.select}


def _threshold_keep(names: list[str], values: dict[str, float], settings: dict[str, Any],
                    threshold: float | None = None) -> list[str]:
    array = np.asarray([values[n] for n in names], dtype=np.float64)
    mask = selection.keep_mask(array, settings["filter_type"], settings["threshold"] if threshold is None
                               else threshold, settings["take_high"])
    return _at_least_one(names, array, mask, settings["take_high"])


def _at_least_one(names: list[str], array: np.ndarray, mask: np.ndarray, take_high: bool) -> list[str]:
    """FATE keeps at least one select column after every filter: the best one when all would go."""
    if names and not mask.any():
        mask = mask.copy()
        mask[selection.best_index(array, take_high)] = True
    return [n for n, k in zip(names, mask, strict=True) if k]


def _run_filter(ctx: Context, run: FilterRun, cols: Columns, iso: dict[str, Any], table: Table,
                params: FeatureSelectionParams) -> Outcome:
    federated = bool(run.settings.get("select_federated")) and run.kind in ("iv", "correlation") \
        and bool(ctx.roles.get("host"))
    if run.kind == "manually":
        return _manually(ctx, cols, params)
    if run.kind == "percentage":
        counts = selection.top_value_share(float_matrix(table, cols.select))
        limit = np.ceil(table.count() * run.settings["upper_pct"])
        dropped = counts > limit
        kept = _at_least_one(cols.select, counts.astype(float), ~dropped, False)
        return Outcome({c: bool(d) for c, d in zip(cols.select, dropped, strict=True)}, kept)
    if run.kind == "correlation":
        return _correlation(ctx, run, cols, iso, federated)
    if federated:
        return _iv_federated(ctx, run, cols, iso)
    if ctx.role == "host" and run.kind == "iv":  # a host has no IV of its own: local IV filters keep all
        return Outcome({}, list(cols.select))
    values = _local_values(ctx, run, cols, iso, table)
    return Outcome(values, _threshold_keep(cols.select, values, run.settings))


def _manually(ctx: Context, cols: Columns, params: FeatureSelectionParams) -> Outcome:
    manual = params.manually_param
    def names_of(names: list[str]) -> list[str]:
        if not params.use_anonymous:
            return list(names)
        return [cols.header[cols.anonymous.index(n)] for n in names if n in cols.anonymous]

    def indexed(indexes: list[int] | None) -> list[str]:
        return [cols.header[i] for i in indexes or [] if 0 <= i < len(cols.header)]

    if manual.left_col_indexes or manual.left_col_names:
        left = set(indexed(manual.left_col_indexes)) | set(names_of(manual.left_col_names or []))
        kept = [c for c in cols.select if c in left]
    else:
        out = set(indexed(manual.filter_out_indexes)) | set(names_of(manual.filter_out_names or []))
        kept = [c for c in cols.select if c not in out]
    return Outcome({}, kept)


def _exchange_hosts(ctx: Context, cols: Columns) -> list[list[str]]:
    """Guest: every host's current select columns (anonymous names), checked."""
    received = ctx.hosts.get("host_select_cols")
    out = []
    for names in received:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
            raise ComponentError(f"{ctx.component_name}: a host sent malformed select columns")
        out.append(names)
    return out


def _host_side(ctx: Context, cols: Columns) -> Outcome:
    """Host of a federated run: send the select columns' anonymous names, keep what the guest says."""
    ctx.guest.put("host_select_cols", cols.anonymous_of(cols.select))
    kept = ctx.guest.get("result_left_cols")
    mine = set(cols.anonymous_of(cols.select))
    if not isinstance(kept, list) or not all(isinstance(n, str) for n in kept) or not set(kept) <= mine:
        raise ComponentError(f"{ctx.component_name}: the guest sent columns to keep that are not this host's "
                             "select columns")
    return Outcome({}, cols.real_of(kept))


def _iv_federated(ctx: Context, run: FilterRun, cols: Columns, iso: dict[str, Any]) -> Outcome:
    if ctx.role == "host":
        return _host_side(ctx, cols)
    settings = run.settings
    guest_iv, hosts_iv = binning_ivs(_need(ctx, iso, "binning", run).param, settings["mul_class_merge_type"])
    host_select = _exchange_hosts(ctx, cols)
    if len(hosts_iv) < len(host_select):
        raise ComponentError(f"{ctx.component_name}: the binning model has no host IVs for {len(host_select)} "
                             "hosts (was it fitted with local_only?)")
    guest_values = {c: guest_iv.get(c, np.nan) for c in cols.select}
    host_values = [{a: hosts_iv[i].get(a, np.nan) for a in names} for i, names in enumerate(host_select)]
    take_high = settings["take_high"]
    if settings["filter_type"] == "threshold":
        kept = _threshold_keep(cols.select, guest_values, settings)
        host_thresholds = settings.get("host_thresholds") or []
        host_kept = [_threshold_keep(names, host_values[i], settings,
                                     host_thresholds[i] if i < len(host_thresholds) else None)
                     for i, names in enumerate(host_select)]
    else:  # ranked together: guest and hosts compete for the same top places
        names = [("guest", -1, c) for c in cols.select] + [("host", i, a) for i, h in enumerate(host_select)
                                                           for a in h]
        array = np.asarray([guest_values[n] if role == "guest" else host_values[i][n] for role, i, n in names])
        mask = selection.keep_mask(array, settings["filter_type"], settings["threshold"], take_high)
        kept = _per_party(names, array, mask, "guest", -1, take_high)
        host_kept = [_per_party(names, array, mask, "host", i, take_high) for i in range(len(host_select))]
    for index, left in enumerate(host_kept):
        ctx.hosts[index].put("result_left_cols", left)
    return Outcome(guest_values, kept, host_values, host_kept, host_select)


def _per_party(names: list[tuple[str, int, str]], array: np.ndarray, mask: np.ndarray, role: str, index: int,
               take_high: bool) -> list[str]:
    positions = [p for p, (r, i, _) in enumerate(names) if r == role and i == index]
    return _at_least_one([names[p][2] for p in positions], array[positions], mask[positions], take_high)


def _correlation(ctx: Context, run: FilterRun, cols: Columns, iso: dict[str, Any], federated: bool) -> Outcome:
    """IV-ordered correlation walk over the guest's select columns (and one host's, when federated)."""
    if ctx.role == "host":
        return _host_side(ctx, cols) if federated else Outcome({}, list(cols.select))
    pearson = _need(ctx, iso, "pearson", run).param
    guest_iv, hosts_iv = binning_ivs(_need(ctx, iso, "binning", run).param, "average")
    local_names = pearson["allNames"][0]["names"]
    size = len(local_names)
    local = np.asarray([np.nan if v is None else v for v in pearson["localCorr"]], dtype=np.float64)
    local = local.reshape(size, size)
    guest_cols = [c for c in cols.select if c in local_names]
    host_cols: list[str] = []
    corr = local[np.ix_([local_names.index(c) for c in guest_cols], [local_names.index(c) for c in guest_cols])]
    if federated:
        host_select = _exchange_hosts(ctx, cols)
        if len(host_select) != 1 or len(pearson.get("allNames", [])) < 2:
            raise ComponentError(f"{ctx.component_name}: a federated correlation filter takes one host and a "
                                 "cross-party HeteroPearson model")
        remote = pearson["allNames"][1]["names"]
        cross = np.asarray([np.nan if v is None else v for v in pearson["corr"]]).reshape(size, len(remote))
        host_cols = [a for a in host_select[0] if a in remote]
        block = cross[np.ix_([local_names.index(c) for c in guest_cols], [remote.index(a) for a in host_cols])]
        corr = np.block([[corr, block], [block.T, np.eye(len(host_cols))]])
    ivs = [guest_iv.get(c, np.nan) for c in guest_cols] + [(hosts_iv[0] if hosts_iv else {}).get(a, np.nan)
                                                           for a in host_cols]
    order = list(np.argsort(-np.nan_to_num(np.asarray(ivs, dtype=np.float64), nan=-np.inf), kind="stable"))
    alive, value = selection.correlation_walk(order, corr, run.settings["threshold"])
    count = len(guest_cols)
    kept = [c for c in cols.select if c not in guest_cols] + [c for c, a in zip(guest_cols, alive[:count],
                                                                                 strict=True) if a]
    kept = [c for c in cols.select if c in kept] or cols.select[:1]
    values = {c: float(v) for c, v in zip(guest_cols, value[:count], strict=True)}
    if federated:
        left = [a for a, ok in zip(host_cols, alive[count:], strict=True) if ok]
        left += [a for a in host_select[0] if a not in host_cols]
        ctx.hosts[0].put("result_left_cols", left)
        host_values = [{a: float(v) for a, v in zip(host_cols, value[count:], strict=True)}]
        return Outcome(values, kept, host_values, [left], host_select)
    return Outcome(values, kept)


# -- runner --------------------------------------------------------------------------------------------------------
def run(ctx: Context) -> None:
    """Fit the filters (or load the kept columns), keep the surviving columns, write data, model and summary."""
    params: FeatureSelectionParams = ctx.params
    table = ctx.inputs.first("data", "train_data", "test_data")
    # an isometric model alone makes a "predict" stage for the framework; only a ``model`` input means one here
    if ctx.stage == PREDICT and ctx.models.available("model"):
        model = ctx.models.load()
        kept = [c for c in model.param.get("header", []) if (model.param.get("finalLeftCols") or {})
                .get("leftCols", {}).get(c)]
        ctx.outputs[0].write(_keep(ctx, table, kept))
        ctx.models.save(param=model.param, meta=model.meta)
        return
    cols = _columns(ctx, table, params)
    iso = _iso_models(ctx)
    runs = filter_runs(params)
    original = list(cols.alive)
    select_before = list(cols.select)
    results, summary, metas = [], {}, []
    for index, this in enumerate(runs):
        before, select = list(cols.alive), list(cols.select)
        with ctx.sub("filter", index) as sub:
            outcome = _run_filter(sub, this, cols, iso, table, params)
        kept = set(outcome.kept)
        cols.alive = [c for c in cols.alive if c not in select or c in kept]
        cols.select = [c for c in select if c in kept]
        results.append(_result(this, outcome, before, cols.alive, select))
        summary[this.name] = {"last_col_nums": len(before), "left_col_nums": len(cols.alive),
                              "left_col_names": list(cols.alive)}
        metas.append(_meta_of(this, select, cols.select))
    summary["all"] = {"last_col_nums": len(original), "left_col_nums": len(cols.alive),
                      "left_col_names": list(cols.alive)}
    ctx.outputs[0].write(_keep(ctx, table, cols.alive))
    ctx.models.save(param=_param(ctx, cols, results, select_before),
                    meta={"filterMethods": list(params.filter_methods), "cols": select_before,
                          "needRun": params.need_run, "filterMetas": metas})
    ctx.summary(summary)
    ctx.logger.info("%s: %d of %d columns kept", ctx.component_name, len(cols.alive), len(original))


def _keep(ctx: Context, table: Table, kept: list[str]) -> Table:
    missing = [c for c in kept if c not in table.schema.header]
    if missing:
        raise ComponentError(f"{ctx.component_name}: the data lacks the selected columns {missing[:10]}")
    return keep_features(table, kept)


def _result(run: FilterRun, outcome: Outcome, before: list[str], after: list[str], select: list[str]
            ) -> dict[str, Any]:
    """FATE's FeatureSelectionFilterParam of one run (JSON names)."""
    def number(value: Any) -> Any:
        return value if isinstance(value, bool) else (None if value is None or np.isnan(value) else float(value))

    return {"featureValues": {k: number(v) for k, v in outcome.values.items()},
            "hostFeatureValues": [{"featureValues": {k: number(v) for k, v in h.items()}}
                                  for h in outcome.host_values],
            "leftCols": {"originalCols": before, "leftCols": {c: c in after for c in before}},
            "hostLeftCols": [{"originalCols": s, "leftCols": {a: a in k for a in s}}
                             for s, k in zip(outcome.host_select, outcome.host_kept, strict=False)],
            "filterName": run.name}


def _meta_of(run: FilterRun, select: list[str], kept: list[str]) -> dict[str, Any]:
    settings = run.settings
    return {"metrics": [settings.get("metrics", "correlation" if run.kind == "correlation" else run.kind)],
            "filterType": settings.get("filter_type", ""), "takeHigh": bool(settings.get("take_high", True)),
            "threshold": float(settings.get("threshold", 0) or 0),
            "selectFederated": bool(settings.get("select_federated", False)),
            "filterOutNames": [c for c in select if c not in kept]}


def _param(ctx: Context, cols: Columns, results: list[dict[str, Any]], select: list[str]) -> dict[str, Any]:
    passed = {c: sum(1 for r in results if r["leftCols"]["leftCols"].get(c, True)) for c in cols.header}
    if ctx.role == "guest":
        host_ids = ctx.roles.get("host", [])
        host_names = [{"colNames": sorted({a for r in results for h in r["hostLeftCols"][i:i + 1]
                                           for a, ok in h["leftCols"].items() if ok}),
                       "partyId": str(pid)} for i, pid in enumerate(host_ids)]
    else:
        host_names = [{"colNames": cols.anonymous, "partyId": str(ctx.party_id)}]
    return {"results": results,
            "finalLeftCols": {"originalCols": select, "leftCols": dict.fromkeys(cols.alive, True)},
            "colNames": sorted(cols.header, key=lambda c: -passed[c]), "hostColNames": host_names,
            "header": cols.header, "colNameToAnonymDict": dict(zip(cols.header, cols.anonymous, strict=True))}
