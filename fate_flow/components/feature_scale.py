"""FeatureScale: min-max or standard scaling of chosen feature columns, at each party on its own columns.

The fitted column ranges, means and deviations are the model: a later FeatureScale with this model as its
input (or a predict job) scales other data exactly like the training data. FATE 1.11's ScaleParam
(docs/fate-params-1.11.md §7).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, PlainValidator, StrictBool, field_validator, model_validator

from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs, Params
from fate_flow.ml.params import choice

Bound = float | list[float] | None


def _column_indexes(value: Any) -> int | list[int]:
    """FATE's rule: -1 (every column) or a list of column indexes."""
    if value == -1 and not isinstance(value, bool):
        return -1
    if not isinstance(value, list) or any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in value):
        raise ValueError("must be -1 (every column) or a list of column indexes (integers >= 0)")
    return value


class FeatureScaleParams(Params):
    """FATE's ScaleParam. ``mode`` cap reads ``feat_upper`` / ``feat_lower`` as quantiles (defaults 1 and 0)."""

    method: choice("min_max_scale", "standard_scale") | None = "standard_scale"
    mode: choice("normal", "cap") = "normal"
    scale_col_indexes: Annotated[int | list[int], PlainValidator(_column_indexes)] = -1
    scale_names: list[str] = Field(default_factory=list)
    feat_upper: Bound = None
    feat_lower: Bound = None
    with_mean: StrictBool = True
    with_std: StrictBool = True
    need_run: StrictBool = True

    @field_validator("scale_names", mode="before")
    @classmethod
    def _no_names(cls, value: object) -> object:
        return [] if value is None else value

    @model_validator(mode="after")
    def _cap_quantiles(self) -> FeatureScaleParams:
        """In cap mode the bounds are quantiles: single numbers in [0, 1], upper not below lower (a list is
        for normal mode only, as FATE's documentation says)."""
        if self.mode != "cap":
            return self
        for name in ("feat_upper", "feat_lower"):
            value = getattr(self, name)
            if isinstance(value, list):
                raise ValueError(f"{name}: mode cap takes one quantile in [0, 1], not a list (lists are for "
                                 "mode normal)")
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"{name}: mode cap takes a quantile in [0, 1], got {value}")
        upper = 1.0 if self.feat_upper is None else self.feat_upper
        lower = 0.0 if self.feat_lower is None else self.feat_lower
        if upper < lower:
            raise ValueError(f"feat_upper ({upper}) must not be below feat_lower ({lower})")
        return self


SPEC = ComponentSpec(
    module="FeatureScale",
    params=FeatureScaleParams,
    runners={"guest": "fate_flow.components._feature_scale:run", "host": "fate_flow.components._feature_scale:run"},
    inputs=Inputs(data=("data", "train_data", "test_data"), model=True),
    outputs=Outputs(data=True, model=True),
    stages=(TRAIN, PREDICT),
    preload=("numpy",),
    description="min-max or standard scaling of feature columns",
)
