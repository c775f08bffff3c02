"""FATE 1.11's shared parameter classes (docs/fate-params-1.11.md §3), as typed pydantic models.

FATE's ``check()`` rules become validators here: choices are lower-cased (or upper-cased) before they
are compared, as FATE does, so ``"RMSProp"`` is ``rmsprop``; anything else is refused at submit naming
the field. Every algorithm's ``Params`` class builds on these; none repeats them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from fate_flow.framework.params import Params


def choice(*allowed: str, case: str = "lower", none_as: str | None = None) -> Any:
    """An annotated ``str`` that must be one of ``allowed`` once lower- (or upper-) cased, as FATE checks."""

    def normalise(value: Any) -> Any:
        if value is None and none_as is not None:
            return none_as
        if not isinstance(value, str):
            raise ValueError(f"must be one of {', '.join(allowed)}")
        value = value.lower() if case == "lower" else value.upper() if case == "upper" else value
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return Annotated[str, BeforeValidator(normalise)]


def _positive(value: int) -> int:
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


PositiveInt = Annotated[int, AfterValidator(_positive)]


class Nested(BaseModel):
    """A nested FATE parameter object: unknown keys refused, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class InitParam(Nested):
    """``init_param``: how the weights start."""

    init_method: choice("random_uniform", "random_normal", "ones", "zeros", "const") = "random_uniform"
    init_const: float = 1.0
    fit_intercept: bool = True
    random_seed: int | None = None


