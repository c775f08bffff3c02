"""Every write of a job's or task's status, as one guarded compare-and-set UPDATE.

``UPDATE ... SET f_status = new WHERE <key> AND f_status IN (allowed predecessors of new)``:
the database decides atomically, so racing writers (executor reports, the detector, stop,
peers) can never move a status backwards, and each caller learns whether its write took effect.
"""

from __future__ import annotations

from typing import Any

import peewee

from fate_flow.db.models import Job, Task
from fate_flow.entity.keys import JobKey, TaskKey
from fate_flow.entity.status import (
    END_STATUSES,
    JOB_TRANSITIONS,
    TASK_TRANSITIONS,
    JobStatus,
    predecessors,
)
from fate_flow.utils.timeutil import now_ms

STATUS_FIELDS = frozenset({"f_status", "f_party_status"})


def _stamps(model: type[peewee.Model], status: JobStatus, now: int) -> dict:
    """Start/end/elapsed stamps that go with a status change, in the same UPDATE."""
    fields: dict = {model.f_update_time: now}
    if status == JobStatus.RUNNING:
        fields[model.f_start_time] = peewee.fn.COALESCE(model.f_start_time, now)
    elif status in END_STATUSES:
        fields[model.f_end_time] = now
        fields[model.f_elapsed] = peewee.Case(None, [(model.f_start_time.is_null(), None)], now - model.f_start_time)
    return fields


def create_job(**fields: Any) -> bool:
    """Insert a job row; a duplicate (same job, role, party) is ignored and reported as False."""
    return Job.insert_row(**fields).on_conflict_ignore().execute() not in (None, 0)


def create_task(**fields: Any) -> bool:
    """Insert a task row; a duplicate (same key) is ignored and reported as False."""
    return Task.insert_row(**fields).on_conflict_ignore().execute() not in (None, 0)


def update_job_status(key: JobKey, status: JobStatus, **extra: Any) -> bool:
    """Move one job row to ``status`` if its current status allows it; True if it took effect.

    A pending rerun blocks failing the job (FATE's rule), so a rerun is never lost to a late report.
    """
    status = JobStatus(status)
    now = now_ms()
    fields = {Job.f_status: status.value, **_stamps(Job, status, now)}
    if status in END_STATUSES:
        fields[Job.f_tag] = extra.pop("tag", "job_end")
    fields.update({getattr(Job, name): value for name, value in extra.items()})
    where = Job.matches(key) & Job.f_status.in_(predecessors(JOB_TRANSITIONS, status))
    if status in (JobStatus.FAILED, JobStatus.TIMEOUT):
        where &= Job.f_rerun_signal == False  # noqa: E712 (peewee expression)
    return Job.update(fields).where(where).execute() > 0


def update_task_status(
    key: TaskKey,
    *,
    status: JobStatus | None = None,
    party_status: JobStatus | None = None,
    **extra: Any,
) -> bool:
    """Guarded write of a task's federated ``status`` and/or this party's ``party_status``.

    When both are given, both guards must hold (one UPDATE), so they move together or not at all.
    """
    now = now_ms()
    where = Task.matches(key)
    fields: dict = {getattr(Task, name): value for name, value in extra.items()}
    moving = status or party_status
    if moving is None:
        raise ValueError("update_task_status needs status or party_status")
    fields.update(_stamps(Task, JobStatus(moving), now))
    for column, value in ((Task.f_status, status), (Task.f_party_status, party_status)):
        if value is not None:
            value = JobStatus(value)
            fields[column] = value.value
            where &= column.in_(predecessors(TASK_TRANSITIONS, value))
    return Task.update(fields).where(where).execute() > 0


def update_job(key: JobKey, **fields: Any) -> int:
    """Write non-status fields of a job row; progress only ever grows."""
    if STATUS_FIELDS & fields.keys():
        raise ValueError("statuses are written with update_job_status")
    where = Job.matches(key)
    if "f_progress" in fields:
        where &= Job.f_progress <= fields["f_progress"]
    fields["f_update_time"] = now_ms()
    return Job.update({getattr(Job, k): v for k, v in fields.items()}).where(where).execute()


def update_task(key: TaskKey, **fields: Any) -> int:
    """Write non-status fields of a task row (the update time always moves)."""
    if STATUS_FIELDS & fields.keys():
        raise ValueError("statuses are written with update_task_status")
    fields["f_update_time"] = now_ms()
    where = Task.matches(key)
    return Task.update({getattr(Task, k): v for k, v in fields.items()}).where(where).execute()
