"""Job and task statuses (FATE's strings) and the one table of allowed transitions.

Every status write goes through ``operation.job_saver`` which turns these tables into a
compare-and-set UPDATE, so a late or duplicate report can never move a status backwards.
"""

from __future__ import annotations

from enum import Enum


class JobStatus(str, Enum):
    READY = "ready"
    WAITING = "waiting"
    RUNNING = "running"
    CANCELED = "canceled"
    TIMEOUT = "timeout"
    FAILED = "failed"
    PASS = "pass"
    SUCCESS = "success"

    def __str__(self) -> str:
        return self.value


# Tasks use the same strings; one enum keeps comparisons trivial.
TaskStatus = JobStatus

END_STATUSES = frozenset(
    {JobStatus.CANCELED, JobStatus.TIMEOUT, JobStatus.FAILED, JobStatus.PASS, JobStatus.SUCCESS}
)
INTERRUPT_STATUSES = frozenset({JobStatus.CANCELED, JobStatus.TIMEOUT, JobStatus.FAILED})
SUCCESS_STATUSES = frozenset({JobStatus.PASS, JobStatus.SUCCESS})
# FATE's StatusSet order; the "level" decides which interrupt status wins when parties disagree.
LEVEL = {status: index for index, status in enumerate(JobStatus.__members__.values())}

S = JobStatus
JOB_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    S.READY: frozenset({S.WAITING, S.CANCELED, S.TIMEOUT, S.FAILED}),
    S.WAITING: frozenset({S.RUNNING, S.CANCELED, S.TIMEOUT, S.FAILED, S.SUCCESS, S.PASS}),
    S.RUNNING: frozenset({S.CANCELED, S.TIMEOUT, S.FAILED, S.SUCCESS}),
    # an ended job may go back to waiting only through rerun
    S.CANCELED: frozenset({S.WAITING}),
    S.TIMEOUT: frozenset({S.FAILED, S.SUCCESS, S.WAITING}),
    S.FAILED: frozenset({S.WAITING}),
    S.SUCCESS: frozenset({S.WAITING}),
    S.PASS: frozenset(),
}
TASK_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    # unlike FATE, a waiting task may be canceled or failed directly (stop before start, or an
    # executor that could not be spawned); FATE leaves those tasks waiting forever
    S.WAITING: frozenset({S.RUNNING, S.SUCCESS, S.PASS, S.CANCELED, S.FAILED, S.TIMEOUT}),
    S.RUNNING: frozenset({S.CANCELED, S.TIMEOUT, S.FAILED, S.PASS, S.SUCCESS}),
    S.CANCELED: frozenset({S.WAITING}),
    S.TIMEOUT: frozenset({S.FAILED, S.SUCCESS, S.WAITING}),
    S.FAILED: frozenset({S.WAITING}),
    S.PASS: frozenset(),
    S.SUCCESS: frozenset(),
    S.READY: frozenset(),
}


def predecessors(table: dict[JobStatus, frozenset[JobStatus]], target: JobStatus) -> list[str]:
    """Statuses from which ``target`` may be reached: the WHERE clause of a guarded write."""
    return sorted(str(src) for src, targets in table.items() if target in targets)


def client_status(status: str) -> str:
    """The status shown to clients: the SDK raises on anything but the six statuses it knows."""
    return {"ready": "waiting", "pass": "success"}.get(status, status)


def is_end(status: str) -> bool:
    """Whether ``status`` is an end status; ValueError for a string that is no JobStatus."""
    return JobStatus(status) in END_STATUSES


def job_status_from_tasks(task_statuses: list[str], has_next: bool = False) -> JobStatus:
    """A job's status from its latest tasks' statuses (FATE's calculate_job_status, no error case).

    ``has_next``: the scheduler can still start a waiting task, so waiting + success means running.
    """
    statuses = {JobStatus(s) if s != "pass" else JobStatus.SUCCESS for s in task_statuses}
    if not statuses:
        return JobStatus.SUCCESS
    if len(statuses) == 1:
        return statuses.pop()
    if JobStatus.RUNNING in statuses:
        return JobStatus.RUNNING
    interrupts = statuses & INTERRUPT_STATUSES
    if JobStatus.WAITING in statuses and has_next:
        return JobStatus.RUNNING
    if interrupts:
        return max(interrupts, key=LEVEL.__getitem__)
    # only waiting and success left, and nothing can start: the job cannot finish
    return JobStatus.CANCELED
