"""LabelTransform's runner.

Train stage: the encoder is ``label_encoder`` (its keys typed as ``label_list``'s entries when given, else
as the data's labels; a label it lacks maps to itself, FATE 1.11.4's rule), or each distinct label (of the
label column, or of label and predict_result in a prediction table) mapped to its rank among them sorted.
It is applied forward. Predict stage: the fitted encoder is loaded and applied forward to samples,
reversed on a prediction table (FATE's rule: decode predictions).

Labels and keys are matched by their text, 1 and "1" alike (a conf's JSON keys are always text); the
mapping is computed once per distinct label, then taken per row.

The rows stay where the table lives (Spark's executors on Spark): the distinct labels are gathered with
``Table.aggregate`` (one pass over the label columns only) and the mapping is applied batch by batch with
``Table.map_batches``. A re-coded column's type is decided before the batches run, from the distinct labels
the table holds, so that every batch writes the type a whole-column re-coding writes.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fate_flow.components._tables import canonical_text, canonical_texts, typed_array
from fate_flow.components.label_transform import LabelTransformParams
from fate_flow.engine.columns import with_columns
from fate_flow.framework import PREDICT, ComponentError, Context, Table
from fate_flow.ml.predict import PREDICT_HEADER

TYPES = {"int": int, "int64": int, "long": int, "float": float, "float64": float, "double": float, "str": str}
DETAIL = "predict_detail"
# a re-coded column's Arrow type, by name: the batch function gets the name (plain text is all it ships)
OUTPUT_TYPES = {"int64": pa.int64(), "double": pa.float64(), "string": pa.string()}

# per label column, what the table holds: {canonical text: the label}, one label per text
Seen = dict[str, dict[str, Any]]


def run(ctx: Context) -> None:
    """Fit or load the encoder, re-code the labels (or decode a prediction table), record the mapping."""
    params: LabelTransformParams = ctx.params
    if ctx.role != "guest":  # labels live at the guest: a host passes its data on (FATE's confs skip it there)
        _pass_on(ctx)
        return
    table = ctx.inputs.first("data", "train_data", "test_data")
    predictions = is_prediction(table)
    if not predictions and not table.schema.label:
        raise ComponentError(f"{ctx.component_name}: the data has no label column to transform (with_label in "
                             "DataTransform)")
    columns = _label_columns(table, predictions)
    seen: Seen | None = None
    if ctx.stage == PREDICT:
        encoder = _load(ctx.models.load().param)
        mapping = [(value, key) for key, value in encoder] if predictions else encoder
    else:
        seen = labels_seen(table, columns)
        encoder = _fit(ctx, params, _data_labels(seen, columns))
        mapping = encoder
    output = _predictions(ctx, table, mapping, columns, seen) if predictions else _recoded(
        ctx, table, mapping, columns, seen, first_detail=None)
    ctx.outputs[0].write(output)
    ctx.models.save(param=_model_param(encoder), meta={"needRun": True})
    label_encoder = {str(key): value for key, value in encoder}
    ctx.metrics.scalars("train", "label_transform", {"label_transform": 0}, metric_type="LABEL_TRANSFORM",
                        label_encoder=label_encoder)
    ctx.logger.info("%s: labels %s %s", ctx.component_name, "decoded by" if mapping is not encoder else "encoded by",
                    label_encoder)


def _pass_on(ctx: Context) -> None:
    table = next((t for t in map(ctx.inputs.get, ("data", "train_data", "test_data")) if t is not None), None)
    if table is not None:
        ctx.outputs[0].write(table)
    ctx.logger.info("%s: nothing to transform at %s: %s", ctx.component_name, ctx.role,
                    "data passed on" if table is not None else "no data")


def is_prediction(table: Table) -> bool:
    """Whether ``table`` is a prediction result (FATE's ``content_type: predict_result``)."""
    return tuple(table.schema.header) == PREDICT_HEADER


def _label_columns(table: Table, predictions: bool) -> list[str]:
    """The columns holding labels: the label column, or a prediction table's label and predict_result (a column
    of no value at all, the predictions of unlabelled data, left out)."""
    if not predictions:
        return [table.schema.label]
    stored = table.arrow_schema()
    return [c for c in ("label", "predict_result") if not pa.types.is_null(stored.field(c).type)]


# -- the labels the table holds (one pass where the table lives) --------------------------------------------------
def labels_seen(table: Table, columns: list[str]) -> Seen:
    """Per column of ``columns``: its distinct labels (missing values left out) by canonical text, each text
    with the label a whole-column read gives it (the smallest of the labels spelt so; an integer or boolean
    column with a missing value reads as floats)."""
    found = table.aggregate(functools.partial(_batch_labels, tuple(columns)), _merge_labels, columns)
    stored = table.arrow_schema()
    seen: Seen = {}
    for index, name in enumerate(columns):
        nulls, distinct = found[index] if found is not None else (0, {})
        kind = stored.field(name).type
        read_as_floats = bool(nulls) and (pa.types.is_integer(kind) or pa.types.is_boolean(kind))
        seen[name] = _as_floats(distinct) if read_as_floats else distinct
    return seen


def _batch_labels(columns: tuple[str, ...], batch: pa.RecordBatch) -> list[tuple[int, dict[str, Any]]]:
    """A batch's part of ``labels_seen``: per column its missing values and {canonical text: smallest label}.

    The missing values are dropped before the column becomes numpy, so an integer column gives integers in
    every batch; the task retypes them when the whole column has a missing value."""
    found = []
    for name in columns:
        column = batch.column(name)
        distinct: dict[str, Any] = {}
        for value in np.unique(_without_nulls(column.drop_null().to_numpy(zero_copy_only=False))):
            distinct.setdefault(canonical_text(value), _plain(value))  # np.unique sorts: the first is the smallest
        found.append((column.null_count, distinct))
    return found


def _merge_labels(a: list[tuple[int, dict[str, Any]]], b: list[tuple[int, dict[str, Any]]]
                  ) -> list[tuple[int, dict[str, Any]]]:
    """Two parts' labels as one's (new dicts: a part decoded on Spark's driver is not changed)."""
    return [(nulls_a + nulls_b, _smallest(seen_a, seen_b))
            for (nulls_a, seen_a), (nulls_b, seen_b) in zip(a, b, strict=True)]


def _smallest(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    merged = dict(a)
    for text, value in b.items():
        if text not in merged or value < merged[text]:
            merged[text] = value
    return merged


def _as_floats(distinct: dict[str, Any]) -> dict[str, Any]:
    """Labels read as floats (their texts too: True becomes 1.0, text "1"), the smallest first for a shared text."""
    floats: dict[str, Any] = {}
    for value in sorted(float(v) for v in distinct.values()):
        floats.setdefault(canonical_text(value), value)
    return floats


def _in_order(distinct: dict[str, Any]) -> list[str]:
    """The canonical texts of a column's labels in the order of the labels (numbers by value, texts
    alphabetically), as a sorted read of the column meets them."""
    return [text for text, _ in sorted(distinct.items(), key=lambda item: item[1])]


def _without_nulls(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype == object:
        values = values[[v is not None for v in values]]
        kinds = {type(v) for v in values}
        return values.astype(str) if str in kinds else values.astype(np.float64)
    return values[~np.isnan(values)] if values.dtype.kind == "f" else values


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (an integral float label stays a float)."""
    return value.item() if isinstance(value, np.generic) else value


# -- the encoder --------------------------------------------------------------------------------------------------
def _fit(ctx: Context, params: LabelTransformParams, labels: list[Any]) -> list[tuple[Any, Any]]:
    """(original label, code) pairs for the data's distinct ``labels`` (sorted)."""
    if not params.label_encoder:
        return [(label, code) for code, label in enumerate(labels)]
    # FATE 1.11.4: the keys take the types of label_list's entries (else of the data's labels); a label the
    # encoder lacks keeps its value; a key that is neither is an error
    typed = {canonical_text(v): v for v in (params.label_list or labels)}
    unknown = [key for key in params.label_encoder if canonical_text(key) not in typed]
    if unknown:
        raise ComponentError(f"{ctx.component_name}: label_encoder keys {unknown} are neither labels of the data "
                             "nor in label_list")
    encoder = [(typed[canonical_text(key)], value) for key, value in params.label_encoder.items()]
    given = {canonical_text(key) for key in params.label_encoder}
    kept = [label for label in labels if canonical_text(label) not in given]
    if kept:
        ctx.logger.warning("%s: labels %s are not in label_encoder: kept as they are", ctx.component_name, kept)
    return encoder + [(label, label) for label in kept]


def _data_labels(seen: Seen, columns: list[str]) -> list[Any]:
    """The distinct labels of the data, sorted (a prediction table's: of label and predict_result)."""
    distinct: dict[str, Any] = {}
    for column in columns:  # a label seen in the label column keeps its type there
        for text, value in seen[column].items():
            distinct.setdefault(text, value)
    return sorted(distinct.values(), key=_label_order)


def _label_order(label: Any) -> tuple[int, float, str]:
    """FATE sorts the labels: numbers by value (before texts), texts alphabetically."""
    text = canonical_text(label)
    try:
        return 0, float(text), text
    except ValueError:
        return 1, 0.0, text


def _model_param(encoder: list[tuple[Any, Any]]) -> dict[str, Any]:
    """FATE's LabelTransformParam: keys and values as text, with their types to read them back."""
    return {"labelEncoder": {str(k): str(v) for k, v in encoder},
            "encoderKeyType": {str(k): type(k).__name__ for k, _ in encoder},
            "encoderValueType": {str(k): type(v).__name__ for k, v in encoder}}


def _load(param: dict[str, Any]) -> list[tuple[Any, Any]]:
    key_types, value_types = param.get("encoderKeyType", {}), param.get("encoderValueType", {})
    return [(_typed(key, key_types.get(key, "str")), _typed(value, value_types.get(key, "str")))
            for key, value in param.get("labelEncoder", {}).items()]


def _typed(text: str, type_name: str) -> Any:
    convert = TYPES.get(type_name)
    if convert is None:
        raise ComponentError(f"label encoder value {text!r} has an unknown type {type_name!r}")
    return convert(float(text)) if convert is int else convert(text)


# -- applying it (batch by batch, where the table lives) -----------------------------------------------------------
@dataclass(frozen=True)
class Recoding:
    """What the batch function needs, as plain values (it is shipped to Spark's executors)."""

    component: str
    lookup: dict[str, Any]  # a label's canonical text -> its new value
    columns: tuple[tuple[str, str, str], ...]  # (column, how errors name it, output type: a key of OUTPUT_TYPES)
    details: tuple[tuple[str, str], ...] | None  # predict_detail's class keys (first row's order) -> new keys


def _predictions(ctx: Context, table: Table, mapping: list[tuple[Any, Any]], columns: list[str],
                 seen: Seen | None) -> Table:
    """label, predict_result and the classes of predict_detail re-coded (a regression result is kept)."""
    first = _first_detail(table)
    if list(first) == ["label"]:
        ctx.logger.info("%s: a regression result: passed on unchanged", ctx.component_name)
        return table
    return _recoded(ctx, table, mapping, columns, seen, first_detail=first)


def _first_detail(table: Table) -> dict[str, Any]:
    """The first row's predict_detail (its classes name those of every row); {} for a table without rows."""
    first = table.head(1)
    return json.loads(first[0][table.arrow_schema().names.index(DETAIL)]) if first else {}


def _recoded(ctx: Context, table: Table, mapping: list[tuple[Any, Any]], columns: list[str], seen: Seen | None,
             first_detail: dict[str, Any] | None) -> Table:
    """``table`` with ``columns`` re-coded through ``mapping``, batch by batch; ComponentError naming the values
    the mapping lacks, before any batch runs.

    ``first_detail`` is None for samples (the label column); for a prediction table it is the first row's
    predict_detail, whose classes are re-coded in every row, and a column stored as text stays text. Any other
    re-coded column takes the type of its new values (typed_array's rule) over the labels the table holds
    (``seen``, gathered now when not given)."""
    predictions = first_detail is not None
    seen = labels_seen(table, columns) if seen is None else seen
    lookup = {canonical_text(key): value for key, value in mapping}
    stored = table.arrow_schema()
    recoded = []
    for name in columns:
        what = name if predictions else f"label column {name!r}"
        texts = _in_order(seen[name])
        unknown = [t for t in texts if t not in lookup]
        if unknown:
            raise ComponentError(f"{ctx.component_name}: {what} values {unknown[:10]} are not in the label encoder "
                                 f"({sorted(lookup)})")
        kind = stored.field(name).type
        as_text = predictions and (pa.types.is_string(kind) or pa.types.is_large_string(kind))
        output = pa.string() if as_text else typed_array([lookup[t] for t in texts]).type
        recoded.append((name, what, str(output)))
    detail_keys = None
    if predictions:
        unknown = [k for k in first_detail if canonical_text(k) not in lookup]
        if unknown:
            raise ComponentError(f"{ctx.component_name}: predict_detail classes {unknown} are not in the label "
                                 "encoder")
        detail_keys = tuple((key, str(lookup[canonical_text(key)])) for key in first_detail)
    recoding = Recoding(ctx.component_name, lookup, tuple(recoded), detail_keys)
    types = {name: OUTPUT_TYPES[output] for name, _, output in recoded}
    if predictions:
        types[DETAIL] = pa.string()
    out = pa.schema([pa.field(f.name, types[f.name]) if f.name in types else f for f in stored])
    return table.map_batches(functools.partial(_recode_batch, recoding), out)


def _recode_batch(recoding: Recoding, batch: pa.RecordBatch) -> pa.RecordBatch:
    columns: dict[str, pa.Array] = {
        name: _recode(recoding, batch.column(name).to_numpy(zero_copy_only=False), what, output)
        for name, what, output in recoding.columns}
    if recoding.details is not None:
        columns[DETAIL] = _recode_details(batch.column(DETAIL), recoding.details)
    return with_columns(batch, columns)


def _recode(recoding: Recoding, values: np.ndarray, what: str, output: str) -> pa.Array:
    """``values`` (one column of a batch) re-coded, as ``output``; ComponentError naming the values the
    mapping lacks (a missing value among them: the labels seen leave those out)."""
    texts, inverse = canonical_texts(values)
    unknown = [t for t in texts if t not in recoding.lookup]
    if unknown:
        raise ComponentError(f"{recoding.component}: {what} values {unknown[:10]} are not in the label encoder "
                             f"({sorted(recoding.lookup)})")
    distinct = [recoding.lookup[t] for t in texts]
    if output == "string":
        column = pa.array([str(v) for v in distinct], type=pa.string())
    else:  # the values typed_array types so over the whole column: here the batch's share of them
        column = pa.array(np.asarray(distinct, dtype=np.int64 if output == "int64" else np.float64))
    return column.take(pa.array(inverse))


def _recode_details(details: pa.Array, keys: tuple[tuple[str, str], ...]) -> pa.Array:
    """The class keys of every predict_detail JSON text replaced, vectorised (each key goes to a placeholder
    first, so that swapped codes such as 0 <-> 1 do not collide)."""
    column = details if pa.types.is_string(details.type) else pc.cast(details, pa.string())
    for index, (key, _) in enumerate(keys):
        column = pc.replace_substring(column, pattern=json.dumps(key) + ":", replacement=f'"\x00{index}":')
    for index, (_, new) in enumerate(keys):
        column = pc.replace_substring(column, pattern=f'"\x00{index}":', replacement=json.dumps(new) + ":")
    return column
