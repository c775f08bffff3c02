"""Reading input tables and publishing output tables from inside a component."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from fate_flow.components.context import ComponentContext, ComponentError

DATA_FILE = "data.parquet"


def single_input(ctx: ComponentContext, *keys: str) -> dict[str, Any]:
    """The one table a component reads, from the first of ``keys`` that holds one."""
    for key in keys:
        tables = ctx.input_tables.get(key) or []
        if tables:
            return tables[0]
    raise ComponentError(f"component {ctx.component_name} has no input table ({' or '.join(keys)})")


def data_file(meta: dict[str, Any]) -> Path:
    path = Path(meta["address"]["path"]) / DATA_FILE
    if not path.is_file():
        raise ComponentError(f"table {meta.get('namespace')}.{meta.get('name')} has no data at {path}")
    return path


def link_or_copy(source: Path, target: Path) -> None:
    """Share the immutable Parquet file when the filesystem allows it (no copy), else copy it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def output_location(ctx: ComponentContext) -> tuple[str, str, Path]:
    """FATE's naming of an output table: namespace ``output_data_<task_id>_<version>``, name a uuid."""
    namespace = f"output_data_{ctx.task_id}_{ctx.task_version}"
    name = uuid.uuid4().hex
    return namespace, name, ctx.tables_dir / namespace / name / ctx.job_id


def publish_output(ctx: ComponentContext, data_name: str, namespace: str, name: str, directory: Path,
                   like: dict[str, Any], count: int) -> None:
    """Register a completely written output table and record it as the task's output ``data_name``."""
    ctx.tracker.save_table_meta({
        "namespace": namespace, "name": name, "address": {"path": str(directory)},
        "partitions": like.get("partitions", 1), "count": count, "schema": like.get("schema", {}),
        "id_delimiter": like.get("id_delimiter", ","), "have_head": like.get("have_head", True),
        "extend_sid": like.get("extend_sid", False), "origin": "output", "replace": True,
    })
    ctx.tracker.save_output_data_info(data_name, namespace, name)


def pass_through(ctx: ComponentContext, source: dict[str, Any], data_name: str = "data") -> None:
    """Output a table identical to ``source`` (Reader, and components that do not change rows)."""
    namespace, name, directory = output_location(ctx)
    link_or_copy(data_file(source), directory / DATA_FILE)
    publish_output(ctx, data_name, namespace, name, directory, source, int(source.get("count", 0)))
