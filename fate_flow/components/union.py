"""Union: the rows of several tables of one party as one table (typed samples, or a Reader's text rows).

FATE 1.11's UnionParam (docs/fate-params-1.11.md §10): ``keep_duplicate`` false keeps the first row of
each id; true keeps every row, each id suffixed with the key of the table it came from.
"""

from __future__ import annotations

from pydantic import StrictBool

from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs, Params


class UnionParams(Params):
    """FATE's UnionParam. ``allow_missing`` is accepted: every row of a table here has all its columns."""

    allow_missing: StrictBool = False
    keep_duplicate: StrictBool = False
    need_run: StrictBool = True


SPEC = ComponentSpec(
    module="Union",
    params=UnionParams,
    runners={"guest": "fate_flow.components._union:run", "host": "fate_flow.components._union:run"},
    inputs=Inputs(data=("data",)),
    outputs=Outputs(data=True),
    stages=(TRAIN, PREDICT),  # keeps no model: a predict job runs it as a training job does
    preload=("numpy",),
    description="the rows of several tables as one",
)
