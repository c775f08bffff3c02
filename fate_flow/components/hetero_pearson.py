"""HeteroPearson: Pearson correlation of the guest's and the host's features (FATE 1.11's PearsonParam).

Each party computes the correlation of its own columns; with ``cross_parties`` (the default) guest and host
also learn the correlation of every guest column with every host column, through an additively homomorphic
protocol in which neither sees the other's features (``_hetero_pearson``). No arbiter."""

from __future__ import annotations

from pydantic import StrictBool, StrictInt, field_validator, model_validator

from fate_flow.framework import TRAIN, ComponentSpec, Inputs, Outputs, Params

RUNNER = "fate_flow.components._hetero_pearson:run"


class PearsonParams(Params):
    """FATE 1.11's PearsonParam: the columns (``column_indexes`` -1 = all, else indexes then names)."""

    column_names: list[str] | None = None
    column_indexes: StrictInt | list[StrictInt] | None = None
    cross_parties: bool = True
    use_mix_rand: StrictBool = False  # FATE: how SPDZ draws its masks; the masks here always come from the OS CSPRNG
    calc_local_vif: bool = True

    @field_validator("column_indexes", mode="after")
    @classmethod
    def _indexes(cls, value: int | list[int] | None) -> int | list[int] | None:
        if isinstance(value, int) and value != -1:
            raise ValueError(f"an int column_indexes must be -1 (every column), not {value}")
        return value

    @model_validator(mode="after")
    def _columns(self) -> PearsonParams:
        if self.cross_parties and not self.need_run:
            raise ValueError("need_run must be true when cross_parties is true")
        if self.column_indexes == -1 and self.column_names:
            raise ValueError("column_names with column_indexes -1 is ambiguous")
        if self.need_run and not isinstance(self.column_indexes, int) and not self.column_indexes \
                and not self.column_names:
            raise ValueError("provide at least one column (column_indexes -1 for all)")
        return self


SPEC = ComponentSpec(
    module="HeteroPearson",
    params=PearsonParams,
    runners={"guest": RUNNER, "host": RUNNER},
    inputs=Inputs(data=("data", "train_data")),
    outputs=Outputs(data=True, model=True),
    stages=(TRAIN,),
    preload=("gmpy2", "numpy"),
    description="Pearson correlation within and across parties (Paillier, masked decryption)",
)
