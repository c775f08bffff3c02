"""HomoOneHotEncoder: FATE 1.11's one-hot encoder of the homo setting (guest, hosts, arbiter).

Each client finds the values of its chosen columns; with ``need_alignment`` (the default) the arbiter takes
the union of every client's values per column and sends it back, so every client encodes with the same
columns in the same order (what a homo model needs). Integer and text columns are encoded; a value not in
the set encodes as all zeros. The model (the values per column) encodes other data in a predict stage."""

from __future__ import annotations

from pydantic import StrictBool, StrictInt, field_validator

from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs, Params

RUNNER = "fate_flow.components._homo_onehot"


class HomoOneHotParams(Params):
    """FATE 1.11's HomoOneHotParam."""

    transform_col_indexes: StrictInt | list[StrictInt] | None = -1
    transform_col_names: list[str] | None = None
    need_alignment: StrictBool = True

    @field_validator("transform_col_indexes", mode="after")
    @classmethod
    def _indexes(cls, value: int | list[int] | None) -> int | list[int] | None:
        # FATE takes any int and fails at run on one that is not -1: refused at submit instead
        if isinstance(value, int) and value != -1:
            raise ValueError("must be -1 (every column) or a list of column indexes")
        if isinstance(value, list) and any(index < 0 for index in value):
            raise ValueError("column indexes must be non-negative")
        return value


SPEC = ComponentSpec(
    module="HomoOneHotEncoder",
    params=HomoOneHotParams,
    runners={"guest": f"{RUNNER}:run_client", "host": f"{RUNNER}:run_client", "arbiter": f"{RUNNER}:run_arbiter"},
    inputs=Inputs(data=("data", "train_data", "test_data"), model=True),
    outputs=Outputs(data=True, model=True),
    stages=(TRAIN, PREDICT),
    description="one-hot encoding with the category values aligned over the clients by the arbiter",
)
