"""HomoFeatureBinning's runners: ``run_client`` (guest and hosts) and ``run_arbiter``.

Fit (train stage), every step at the ``homo_binning/fit`` sub-context:

1. each client sends the arbiter its bin columns and settings (``method``, ``bin_num``, ``sample_bins``);
   the arbiter checks that all agree and answers ``ok`` or why not;
2. a secure aggregation session opens (``fate_flow.ml.secure_agg``): the total sample count, then each
   column's total missing count, are summed;
3. a federated bisection finds exact order statistics of the union of the clients' values: each target
   (column, rank ``r``) keeps a bracket ``(lo, hi]`` of the values' order-preserving 64-bit keys
   (``binning.float_keys``) with ``count(<= lo) < r <= count(<= hi)``; per round every client counts its
   values ``<=`` each bracket's midpoint, the counts are summed by secure aggregation, and every client
   narrows the brackets alike. After at most 64 rounds ``hi`` is the key of the value at rank ``r``. The
   guest tells the arbiter after each round whether every bracket is closed (FATE's ``is_converge``).

   - ``recursive_query``: the targets are the quantile ranks ``binning.quantile_ranks`` of each column's
     non-missing count, so the split points are exactly ``binning.quantile_points`` of the union;
   - ``virtual_summary``: the targets are ranks 1 and n (the union's minimum and maximum); the clients then
     count their values ``<=`` each of ``sample_bins`` evenly spaced grid values, the sums are aggregated
     once more, and the points are interpolated from them as FATE does (``binning.virtual_summary_points``).

4. each client bins its own data with the common points (category columns: its own distinct values), and,
   unless ``skip_static`` or it has no label, computes WOE/IV from its own labels (never sent anywhere).

What the arbiter learns: the clients' bin column names and settings, their public keys, the total sample
count, each column's total missing count and, per round, the sums over all clients of the counts below the
query values. As the bisection is deterministic, it could replay it from those sums and so learn the global
order statistics the clients learn (the split points, and for ``virtual_summary`` each column's minimum
and maximum over all clients). It never receives one client's count or value unmasked: every vector a
client sends it is masked by pairwise masks that cancel only in the sum. The clients learn the same sums.

Predict stage (a ``model`` input): each client bins its data with the model's points, and computes the
statistics again on labelled data (``transform*`` in the model), as HeteroFeatureBinning does; the arbiter
has nothing to do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fate_flow.components._binning_model import (
    MODEL_NAME,
    label_results,
    load_plan,
    local_counts,
    model_meta,
    summary_of,
    transform_results,
)
from fate_flow.components._binning_plan import Labels, Plan, plan_from_params, read_labels
from fate_flow.components._data_ops import replace_features
from fate_flow.components._tables import float_matrix
from fate_flow.components.homo_feature_binning import RECURSIVE_QUERY, VIRTUAL_SUMMARY, HomoFeatureBinningParams
from fate_flow.framework import PREDICT, ComponentError, Context, Table
from fate_flow.framework.federation import Parties
from fate_flow.ml import binning
from fate_flow.ml.secure_agg import AggregationClient, AggregationServer, client_parties

MAX_ROUNDS = 65  # 64 bisection steps close any bracket of 64-bit keys, plus the round that reports it
COUNT_SLACK = 1e-6  # fixed-point sums of integers come back as integers up to this


class SumClient(AggregationClient):
    """A secure aggregation client that sums vectors unweighted (counts), instead of averaging them."""

    def sum(self, ctx: Context, name: str, values: np.ndarray) -> np.ndarray:
        """The sum over every client of their ``values`` under ``name`` at ``ctx``."""
        return self._sum(ctx, name, np.asarray(values, dtype=np.float64))


# -- the client ----------------------------------------------------------------------------------------------------
def run_client(ctx: Context) -> None:
    """Guest or host: fit the common split points (or load them), transform, statistics, model, summary."""
    params: HomoFeatureBinningParams = ctx.params
    table = ctx.inputs.first("data", "train_data", "test_data")
    if ctx.stage == PREDICT:
        plan, meta, param = load_plan(ctx, table)
        x = float_matrix(table, plan.header)
        known = list(param.get("multiClassResult", {}).get("labels") or []) or None
        labels = _client_labels(ctx, table, bool(meta.get("skipStatic")), known)
        results = _results(ctx, plan, x, labels, float(meta.get("adjustmentFactor", 0.5)))
        ctx.outputs[0].write(_transform(ctx, table, plan, x, param["multiClassResult"]["results"]))
        extra = transform_results(results, [], labels.values, ctx) if labels is not None else {}
        ctx.models.save(param=param | extra, meta=meta)
        return
    plan = plan_from_params(ctx, table, params)
    x = float_matrix(table, plan.header)
    for column, points in zip(plan.bin_cols, fit_split_points(ctx, plan, x, params), strict=True):
        plan.points[column] = points
    for column in plan.category_cols:
        plan.points[column] = binning.category_points(x[:, plan.header.index(column)])
    labels = _client_labels(ctx, table, params.skip_static, None)
    results = _results(ctx, plan, x, labels, params.adjustment_factor)
    ctx.outputs[0].write(_transform(ctx, table, plan, x, results))
    ctx.models.save(param=_param(ctx, plan, results, labels), meta=model_meta(plan, params, None))
    summary: dict[str, Any] = {"split_points": {c: [float(p) for p in plan.points[c]] for c in plan.binned}}
    if results:
        summary |= summary_of(results, labels.values, None)
    ctx.summary(summary)
    ctx.logger.info("%s: %d columns binned (%s)", ctx.component_name, len(plan.binned), params.method)


def fit_split_points(ctx: Context, plan: Plan, x: np.ndarray, params: HomoFeatureBinningParams
                     ) -> list[np.ndarray]:
    """The common split points of ``plan.bin_cols`` (in that order) from every client's data ``x``."""
    fit = ctx.child("homo_binning", "fit")
    _agree(ctx, fit, plan, params)
    return _federated_points(ctx, fit, plan, x, params, len(x))


