"""HeteroFeatureSelection: each party drops feature columns by a pipeline of filters (manually, IV from a binning
model, statistics, PSI, feature importance, VIF, correlation, percentage of one value). The IV filter is
federated: the guest ranks the hosts' columns by the IVs its binning model holds for them (anonymous names)
and tells each host which of its columns stay.

The surviving columns are the model: a later HeteroFeatureSelection with it as its ``model`` input keeps the
same columns of other data. FATE 1.11's FeatureSelectionParam (docs/fate-secureboost-1.11.md §7.1).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictBool, field_validator, model_validator

from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs, Params
from fate_flow.ml.params import Nested

FILTERS = ("manually", "iv_filter", "statistic_filter", "psi_filter", "hetero_sbt_filter", "homo_sbt_filter",
           "hetero_fast_sbt_filter", "percentage_value", "vif_filter", "correlation_filter",
           # deprecated spellings, each run as one of the above
           "unique_value", "iv_value_thres", "iv_percentile", "iv_top_k", "coefficient_of_variation_value_thres",
           "outlier_cols")
FILTER_TYPES = ("threshold", "top_k", "top_percentile")
MERGE_TYPES = ("average", "max", "min")


def _lower_list(value: Any) -> Any:
    if isinstance(value, str):
        return [value.lower()]
    if isinstance(value, list):
        return [v.lower() if isinstance(v, str) else v for v in value]
    return value


def _indexes(value: Any) -> Any:
    if value == -1 and not isinstance(value, bool):
        return -1
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if value is None:
        return []
    if not isinstance(value, list) or any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in value):
        raise ValueError("must be -1 (every column) or a list of column indexes (integers >= 0)")
    return value


class CommonFilterParam(Nested):
    """FATE's CommonFilterParam: one filter run per metric; scalar settings apply to every run."""

    metrics: str | list[str]
    filter_type: str | list[str] = "threshold"
    take_high: bool | list[bool] = True
    threshold: float | list[float] = 1
    host_thresholds: float | list[Any] | None = None
    select_federated: bool | list[bool] = True

    def runs(self) -> list[dict[str, Any]]:
        """One settings dict per metric (lists given per metric, scalars broadcast), checked as FATE checks."""
        metrics = self.metrics if isinstance(self.metrics, list) else [self.metrics]
        out = []
        for index, metric in enumerate(metrics):
            run = {"metrics": metric}
            for name in ("filter_type", "take_high", "threshold", "select_federated", "mul_class_merge_type"):
                if name not in type(self).model_fields:
                    continue
                value = getattr(self, name)
                if isinstance(value, list):
                    if len(value) != len(metrics):
                        raise ValueError(f"{name} lists {len(value)} values for {len(metrics)} metrics")
                    value = value[index]
                run[name] = value
            run["host_thresholds"] = self._host_thresholds(index, len(metrics))
            _check_run(run)
            out.append(run)
        return out

    def _host_thresholds(self, index: int, count: int) -> list[float] | None:
        value = self.host_thresholds
        if value is None:
            return None
        if not isinstance(value, list):
            return [float(value)]
        per_metric = len(value) == count and all(v is None or isinstance(v, list) for v in value) and (
            count > 1 or isinstance(self.metrics, list))
        if per_metric:
            chosen = value[index]
            return None if chosen is None else [float(v) for v in chosen]
        return [float(v) for v in value]


def _check_run(run: dict[str, Any]) -> None:
    kind = str(run["filter_type"]).lower()
    if kind not in FILTER_TYPES:
        raise ValueError(f"filter_type must be one of {', '.join(FILTER_TYPES)}")
    run["filter_type"] = kind
    threshold = run["threshold"]
    if kind == "top_k" and (not float(threshold).is_integer() or threshold <= 0):
        raise ValueError("a top_k threshold must be a positive integer")
    if kind == "top_percentile" and not 0 <= threshold <= 1:
        raise ValueError("a top_percentile threshold must be in [0, 1]")
    if "mul_class_merge_type" in run and str(run["mul_class_merge_type"]).lower() not in MERGE_TYPES:
        raise ValueError(f"mul_class_merge_type must be one of {', '.join(MERGE_TYPES)}")


class IVFilterParam(CommonFilterParam):
    """FATE's IVFilterParam: metrics ``iv`` only, high values kept; multi-class IVs merged per column."""

    metrics: str | list[str] = "iv"
    mul_class_merge_type: str | list[str] = "average"

    @model_validator(mode="after")
    def _iv_only(self) -> IVFilterParam:
        metrics = self.metrics if isinstance(self.metrics, list) else [self.metrics]
        takes = self.take_high if isinstance(self.take_high, list) else [self.take_high]
        if any(m.lower() != "iv" for m in metrics) or not all(takes):
            raise ValueError("iv_param: metrics must be iv and take_high true")
        self.runs()
        return self


class StatisticFilterParam(CommonFilterParam):
    metrics: str | list[str] = "mean"

    @model_validator(mode="after")
    def _valid(self) -> StatisticFilterParam:
        self.runs()
        return self


