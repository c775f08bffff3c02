"""HeteroSecureBoost and HeteroFastSecureBoost: FATE's gradient-boosted trees over vertically split data (the
guest holds the label, the hosts hold features), with Paillier-encrypted gradients.

The parameters are FATE 1.11's ``HeteroSecureBoostParam`` (docs/fate-secureboost-1.11.md §1); the protocol is
in ``fate_flow.components._hetero_secureboost`` and ``fate_flow.ml.gh_packing``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs
from fate_flow.ml.params import (
    CallbackParams,
    CrossValidationParam,
    EncryptedModeCalculatorParam,
    EncryptParam,
    Nested,
    PositiveInt,
    PredictParam,
    choice,
)

RUNNER = "fate_flow.components._hetero_secureboost:run"
REGRESSION_OBJECTIVES = ("lse", "lae", "huber", "fair", "log_cosh", "tweedie")


class ObjectiveParam(Nested):
    """``objective_param``: the loss and its parameter (huber's delta, fair's c, tweedie's rho)."""

    objective: str | None = "cross_entropy"
    params: list[float] | None = None

    @field_validator("objective", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class DecisionTreeParam(Nested):
    """``tree_param``: FATE's DecisionTreeParam."""

    criterion_method: choice("xgboost") = "xgboost"
    criterion_params: list[float] | dict[str, float] = Field(default_factory=lambda: [0.1, 0.0])
    max_depth: PositiveInt = 3
    min_sample_split: int = 2
    min_impurity_split: float = 1e-3
    min_leaf_node: int = 1
    min_child_weight: float = Field(0, ge=0)
    max_split_nodes: PositiveInt = 65536
    feature_importance_type: choice("split", "gain") = "split"
    n_iter_no_change: bool = True
    tol: float = 0.001
    use_missing: bool = False
    zero_as_missing: bool = False
    deterministic: bool = False

    @field_validator("criterion_params", mode="after")
    @classmethod
    def _l2_l1(cls, value: list[float] | dict[str, float]) -> list[float]:
        """``[l2, l1]``, both >= 0 (a dict names them)."""
        if isinstance(value, dict):
            if set(value) - {"l1", "l2"}:
                raise ValueError("a dict of criterion_params takes the keys l1 and l2")
            value = [value.get("l2", 0.1), value.get("l1", 0.0)]
        if len(value) != 2 or any(v < 0 for v in value):
            raise ValueError("criterion_params must be [l2, l1], both >= 0")
        return [float(v) for v in value]


class BoostingParams(CallbackParams):
    """What FATE's boosting parameter classes share."""

    tree_param: DecisionTreeParam = Field(default_factory=DecisionTreeParam)
    task_type: choice("classification", "regression") = "classification"
    objective_param: ObjectiveParam = Field(default_factory=ObjectiveParam)
    learning_rate: float = 0.3
    num_trees: PositiveInt = 5
    subsample_feature_rate: float = Field(1.0, ge=0, le=1)
    n_iter_no_change: bool = True
    tol: float = 1e-4
    bin_num: int = Field(32, ge=2)
    predict_param: PredictParam = Field(default_factory=PredictParam)
    cv_param: CrossValidationParam = Field(default_factory=CrossValidationParam)
    random_seed: int | None = Field(100, ge=0)
    binning_error: float = Field(1e-4, ge=0, le=1)
    use_missing: bool = False
    zero_as_missing: bool = False
    multi_mode: choice("single_output", "multi_output") = "single_output"

    @model_validator(mode="after")
    def _objective(self) -> BoostingParams:
        objective, params = self.objective_param.objective, self.objective_param.params
        if self.task_type == "classification" and objective not in (None, "cross_entropy"):
            raise ValueError("objective_param.objective must be cross_entropy for classification")
        if self.task_type == "regression":
            if objective not in REGRESSION_OBJECTIVES:
                raise ValueError(f"objective_param.objective must be one of {', '.join(REGRESSION_OBJECTIVES)} "
                                 "for regression")
            if objective in ("huber", "fair", "tweedie"):
                if not params:
                    raise ValueError(f"objective_param.params must give {objective}'s parameter")
                if params[0] <= 0 or (objective == "tweedie" and not 1 <= params[0] < 2):
                    raise ValueError("objective_param.params[0] is out of range (tweedie: 1 <= rho < 2; else > 0)")
            if self.multi_mode == "multi_output":
                raise ValueError("multi_output is for classification only")
        return self

    @property
    def use_missing_values(self) -> bool:
        """``use_missing`` from the boosting or the tree parameters (FATE lets either switch it on)."""
        return self.use_missing or self.tree_param.use_missing

    @property
    def zeros_are_missing(self) -> bool:
        """``zero_as_missing`` (meaningful with ``use_missing``)."""
        return self.use_missing_values and (self.zero_as_missing or self.tree_param.zero_as_missing)


class HeteroSecureBoostParams(BoostingParams):
    """FATE's HeteroSecureBoostParam."""

    encrypt_param: EncryptParam = Field(default_factory=EncryptParam)
    encrypted_mode_calculator_param: EncryptedModeCalculatorParam = Field(
        default_factory=EncryptedModeCalculatorParam)
    complete_secure: int | bool = Field(0, ge=0)
    sparse_optimization: bool = False
    run_goss: bool = False
    top_rate: float = Field(0.2, gt=0, le=1)
    other_rate: float = Field(0.1, gt=0, le=1)
    cipher_compress_error: float | None = None
    cipher_compress: bool = True
    new_ver: bool = True
    boosting_strategy: choice("std", "layered", "mix") = "std"
    work_mode: choice("std", "layered", "mix") | None = None
    tree_num_per_party: int = Field(1, ge=1)  # mix: rounds per party per turn
    guest_depth: int = 2
    host_depth: int = 3
    EINI_inference: bool = False  # noqa: N815 (FATE's names)
    EINI_random_mask: bool = False  # noqa: N815
    EINI_complexity_check: bool = False  # noqa: N815

    @model_validator(mode="after")
    def _checks(self) -> HeteroSecureBoostParams:
        if self.top_rate + self.other_rate >= 1:
            raise ValueError("top_rate + other_rate must be below 1")
        if self.encrypt_param.method is None:
            raise ValueError("encrypt_param.method must be Paillier or IPCL")
        if self.multi_mode == "multi_output" and (self.strategy != "std" or not self.cipher_compress):
            raise ValueError("multi_output needs boosting_strategy std and cipher_compress")
        return self

    @property
    def strategy(self) -> str:
        """``work_mode`` (deprecated) overrides ``boosting_strategy``, as in FATE."""
        return self.work_mode or self.boosting_strategy

    @property
    def complete_secure_trees(self) -> int:
        """How many first trees use the guest's features only (``True`` is one, as FATE reads it)."""
        return int(self.complete_secure)


def _spec(module: str, description: str) -> ComponentSpec:
    return ComponentSpec(
        module=module, params=HeteroSecureBoostParams, runners={"guest": RUNNER, "host": RUNNER},
        inputs=Inputs(data=("data", "train_data", "validate_data", "test_data"), model=True),
        outputs=Outputs(data=True, model=True), stages=(TRAIN, PREDICT), preload=("gmpy2", "numpy"),
        description=description)


SPECS = (
    _spec("HeteroSecureBoost", "hetero SecureBoost: gradient-boosted trees with Paillier-encrypted gradients"),
    _spec("HeteroFastSecureBoost", "hetero SecureBoost with FATE's fast strategies (layered, mix)"),
)