def _agree(ctx: Context, fit: Context, plan: Plan, params: HomoFeatureBinningParams) -> None:
    """Tell the arbiter what this client bins; stop unless every client bins the same way."""
    fit.arbiter.put("settings", {"columns": list(plan.bin_cols), "method": params.method,
                                 "bin_num": params.bin_num, "sample_bins": params.sample_bins})
    answer = fit.arbiter.get("settings_check")
    if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
        raise ComponentError(f"{ctx.component_name}: the arbiter answered the settings check in a bad form")
    if not answer["ok"]:
        raise ComponentError(f"{ctx.component_name}: {str(answer.get('reason'))[:500]}")


def _federated_points(ctx: Context, fit: Context, plan: Plan, x: np.ndarray, params: HomoFeatureBinningParams,
                      rows: int) -> list[np.ndarray]:
    """The split points of the bin columns from the clients' securely summed counts (module docstring)."""
    columns = [plan.header.index(c) for c in plan.bin_cols]
    values = x[:, columns]
    agg = SumClient(fit, rows)
    missing = _counts(ctx, agg.sum(fit, "missing_count", np.isnan(values).sum(axis=0)),
                      np.full(len(columns), agg.total_count), "missing counts")
    present = (agg.total_count - missing).astype(np.int64)
    keys = [np.sort(binning.float_keys(values[~np.isnan(values[:, j]), j])) for j in range(len(columns))]
    search = Search(ctx, fit, agg, keys)
    if params.method == RECURSIVE_QUERY:
        found = search.order_statistics([binning.quantile_ranks(int(n), params.bin_num) for n in present])
        return [np.unique(points) for points in found]
    ends = search.order_statistics([np.array([1, n], dtype=np.int64) if n else np.empty(0, np.int64)
                                    for n in present])
    return _virtual_summary(ctx, fit, agg, values, ends, present, params)


def _virtual_summary(ctx: Context, fit: Context, agg: SumClient, values: np.ndarray, ends: list[np.ndarray],
                     present: np.ndarray, params: HomoFeatureBinningParams) -> list[np.ndarray]:
    """FATE's virtual summary: global counts at ``sample_bins`` grid values between the union's minimum and
    maximum of each column, then interpolation."""
    grids = np.stack([np.linspace(e[0], e[1], params.sample_bins) if e.size else np.zeros(params.sample_bins)
                      for e in ends]) if ends else np.zeros((0, params.sample_bins))
    local = np.stack([np.sum(values[:, j][None, :] <= grids[j][:, None], axis=1) for j in range(len(ends))]) \
        if ends else grids
    total = _counts(ctx, agg.sum(fit, "grid_rank", local), np.repeat(present[:, None], params.sample_bins, 1),
                    "grid counts")
    return [binning.virtual_summary_points(grids[j], total[j], int(n), params.bin_num) if n else np.empty(0)
            for j, n in enumerate(present)]


