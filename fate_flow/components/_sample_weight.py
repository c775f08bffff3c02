"""SampleWeight's runner: the weight column, vectorised, as FATE 1.11 computes it.

- ``class_weight: balanced``: class c weighs ``n / (classes * n_c)``; a dict gives each class its weight
  (keys are the label's text, ``"0"``, ``"1"``; a class it lacks weighs 1);
- ``sample_weight_name``: the weight is that feature's value (divided by the column's mean with
  ``normalize``), and the column leaves the features;
- the output keeps every row and column and adds the weight column ``weight`` (schema ``weight_name``, and
  FATE's ``sample_weight`` key); with neither parameter the data passes unchanged.

The rows stay where the table lives (Spark's executors on Spark): one ``Table.aggregate`` over the weighing
column (the label's class counts, or the weight column's count, sum and extremes) gives what the weights
need and whether one is negative (FATE warns), and ``Table.map_batches`` writes the weight column.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa

from fate_flow.components._data_ops import with_schema_extra
from fate_flow.components.sample_weight import SampleWeightParams
from fate_flow.engine.columns import floats, with_columns
from fate_flow.framework import PREDICT, ComponentError, Context, Table

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


@dataclass(frozen=True)
class Classes:
    """The label's classes in a table: each class's key (``_key``) and rows, in the classes' order (numbers by
    value, texts alphabetically, NaN last), as a sorted read of the whole column meets them."""

    counts: dict[str, int]
    as_floats: bool  # an integer label column with a missing value: read as floats, as a whole-column read does


def run(ctx: Context) -> None:
    """Fit (train) or load (predict) the weighting, apply it, write the data, the model and the metric."""
    params: SampleWeightParams = ctx.params
    table = ctx.inputs.first("data")
    weighting, classes = (_load(ctx), None) if ctx.stage == PREDICT else _fit(ctx, table, params)
    output, negative = apply(ctx, table, weighting, classes)
    ctx.outputs[0].write(output)
    ctx.models.save(param={"header": weighting.header, "weight_mode": weighting.mode,
                           "class_weight": weighting.class_weight},
                    meta={"sample_weight_name": weighting.sample_weight_name, "normalize": weighting.normalize,
                          "need_run": params.need_run})
    if weighting.mode is not None:
        names = sorted(weighting.class_weight) if weighting.class_weight else None
        ctx.metrics.scalars("train", "sample_weight", {"sample_weight": 0}, metric_type="SAMPLE_WEIGHT",
                            weight_mode=weighting.mode, class_weight=weighting.class_weight or None,
                            classes=names, sample_weight_name=weighting.sample_weight_name)
        if negative:
            ctx.logger.warning("%s: negative weights among the samples", ctx.component_name)
    # every row is kept: the input's count (a stored table's costs no pass over the rows)
    ctx.logger.info("%s: mode %s, %d rows", ctx.component_name, weighting.mode, table.count())


def _fit(ctx: Context, table: Table, params: SampleWeightParams) -> tuple[Weighting, Classes | None]:
    """The weighting, and the label's classes when fitting it counted them (balanced)."""
    header = list(table.schema.header)
    if params.sample_weight_name:
        if params.class_weight:
            ctx.logger.warning("%s: both sample_weight_name and class_weight given; the column's weights are used",
                               ctx.component_name)
        if params.sample_weight_name not in header:
            raise ComponentError(f"{ctx.component_name}: sample_weight_name {params.sample_weight_name!r} is not a "
                                 f"feature column of the data")
        return Weighting(WEIGHT_NAME, header, sample_weight_name=params.sample_weight_name,
                         normalize=params.normalize), None
    if params.class_weight == "balanced":
        classes = count_classes(ctx, table)
        return Weighting(CLASS_WEIGHT, header, class_weight=balanced(classes.counts),
                         normalize=params.normalize), classes
    if params.class_weight:
        return Weighting(CLASS_WEIGHT, header, class_weight=dict(params.class_weight), normalize=params.normalize), None
    return Weighting(None, header, normalize=params.normalize), None


def _load(ctx: Context) -> Weighting:
    model = ctx.models.load()
    if "weight_mode" not in model.param:
        raise ComponentError(f"{ctx.component_name}: the input model is not a SampleWeight model")
    return Weighting(model.param["weight_mode"], list(model.param.get("header") or []),
                     class_weight={str(k): float(v) for k, v in (model.param.get("class_weight") or {}).items()},
                     sample_weight_name=model.meta.get("sample_weight_name"),
                     normalize=bool(model.meta.get("normalize")))


def balanced(counts: dict[str, int]) -> dict[str, float]:
    """FATE's balanced class weights: ``n / (classes * n_c)``, keyed by the label's text (``counts``: each
    class's rows, in the classes' order)."""
    total, kinds = sum(counts.values()), len(counts)
    return {key: total / (kinds * n) for key, n in counts.items()}


