"""What the server knows of a stored table, as one typed value: written by components through their
server, stored in ``t_storage_table_meta``, handed to executors in their task config."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

ORIGINS = ("upload", "output", "writer", "")


# the storage engine names a job or an upload may give: both are this server's store, Parquet files on the
# local file system (which Spark's executors read when they share it); HDFS is not provided
STORAGE_ENGINES = ("STANDALONE", "LOCALFS")

@dataclass(frozen=True)
class TableRef:
    """A table's name, as FATE's confs give it."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}.{self.name}"


@dataclass(frozen=True)
class TableMeta:
    """A table: where its files are and what its rows hold.

    ``schema`` is FATE's schema dict (``sid``, ``header`` and, once typed by a component, ``label_name``
    and ``weight_name``); ``path`` is the directory holding its Parquet files.
    """

    namespace: str
    name: str
    path: str
    count: int = 0
    schema: dict[str, Any] = field(default_factory=dict)
    partitions: int = 1
    id_delimiter: str = ","
    have_head: bool = True
    extend_sid: bool = False
    auto_increasing_sid: bool = False
    part_of_data: list[list[Any]] = field(default_factory=list)
    origin: str = ""
    job_id: str | None = None

    @property
    def ref(self) -> TableRef:
        """The table's name as a TableRef (``namespace.name``)."""
        return TableRef(self.namespace, self.name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as the task config and the tracker API carry it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableMeta:
        """Build from ``to_dict``'s output; raises ValueError naming a missing or malformed field."""
        if not isinstance(data, dict):
            raise ValueError("table meta must be an object")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for required in ("namespace", "name", "path"):
            if not isinstance(values.get(required), str) or not values[required]:
                raise ValueError(f"table meta field {required} must be a non-empty string")
        try:
            values["count"] = int(values.get("count", 0))
            values["partitions"] = int(values.get("partitions", 1))
        except (TypeError, ValueError):
            raise ValueError("table meta fields count and partitions must be integers") from None
        if values["count"] < 0 or values["partitions"] < 1:
            raise ValueError("table meta: count must be >= 0 and partitions >= 1")
        if not isinstance(values.get("schema", {}), dict):
            raise ValueError("table meta field schema must be an object")
        for flag in ("have_head", "extend_sid", "auto_increasing_sid"):
            if flag in values:
                values[flag] = bool(values[flag])
        return cls(**values)
