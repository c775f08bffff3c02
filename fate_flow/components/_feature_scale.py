"""FeatureScale's runner: fit the scaling on the training data (or load it), apply it, vectorised.

The rules, as FATE 1.11's feature_scale defines them:

- the scaled columns: every column when ``scale_col_indexes`` is -1, else those indexes plus the columns
  ``scale_names`` names (sorted by position);
- each column's range ``[lower, upper]``: mode normal, its minimum and maximum, then for scaled columns
  capped by ``feat_upper`` and raised to ``feat_lower`` (one number, or one per column); mode cap, the
  ``feat_lower`` and ``feat_upper`` quantiles (defaults 0 and 1; the value of rank ceil(q * n));
- min_max_scale: a scaled value is clipped into its range, then ``(x - lower) / (upper - lower)`` (a range
  under 1e-6 counts as 1);
- standard_scale: a scaled value is clipped into its range, then ``(x - mean) / std`` over the clipped
  training values (population deviation; ``with_mean`` false: mean 0; ``with_std`` false, or a deviation
  under 1e-6, or a variance under 1e-8: std 1);
- columns not scaled pass unchanged; the model keeps, per scaled column, ``column_upper``,
  ``column_lower``, ``mean`` and ``std`` (0 for min-max), which is also the summary.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from fate_flow.components._rank_values import rank_of, rank_values
from fate_flow.components._summaries import merge, summarise
from fate_flow.components.feature_scale import FeatureScaleParams
from fate_flow.engine.columns import matrix, with_columns
from fate_flow.framework import PREDICT, ComponentError, Context, Table

MIN_MAX, STANDARD = "min_max_scale", "standard_scale"
TINY_RANGE = 1e-6  # a range or deviation below this scales by 1
TINY_VARIANCE = 1e-8  # FATE's statistics report a smaller variance as 0


@dataclass
class Scaling:
    """What FeatureScale learnt: applied unchanged to other data (it is the model)."""

    method: str | None
    header: list[str]
    columns: list[str]  # the scaled columns, in header order
    lower: np.ndarray  # per scaled column
    upper: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    def apply(self, ctx: Context, table: Table) -> Table:
        """``table`` with the scaled columns scaled, batch by batch where the table lives; the others untouched."""
        if self.method is None or not self.columns:
            return table
        missing = [c for c in self.columns if c not in table.schema.header]
        if missing:
            raise ComponentError(f"{ctx.component_name}: the data lacks the columns {', '.join(missing[:10])} "
                                 "that the scaling was fitted on")
        stored = table.arrow_schema()
        scaled = set(self.columns)
        columns = pa.schema([pa.field(f.name, pa.float64()) if f.name in scaled else f for f in stored])
        return table.map_batches(functools.partial(_scale_batch, self), columns)

    def scale(self, values: np.ndarray) -> np.ndarray:
        """Rows x scaled columns, clipped into their ranges and scaled."""
        values = np.clip(values, self.lower, self.upper)
        if self.method == MIN_MAX:
            scale = self.upper - self.lower
            return (values - self.lower) / np.where(np.abs(scale) < TINY_RANGE, 1.0, scale)
        return (values - self.mean) / self.std

    def column_params(self) -> dict[str, dict[str, float]]:
        """FATE's col_scale_param: per scaled column its upper, lower, mean and std (the summary too)."""
        return {name: {"column_upper": float(self.upper[i]), "column_lower": float(self.lower[i]),
                       "mean": float(self.mean[i]), "std": float(self.std[i])}
                for i, name in enumerate(self.columns)}


