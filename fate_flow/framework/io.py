"""A task's tables in and out: ``ctx.inputs`` (what the server bound to each input key), ``ctx.outputs``
(the output data the DSL declares) and, for data-access components, the table their parameters name."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

from fate_flow.engine.computing import Computing
from fate_flow.engine.table import Table
from fate_flow.entity.keys import TaskKey
from fate_flow.entity.table_meta import TableMeta
from fate_flow.entity.task_config import NamedTable
from fate_flow.errors import ComponentError
from fate_flow.framework.tracker import Tracker


def meta_of(table: Table, namespace: str, name: str, path: Path, count: int, origin: str) -> TableMeta:
    """The meta of ``table`` stored at ``path``: its schema and the source's text conventions."""
    source = table.source
    return TableMeta(namespace=namespace, name=name, path=str(path), count=count, schema=table.meta_schema(),
                     partitions=source.partitions if source else max(1, len(list(path.glob("*.parquet")))),
                     id_delimiter=source.id_delimiter if source else ",",
                     have_head=source.have_head if source else True,
                     extend_sid=source.extend_sid if source else False, origin=origin)


class Inputs:
    """Tables bound to each input key (``data``, ``train_data``, ``validate_data``, ``test_data``, and
    for Reader-like components the keys their parameters name)."""

    def __init__(self, computing: Computing, bound: dict[str, list[TableMeta]], component: str):
        self._computing = computing
        self._bound = bound
        self._component = component

    def keys(self) -> list[str]:
        """The input keys that have at least one table bound."""
        return [key for key, metas in self._bound.items() if metas]

    def all(self, key: str) -> list[Table]:
        """Every table bound to ``key`` (a component can take several, e.g. Union)."""
        return [self._computing.read(meta) for meta in self._bound.get(key, [])]

    def get(self, key: str = "data") -> Table | None:
        """The (first) table bound to ``key``, or None."""
        metas = self._bound.get(key) or []
        return self._computing.read(metas[0]) if metas else None

    def first(self, *keys: str) -> Table:
        """The table of the first of ``keys`` that has one; ComponentError naming them if none does."""
        for key in keys:
            table = self.get(key)
            if table is not None:
                return table
        raise ComponentError(f"component {self._component} has no input table ({' or '.join(keys)})")

    def meta(self, key: str) -> TableMeta | None:
        """The meta of the (first) table bound to ``key``, without reading the table; None when there is none."""
        metas = self._bound.get(key) or []
        return metas[0] if metas else None


class OutputData:
    """One output data slot: ``write(table)`` stores it under FATE's output naming and records it."""

    def __init__(self, outputs: Outputs, data_name: str):
        self._outputs = outputs
        self.data_name = data_name

    def write(self, table: Table) -> TableMeta:
        """Store ``table`` as this task's output ``data_name``; returns its meta."""
        o = self._outputs
        namespace = f"output_data_{o.task.task_id}_{o.task.task_version}"
        name = uuid.uuid4().hex
        directory = o.tables_dir / namespace / name / o.task.job_id
        count = o.computing.write(table, directory)
        meta = meta_of(table, namespace, name, directory, count, origin="output")
        o.tracker.save_table_meta(meta, replace=True)
        o.tracker.save_output_data_info(self.data_name, namespace, name)
        return meta


class Outputs:
    """``ctx.outputs["data"]`` (or ``ctx.outputs[0]``): the output data names the DSL declares, in order."""

    def __init__(self, computing: Computing, tracker: Tracker, task: TaskKey, tables_dir: Path, names: list[str]):
        self.computing = computing
        self.tracker = tracker
        self.task = task
        self.tables_dir = tables_dir
        self.names = list(names) or ["data"]

    def __getitem__(self, key: str | int) -> OutputData:
        if isinstance(key, int):
            if not 0 <= key < len(self.names):
                raise ComponentError(f"the DSL declares {len(self.names)} output data ({self.names}), not #{key}")
            return OutputData(self, self.names[key])
        if key not in self.names:
            raise ComponentError(f"output data {key!r} is not declared in the DSL (output.data: {self.names})")
        return OutputData(self, key)


class NamedTableOutput:
    """The table a data-access component publishes under the name its parameters give (Upload, Writer).

    The server picked a fresh version directory; the table becomes visible only when published, so a
    failed task never damages the table it would have replaced.
    """

    def __init__(self, binding: NamedTable, computing: Computing, tracker: Tracker, job_id: str):
        self.namespace, self.name = binding.namespace, binding.name
        self.directory = Path(binding.directory)
        self._computing = computing
        self._tracker = tracker
        self._job_id = job_id

    def publish(self, meta: TableMeta, replace_existing: bool) -> None:
        """Publish files already written into ``directory`` (Upload's streaming conversion)."""
        if Path(meta.path) != self.directory:
            raise ComponentError(f"table {meta.ref} must be written to {self.directory}")
        self._tracker.save_table_meta(replace(meta, job_id=self._job_id), replace=replace_existing)

    def write(self, table: Table, origin: str) -> TableMeta:
        """Store ``table`` here and publish it, replacing what the name held."""
        count = self._computing.write(table, self.directory)
        meta = meta_of(table, self.namespace, self.name, self.directory, count, origin)
        self.publish(meta, replace_existing=True)
        return meta
