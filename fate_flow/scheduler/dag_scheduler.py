"""The initiator's scheduler: one pass at a time, drive every job this server initiated.

A pass: waiting jobs get resources on every party (all or nothing) and start, in submit order but
skipping those that cannot start now (a job that cannot get cores never blocks the jobs behind
it); running jobs have their tasks' federated statuses derived from the parties' statuses, the
next ready components started (within task_parallelism) and their own status derived. Executor
reports wake the loop at once, so one task's end starts the next in the same pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fate_flow.controller import party_controller
from fate_flow.controller.federated_commands import job_command, task_command
from fate_flow.controller.initiator_controller import dsl_upstream, end_job, multi_party_task_status, task_rows
from fate_flow.db.models import Job, Task
from fate_flow.entity.status import END_STATUSES, INTERRUPT_STATUSES, LEVEL, JobStatus, job_status_from_tasks
from fate_flow.errors import RetCode
from fate_flow.federation.client import all_succeeded, failures, succeeded
from fate_flow.log import schedule_logger
from fate_flow.manager import resource_manager
from fate_flow.operation import job_saver
from fate_flow.runtime import Runtime
from fate_flow.scheduler.status_collector import StatusCollector

logger = logging.getLogger("fate_flow.scheduler")
# a party answering one of these to resource/apply is short of cores: the job waits and retries
RESOURCE_SHORTAGE = {int(RetCode.OPERATING_ERROR)}
# the party could not be reached, or did not answer in time
UNREACHABLE = {int(RetCode.CONNECTION_ERROR), int(RetCode.FEDERATED_ERROR)}


class DAGScheduler:
    """The initiator's scheduling passes; the Server owns exactly one."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        job = rt.settings.job
        self.collector = StatusCollector(rt.federation, rt.party_contact, job.status_pull_after,
                                         job.party_unreachable_after)

    # -- one pass ----------------------------------------------------------------------------------------------
    def run_pass(self) -> None:
        """Start the waiting jobs that can get cores (in submit order), advance every running job."""
        self.rt.launcher.reap()
        # read each selection whole before writing: an open SQLite cursor holds a read snapshot, and a
        # write from the same connection would then fail at once with 'database is locked'
        waiting = list(Job.select().where((Job.f_is_initiator == True)  # noqa: E712
                                          & (Job.f_status == "waiting")).order_by(Job.f_create_time))
        free_cores = resource_manager.remaining_cores(self.rt.settings.computing_engine)
        self.rt.wait_reasons.keep_only({job.f_job_id for job in waiting})
        for job in waiting:
            if self._isolated(job, self._schedule_waiting, free_cores):
                free_cores = resource_manager.remaining_cores(self.rt.settings.computing_engine)
        running = list(Job.select().where((Job.f_is_initiator == True) & (Job.f_status == "running")))  # noqa: E712
        for job in running:
            self._isolated(job, self.advance)

    def _schedule_waiting(self, job: Job, free_cores: int) -> bool:
        """Cancel or start one waiting job; True when it took cores."""
        if job.f_cancel_signal:
            end_job(self.rt, job, JobStatus.CANCELED, "canceled before it started")
            return False
        if free_cores <= 0:
            self.rt.wait_reasons.note(job.f_job_id, f"cores: none free at party {self.rt.settings.party_id} "
                                                    f"(all {self.rt.settings.total_cores} are held by running jobs)")
            return False
        return self._may_fit(job, free_cores) and self.try_start(job)

    def _isolated(self, job: Job, step: Callable[..., Any], *args: Any) -> Any:
        """Run one job's step so that a job the scheduler cannot handle (a bad row, a bug) is failed with the
        reason instead of stalling every job after it in every pass."""
        try:
            return step(job, *args)
        except Exception as exc:  # noqa: BLE001 (one bad job must not stop the others)
            logger.exception("scheduling job %s failed", job.f_job_id)
            reason = f"the scheduler could not handle this job: {type(exc).__name__}: {exc}"[:2000]
            try:
                end_job(self.rt, job, JobStatus.FAILED, reason)
            except Exception:  # noqa: BLE001
                logger.exception("job %s could not even be failed", job.f_job_id)
            return None

    def _may_fit(self, job: Job, free_cores: int) -> bool:
        """A cheap local pre-check before asking every party for cores: a job whose every party is served
        here and needs more than is free now would be refused anyway (it stays queued, others go on)."""
        if not all(self.rt.is_local_party(role, p) for role, ids in (job.f_roles or {}).items() for p in ids):
            return True
        needed = sum(j.f_cores for j in Job.select(Job.f_cores).where(Job.f_job_id == job.f_job_id))
        if needed > free_cores:
            self.rt.wait_reasons.note(job.f_job_id, f"cores: needs {needed}, {free_cores} free at party "
                                                    f"{self.rt.settings.party_id}")
        return needed <= free_cores

    def try_start(self, job: Job) -> bool:
        """Apply cores on every party (all or nothing) and start the job; False if it must wait or failed."""
        log = schedule_logger(job.f_job_id)
        answers = job_command(self.rt.federation, job, "resource/apply")
        if not all_succeeded(answers):
            granted = succeeded(answers)
            if granted:
                job_command(self.rt.federation, job, "resource/return", parties=granted)
            if self._may_wait(job, answers):
                return False  # short of cores somewhere, or a party briefly gone: wait, let other jobs go
            end_job(self.rt, job, JobStatus.FAILED, "could not apply resources: " + failures(answers))
            return False
        for call, _ in answers:
            self.rt.party_contact.reached(job.f_job_id, call.role, call.party_id)
        answers = job_command(self.rt.federation, job, "start")
        if not all_succeeded(answers):
            end_job(self.rt, job, JobStatus.FAILED, "could not start: " + failures(answers))
            return False
        self.rt.wait_reasons.clear(job.f_job_id)
        log.info("job %s started on every party", job.f_job_id)
        self.advance(Job.find(job.key))
        return True

    def _may_wait(self, job: Job, answers: list) -> bool:
        """Whether a job whose cores were refused waits (and what for, in its wait reason): a party short of
        cores, or one that did not answer for less than ``party_unreachable_after`` seconds; else it fails."""
        limit = self.rt.settings.job.party_unreachable_after
        if not all(a.retcode in (0, *UNREACHABLE, *RESOURCE_SHORTAGE) for _, a in answers):
            return False
        gone = []
        for call, answer in answers:
            if answer.retcode in UNREACHABLE:
                seconds = self.rt.party_contact.unreachable_for(job.f_job_id, call.role, call.party_id)
                if seconds >= limit:
                    return False
                gone.append(f"{call.role} {call.party_id} unreachable for {seconds:.0f} s (the job fails at "
                            f"{limit:g} s): {answer.message}")
        short = [(c, a) for c, a in answers if a.retcode in RESOURCE_SHORTAGE]
        self.rt.wait_reasons.note(job.f_job_id, "; ".join(
            ([f"cores: {failures(short)}"] if short else []) + [f"party {text}" for text in gone]))
        return True

    def _sync_task_status(self, job: Job, tasks: list[Task], status: JobStatus) -> None:
        remote = [t for t in tasks if not self.rt.is_local_party(t.f_role, t.f_party_id)]
        answers = task_command(self.rt.federation, remote, f"status/{status}")
        for t in tasks:  # local rows directly, holder rows of remote parties as the initiator's copy
            party_controller.update_task_status(self.rt, t.key, status)
        if status in END_STATUSES:
            # a party told an end status stops its task at once: our copy need not wait for its push
            stopped = {(call.role, call.party_id) for call, answer in answers if answer.ok}
            for t in remote:
                if ((t.f_role, str(t.f_party_id)) in stopped and not t.f_run_on_this_party
                        and t.f_party_status == JobStatus.RUNNING.value):
                    job_saver.update_task_status(t.key, party_status=status)

    def advance(self, job: Job) -> None:
        """Derive task statuses, start what is ready, derive the job's status."""
        rows = task_rows(job)
        unreachable = self.collector.collect(job, rows)
        if unreachable:
            end_job(self.rt, job, JobStatus.FAILED, unreachable)
            return
        if any(not t.f_run_on_this_party for tasks in rows.values() for t in tasks):
            rows = task_rows(job)  # what the collection refreshed
        # a component no party of the job runs (its spec has none of their roles' runners) has no rows: it passes
        statuses: dict[str, str] = {name: JobStatus.PASS.value for name in (job.f_dsl or {}).get("components", {})}
        for name, tasks in rows.items():
            federated = multi_party_task_status([t.f_party_status for t in tasks])
            if any(t.f_status != federated.value for t in tasks) and federated != JobStatus.WAITING:
                self._sync_task_status(job, tasks, federated)
            statuses[name] = federated.value
        started = self._start_ready(job, rows, statuses)
        self._update_progress(job, statuses)
        interrupted = [JobStatus(s) for s in statuses.values() if JobStatus(s) in INTERRUPT_STATUSES]
        # fail fast: one failed task ends the job now (its other running tasks are stopped), where
        # FATE lets the rest of the DAG run on to no purpose
        status = (max(interrupted, key=LEVEL.__getitem__) if interrupted
                  else job_status_from_tasks(list(statuses.values()), has_next=started))
        if status in END_STATUSES:
            if status != JobStatus.SUCCESS and _being_stopped(job):
                return  # the stop ends it (as canceled): a task it cut off must not make it "failed"
            reason = "" if status == JobStatus.SUCCESS else self._failure_reason(rows, statuses)
            end_job(self.rt, job, status, reason)

    def _start_ready(self, job: Job, rows: dict[str, list[Task]], statuses: dict[str, str]) -> bool:
        if any(JobStatus(s) in INTERRUPT_STATUSES for s in statuses.values()) or job.f_cancel_signal:
            return False
        parallelism = int(job.f_runtime_conf_on_party.get("job_parameters", {}).get("task_parallelism", 1) or 1)
        running = sum(1 for s in statuses.values() if s == "running")
        upstream = dsl_upstream(job.f_dsl)
        ready = [name for name, s in statuses.items()
                 if s == "waiting" and all(statuses.get(up) in ("success", "pass") for up in upstream.get(name, []))]
        started = False
        for name in ready[: max(parallelism - running, 0)]:
            started |= self._start_task(job, rows[name])
            statuses[name] = "running"
        return started or bool(ready)

    def _start_task(self, job: Job, tasks: list[Task]) -> bool:
        """Start a component on every party. Idempotent: if a pass dies half-way, the task is still
        'waiting' by its parties' statuses and the next pass sends the start again (a party that has
        already started it answers 'not effective', which is fine)."""
        for t in tasks:
            job_saver.update_task_status(t.key, status=JobStatus.RUNNING)
        answers = task_command(self.rt.federation, tasks, "start")
        started = [(c, a) for c, a in answers if a.retcode in (0, int(RetCode.NOT_EFFECTIVE))]
        for call, _ in started:  # the party said so: its holder row here need not wait for the push
            task = next(t for t in tasks if t.f_role == call.role and str(t.f_party_id) == call.party_id)
            if not task.f_run_on_this_party:
                job_saver.update_task_status(task.key, party_status=JobStatus.RUNNING)
        if len(started) < len(answers):
            schedule_logger(job.f_job_id).error("task %s could not start: %s", tasks[0].f_task_id, failures(
                [(c, a) for c, a in answers if (c, a) not in started]))
            self._sync_task_status(job, tasks, JobStatus.FAILED)
            return False
        return True

    def _update_progress(self, job: Job, statuses: dict[str, str]) -> None:
        if not statuses:
            return
        finished = sum(1 for s in statuses.values() if JobStatus(s) in END_STATUSES)
        progress = int(finished * 100 / len(statuses))
        if progress > job.f_progress:
            job_command(self.rt.federation, job, "update", {"progress": progress})

    @staticmethod
    def _failure_reason(rows: dict[str, list[Task]], statuses: dict[str, str]) -> str:
        reasons = []
        for name, tasks in rows.items():
            if JobStatus(statuses[name]) in INTERRUPT_STATUSES:
                errors = [f"{t.f_role} {t.f_party_id}: {t.f_error_report}" for t in tasks if t.f_error_report]
                reasons.append(f"{name} {statuses[name]}" + (f" ({'; '.join(errors)})" if errors else ""))
        return "; ".join(reasons)[:4000]


def _being_stopped(job: Job) -> bool:
    """Whether a stop was asked for since the pass read ``job`` (read after its tasks: a failure the stop caused
    is seen with the stop's signal)."""
    fresh = Job.find(job.key)
    return fresh is not None and bool(fresh.f_cancel_signal)
