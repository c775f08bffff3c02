"""Column-level table operations that FeatureScale, Union, the data splits, ColumnExpand and SampleWeight
share: replace feature columns, add or drop columns, stack tables, rename ids, and carry sample ids between
parties as two numeric buffers.

They work on the standalone engine's Arrow data (as ``ml.predict`` does) and keep every column they are not
asked to touch (a match id, text columns), so a component changes only what it means to change. Imported by
runners only (the registry skips modules whose name starts with ``_``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fate_flow.engine.standalone import ArrowTable
from fate_flow.engine.table import Schema, Table
from fate_flow.errors import ComponentError


def arrow(table: Table) -> pa.Table:
    """The rows of ``table`` as Arrow data (the standalone engine's)."""
    if not isinstance(table, ArrowTable):
        raise ComponentError(f"this component needs the standalone engine's tables, not {type(table).__name__}")
    return table.data


def column_names(table: Table) -> list[str]:
    """Every stored column of ``table``, in stored order."""
    if isinstance(table, ArrowTable):
        return list(table.arrow_schema().names)
    return table.schema.columns()


def is_text(table: Table, columns: Sequence[str]) -> bool:
    """Whether ``columns`` of ``table`` are stored as text (a Reader's table, before DataTransform)."""
    if not isinstance(table, ArrowTable):
        return False
    types = {field.name: field.type for field in table.arrow_schema()}
    return all(pa.types.is_string(types[c]) or pa.types.is_large_string(types[c]) for c in columns if c in types)


def _to_arrow(values: np.ndarray | pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(np.asarray(values))


def set_columns(table: Table, columns: Mapping[str, np.ndarray | pa.Array], schema: Schema | None = None) -> Table:
    """``table`` with ``columns`` replaced (or appended, when new), read through ``schema`` (default: its own)."""
    data = arrow(table)
    for name, values in columns.items():
        column = _to_arrow(values)
        if len(column) != data.num_rows:
            raise ComponentError(f"column {name!r} has {len(column)} values for {data.num_rows} rows")
        index = data.schema.get_field_index(name)
        data = data.set_column(index, name, column) if index >= 0 else data.append_column(name, column)
    return ArrowTable(schema or table.schema, data)


def replace_features(table: Table, features: np.ndarray, columns: Sequence[str] | None = None) -> Table:
    """``table`` with the feature ``columns`` (default: its whole header) set to ``features`` (rows x columns)."""
    columns = list(table.schema.header if columns is None else columns)
    if features.shape != (table.count(), len(columns)):
        raise ComponentError(f"features must be {table.count()} x {len(columns)}, got {features.shape}")
    return set_columns(table, {name: features[:, i] for i, name in enumerate(columns)})


def with_sids(table: Table, sids: np.ndarray | pa.Array) -> Table:
    """``table`` with new sample ids (same rows, same order)."""
    return set_columns(table, {table.schema.sid: pa.array(np.asarray(sids).astype(str), type=pa.string())
                               if not isinstance(sids, pa.Array | pa.ChunkedArray) else sids})


def concat(tables: Sequence[Table], schema: Schema) -> Table:
    """The rows of ``tables`` one after the other, read through ``schema``; every table must store the first
    one's columns (in any order) with compatible types."""
    names = column_names(tables[0])
    parts = []
    for index, table in enumerate(tables):
        data = arrow(table)
        missing = [n for n in names if n not in data.column_names]
        if missing:
            raise ComponentError(f"table #{index} lacks the columns {', '.join(missing[:10])}")
        parts.append(data.select(names))
    try:
        data = pa.concat_tables(parts, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ComponentError(f"the tables' columns have different types (a typed table and a text one?): "
                             f"{exc}") from None
    return ArrowTable(schema, data)


def first_occurrences(values: np.ndarray) -> np.ndarray:
    """Positions of the first occurrence of each distinct value, in row order."""
    _, first = np.unique(values, return_index=True)
    return np.sort(first)


def suffixed(values: pa.Array | pa.ChunkedArray | np.ndarray, suffix: str) -> pa.Array | pa.ChunkedArray:
    """``<value><suffix>`` for each value (text)."""
    column = _to_arrow(values)
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.string())
    return pc.binary_join_element_wise(column, pa.scalar(suffix), "")


def with_schema_extra(schema: Schema, **extra: Any) -> Schema:
    """``schema`` with more of FATE's schema keys kept alongside (``sample_weight``, ``anonymous_header`` ...)."""
    return replace(schema, extra={**schema.extra, **extra})


# -- ids between parties ------------------------------------------------------------------------------------------
def ids_to_wire(ids: np.ndarray | Sequence[str]) -> dict[str, np.ndarray]:
    """Sample ids as two numeric buffers (UTF-8 bytes and offsets) for the codec: one copy, no per-id work."""
    column = pa.array(np.asarray(ids).astype(str) if len(ids) else [], type=pa.large_string())
    _, offsets, data = column.buffers()
    count = len(column)
    return {"offsets": np.frombuffer(offsets, dtype=np.int64, count=count + 1).copy(),
            "data": np.frombuffer(data, dtype=np.uint8).copy() if data is not None else np.zeros(0, np.uint8)}


def ids_from_wire(obj: Any, what: str) -> np.ndarray:
    """The ids ``ids_to_wire`` packed; a malformed object (from a peer) raises ComponentError naming ``what``."""
    try:
        offsets = np.ascontiguousarray(obj["offsets"], dtype=np.int64)
        data = np.ascontiguousarray(obj["data"], dtype=np.uint8)
        count = len(offsets) - 1
        if count < 0:
            raise ValueError("no offsets")
        column = pa.LargeStringArray.from_buffers(count, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data.tobytes()))
        column.validate(full=True)  # offsets in order and within the data, valid UTF-8
    except (KeyError, TypeError, ValueError, pa.ArrowInvalid) as exc:
        raise ComponentError(f"malformed {what} from the other party: {exc}") from None
    return column.to_numpy(zero_copy_only=False).astype(str)
