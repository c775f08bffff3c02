"""FeatureImputation: each party replaces the missing values of its own features, per column by the
column's min, max or mean, or by a designated value; the values found at fit are the model, so a
predict stage (or a second component loading the model) replaces with exactly those. Nothing is
exchanged between parties."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs, Params
from fate_flow.ml.params import choice

FillMethod = choice("min", "max", "mean", "designated")


class FeatureImputationParams(Params):
    """FATE 1.11's FeatureImputationParam (docs/fate-params-1.11.md §13)."""

    default_value: Any = 0
    missing_fill_method: FillMethod | None = None
    col_missing_fill_method: dict[str, FillMethod] | None = None
    missing_impute: list[Any] | None = None

    @field_validator("default_value")
    @classmethod
    def _numbers(cls, value: Any) -> Any:
        """Features are numbers: the designated value is a number, a list of numbers (one per feature) or a
        dict of numbers (per feature name); None is 0."""
        values = value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
        for item in values:
            if item is not None and (isinstance(item, bool) or not _is_number(item)):
                raise ValueError("must be a number, a list of numbers (one per feature) or a dict feature -> number")
        return value


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


SPEC = ComponentSpec(
    module="FeatureImputation",
    params=FeatureImputationParams,
    runners={"guest": "fate_flow.components._feature_imputation:run",
             "host": "fate_flow.components._feature_imputation:run"},
    inputs=Inputs(data=("data", "train_data", "test_data"), model=True),
    outputs=Outputs(data=True, model=True),
    stages=(TRAIN, PREDICT),
    description="missing feature values replaced per column (min, max, mean or designated)",
)
