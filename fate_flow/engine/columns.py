"""How a stored column becomes numbers: the one rule every engine and every batch function uses.

A table's columns are Arrow arrays (text as a Reader stored it, or numbers once DataTransform typed them).
These functions are pure and work on one array, so they run the same in the task (the standalone engine)
and in Spark's executors (a batch function of ``Table.map_batches`` / ``Table.aggregate``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fate_flow.errors import ComponentError

Column = pa.Array | pa.ChunkedArray


def is_text(column: Column) -> bool:
    """Whether the column holds text (string or large_string)."""
    return pa.types.is_string(column.type) or pa.types.is_large_string(column.type)


def numbers(column: Column, name: str, dtype: Any = np.float64) -> np.ndarray:
    """The column as ``dtype``; text is parsed. A value that is not a number, or a missing one, raises
    ComponentError naming the column."""
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
            or pa.types.is_boolean(column.type)):
        try:
            column = pc.cast(column, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ComponentError(f"column {name!r} holds a value that is not a number: {exc}") from None
    if column.null_count:
        raise ComponentError(f"column {name!r} has {column.null_count} missing values")
    return column.to_numpy().astype(dtype, copy=False)


def floats(column: Column, name: str, missing: Sequence[str] = ()) -> np.ndarray:
    """The column as a writable float64 array with NaN where it is empty or holds one of the ``missing``
    texts; a value that is not a number raises ComponentError naming the column."""
    if is_text(column):
        trimmed = pc.utf8_trim_whitespace(column)
        absent = pc.or_(pc.equal(trimmed, ""), pc.is_in(trimmed, value_set=pa.array(list(missing), pa.string())))
        column = pc.if_else(absent, pa.scalar(None, pa.string()), trimmed)
    try:
        parsed = pc.cast(column, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ComponentError(f"column {name!r} holds a value that is not a number: {exc}") from None
    return np.array(parsed.to_numpy(zero_copy_only=False), dtype=np.float64)


def matrix(batch: pa.RecordBatch | pa.Table, names: Sequence[str], dtype: Any = np.float64) -> np.ndarray:
    """Columns ``names`` of ``batch`` as a rows x columns matrix (``numbers`` of each)."""
    out = np.empty((batch.num_rows, len(names)), dtype=dtype)
    for index, name in enumerate(names):
        out[:, index] = numbers(batch.column(name), name, dtype)
    return out


def with_columns(batch: pa.RecordBatch, columns: dict[str, np.ndarray | pa.Array]) -> pa.RecordBatch:
    """``batch`` with ``columns`` replaced (in place of the old) or appended (new names, at the end)."""
    names = list(batch.schema.names)
    arrays = list(batch.columns)
    for name, values in columns.items():
        array = values if isinstance(values, pa.Array) else pa.array(values)
        if len(array) != batch.num_rows:
            raise ComponentError(f"column {name!r} has {len(array)} values for {batch.num_rows} rows")
        if name in names:
            arrays[names.index(name)] = array
        else:
            names.append(name)
            arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, names=names)


def plain_text(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with large_string columns as string (Spark hands text over as large_string; the engines and
    the components agree on string)."""
    if not any(pa.types.is_large_string(f.type) for f in batch.schema):
        return batch
    arrays = [pc.cast(c, pa.string()) if pa.types.is_large_string(c.type) else c for c in batch.columns]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def conform(batch: pa.RecordBatch, columns: pa.Schema) -> pa.RecordBatch:
    """A batch function's result as ``columns`` declares it (their order and types); ComponentError when it
    lacks one of them or a value does not convert."""
    missing = [name for name in columns.names if name not in batch.schema.names]
    if missing:
        raise ComponentError(f"a batch function's result lacks the columns {', '.join(missing[:10])}")
    arrays = []
    for field in columns:
        array = batch.column(field.name)
        if array.type != field.type:
            try:
                array = pc.cast(array, field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ComponentError(f"column {field.name!r} is not {field.type}: {exc}") from None
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=columns)


def fold(batches: Iterable[pa.RecordBatch], function: Callable[[pa.RecordBatch], Any],
         combine: Callable[[Any, Any], Any]) -> Any:
    """``function`` of each batch folded with ``combine``; None without a batch."""
    result: Any = None
    first = True
    for batch in batches:
        value = function(plain_text(batch))
        result, first = (value if first else combine(result, value)), False
    return result
