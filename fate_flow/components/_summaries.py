"""Per-column summaries (count, sum, min, max) that batch functions compute where the table lives and
``Table.aggregate`` folds: the one way the components describe their columns' values.

A summary is a dict of numeric arrays, one entry per column, which the typed codec carries. A column without
a value has count 0, sum 0, min +inf and max -inf, so that summaries fold whatever the batches hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def summarise(columns: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """The count, sum, min and max of each of ``columns`` (1-D float arrays of the values to describe)."""
    with np.errstate(invalid="ignore"):  # inf and -inf among the values: a NaN sum, as numpy's
            return {"count": np.array([len(c) for c in columns], dtype=np.int64),
                "sum": np.array([c.sum() if len(c) else 0.0 for c in columns], dtype=np.float64),
                "min": np.array([c.min() if len(c) else np.inf for c in columns], dtype=np.float64),
                "max": np.array([c.max() if len(c) else -np.inf for c in columns], dtype=np.float64)}


def no_summary(width: int) -> dict[str, np.ndarray]:
    """The summary of ``width`` columns without a value."""
    return summarise([np.empty(0)] * width)


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two partial results as one, key by key: ``min`` and ``max`` entries take the smaller and larger, dicts
    merge the same way, everything else (counts, sums) adds up. New values: a decoded partial is not changed."""
    merged: dict[str, Any] = {}
    for key, value in a.items():
        other = b[key]
        if isinstance(value, dict):
            merged[key] = merge(value, other)
        elif key == "min":
            merged[key] = np.minimum(value, other)
        elif key == "max":
            merged[key] = np.maximum(value, other)
        else:
            merged[key] = value + other
    return merged
