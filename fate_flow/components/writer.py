"""Writer: stores a table under a name of the user's choosing.

Source: its upstream ``data`` input, or (as a data-access job) ``namespace``/``table_name``.
Destination: ``output_namespace`` + ``output_table_name``/``output_name`` when given (FATE's WriterParam),
else ``namespace`` + ``table_name``. The written table is also the component's output data.
"""

from __future__ import annotations

from fate_flow.components.context import ComponentContext, ComponentError
from fate_flow.components.tables import DATA_FILE, data_file, link_or_copy, single_input


def destination(params: dict) -> tuple[str | None, str | None]:
    if params.get("output_namespace") and (params.get("output_table_name") or params.get("output_name")):
        return params["output_namespace"], params.get("output_table_name") or params.get("output_name")
    return params.get("namespace"), params.get("table_name") or params.get("name")


def run(ctx: ComponentContext) -> None:
    namespace, name = destination(ctx.parameters)
    if not namespace or not name:
        raise ComponentError(f"{ctx.component_name}: give output_namespace and output_table_name (or namespace and "
                             "table_name) for the table to write")
    source = single_input(ctx, "data", "table")
    directory = ctx.table_version_dir
    link_or_copy(data_file(source), directory / DATA_FILE)
    ctx.tracker.save_table_meta({
        "namespace": namespace, "name": name, "address": {"path": str(directory)},
        "partitions": source.get("partitions", 1), "count": source.get("count", 0), "schema": source.get("schema", {}),
        "id_delimiter": source.get("id_delimiter", ","), "have_head": source.get("have_head", True),
        "origin": "writer", "replace": True,
    })
    ctx.tracker.save_output_data_info(ctx.output_data_names[0] if ctx.output_data_names else "data", namespace, name)
    ctx.logger.info("writer: %s rows to %s.%s", source.get("count"), namespace, name)
