"""OneHotEncoder: each party replaces chosen integer-valued feature columns by one 0/1 column per value
seen at fit (``<column>_<value>``, in place of the column); the values are the model, so a predict stage
encodes with the same columns (a value not seen at fit is all zeros). Nothing is exchanged between
parties."""

from __future__ import annotations

from pydantic import StrictInt, field_validator

from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs, Params


class OneHotEncoderParams(Params):
    """FATE 1.11's OneHotEncoderParam (docs/fate-params-1.11.md §15)."""

    transform_col_indexes: StrictInt | list[StrictInt] | None = -1
    transform_col_names: list[str] | None = None

    @field_validator("transform_col_indexes", mode="after")
    @classmethod
    def _indexes(cls, value: int | list[int] | None) -> int | list[int] | None:
        # FATE takes any int, then fails at run on one that is not -1: refused here instead
        if isinstance(value, int) and value != -1:
            raise ValueError("must be -1 (every column) or a list of column indexes")
        if isinstance(value, list) and any(index < 0 for index in value):
            raise ValueError("column indexes must be non-negative")
        return value


SPEC = ComponentSpec(
    module="OneHotEncoder",
    params=OneHotEncoderParams,
    runners={"guest": "fate_flow.components._one_hot_encoder:run",
             "host": "fate_flow.components._one_hot_encoder:run"},
    inputs=Inputs(data=("data", "train_data", "test_data"), model=True),
    outputs=Outputs(data=True, model=True),
    stages=(TRAIN, PREDICT),
    description="integer feature columns one-hot encoded",
)
