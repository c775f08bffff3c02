"""HeteroDataSplit and HomoDataSplit: one table into train, validate and test parts (the DSL's three output
data, in that order).

Hetero: the guest splits its ids (stratified by its label when asked) and sends each part's ids to the
hosts, which split their rows the same way. Homo: every party splits its own rows. FATE 1.11's
DataSplitParam (docs/fate-params-1.11.md §11); sizes are fractions (float) or row counts (int).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, PlainValidator, StrictBool, StrictInt, model_validator

from fate_flow.framework import ComponentSpec, Inputs, Outputs, Params

FLOAT_ZERO = 1e-8


def _size(value: object) -> int | float | None:
    """FATE's size check: a fraction (float in [0, 1]), a row count (int >= 0), or nothing."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a fraction (a float in [0, 1]) or a row count (an int >= 0)")
    if value < 0 or isinstance(value, float) and value > 1:
        raise ValueError("must be a fraction (a float in [0, 1]) or a row count (an int >= 0)")
    return value


Size = Annotated[int | float | None, PlainValidator(_size)]
SIZES = ("train_size", "validate_size", "test_size")
DEFAULT_SIZES = {"train_size": 0.8, "validate_size": 0.2, "test_size": 0.0}


class DataSplitParams(Params):
    """FATE's DataSplitParam. With no size given: train 0.8, validate 0.2, test 0."""

    random_state: Annotated[StrictInt, Field(ge=0)] | None = None
    test_size: Size = None
    train_size: Size = None
    validate_size: Size = None
    stratified: StrictBool = False
    shuffle: StrictBool = True
    split_points: list[float] | None = None
    need_run: StrictBool = True

    @model_validator(mode="before")
    @classmethod
    def _default_sizes(cls, values: object) -> object:
        if isinstance(values, dict) and all(values.get(name) is None for name in SIZES):
            return {**values, **DEFAULT_SIZES}
        return values

    @model_validator(mode="after")
    def _fractions_add_up(self) -> DataSplitParams:
        if any(isinstance(getattr(self, name), float) for name in SIZES):
            self.resolved_sizes(None)  # fractions of 1.0: checked at submit, not only at the task
        return self

    def resolved_sizes(self, count: int | None) -> tuple[int | float, int | float, int | float]:
        """(train, validate, test) with the missing ones filled in as FATE does: fractions of 1.0 when any size
        is a float, else row counts of ``count``; ValueError when they do not add up."""
        train, validate, test = self.train_size, self.validate_size, self.test_size
        fractions = any(isinstance(size, float) for size in (train, validate, test))
        total: int | float | None = 1.0 if fractions else count
        if total is None:
            raise ValueError("row counts need the data's count")
        if train is None:
            if validate is None:
                train = total - test
                validate = total - (test + train)
            else:
                test = 0 if test is None else test
                train = total - (validate + test)
        elif test is None:
            if validate is None:
                test = total - train
                validate = total - (test + train)
            else:
                test = total - (validate + train)
        elif validate is None:
            validate = total - (test + train)
        if abs(abs(train) + abs(test) + abs(validate) - total) > FLOAT_ZERO:
            what = "1.0" if fractions else f"the data's {count} rows"
            raise ValueError(f"train_size, validate_size and test_size must add up to {what} "
                             f"(train {train}, validate {validate}, test {test})")
        return train, validate, test


def _spec(module: str, runner: str, description: str) -> ComponentSpec:
    return ComponentSpec(
        module=module, params=DataSplitParams,
        runners={"guest": f"fate_flow.components._data_split:{runner}",
                 "host": f"fate_flow.components._data_split:{runner}"},
        inputs=Inputs(data=("data",)), outputs=Outputs(data=True), preload=("numpy",), description=description)


SPECS = (
    _spec("HeteroDataSplit", "run_hetero", "the guest splits the samples, the hosts follow its ids"),
    _spec("HomoDataSplit", "run_homo", "each party splits its own samples"),
)
