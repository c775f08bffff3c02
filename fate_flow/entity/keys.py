"""The keys that name a job row and a task row, as typed values instead of loose positional ids."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fate_flow.errors import ArgumentError


@dataclass(frozen=True)
class JobKey:
    """One party's row of a job: FATE keys jobs by (job id, role, party id) on every server."""

    job_id: str
    role: str
    party_id: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "party_id", str(self.party_id))

    @property
    def path(self) -> str:
        """``<job_id>/<role>/<party_id>``, the job part of FATE's party API paths."""
        return f"{self.job_id}/{self.role}/{self.party_id}"


@dataclass(frozen=True)
class TaskKey:
    """One party's row of one version of a task: the primary key of ``t_task`` plus the component name
    that FATE's API paths carry (a task id is ``<job_id>_<component>``)."""

    job_id: str
    component_name: str
    task_id: str
    task_version: int
    role: str
    party_id: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "task_version", int(self.task_version))
        object.__setattr__(self, "party_id", str(self.party_id))

    @property
    def job(self) -> JobKey:
        """The job row this task belongs to."""
        return JobKey(self.job_id, self.role, self.party_id)

    @property
    def path(self) -> str:
        """``<job>/<component>/<task_id>/<version>/<role>/<party>``, the task part of FATE's API paths."""
        return (f"{self.job_id}/{self.component_name}/{self.task_id}/{self.task_version}/{self.role}/"
                f"{self.party_id}")

    def at_version(self, version: int) -> TaskKey:
        """The same task's row of another version (reruns)."""
        return TaskKey(self.job_id, self.component_name, self.task_id, version, self.role, self.party_id)


# FATE's model ids are ``role-<ids>`` parts joined by '#' plus '#model'; versions are job ids.
MODEL_ID = re.compile(r"^[0-9A-Za-z_\-#]{1,200}$")
MODEL_VERSION = re.compile(r"^[0-9A-Za-z_\-]{1,100}$")
ROLE_OR_PARTY = re.compile(r"^[0-9A-Za-z_\-]{1,50}$")


@dataclass(frozen=True)
class ModelKey:
    """One party's pipelined model: FATE keys models by (role, party id, model id, model version). Every part
    is checked here, since the key names a directory of the model store: ArgumentError names a bad field."""

    role: str
    party_id: str
    model_id: str
    model_version: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "party_id", str(self.party_id))
        for name, pattern in (("role", ROLE_OR_PARTY), ("party_id", ROLE_OR_PARTY), ("model_id", MODEL_ID),
                              ("model_version", MODEL_VERSION)):
            value = getattr(self, name)
            if not isinstance(value, str) or not pattern.match(value):
                raise ArgumentError(f"{name} {value!r} is not a valid {name} (pattern {pattern.pattern})")

    @property
    def party_model_id(self) -> str:
        """``<role>#<party_id>#<model_id>``: FATE's name of a party's model (and of its directory)."""
        return f"{self.role}#{self.party_id}#{self.model_id}"

    def at_version(self, model_version: str) -> ModelKey:
        """The same party's model of another version (a deployed child)."""
        return ModelKey(self.role, self.party_id, self.model_id, model_version)
