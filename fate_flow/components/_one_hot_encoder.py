"""OneHotEncoder's runner: the distinct values of each chosen column (train stage) or the model's (predict
stage), then one 0/1 column per value in place of the column, batch by batch where the table lives (Spark's
executors on Spark).

As FATE 1.11: the chosen columns are ``transform_col_indexes`` (-1: all) then ``transform_col_names``;
their values must be integers (ComponentError otherwise), at most 1024 distinct ones per column; the new
columns are named ``<column>_<value>``, here in ascending order of the values.

The fit is one ``Table.aggregate`` pass: per chosen column its distinct values (float64 arrays: they are
integers), whether all its values are integers, and the error of its first value that is not a number; the
encoding is a ``Table.map_batches``. The output keeps the table's other columns, then the features (float64)
with each encoded column replaced in place by its indicator columns, as before.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from fate_flow.components._tables import MISSING_TEXTS, select_columns
from fate_flow.components.one_hot_encoder import OneHotEncoderParams
from fate_flow.engine.columns import floats
from fate_flow.framework import PREDICT, ComponentError, Context, Table

ONE_HOT_LIMIT = 1024


def run(ctx: Context) -> None:
    """Fit or load the encoding, encode, write the data and the model."""
    params: OneHotEncoderParams = ctx.params
    table = ctx.inputs.first("data", "train_data", "test_data")
    if ctx.stage == PREDICT:
        model = ctx.models.load()
        header, values = model.meta["header"], _values_of(model.param["colMap"])
    else:
        header = list(table.schema.header)
        chosen = select_columns(header, params.transform_col_indexes, params.transform_col_names, ctx.logger,
                                ctx.component_name)
        values = _fit(ctx, table, chosen)
    result_header, output = _encode(ctx, table, header, values)
    ctx.outputs[0].write(output)
    ctx.models.save(param={"colMap": {column: {"values": [_text(v) for v in column_values],
                                               "transformedHeaders": [f"{column}_{_text(v)}" for v in column_values]}
                                      for column, column_values in values.items()},
                           "resultHeader": result_header},
                    meta={"transformColNames": list(values), "header": header, "needRun": True})
    ctx.summary({"original_dimension": len(header), "transferred_dimension": len(result_header)})
    ctx.logger.info("%s: %d features became %d", ctx.component_name, len(header), len(result_header))


def _text(value: float) -> str:
    return str(int(value))


def _values_of(col_map: dict[str, Any]) -> dict[str, np.ndarray]:
    return {column: np.asarray([float(v) for v in entry["values"]], dtype=np.float64)
            for column, entry in col_map.items()}


# -- fit ----------------------------------------------------------------------------------------------------------
def _fit(ctx: Context, table: Table, chosen: list[str]) -> dict[str, np.ndarray]:
    """The sorted distinct values of each chosen column, from partial results of the table's batches."""
    found = None
    if chosen:
        found = table.aggregate(functools.partial(_batch_distinct, tuple(chosen)), _merge_distinct, chosen)
    if found is None:  # no batch (or no column chosen): no value
        found = _batch_distinct(tuple(chosen), pa.RecordBatch.from_pydict({c: pa.array([], pa.float64())
                                                                           for c in chosen}))
    errors, integral, distinct = found["errors"], found["integral"], found["distinct"]
    for column in chosen:  # every chosen column is read before any is checked
        if column in errors:
            raise ComponentError(errors[column])
    values: dict[str, np.ndarray] = {}
    for index, column in enumerate(chosen):
        if not integral[index]:
            raise ComponentError(f"{ctx.component_name}: feature {column!r} holds values that are not integers; "
                                 "one-hot encoding takes integer (or category) columns only")
        if len(distinct[index]) > ONE_HOT_LIMIT:
            raise ComponentError(f"{ctx.component_name}: feature {column!r} has {len(distinct[index])} distinct "
                                 f"values, more than the {ONE_HOT_LIMIT} one-hot encoding allows")
        values[column] = distinct[index]
    return values


