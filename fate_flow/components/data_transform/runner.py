"""DataTransform's runner: fit the transform on the training data (train stage) or load it (predict stage),
then apply it column by column, vectorised. Dense input is read here; sparse and tag input in ``sparse``.

``output_format`` sparse is stored dense (a column per feature, as dense output): FATE's SparseVector reads an
absent entry as 0, and FATE leaves out (so reads as 0) the values whose magnitude is below 1e-8, which is what
is stored here too, so every downstream result is FATE's."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fate_flow.components.data_transform import DataTransformParams, sparse
from fate_flow.components.data_transform.census import CensusSpec, as_text, take_census
from fate_flow.components.data_transform.transform import INTEGER_TYPES, Transform
from fate_flow.components.upload import TEXT_HEADER
from fate_flow.engine.columns import floats
from fate_flow.framework import PREDICT, ComponentError, Context, Schema, Table

# the texts FATE treats as missing when the conf gives no ``missing_impute`` list
DEFAULT_MISSING = ("", "NA", "na", "NaN", "nan", "null", "NULL", "None", "none")
FLOAT_ZERO = 1e-8  # FATE's consts.FLOAT_ZERO: a sparse output leaves out values smaller than this

__all__ = ["Transform", "run"]


def run(ctx: Context) -> None:
    """Fit (train) or load (predict) the transform, apply it, write the typed table and the model."""
    params: DataTransformParams = ctx.params
    table = ctx.inputs.first("data")
    if ctx.stage == PREDICT:
        model = ctx.models.load()
        transform = Transform(**model.param["transform"])
        if transform.input_format == "dense":
            output, rates = _apply(ctx, table, transform), {}
        else:
            output, rates = sparse.apply(ctx, table, transform)
    elif params.input_format == "dense":
        transform, rates = _fit(ctx, table, params)
        output = _apply(ctx, table, transform)
    else:
        transform, output, rates = sparse.fit(ctx, table, params)
    ctx.outputs[0].write(output)
    ctx.models.save(param={"transform": asdict(transform)}, meta={"input_format": transform.input_format,
                                                                   "with_label": transform.label_name is not None})
    if ctx.stage != PREDICT and (transform.missing_fill is not None or transform.outlier_replace is not None):
        ctx.summary(_summary(transform, rates))
    ctx.logger.info("%s: %d rows, %d features, label %s", ctx.component_name, table.count(),
                    len(transform.header), transform.label_name)


# -- fit ----------------------------------------------------------------------------------------------------------
def _fit(ctx: Context, table: Table, params: DataTransformParams) -> tuple[Transform, dict[str, dict[str, float]]]:
    """The transform, and the share of each numeric feature's values it fills and replaces (one pass over the
    rows when it fills or replaces, none otherwise)."""
    if table.schema.extra.get(TEXT_HEADER) is not None:
        raise ComponentError(f"{ctx.component_name}: the table was uploaded as id + text (its rows are not a "
                             "table of columns): read it with input_format sparse or tag, or upload a file whose "
                             "header names each column once and whose rows all have its field count")
    columns = list(table.schema.header) + [c for c in (table.schema.label, table.schema.weight) if c]
    label = params.label_name if params.with_label else None
    if label is not None and label not in columns:
        raise ComponentError(f"{ctx.component_name}: label_name {label!r} is not a column of the input table "
                             f"(columns: {', '.join(columns[:20])})")
    match_id = _match_id(ctx, params, columns)
    header = [c for c in columns if c not in (label, match_id)]
    transform = Transform(header=header, label_name=label, label_type=params.label_type,
                          data_type=params.data_type, column_types=dict(params.exclusive_data_type or {}),
                          match_id_name=match_id, output_format=params.output_format,
                          delimitor=params.delimitor,
                          missing_values=_texts(params.missing_impute) if params.missing_impute else list(
                              DEFAULT_MISSING),
                          outlier_values=_texts(params.outlier_impute or []))
    if not (params.missing_fill or params.outlier_replace):
        return transform, {"missing": {}, "outlier": {}}
    numeric = tuple(c for c in header if transform.type_of(c) != "str")
    census = take_census(table, CensusSpec(numeric, tuple(transform.missing_values), tuple(transform.outlier_values),
                                           replaces_outliers=bool(params.outlier_replace)))
    if params.missing_fill:
        transform.missing_fill = _replacements(ctx, numeric, census.for_fill, params.missing_fill_method,
                                               params.default_value, "default_value")
    if params.outlier_replace:
        transform.outlier_replace = _replacements(ctx, numeric, census.for_replace, params.outlier_replace_method,
                                                  params.outlier_replace_value, "outlier_replace_value")
    return transform, census.rates(numeric, fills=bool(params.missing_fill),
                                   replaces=bool(params.outlier_replace and transform.outlier_values))


def _match_id(ctx: Context, params: DataTransformParams, columns: list[str]) -> str | None:
    if not params.with_match_id:
        return None
    if params.match_id_name:
        if params.match_id_name not in columns:
            raise ComponentError(f"{ctx.component_name}: match_id_name {params.match_id_name!r} is not a column")
        return params.match_id_name
    if params.match_id_index >= len(columns):
        raise ComponentError(f"{ctx.component_name}: match_id_index {params.match_id_index} is beyond the "
                             f"{len(columns)} columns")
    return columns[params.match_id_index]


def _texts(values: list[Any]) -> list[str]:
    return ["" if v is None else str(v) for v in values]


def _replacements(ctx: Context, columns: tuple[str, ...], valid: dict[str, np.ndarray], method: str | None,
                  designated: Any, field_name: str) -> dict[str, float]:
    """The value that replaces missing (or outlier) values, per column: ``designated`` (one value or one per
    column) unless ``method`` says min, max or mean of the column's ``valid`` values (0 for a column without)."""
    if method in (None, "designated"):
        if isinstance(designated, list):
            if len(designated) != len(columns):
                raise ComponentError(f"{ctx.component_name}: {field_name} lists {len(designated)} values for "
                                     f"{len(columns)} features")
            return {c: float(v) for c, v in zip(columns, designated, strict=True)}
        return dict.fromkeys(columns, float(designated))
    count = valid["count"]
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = {"min": valid["min"], "max": valid["max"], "mean": valid["sum"] / count}[method]
    return {c: float(statistic[i]) if count[i] else 0.0 for i, c in enumerate(columns)}


