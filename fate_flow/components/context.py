"""What a component gets to run with: its parameters, identity, a tracker and paths."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class Tracker(Protocol):
    """What a component records through its server."""

    def save_table_meta(self, meta: dict[str, Any]) -> None: ...

    def save_output_data_info(self, data_name: str, namespace: str, name: str) -> None: ...

    def save_metric_data(self, namespace: str, name: str, points: list[list[Any]]) -> None: ...

    def save_metric_meta(self, namespace: str, name: str, meta: dict[str, Any]) -> None: ...

    def save_summary(self, summary: dict[str, Any]) -> None: ...

    def save_model(self, alias: str, module_name: str, param: dict[str, Any], meta: dict[str, Any]) -> None: ...


class ComponentError(Exception):
    """A component failed for a reason the user can act on; the message is shown as is."""


@dataclass
class ComponentContext:
    job_id: str
    role: str
    party_id: str
    component_name: str
    task_id: str
    task_version: int
    parameters: dict[str, Any]
    tracker: Tracker
    table_version_dir: Path
    tables_dir: Path
    module: str = ""
    roles: dict[str, list[str]] = field(default_factory=dict)
    # the output data names its DSL declares (output.data), in order
    output_data_names: list[str] = field(default_factory=list)
    # input name ("data", "train_data", "table" ...) -> metas of the tables bound to it
    input_tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("fate_flow.component"))
    # remote(obj, name, tag, parties) / get(name, tag, parties) with the same job's tasks at other parties
    federation: Any = None

    def parties(self, role: str) -> list[tuple[str, str]]:
        """(role, party id) of every party of ``role`` in the job."""
        return [(role, str(p)) for p in self.roles.get(role, [])]
