"""Writer: stores a table under a name of the user's choosing.

Source: its upstream ``data`` input, or (as a data-access job) ``namespace``/``table_name``.
Destination: ``output_namespace`` + ``output_table_name``/``output_name`` when given (FATE's WriterParam),
else ``namespace`` + ``table_name``. The written table is also the component's output data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from fate_flow.entity.table_meta import TableRef
from fate_flow.framework import ComponentError, ComponentSpec, Inputs, Outputs, Params

if TYPE_CHECKING:  # the context (numpy, the table engine) is the executor's, not the server's
    from fate_flow.framework import Context


class WriterParams(Params):
    """FATE's WriterParam, plus the data-access form (namespace and table name of the source)."""

    output_namespace: str | None = None
    output_table_name: str | None = None
    output_name: str | None = None
    namespace: str | None = None
    table_name: str | None = None
    name: str | None = None
    # this server's store (entity.table_meta.STORAGE_ENGINES), under either name
    storage_engine: Literal["STANDALONE", "standalone", "LOCALFS", "localfs"] | None = None
    address: dict | None = None

    def destination(self) -> TableRef | None:
        """``output_namespace`` + ``output_table_name``/``output_name`` when given, else ``namespace`` +
        ``table_name``/``name``; None when neither names a table."""
        if self.output_namespace and (self.output_table_name or self.output_name):
            return TableRef(self.output_namespace, self.output_table_name or self.output_name)
        name = self.table_name or self.name
        return TableRef(self.namespace, name) if self.namespace and name else None

    def table_written(self) -> TableRef | None:
        """The destination: the table this writer publishes."""
        return self.destination()

    def tables_read(self) -> dict[str, TableRef]:
        """The stored table named by ``namespace`` + ``table_name``/``name`` (the data-access form's source),
        if any; a DSL job's source is its upstream data."""
        # a data-access writer copies a stored table; in a DSL job the source is the upstream data
        name = self.table_name or self.name
        return {"table": TableRef(self.namespace, name)} if self.namespace and name else {}


def run(ctx: Context) -> None:
    """Store the input under the destination name and record it as the output data."""
    target = ctx.named_table
    if target is None:
        raise ComponentError(f"{ctx.component_name}: give output_namespace and output_table_name (or namespace "
                             "and table_name) for the table to write")
    source = ctx.inputs.get("data") or ctx.inputs.first("table")
    meta = target.write(source, origin="writer")
    ctx.outputs.tracker.save_output_data_info(ctx.outputs.names[0], meta.namespace, meta.name)
    ctx.logger.info("writer: %s rows to %s.%s", meta.count, meta.namespace, meta.name)


SPEC = ComponentSpec(
    module="Writer",
    params=WriterParams,
    runners={role: f"{__name__}:run" for role in ("local", "guest", "host")},
    inputs=Inputs(data=("data",)),
    outputs=Outputs(data=True),
    description="a table stored under a name of the user's choosing",
)
