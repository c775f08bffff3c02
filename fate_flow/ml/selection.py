"""Feature selection rules (FATE 1.11's filters, docs/fate-secureboost-1.11.md §7.2) as plain functions over
column values: which columns a threshold, top-k or top-percentile filter keeps, a column's most frequent value
share, and the IV-ordered correlation walk."""

from __future__ import annotations

import math

import numpy as np

FLOAT_DECIMALS = 8  # FATE rounds floats to 8 decimals before counting equal values


def keep_mask(values: np.ndarray, filter_type: str, threshold: float, take_high: bool) -> np.ndarray:
    """The columns a filter keeps, given their values (NaN: no value, never kept by a threshold; ranked last).

    threshold: ``v >= threshold`` (take_high) or ``v <= threshold``; top_k: the ``threshold`` best;
    top_percentile: the ``ceil(threshold * n)`` best (FATE's code uses ceil)."""
    values = np.asarray(values, dtype=np.float64)
    if filter_type == "threshold":
        with np.errstate(invalid="ignore"):
            return values >= threshold if take_high else values <= threshold
    count = int(threshold) if filter_type == "top_k" else math.ceil(threshold * values.size)
    return top_mask(values, count, take_high)


def top_mask(values: np.ndarray, count: int, take_high: bool) -> np.ndarray:
    """The ``count`` best values (highest or lowest; NaN last; ties by position, stable)."""
    keyed = np.where(np.isnan(values), -np.inf if take_high else np.inf, values)
    order = np.argsort(-keyed if take_high else keyed, kind="stable")
    mask = np.zeros(values.size, dtype=bool)
    mask[order[:max(count, 0)]] = True
    return mask


def best_index(values: np.ndarray, take_high: bool) -> int:
    """The column to keep when a filter would drop them all: the best value (the first one if none has any)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or np.isnan(values).all():
        return 0
    return int(np.nanargmax(values) if take_high else np.nanargmin(values))


def top_value_share(matrix: np.ndarray) -> np.ndarray:
    """Per column, the number of rows of its most frequent value (floats rounded to 8 decimals; NaN counts as
    one value)."""
    counts = np.zeros(matrix.shape[1], dtype=np.int64)
    for j in range(matrix.shape[1]):
        column = np.round(matrix[:, j], FLOAT_DECIMALS)
        _, frequency = np.unique(np.where(np.isnan(column), np.inf, column), return_counts=True)
        counts[j] = frequency.max() if frequency.size else 0
    return counts


def correlation_walk(order: list[int], corr: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """FATE's correlation filter: walk the columns in ``order`` (IV descending); each column still alive removes
    every other alive column whose |correlation| with it exceeds ``threshold``. Returns (kept mask, value per
    column: the correlation that removed it, 0 for kept columns)."""
    size = corr.shape[0]
    alive = np.ones(size, dtype=bool)
    value = np.zeros(size)
    for column in order:
        if not alive[column]:
            continue
        strong = alive & (np.abs(np.nan_to_num(corr[column])) > threshold)
        strong[column] = False
        value[strong] = corr[column][strong]
        alive &= ~strong
    return alive, value