def run(ctx: Context) -> None:
    """Fit (train) or load (predict) the scaling, apply it, write the data, the model and the summary."""
    params: FeatureScaleParams = ctx.params
    if ctx.stage == PREDICT:
        table = ctx.inputs.first("test_data", "data")
        scaling, meta = _load(ctx)
    else:
        table = ctx.inputs.first("train_data", "data")
        scaling = _fit(ctx, table, params)
        meta = _meta(scaling, params, table)
    ctx.outputs[0].write(scaling.apply(ctx, table))
    ctx.models.save(param={"header": scaling.header, "col_scale_param": scaling.column_params()}, meta=meta)
    if scaling.method is not None:
        ctx.metrics.table("train", "scale", metric_type="SCALE", method=scaling.method)  # FATE: a meta, no points
        if ctx.stage != PREDICT:
            ctx.summary(scaling.column_params())
    ctx.logger.info("%s: %s of %d columns, %d rows", ctx.component_name, scaling.method, len(scaling.columns),
                    table.count())


# -- fit ----------------------------------------------------------------------------------------------------------
def _fit(ctx: Context, table: Table, params: FeatureScaleParams) -> Scaling:
    header = list(table.schema.header)
    if params.method is None:
        return Scaling(None, header, [], *(np.zeros(0) for _ in range(4)))
    positions = _scaled_positions(ctx, header, params)
    lower, upper = _ranges(ctx, table, positions, params)
    if np.any(upper < lower):
        raise ComponentError(f"{ctx.component_name}: a column's upper bound is below its lower bound "
                             "(check feat_upper and feat_lower)")
    lower, upper = lower[positions], upper[positions]
    columns = [header[i] for i in positions]
    count = len(positions)
    mean, std = np.zeros(count), np.zeros(count)
    if params.method == STANDARD:
        # the clipped values' mean and population variance, partition by partition (Chan et al.'s merge)
        rows, clipped_mean, spread = table.aggregate(functools.partial(_clipped_moments, columns, lower, upper),
                                                  _merge_moments, columns)
        mean = clipped_mean if params.with_mean else np.zeros(count)
        std = np.ones(count)
        if params.with_std:
            variance = spread / rows
            std = np.sqrt(np.where(variance < TINY_VARIANCE, 0.0, variance))
            std[std < TINY_RANGE] = 1.0
    return Scaling(params.method, header, columns, lower, upper, mean, std)


def _scaled_positions(ctx: Context, header: list[str], params: FeatureScaleParams) -> list[int]:
    """FATE's choice of columns: all for -1, else the indexes plus the named columns, sorted, each once."""
    if params.scale_col_indexes == -1:
        return list(range(len(header)))
    beyond = [i for i in params.scale_col_indexes if i >= len(header)]
    if beyond:
        raise ComponentError(f"{ctx.component_name}: scale_col_indexes {beyond} are beyond the data's "
                             f"{len(header)} feature columns")
    named = [header.index(name) for name in params.scale_names if name in header]
    return sorted(set(params.scale_col_indexes) | set(named))


def _ranges(ctx: Context, table: Table, positions: list[int],
            params: FeatureScaleParams) -> tuple[np.ndarray, np.ndarray]:
    """Each column's [lower, upper]: quantiles in cap mode, else min and max bounded by feat_upper/lower."""
    header = list(table.schema.header)
    summary = table.aggregate(functools.partial(_summary, header), merge, header)
    if summary is None or summary["rows"] == 0:
        raise ComponentError(f"{ctx.component_name}: the input data has no rows to fit the scaling on")
    rows, lower, upper = int(summary["rows"]), summary["min"], summary["max"]
    width = len(header)
    if params.mode == "cap":  # each column's values of ranks ceil(q n), found where the table lives
        upper_q = 1.0 if params.feat_upper is None else float(params.feat_upper)
        lower_q = 0.0 if params.feat_lower is None else float(params.feat_lower)
        queries = [(column, rank_of(q, rows)) for q in (lower_q, upper_q) for column in range(width)]
        bounds = rank_values(table, functools.partial(_columns, header), queries, lower, upper, np.full(width, rows),
                             header)
        return bounds[:width], bounds[width:]
    chosen = np.zeros(width, dtype=bool)
    chosen[positions] = True
    if params.feat_upper is not None:
        cap = _per_column(ctx, params.feat_upper, width, "feat_upper")
        upper = np.where(chosen, np.minimum(upper, cap), upper)
        lower = np.where(chosen, np.minimum(lower, cap), lower)
    if params.feat_lower is not None:
        floor = _per_column(ctx, params.feat_lower, width, "feat_lower")
        lower = np.where(chosen, np.maximum(lower, floor), lower)
        upper = np.where(chosen, np.maximum(upper, floor), upper)
    return lower, upper