def _counts(ctx: Context, sums: np.ndarray, limits: np.ndarray, what: str) -> np.ndarray:
    """Aggregated counts, checked: whole numbers between 0 and ``limits`` (the shape is secure_agg's check)."""
    sums = np.asarray(sums, dtype=np.float64)
    whole = np.rint(sums)
    if (sums.shape != np.shape(limits) or not np.all(np.isfinite(sums))
            or np.any(np.abs(sums - whole) > COUNT_SLACK) or np.any(whole < 0) or np.any(whole > limits)):
        raise ComponentError(f"{ctx.component_name}: the aggregated {what} are not counts of the clients' data "
                             "(do all clients bin the same columns?)")
    return whole.astype(np.int64)


class Search:
    """The clients' federated bisection for order statistics (module docstring, step 3)."""

    def __init__(self, ctx: Context, fit: Context, agg: SumClient, keys: list[np.ndarray]):
        self.ctx, self.fit, self.agg, self.keys = ctx, fit, agg, keys
        self.calls = 0

    def order_statistics(self, targets: list[np.ndarray]) -> list[np.ndarray]:
        """The value at each rank of ``targets`` (one int array per column) in the union of the clients'
        values of that column, by a bisection over the sums of the clients' counts."""
        column = np.repeat(np.arange(len(targets)), [len(t) for t in targets])
        ranks = np.concatenate(targets).astype(np.int64) if targets else np.empty(0, np.int64)
        low = np.full(ranks.size, binning.KEY_LOW, dtype=np.int64)
        high = np.full(ranks.size, binning.KEY_HIGH, dtype=np.int64)
        search = self.fit.child("search", self.calls)
        self.calls += 1
        for step in range(MAX_ROUNDS):
            at = search.child("round", step)
            open_ = low + 1 < high
            if self.ctx.role == "guest":
                at.arbiter.put("converged", not open_.any())
            if not open_.any():
                break
            middle = np.where(open_, binning.key_midpoints(low, high), high)
            local = np.zeros(ranks.size)
            for j, keys in enumerate(self.keys):
                mine = column == j
                local[mine] = np.searchsorted(keys, middle[mine], side="right")
            limits = np.asarray([self.agg.total_count] * ranks.size)
            total = _counts(self.ctx, self.agg.sum(at, "rank", local), limits, "ranks")
            reached = open_ & (total >= ranks)
            high = np.where(reached, middle, high)
            low = np.where(open_ & ~reached, middle, low)
        else:
            raise ComponentError(f"{self.ctx.component_name}: the search did not close in {MAX_ROUNDS} rounds")
        values = binning.key_floats(high)
        return [values[column == j] for j in range(len(targets))]


def _client_labels(ctx: Context, table: Table, skip_static: bool, known: list[str] | None) -> Labels | None:
    """This client's labels for WOE/IV, or None: skip_static, no label column, or a single class (a client
    may hold one class only; FATE's homo binning computes no statistics at all)."""
    if skip_static or not table.schema.label:
        return None
    if known is None and np.unique(table.labels()).size < 2:
        ctx.logger.warning("%s: the labels at %s %s hold one class: no WOE/IV", ctx.component_name, ctx.role,
                           ctx.party_id)
        return None
    return read_labels(ctx, table, known)


def _results(ctx: Context, plan: Plan, x: np.ndarray, labels: Labels | None, adjustment: float
             ) -> list[dict[str, Any]]:
    """FATE's binning results (per label) of this client's data, or none without labels."""
    if labels is None:
        return []
    return label_results(local_counts(plan, x, labels), labels, adjustment, ctx.role, ctx.party_id, plan.points)


