"""Reader: makes a stored table (conf ``table: {name, namespace}``) the job's data at this party."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from fate_flow.entity.table_meta import TableRef
from fate_flow.framework import PREDICT, TRAIN, ComponentError, ComponentSpec, Outputs, Params

if TYPE_CHECKING:  # the context (numpy, the table engine) is the executor's, not the server's
    from fate_flow.framework import Context


class TableName(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    namespace: str


class ReaderParams(Params):
    """FATE's ReaderParam."""

    table: TableName | None = None

    def tables_read(self) -> dict[str, TableRef]:
        """The conf's ``table`` under the input key ``table``; nothing without one."""
        return {"table": TableRef(self.table.namespace, self.table.name)} if self.table else {}


def run(ctx: Context) -> None:
    """Output the named table as it is (its files are shared, not copied)."""
    table = ctx.inputs.get("table")
    named = ctx.params.table
    if table is None:
        where = f"{named.namespace}.{named.name}" if named else "(no table parameter given)"
        raise ComponentError(f"{ctx.component_name}: table {where} does not exist on {ctx.role} {ctx.party_id}")
    meta = ctx.outputs[0].write(table)
    ctx.logger.info("reader: %s.%s, %s rows", named.namespace, named.name, meta.count)


SPEC = ComponentSpec(
    module="Reader",
    params=ReaderParams,
    runners={"guest": f"{__name__}:run", "host": f"{__name__}:run"},
    outputs=Outputs(data=True),
    stages=(TRAIN, PREDICT),  # keeps no model: a predict job runs it as a training job does
    preload=("pyarrow.parquet",),
    description="a stored table as the job's data",
)