def _key(label: Any) -> str:
    """A label as FATE keys it: Python's text of the value (``1`` for an int label, ``1.0`` for a float one)."""
    return str(label.item() if isinstance(label, np.generic) else label)


def _label(ctx: Context, table: Table) -> str:
    if not table.schema.label:
        raise ComponentError(f"{ctx.component_name}: class_weight needs a label column (DataTransform with_label); "
                             f"set need_run false at parties without labels")
    return table.schema.label


# -- what the weights need: one pass over the weighing column -----------------------------------------------------
def count_classes(ctx: Context, table: Table) -> Classes:
    """The label's classes and their rows, counted batch by batch where the table lives."""
    label = _label(ctx, table)
    found = table.aggregate(functools.partial(_batch_classes, ctx.component_name, label), _merge_classes, [label])
    nulls, classes = found if found is not None else (0, {})
    as_floats = bool(nulls) and pa.types.is_integer(table.arrow_schema().field(label).type)
    if as_floats:  # the integers become floats (their keys "1.0"), the missing values one NaN class
        floats_of: dict[str, list[Any]] = {}
        for value, rows in classes.values():
            number = float(value)
            floats_of[_key(number)] = [number, floats_of.get(_key(number), [number, 0])[1] + rows]
        classes = {**floats_of, _key(math.nan): [math.nan, nulls]}
    ordered = sorted(classes.items(), key=lambda item: _class_order(item[1][0]))
    return Classes({key: rows for key, (_, rows) in ordered}, as_floats)


def _class_order(value: Any) -> tuple[bool, Any]:
    """np.unique's order: by value, NaN last."""
    return isinstance(value, float) and math.isnan(value), value


def _batch_classes(component: str, label: str, batch: pa.RecordBatch) -> tuple[int, dict[str, list[Any]]]:
    """A batch's missing values of an integer label column, and {class key: [class, rows]} of the others.

    An integer column gives integers in every batch (its missing values counted aside): the task retypes them
    when the whole column has a missing value."""
    column = batch.column(label)
    if pa.types.is_integer(column.type):
        nulls, values = column.null_count, column.drop_null().to_numpy(zero_copy_only=False)
    else:
        nulls, values = 0, _label_values(component, label, column, as_floats=False)
    classes, counts = np.unique(values, return_counts=True)
    return nulls, {_key(c): [c.item() if isinstance(c, np.generic) else c, int(n)]
                   for c, n in zip(classes, counts, strict=True)}


def _merge_classes(a: tuple[int, dict[str, list[Any]]], b: tuple[int, dict[str, list[Any]]]
                   ) -> tuple[int, dict[str, list[Any]]]:
    """Two parts' classes as one's (new objects: a part decoded on Spark's driver is not changed)."""
    merged = {key: [value, rows] for key, (value, rows) in a[1].items()}
    for key, (value, rows) in b[1].items():
        merged[key] = [merged[key][0], merged[key][1] + rows] if key in merged else [value, rows]
    return a[0] + b[0], merged


@dataclass(frozen=True)
class ColumnStatistics:
    """The weight column's rows, sum, and smallest and largest values (NaN left out; inf and -inf without)."""

    count: int
    total: float
    low: float
    high: float

    def mean(self) -> float | None:
        """The column's mean (None without rows)."""
        return self.total / self.count if self.count else None

    def negative(self, mean: float | None) -> bool:
        """Whether a weight is negative: a value, or (``mean`` given) a value divided by the mean. Dividing by a
        number keeps (positive) or reverses (negative) the values' order, rounding included: the most negative
        quotient is the smallest value's or the largest's (a mean of 0 or NaN gives infinities or NaN, alike)."""
        if mean is None:
            return self.low < 0
        with np.errstate(divide="ignore", invalid="ignore"):
            quotients = np.array([self.low, self.high]) / np.float64(mean)
        return bool(np.any(quotients < 0))


def column_statistics(table: Table, name: str) -> ColumnStatistics:
    """The statistics of weight column ``name``, batch by batch where the table lives."""
    found = table.aggregate(functools.partial(_batch_statistics, name), _merge_statistics, [name])
    count, total, low, high = found if found is not None else (0, 0.0, math.inf, -math.inf)
    return ColumnStatistics(int(count), float(total), float(low), float(high))


def _batch_statistics(name: str, batch: pa.RecordBatch) -> tuple[int, float, float, float]:
    values = floats(batch.column(name), name)
    present = values[~np.isnan(values)]
    return (len(values), float(values.sum()), float(present.min()) if len(present) else math.inf,
            float(present.max()) if len(present) else -math.inf)


def _merge_statistics(a: tuple[int, float, float, float], b: tuple[int, float, float, float]
                      ) -> tuple[int, float, float, float]:
    return a[0] + b[0], a[1] + b[1], min(a[2], b[2]), max(a[3], b[3])


