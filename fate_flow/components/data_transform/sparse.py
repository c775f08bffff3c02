"""DataTransform's sparse (svmlight) and tag formats, read as FATE 1.11's SparseFeatureTransformer and
SparseTagTransformer read them; vectorised with pyarrow, a batch of rows at a time.

A row's fields are the stored columns after its id, joined by ``delimitor`` and split by it again: FATE's own
value string. That is one text column for a table Upload stored as id + text, and one column per field for a
sparse or tag file whose rows all have as many fields as its first line (Upload stores those as a table).

- ``with_match_id``: field ``match_id_index`` is the match id (column ``match_id``); the features then start
  after the first field (FATE's ``id_range`` 1).
- ``with_label``: the next field is the label, column ``label`` (FATE's name for it whatever ``label_name``
  says), typed by ``label_type``.
- sparse: the other fields are ``index:value`` pairs; the header is ``x0`` ... ``x<largest index at fit>``.
- tag: the other fields are tags, ``tag<tag_value_delimitor>value`` with ``tag_with_value`` (else a tag that is
  present is 1); the header is the sorted set of the tags seen at fit (Python's string order, FATE's ``sorted``).

A feature absent from a row is 0; a feature given twice in a row takes its last value (FATE's loop order).
``missing_fill`` applies to tags with values only, as in FATE: absent tags and values in FATE's Imputer list
('', none, null, na, None) are replaced by the tag's ``missing_fill_method`` statistic (mean, min or max of the
values present) or by ``default_value`` (designated). Without a method FATE replaces nothing and then fails on
the first absent tag, so the task fails saying so. The predict stage applies the fitted header: indexes beyond
it and unknown tags are dropped (FATE drops unknown tags and fails on such indexes). Empty fields (a trailing
delimiter) are skipped, where FATE would fail or make "" a tag. ``output_format`` sparse is stored dense here:
FATE's SparseVector reads an absent entry as 0, which is what the matrix holds, so downstream results agree.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fate_flow.components.data_transform import DataTransformParams
from fate_flow.components.data_transform.transform import INTEGER_TYPES, Transform
from fate_flow.engine.standalone import ArrowTable
from fate_flow.framework import ComponentError, Context, Schema, Table

LABEL_NAME = "label"  # FATE's DEFAULT_LABEL_NAME for sparse and tag data
MATCH_ID_NAME = "match_id"
SPARSE_PREFIX = "x"  # FATE's SVMLIGHT_COLUMN_PREFIX
INDEX_VALUE_DELIMITER = ":"  # fixed for svmlight in FATE
IMPUTER_MISSING = ["", "none", "null", "na", "None"]  # FATE's Imputer default list (and NaN)
BATCH_ROWS = 65536


@dataclass
class _Fields:
    """One batch's fields: the label and match id texts (or None), every feature field and its row."""

    labels: pa.Array | None
    match_ids: pa.Array | None
    rows: np.ndarray
    tokens: pa.Array


def fit(ctx: Context, table: Table, params: DataTransformParams) -> tuple[Transform, Table, dict]:
    """Fit the header (and the tag fill values) on ``table`` and transform it: (model, typed table, rates)."""
    if params.data_type == "str":
        raise ComponentError(f"{ctx.component_name}: data_type str is not provided for input_format "
                             f"{params.input_format} (features are numbers)")
    transform = Transform(header=[], label_name=LABEL_NAME if params.with_label else None,
                          label_type=params.label_type, data_type=params.data_type,
                          match_id_name=MATCH_ID_NAME if params.with_match_id else None,
                          input_format=params.input_format, output_format=params.output_format,
                          delimitor=params.delimitor, tag_with_value=params.tag_with_value,
                          tag_value_delimitor=params.tag_value_delimitor, match_id_index=params.match_id_index)
    transform.header = _fit_header(ctx, table, transform)
    filling = _fills(transform) and params.missing_fill
    if filling:
        transform.missing_values = list(IMPUTER_MISSING)
    matrix, labels, match_ids = _matrix(ctx, table, transform, missing_as_nan=filling)
    rates: dict[str, dict[str, float]] = {"missing": {}, "outlier": {}}
    if filling:
        transform.missing_fill = _fill_values(ctx, matrix, transform.header, params.missing_fill_method,
                                              params.default_value)
        rates["missing"] = _fill(ctx, matrix, transform)
    return transform, _output(ctx, table, transform, matrix, labels, match_ids), rates


