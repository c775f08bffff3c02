"""SampleWeight's runner: the weight column, vectorised, as FATE 1.11 computes it.

- ``class_weight: balanced``: class c weighs ``n / (classes * n_c)``; a dict gives each class its weight
  (keys are the label's text, ``"0"``, ``"1"``; a class it lacks weighs 1);
- ``sample_weight_name``: the weight is that feature's value (divided by the column's mean with
  ``normalize``), and the column leaves the features;
- the output keeps every row and column and adds the weight column ``weight`` (schema ``weight_name``, and
  FATE's ``sample_weight`` key); with neither parameter the data passes unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa

from fate_flow.components._data_ops import arrow, with_schema_extra
from fate_flow.components.sample_weight import SampleWeightParams
from fate_flow.engine.standalone import ArrowTable
from fate_flow.framework import PREDICT, ComponentError, Context, Schema, Table

CLASS_WEIGHT, WEIGHT_NAME = "class weight", "sample weight name"
WEIGHT_COLUMN = "weight"


@dataclass
class Weighting:
    """How samples are weighed (the model): by class, by a column, or not at all (``mode`` None)."""

    mode: str | None
    header: list[str]
    class_weight: dict[str, float] = field(default_factory=dict)
    sample_weight_name: str | None = None
    normalize: bool = False


def run(ctx: Context) -> None:
    """Fit (train) or load (predict) the weighting, apply it, write the data, the model and the metric."""
    params: SampleWeightParams = ctx.params
    table = ctx.inputs.first("data")
    weighting = _load(ctx) if ctx.stage == PREDICT else _fit(ctx, table, params)
    output = apply(ctx, table, weighting)
    ctx.outputs[0].write(output)
    ctx.models.save(param={"header": weighting.header, "weight_mode": weighting.mode,
                           "class_weight": weighting.class_weight},
                    meta={"sample_weight_name": weighting.sample_weight_name, "normalize": weighting.normalize,
                          "need_run": params.need_run})
    if weighting.mode is not None:
        classes = sorted(weighting.class_weight) if weighting.class_weight else None
        ctx.metrics.scalars("train", "sample_weight", {"sample_weight": 0}, metric_type="SAMPLE_WEIGHT",
                            weight_mode=weighting.mode, class_weight=weighting.class_weight or None,
                            classes=classes, sample_weight_name=weighting.sample_weight_name)
        weights = output.weights()
        if weights is not None and np.any(weights < 0):
            ctx.logger.warning("%s: negative weights among the samples", ctx.component_name)
    ctx.logger.info("%s: mode %s, %d rows", ctx.component_name, weighting.mode, output.count())


def _fit(ctx: Context, table: Table, params: SampleWeightParams) -> Weighting:
    header = list(table.schema.header)
    if params.sample_weight_name:
        if params.class_weight:
            ctx.logger.warning("%s: both sample_weight_name and class_weight given; the column's weights are used",
                               ctx.component_name)
        if params.sample_weight_name not in header:
            raise ComponentError(f"{ctx.component_name}: sample_weight_name {params.sample_weight_name!r} is not a "
                                 f"feature column of the data")
        return Weighting(WEIGHT_NAME, header, sample_weight_name=params.sample_weight_name,
                         normalize=params.normalize)
    if params.class_weight == "balanced":
        return Weighting(CLASS_WEIGHT, header, class_weight=balanced(_labels(ctx, table)), normalize=params.normalize)
    if params.class_weight:
        return Weighting(CLASS_WEIGHT, header, class_weight=dict(params.class_weight), normalize=params.normalize)
    return Weighting(None, header, normalize=params.normalize)


def _load(ctx: Context) -> Weighting:
    model = ctx.models.load()
    if "weight_mode" not in model.param:
        raise ComponentError(f"{ctx.component_name}: the input model is not a SampleWeight model")
    return Weighting(model.param["weight_mode"], list(model.param.get("header") or []),
                     class_weight={str(k): float(v) for k, v in (model.param.get("class_weight") or {}).items()},
                     sample_weight_name=model.meta.get("sample_weight_name"),
                     normalize=bool(model.meta.get("normalize")))


def balanced(labels: np.ndarray) -> dict[str, float]:
    """FATE's balanced class weights: ``n / (classes * n_c)``, keyed by the label's text."""
    classes, counts = np.unique(labels, return_counts=True)
    total, kinds = len(labels), len(classes)
    return {_key(c): total / (kinds * int(n)) for c, n in zip(classes, counts, strict=True)}


def _key(label: Any) -> str:
    """A label as FATE keys it: Python's text of the value (``1`` for an int label, ``1.0`` for a float one)."""
    return str(label.item() if isinstance(label, np.generic) else label)


def _labels(ctx: Context, table: Table) -> np.ndarray:
    if not table.schema.label:
        raise ComponentError(f"{ctx.component_name}: class_weight needs a label column (DataTransform with_label); "
                             f"set need_run false at parties without labels")
    return np.asarray(table.column(table.schema.label))


def apply(ctx: Context, table: Table, weighting: Weighting) -> Table:
    """``table`` with its weight column set as ``weighting`` says (unchanged without a mode)."""
    schema = table.schema
    if weighting.mode == WEIGHT_NAME:
        name = weighting.sample_weight_name
        if name not in schema.header:
            if ctx.stage == PREDICT:  # FATE passes such data on unweighted, with a warning
                ctx.logger.warning("%s: no column %r to weigh by; data passed unchanged", ctx.component_name, name)
                return table
            raise ComponentError(f"{ctx.component_name}: sample_weight_name {name!r} is not a feature column")
        weights = table.floats(name)
        if weighting.normalize:
            weights = weights / (weights.sum() / len(weights)) if len(weights) else weights
        schema = replace(schema, header=tuple(c for c in schema.header if c != name))
        dropped = name
    elif weighting.mode == CLASS_WEIGHT:
        classes, inverse = np.unique(_labels(ctx, table), return_inverse=True)
        per_class = np.asarray([weighting.class_weight.get(_key(c), 1.0) for c in classes], dtype=np.float64)
        weights = per_class[inverse.reshape(-1)] if len(classes) else np.zeros(0)
        dropped = None
    else:
        return table
    return _weighted(ctx, table, weights, with_schema_extra(replace(schema, weight=WEIGHT_COLUMN),
                                                       sample_weight=WEIGHT_COLUMN), dropped)


def _weighted(ctx: Context, table: Table, weights: np.ndarray, schema: Schema, dropped: str | None) -> Table:
    """``table`` with the weight column ``weight`` (replacing an earlier weight column) and without ``dropped``."""
    if WEIGHT_COLUMN in schema.header or WEIGHT_COLUMN in (schema.sid, schema.label):
        raise ComponentError(f"{ctx.component_name}: the data has a column named {WEIGHT_COLUMN!r}, the name of "
                             "the weight column")
    data = arrow(table)
    drop = [c for c in (dropped, table.schema.weight, WEIGHT_COLUMN) if c and c in data.column_names]
    data = data.drop_columns(drop).append_column(WEIGHT_COLUMN, pa.array(weights, type=pa.float64()))
    return ArrowTable(schema, data)
