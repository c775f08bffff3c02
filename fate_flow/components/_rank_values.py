"""Exact rank statistics (percentiles, medians, FeatureScale's cap bounds) computed where the table lives.

The value of rank ``r`` of a column (the ``r``-th smallest of its valid values) is found by narrowing, with
``Table.aggregate`` passes that return counts, never the rows:

1. each query starts with its column's minimum and maximum, and no value below;
2. a pass counts the column's values in ``BINS`` equal-width bins between the query's bounds (with each bin's
   smallest and largest value); the bin holding rank ``r`` becomes the new bounds, and the values of the bins
   before it are added to those below. The bin formula is monotone in the value, so a bin's values are
   exactly those between its smallest and largest: the narrowing never loses or double-counts one;
3. once the bounds hold at most ``COLLECT_AT`` values (after one pass on a million rows, typically), a last
   pass returns just those values, and the rank is read off them; bounds whose smallest and largest value
   are equal are the answer without it.

So a million-row column costs two or three passes of partial counts, and at most ``COLLECT_AT`` values per
query reach the task, instead of the whole column.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa

from fate_flow.engine.table import Table

BINS = 1024
COLLECT_AT = 65_536  # values per query small enough to bring into the task and sort
MAX_PASSES = 12  # a float's range is spent long before: then the bounds are collected whatever they hold

ColumnValues = Callable[[pa.RecordBatch], list[np.ndarray]]  # each column's valid values in a batch


def rank_of(quantile: float, count: int) -> int:
    """The 1-based rank of the ``quantile`` value among ``count`` values: ceil(q * n), at least 1 (numpy's
    ``inverted_cdf``, FATE's rank for its quantile summaries)."""
    scaled = quantile * count
    return min(max(math.floor(scaled) + (scaled - math.floor(scaled) > 0), 1), max(count, 1))


def rank_values(table: Table, values: ColumnValues, queries: Sequence[tuple[int, int]], low: np.ndarray,
                high: np.ndarray, sizes: np.ndarray, read: Sequence[str] | None = None) -> np.ndarray:
    """For each query ``(column, rank)`` the value of that 1-based rank among the column's valid values (what
    ``values`` gives per batch, of the stored columns ``read``), ``low``, ``high`` and ``sizes`` being each
    column's minimum, maximum and number of valid values; NaN for a rank the column does not reach."""
    columns = np.array([c for c, _ in queries], dtype=np.int64)
    ranks = np.array([r for _, r in queries], dtype=np.int64)
    lower, upper = np.asarray(low, dtype=np.float64)[columns], np.asarray(high, dtype=np.float64)[columns]
    below = np.zeros(len(queries), dtype=np.int64)
    answer = np.full(len(queries), np.nan)
    pending = np.isfinite(lower) & np.isfinite(upper) & (ranks >= 1)
    inside = np.asarray(sizes, dtype=np.int64)[columns]  # values within each query's bounds
    pending &= ranks <= inside
    for _ in range(MAX_PASSES):
        settled = pending & (lower == upper)
        answer[settled], pending = lower[settled], pending & ~settled
        narrowing = pending & (inside > COLLECT_AT)
        if not narrowing.any():
            break
        chosen = np.flatnonzero(narrowing)
        counts, smallest, largest = table.aggregate(
            functools.partial(_bin_counts, values, columns[chosen], lower[chosen], upper[chosen]), _merge_bins, read)
        for index, query in enumerate(chosen):
            lower[query], upper[query], below[query], inside[query] = _narrowed(
                counts[index], smallest[index], largest[index], ranks[query] - below[query], below[query])
    last = np.flatnonzero(pending)
    if len(last):
        found = table.aggregate(functools.partial(_values_between, values, columns[last], lower[last], upper[last]),
                                _concatenated, read)
        for index, query in enumerate(last):
            ordered = np.sort(found[index])
            position = ranks[query] - below[query] - 1
            answer[query] = ordered[position] if 0 <= position < len(ordered) else np.nan
    return answer


def _narrowed(counts: np.ndarray, smallest: np.ndarray, largest: np.ndarray, wanted: int, below: int
              ) -> tuple[float, float, int, int]:
    """The bin holding the ``wanted``-th value of the bounds: its smallest and largest value, the values below
    it, and how many it holds."""
    cumulative = np.cumsum(counts)
    chosen = int(np.searchsorted(cumulative, wanted))
    if chosen >= len(counts):  # fewer values than the rank: nothing to narrow to
        return np.nan, np.nan, below, 0
    before = int(cumulative[chosen - 1]) if chosen else 0
    return float(smallest[chosen]), float(largest[chosen]), below + before, int(counts[chosen])


# -- batch functions: they run where the table lives -------------------------------------------------------------
def _bins(value: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """Each value's bin between ``lower`` and ``upper`` (monotone in the value)."""
    width = (upper - lower) / BINS
    return np.minimum(((value - lower) / width).astype(np.int64), BINS - 1)


def _bin_counts(values: ColumnValues, columns: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per query: its bounds' values counted in ``BINS`` bins, with each bin's smallest and largest value."""
    per_column = values(batch)
    counts = np.zeros((len(columns), BINS), dtype=np.int64)
    smallest, largest = np.full((len(columns), BINS), np.inf), np.full((len(columns), BINS), -np.inf)
    for index, (column, low, high) in enumerate(zip(columns, lower, upper, strict=True)):
        value = per_column[column]
        value = value[(value >= low) & (value <= high)]
        if not len(value):
            continue
        where = _bins(value, low, high)
        counts[index] = np.bincount(where, minlength=BINS)
        np.minimum.at(smallest[index], where, value)
        np.maximum.at(largest[index], where, value)
    return counts, smallest, largest


def _merge_bins(a: tuple, b: tuple) -> tuple:
    return a[0] + b[0], np.minimum(a[1], b[1]), np.maximum(a[2], b[2])


def _values_between(values: ColumnValues, columns: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                    batch: pa.RecordBatch) -> list[np.ndarray]:
    per_column = values(batch)
    out = []
    for column, low, high in zip(columns, lower, upper, strict=True):
        value = per_column[column]
        out.append(value[(value >= low) & (value <= high)])
    return out


def _concatenated(a: list[np.ndarray], b: list[np.ndarray]) -> list[np.ndarray]:
    return [np.concatenate([x, y]) for x, y in zip(a, b, strict=True)]
