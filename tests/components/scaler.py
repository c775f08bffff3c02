"""ColumnScaler: a component declared by its spec alone, to show that nothing else needs to change.

Train stage (guest and host, each on its own columns): the features of ``train_data`` (or ``data``)
multiplied by ``factor`` become the output data; the column means are the model (param + an array);
the parties count ``rounds`` exchanges, one sub-context per round (guest sends the round number, each
host answers it doubled, the guest records the answers as a loss curve); the summary says what was
exchanged. Predict stage (a model input, ``test_data``): the features multiplied by the trained factor,
the model's header and means in the summary.
"""

from __future__ import annotations

from pydantic import Field

from fate_flow.framework import PREDICT, TRAIN, ComponentError, ComponentSpec, Context, Inputs, Outputs, Params


class ColumnScalerParams(Params):
    factor: float = Field(1.0, gt=0, le=1000)
    rounds: int = Field(1, ge=1, le=100)


def _scaled(ctx: Context, table, factor: float):
    features = table.features() * factor
    return ctx.computing.from_numpy(table.schema, table.sids(), features,
                                    labels=table.labels() if table.schema.label else None)


def _exchange(ctx: Context, rounds: int) -> list[int]:
    answers = []
    for number in range(rounds):
        with ctx.sub("round", number) as step:
            if ctx.role == "guest":
                step.hosts.put("number", number)
                answers.extend(step.hosts.get("doubled"))
                ctx.metrics.loss(number, 1.0 / (number + 1))
            else:
                received = step.guest.get("number")
                step.guest.put("doubled", received * 2)
                answers.append(received)
    return answers


def run(ctx: Context) -> None:
    """Train or predict, as the stage says."""
    if ctx.stage == PREDICT:
        model = ctx.models.load()
        table = ctx.inputs.first("test_data", "data")
        if list(table.schema.header) != model.param["header"]:
            raise ComponentError(f"predict data has columns {table.schema.header}, the model {model.param['header']}")
        ctx.outputs[0].write(_scaled(ctx, table, model.param["factor"]))
        ctx.summary({"stage": "predict", "header": model.param["header"], "means": model.arrays["means"].tolist()})
        return
    table = ctx.inputs.first("train_data", "data")
    ctx.outputs[0].write(_scaled(ctx, table, ctx.params.factor))
    means = table.features().mean(axis=0)
    ctx.models.save(param={"factor": ctx.params.factor, "header": list(table.schema.header)},
                    meta={"rows": table.count()}, arrays={"means": means})
    answers = _exchange(ctx, ctx.params.rounds) if len(ctx.hosts) else []
    ctx.summary({"stage": "train", "rows": table.count(), "exchanged": answers, "cores": ctx.cores,
                 "tag_after_rounds": ctx.tag})


SPEC = ComponentSpec(
    module="ColumnScaler",
    aliases=("ColumnScalerV0",),
    params=ColumnScalerParams,
    runners={"guest": f"{__name__}:run", "host": f"{__name__}:run"},
    inputs=Inputs(data=("data", "train_data", "test_data"), model=True),
    outputs=Outputs(data=True, model=True),
    stages=(TRAIN, PREDICT),
    description="multiplies features by a factor (a test component)",
)