class PsiFilterParam(CommonFilterParam):
    metrics: str | list[str] = "psi"
    take_high: bool | list[bool] = False

    @model_validator(mode="after")
    def _low(self) -> PsiFilterParam:
        if any(self.take_high if isinstance(self.take_high, list) else [self.take_high]):
            raise ValueError("psi_param: take_high must be false")
        self.runs()
        return self


class VifFilterParam(CommonFilterParam):
    metrics: str | list[str] = "vif"
    threshold: float | list[float] = 5.0
    take_high: bool | list[bool] = False

    @model_validator(mode="after")
    def _valid(self) -> VifFilterParam:
        self.runs()
        return self


class SbtFilterParam(CommonFilterParam):
    metrics: str | list[str] = "feature_importance"

    @model_validator(mode="after")
    def _high(self) -> SbtFilterParam:
        if not all(self.take_high if isinstance(self.take_high, list) else [self.take_high]):
            raise ValueError("sbt_param: take_high must be true")
        self.runs()
        return self


class CorrelationFilterParam(Nested):
    sort_metric: str = "iv"
    threshold: float = Field(0.1, gt=0)
    select_federated: StrictBool = True

    @field_validator("sort_metric")
    @classmethod
    def _iv(cls, value: str) -> str:
        if value.lower() != "iv":
            raise ValueError("sort_metric must be iv")
        return "iv"


class UniqueValueParam(Nested):
    eps: float = Field(1e-5, gt=0)


class IVValueSelectionParam(Nested):
    value_threshold: float = 0.0
    host_thresholds: list[float] | None = None
    local_only: StrictBool = False


class IVPercentileSelectionParam(Nested):
    percentile_threshold: float = Field(1.0, ge=0, le=1)
    local_only: StrictBool = False


class IVTopKParam(Nested):
    k: int = Field(10, gt=0)
    local_only: StrictBool = False


class VarianceOfCoeSelectionParam(Nested):
    value_threshold: float = Field(1.0, gt=0)


class OutlierColsSelectionParam(Nested):
    percentile: float = Field(1.0, ge=0, le=1)
    upper_threshold: float = 1.0


class ManuallyFilterParam(Nested):
    filter_out_indexes: list[int] | None = None
    filter_out_names: list[str] | None = None
    left_col_indexes: list[int] | None = None
    left_col_names: list[str] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ManuallyFilterParam:
        if (self.filter_out_indexes or self.filter_out_names) and (self.left_col_indexes or self.left_col_names):
            raise ValueError("manually_param: give columns to filter out or columns to keep, not both")
        return self


class PercentageValueParam(Nested):
    upper_pct: float = Field(1.0, ge=0.1, le=1)


class FeatureSelectionParams(Params):
    """FATE's FeatureSelectionParam."""

    select_col_indexes: Annotated[int | list[int], BeforeValidator(_indexes)] = -1
    select_names: list[str] | None = Field(default_factory=list)
    filter_methods: Annotated[list[str], BeforeValidator(_lower_list)] = Field(default_factory=lambda: ["manually"])
    unique_param: UniqueValueParam = Field(default_factory=UniqueValueParam)
    iv_value_param: IVValueSelectionParam = Field(default_factory=IVValueSelectionParam)
    iv_percentile_param: IVPercentileSelectionParam = Field(default_factory=IVPercentileSelectionParam)
    iv_top_k_param: IVTopKParam = Field(default_factory=IVTopKParam)
    variance_coe_param: VarianceOfCoeSelectionParam = Field(default_factory=VarianceOfCoeSelectionParam)
    outlier_param: OutlierColsSelectionParam = Field(default_factory=OutlierColsSelectionParam)
    manually_param: ManuallyFilterParam = Field(default_factory=ManuallyFilterParam)
    percentage_value_param: PercentageValueParam = Field(default_factory=PercentageValueParam)
    iv_param: IVFilterParam = Field(default_factory=IVFilterParam)
    statistic_param: StatisticFilterParam = Field(default_factory=StatisticFilterParam)
    psi_param: PsiFilterParam = Field(default_factory=PsiFilterParam)
    vif_param: VifFilterParam = Field(default_factory=VifFilterParam)
    sbt_param: SbtFilterParam = Field(default_factory=SbtFilterParam)
    correlation_param: CorrelationFilterParam = Field(default_factory=CorrelationFilterParam)
    use_anonymous: StrictBool = False
    need_run: StrictBool = True

    @field_validator("filter_methods", mode="after")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [m for m in value if m not in FILTERS]
        if unknown:
            raise ValueError(f"unknown filter methods {unknown}; known: {', '.join(FILTERS)}")
        return value


SPEC = ComponentSpec(
    module="HeteroFeatureSelection",
    params=FeatureSelectionParams,
    runners={"guest": "fate_flow.components._feature_selection:run",
             "host": "fate_flow.components._feature_selection:run"},
    inputs=Inputs(data=("data", "train_data", "test_data"), model=True, isometric_model=True),
    outputs=Outputs(data=True, model=True),
    stages=(TRAIN, PREDICT),
    preload=("numpy",),
    description="feature selection by a pipeline of filters (IV federated through the binning model)",
)