def _encrypt_method(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be Paillier, IPCL or null")
    lowered = value.lower()
    if lowered in ("paillier", "iterativeaffine", "randomiterativeaffine"):
        return "Paillier"  # FATE maps the two retired affine schemes to Paillier too
    if lowered == "ipcl":
        return "IPCL"
    raise ValueError("must be Paillier, IPCL or null")


class EncryptParam(Nested):
    """``encrypt_param``: the homomorphic scheme and its key length (FATE's default: 2048 bits)."""

    method: Annotated[str | None, BeforeValidator(_encrypt_method)] = "Paillier"
    key_length: int = Field(2048, gt=0)


class CrossValidationParam(Nested):
    """``cv_param``: k-fold cross validation."""

    n_splits: PositiveInt = 5
    mode: choice("homo", "hetero", case="keep") = "hetero"
    role: choice("host", "guest", "arbiter", case="keep") = "guest"
    shuffle: bool = True
    random_seed: int | None = 1
    need_cv: bool = False
    output_fold_history: bool = True
    history_value_type: choice("instance", "score") = "score"


class CallbackParam(Nested):
    """``callback_param``: validation during training, early stopping, checkpoints."""

    callbacks: list[str] = Field(default_factory=list)
    validation_freqs: int | list[int] | None = None
    early_stopping_rounds: int | None = Field(None, ge=1)
    metrics: list[str] = Field(default_factory=list)
    use_first_metric_only: bool = False
    save_freq: int = 1

    @model_validator(mode="before")
    @classmethod
    def _nones(cls, values: Any) -> Any:
        if isinstance(values, dict):
            values = dict(values)
            for key in ("callbacks", "metrics"):
                if values.get(key) is None:
                    values.pop(key, None)
        return values

    @model_validator(mode="after")
    def _rounds_need_freqs(self) -> CallbackParam:
        if isinstance(self.validation_freqs, int) and self.validation_freqs <= 0:
            raise ValueError("validation_freqs must be a positive integer or a list")
        if self.early_stopping_rounds is not None and self.validation_freqs is None:
            raise ValueError("early_stopping_rounds needs validation_freqs")
        return self


class StepwiseParam(Nested):
    """``stepwise_param`` (stepwise selection; only its checks are honoured here)."""

    score_name: choice("aic", "bic") = "aic"
    mode: choice("homo", "hetero", case="keep") = "hetero"
    role: choice("host", "guest", "arbiter", case="keep") = "guest"
    direction: choice("forward", "backward", "both") = "both"
    max_step: PositiveInt = 10
    nvmin: int = Field(2, ge=2)
    nvmax: int | None = None
    need_stepwise: bool = False


class SqnParam(Nested):
    """``sqn_param``: the stochastic quasi-Newton optimizer's settings."""

    update_interval_L: PositiveInt = 3  # noqa: N815 (FATE's name)
    memory_M: PositiveInt = 5  # noqa: N815
    sample_size: PositiveInt = 5000
    random_seed: int | None = None


class EncryptedModeCalculatorParam(Nested):
    """``encrypted_mode_calculator_param``: FATE resets every mode but ``strict`` to ``strict``."""

    mode: choice("strict", "fast", "balance", "confusion_opt", "confusion_opt_balance") = "strict"
    re_encrypted_rate: float = 1


class PredictParam(Nested):
    """``predict_param``: the probability threshold of the positive class."""

    threshold: float = 0.5


DEPRECATED_CALLBACK_KEYS = ("validation_freqs", "early_stopping_rounds", "metrics", "use_first_metric_only")


def move_deprecated_callback_keys(values: Any) -> Any:
    """FATE's rule: deprecated top-level callback keys fill ``callback_param`` (with PerformanceEvaluate);
    giving both is an error."""
    if not isinstance(values, dict):
        return values
    fed = {k: values[k] for k in DEPRECATED_CALLBACK_KEYS if values.get(k) not in (None, False)}
    if not fed:
        return values
    if values.get("callback_param"):
        raise ValueError(f"give {', '.join(fed)} inside callback_param, not both")
    return {**values, "callback_param": {"callbacks": ["PerformanceEvaluate"], **fed}}


class CallbackParams(Params):
    """``callback_param`` and FATE's deprecated top-level spellings of its fields (moved into it, with
    PerformanceEvaluate): what every iterative training component takes."""

    callback_param: CallbackParam = Field(default_factory=CallbackParam)
    validation_freqs: int | list[int] | None = None
    early_stopping_rounds: int | None = None
    metrics: list[str] | None = None
    use_first_metric_only: bool = False

    @model_validator(mode="before")
    @classmethod
    def _move_deprecated(cls, values: Any) -> Any:
        return move_deprecated_callback_keys(values)


class LinearModelParams(CallbackParams):
    """FATE's LinearModelParam: what HeteroLR, HomoLR, HeteroLinR and HeteroPoisson share."""

    penalty: choice("L1", "L2", "NONE", case="upper", none_as="NONE") = "L2"
    tol: float = 1e-4
    alpha: float = Field(1.0, ge=0)
    optimizer: choice("sgd", "rmsprop", "adam", "adagrad", "sqn", "nesterov_momentum_sgd") = "sgd"
    batch_size: int = -1
    learning_rate: float = Field(0.01, gt=0)
    init_param: InitParam = Field(default_factory=InitParam)
    max_iter: PositiveInt = 100
    early_stop: choice("diff", "abs", "weight_diff") = "diff"
    encrypt_param: EncryptParam = Field(default_factory=EncryptParam)
    cv_param: CrossValidationParam = Field(default_factory=CrossValidationParam)
    decay: float = 1.0
    decay_sqrt: bool = True
    stepwise_param: StepwiseParam = Field(default_factory=StepwiseParam)
    floating_point_precision: int | None = Field(23, ge=0, le=64)

    @model_validator(mode="after")
    def _batch_size(self) -> LinearModelParams:
        if self.batch_size != -1 and self.batch_size < 10:
            raise ValueError("batch_size must be -1 (full batch) or at least 10")
        return self

    @property
    def validation_metrics(self) -> list[str]:
        """The metrics validation during training computes (FATE's single-value defaults when none given)."""
        return list(self.callback_param.metrics)

    @property
    def validates(self) -> bool:
        """Whether the model is evaluated during training (``validation_freqs`` set)."""
        return self.callback_param.validation_freqs is not None
