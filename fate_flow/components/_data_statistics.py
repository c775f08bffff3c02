"""DataStatistics' runner: every statistic of every chosen column at once, vectorised over the columns.

What each statistic is (as FATE 1.11 defines it, docs/fate-params-1.11.md §12):

- a value is *missing* when it is NaN (DataTransform leaves missing values NaN when missing_fill is off);
  missing and ``abnormal_list`` values are left out of every other statistic;
- ``count`` is the number of values left, ``sum`` / ``mean`` / ``min`` / ``max`` theirs;
- ``variance`` is the population variance (divided by the count), 0 below 1e-8; ``stddev`` its root;
  ``coefficient_of_variance`` is |stddev / mean| (a mean below 1e-8 counts as 1e-8);
- ``skewness`` is the Fisher-Pearson coefficient m3 / m2^1.5 and ``kurtosis`` the excess kurtosis
  m4 / m2^2 - 3 (the ratios count as 0 when the variance is 0: skewness 0, kurtosis -3); ``bias: false``
  applies the sample corrections (as scipy.stats);
- a percentile ``q`` (and ``median``, q = 0.5) is the value whose rank is ceil(q * count) among the sorted
  values, the minimum for q <= quantile_error and the maximum for q >= 1 - quantile_error: the exact
  value FATE's quantile sketch approximates within ``quantile_error``;
- ``missing_count`` / ``missing_ratio`` count the NaN values among all rows.

Where they are computed: the moment statistics run where the table lives (``Table.aggregate``: Spark's
executors on the Spark engine, this process on the standalone one), in two passes over the rows. The first
sums, per column, the missing and the valid values, their sum, minimum and maximum; the second, given the
means, sums the valid values' centred powers 2, 3 and 4, from which the variance, skewness and kurtosis
follow. Only the batches' small partial sums reach the task.

Percentiles and the median are exact rank statistics, found where the table lives too (``_rank_values``:
passes of bin counts narrow each one down until a few values are left to rank in the task). FATE computes
them with a quantile sketch; the exact value is what that sketch approximates.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from fate_flow.components._rank_values import rank_of, rank_values
from fate_flow.components._summaries import merge, no_summary, summarise
from fate_flow.components._tables import MISSING_TEXTS, json_number, select_columns
from fate_flow.components.data_statistics import PERCENTILE, StatisticsParams
from fate_flow.engine.columns import floats
from fate_flow.engine.table import Table
from fate_flow.framework import ComponentError, Context

FLOAT_ZERO = 1e-8
MODEL_NAME = "statistic_model"


def run(ctx: Context) -> None:
    """Compute the statistics, record them (summary, model) and pass the data on unchanged."""
    params: StatisticsParams = ctx.params
    table = ctx.inputs.first("data")
    header = list(table.schema.header)
    if not header:
        raise ComponentError(f"{ctx.component_name}: the data has no feature columns to compute statistics of")
    columns = select_columns(header, params.column_indexes, params.column_names, ctx.logger, ctx.component_name)
    if not columns:
        raise ComponentError(f"{ctx.component_name}: column_indexes {params.column_indexes} and column_names "
                             f"{params.column_names} choose none of the {len(header)} features")
    computed, rows = _computed(table, columns, params)
    results = _json_ready(computed, params)
    ctx.summary({column: {name: results[name][index] for name in results} for index, column in enumerate(columns)})
    ctx.models.save(param=_model_param(columns, results), meta={
        "statistics": list(params.statistics), "staticColumns": columns, "quantileError": params.quantile_error,
        "needRun": True})
    ctx.outputs[0].write(table)
    ctx.logger.info("%s: %d statistics of %d columns over %d rows", ctx.component_name, len(results), len(columns),
                    rows)


def table_statistics(table: Table, columns: Sequence[str], params: StatisticsParams) -> dict[str, list[Any]]:
    """Each asked statistic (FATE's order: the named ones, then the percentiles) of each of ``columns`` of
    ``table``, JSON-ready (None where a column has no value to compute it on), computed where the table
    lives."""
    return _json_ready(_computed(table, columns, params)[0], params)


def _computed(table: Table, columns: Sequence[str], params: StatisticsParams) -> tuple[dict[str, np.ndarray], int]:
    """Every moment statistic and the asked quantiles, each as one array over ``columns``; and the row count."""
    columns = list(columns)
    abnormal = _abnormal_numbers(params.abnormal_list or [])
    totals = table.aggregate(functools.partial(_batch_totals, columns, abnormal), merge, columns)
    if totals is None:  # a table without a batch has no row
        totals = _no_totals(len(columns))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = totals["sum"] / totals["count"]  # NaN for a column without a valid value
    central = table.aggregate(functools.partial(_batch_central_sums, columns, abnormal, mean), operator.add,
                              columns)
    if central is None:
        central = np.zeros((3, len(columns)))
    computed = _moments(totals, central, params.bias)
    rows = int(totals["rows"])
    computed["missing_count"] = totals["missing"]
    computed["missing_ratio"] = totals["missing"] / rows if rows else np.zeros(len(columns))
    points = _quantile_points(params)
    if points:
        computed.update(_quantiles(table, columns, abnormal, totals, points, params.quantile_error))
    return computed, rows


def _json_ready(computed: dict[str, np.ndarray], params: StatisticsParams) -> dict[str, list[Any]]:
    """The asked statistics in FATE's order: counts as ints, the rest as floats (None for NaN or infinite)."""
    results: dict[str, list[Any]] = {}
    for name in [n for n in params.statistics if not PERCENTILE.match(n)] + params.quantiles:
        column_values = computed[name]
        if name in ("count", "missing_count"):
            results[name] = [int(v) for v in column_values]
        else:
            results[name] = [json_number(v) for v in column_values]
    return results


def _abnormal_numbers(abnormal: list[Any]) -> np.ndarray:
    """The numbers among ``abnormal_list`` (a text that is not a number cannot occur in a float column)."""
    numbers = []
    for value in abnormal:
        try:
            numbers.append(float(value))
        except (TypeError, ValueError):
            continue
    return np.asarray([n for n in numbers if not np.isnan(n)], dtype=np.float64)


# -- batch functions: module-level, they run where the table lives (pickled into Spark's executors) ----------------

def _batch_values(batch: pa.RecordBatch, columns: list[str], abnormal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The batch's ``columns`` parsed (rows x columns, NaN where missing) and where each value is valid
    (neither missing nor abnormal)."""
    values = np.empty((batch.num_rows, len(columns)), dtype=np.float64)
    for index, name in enumerate(columns):
        values[:, index] = floats(batch.column(name), name, MISSING_TEXTS)
    valid = ~np.isnan(values)
    if abnormal.size:
        valid &= ~np.isin(values, abnormal)
    return values, valid


def _batch_totals(columns: list[str], abnormal: np.ndarray, batch: pa.RecordBatch) -> dict[str, Any]:
    """First pass, one batch: its rows, and per column the missing values and the valid values' summary."""
    values, valid = _batch_values(batch, columns, abnormal)
    return {"rows": batch.num_rows, "missing": np.isnan(values).sum(axis=0),
            **summarise([values[valid[:, i], i] for i in range(len(columns))])}


def _no_totals(width: int) -> dict[str, Any]:
    """The first pass over no row at all."""
    return {"rows": 0, "missing": np.zeros(width, np.int64), **no_summary(width)}


def _batch_central_sums(columns: list[str], abnormal: np.ndarray, mean: np.ndarray,
                        batch: pa.RecordBatch) -> np.ndarray:
    """Second pass, one batch: per column the sums of (x - mean)^2, ^3 and ^4 over the valid values
    (3 x columns). Centring on the global mean, rather than combining raw power sums, keeps the moments
    as accurate as computing them on the whole column."""
    values, valid = _batch_values(batch, columns, abnormal)
    with np.errstate(invalid="ignore", over="ignore"):  # an infinite value makes its column's moments NaN
        centred = np.where(valid, values - mean, 0.0)
        squared = centred * centred
        return np.stack([squared.sum(axis=0), (squared * centred).sum(axis=0), (squared * squared).sum(axis=0)])


# -- the statistics from the passes' totals ------------------------------------------------------------------------

def _moments(totals: dict[str, Any], central: np.ndarray, bias: bool) -> dict[str, np.ndarray]:
    """count, sum, mean, variance, stddev, coefficient_of_variance, skewness, kurtosis, min and max per column
    from the first pass's ``totals`` and the second's ``central`` sums (a column without a valid value: NaN)."""
    count = totals["count"]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        total = totals["sum"]
        mean = total / count
        variance, m3, m4 = central / count  # the population central moments
        variance = np.where(np.abs(variance) < FLOAT_ZERO, 0.0, variance)
        stddev = np.sqrt(variance)
        safe_mean = np.where(np.abs(mean) < FLOAT_ZERO, FLOAT_ZERO, mean)
        zero = variance == 0
        skewness = np.where(zero, 0.0, m3 / variance ** 1.5)
        kurtosis = np.where(zero, 0.0, m4 / variance ** 2)
        if not bias:
            correct = (count > 2) & ~zero
            adjusted = np.sqrt((count - 1.0) * count) / (count - 2.0) * m3 / variance ** 1.5
            skewness = np.where(correct, adjusted, skewness)
            correct = (count > 3) & ~zero
            adjusted = ((count ** 2 - 1.0) * m4 / variance ** 2 - 3 * (count - 1.0) ** 2) / (count - 2.0) / (
                count - 3.0) + 3.0
            kurtosis = np.where(correct, adjusted, kurtosis)
        minimum = np.where(count > 0, totals["min"], np.nan)
        maximum = np.where(count > 0, totals["max"], np.nan)
        coefficient = np.abs(stddev / safe_mean)
    return {"count": count, "sum": total, "mean": mean, "variance": variance, "stddev": stddev,
            "coefficient_of_variance": coefficient, "skewness": skewness, "kurtosis": kurtosis - 3.0,
            "min": minimum, "max": maximum}


def _quantile_points(params: StatisticsParams) -> dict[str, float]:
    """The quantiles asked, by statistic name (``"95%"`` -> 0.95, ``median`` -> 0.5)."""
    points = {name: float(name[:-1]) / 100 for name in params.quantiles}
    if "median" in params.statistics:
        points["median"] = 0.5
    return points


def _quantiles(table: Table, columns: list[str], abnormal: np.ndarray, totals: dict[str, Any],
               points: dict[str, float], error: float) -> dict[str, np.ndarray]:
    """Each asked quantile per column: the minimum for q <= quantile_error, the maximum for q >= 1 -
    quantile_error, else the valid value of rank ceil(q n) (numpy's ``inverted_cdf``), found where the table
    lives by narrowing (``_rank_values``): only counts and a few values reach the task."""
    count = totals["count"]
    minimum = np.where(count > 0, totals["min"], np.nan)
    maximum = np.where(count > 0, totals["max"], np.nan)
    inner = sorted({q for q in points.values() if error < q < 1 - error})
    width = len(columns)
    queries = [(column, rank_of(q, int(count[column]))) for q in inner for column in range(width)]
    found = rank_values(table, functools.partial(_valid_columns, columns, abnormal), queries, minimum, maximum,
                        count, columns) if queries else np.empty(0)
    by_point = {q: found[index * width:(index + 1) * width] for index, q in enumerate(inner)}
    return {name: minimum if q <= error else maximum if q >= 1 - error else by_point[q] for name, q in points.items()}


def _valid_columns(columns: list[str], abnormal: np.ndarray, batch: pa.RecordBatch) -> list[np.ndarray]:
    """Each column's valid values in the batch (what the quantiles rank)."""
    values, valid = _batch_values(batch, columns, abnormal)
    return [values[valid[:, index], index] for index in range(len(columns))]


def _model_param(columns: list[str], results: dict[str, list[Any]]) -> dict[str, Any]:
    """FATE's StatisticParam as FATE-Board reads it: one result per statistic, the columns' values in order."""
    return {"selfValues": {"results": [{"values": values, "colNames": columns, "valueName": name}
                                       for name, values in results.items()]},
            "modelName": MODEL_NAME}
