"""HeteroLR, HeteroLinR and HeteroPoisson: FATE's hetero linear models (guest, hosts, arbiter) with Paillier.

One protocol (``fate_flow.ml.hetero_linear``) and three families; the parameters are FATE 1.11's
(docs/fate-params-1.11.md §4, §8, §9), each module's optimizer list and defaults as FATE narrows them
(``sqn``, HeteroLR's and HeteroLinR's only: ``fate_flow.ml.sqn``).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs
from fate_flow.ml.params import EncryptedModeCalculatorParam, LinearModelParams, PredictParam, SqnParam, choice

RUNNER = "fate_flow.components._hetero_linear:run"
ROLES = {"guest": RUNNER, "host": RUNNER, "arbiter": RUNNER}


class HeteroLRParams(LinearModelParams):
    """FATE's HeteroLogisticParam."""

    optimizer: choice("sgd", "rmsprop", "adam", "adagrad", "sqn", "nesterov_momentum_sgd") = "rmsprop"
    shuffle: bool = True
    batch_strategy: choice("full", "random") = "full"
    masked_rate: float = Field(5, ge=0)
    predict_param: PredictParam = Field(default_factory=PredictParam)
    multi_class: choice("ovr") = "ovr"
    encrypted_mode_calculator_param: EncryptedModeCalculatorParam = Field(
        default_factory=EncryptedModeCalculatorParam)
    sqn_param: SqnParam = Field(default_factory=SqnParam)

    @model_validator(mode="after")
    def _paillier(self) -> HeteroLRParams:
        if self.encrypt_param.method is None:
            raise ValueError("encrypt_param.method must be Paillier or IPCL for HeteroLR")
        return self


class PaillierOnlyParams(LinearModelParams):
    """LinR and Poisson take Paillier alone (FATE refuses IPCL and null for them)."""

    @model_validator(mode="after")
    def _paillier(self) -> LinearModelParams:
        if self.encrypt_param.method != "Paillier":
            raise ValueError("encrypt_param.method must be Paillier")
        return self


class HeteroLinRParams(PaillierOnlyParams):
    """FATE's LinearParam (nesterov_momentum_sgd refused, Paillier only)."""

    optimizer: choice("sgd", "rmsprop", "adam", "adagrad", "sqn") = "sgd"
    max_iter: int = Field(20, gt=0)
    sqn_param: SqnParam = Field(default_factory=SqnParam)
    encrypted_mode_calculator_param: EncryptedModeCalculatorParam = Field(
        default_factory=EncryptedModeCalculatorParam)


class HeteroPoissonParams(PaillierOnlyParams):
    """FATE's PoissonParam (no sqn, no nesterov; an optional exposure column)."""

    optimizer: choice("sgd", "rmsprop", "adam", "adagrad") = "rmsprop"
    max_iter: int = Field(20, gt=0)
    exposure_colname: str | None = None
    encrypted_mode_calculator_param: EncryptedModeCalculatorParam = Field(
        default_factory=EncryptedModeCalculatorParam)


def _spec(module: str, params: type, description: str) -> ComponentSpec:
    return ComponentSpec(
        module=module, params=params, runners=ROLES,
        inputs=Inputs(data=("data", "train_data", "validate_data", "test_data"), model=True),
        outputs=Outputs(data=True, model=True), stages=(TRAIN, PREDICT),
        preload=("gmpy2", "numpy"), description=description)


SPECS = (
    _spec("HeteroLR", HeteroLRParams, "hetero logistic regression with Paillier (binary and one-vs-rest)"),
    _spec("HeteroLinR", HeteroLinRParams, "hetero linear regression with Paillier"),
    _spec("HeteroPoisson", HeteroPoissonParams, "hetero Poisson regression with Paillier"),
)
