"""HomoOneHotEncoder's runners: the clients (guest, hosts) encode, the arbiter aligns the values.

As FATE 1.11 (``HomoOneHotBase``, ``HomoOneHotArbiter``):

- a client chooses ``transform_col_indexes`` (-1: all) then ``transform_col_names`` (unknown ones skipped
  with a warning) and collects each chosen column's distinct values: texts of a text column, integers of a
  numeric one (a value that is not an integer is an error), at most 1024 per column;
- with ``need_alignment`` each client sends ``{column: [values]}`` to the arbiter, which sends back the union
  per column over all clients; the arbiter sees which values occur, never a row. Here the union is sorted
  (integers numerically, then texts), so every client derives the same columns in the same order;
- each chosen column is replaced, in place, by one 0/1 column per value, named ``<column>_<value>``; a value
  not in the set (or a missing one) is all zeros; the other columns are kept as they are (text stays text);
- the model is OneHotEncoder's (``colMap``, ``resultHeader``; ``header``, ``transformColNames``): a predict
  stage encodes with it and exchanges nothing. The arbiter keeps no model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from fate_flow.components._tables import MISSING_TEXTS, column_type, select_columns
from fate_flow.components.homo_onehot import HomoOneHotParams
from fate_flow.engine.standalone import ArrowTable
from fate_flow.framework import PREDICT, ComponentError, Context, Table

ONE_HOT_LIMIT = 1024  # FATE's: values per column
MAX_COLUMNS = 100_000
MAX_TEXT = 1024  # characters of one value's text


# -- clients ----------------------------------------------------------------------------------------------------
def run_client(ctx: Context) -> None:
    """Fit (collect, align) or load the values per column, encode, write the data and the model."""
    params: HomoOneHotParams = ctx.params
    table = ctx.inputs.first("data", "train_data", "test_data")
    if ctx.stage == PREDICT:
        model = ctx.models.load()
        header = list(model.meta["header"])
        values = {column: list(entry["values"]) for column, entry in model.param["colMap"].items()}
    else:
        header = list(table.schema.header)
        chosen = select_columns(header, params.transform_col_indexes, params.transform_col_names, ctx.logger,
                                ctx.component_name)
        values = {column: _local_values(ctx, table, column) for column in chosen}
        if params.need_alignment:
            values = _aligned(ctx, values)
        else:
            values = {column: sort_values(found) for column, found in values.items()}
    result_header, encoded = encode(ctx, table, header, values)
    ctx.outputs[0].write(encoded)
    ctx.models.save(param={"colMap": {column: {"values": texts, "transformedHeaders": [f"{column}_{v}" for v in texts]}
                                      for column, texts in values.items()},
                           "resultHeader": result_header},
                    meta={"transformColNames": list(values), "header": header, "needRun": True,
                          "needAlignment": params.need_alignment})
    ctx.summary({"original_dimension": len(header), "transferred_dimension": len(result_header)})
    ctx.logger.info("%s: %d features became %d", ctx.component_name, len(header), len(result_header))


def _is_text(table: Table, column: str) -> bool:
    kind = column_type(table, column)
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _column_texts(ctx: Context, table: Table, column: str, strict: bool) -> tuple[np.ndarray, np.ndarray]:
    """The distinct value texts of a column (None for a missing value) and each row's index among them.
    A numeric value that is not an integer is an error when ``strict`` (fit), missing otherwise (predict)."""
    if _is_text(table, column):
        # a missing text (null or empty) is no value: it encodes as all zeros
        raw = np.array(["" if v is None else str(v) for v in table.column(column)], dtype=object)
        unique, inverse = np.unique(raw, return_inverse=True)
        texts = np.array([str(u) or None for u in unique], dtype=object)
        return texts, inverse.reshape(-1)
    floats = table.floats(column, MISSING_TEXTS)
    unique, inverse = np.unique(floats, return_inverse=True)
    integral = np.isfinite(unique) & (unique == np.round(unique))
    if strict and not integral.all():
        raise ComponentError(f"{ctx.component_name}: feature {column!r} holds values that are not integers (or "
                             "are missing); one-hot encoding takes integer or text columns only")
    texts = np.array([str(int(u)) if ok else None for u, ok in zip(unique, integral, strict=True)], dtype=object)
    return texts, inverse.reshape(-1)


def _local_values(ctx: Context, table: Table, column: str) -> list[str]:
    texts, _ = _column_texts(ctx, table, column, strict=True)
    found = [t for t in texts if t is not None]
    if len(found) > ONE_HOT_LIMIT:
        raise ComponentError(f"{ctx.component_name}: feature {column!r} has {len(found)} distinct values, more "
                             f"than the {ONE_HOT_LIMIT} one-hot encoding allows")
    return found


def sort_values(values: Any) -> list[str]:
    """Value texts in the one order every party derives: integers numerically, then texts."""

    def key(text: str) -> tuple[int, int, str]:
        try:
            return 0, int(text), ""
        except ValueError:
            return 1, 0, text

    return sorted(set(values), key=key)


def _aligned(ctx: Context, values: dict[str, list[str]]) -> dict[str, list[str]]:
    """Send this client's values, receive the union; it must hold every value sent (else the arbiter lied)."""
    ctx.arbiter.put("columns", values)
    aligned = check_columns(ctx, ctx.arbiter.get("aligned_columns"), "the arbiter's aligned columns")
    result = {}
    for column, found in values.items():
        union = aligned.get(column)
        if union is None or not set(found) <= set(union):
            raise ComponentError(f"{ctx.component_name}: the arbiter's values of {column!r} lack some of this "
                                 "party's")
        result[column] = union
    return result