# -- apply (where the table lives: Spark's executors on Spark) ------------------------------------------------------
def _apply(ctx: Context, table: Table, transform: Transform) -> Table:
    present = set(table.schema.header) | {c for c in (table.schema.label, table.schema.weight) if c}
    absent = [c for c in transform.header if c not in present]
    if absent:
        raise ComponentError(f"{ctx.component_name}: the data lacks the columns {', '.join(absent[:10])} that the "
                             "transform was fitted with")
    layout = _Layout.of(ctx.component_name, table, transform, with_label=transform.label_name in present)
    return table.map_batches(functools.partial(_transform_batch, layout), layout.arrow_schema(table),
                             layout.schema(table))


@dataclass(frozen=True)
class _Layout:
    """What the batch function needs, as plain values (it is shipped to Spark's executors)."""

    component: str
    transform: Transform
    sid: str
    numeric: tuple[str, ...]  # the feature columns made numbers, in header order
    text: tuple[str, ...]  # the feature columns kept as text (data type str)
    label: str | None  # the label column, when the data has it

    @classmethod
    def of(cls, component: str, table: Table, transform: Transform, with_label: bool) -> _Layout:
        text = tuple(c for c in transform.header if transform.type_of(c) == "str")
        return cls(component, transform, table.schema.sid, tuple(c for c in transform.header if c not in text),
                   text, transform.label_name if with_label else None)

    def schema(self, table: Table) -> Schema:
        """The output's schema; FATE's schema names the match id column (Intersection intersects on it)."""
        extra: dict[str, Any] = {"match_id_name": self.transform.match_id_name} if self.transform.match_id_name else {}
        if self.text:
            extra["str_columns"] = sorted(self.text)
        return Schema(sid=self.sid, header=self.numeric, label=self.label, extra=extra)

    def arrow_schema(self, table: Table) -> pa.Schema:
        """The output's columns: id, label, match id, text features, then the numeric features."""
        stored = table.arrow_schema()
        fields = [pa.field(self.sid, pa.string())]
        if self.label:
            fields.append(pa.field(self.label, _LABEL_TYPES.get(self.transform.label_type, pa.float64())))
        if self.transform.match_id_name:
            fields.append(stored.field(self.transform.match_id_name))
        fields += [pa.field(name, pa.string()) for name in self.text]
        fields += [pa.field(name, pa.float64()) for name in self.numeric]
        return pa.schema(fields)


