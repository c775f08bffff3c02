"""What a component gets to run with: its parameters, identity, a tracker and paths."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class Tracker(Protocol):
    def save_table_meta(self, meta: dict[str, Any]) -> None: ...


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
    input_tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("fate_flow.component"))
