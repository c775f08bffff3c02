"""DataTransform's runner: fit the transform on the training data (train stage) or load it (predict stage),
then apply it column by column, vectorised. Dense input is read here; sparse and tag input in ``sparse``.

``output_format`` sparse is stored dense (a column per feature, as dense output): FATE's SparseVector reads an
absent entry as 0, and FATE leaves out (so reads as 0) the values whose magnitude is below 1e-8, which is what
is stored here too, so every downstream result is FATE's."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from fate_flow.components.data_transform import DataTransformParams, sparse
from fate_flow.components.data_transform.transform import INTEGER_TYPES, Transform
from fate_flow.components.upload import TEXT_HEADER
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
            output, rates = _apply(ctx, table, transform)
        else:
            output, rates = sparse.apply(ctx, table, transform)
    elif params.input_format == "dense":
        transform = _fit(ctx, table, params)
        output, rates = _apply(ctx, table, transform)
    else:
        transform, output, rates = sparse.fit(ctx, table, params)
    ctx.outputs[0].write(output)
    ctx.models.save(param={"transform": asdict(transform)}, meta={"input_format": transform.input_format,
                                                                   "with_label": transform.label_name is not None})
    if ctx.stage != PREDICT and (transform.missing_fill is not None or transform.outlier_replace is not None):
        ctx.summary(_summary(transform, rates))
    ctx.logger.info("%s: %d rows, %d features, label %s", ctx.component_name, output.count(),
                    len(transform.header), transform.label_name)


# -- fit ----------------------------------------------------------------------------------------------------------
def _fit(ctx: Context, table: Table, params: DataTransformParams) -> Transform:
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
    numeric = [c for c in header if transform.type_of(c) != "str"]
    if params.missing_fill:
        transform.missing_fill = _replacements(ctx, table, numeric, transform.missing_values, [],
                                               params.missing_fill_method, params.default_value, "default_value")
    if params.outlier_replace:
        transform.outlier_replace = _replacements(ctx, table, numeric, transform.missing_values,
                                                  transform.outlier_values, params.outlier_replace_method,
                                                  params.outlier_replace_value, "outlier_replace_value")
    return transform


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


def _replacements(ctx: Context, table: Table, columns: list[str], missing: list[str], outliers: list[str],
                  method: str | None, designated: Any, field_name: str) -> dict[str, float]:
    """The value that replaces missing (or outlier) values, per column: ``designated`` (one value or one per
    column) unless ``method`` says min, max or mean of the column's valid values."""
    if method in (None, "designated"):
        if isinstance(designated, list):
            if len(designated) != len(columns):
                raise ComponentError(f"{ctx.component_name}: {field_name} lists {len(designated)} values for "
                                     f"{len(columns)} features")
            return {c: float(v) for c, v in zip(columns, designated, strict=True)}
        return dict.fromkeys(columns, float(designated))
    values: dict[str, float] = {}
    for column in columns:
        numbers = table.floats(column, [*missing, *outliers])
        valid = numbers[~np.isnan(numbers)]
        statistic = {"min": np.min, "max": np.max, "mean": np.mean}[method]
        values[column] = float(statistic(valid)) if valid.size else 0.0
    return values


# -- apply --------------------------------------------------------------------------------------------------------
def _apply(ctx: Context, table: Table, transform: Transform) -> tuple[Table, dict[str, dict[str, float]]]:
    present = set(table.schema.header) | {c for c in (table.schema.label, table.schema.weight) if c}
    absent = [c for c in transform.header if c not in present]
    if absent:
        raise ComponentError(f"{ctx.component_name}: the data lacks the columns {', '.join(absent[:10])} that the "
                             "transform was fitted with")
    rows = table.count()
    features = np.empty((rows, len(transform.header)), dtype=np.float64)
    text_columns: dict[str, np.ndarray] = {}
    rates: dict[str, dict[str, float]] = {"missing": {}, "outlier": {}}
    for index, name in enumerate(transform.header):
        if transform.type_of(name) == "str":
            text_columns[name] = table.column(name).astype(str)
            features[:, index] = np.nan
            continue
        features[:, index] = _feature(ctx, table, name, transform, rates, rows)
    labels = _labels(ctx, table, transform) if transform.label_name in present else None
    # FATE's schema names the match id column: Intersection intersects on it
    schema_extra = {"match_id_name": transform.match_id_name} if transform.match_id_name else {}
    schema = Schema(sid=table.schema.sid, header=tuple(transform.header),
                    label=transform.label_name if labels is not None else None, extra=schema_extra)
    extra = {transform.match_id_name: table.column(transform.match_id_name)} if transform.match_id_name else None
    if text_columns:
        schema = Schema(sid=schema.sid, header=tuple(c for c in transform.header if c not in text_columns),
                        label=schema.label, extra={**schema_extra, "str_columns": sorted(text_columns)})
        keep = [i for i, c in enumerate(transform.header) if c not in text_columns]
        features = features[:, keep]
        extra = {**(extra or {}), **text_columns}
    output = ctx.computing.from_numpy(schema, table.sids(), features, labels=labels, extra=extra)
    return output, rates


def _feature(ctx: Context, table: Table, name: str, transform: Transform, rates: dict, rows: int) -> np.ndarray:
    try:
        values = table.floats(name, transform.missing_values)
    except ComponentError as exc:
        raise ComponentError(f"{ctx.component_name}: feature {exc} (set data_type or exclusive_data_type "
                             "to str to keep it as text)") from None
    if transform.outlier_replace is not None and transform.outlier_values:
        outliers = np.isin(_as_text(table.column(name)), transform.outlier_values)
        rates["outlier"][name] = float(outliers.mean()) if rows else 0.0
        values[outliers] = transform.outlier_replace.get(name, 0.0)
    missing = np.isnan(values)
    if transform.missing_fill is not None:
        rates["missing"][name] = float(missing.mean()) if rows else 0.0
        values[missing] = transform.missing_fill.get(name, 0.0)
    if transform.type_of(name) in INTEGER_TYPES:
        values = np.where(np.isnan(values), values, np.trunc(values))
    if transform.output_format == "sparse":
        values[np.abs(values) < FLOAT_ZERO] = 0.0
    return values


def _as_text(column: np.ndarray) -> np.ndarray:
    if column.dtype.kind in "fiu":
        return np.array([format(v, "g") for v in column], dtype=object)
    return np.char.strip(column.astype(str))


def _labels(ctx: Context, table: Table, transform: Transform) -> np.ndarray:
    name = transform.label_name
    if transform.label_type == "str":
        return table.column(name).astype(str)
    values = table.floats(name)
    if np.isnan(values).any():
        raise ComponentError(f"{ctx.component_name}: label column {name!r} has {int(np.isnan(values).sum())} "
                             "missing values")
    if transform.label_type in INTEGER_TYPES:
        if not np.all(values == np.trunc(values)):
            raise ComponentError(f"{ctx.component_name}: label column {name!r} holds values that are not integers "
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
