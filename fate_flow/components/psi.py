"""PSI: the population stability index of every feature between an expected table (``train_data``) and an
actual one (``validate_data``), at the guest and each host on its own tables (FATE 1.11's PSIParam).
Nothing is exchanged between parties."""

from __future__ import annotations

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr

from fate_flow.framework import TRAIN, ComponentSpec, Inputs, Outputs, Params

RUNNER = "fate_flow.components._psi:run"


class PSIParams(Params):
    """FATE 1.11's PSIParam."""

    max_bin_num: StrictInt = Field(20, gt=0)
    need_run: StrictBool = True
    # a value of the dense tables to count as missing (besides NaN)
    dense_missing_val: StrictStr | StrictInt | StrictFloat | None = None
    # FATE's quantile sketch error; the quantiles here are exact, so it only has to be a valid fraction
    binning_error: float = Field(1e-4, ge=0, le=1)


SPEC = ComponentSpec(
    module="PSI",
    params=PSIParams,
    runners={"guest": RUNNER, "host": RUNNER},
    inputs=Inputs(data=("train_data", "validate_data")),
    outputs=Outputs(data=True, model=True),
    stages=(TRAIN,),
    description="population stability index of each feature, expected vs actual table",
)
