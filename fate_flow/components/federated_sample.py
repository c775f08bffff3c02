"""FederatedSample: a random, stratified (per label) or weight-exact sample of the data, down (without
replacement) or up (with replacement). Hetero: the guest draws and sends the sampled ids to every host,
which takes the same rows; homo: each party samples its own data."""

from __future__ import annotations

from typing import Any

from pydantic import StrictInt, ValidationInfo, field_validator

from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs, Params
from fate_flow.ml.params import choice


class SampleParams(Params):
    """FATE 1.11's SampleParam (docs/fate-params-1.11.md §17). FATE checks the rates only when the guest
    draws; a rate given is checked here, at submit (a missing one fails the guest's task)."""

    mode: choice("random", "stratified", "exact_by_weight") = "random"
    method: choice("upsample", "downsample") = "downsample"
    fractions: float | list[list[Any]] | None = None
    random_state: StrictInt | None = None
    task_type: choice("hetero", "homo") = "hetero"

    @field_validator("random_state", mode="after")
    @classmethod
    def _seed(cls, value: int | None) -> int | None:
        if value is not None and value < 0:
            raise ValueError("must be a non-negative integer")
        return value

    @field_validator("fractions", mode="before")
    @classmethod
    def _not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a rate (random) or a list of [label, rate] pairs (stratified)")
        return value

    @field_validator("fractions", mode="after")
    @classmethod
    def _rates(cls, value: Any, info: ValidationInfo) -> Any:
        mode, method = info.data.get("mode"), info.data.get("method")
        if value is None or mode in (None, "exact_by_weight") or method is None:
            return value
        if mode == "random":
            if isinstance(value, list):
                raise ValueError("random sampling takes one rate, not a list")
            _check_rate(value, method)
            return value
        if not isinstance(value, list):
            raise ValueError("stratified sampling takes a list of [label, rate] pairs")
        for pair in value:
            if len(pair) != 2:
                raise ValueError(f"{pair!r} is not a [label, rate] pair")
            _check_rate(pair[1], method, f" of label {pair[0]!r}")
        return value

    @property
    def rates(self) -> list[tuple[Any, float]]:
        """Stratified mode's (label, rate) pairs."""
        return [(label, float(rate)) for label, rate in self.fractions or []]


def _check_rate(rate: Any, method: str, which: str = "") -> None:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)):
        raise ValueError(f"the rate{which} must be a number, got {rate!r}")
    if method == "downsample" and not 0 <= rate <= 1:
        raise ValueError(f"a downsample rate{which} must be between 0 and 1, got {rate}")
    if method == "upsample" and rate <= 0:
        raise ValueError(f"an upsample rate{which} must be greater than 0, got {rate}")


SPEC = ComponentSpec(
    module="FederatedSample",
    params=SampleParams,
    runners={"guest": "fate_flow.components._federated_sample:run",
             "host": "fate_flow.components._federated_sample:run"},
    inputs=Inputs(data=("data",)),
    outputs=Outputs(data=True),
    stages=(TRAIN, PREDICT),
    description="random, stratified or weight-exact sampling; hosts follow the guest's ids",
)
