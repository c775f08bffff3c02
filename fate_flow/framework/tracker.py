"""What a component records through its own server (the executor's client implements it)."""

from __future__ import annotations

from typing import Any, Protocol

from fate_flow.entity.table_meta import TableMeta


class Tracker(Protocol):
    def save_table_meta(self, meta: TableMeta, replace: bool) -> None:
        """Publish a completely written table (create, or replace when ``replace``)."""

    def save_output_data_info(self, data_name: str, namespace: str, name: str) -> None:
        """Record a table as the task's output ``data_name``."""

    def save_metric_data(self, namespace: str, name: str, points: list[list[Any]]) -> None:
        """Append points ``[key, value]`` to the metric ``name`` in ``namespace``."""

    def save_metric_meta(self, namespace: str, name: str, meta: dict[str, Any]) -> None:
        """Add to the meta of the metric ``name`` in ``namespace`` (merged with earlier meta when read)."""

    def save_summary(self, summary: dict[str, Any]) -> None:
        """Set the task's summary (FATE's ``get-summary``), replacing one saved before."""

    def register_model(self, alias: str, module: str, directory: str) -> None:
        """Register the model whose files were written to ``directory`` (inside the task's model dir)."""
