"""HomoOneHotEncoder: FATE 1.11's one-hot encoder of the homo setting (guest, hosts, arbiter).

Each client finds the values of its chosen columns; with ``need_alignment`` (the default) the arbiter takes
the union of every client's values per column and sends it back, so every client encodes with the same
columns in the same order (what a homo model needs). Integer and text columns are encoded; a value not in
the set encodes as all zeros. The model (the values per column) encodes other data in a predict stage."""

from __future__ import annotations

from pydantic import StrictBool

from fate_flow.components.one_hot_encoder import OneHotEncoderParams
from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs

RUNNER = "fate_flow.components._homo_onehot"


class HomoOneHotParams(OneHotEncoderParams):
    """FATE 1.11's HomoOneHotParam: OneHotEncoder's columns, and whether the arbiter aligns the clients' values."""

    need_alignment: StrictBool = True


SPEC = ComponentSpec(
    module="HomoOneHotEncoder",
    params=HomoOneHotParams,
    runners={"guest": f"{RUNNER}:run_client", "host": f"{RUNNER}:run_client", "arbiter": f"{RUNNER}:run_arbiter"},
    inputs=Inputs(data=("data", "train_data", "test_data"), model=True),
    outputs=Outputs(data=True, model=True),
    stages=(TRAIN, PREDICT),
    description="one-hot encoding with the category values aligned over the clients by the arbiter",
)
