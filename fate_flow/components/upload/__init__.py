"""Upload: a CSV file on this server becomes a table (the conversion is in ``convert``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fate_flow.entity.table_meta import TableRef
from fate_flow.framework import ComponentSpec, Params

# The schema key of a table stored as id + one text column (rows of sparse or tag data, see ``convert``): it
# holds FATE's header string (the first line without its id, or "" without a head), and marks the layout.
TEXT_HEADER = "text_header"


class UploadParams(Params):
    """FATE's UploadParam (``file_in_progress`` is this server's: the file is still arriving)."""

    file: str = Field(min_length=1)
    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)
    head: int = Field(1, ge=0, le=1)
    partition: int = Field(1, ge=1, le=1024)
    id_delimiter: str = Field(",", min_length=1, max_length=1)
    destroy: bool = False
    extend_sid: bool = False
    auto_increasing_sid: bool = False
    # this server's store (entity.table_meta.STORAGE_ENGINES), under either name
    storage_engine: Literal["STANDALONE", "standalone", "LOCALFS", "localfs"] | None = None
    storage_address: dict | None = None
    block_size: int | None = None
    schema_: dict | None = Field(None, alias="schema")
    with_meta: bool = False
    meta: dict = Field(default_factory=dict)
    file_in_progress: bool = False

    def table_written(self) -> TableRef | None:
        """``namespace``.``name``: the table the upload creates (or replaces, with ``destroy``)."""
        return TableRef(self.namespace, self.name)

    def file_read(self) -> str | None:
        """``file``: the CSV file on this server that is converted."""
        return self.file


SPEC = ComponentSpec(
    module="Upload",
    params=UploadParams,
    runners={role: f"{__name__}.convert:run" for role in ("local", "guest", "host")},
    preload=("pyarrow.csv", "pyarrow.parquet", "pyarrow.compute"),
    description="a CSV file on this server as a table",
)