# -- batch functions: they run where the table lives ---------------------------------------------------------------
def _batch_distinct(columns: tuple[str, ...], batch: pa.RecordBatch) -> dict[str, Any]:
    """One batch's part of the fit: per column its sorted distinct values (float64: none once a value is not an
    integer, since the fit fails then), whether all its values are integers (NaN is not), and the error of its
    first value that is not a number."""
    errors: dict[str, str] = {}
    integral = np.ones(len(columns), dtype=bool)
    distinct: list[np.ndarray] = []
    for index, column in enumerate(columns):
        try:
            values = floats(batch.column(column), column, MISSING_TEXTS)
        except ComponentError as exc:  # reported by the task in column order (the first bad value of the column)
            errors[column] = str(exc)
            values = np.zeros(0)
        integral[index] = not np.isnan(values).any() and np.array_equal(values, np.ceil(values))
        distinct.append(np.unique(values) if integral[index] else np.zeros(0))
    return {"errors": errors, "integral": integral, "distinct": distinct}


def _merge_distinct(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two parts' distinct values as one's (new values: a decoded part is not changed). ``a`` is the earlier
    part: its error of a column is the column's first."""
    integral = a["integral"] & b["integral"]
    # every distinct value is kept, even past the limit: the fit's error tells how many there are, as before
    distinct = [np.union1d(x, y) if ok else np.zeros(0)
                for x, y, ok in zip(a["distinct"], b["distinct"], integral, strict=True)]
    return {"errors": {**b["errors"], **a["errors"]}, "integral": integral, "distinct": distinct}


@dataclass(frozen=True)
class Encoding:
    """What the encoding batch function needs (plain values: it is shipped to Spark's executors)."""

    header: tuple[str, ...]  # the features read, in order (the model's header at predict)
    values: dict[str, np.ndarray]  # per encoded feature its sorted values
    dropped: tuple[str, ...]  # the table's features: the output leaves them out, then adds the new ones

    def result_header(self) -> list[str]:
        """The features of the output: each encoded one replaced in place by ``<column>_<value>`` columns."""
        result: list[str] = []
        for column in self.header:
            known = self.values.get(column)
            result.extend([column] if known is None else [f"{column}_{_text(v)}" for v in known])
        return result


def _encode_batch(encoding: Encoding, batch: pa.RecordBatch) -> pa.RecordBatch:
    """One batch encoded: its columns that are not features as they are, then the new features (float64)."""
    original = [floats(batch.column(name), name, MISSING_TEXTS) for name in encoding.header]  # all read first
    rows = batch.num_rows
    dropped = set(encoding.dropped)
    # a dict, so that a new name that repeats one keeps its first place and its last values, as before
    columns: dict[str, Any] = {name: batch.column(name) for name in batch.schema.names if name not in dropped}
    for column, col in zip(encoding.header, original, strict=True):
        if column not in encoding.values:
            columns[column] = pa.array(col)
            continue
        known = encoding.values[column]
        position = np.clip(np.searchsorted(known, col), 0, max(len(known) - 1, 0))
        block = np.zeros((rows, len(known)), dtype=np.float64)
        if len(known):
            seen = known[position] == col  # a value not seen at fit (or NaN) stays all zeros
            block[np.nonzero(seen)[0], position[seen]] = 1.0
        for index, value in enumerate(known):
            columns[f"{column}_{_text(value)}"] = pa.array(block[:, index])
    return pa.RecordBatch.from_arrays(list(columns.values()), names=list(columns))


# -- encode ---------------------------------------------------------------------------------------------------------
def _encode(ctx: Context, table: Table, header: list[str], values: dict[str, np.ndarray]) -> tuple[list[str], Table]:
    """The new header, and the table with each encoded column replaced in place by its indicator columns
    (computed where the table lives)."""
    present = list(table.schema.header)
    absent = [c for c in header if c not in present]
    if absent:
        raise ComponentError(f"{ctx.component_name}: the data lacks the features {absent[:10]} the encoder was "
                             "fitted with")
    encoding = Encoding(tuple(header), dict(values), tuple(present))
    result_header = encoding.result_header()
    stored = table.arrow_schema()
    kept = [field for field in stored if field.name not in set(present)]
    clash = {field.name for field in kept} & set(result_header)
    if clash:
        raise ComponentError(f"new feature names {sorted(clash)} clash with other columns of the table")
    columns = pa.schema([*kept, *(pa.field(name, pa.float64()) for name in dict.fromkeys(result_header))])
    output = table.map_batches(functools.partial(_encode_batch, encoding), columns,
                               table.schema.with_header(result_header))
    return result_header, output
