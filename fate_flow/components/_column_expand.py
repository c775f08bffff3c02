"""ColumnExpand's runner: append the columns (train) or the model's columns (predict), vectorised.

As FATE: every value is written as Python's text of the fill value (``0``, ``0.2``, ``1e-08``) on a text
table; on a typed table a fill value that is a number becomes a float column. With no ``append_header`` the data
passes unchanged. An ``anonymous_header`` in the schema grows by ``<role>_<party>_exp_<n>`` names.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

import pyarrow as pa

from fate_flow.components._data_ops import is_text
from fate_flow.components.column_expand import ColumnExpandParams
from fate_flow.engine.columns import with_columns
from fate_flow.framework import PREDICT, ComponentError, Context, Table


def run(ctx: Context) -> None:
    """Append the columns; save what was appended as the model."""
    params: ColumnExpandParams = ctx.params
    table = ctx.inputs.first("data")
    if ctx.stage == PREDICT:
        model = ctx.models.load()
        if "append_header" not in model.meta:
            raise ComponentError(f"{ctx.component_name}: the input model is not a ColumnExpand model")
        append_header, fill_values = list(model.meta["append_header"]), list(model.meta["fill_value"])
        method, need_run = model.meta.get("method", "manual"), model.meta.get("need_run", True)
    else:
        append_header, fill_values = [name.strip() for name in params.append_header], list(params.fill_value)
        method, need_run = params.method, params.need_run
    output = expand(ctx, table, append_header, fill_values) if append_header else table
    ctx.outputs[0].write(output)
    ctx.models.save(param={"header": list(output.schema.header)},
                    meta={"append_header": append_header, "method": method,
                          "fill_value": [str(v) for v in fill_values], "need_run": need_run})
    ctx.logger.info("%s: appended %s", ctx.component_name, append_header)


def expand(ctx: Context, table: Table, append_header: list[str], fill_values: list[Any]) -> Table:
    """``table`` with the columns ``append_header`` (one fill value for all, or one each) appended."""
    if len(fill_values) not in (1, len(append_header)):
        raise ComponentError(f"{ctx.component_name}: {len(fill_values)} fill values for {len(append_header)} columns")
    values = fill_values * len(append_header) if len(fill_values) == 1 else fill_values
    schema = table.schema
    taken = set(schema.columns())
    clash = [name for name in append_header if name in taken]
    if clash:
        raise ComponentError(f"{ctx.component_name}: append_header {clash} are columns of the data already")
    text = is_text(table, schema.header)
    constants = [_constant(value, text) for value in values]
    extra = dict(schema.extra)
    if isinstance(extra.get("anonymous_header"), list):
        extra["anonymous_header"] = _anonymous(extra["anonymous_header"], len(append_header), ctx)
    stored = table.arrow_schema()
    columns = pa.schema([*stored, *(pa.field(name, c.type) for name, c in zip(append_header, constants, strict=True))])
    # the columns are appended batch by batch, where the table lives
    return table.map_batches(functools.partial(_append, dict(zip(append_header, constants, strict=True))), columns,
                             replace(schema, header=(*schema.header, *append_header), extra=extra))


def _constant(value: Any, text: bool) -> pa.Scalar:
    if not text:
        try:  # a typed table gets a number column (a model's fill values are kept as text)
            return pa.scalar(float(value), pa.float64())
        except ValueError:
            pass
    return pa.scalar(str(value), pa.string())


def _append(constants: dict[str, pa.Scalar], batch: pa.RecordBatch) -> pa.RecordBatch:
    return with_columns(batch, {name: pa.repeat(value, batch.num_rows) for name, value in constants.items()})


def _anonymous(names: list[str], count: int, ctx: Context) -> list[str]:
    """FATE's anonymous names for appended columns: ``<role>_<party>_exp_<n>``, n after the last one used."""
    used = [int(name.rsplit("_", 1)[1]) for name in names
            if isinstance(name, str) and name.count("_") >= 3 and name.split("_")[-2] == "exp"
            and name.rsplit("_", 1)[1].isdigit()]
    start = max(used) + 1 if used else 0
    return [*names, *(f"{ctx.role}_{ctx.party_id}_exp_{start + i}" for i in range(count))]