# -- batch functions: run where the table lives (Spark's executors on Spark) ------------------------------------
def _summary(names: list[str], batch: pa.RecordBatch) -> dict[str, Any]:
    """A batch's rows and its columns' summary (count, sum, min, max)."""
    return {"rows": batch.num_rows, **summarise(_columns(names, batch))}


def _columns(names: list[str], batch: pa.RecordBatch) -> list[np.ndarray]:
    return list(matrix(batch, names).T)


def _clipped_moments(names: list[str], lower: np.ndarray, upper: np.ndarray, batch: pa.RecordBatch
                     ) -> tuple[int, np.ndarray, np.ndarray]:
    """A batch's row count, mean and sum of squared deviations of its clipped values."""
    values = np.clip(matrix(batch, names), lower, upper)
    if not len(values):
        return 0, np.zeros(len(names)), np.zeros(len(names))
    mean = values.mean(axis=0)
    return len(values), mean, ((values - mean) ** 2).sum(axis=0)


def _merge_moments(a: tuple[int, np.ndarray, np.ndarray], b: tuple[int, np.ndarray, np.ndarray]
                   ) -> tuple[int, np.ndarray, np.ndarray]:
    """Two parts' (count, mean, squared deviations) as one's: exact, and stable where sums of squares are not."""
    (n_a, mean_a, m2_a), (n_b, mean_b, m2_b) = a, b
    n = n_a + n_b
    if n_a == 0 or n_b == 0:
        return a if n_b == 0 else b
    delta = mean_b - mean_a
    return n, mean_a + delta * (n_b / n), m2_a + m2_b + delta ** 2 * (n_a * n_b / n)


def _scale_batch(scaling: Scaling, batch: pa.RecordBatch) -> pa.RecordBatch:
    scaled = scaling.scale(matrix(batch, scaling.columns))
    return with_columns(batch, {name: scaled[:, i] for i, name in enumerate(scaling.columns)})


def _per_column(ctx: Context, bound: float | list[float], width: int, name: str) -> np.ndarray:
    if isinstance(bound, list):
        if len(bound) != width:
            raise ComponentError(f"{ctx.component_name}: {name} lists {len(bound)} values for the data's {width} "
                                 "feature columns")
        return np.asarray(bound, dtype=np.float64)
    return np.full(width, float(bound))


def _meta(scaling: Scaling, params: FeatureScaleParams, table: Table) -> dict[str, Any]:
    width = len(table.schema.header)

    def texts(bound: Any) -> list[str]:
        return [str(v) for v in bound] if isinstance(bound, list) else [str(bound)] * width

    return {"method": scaling.method, "mode": params.mode, "scale_column": scaling.columns,
            "feat_upper": texts(params.feat_upper), "feat_lower": texts(params.feat_lower),
            "with_mean": params.with_mean, "with_std": params.with_std, "need_run": params.need_run}


# -- predict ------------------------------------------------------------------------------------------------------
def _load(ctx: Context) -> tuple[Scaling, dict[str, Any]]:
    model = ctx.models.load()
    if "col_scale_param" not in model.param:
        raise ComponentError(f"{ctx.component_name}: the input model is not a FeatureScale model")
    columns = model.param["col_scale_param"]
    names = list(columns)

    def values(key: str) -> np.ndarray:
        return np.asarray([float(columns[name][key]) for name in names], dtype=np.float64)

    scaling = Scaling(model.meta.get("method"), list(model.param["header"]), names, values("column_lower"),
                      values("column_upper"), values("mean"), values("std"))
    return scaling, dict(model.meta)