_LABEL_TYPES = {"str": pa.string(), **dict.fromkeys(INTEGER_TYPES, pa.int64())}


def _transform_batch(layout: _Layout, batch: pa.RecordBatch) -> pa.RecordBatch:
    transform = layout.transform
    columns: dict[str, Any] = {layout.sid: pc.cast(batch.column(layout.sid), pa.string())}
    if layout.label:
        columns[layout.label] = _labels(layout.component, batch.column(layout.label), layout.label,
                                        transform.label_type)
    if transform.match_id_name:
        columns[transform.match_id_name] = batch.column(transform.match_id_name)
    for name in layout.text:
        columns[name] = pc.cast(batch.column(name), pa.string())
    for name in layout.numeric:
        columns[name] = _feature(layout.component, batch.column(name), name, transform)
    return pa.RecordBatch.from_pydict(columns)


def _feature(component: str, column: pa.Array, name: str, transform: Transform) -> np.ndarray:
    """A feature column's values after the transform: outliers replaced, then missing values filled."""
    try:
        values = floats(column, name, transform.missing_values)
    except ComponentError as exc:
        raise ComponentError(f"{component}: feature {exc} (set data_type or exclusive_data_type to str to keep it "
                             "as text)") from None
    if transform.outlier_replace is not None and transform.outlier_values:
        outliers = np.isin(as_text(column.to_numpy(zero_copy_only=False)), transform.outlier_values)
        values[outliers] = transform.outlier_replace.get(name, 0.0)
    if transform.missing_fill is not None:
        values[np.isnan(values)] = transform.missing_fill.get(name, 0.0)
    if transform.type_of(name) in INTEGER_TYPES:
        values = np.where(np.isnan(values), values, np.trunc(values))
    if transform.output_format == "sparse":
        values[np.abs(values) < FLOAT_ZERO] = 0.0
    return values


def _labels(component: str, column: pa.Array, name: str, label_type: str) -> np.ndarray:
    if label_type == "str":
        return column.to_numpy(zero_copy_only=False).astype(str)
    values = floats(column, name)
    if np.isnan(values).any():
        raise ComponentError(f"{component}: label column {name!r} has {int(np.isnan(values).sum())} missing values")
    if label_type in INTEGER_TYPES:
        if not np.all(values == np.trunc(values)):
            raise ComponentError(f"{component}: label column {name!r} holds values that are not integers "
                                 "(set label_type to float)")
        return values.astype(np.int64)
    return values


def _summary(transform: Transform, rates: dict[str, dict[str, float]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    if transform.missing_fill is not None:
        summary["missing_fill_info"] = {"missing_value": transform.missing_values,
                                        "missing_impute_value": transform.missing_fill,
                                        "missing_impute_rate": rates["missing"]}
    if transform.outlier_replace is not None:
        summary["outlier_replace_rate"] = {"outlier_value": transform.outlier_values,
                                           "outlier_replace_value": transform.outlier_replace,
                                           "outlier_replace_rate": rates["outlier"]}
    return summary