def _transform(ctx: Context, table: Table, plan: Plan, x: np.ndarray, results: list[dict[str, Any]]) -> Table:
    """The transform columns replaced by their bin index or their bin's WOE (this client's own WOE)."""
    if plan.transform_type is None or not plan.transform_cols:
        return table
    columns = [c for c in plan.transform_cols if c in plan.points]
    values = np.empty((len(x), len(columns)), dtype=np.float64)
    woe = {name: value.get("woeArray") or [] for name, value in results[0]["binningResult"].items()} \
        if results else {}
    for index, column in enumerate(columns):
        bins = plan.bins(x, plan.header, column)
        if plan.transform_type != "woe":
            values[:, index] = bins
            continue
        if not woe.get(column):
            raise ComponentError(f"{ctx.component_name}: WOE transform needs the WOE of {column!r}, which "
                                 f"{ctx.role} {ctx.party_id} lacks (no labels, or skip_static)")
        array = np.asarray(woe[column], dtype=np.float64)
        values[:, index] = array[np.minimum(bins, len(array) - 1)]
    return replace_features(table, values, columns)


def _param(ctx: Context, plan: Plan, results: list[dict[str, Any]], labels: Labels | None) -> dict[str, Any]:
    """The model param, HeteroFeatureBinning's fields (no host results: every client has its own)."""
    if not results:
        results = [{"binningResult": {c: {"splitPoints": [float(p) for p in plan.points[c]],
                                          "binNums": len(plan.points[c])} for c in plan.binned},
                    "role": ctx.role, "partyId": str(ctx.party_id)}]
    return {"binningResult": results[0], "hostResults": [], "header": plan.header,
            "headerAnonymous": plan.anonymous, "modelName": MODEL_NAME,
            "multiClassResult": {"results": results, "labels": labels.values if labels is not None else [],
                                 "hostResults": [], "hostPartyIds": [], "hasHostResult": False}}


# -- the arbiter ---------------------------------------------------------------------------------------------------
def run_arbiter(ctx: Context) -> None:
    """Arbiter: check the clients agree, then sum their masked counts round by round."""
    if ctx.stage == PREDICT:
        return
    ctx.summary(arbitrate(ctx))


def arbitrate(ctx: Context) -> dict[str, Any]:
    """The arbiter's part of the fit; returns its summary (method, columns, bisection rounds)."""
    fit = ctx.child("homo_binning", "fit")
    settings = _check_settings(ctx, fit)
    server = AggregationServer(fit)
    server.sum(fit, "missing_count")
    rounds = _serve_search(ctx, fit, server, 0)
    if settings["method"] == VIRTUAL_SUMMARY:
        server.sum(fit, "grid_rank")
    return {"method": settings["method"], "columns": len(settings["columns"]), "rounds": rounds}


def _check_settings(ctx: Context, fit: Context) -> dict[str, Any]:
    """Every client's settings, checked for form and agreement; the answer goes back to every client."""
    clients = Parties(fit.exchange, fit.tag, client_parties(ctx.roles))
    sent = clients.get("settings")
    reason = None
    if any(not _well_formed(s) for s in sent):
        reason = "a client sent its binning settings in a bad form"
    elif any(s != sent[0] for s in sent[1:]):
        differ = [k for k in ("columns", "method", "bin_num", "sample_bins") if any(s[k] != sent[0][k] for s in sent)]
        reason = f"the clients bin differently ({', '.join(differ)} differ): they must share columns and settings"
    clients.put("settings_check", {"ok": reason is None, "reason": reason})
    if reason is not None:
        raise ComponentError(f"{ctx.component_name}: {reason}")
    return sent[0]


def _well_formed(settings: Any) -> bool:
    if not isinstance(settings, dict) or set(settings) != {"columns", "method", "bin_num", "sample_bins"}:
        return False
    columns = settings["columns"]
    return (isinstance(columns, list) and all(isinstance(c, str) for c in columns)
            and settings["method"] in (VIRTUAL_SUMMARY, RECURSIVE_QUERY)
            and all(isinstance(settings[k], int) and not isinstance(settings[k], bool) and settings[k] > 0
                    for k in ("bin_num", "sample_bins")))


def _serve_search(ctx: Context, fit: Context, server: AggregationServer, call: int) -> int:
    """Sum the clients' rank counts until the guest reports every bracket closed; returns the rounds."""
    search = fit.child("search", call)
    for step in range(MAX_ROUNDS):
        at = search.child("round", step)
        converged = at.guest.get("converged")
        if not isinstance(converged, bool):
            raise ComponentError(f"{ctx.component_name}: the guest sent a convergence flag that is not a bool")
        if converged:
            return step
        server.sum(at, "rank")
    raise ComponentError(f"{ctx.component_name}: the guest did not end the search in {MAX_ROUNDS} rounds")
