"""DataStatistics' runner: every statistic of every chosen column at once, vectorised over the columns.

What each statistic is (as FATE 1.11 defines it, docs/fate-params-1.11.md §12):

- a value is *missing* when it is NaN (DataTransform leaves missing values NaN when missing_fill is off);
  missing and ``abnormal_list`` values are left out of every other statistic;
- ``count`` is the number of values left, ``sum`` / ``mean`` / ``min`` / ``max`` theirs;
- ``variance`` is the population variance (divided by the count), 0 below 1e-8; ``stddev`` its root;
  ``coefficient_of_variance`` is |stddev / mean| (a mean below 1e-8 counts as 1e-8);
- ``skewness`` is the Fisher-Pearson coefficient m3 / m2^1.5 and ``kurtosis`` the excess kurtosis
  m4 / m2^2 - 3 (0 when the variance is 0); ``bias: false`` applies the sample corrections (as scipy.stats);
- a percentile ``q`` (and ``median``, q = 0.5) is the value whose rank is ceil(q * count) among the sorted
  values, the minimum for q <= quantile_error and the maximum for q >= 1 - quantile_error: the exact
  value FATE's quantile sketch approximates within ``quantile_error``;
- ``missing_count`` / ``missing_ratio`` count the NaN values among all rows.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from fate_flow.components._tables import float_matrix, json_number, select_columns
from fate_flow.components.data_statistics import PERCENTILE, StatisticsParams
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
    values = float_matrix(table, columns)
    results = statistics(values, params)
    ctx.summary({column: {name: results[name][index] for name in results} for index, column in enumerate(columns)})
    ctx.models.save(param=_model_param(columns, results), meta={
        "statistics": list(params.statistics), "staticColumns": columns, "quantileError": params.quantile_error,
        "needRun": True})
    ctx.outputs[0].write(table)
    ctx.logger.info("%s: %d statistics of %d columns over %d rows", ctx.component_name, len(results), len(columns),
                    len(values))


def statistics(values: np.ndarray, params: StatisticsParams) -> dict[str, list[Any]]:
    """Each asked statistic (FATE's order: the named ones, then the percentiles) per column of ``values``
    (rows x columns, NaN where missing), JSON-ready (None where a column has no value to compute it on)."""
    missing = np.isnan(values)
    valid = values.copy()
    abnormal = _abnormal_numbers(params.abnormal_list or [])
    if abnormal.size:
        valid[np.isin(valid, abnormal)] = np.nan
    computed = _moments(valid, params.bias)
    computed["missing_count"] = missing.sum(axis=0)
    computed["missing_ratio"] = computed["missing_count"] / len(values) if len(values) else np.zeros(values.shape[1])
    points = {name: float(name[:-1]) / 100 for name in params.quantiles}
    if "median" in params.statistics:
        points["median"] = 0.5
    computed.update(_quantiles(valid, points, params.quantile_error))
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


def _moments(valid: np.ndarray, bias: bool) -> dict[str, np.ndarray]:
    present = ~np.isnan(valid)
    count = present.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        total = np.nansum(valid, axis=0)
        mean = total / count
        centred = valid - mean
        variance = np.nanmean(centred ** 2, axis=0)
        variance = np.where(np.abs(variance) < FLOAT_ZERO, 0.0, variance)
        m3 = np.nanmean(centred ** 3, axis=0)
        m4 = np.nanmean(centred ** 4, axis=0)
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
        minimum = np.where(count > 0, np.nanmin(np.where(present, valid, np.inf), axis=0), np.nan)
        maximum = np.where(count > 0, np.nanmax(np.where(present, valid, -np.inf), axis=0), np.nan)
    return {"count": count, "sum": total, "mean": mean, "variance": variance, "stddev": stddev,
            "coefficient_of_variance": np.abs(stddev / safe_mean), "skewness": skewness, "kurtosis": kurtosis - 3.0,
            "min": minimum, "max": maximum}


def _quantiles(valid: np.ndarray, points: dict[str, float], error: float) -> dict[str, np.ndarray]:
    if not points:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column with no value gives NaN
        inner = sorted({q for q in points.values() if error < q < 1 - error})
        values = np.nanquantile(valid, inner, axis=0, method="inverted_cdf") if inner else np.empty((0,))
        minimum, maximum = np.nanmin(valid, axis=0), np.nanmax(valid, axis=0)
    by_point = dict(zip(inner, values, strict=True))
    return {name: minimum if q <= error else maximum if q >= 1 - error else by_point[q] for name, q in points.items()}


def _model_param(columns: list[str], results: dict[str, list[Any]]) -> dict[str, Any]:
    """FATE's StatisticParam as FATE-Board reads it: one result per statistic, the columns' values in order."""
    return {"selfValues": {"results": [{"values": values, "colNames": columns, "valueName": name}
                                       for name, values in results.items()]},
            "modelName": MODEL_NAME}
