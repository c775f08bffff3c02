"""Union's runner: stack the input tables, vectorised.

Each input table has FATE's key ``<upstream component>.data.<n>`` (n counts that component's tables); the
metric and the summary give each key's row count and the ``Total``. Empty tables are skipped; the others
must agree on the id column, the label column and the header. Without ``keep_duplicate`` the first row of
each id wins (tables in the order the DSL lists them); with it every row is kept and every id becomes
``<id>_<key>``.
"""

from __future__ import annotations

import re

from fate_flow.components._data_ops import concat, first_occurrences, suffixed, with_sids
from fate_flow.components.union import UnionParams
from fate_flow.framework import ComponentError, Context, Table


def run(ctx: Context) -> None:
    """Union the tables bound to ``data``; write the result, the count metric and the summary."""
    params: UnionParams = ctx.params
    tables = ctx.inputs.all("data")
    if len(tables) <= 1:
        raise ComponentError(f"{ctx.component_name}: Union needs more than one input table (got {len(tables)})")
    keys = table_keys(ctx, tables)
    counts = {key: table.count() for key, table in zip(keys, tables, strict=True)}
    kept = [(key, table) for key, table in zip(keys, tables, strict=True) if counts[key] > 0]
    if not kept:
        ctx.logger.warning("%s: every input table is empty", ctx.component_name)
        result = tables[0]
    else:
        first_key, first = kept[0]
        for key, table in kept[1:]:
            _check_compatible(ctx, first_key, first, key, table)
        if params.keep_duplicate:
            parts = [with_sids(table, suffixed(table.column(table.schema.sid), f"_{key}")) for key, table in kept]
            result = concat(parts, first.schema)
        else:
            stacked = concat([table for _, table in kept], first.schema)
            result = stacked.take(first_occurrences(stacked.sids().astype(str)))
    total = result.count()
    ctx.outputs[0].write(result)
    points = {**counts, "Total": total}
    ctx.metrics.scalars("train", "union", points, metric_type="UNION")
    ctx.summary(points)
    ctx.logger.info("%s: %d tables (%d empty), %d rows", ctx.component_name, len(tables),
                    len(tables) - len(kept), total)


def table_keys(ctx: Context, tables: list[Table]) -> list[str]:
    """FATE's key of each input table, ``<component>.data.<n>``, read from the upstream output's namespace
    (``output_data_<job id>_<component>_<version>``); ``data.<i>`` when a table is not a job output."""
    pattern = re.compile(rf"^output_data_{re.escape(ctx.job_id)}_(.+)_\d+$")
    seen: dict[str, int] = {}
    keys = []
    for index, table in enumerate(tables):
        match = pattern.match(table.source.namespace) if table.source is not None else None
        if match is None:
            keys.append(f"data.{index}")
            continue
        component = match.group(1)
        keys.append(f"{component}.data.{seen.get(component, 0)}")
        seen[component] = seen.get(component, 0) + 1
    return keys


def _check_compatible(ctx: Context, first_key: str, first: Table, key: str, table: Table) -> None:
    """FATE's checks: the same id column, both labelled with the same label or neither, the same header."""
    a, b = first.schema, table.schema
    if a.sid != b.sid:
        raise ComponentError(f"{ctx.component_name}: id columns {a.sid!r} ({first_key}) and {b.sid!r} ({key}) "
                             "do not match")
    if a.label != b.label:
        if a.label is None or b.label is None:
            raise ComponentError(f"{ctx.component_name}: cannot combine a labelled table with an unlabelled one "
                                 f"({first_key}: {a.label}, {key}: {b.label})")
        raise ComponentError(f"{ctx.component_name}: label names {a.label!r} ({first_key}) and {b.label!r} ({key}) "
                             "do not match")
    if a.header != b.header:
        raise ComponentError(f"{ctx.component_name}: the headers of {first_key} and {key} do not match "
                             f"({len(a.header)} and {len(b.header)} columns)")
