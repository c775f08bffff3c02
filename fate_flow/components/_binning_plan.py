"""HeteroFeatureBinning's plan: what a party bins and where (FATE 1.11, docs/fate-secureboost-1.11.md §6).

``Plan`` (the header, its anonymous names, the bin, category and transform columns, their split points), how
the parameters choose those columns, the guest's ``Labels``, and the split points: manual, quantile, bucket or
optimal (the bucket merge is shared with the guest's merge of a host's buckets). Shared by the hetero runner
(``_feature_binning``), the model tables (``_binning_model``) and the homo runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fate_flow.components._tables import canonical_text, select_columns
from fate_flow.components.feature_binning import FeatureBinningParams
from fate_flow.framework import ComponentError, Context, Table
from fate_flow.ml import binning


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


def plan_from_params(ctx: Context, table: Table, params: FeatureBinningParams) -> Plan:
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


def read_labels(ctx: Context, table: Table, known: list[str] | None = None) -> Labels:
    """The labels of ``table`` (``known``: the labels a loaded model was fitted with, which they must be among)."""
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
def fit_points(ctx: Context, plan: Plan, x: np.ndarray, params: FeatureBinningParams,
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
            kept = optimal_bucket_indices(params, counts[:, 0], counts[:, 1])
            plan.points[column] = plan.points[column][kept]


def _no_missing(ctx: Context, plan: Plan, x: np.ndarray) -> None:
    missing = [c for c in plan.bin_cols if np.isnan(x[:, plan.header.index(c)]).any()]
    if missing:
        raise ComponentError(f"{ctx.component_name}: optimal binning does not take missing values "
                             f"(columns {missing[:10]})")


def optimal_bucket_indices(params: FeatureBinningParams, event: np.ndarray, non_event: np.ndarray,
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
