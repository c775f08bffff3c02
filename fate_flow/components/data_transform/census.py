"""DataTransform's fit in one pass over a dense table, where the table lives: per numeric feature, the
statistics its missing fill and outlier replacement may take (min, max, mean of the valid values) and how
many values it will fill and replace (the rates the summary reports).

A value is *missing* when it is empty or one of the missing texts; an *outlier* when its text is one of the
outlier texts. The missing fill's statistics leave out the missing values; the outlier replacement's leave
out the outliers too. Once outliers are replaced, they are not missing: the missing rate counts the rest.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fate_flow.components._summaries import merge, summarise
from fate_flow.engine.columns import floats
from fate_flow.engine.table import Table


@dataclass(frozen=True)
class CensusSpec:
    """What the pass looks at (plain values: it is shipped to Spark's executors)."""

    columns: tuple[str, ...]
    missing: tuple[str, ...]
    outliers: tuple[str, ...]
    replaces_outliers: bool


@dataclass
class Census:
    """Per column (in ``CensusSpec.columns`` order): the rows, the missing values and outliers the transform
    will fill and replace, and the valid values' statistics for each."""

    rows: int
    missing: np.ndarray
    outliers: np.ndarray
    for_fill: dict[str, np.ndarray]  # summary (count, sum, min, max) of the values that are not missing
    for_replace: dict[str, np.ndarray]  # the same, outliers left out too

    def rates(self, columns: tuple[str, ...], fills: bool, replaces: bool) -> dict[str, dict[str, float]]:
        """FATE's missing and outlier rates per column (a table without rows: 0)."""
        def share(counts: np.ndarray) -> dict[str, float]:
            return {c: float(counts[i] / self.rows) if self.rows else 0.0 for i, c in enumerate(columns)}

        return {"missing": share(self.missing) if fills else {}, "outlier": share(self.outliers) if replaces else {}}


def take_census(table: Table, spec: CensusSpec) -> Census:
    """The census of ``spec.columns`` of ``table``, from partial results of its batches."""
    width = len(spec.columns)
    found = table.aggregate(functools.partial(_batch_census, spec), merge, spec.columns) if width else None
    if found is None:
        found = _batch_census(spec, pa.RecordBatch.from_pydict({c: pa.array([], pa.string()) for c in spec.columns}))
    return Census(rows=int(found["rows"]), missing=found["missing"], outliers=found["outliers"],
                  for_fill=found["fill"], for_replace=found["replace"])


def as_text(column: np.ndarray) -> np.ndarray:
    """A column's values as the texts outliers are named by (numbers as ``%g``, texts stripped)."""
    if column.dtype.kind in "fiu":
        return np.array([format(v, "g") for v in column], dtype=object)
    return np.char.strip(column.astype(str))


# -- batch functions: they run where the table lives -------------------------------------------------------------
def _batch_census(spec: CensusSpec, batch: pa.RecordBatch) -> dict:
    width = len(spec.columns)
    missing, outliers = np.zeros(width, np.int64), np.zeros(width, np.int64)
    fill, replace = [], []
    for index, name in enumerate(spec.columns):
        column = batch.column(name)
        values = floats(column, name, spec.missing)
        absent = np.isnan(values)
        if spec.replaces_outliers and spec.outliers:
            outlier = np.isin(as_text(column.to_numpy(zero_copy_only=False)), spec.outliers)
            outliers[index] = outlier.sum()
            absent &= ~outlier  # a replaced outlier is not missing
        missing[index] = absent.sum()
        fill.append(values[~np.isnan(values)])
        replacing = floats(column, name, (*spec.missing, *spec.outliers))
        replace.append(replacing[~np.isnan(replacing)])
    return {"rows": batch.num_rows, "missing": missing, "outliers": outliers, "fill": summarise(fill),
            "replace": summarise(replace)}
