"""HeteroFeatureBinning's tables: from split points and label counts to what the component outputs.

The WOE/IV statistics (FATE's IVParam and FeatureBinningResult per label), the summary, the transformed data
(bin index or WOE), and the model: its meta and param as saved, and the plan read back from a loaded model.
Shared by the hetero runner (``_feature_binning``) and the homo runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fate_flow.components._binning_plan import Labels, Plan, anonymous_header
from fate_flow.components._data_ops import replace_features
from fate_flow.components.feature_binning import FeatureBinningParams
from fate_flow.framework import ComponentError, Context, Table
from fate_flow.ml import binning

MODEL_NAME = "binning_model"


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


def local_counts(plan: Plan, x: np.ndarray, labels: Labels) -> dict[str, np.ndarray]:
    """Per-bin label counts of each of this party's binned columns."""
    return {c: _column_counts(plan.bins(x, plan.header, c), labels.onehot, len(plan.points[c]))
            for c in plan.binned}


# -- summary -------------------------------------------------------------------------------------------------------
def summary_of(results: list[dict[str, Any]], labels: list[str], points: dict[str, list[float]] | None
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


def merge_summaries(total: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Add ``other`` party's summary to ``total`` (IVs sorted, highest first); returns ``total``."""
    for key, part in other.items():
        mine = total.setdefault(key, {"iv": [], "woe": {}, "monotonic": {}, "split_points": {}})
        mine["iv"] = sorted(mine["iv"] + part["iv"], key=lambda pair: pair[1], reverse=True)
        for name in ("woe", "monotonic", "split_points"):
            mine[name].update(part[name])
    return total


# -- transform -----------------------------------------------------------------------------------------------------
def woe_of(results: list[dict[str, Any]]) -> dict[str, list[float]]:
    """The WOE arrays of the first label's results (what a ``woe`` transform uses)."""
    if not results:
        return {}
    return {name: list(value.get("woeArray") or []) for name, value in results[0]["binningResult"].items()}


def transform_table(ctx: Context, table: Table, plan: Plan, x: np.ndarray, woe: dict[str, list[float]]) -> Table:
    """``table`` with its transform columns replaced by their bin index or WOE (unchanged for a null type)."""
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
@dataclass
class HostResult:
    """What the guest learnt of one host: per-label results keyed by anonymous names."""

    party_id: str
    results: list[dict[str, Any]]


def model_meta(plan: Plan, params: FeatureBinningParams, loaded: dict[str, Any] | None) -> dict[str, Any]:
    """The model meta (FATE's FeatureBinningMeta, JSON names); ``loaded``: a loaded model's, kept as it is."""
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


def guest_param(plan: Plan, results: list[dict[str, Any]], hosts: list[HostResult], labels: list[str],
                ctx: Context) -> dict[str, Any]:
    """The guest's model param: its results (or split points only) and the hosts'."""
    if not results:  # skip_static: split points only
        results = [{"binningResult": {c: {"splitPoints": [float(p) for p in plan.points[c]],
                                          "binNums": len(plan.points[c])} for c in plan.binned},
                    "role": "guest", "partyId": str(ctx.party_id)}]
    return {"binningResult": results[0], "hostResults": [h.results[0] for h in hosts], "header": plan.header,
            "headerAnonymous": plan.anonymous, "modelName": MODEL_NAME,
            "multiClassResult": {"results": results, "labels": labels,
                                 "hostResults": [r for h in hosts for r in h.results],
                                 "hostPartyIds": [h.party_id for h in hosts], "hasHostResult": bool(hosts)}}


def transform_results(results: list[dict[str, Any]], hosts: list[HostResult], labels: list[str],
                      ctx: Context) -> dict[str, Any]:
    """The ``transform*`` param entries: the statistics of the data a loaded model transformed."""
    if not results:
        return {}
    return {"transformBinningResult": results[0], "transformHostResults": [h.results[0] for h in hosts],
            "transformMultiClassResult": {"results": results, "labels": labels,
                                          "hostResults": [r for h in hosts for r in h.results],
                                          "hostPartyIds": [h.party_id for h in hosts], "hasHostResult": bool(hosts)}}


def hosts_of(param: dict[str, Any]) -> list[HostResult]:
    """The host results of a loaded model's param, one ``HostResult`` per host."""
    multi = param.get("multiClassResult", {})
    per_host = max(len(multi.get("labels", [])) if len(multi.get("labels", [])) > 2 else 1, 1)
    flat = multi.get("hostResults", [])
    ids = multi.get("hostPartyIds", [])
    return [HostResult(ids[i // per_host] if i // per_host < len(ids) else str(i // per_host), flat[i:i + per_host])
            for i in range(0, len(flat), per_host)]


def load_plan(ctx: Context, table: Table) -> tuple[Plan, dict[str, Any], dict[str, Any]]:
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