def apply(ctx: Context, table: Table, transform: Transform) -> tuple[Table, dict]:
    """Transform ``table`` with a fitted model (predict stage): (typed table, rates)."""
    filling = _fills(transform) and bool(transform.missing_values)
    matrix, labels, match_ids = _matrix(ctx, table, transform, missing_as_nan=filling)
    rates: dict[str, dict[str, float]] = {"missing": _fill(ctx, matrix, transform) if filling else {}, "outlier": {}}
    return _output(ctx, table, transform, matrix, labels, match_ids), rates


def _fills(transform: Transform) -> bool:
    return transform.input_format == "tag" and transform.tag_with_value


# -- fields -------------------------------------------------------------------------------------------------------
def _text_column(table: Table, name: str) -> pa.Array:
    if isinstance(table, ArrowTable):
        column = table.data.column(name).combine_chunks()
    else:
        column = pa.array(np.asarray(table.column(name)).astype(str))
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    return pc.fill_null(column, "")


def _fields(ctx: Context, table: Table, transform: Transform) -> _Fields:
    """The fields of each row of ``table`` (one batch): FATE's value string split by ``delimitor``."""
    columns = [c for c in table.schema.columns() if c != table.schema.sid]
    if not columns:
        raise ComponentError(f"{ctx.component_name}: the table has no column besides its id "
                             f"{table.schema.sid!r}: no {transform.input_format} data to read")
    texts = [_text_column(table, c) for c in columns]
    joined = texts[0] if len(texts) == 1 else pc.binary_join_element_wise(
        *texts, transform.delimitor, null_handling="replace", null_replacement="")
    fields = pc.split_pattern(joined, transform.delimitor)
    lengths = pc.list_value_length(fields).to_numpy(zero_copy_only=False)
    offset, match_ids, labels = 0, None, None
    if transform.match_id_name:
        match_ids = _field(ctx, table, fields, lengths, transform.match_id_index, "match id")
        offset = 1
    if transform.label_name:
        labels = _field(ctx, table, fields, lengths, offset, "label")
        offset += 1
    rest = pc.list_slice(fields, offset)
    rows = pc.list_parent_indices(rest).to_numpy(zero_copy_only=False)
    tokens = pc.list_flatten(rest)
    present = pc.not_equal(tokens, "")
    return _Fields(labels, match_ids, rows[present.to_numpy(zero_copy_only=False)], tokens.filter(present))


def _field(ctx: Context, table: Table, fields: pa.ListArray, lengths: np.ndarray, index: int, what: str) -> pa.Array:
    short = lengths <= index
    if short.any():
        sid = table.sids()[int(np.argmax(short))]
        raise ComponentError(f"{ctx.component_name}: row {sid!r} has no {what} (field {index + 1} after the id)")
    return pc.list_element(fields, index)


def _pairs(ctx: Context, tokens: pa.Array, delimiter: str, what: str) -> tuple[pa.Array, pa.Array]:
    """``key<delimiter>value`` fields split in two (FATE unpacks exactly two parts)."""
    parts = pc.split_pattern(tokens, delimiter)
    bad = pc.not_equal(pc.list_value_length(parts), 2)
    if pc.any(bad).as_py():
        token = tokens.filter(bad)[0].as_py()
        raise ComponentError(f"{ctx.component_name}: field {token!r} is not {what}")
    return pc.list_element(parts, 0), pc.list_element(parts, 1)


