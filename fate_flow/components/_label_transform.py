"""LabelTransform's runner.

Train stage: the encoder is ``label_encoder`` (its keys typed as ``label_list``'s entries when given, else
as the data's labels; a label it lacks maps to itself, FATE 1.11.4's rule), or each distinct label (of the
label column, or of label and predict_result in a prediction table) mapped to its rank among them sorted.
It is applied forward. Predict stage: the fitted encoder is loaded and applied forward to samples,
reversed on a prediction table (FATE's rule: decode predictions).

Labels and keys are matched by their text, 1 and "1" alike (a conf's JSON keys are always text); the
mapping is computed once per distinct label, then taken per row.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fate_flow.components._tables import canonical_text, canonical_texts, column_type, replace_column, typed_array
from fate_flow.components.label_transform import LabelTransformParams
from fate_flow.framework import PREDICT, ComponentError, Context, Table
from fate_flow.ml.predict import PREDICT_HEADER

TYPES = {"int": int, "int64": int, "long": int, "float": float, "float64": float, "double": float, "str": str}


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
    if ctx.stage == PREDICT:
        encoder = _load(ctx.models.load().param)
        mapping = [(value, key) for key, value in encoder] if predictions else encoder
    else:
        encoder = _fit(ctx, params, table, predictions)
        mapping = encoder
    output = _predictions(ctx, table, mapping) if predictions else _labels(ctx, table, mapping)
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


# -- the encoder --------------------------------------------------------------------------------------------------
def _fit(ctx: Context, params: LabelTransformParams, table: Table, predictions: bool) -> list[tuple[Any, Any]]:
    """(original label, code) pairs."""
    labels = _data_labels(table, predictions)
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


def _data_labels(table: Table, predictions: bool) -> list[Any]:
    """The distinct labels of the data, sorted (a prediction table's: of label and predict_result)."""
    columns = [c for c in ("label", "predict_result") if not _null_column(table, c)] if predictions else [
        table.schema.label]
    distinct: dict[str, Any] = {}
    for column in columns:  # a label seen in the label column keeps its type there
        for value in np.unique(_without_nulls(table.column(column))):
            distinct.setdefault(canonical_text(value), _plain(value))
    return sorted(distinct.values(), key=_label_order)


def _label_order(label: Any) -> tuple[int, float, str]:
    """FATE sorts the labels: numbers by value (before texts), texts alphabetically."""
    text = canonical_text(label)
    try:
        return 0, float(text), text
    except ValueError:
        return 1, 0.0, text


def _null_column(table: Table, column: str) -> bool:
    """Whether the prediction table's ``column`` holds no value at all (predictions of unlabelled data)."""
    return pa.types.is_null(column_type(table, column))


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


# -- applying it --------------------------------------------------------------------------------------------------
def _recode(ctx: Context, values: np.ndarray, mapping: list[tuple[Any, Any]], what: str,
            as_text: bool) -> pa.Array:
    """``values`` (one column) re-coded through ``mapping``; ComponentError naming the values it lacks."""
    lookup = {canonical_text(key): value for key, value in mapping}
    texts, inverse = canonical_texts(values)
    unknown = [t for t in texts if t not in lookup]
    if unknown:
        raise ComponentError(f"{ctx.component_name}: {what} values {unknown[:10]} are not in the label encoder "
                             f"({sorted(lookup)})")
    distinct = [lookup[t] for t in texts]
    column = pa.array([str(v) for v in distinct], type=pa.string()) if as_text else typed_array(distinct)
    return column.take(pa.array(inverse))


def _labels(ctx: Context, table: Table, mapping: list[tuple[Any, Any]]) -> Table:
    name = table.schema.label
    recoded = _recode(ctx, table.column(name), mapping, f"label column {name!r}", as_text=False)
    return replace_column(table, name, recoded)


def _predictions(ctx: Context, table: Table, mapping: list[tuple[Any, Any]]) -> Table:
    """label, predict_result and the classes of predict_detail re-coded (a regression result is kept)."""
    details = table.column("predict_detail")
    first = json.loads(details[0]) if len(details) else {}
    if list(first) == ["label"]:
        ctx.logger.info("%s: a regression result: passed on unchanged", ctx.component_name)
        return table
    for column in ("label", "predict_result"):
        if _null_column(table, column):
            continue
        stored = column_type(table, column)
        as_text = pa.types.is_string(stored) or pa.types.is_large_string(stored)
        table = replace_column(table, column, _recode(ctx, table.column(column), mapping, column, as_text))
    return replace_column(table, "predict_detail", _recode_details(ctx, table.column("predict_detail"), first,
                                                                   mapping))


def _recode_details(ctx: Context, details: np.ndarray, first: dict[str, Any],
                    mapping: list[tuple[Any, Any]]) -> pa.Array:
    """The class keys of every predict_detail JSON text replaced, vectorised (each key goes to a placeholder
    first, so that swapped codes such as 0 <-> 1 do not collide)."""
    lookup = {canonical_text(key): value for key, value in mapping}
    unknown = [k for k in first if canonical_text(k) not in lookup]
    if unknown:
        raise ComponentError(f"{ctx.component_name}: predict_detail classes {unknown} are not in the label encoder")
    column = pa.array(details, type=pa.string())
    for index, key in enumerate(first):
        column = pc.replace_substring(column, pattern=json.dumps(key) + ":", replacement=f'"\x00{index}":')
    for index, key in enumerate(first):
        column = pc.replace_substring(column, pattern=f'"\x00{index}":',
                                      replacement=json.dumps(str(lookup[canonical_text(key)])) + ":")
    return column
