"""Reader: makes a stored table (conf ``table: {name, namespace}``) the job's data."""

from __future__ import annotations

from fate_flow.components.context import ComponentContext, ComponentError
from fate_flow.components.tables import pass_through


def run(ctx: ComponentContext) -> None:
    table = ctx.parameters.get("table") or {}
    sources = ctx.input_tables.get("table") or []
    if not sources:
        raise ComponentError(f"{ctx.component_name}: table {table.get('namespace')}.{table.get('name')} "
                             f"does not exist on {ctx.role} {ctx.party_id}")
    pass_through(ctx, sources[0])
    ctx.logger.info("reader: %s.%s, %s rows", table.get("namespace"), table.get("name"), sources[0].get("count"))