def _numbers(ctx: Context, texts: pa.Array, what: str) -> np.ndarray:
    """Texts as float64 (blanks around a number allowed, as Python's float()); nulls become NaN."""
    try:
        numbers = pc.cast(pc.utf8_trim_whitespace(texts), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ComponentError(f"{ctx.component_name}: a {what} is not a number: {exc}") from None
    return np.array(numbers.to_numpy(zero_copy_only=False), dtype=np.float64)


def _keys_and_values(ctx: Context, tokens: pa.Array, transform: Transform,
                     missing_as_nan: bool) -> tuple[pa.Array, np.ndarray]:
    """Each feature field's key (index or tag text) and value."""
    if transform.input_format == "sparse":
        indexes, texts = _pairs(ctx, tokens, INDEX_VALUE_DELIMITER, "index:value")
        return indexes, _numbers(ctx, texts, "feature value")
    if not transform.tag_with_value:
        return tokens, np.ones(len(tokens))
    tags, texts = _pairs(ctx, tokens, transform.tag_value_delimitor, f"tag{transform.tag_value_delimitor}value")
    if missing_as_nan:
        texts = pc.if_else(pc.is_in(texts, value_set=pa.array(IMPUTER_MISSING)), pa.scalar(None, pa.string()), texts)
    return tags, _numbers(ctx, texts, "tag value")


def _indexes(ctx: Context, keys: pa.Array) -> np.ndarray:
    indexes = _numbers(ctx, keys, "feature index")
    if np.isnan(indexes).any() or (indexes < 0).any() or not np.all(indexes == np.trunc(indexes)):
        raise ComponentError(f"{ctx.component_name}: feature indexes must be integers from 0")
    return indexes.astype(np.int64)


# -- fit ----------------------------------------------------------------------------------------------------------
def _fit_header(ctx: Context, table: Table, transform: Transform) -> list[str]:
    """FATE's header: x0 ... x<largest index> (sparse), or the sorted tags seen (tag)."""
    largest, tags = -1, set()
    for batch in table.batches(BATCH_ROWS):
        tokens = _fields(ctx, batch, transform).tokens
        if not len(tokens):
            continue
        if transform.input_format == "sparse":
            keys, _ = _pairs(ctx, tokens, INDEX_VALUE_DELIMITER, "index:value")
            largest = max(largest, int(_indexes(ctx, keys).max()))
        elif transform.tag_with_value:
            keys, _ = _pairs(ctx, tokens, transform.tag_value_delimitor,
                             f"tag{transform.tag_value_delimitor}value")
            tags.update(pc.unique(keys).to_pylist())
        else:
            tags.update(pc.unique(tokens).to_pylist())
    header = [f"{SPARSE_PREFIX}{i}" for i in range(largest + 1)] if transform.input_format == "sparse" else sorted(tags)
    if not header:
        raise ComponentError(f"{ctx.component_name}: no feature value in the input data ({transform.input_format} "
                             f"fields split by {transform.delimitor!r})")
    clash = {table.schema.sid, transform.label_name, transform.match_id_name} & set(header)
    if clash:
        raise ComponentError(f"{ctx.component_name}: feature names {sorted(clash)} clash with the id, label or "
                             "match id column")
    return header


def _fill_values(ctx: Context, matrix: np.ndarray, header: list[str], method: str | None,
                 default: Any) -> dict[str, float] | None:
    """FATE's Imputer at fit: a statistic of each tag's values, or the designated value(s); None without a
    method (FATE's Imputer then skips every column)."""
    if method is None:
        return None
    if method == "designated":
        if isinstance(default, list):
            if len(default) != len(header):
                raise ComponentError(f"{ctx.component_name}: default_value lists {len(default)} values for "
                                     f"{len(header)} tags")
            return {tag: float(v) for tag, v in zip(header, default, strict=True)}
        return dict.fromkeys(header, float(default))
    statistic = {"mean": np.nanmean, "min": np.nanmin, "max": np.nanmax}[method]
    with warnings.catch_warnings():  # a tag whose every value is missing: no statistic, 0
        warnings.simplefilter("ignore", RuntimeWarning)
        values = statistic(matrix, axis=0) if matrix.shape[0] else np.zeros(matrix.shape[1])
    return {tag: float(v) if np.isfinite(v) else 0.0 for tag, v in zip(header, values, strict=True)}


def _fill(ctx: Context, matrix: np.ndarray, transform: Transform) -> dict[str, float]:
    """Replace the missing (NaN) entries in place; the share of each tag's rows that were missing."""
    missing = np.isnan(matrix)
    rows = matrix.shape[0]
    rates = dict(zip(transform.header, (missing.sum(axis=0) / rows if rows else np.zeros(matrix.shape[1])).tolist(),
                     strict=True))
    if transform.missing_fill is None:
        if missing.any():
            column = transform.header[int(np.argmax(missing.any(axis=0)))]
            raise ComponentError(f"{ctx.component_name}: missing_fill without missing_fill_method replaces nothing "
                                 f"(as FATE's Imputer) and tag {column!r} is missing from some rows: set "
                                 "missing_fill_method (designated, mean, min or max)")
        return rates
    fill = np.array([transform.missing_fill.get(tag, 0.0) for tag in transform.header])
    np.copyto(matrix, np.broadcast_to(fill, matrix.shape), where=missing)
    return rates


# -- apply --------------------------------------------------------------------------------------------------------
def _matrix(ctx: Context, table: Table, transform: Transform,
            missing_as_nan: bool) -> tuple[np.ndarray, np.ndarray | None, pa.Array | None]:
    """The rows x header matrix (absent features 0, or NaN when they are to be filled), labels, match ids."""
    width = len(transform.header)
    matrix = np.full((table.count(), width), np.nan if missing_as_nan else 0.0)
    lookup = pa.array(transform.header, pa.string())
    labels, match_ids, start, dropped = [], [], 0, 0
    for batch in table.batches(BATCH_ROWS):
        fields = _fields(ctx, batch, transform)
        keys, values = _keys_and_values(ctx, fields.tokens, transform, missing_as_nan)
        if transform.input_format == "sparse":
            columns = _indexes(ctx, keys)
            columns[columns >= width] = -1
        else:
            columns = pc.fill_null(pc.index_in(keys, value_set=lookup), -1).to_numpy(zero_copy_only=False)
        known = columns >= 0
        dropped += int(known.size - known.sum())
        _assign(matrix, fields.rows[known] + start, columns[known], values[known])
        labels.append(fields.labels)
        match_ids.append(fields.match_ids)
        start += batch.count()
    if dropped:
        ctx.logger.info("%s: %d feature values outside the fitted header dropped", ctx.component_name, dropped)
    if transform.data_type in INTEGER_TYPES:
        np.trunc(matrix, out=matrix)
    label_values = _labels(ctx, _concat(labels), transform.label_type) if transform.label_name else None
    return matrix, label_values, _concat(match_ids) if transform.match_id_name else None


def _assign(matrix: np.ndarray, rows: np.ndarray, columns: np.ndarray, values: np.ndarray) -> None:
    """``matrix[rows, columns] = values``, the last value winning where a row gives a feature twice."""
    flat = rows * matrix.shape[1] + columns
    if flat.size and np.unique(flat).size != flat.size:
        last = flat.size - 1 - np.unique(flat[::-1], return_index=True)[1]
        flat, values = flat[last], values[last]
    np.put(matrix, flat, values)


def _concat(parts: list[pa.Array | None]) -> pa.Array:
    parts = [p for p in parts if p is not None]
    return pa.concat_arrays(parts) if parts else pa.array([], pa.string())


def _labels(ctx: Context, texts: pa.Array, label_type: str) -> np.ndarray:
    if label_type == "str":
        return np.asarray(texts.to_numpy(zero_copy_only=False)).astype(str)
    values = _numbers(ctx, texts, "label")
    if np.isnan(values).any():
        raise ComponentError(f"{ctx.component_name}: {int(np.isnan(values).sum())} labels are missing")
    if label_type in INTEGER_TYPES:
        if not np.all(values == np.trunc(values)):
            raise ComponentError(f"{ctx.component_name}: some labels are not integers (set label_type to float)")
        return values.astype(np.int64)
    return values


def _output(ctx: Context, table: Table, transform: Transform, matrix: np.ndarray, labels: np.ndarray | None,
            match_ids: pa.Array | None) -> Table:
    schema = Schema(sid=table.schema.sid, header=tuple(transform.header), label=transform.label_name)
    extra = {transform.match_id_name: match_ids.to_numpy(zero_copy_only=False)} if match_ids is not None else None
    return ctx.computing.from_numpy(schema, table.sids(), matrix, labels=labels, extra=extra)
