"""Writer: stores its input data as a named table (``namespace`` + ``table_name``, or output_*)."""

from __future__ import annotations

from fate_flow.components.context import ComponentContext, ComponentError
from fate_flow.components.tables import DATA_FILE, data_file, link_or_copy, single_input


def run(ctx: ComponentContext) -> None:
    params = ctx.parameters
    namespace = params.get("output_namespace") or params.get("namespace")
    name = params.get("output_name") or params.get("table_name") or params.get("name")
    if not namespace or not name:
        raise ComponentError(f"{ctx.component_name}: give namespace and table_name for the table to write")
    source = single_input(ctx, "data", "table")
    directory = ctx.table_version_dir
    link_or_copy(data_file(source), directory / DATA_FILE)
    ctx.tracker.save_table_meta({
        "namespace": namespace, "name": name, "address": {"path": str(directory)},
        "partitions": source.get("partitions", 1), "count": source.get("count", 0), "schema": source.get("schema", {}),
        "id_delimiter": source.get("id_delimiter", ","), "have_head": source.get("have_head", True),
        "origin": "writer", "replace": True,
    })
    ctx.logger.info("writer: %s rows to %s.%s", source.get("count"), namespace, name)
