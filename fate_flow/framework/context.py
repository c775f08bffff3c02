"""What a component runs with: ``Context``.

It carries the task's identity and typed parameters, its input and output tables (over the task's
computing engine), role handles for talking to the same task at the other parties, the cores it was
granted, metrics, and its models. A component is a function ``run(ctx)`` per role.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fate_flow.engine.computing import Computing
from fate_flow.entity.keys import TaskKey
from fate_flow.entity.task_config import ServerFiles
from fate_flow.errors import ComponentError
from fate_flow.framework.federation import Exchange, Parties, PartyHandle, derive_tag, sub_path
from fate_flow.framework.io import Inputs, NamedTableOutput, Outputs
from fate_flow.framework.metrics import Metrics
from fate_flow.framework.models import Models
from fate_flow.framework.params import Params


@dataclass
class Context:
    task: TaskKey
    module: str
    stage: str  # "train" or "predict"
    params: Params
    cores: int
    computing: Computing
    inputs: Inputs
    outputs: Outputs
    models: Models
    metrics: Metrics
    exchange: Exchange
    named_table: NamedTableOutput | None = None
    # the files on this server a data-access component reads or writes, resolved and confined by the server
    server_files: ServerFiles = field(default_factory=ServerFiles)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("fate_flow.component"))
    tag_path: tuple[tuple[str, str], ...] = ()
    work_dir: Path | None = None

    # -- identity ---------------------------------------------------------------------------------------------
    @property
    def role(self) -> str:
        """The role this task runs as (``guest``, ``host``, ``arbiter`` or ``local``)."""
        return self.task.role

    @property
    def party_id(self) -> str:
        """This party's id, as a string."""
        return self.task.party_id

    @property
    def component_name(self) -> str:
        """The component's name in the DSL (e.g. ``hetero_lr_0``)."""
        return self.task.component_name

    @property
    def job_id(self) -> str:
        """The id of the job this task belongs to."""
        return self.task.job_id

    @property
    def roles(self) -> dict[str, list[str]]:
        """Every role of the job and its party ids."""
        return self.exchange.roles

    # -- other parties ----------------------------------------------------------------------------------------
    @property
    def tag(self) -> str:
        """Where this context exchanges objects (``root``, or its sub-context path)."""
        return derive_tag(self.tag_path)

    def parties(self, role: str) -> Parties:
        """Every party of ``role`` in the job."""
        return Parties(self.exchange, self.tag, [(role, p) for p in self.roles.get(role, [])])

    def _one(self, role: str) -> PartyHandle:
        ids = self.roles.get(role, [])
        if not ids:
            raise ComponentError(f"the job has no {role}")
        return PartyHandle(self.exchange, self.tag, (role, ids[0]))

    @property
    def guest(self) -> PartyHandle:
        """The (first) guest."""
        return self._one("guest")

    @property
    def arbiter(self) -> PartyHandle:
        """The (first) arbiter."""
        return self._one("arbiter")

    @property
    def hosts(self) -> Parties:
        """Every host."""
        return self.parties("host")

    @property
    def guests(self) -> Parties:
        """Every guest (``guest`` is the first)."""
        return self.parties("guest")

    @contextlib.contextmanager
    def sub(self, name: str, index: int | str) -> Iterator[Context]:
        """A child context whose exchanges happen at ``<tag>/<name>.<index>`` (one per iteration)."""
        yield self.child(name, index)

    def child(self, name: str, index: int | str) -> Context:
        """``sub`` without the ``with``: the child context itself."""
        return replace(self, tag_path=sub_path(self.tag_path, name, index))

    # -- convenience ------------------------------------------------------------------------------------------
    def summary(self, summary: dict[str, Any]) -> None:
        """The component's summary (FATE's ``get-summary``)."""
        self.metrics.summary(summary)
