"""Cores of this party's computing engine, applied and returned atomically per job.

A job's cores move between the engine's pool and the job in one transaction guarded by the job's
``f_resource_in_use`` flag, so apply and return each happen at most once per job, whatever races.
``reconcile`` recomputes the pool from the jobs that hold cores (server start, detector).
"""

from __future__ import annotations

import logging

from fate_flow.db.connection import write_transaction
from fate_flow.db.models import EngineRegistry, Job
from fate_flow.entity.status import END_STATUSES
from fate_flow.utils.timeutil import now_ms

logger = logging.getLogger("fate_flow.resource")
ENGINE_TYPE = "computing"


def register_engine(name: str, total_cores: int) -> None:
    """Create or resize the engine row; the remaining cores shift by the change of the total."""
    with write_transaction():
        row = EngineRegistry.get_or_none(
            (EngineRegistry.f_engine_name == name) & (EngineRegistry.f_engine_type == ENGINE_TYPE)
        )
        if row is None:
            EngineRegistry.insert_row(
                f_engine_name=name, f_engine_type=ENGINE_TYPE, f_cores=total_cores, f_remaining_cores=total_cores
            ).execute()
        elif row.f_cores != total_cores:
            EngineRegistry.update(
                f_cores=total_cores, f_remaining_cores=EngineRegistry.f_remaining_cores + (total_cores - row.f_cores)
            ).where(EngineRegistry.f_engine_name == name, EngineRegistry.f_engine_type == ENGINE_TYPE).execute()


def _job_key(job: Job):
    return (Job.f_job_id == job.f_job_id) & (Job.f_role == job.f_role) & (Job.f_party_id == job.f_party_id)


def apply_for_job(job: Job) -> bool:
    """Take the job's cores from the pool; False (nothing changed) if the pool lacks them."""
    with write_transaction() as txn:
        taken = Job.update(
            f_resource_in_use=True, f_apply_resource_time=now_ms(), f_remaining_cores=job.f_cores
        ).where(_job_key(job) & (Job.f_resource_in_use == False)).execute()  # noqa: E712
        if not taken:
            return False
        granted = EngineRegistry.update(f_remaining_cores=EngineRegistry.f_remaining_cores - job.f_cores).where(
            (EngineRegistry.f_engine_name == job.f_engine_name)
            & (EngineRegistry.f_engine_type == ENGINE_TYPE)
            & (EngineRegistry.f_remaining_cores >= job.f_cores)
        ).execute()
        if not granted:
            txn.rollback()
            return False
    return True


def return_for_job(job: Job) -> bool:
    """Give the job's cores back to the pool, exactly once."""
    with write_transaction():
        released = Job.update(f_resource_in_use=False, f_return_resource_time=now_ms()).where(
            _job_key(job) & (Job.f_resource_in_use == True)  # noqa: E712
        ).execute()
        if released:
            EngineRegistry.update(f_remaining_cores=EngineRegistry.f_remaining_cores + job.f_cores).where(
                (EngineRegistry.f_engine_name == job.f_engine_name) & (EngineRegistry.f_engine_type == ENGINE_TYPE)
            ).execute()
    return bool(released)


def reconcile(engine_name: str) -> int:
    """Release cores held by ended jobs and recompute the pool; returns the remaining cores."""
    ended = [str(s) for s in END_STATUSES]
    for job in list(Job.select().where((Job.f_resource_in_use == True) & Job.f_status.in_(ended))):  # noqa: E712
        return_for_job(job)
    with write_transaction():
        engine = EngineRegistry.get(
            (EngineRegistry.f_engine_name == engine_name) & (EngineRegistry.f_engine_type == ENGINE_TYPE)
        )
        held = sum(
            j.f_cores
            for j in Job.select(Job.f_cores).where(
                (Job.f_resource_in_use == True) & (Job.f_engine_name == engine_name)  # noqa: E712
            )
        )
        remaining = engine.f_cores - held
        if remaining != engine.f_remaining_cores:
            logger.warning("resource pool %s: %s remaining cores recorded, %s free", engine_name,
                           engine.f_remaining_cores, remaining)
            EngineRegistry.update(f_remaining_cores=remaining).where(
                (EngineRegistry.f_engine_name == engine_name) & (EngineRegistry.f_engine_type == ENGINE_TYPE)
            ).execute()
    return remaining


def remaining_cores(engine_name: str) -> int:
    """The engine pool's free cores as recorded (no reconciling); 0 for an engine never registered."""
    row = EngineRegistry.get_or_none(
        (EngineRegistry.f_engine_name == engine_name) & (EngineRegistry.f_engine_type == ENGINE_TYPE)
    )
    return row.f_remaining_cores if row else 0
