"""SampleWeight: a weight for every sample, from its class (``class_weight``: ``balanced`` or a dict) or from a
feature column (``sample_weight_name``, which then leaves the features). The weights or the column are the
model, so a predict stage weighs other data the same way. FATE 1.11's SampleWeightParam
(docs/fate-params-1.11.md §16).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import PlainValidator, StrictBool, field_validator

from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs, Params


def _class_weight(value: Any) -> str | dict[str, float] | None:
    """``balanced`` (any case), a dict class -> weight, or nothing (FATE tests it for truth: "" and {} are none)."""
    if value in (None, "", {}):
        return None
    if isinstance(value, str):
        if value.lower() != "balanced":
            raise ValueError("must be 'balanced' or a dict of class -> weight")
        return "balanced"
    if isinstance(value, dict) and all(isinstance(w, int | float) and not isinstance(w, bool)
                                       for w in value.values()):
        return {str(k): float(w) for k, w in value.items()}
    raise ValueError("must be 'balanced' or a dict of class -> weight (numbers)")


class SampleWeightParams(Params):
    """FATE's SampleWeightParam. Given both, ``sample_weight_name`` wins (FATE warns)."""

    class_weight: Annotated[str | dict[str, float] | None, PlainValidator(_class_weight)] = None
    sample_weight_name: str | None = None
    normalize: StrictBool = False
    need_run: StrictBool = True

    @field_validator("sample_weight_name", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        """FATE tests it for truth: an empty name means none."""
        return None if value == "" else value


SPEC = ComponentSpec(
    module="SampleWeight",
    params=SampleWeightParams,
    runners={"guest": "fate_flow.components._sample_weight:run", "host": "fate_flow.components._sample_weight:run"},
    inputs=Inputs(data=("data",), model=True),
    outputs=Outputs(data=True, model=True),
    stages=(TRAIN, PREDICT),
    preload=("numpy",),
    description="sample weights from the class or a column",
)