def encode(ctx: Context, table: Table, header: list[str], values: dict[str, list[str]]) -> tuple[list[str], Table]:
    """The new header and table: each encoded column replaced in place by its 0/1 columns."""
    if not isinstance(table, ArrowTable):
        raise ComponentError(f"{ctx.component_name}: works on standalone tables, not {type(table).__name__}")
    absent = [c for c in header if c not in table.schema.header]
    if absent:
        raise ComponentError(f"{ctx.component_name}: the data lacks the features {absent[:10]} the encoder was "
                             "fitted with")
    data = table.data
    rows = table.count()
    columns: dict[str, pa.Array] = {name: data.column(name) for name in data.column_names
                                    if name not in table.schema.header}
    result_header: list[str] = []
    for column in header:
        if column not in values:
            columns[column] = data.column(column)
            result_header.append(column)
            continue
        known = values[column]
        texts, inverse = _column_texts(ctx, table, column, strict=False)
        position = {text: index for index, text in enumerate(known)}
        slot = np.array([position.get(t, -1) if t is not None else -1 for t in texts], dtype=np.int64)
        row_slot = slot[inverse] if len(texts) else np.full(rows, -1, dtype=np.int64)
        block = np.zeros((rows, len(known)), dtype=np.float64)
        hit = row_slot >= 0
        block[np.flatnonzero(hit), row_slot[hit]] = 1.0
        for index, value in enumerate(known):
            name = f"{column}_{value}"
            if name in columns:
                raise ComponentError(f"{ctx.component_name}: the encoded column {name!r} clashes with another "
                                     "column of the table")
            columns[name] = pa.array(block[:, index])
            result_header.append(name)
    return result_header, ArrowTable(table.schema.with_header(result_header), pa.table(columns))


# -- arbiter ----------------------------------------------------------------------------------------------------
def check_columns(ctx: Context, received: Any, what: str) -> dict[str, list[str]]:
    """``{column: [distinct value texts]}`` as a party must send it, else ComponentError naming ``what``."""
    if not isinstance(received, dict) or len(received) > MAX_COLUMNS:
        raise ComponentError(f"{ctx.component_name}: {what} are not a dict of columns")
    for column, found in received.items():
        if not isinstance(column, str) or not isinstance(found, list) or len(found) > ONE_HOT_LIMIT:
            raise ComponentError(f"{ctx.component_name}: {what}: column {str(column)[:50]!r} is not a list of at "
                                 f"most {ONE_HOT_LIMIT} values")
        if not all(isinstance(v, str) and len(v) <= MAX_TEXT for v in found) or len(set(found)) != len(found):
            raise ComponentError(f"{ctx.component_name}: {what}: the values of {column[:50]!r} are not distinct "
                                 "texts")
    return received


def run_arbiter(ctx: Context) -> None:
    """Union each column's values over the clients and send the union back (train stage, need_alignment)."""
    params: HomoOneHotParams = ctx.params
    if ctx.stage == PREDICT or not params.need_alignment:
        return
    sent = [ctx.guest.get("columns"), *ctx.hosts.get("columns")]
    union: dict[str, set[str]] = {}
    for index, columns in enumerate(sent):
        for column, found in check_columns(ctx, columns, f"client {index}'s columns").items():
            union.setdefault(column, set()).update(found)
    aligned = {column: sort_values(found) for column, found in union.items()}
    too_many = {column: len(found) for column, found in aligned.items() if len(found) > ONE_HOT_LIMIT}
    if too_many:
        raise ComponentError(f"{ctx.component_name}: more than {ONE_HOT_LIMIT} values over all clients: {too_many}")
    ctx.guest.put("aligned_columns", aligned)
    ctx.hosts.put("aligned_columns", aligned)
    ctx.logger.info("%s: aligned the values of %d columns over %d clients", ctx.component_name, len(aligned),
                    len(sent))
