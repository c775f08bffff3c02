"""FixedPredictions: a test component that turns a Reader's text table into FATE's prediction output
(``fate_flow.ml.predict``), so that Evaluation can be run on predictions the test knows.

Each row's ``label_column`` is its label, ``score_columns`` its score (binary: the positive class's
probability; multi: one probability per class, classes "0", "1" ...; regression: the predicted value) and
``type_column`` its type (train, validate or test). Runs at the guest only.
"""

from __future__ import annotations

from pydantic import Field

from fate_flow.framework import ComponentSpec, Context, Inputs, Outputs, Params
from fate_flow.ml.params import choice


class FixedPredictionsParams(Params):
    task: choice("binary", "multi", "regression") = "binary"
    label_column: str = "y"
    score_columns: list[str] = Field(default_factory=lambda: ["score"], min_length=1)
    type_column: str = "type"


def run(ctx: Context) -> None:
    """Write the input's labels and scores as a prediction table, one part per row type."""
    import numpy as np

    from fate_flow.ml import predict

    params: FixedPredictionsParams = ctx.params
    table = ctx.inputs.first("data")
    sids = table.sids()
    labels = table.column(params.label_column).astype(np.float64)
    scores = np.column_stack([table.column(c).astype(np.float64) for c in params.score_columns])
    types = table.column(params.type_column).astype(str)
    parts = []
    for kind in dict.fromkeys(types.tolist()):
        rows = types == kind
        if params.task == "binary":
            parts.append(predict.binary_output(sids[rows], labels[rows], scores[rows, 0], 0.5, kind))
        elif params.task == "multi":
            classes = [str(i) for i in range(scores.shape[1])]
            parts.append(predict.multi_output(sids[rows], labels[rows], scores[rows], classes, kind))
        else:
            parts.append(predict.regression_output(sids[rows], labels[rows], scores[rows, 0], kind))
    ctx.outputs[0].write(predict.concat(parts))


SPEC = ComponentSpec(
    module="FixedPredictions",
    params=FixedPredictionsParams,
    runners={"guest": f"{__name__}:run"},
    inputs=Inputs(data=("data",)),
    outputs=Outputs(data=True),
    description="known predictions as FATE's prediction table (a test component)",
)
