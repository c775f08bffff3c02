"""OneHotEncoder's runner: the distinct values of each chosen column (train stage) or the model's (predict
stage), then one 0/1 column per value in place of the column, vectorised.

As FATE 1.11: the chosen columns are ``transform_col_indexes`` (-1: all) then ``transform_col_names``;
their values must be integers (ComponentError otherwise), at most 1024 distinct ones per column; the new
columns are named ``<column>_<value>``, here in ascending order of the values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fate_flow.components._tables import float_matrix, replace_features, select_columns
from fate_flow.components.one_hot_encoder import OneHotEncoderParams
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
    result_header, matrix = _encode(ctx, table, header, values)
    ctx.outputs[0].write(replace_features(table, result_header, matrix))
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


def _fit(ctx: Context, table: Table, chosen: list[str]) -> dict[str, np.ndarray]:
    """The sorted distinct values of each chosen column."""
    matrix = float_matrix(table, chosen)
    values: dict[str, np.ndarray] = {}
    for index, column in enumerate(chosen):
        col = matrix[:, index]
        if np.isnan(col).any() or not np.array_equal(col, np.ceil(col)):
            raise ComponentError(f"{ctx.component_name}: feature {column!r} holds values that are not integers; "
                                 "one-hot encoding takes integer (or category) columns only")
        distinct = np.unique(col)
        if len(distinct) > ONE_HOT_LIMIT:
            raise ComponentError(f"{ctx.component_name}: feature {column!r} has {len(distinct)} distinct values, "
                                 f"more than the {ONE_HOT_LIMIT} one-hot encoding allows")
        values[column] = distinct
    return values


def _encode(ctx: Context, table: Table, header: list[str], values: dict[str, np.ndarray]) -> tuple[list[str],
                                                                                                   np.ndarray]:
    """The new header and features: each encoded column replaced in place by its indicator columns."""
    present = list(table.schema.header)
    absent = [c for c in header if c not in present]
    if absent:
        raise ComponentError(f"{ctx.component_name}: the data lacks the features {absent[:10]} the encoder was "
                             "fitted with")
    original = float_matrix(table, header)
    rows = len(original)
    blocks: list[np.ndarray] = []
    result_header: list[str] = []
    for index, column in enumerate(header):
        col = original[:, index]
        if column not in values:
            blocks.append(col[:, None])
            result_header.append(column)
            continue
        known = values[column]
        position = np.clip(np.searchsorted(known, col), 0, max(len(known) - 1, 0))
        block = np.zeros((rows, len(known)), dtype=np.float64)
        if len(known):
            seen = known[position] == col  # a value not seen at fit (or NaN) stays all zeros
            block[np.nonzero(seen)[0], position[seen]] = 1.0
        blocks.append(block)
        result_header.extend(f"{column}_{_text(v)}" for v in known)
    matrix = np.hstack(blocks) if blocks else np.empty((rows, 0))
    return result_header, matrix
