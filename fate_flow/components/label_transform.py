"""LabelTransform: the guest's labels re-coded by a mapping (``label_encoder``, or each distinct label to
its rank among the sorted labels); in a predict stage the fitted mapping is reversed on prediction results
(label, predict_result and the classes of predict_detail), so scores come back in the original labels."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationInfo, field_validator

from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs, Params


class LabelTransformParams(Params):
    """FATE 1.11's LabelTransformParam (docs/fate-params-1.11.md §14): an empty encoder or list is None."""

    label_encoder: dict[str, Any] | None = None
    label_list: list[Any] | None = None

    @field_validator("label_encoder", mode="after")
    @classmethod
    def _no_encoder(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return value or None

    @field_validator("label_list", mode="after")
    @classmethod
    def _as_many_as_keys(cls, value: list[Any] | None, info: ValidationInfo) -> list[Any] | None:
        encoder = info.data.get("label_encoder")
        if value and encoder and len(value) != len(encoder):
            raise ValueError(f"lists {len(value)} labels, label_encoder has {len(encoder)} keys: they must match")
        return value or None

SPEC = ComponentSpec(
    module="LabelTransform",
    params=LabelTransformParams,
    runners={"guest": "fate_flow.components._label_transform:run",
             "host": "fate_flow.components._label_transform:run"},
    inputs=Inputs(data=("data", "train_data", "test_data"), model=True),
    outputs=Outputs(data=True, model=True),
    stages=(TRAIN, PREDICT),
    description="labels re-coded (and prediction results decoded) by a label mapping",
)
