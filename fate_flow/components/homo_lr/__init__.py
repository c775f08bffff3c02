"""HomoLR: logistic regression trained by FedAvg over clients that hold the same features of different
samples (guest and hosts), with the arbiter averaging their models by secure aggregation
(``fate_flow.ml.secure_agg``): it learns the average model and loss, never one client's. Binary labels,
or one-vs-rest for more classes; ``cv_param.need_cv`` for k-fold cross validation; a predict stage that
scores test data with the trained model."""

from __future__ import annotations

from pydantic import Field

from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs
from fate_flow.ml.params import LinearModelParams, PositiveInt, PredictParam, choice

RUNNER = "fate_flow.components.homo_lr.runner"


class HomoLRParams(LinearModelParams):
    """FATE 1.11's HomoLogisticParam (docs/fate-params-1.11.md §5): LogisticParam's fields with HomoLR's
    defaults. ``shuffle``, ``batch_strategy`` and ``masked_rate`` are accepted as FATE accepts them and, as
    in FATE's homo trainer, have no effect; ``encrypt_param`` too (the models are protected by secure
    aggregation, whatever its method)."""

    optimizer: choice("sgd", "rmsprop", "adam", "adagrad", "sqn", "nesterov_momentum_sgd") = "rmsprop"
    aggregate_iters: PositiveInt = 1
    predict_param: PredictParam = Field(default_factory=PredictParam)
    multi_class: choice("ovr") = "ovr"
    shuffle: bool = True
    batch_strategy: choice("full", "random") = "full"
    masked_rate: float = Field(5, ge=0)


SPEC = ComponentSpec(
    module="HomoLR",
    params=HomoLRParams,
    runners={"guest": f"{RUNNER}:run_client", "host": f"{RUNNER}:run_client", "arbiter": f"{RUNNER}:run_arbiter"},
    inputs=Inputs(data=("train_data", "validate_data", "test_data", "data"), model=True),
    outputs=Outputs(data=True, model=True),
    stages=(TRAIN, PREDICT),
    preload=("cryptography.hazmat.primitives.asymmetric.x25519",),
    description="homogeneous logistic regression: FedAvg with secure aggregation at the arbiter",
)
