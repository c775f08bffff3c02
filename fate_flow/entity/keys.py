"""The keys that name a job row and a task row, as typed values instead of loose positional ids."""

from __future__ import annotations

from dataclasses import dataclass


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
