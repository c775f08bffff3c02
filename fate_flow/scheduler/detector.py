"""The detector pass: no task stays running without a live executor, no job runs past its timeout,
no ended job keeps its cores."""

from __future__ import annotations

from fate_flow.controller import task_controller
from fate_flow.db.models import Job, Task
from fate_flow.entity.status import JobStatus
from fate_flow.log import schedule_logger
from fate_flow.manager import resource_manager
from fate_flow.operation import job_saver
from fate_flow.runtime import Runtime
from fate_flow.scheduler.dag_scheduler import DAGScheduler
from fate_flow.utils.timeutil import now_ms


class Detector:
    def __init__(self, rt: Runtime):
        self.rt = rt

    def run_pass(self) -> None:
        self.rt.launcher.reap()
        changed = self.fail_orphaned_tasks()
        changed |= self.stop_timed_out_jobs()
        resource_manager.reconcile(self.rt.settings.computing_engine)
        if changed:
            self.rt.wake_scheduler()

    def fail_orphaned_tasks(self) -> bool:
        """A task running here whose executor process is gone (or was replaced) has failed."""
        changed = False
        running = Task.select().where((Task.f_party_status == "running")
                                      & (Task.f_run_on_this_party == True))  # noqa: E712
        for task in running:
            if task_controller.process_alive(task.f_run_pid, task.f_run_pid_create_time):
                continue
            # re-read: the executor may have reported its end just before it exited
            fresh = Task.get_or_none((Task.f_job_id == task.f_job_id) & (Task.f_task_id == task.f_task_id)
                                     & (Task.f_task_version == task.f_task_version)
                                     & (Task.f_role == task.f_role) & (Task.f_party_id == task.f_party_id))
            if fresh is None or fresh.f_party_status != "running":
                continue
            reason = f"executor process {task.f_run_pid} is gone without reporting an end status"
            if job_saver.update_task_status(task.f_job_id, task.f_task_id, task.f_task_version, task.f_role,
                                            task.f_party_id, party_status=JobStatus.FAILED, f_error_report=reason):
                schedule_logger(task.f_job_id).error("task %s failed: %s", task.f_task_id, reason)
                task_controller.push_to_initiator(self.rt, task)
                changed = True
        return changed

    def stop_timed_out_jobs(self) -> bool:
        changed = False
        now = now_ms()
        for job in Job.select().where((Job.f_status == "running") & (Job.f_is_initiator == True)):  # noqa: E712
            params = (job.f_runtime_conf_on_party or {}).get("job_parameters", {})
            timeout_s = int(params.get("timeout") or self.rt.settings.job.job_timeout)
            if job.f_start_time and now - job.f_start_time > timeout_s * 1000:
                schedule_logger(job.f_job_id).error("job %s runs longer than its timeout of %s s", job.f_job_id,
                                                    timeout_s)
                DAGScheduler(self.rt).stop_job(job.f_job_id, JobStatus.TIMEOUT)
                changed = True
        return changed
