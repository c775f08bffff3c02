"""DataTransform (1.5 name: DataIO): a Reader's text table becomes typed samples: the sample id, the label
(``with_label``, ``label_name``, ``label_type``) and float features (``data_type``), with missing values
filled and outliers replaced as asked. The fitted transform (header, label, fill values) is the model, so
validate and predict data are transformed exactly like the training data."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs, Params
from fate_flow.ml.params import choice

DataType = choice("int", "int64", "float", "float64", "str", "long")
ReplaceMethod = choice("min", "max", "mean", "designated")


class DataTransformParams(Params):
    """FATE 1.11's DataTransformParam (docs/fate-params-1.11.md §1)."""

    input_format: choice("dense", "sparse", "tag") = "dense"
    delimitor: str = ","
    data_type: DataType = "float64"
    exclusive_data_type: dict[str, str] | None = None
    tag_with_value: bool = False
    tag_value_delimitor: str = ":"
    missing_fill: bool = False
    default_value: Any = 0
    missing_fill_method: ReplaceMethod | None = None
    missing_impute: list[Any] | None = None
    outlier_replace: bool = False
    outlier_replace_method: ReplaceMethod | None = None
    outlier_impute: list[Any] | None = None
    outlier_replace_value: Any = 0
    with_label: bool = False
    label_name: str | None = "y"
    label_type: DataType = "int"
    output_format: choice("dense", "sparse") = "dense"
    with_match_id: bool = False
    match_id_name: str | None = ""
    match_id_index: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _label_named(self) -> DataTransformParams:
        if self.with_label and not self.label_name:
            raise ValueError("label_name must name the label column when with_label is true")
        return self


SPEC = ComponentSpec(
    module="DataTransform",
    aliases=("DataIO",),
    params=DataTransformParams,
    runners={"guest": "fate_flow.components.data_transform.runner:run",
             "host": "fate_flow.components.data_transform.runner:run"},
    inputs=Inputs(data=("data",), model=True),
    outputs=Outputs(data=True, model=True),
    stages=(TRAIN, PREDICT),
    preload=("pyarrow.compute",),
    description="text tables to typed samples (label, features), missing values filled",
)
