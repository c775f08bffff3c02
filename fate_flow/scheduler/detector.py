"""The detector pass: no task stays running without a live executor, no job runs past its timeout,
no ended job keeps its cores."""

from __future__ import annotations

import time

from fate_flow.controller import initiator_controller, party_controller, task_controller
from fate_flow.db.models import Job, Task
from fate_flow.entity.status import END_STATUSES, JobStatus
from fate_flow.errors import RetCode
from fate_flow.federation.client import PartyCall
from fate_flow.log import schedule_logger
from fate_flow.manager import resource_manager
from fate_flow.operation import job_saver
from fate_flow.runtime import Runtime
from fate_flow.utils.timeutil import now_ms

ASK_INITIATOR_EVERY_S = 10.0
SUBMIT_DEADLINE_S = 120
INITIATOR_UNREACHABLE_S = 60.0


class Detector:
    """The detector's passes; the Server owns exactly one (it remembers when it last asked initiators)."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        self._asked: dict[str, float] = {}
        self._initiator_failing_since: dict[str, float] = {}

    def run_pass(self) -> None:
        """Fail orphaned tasks, time jobs out, fail unfinished submits, follow initiators, fix the pool."""
        self.rt.launcher.reap()
        changed = self.fail_orphaned_tasks()
        changed |= self.stop_timed_out_jobs()
        changed |= self.fail_unfinished_submits()
        self.reconcile_with_initiators()
        resource_manager.reconcile(self.rt.settings.computing_engine)
        if changed:
            self.rt.wake_scheduler()

    def fail_orphaned_tasks(self) -> bool:
        """A task running here whose executor process is gone (or was replaced) has failed."""
        changed = False
        running = list(Task.select().where((Task.f_party_status == "running")
                                           & (Task.f_run_on_this_party == True)))  # noqa: E712
        for task in running:
            if task_controller.process_alive(task.f_run_pid, task.f_run_pid_create_time):
                continue
            # re-read: the executor may have reported its end just before it exited
            fresh = Task.find(task.key)
            if fresh is None or fresh.f_party_status != "running":
                continue
            reason = f"executor process {task.f_run_pid} is gone without reporting an end status"
            # a stop kills executors before it records their end: that is the stop's, not a failure
            end = JobStatus.CANCELED if task_controller.being_stopped(task.key) else JobStatus.FAILED
            if job_saver.update_task_status(task.key, party_status=end, f_error_report=reason):
                schedule_logger(task.f_job_id).error("task %s %s: %s", task.f_task_id, end, reason)
                task_controller.push_to_initiator(self.rt, task)
                changed = True
        return changed

    def stop_timed_out_jobs(self) -> bool:
        """Stop (as timeout) every job this server initiated that runs longer than its timeout."""
        changed = False
        now = now_ms()
        for job in list(Job.select().where((Job.f_status == "running") & (Job.f_is_initiator == True))):  # noqa: E712
            params = (job.f_runtime_conf_on_party or {}).get("job_parameters", {})
            timeout_s = int(params.get("timeout") or self.rt.settings.job.job_timeout)
            if job.f_start_time and now - job.f_start_time > timeout_s * 1000:
                schedule_logger(job.f_job_id).error("job %s runs longer than its timeout of %s s", job.f_job_id,
                                                    timeout_s)
                initiator_controller.stop_job(self.rt, job.f_job_id, JobStatus.TIMEOUT)
                changed = True
        return changed

    def fail_unfinished_submits(self) -> bool:
        """A job left 'ready' (its submit never completed: the server stopped half-way) is failed."""
        stale = list(Job.select().where((Job.f_status == "ready") & (Job.f_is_initiator == True)  # noqa: E712
                                        & (Job.f_create_time < now_ms() - SUBMIT_DEADLINE_S * 1000)))
        for job in stale:
            initiator_controller.end_job(self.rt, job, JobStatus.FAILED, "its submit did not complete")
        return bool(stale)

    def reconcile_with_initiators(self) -> None:
        """A party's unfinished job follows its (remote) initiator: after a restart, or when the end
        status never arrived, the initiator's word ends it here too."""
        now = time.monotonic()
        for job in list(Job.select().where((Job.f_is_initiator == False)  # noqa: E712
                                           & Job.f_status.in_(["waiting", "running"]))):
            if self.rt.is_local_party(job.f_initiator_role, job.f_initiator_party_id):
                continue
            if now - self._asked.get(job.f_job_id, 0) < ASK_INITIATOR_EVERY_S:
                continue
            if now_ms() - (job.f_create_time or 0) < ASK_INITIATOR_EVERY_S * 1000:
                continue  # just created: the initiator may still be creating it on the other parties
            self._asked[job.f_job_id] = now
            self._follow_initiator(job, now)

    def _follow_initiator(self, job: Job, now: float) -> None:
        path = f"/v1/initiator/{job.f_job_id}/{job.f_initiator_role}/{job.f_initiator_party_id}/query"
        answer = self.rt.federation.call(PartyCall(job.f_initiator_role, job.f_initiator_party_id, path, {}))
        status, reason = None, ""
        if answer.ok:
            self._initiator_failing_since.pop(job.f_job_id, None)
            data = answer.data if isinstance(answer.data, dict) else {}
            initiator_status = JobStatus(data.get("status", "running"))
            if initiator_status in END_STATUSES:
                status, reason = initiator_status, (data.get("error") or "ended by its initiator")
        elif answer.retcode == int(RetCode.DATA_ERROR):
            # unknown to its initiator: its submit failed, or never completed (the initiator gives a
            # submit SUBMIT_DEADLINE_S before failing it)
            if now_ms() - (job.f_create_time or 0) > SUBMIT_DEADLINE_S * 1000:
                status, reason = JobStatus.FAILED, "the initiator does not know this job"
        else:
            since = self._initiator_failing_since.setdefault(job.f_job_id, now)
            if now - since > max(INITIATOR_UNREACHABLE_S, 3 * self.rt.settings.job.party_unreachable_after):
                status, reason = JobStatus.FAILED, f"initiator unreachable for {now - since:.0f} s"
        if status is not None:
            schedule_logger(job.f_job_id).info("job %s follows its initiator: %s (%s)", job.f_job_id, status, reason)
            party_controller.update_job_status(self.rt, job.key, status, reason)
