"""Download: a table written back as a CSV file at ``output_path`` on this server's disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from fate_flow.entity.table_meta import TableRef
from fate_flow.framework import ComponentError, ComponentSpec, Inputs, Params
from fate_flow.utils.paths import partial_path

if TYPE_CHECKING:  # the context (numpy, the table engine) is the executor's, not the server's
    from fate_flow.framework import Context


class DownloadParams(Params):
    """FATE's DownloadParam (``table_name`` is accepted for ``name``, as the data/download API sends it)."""

    output_path: str = Field(min_length=1)
    delimiter: str | None = Field(None, min_length=1, max_length=1)
    namespace: str | None = None
    name: str | None = None
    table_name: str | None = None
    overwrite: bool = False

    def tables_read(self) -> dict[str, TableRef]:
        """The table named by ``namespace`` and ``name`` (or ``table_name``) when both are given; else the
        upstream ``data`` is downloaded."""
        name = self.name or self.table_name
        return {"table": TableRef(self.namespace, name)} if self.namespace and name else {}

    def file_written(self) -> str | None:
        """``output_path``, where the CSV file is written on this server."""
        return self.output_path


def run(ctx: Context) -> None:
    """Write the upstream data (or the named table) as CSV, header first when the table had one."""
    params = ctx.params
    table = ctx.inputs.get("data") or ctx.inputs.get("table")
    if table is None:
        raise ComponentError(f"table {params.namespace}.{params.name or params.table_name} does not exist")
    source = table.source
    output = Path(ctx.server_files.written or params.output_path)
    if output.exists() and not params.overwrite:
        raise ComponentError(f"{output} exists: give overwrite true to replace it")
    output.parent.mkdir(parents=True, exist_ok=True)
    delimiter = params.delimiter or (source.id_delimiter if source else ",")
    header = source.have_head if source else True
    partial = partial_path(output, ctx.job_id)
    try:
        count = ctx.computing.write_csv(table, partial, delimiter=delimiter, header=header)
        os.replace(partial, output)  # atomic: a reader sees the old file or the whole new one
    finally:
        partial.unlink(missing_ok=True)
    ctx.logger.info("download: %s rows of %s.%s to %s", count, params.namespace, params.name, output)


SPEC = ComponentSpec(
    module="Download",
    params=DownloadParams,
    runners={role: f"{__name__}:run" for role in ("local", "guest", "host")},
    inputs=Inputs(data=("data",)),
    preload=("pyarrow.csv",),
    description="a table as a CSV file on this server",
)
