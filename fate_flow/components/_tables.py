"""Table helpers the feature components share (DataStatistics, FeatureImputation, LabelTransform,
OneHotEncoder, FederatedSample): feature columns as one float matrix, and new tables that keep every
column a component does not touch (id, label, weight, match id, text columns) as it was.

Imported by runners only (the registry skips modules whose name starts with ``_``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from fate_flow.engine.columns import floats
from fate_flow.engine.standalone import ArrowTable
from fate_flow.engine.table import Table
from fate_flow.errors import ComponentError

# texts FATE reads as a missing value in a table that was not typed by DataTransform
MISSING_TEXTS = ("", "NA", "na", "NaN", "nan", "null", "NULL", "None", "none")


def float_matrix(table: Table, columns: Sequence[str]) -> np.ndarray:
    """``columns`` as a rows x columns float64 matrix, NaN where a value is missing (typed or text tables)."""
    matrix = np.empty((table.count(), len(columns)), dtype=np.float64)
    for index, name in enumerate(columns):
        matrix[:, index] = table.floats(name, MISSING_TEXTS)
    return matrix


def _arrow(table: Table) -> ArrowTable:
    if not isinstance(table, ArrowTable):
        raise ComponentError(f"this component works on standalone tables, not {type(table).__name__}")
    return table


def keep_features(table: Table, header: Sequence[str]) -> Table:
    """``table`` with only the features ``header`` (existing columns, as float64, NaN where missing, as
    ``float_matrix`` reads them), the other columns kept as stored, batch by batch where the table lives."""
    header = list(header)
    old = set(table.schema.header)
    stored = table.arrow_schema()
    kept = [field for field in stored if field.name not in old]
    columns = pa.schema([*kept, *(pa.field(name, pa.float64()) for name in header)])
    return table.map_batches(functools.partial(_kept_batch, [f.name for f in kept], header), columns,
                             table.schema.with_header(header))


def _kept_batch(kept: list[str], header: list[str], batch: pa.RecordBatch) -> pa.RecordBatch:
    arrays = [batch.column(name) for name in kept]
    arrays += [pa.array(floats(batch.column(name), name, MISSING_TEXTS)) for name in header]
    return pa.RecordBatch.from_arrays(arrays, names=[*kept, *header])


def column_type(table: Table, name: str) -> pa.DataType:
    """The stored type of column ``name``."""
    return _arrow(table).arrow_schema().field(name).type


def rows_with_sids(table: Table, rows: np.ndarray, sids: np.ndarray | None = None) -> Table:
    """The rows at positions ``rows`` (repeats allowed), under new sample ids ``sids`` when given."""
    arrow = _arrow(table)
    data = arrow.data.take(pa.array(np.asarray(rows, dtype=np.int64)))
    if sids is not None:
        sid = arrow.schema.sid
        data = data.set_column(data.column_names.index(sid), sid, pa.array(np.asarray(sids).astype(str),
                                                                              type=pa.string()))
    return ArrowTable(arrow.schema, data)


def positions_of(sids: np.ndarray, wanted: np.ndarray, what: str) -> np.ndarray:
    """The row position in ``sids`` of each id in ``wanted`` (vectorised); ComponentError naming ``what``
    when some are not there."""
    sids = np.asarray(sids).astype(str)
    wanted = np.asarray(wanted).astype(str)
    order = np.argsort(sids, kind="stable")
    ordered = sids[order]
    found = np.searchsorted(ordered, wanted)
    found = np.minimum(found, max(len(ordered) - 1, 0))
    hit = ordered[found] == wanted if len(ordered) else np.zeros(len(wanted), dtype=bool)
    if not hit.all():
        missing = wanted[~hit]
        raise ComponentError(f"{what}: {len(missing)} sample ids are not in this party's data "
                             f"(first: {', '.join(missing[:5])})")
    return order[found]


def typed_array(values: Sequence[Any]) -> pa.Array:
    """A column for ``values``: int64 when all are integers, float64 when all are numbers, text otherwise."""
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return pa.array(np.asarray(values, dtype=np.int64))
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values):
        return pa.array(np.asarray(values, dtype=np.float64))
    return pa.array([str(v) for v in values], type=pa.string())


def canonical_text(value: Any) -> str:
    """One text per value however it is spelt: 1, 1.0, "1" and "1.0" are all ``"1"``; "yes" stays "yes".
    Labels and encoder keys are matched through it (a conf's JSON keys are always text)."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number == int(number):
        return str(int(number))
    return repr(number)


def canonical_texts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of a column and, per row, the index of its value among them; the distinct
    values as canonical texts (one Python call per distinct value, not per row)."""
    unique, inverse = np.unique(np.asarray(values), return_inverse=True)
    return np.array([canonical_text(v) for v in unique], dtype=object), inverse.reshape(-1)


def warn_skipped(logger: Any, component: str, what: str, skipped: Iterable[Any]) -> None:
    """FATE warns and goes on when a column index or name does not exist; so do we (in the task log)."""
    skipped = list(skipped)
    if skipped:
        logger.warning("%s: %s not in the data's header, skipped: %s", component, what, skipped)


def select_columns(header: Sequence[str], indexes: int | list[int] | None, names: list[str] | None,
                   logger: Any, component: str) -> list[str]:
    """FATE's column choice: ``indexes == -1`` is every column; else the columns at ``indexes`` then those
    named, each once, in that order (an index or name the header lacks is skipped with a warning)."""
    header = list(header)
    if indexes == -1:
        return header
    chosen: list[str] = []
    out_of_range = [i for i in (indexes or []) if i >= len(header)]
    for index in indexes or []:
        if index < len(header) and header[index] not in chosen:
            chosen.append(header[index])
    unknown = [n for n in (names or []) if n not in header]
    for name in names or []:
        if name in header and name not in chosen:
            chosen.append(name)
    warn_skipped(logger, component, "column indexes", out_of_range)
    warn_skipped(logger, component, "column names", unknown)
    return chosen


def json_number(value: Any) -> Any:
    """A float for JSON (summaries, model files): NaN and infinities become None."""
    value = float(value)
    return value if math.isfinite(value) else None