# -- applying it (batch by batch, where the table lives) -----------------------------------------------------------
@dataclass(frozen=True)
class Weigher:
    """What the batch function needs, as plain values (it is shipped to Spark's executors)."""

    component: str
    label: str | None = None  # by class: the label column, each class's weight, and how to read the labels
    class_weight: dict[str, float] = field(default_factory=dict)
    labels_as_floats: bool = False
    column: str | None = None  # by column: the column, and its mean when normalised
    mean: float | None = None
    dropped: tuple[str, ...] = ()  # the stored columns the output leaves out


def apply(ctx: Context, table: Table, weighting: Weighting, classes: Classes | None = None) -> tuple[Table, bool]:
    """``table`` with its weight column set as ``weighting`` says (unchanged without a mode), and whether a
    weight is negative. ``classes``: the label's classes when already counted (a balanced fit)."""
    schema = table.schema
    stored = table.arrow_schema().names
    if weighting.mode == WEIGHT_NAME:
        name = weighting.sample_weight_name
        if name not in schema.header:
            if ctx.stage == PREDICT:  # FATE passes such data on unweighted, with a warning
                ctx.logger.warning("%s: no column %r to weigh by; data passed unchanged", ctx.component_name, name)
                weights = table.weights()
                return table, weights is not None and bool(np.any(weights < 0))
            raise ComponentError(f"{ctx.component_name}: sample_weight_name {name!r} is not a feature column")
        statistics = column_statistics(table, name)
        mean = statistics.mean() if weighting.normalize else None
        negative = statistics.negative(mean)
        schema = replace(schema, header=tuple(c for c in schema.header if c != name))
        weigher = Weigher(ctx.component_name, column=name, mean=mean, dropped=_dropped(table, stored, name))
    elif weighting.mode == CLASS_WEIGHT:
        label = _label(ctx, table)
        classes = classes or count_classes(ctx, table)
        negative = any(weighting.class_weight.get(key, 1.0) < 0 for key in classes.counts)
        weigher = Weigher(ctx.component_name, label=label, class_weight=dict(weighting.class_weight),
                          labels_as_floats=classes.as_floats, dropped=_dropped(table, stored, None))
    else:
        return table, False
    schema = with_schema_extra(replace(schema, weight=WEIGHT_COLUMN), sample_weight=WEIGHT_COLUMN)
    if WEIGHT_COLUMN in schema.header or WEIGHT_COLUMN in (schema.sid, schema.label):
        raise ComponentError(f"{ctx.component_name}: the data has a column named {WEIGHT_COLUMN!r}, the name of "
                             "the weight column")
    columns = pa.schema([*(f for f in table.arrow_schema() if f.name not in weigher.dropped),
                         pa.field(WEIGHT_COLUMN, pa.float64())])
    return table.map_batches(functools.partial(_weigh_batch, weigher), columns, schema), negative


def _dropped(table: Table, stored: list[str], name: str | None) -> tuple[str, ...]:
    """The stored columns the output leaves out: the weighing feature, an earlier weight column, and a column
    named as the new one (replaced: it is appended last)."""
    return tuple(c for c in (name, table.schema.weight, WEIGHT_COLUMN) if c and c in stored)


def _weigh_batch(weigher: Weigher, batch: pa.RecordBatch) -> pa.RecordBatch:
    kept = batch.select([n for n in batch.schema.names if n not in weigher.dropped])
    return with_columns(kept, {WEIGHT_COLUMN: pa.array(_weights(weigher, batch), type=pa.float64())})


def _weights(weigher: Weigher, batch: pa.RecordBatch) -> np.ndarray:
    """A batch's weights: its column's values (over the mean), or each row's class weight (1 for a class the
    weights lack)."""
    if weigher.column is not None:
        weights = floats(batch.column(weigher.column), weigher.column)
        return weights / weigher.mean if weigher.mean is not None else weights
    values = _label_values(weigher.component, weigher.label, batch.column(weigher.label), weigher.labels_as_floats)
    classes, inverse = np.unique(values, return_inverse=True)
    per_class = np.asarray([weigher.class_weight.get(_key(c), 1.0) for c in classes], dtype=np.float64)
    return per_class[inverse.reshape(-1)] if len(classes) else np.zeros(0)


def _label_values(component: str, label: str, column: pa.Array, as_floats: bool) -> np.ndarray:
    """A batch's labels as a whole-column read gives them: numbers or texts, NaN for a missing float (and for a
    missing integer, the column then read as floats). A missing text or boolean label is an error."""
    if as_floats:
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
    if column.null_count and not pa.types.is_floating(column.type):
        raise ComponentError(f"{component}: label column {label!r} has {column.null_count} missing values")
    return column.to_numpy(zero_copy_only=False)
