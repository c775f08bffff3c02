"""Evaluation: the metrics of upstream predictions, as FATE 1.11's Evaluation logs them for FATE-Board.

Input ``data``: one or several prediction tables (columns label, predict_result, predict_score,
predict_detail, type), each named after the component that made it (``hetero_lr_0``). Rows are
evaluated per ``type``, which is the namespace (``train``, ``validate``; test rows under ``predict``,
FATE's name for them). Metrics, metas and the summary ``{data: {namespace: {metric: value}}}`` are
FATE's (see ``fate_flow.ml.metrics.evaluate``). FATE runs it at guest, host and arbiter: a party whose
upstream wrote no prediction (a hetero host, the arbiter) has nothing to evaluate and succeeds.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from fate_flow.framework import PREDICT, TRAIN, ComponentError, ComponentSpec, Inputs, Outputs, Params
from fate_flow.ml.metrics import CLUSTERING, EVAL_TYPES, resolve_metrics
from fate_flow.ml.params import choice

if TYPE_CHECKING:  # the context (numpy, the table engine) is the executor's, not the server's
    from fate_flow.framework import Context, Table


def _pos_label(value: Any) -> Any:
    # FATE accepts a str, float or int (not a bool, not null)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("must be a str, float or int")
    return value


class EvaluationParams(Params):
    """FATE 1.11's EvaluateParam (docs/fate-params-1.11.md §6): metrics checked against eval_type at submit
    and kept resolved (aliases to FATE names, precision with recall; none given: every metric allowed)."""

    eval_type: choice(*EVAL_TYPES) = "binary"
    pos_label: Annotated[str | int | float, BeforeValidator(_pos_label)] = 1
    metrics: list[str] | None = Field(None, validate_default=True)
    run_clustering_arbiter_metric: Any = False
    unfold_multi_result: bool = False

    @field_validator("metrics")
    @classmethod
    def _resolved(cls, metrics: list[str] | None, info: ValidationInfo) -> list[str] | None:
        eval_type = info.data.get("eval_type")
        if eval_type is None:  # eval_type itself was refused
            return metrics
        return resolve_metrics(eval_type, metrics)


def _data_names(ctx: Context, tables: list[Table]) -> list[str]:
    """Each input's data name, FATE's: the component that wrote it (from the output table's namespace
    ``output_data_<job>_<component>_<version>``), else ``data_<i>``."""
    pattern = re.compile(rf"output_data_{re.escape(ctx.job_id)}_(.+)_\d+$")
    names = []
    for index, table in enumerate(tables):
        match = pattern.match(table.source.namespace) if table.source is not None else None
        names.append(match.group(1) if match else f"data_{index}")
    return names


def run(ctx: Context) -> None:
    """Evaluate every input prediction table and log FATE's metrics and summary."""
    from fate_flow.ml.metrics.evaluate import Evaluator, Predictions

    params: EvaluationParams = ctx.params
    if params.eval_type == CLUSTERING:
        raise ComponentError(f"{ctx.component_name}: eval_type clustering is not provided by this server "
                             "(it has no clustering component)")
    tables = ctx.inputs.all("data")
    # one data set per upstream component, the last one winning (FATE keys its inputs so)
    named = dict(zip(_data_names(ctx, tables), tables, strict=True))
    evaluator = Evaluator(params.eval_type, list(params.metrics or []), params.pos_label, params.unfold_multi_result)
    for data_name, table in named.items():
        try:
            predictions = Predictions.of(table)
        except ValueError as exc:
            if ctx.role == "guest":
                raise ComponentError(f"{ctx.component_name}: input data {data_name}: {exc}") from None
            ctx.logger.info("%s: %s holds no predictions at %s, nothing to evaluate", ctx.component_name, data_name,
                            ctx.role)
            continue
        if len(predictions) == 0:
            continue
        missing = predictions.missing_labels()
        if missing:
            raise ComponentError(f"{ctx.component_name}: input data {data_name}: column 'label' has {missing} rows "
                                 "without a label (evaluation needs labelled data)")
        try:
            evaluator.evaluate(ctx.metrics, data_name, predictions)
        except ValueError as exc:
            raise ComponentError(f"{ctx.component_name}: input data {data_name}: {exc}") from None
    if evaluator.summary:
        ctx.summary(evaluator.summary)
    ctx.logger.info("%s: evaluated %s (%s, metrics %s)", ctx.component_name, list(evaluator.summary) or "nothing",
                    params.eval_type, ", ".join(evaluator.metrics))


SPEC = ComponentSpec(
    module="Evaluation",
    params=EvaluationParams,
    runners={"guest": f"{__name__}:run", "host": f"{__name__}:run", "arbiter": f"{__name__}:run"},
    inputs=Inputs(data=("data",)),
    outputs=Outputs(data=True),
    stages=(TRAIN, PREDICT),  # keeps no model: a predict job runs it as a training job does
    preload=("numpy", "fate_flow.ml.metrics.evaluate"),
    description="binary, multi-class and regression metrics of prediction tables, as FATE-Board shows them",
)
