"""FeatureImputation's runner: fit the replacement value of every column (train stage) or load them
(predict stage), then replace, column by column, vectorised.

As FATE 1.11 does: a value is missing when it is in ``missing_impute`` (default: the empty and null
texts and NaN, i.e. NaN in a typed table); a column's method is ``col_missing_fill_method[column]``, else
``missing_fill_method``; a column whose method is None is skipped (not imputed). min, max and mean are
those of the column's values that are neither missing nor NaN; designated is ``default_value`` (one
value, one per feature, or per feature name).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from fate_flow.components._tables import MISSING_TEXTS, float_matrix, json_number, replace_features
from fate_flow.components.feature_imputation import FeatureImputationParams
from fate_flow.framework import PREDICT, ComponentError, Context, Table

DEFAULT_MISSING: tuple[Any, ...] = ("", "none", "null", "na", "None", None)  # None stands for NaN
STATISTICS = {"min": np.min, "max": np.max, "mean": np.mean}


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
        numbers, nan_is_missing = _missing_numbers(self.missing_values)
        mask = np.isin(values, numbers) if numbers.size else np.zeros(values.shape, dtype=bool)
        return mask | np.isnan(values) if nan_is_missing else mask


def run(ctx: Context) -> None:
    """Fit or load the imputer, replace the missing values, write the data and the model."""
    params: FeatureImputationParams = ctx.params
    table = ctx.inputs.first("data", "train_data", "test_data")
    imputer = Imputer(**ctx.models.load().param["imputer"]) if ctx.stage == PREDICT else _fit(ctx, table, params)
    output, rates = _apply(ctx, table, imputer)
    ctx.outputs[0].write(output)
    ctx.models.save(param=_model_param(imputer, rates), meta=_model_meta(imputer))
    if ctx.stage != PREDICT:
        ctx.summary({"missing_value": imputer.missing_values,
                     "missing_impute_value": {c: imputer.fill.get(c, 0) for c in imputer.header},
                     "missing_impute_rate": rates, "skip_cols": imputer.skip_cols})
    ctx.logger.info("%s: %d rows, imputed %s", ctx.component_name, output.count(), rates)


def _missing_numbers(missing_values: list[Any]) -> tuple[np.ndarray, bool]:
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


def _fit(ctx: Context, table: Table, params: FeatureImputationParams) -> Imputer:
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
    values = float_matrix(table, imputed)
    for index, column in enumerate(imputed):
        method = methods[column]
        if method == "designated":
            imputer.fill[column] = designated[column]
            continue
        col = values[:, index]
        valid = col[~imputer.missing(col) & ~np.isnan(col)]
        if not valid.size:
            raise ComponentError(f"{ctx.component_name}: feature {column!r} has no value that is not missing: its "
                                 f"{method} is undefined (give it the designated method)")
        imputer.fill[column] = float(STATISTICS[method](valid))
    return imputer


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


def _apply(ctx: Context, table: Table, imputer: Imputer) -> tuple[Table, dict[str, float]]:
    header = list(table.schema.header)
    absent = [c for c in imputer.header if c not in header]
    if absent:
        raise ComponentError(f"{ctx.component_name}: the data lacks the features {absent[:10]} the imputer was "
                             "fitted with")
    values = float_matrix(table, header)
    rows = len(values)
    rates = dict.fromkeys(imputer.header, 0.0)
    for index, column in enumerate(header):
        if column not in imputer.fill:
            continue
        mask = imputer.missing(values[:, index])
        values[mask, index] = imputer.fill[column]
        rates[column] = float(mask.sum()) / rows if rows else 0.0
    return replace_features(table, header, values), rates


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
