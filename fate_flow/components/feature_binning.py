"""HeteroFeatureBinning: each party bins its own feature columns (quantile, bucket or optimal split points, or
manual ones); the guest, which holds the label, computes WOE and IV of its columns and, through Paillier, of
the hosts' columns without seeing their values or split points (the hosts never see a label in clear).

The split points (and the IV results at the guest) are the model: a later HeteroFeatureBinning with it as its
``model`` input bins other data the same way. FATE 1.11's HeteroFeatureBinningParam
(docs/fate-secureboost-1.11.md §6.1).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictBool, field_validator, model_validator

from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs, Params
from fate_flow.ml.params import EncryptParam, Nested, PositiveInt, choice


def _indexes(value: Any) -> Any:
    """FATE's column choice: -1 (every column), a list of indexes, or null."""
    if value is None or (value == -1 and not isinstance(value, bool)):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if not isinstance(value, list) or any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in value):
        raise ValueError("must be -1 (every column) or a list of column indexes (integers >= 0)")
    return value


Indexes = Annotated[int | list[int] | None, BeforeValidator(_indexes)]


def _metric(value: Any) -> Any:
    """``chi-square`` is FATE's other spelling of ``chi_square``."""
    return value.lower().replace("-", "_") if isinstance(value, str) else value


class TransformParam(Nested):
    """``transform_param``: which columns the output replaces, and by what (bin index or WOE)."""

    transform_cols: Indexes = -1
    transform_names: list[str] | None = None
    transform_type: choice("bin_num", "woe", none_as=None) | None = "bin_num"

    @field_validator("transform_type", mode="before")
    @classmethod
    def _none(cls, value: Any) -> Any:
        return None if value is None or (isinstance(value, str) and value.lower() == "none") else value


class OptimalBinningParam(Nested):
    """``optimal_binning_param``: the metric and constraints of optimal binning."""

    metric_method: Annotated[choice("iv", "gini", "chi_square", "ks"), BeforeValidator(_metric)] = "iv"
    min_bin_pct: float = Field(0.05, ge=0, le=1)
    max_bin_pct: float = Field(1.0, ge=0, le=1)
    init_bin_nums: PositiveInt = 1000
    mixture: StrictBool = True
    init_bucket_method: choice("quantile", "bucket") = "quantile"

    @model_validator(mode="after")
    def _pcts(self) -> OptimalBinningParam:
        if self.min_bin_pct > self.max_bin_pct:
            raise ValueError("min_bin_pct must not exceed max_bin_pct")
        return self


SplitPoints = dict[str, list[float]] | None


class FeatureBinningParams(Params):
    """FATE's HeteroFeatureBinningParam (HomoFeatureBinning's shares it, see homo_feature_binning)."""

    method: choice("quantile", "bucket", "optimal") = "quantile"
    compress_thres: PositiveInt = 10000
    head_size: PositiveInt = 10000
    error: float = Field(1e-4, ge=0, le=1)
    bin_num: PositiveInt = 10
    bin_indexes: Indexes = -1
    bin_names: list[str] | None = None
    adjustment_factor: float = Field(0.5, gt=0, lt=1)
    category_indexes: Indexes = None
    category_names: list[str] | None = None
    local_only: StrictBool = False
    transform_param: TransformParam = Field(default_factory=TransformParam)
    optimal_binning_param: OptimalBinningParam = Field(default_factory=OptimalBinningParam)
    encrypt_param: EncryptParam = Field(default_factory=EncryptParam)
    need_run: StrictBool = True
    skip_static: StrictBool = False
    split_points_by_index: SplitPoints = None
    split_points_by_col_name: SplitPoints = None

    @field_validator("split_points_by_index", "split_points_by_col_name", mode="after")
    @classmethod
    def _sorted(cls, value: SplitPoints) -> SplitPoints:
        for key, points in (value or {}).items():
            if any(b <= a for a, b in zip(points, points[1:], strict=False)):
                raise ValueError(f"split points of {key!r} must be strictly increasing")
        return value

    @model_validator(mode="after")
    def _checks(self) -> FeatureBinningParams:
        if self.encrypt_param.method != "Paillier":
            raise ValueError("encrypt_param.method must be Paillier for feature binning")
        if self.skip_static and self.method == "optimal":
            raise ValueError("skip_static cannot be used with method optimal (it needs the label statistics)")
        if self.skip_static and self.transform_param.transform_type == "woe":
            raise ValueError("skip_static cannot be used with transform_type woe (WOE needs the statistics)")
        for key in self.split_points_by_index or {}:
            if not key.lstrip("-").isdigit() or int(key) < 0:
                raise ValueError(f"split_points_by_index: key {key!r} is not a column index")
        return self


SPEC = ComponentSpec(
    module="HeteroFeatureBinning",
    params=FeatureBinningParams,
    runners={"guest": "fate_flow.components._feature_binning:run",
             "host": "fate_flow.components._feature_binning:run"},
    inputs=Inputs(data=("data", "train_data", "test_data"), model=True),
    outputs=Outputs(data=True, model=True),
    stages=(TRAIN, PREDICT),
    preload=("gmpy2", "numpy"),
    description="feature binning with WOE/IV, hosts' IV through Paillier",
)
