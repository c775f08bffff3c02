"""FeatureImputation's runner: fit the replacement value of every column (train stage) or load them
(predict stage), then replace, batch by batch where the table lives (Spark's executors on Spark).

As FATE 1.11 does: a value is missing when it is in ``missing_impute`` (default: the empty and null
texts and NaN, i.e. NaN in a typed table); a column's method is ``col_missing_fill_method[column]``, else
``missing_fill_method``; a column whose method is None is skipped (not imputed). min, max and mean are
those of the column's values that are neither missing nor NaN; designated is ``default_value`` (one
value, one per feature, or per feature name).

The rows are read twice: one census pass (``Table.aggregate``) finds, per feature, the statistics the fit
needs, how many values are missing (the rates the model and the summary report) and whether a value is not
a number; then ``Table.map_batches`` writes the replaced features. Every feature comes out float64, after
the table's other columns, as before. The mean is the batches' sums added up over their count (it may differ
from numpy's whole-column mean in the last digits).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from fate_flow.components._summaries import merge, summarise
from fate_flow.components._tables import MISSING_TEXTS, json_number
from fate_flow.components.feature_imputation import FeatureImputationParams
from fate_flow.engine.columns import floats
from fate_flow.framework import PREDICT, ComponentError, Context, Table

DEFAULT_MISSING: tuple[Any, ...] = ("", "none", "null", "na", "None", None)  # None stands for NaN
STATISTICS = ("min", "max", "mean")


@dataclass
class Imputer:
    """What fit found, applied unchanged at predict (it is the model)."""

    header: list[str]
    missing_values: list[Any]  # JSON: None stands for NaN
    methods: dict[str, str | None]
    fill: dict[str, float]  # per imputed column
    strategy: str | None = None

    @property
    def skip_cols(self) -> list[str]:
        """The columns not imputed (no method)."""
        return [c for c in self.header if self.methods.get(c) is None]

    def missing(self, values: np.ndarray) -> np.ndarray:
        """Where ``values`` (one column) holds a missing value."""
        return missing_mask(self.missing_values, values)


def missing_mask(missing_values: list[Any] | tuple[Any, ...], values: np.ndarray) -> np.ndarray:
    """Where ``values`` (one column, floats) holds one of ``missing_values`` (JSON: None stands for NaN)."""
    numbers, nan_is_missing = _missing_numbers(missing_values)
    mask = np.isin(values, numbers) if numbers.size else np.zeros(values.shape, dtype=bool)
    return mask | np.isnan(values) if nan_is_missing else mask


def run(ctx: Context) -> None:
    """Fit or load the imputer, replace the missing values, write the data and the model."""
    params: FeatureImputationParams = ctx.params
    table = ctx.inputs.first("data", "train_data", "test_data")
    if ctx.stage == PREDICT:
        imputer, census = Imputer(**ctx.models.load().param["imputer"]), None
    else:
        imputer, census = _fit(ctx, table, params)
    output, rates, rows = _apply(ctx, table, imputer, census)
    ctx.outputs[0].write(output)
    ctx.models.save(param=_model_param(imputer, rates), meta=_model_meta(imputer))
    if ctx.stage != PREDICT:
        ctx.summary({"missing_value": imputer.missing_values,
                     "missing_impute_value": {c: imputer.fill.get(c, 0) for c in imputer.header},
                     "missing_impute_rate": rates, "skip_cols": imputer.skip_cols})
    ctx.logger.info("%s: %d rows, imputed %s", ctx.component_name, rows, rates)


def _missing_numbers(missing_values: list[Any] | tuple[Any, ...]) -> tuple[np.ndarray, bool]:
    """The numbers among the missing values, and whether NaN (a null text, None or NaN) is among them."""
    numbers, nan_is_missing = [], False
    for value in missing_values:
        if value is None or (isinstance(value, str) and value.strip() in MISSING_TEXTS):
            nan_is_missing = True
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue  # a text that is not a number cannot occur in a float feature
        if np.isnan(number):
            nan_is_missing = True
        else:
            numbers.append(number)
    return np.asarray(numbers, dtype=np.float64), nan_is_missing


# -- fit ----------------------------------------------------------------------------------------------------------
def _fit(ctx: Context, table: Table, params: FeatureImputationParams) -> tuple[Imputer, Census]:
    """The imputer, and the census it was fitted from (its missing counts are the train stage's rates)."""
    header = list(table.schema.header)
    per_column = params.col_missing_fill_method or {}
    unknown = [c for c in per_column if c not in header]
    if unknown:
        raise ComponentError(f"{ctx.component_name}: col_missing_fill_method names {unknown}, which are not "
                             f"features of the data (header: {', '.join(header[:20])})")
    methods = {c: per_column.get(c, params.missing_fill_method) for c in header}
    missing_values = [None if isinstance(v, float) and np.isnan(v) else v
                      for v in (params.missing_impute if params.missing_impute else DEFAULT_MISSING)]
    imputer = Imputer(header=header, missing_values=missing_values, methods=methods, fill={},
                      strategy=None if params.col_missing_fill_method else params.missing_fill_method)
    designated = _designated(ctx, header, params.default_value)
    imputed = [c for c in header if methods[c] is not None]
    described = [c for c in imputed if methods[c] != "designated"]
    census = take_census(table, CensusSpec(tuple(header), tuple(imputed), tuple(described), tuple(missing_values)))
    census.check_numbers(imputed)  # the imputed columns are read first: their bad value is the one reported
    for column in imputed:  # in header order: the fill values, and the first column without a statistic fails
        method = methods[column]
        if method == "designated":
            imputer.fill[column] = designated[column]
            continue
        if not census.valid[column]:
            raise ComponentError(f"{ctx.component_name}: feature {column!r} has no value that is not missing: its "
                                 f"{method} is undefined (give it the designated method)")
        imputer.fill[column] = census.statistics[column][method]
    return imputer, census


def _designated(ctx: Context, header: list[str], default_value: Any) -> dict[str, float]:
    """``default_value`` per feature: one value for all, a list in header order, or a dict by name."""
    if isinstance(default_value, list):
        if len(default_value) != len(header):
            raise ComponentError(f"{ctx.component_name}: default_value lists {len(default_value)} values for "
                                 f"{len(header)} features")
        return {c: float(v or 0) for c, v in zip(header, default_value, strict=True)}
    if isinstance(default_value, dict):
        return {c: float(default_value.get(c) or 0) for c in header}
    return dict.fromkeys(header, float(default_value or 0))


# -- the census: one pass where the table lives --------------------------------------------------------------------
@dataclass(frozen=True)
class CensusSpec:
    """What the census pass looks at (plain values: it is shipped to Spark's executors)."""

    columns: tuple[str, ...]  # every feature: read as numbers (a value that is not one is reported)
    counted: tuple[str, ...]  # the imputed features: their missing values are counted
    described: tuple[str, ...]  # the features whose min, max and mean the fit takes
    missing_values: tuple[Any, ...]  # the imputer's (JSON: None stands for NaN)


@dataclass
class Census:
    """What the census found: the rows, per counted feature its missing values, per described feature the
    number of its valid values and their min, max and mean, and per feature the error of its first value
    that is not a number (if any)."""

    rows: int
    missing: dict[str, int]
    valid: dict[str, int]
    statistics: dict[str, dict[str, float]]
    errors: dict[str, str]

    def check_numbers(self, columns: list[str]) -> None:
        """Raise the error of the first of ``columns`` (in that order) that holds a value that is not a number,
        as reading the columns one after the other would."""
        for column in columns:
            if column in self.errors:
                raise ComponentError(self.errors[column])

    def rates(self, imputer: Imputer, header: list[str]) -> dict[str, float]:
        """The share of each imputed feature's values that are replaced; 0 for the others (and without rows)."""
        rates = dict.fromkeys(imputer.header, 0.0)
        for column in header:
            if column in imputer.fill:
                rates[column] = float(self.missing[column]) / self.rows if self.rows else 0.0
        return rates


def take_census(table: Table, spec: CensusSpec) -> Census:
    """The census of ``table``'s features ``spec.columns``, from partial results of its batches."""
    found = None
    if spec.columns:
        found = table.aggregate(functools.partial(_batch_census, spec), _merge_census, spec.columns)
    if found is None:  # no batch (or no feature): the census of no rows
        found = _batch_census(spec, pa.RecordBatch.from_pydict({c: pa.array([], pa.float64()) for c in spec.columns}))
    summary, statistics = found["valid"], {}
    for index, column in enumerate(spec.described):
        count = int(summary["count"][index])
        with np.errstate(invalid="ignore"):  # inf and -inf among the values: NaN, as numpy's mean
            mean = float(summary["sum"][index] / count) if count else float("nan")
        statistics[column] = {"min": float(summary["min"][index]), "max": float(summary["max"][index]), "mean": mean}
    return Census(rows=int(found["rows"]), errors=dict(found["errors"]),
                  missing={c: int(found["missing"][i]) for i, c in enumerate(spec.counted)},
                  valid={c: int(summary["count"][i]) for i, c in enumerate(spec.described)}, statistics=statistics)


# -- batch functions: they run where the table lives ---------------------------------------------------------------
def _batch_census(spec: CensusSpec, batch: pa.RecordBatch) -> dict[str, Any]:
    """One batch's partial census (plain values the codec carries: numbers, numeric arrays, texts)."""
    counted = {c: i for i, c in enumerate(spec.counted)}
    missing_counts = np.zeros(len(spec.counted), np.int64)
    errors: dict[str, str] = {}
    valid: dict[str, np.ndarray] = {}
    for column in spec.columns:
        try:
            values = floats(batch.column(column), column, MISSING_TEXTS)
        except ComponentError as exc:  # reported by the task in column order (the first bad value of the column)
            errors[column] = str(exc)
            continue
        missing = missing_mask(spec.missing_values, values)
        if column in counted:
            missing_counts[counted[column]] = int(missing.sum())
        valid[column] = values[~missing & ~np.isnan(values)]
    return {"rows": batch.num_rows, "errors": errors, "missing": missing_counts,
            "valid": summarise([valid.get(c, np.empty(0)) for c in spec.described])}


def _merge_census(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two parts' census as one's. ``a`` is the earlier part: its error of a column is the column's first."""
    return {**merge({k: v for k, v in a.items() if k != "errors"}, {k: v for k, v in b.items() if k != "errors"}),
            "errors": {**b["errors"], **a["errors"]}}


def _impute_batch(imputer: Imputer, header: tuple[str, ...], batch: pa.RecordBatch) -> pa.RecordBatch:
    """One batch with its missing feature values replaced: the other columns as they are, then every feature
    (``header`` order) as float64."""
    features = set(header)
    kept = [name for name in batch.schema.names if name not in features]
    values = [floats(batch.column(name), name, MISSING_TEXTS) for name in header]  # read all first, as before
    for name, column in zip(header, values, strict=True):
        if name in imputer.fill:
            column[imputer.missing(column)] = imputer.fill[name]
    return pa.RecordBatch.from_arrays([batch.column(name) for name in kept] + [pa.array(v) for v in values],
                                      names=kept + list(header))


# -- apply ----------------------------------------------------------------------------------------------------------
def _apply(ctx: Context, table: Table, imputer: Imputer, census: Census | None) -> tuple[Table, dict[str, float], int]:
    """The imputed table (computed where the table lives), the rates and the rows; without the fit's census
    (predict) one census pass counts the missing values."""
    header = list(table.schema.header)
    absent = [c for c in imputer.header if c not in header]
    if absent:
        raise ComponentError(f"{ctx.component_name}: the data lacks the features {absent[:10]} the imputer was "
                             "fitted with")
    if census is None:
        census = take_census(table, CensusSpec(tuple(header), tuple(c for c in header if c in imputer.fill), (),
                                               tuple(imputer.missing_values)))
    census.check_numbers(header)  # a value that is not a number fails here, in the task, not in the executors
    features = set(header)
    stored = table.arrow_schema()
    columns = pa.schema([*(f for f in stored if f.name not in features), *(pa.field(c, pa.float64()) for c in header)])
    output = table.map_batches(functools.partial(_impute_batch, imputer, tuple(header)), columns)
    return output, census.rates(imputer, header), census.rows


def _model_param(imputer: Imputer, rates: dict[str, float]) -> dict[str, Any]:
    """FATE's FeatureImputationParam (header, imputer_param), and the imputer as this component reloads it."""
    return {"header": imputer.header,
            "imputerParam": {"missingReplaceValue": {c: json_number(v) for c, v in imputer.fill.items()},
                             "missingValueRatio": rates,
                             "colsReplaceMethod": {c: str(m) for c, m in imputer.methods.items()},
                             "skipCols": imputer.skip_cols},
            "imputer": asdict(imputer)}


def _model_meta(imputer: Imputer) -> dict[str, Any]:
    """FATE's FeatureImputationMeta."""
    return {"needRun": True, "imputerMeta": {
        "isImputer": True, "strategy": imputer.strategy or "",
        "missingValue": ["nan" if v is None else str(v) for v in imputer.missing_values],
        "missingValueType": ["float" if v is None else type(v).__name__ for v in imputer.missing_values]}}
