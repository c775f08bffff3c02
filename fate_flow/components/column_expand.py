"""ColumnExpand: new columns appended to every row, filled with given values (usually on a Reader's text table,
before DataTransform). The appended header and values are the model, so a predict stage appends the same.
FATE 1.11's ColumnExpandParam (docs/fate-params-1.11.md §18).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictBool, ValidationInfo, field_validator, model_validator

from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs, Params
from fate_flow.ml.params import choice

FLOAT_ZERO = 1e-8


class ColumnExpandParams(Params):
    """FATE's ColumnExpandParam: ``fill_value`` one value for every new column, or one per column."""

    append_header: list[str] = Field(default_factory=list)
    method: choice("manual") = "manual"
    fill_value: list[int | float | str] = Field(default_factory=lambda: [FLOAT_ZERO])
    need_run: StrictBool = True

    @field_validator("append_header", mode="before")
    @classmethod
    def _no_header(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("fill_value", mode="before")
    @classmethod
    def _one_value(cls, value: Any, info: ValidationInfo) -> Any:
        """A single value fills every new column (FATE wraps it in a list); a list has one value per column."""
        header = info.data.get("append_header") or []
        if isinstance(value, list) and len(value) != len(header):
            raise ValueError(f"a list of fill values must have one per append_header column ({len(header)}), "
                             f"got {len(value)}")
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, bool) or not isinstance(item, int | float | str):
                raise ValueError(f"fill values must be numbers or strings, got {item!r}")
        return values

    @model_validator(mode="after")
    def _distinct(self) -> ColumnExpandParams:
        if len({name.strip() for name in self.append_header}) != len(self.append_header):
            raise ValueError("append_header names must be distinct")
        return self


SPEC = ComponentSpec(
    module="ColumnExpand",
    params=ColumnExpandParams,
    runners={"guest": "fate_flow.components._column_expand:run", "host": "fate_flow.components._column_expand:run"},
    inputs=Inputs(data=("data",), model=True),
    outputs=Outputs(data=True, model=True),
    stages=(TRAIN, PREDICT),
    preload=("pyarrow",),
    description="append columns filled with given values",
)
