"""The scheduler pass for jobs this party initiates.

One pass: start waiting jobs that can get resources (in submit order, skipping those that can't,
so one big job never blocks small ones behind it), then advance every running job: start its
ready tasks within task_parallelism and derive its status from its tasks. Reports wake the loop,
so a task's end starts the next one in the same pass.
"""

from __future__ import annotations

from fate_flow.controller import job_controller, task_controller
from fate_flow.db.models import Job, Task
from fate_flow.entity.status import END_STATUSES, JobStatus, job_status_from_tasks
from fate_flow.log import schedule_logger
from fate_flow.manager import resource_manager
from fate_flow.operation import job_saver
from fate_flow.runtime import Runtime


def upstream_components(dsl: dict, component: str) -> set[str]:
    """Components whose output this component reads (``"cpn.output"`` references in its input)."""
    inputs = dsl.get("components", {}).get(component, {}).get("input", {})
    refs: set[str] = set()

    def collect(node: object) -> None:
        if isinstance(node, str) and "." in node:
            refs.add(node.split(".", 1)[0])
        elif isinstance(node, list):
            for item in node:
                collect(item)
        elif isinstance(node, dict):
            for item in node.values():
                collect(item)

    collect(inputs)
    return refs & set(dsl.get("components", {}))


class JobScheduler:
    def __init__(self, rt: Runtime):
        self.rt = rt

    def run_pass(self) -> None:
        task_controller.reap_executors()
        waiting = Job.select().where((Job.f_is_initiator == True)  # noqa: E712
                                     & (Job.f_status.in_(["waiting", "ready"]))).order_by(Job.f_create_time)
        for job in waiting:
            if not job.f_cancel_signal:
                self.try_start(job)
        running = Job.select().where((Job.f_is_initiator == True) & (Job.f_status == "running"))  # noqa: E712
        for job in running:
            self.advance(job)

    def try_start(self, job: Job) -> bool:
        if not resource_manager.apply_for_job(job):
            return False
        if not job_saver.update_job_status(job.f_job_id, job.f_role, job.f_party_id, JobStatus.RUNNING):
            resource_manager.return_for_job(job)
            return False
        schedule_logger(job.f_job_id).info("job %s started with %s cores", job.f_job_id, job.f_cores)
        job = Job.get_by_id((job.f_job_id, job.f_role, job.f_party_id))
        self.advance(job)
        return True

    def advance(self, job: Job) -> None:
        tasks = {t.f_component_name: t for t in job_controller.latest_tasks(
            [Task.f_job_id == job.f_job_id, Task.f_role == job.f_role, Task.f_party_id == job.f_party_id])}
        parallelism = int((job.f_runtime_conf_on_party or {}).get("job_parameters", {}).get("task_parallelism", 1))
        running = sum(1 for t in tasks.values() if t.f_status == "running")
        failed = any(t.f_status in ("failed", "timeout", "canceled") for t in tasks.values())
        ready = [] if failed else [
            t for name, t in tasks.items()
            if t.f_status == "waiting"
            and all(tasks[up].f_status in ("success", "pass") for up in upstream_components(job.f_dsl, name))
        ]
        for task in ready[: max(parallelism - running, 0)]:
            task_controller.start_task(self.rt, task)
        statuses = [t.f_status for t in job_controller.latest_tasks(
            [Task.f_job_id == job.f_job_id, Task.f_role == job.f_role, Task.f_party_id == job.f_party_id])]
        finished = sum(1 for s in statuses if JobStatus(s) in END_STATUSES)
        if statuses:
            job_saver.update_job(job.f_job_id, job.f_role, job.f_party_id,
                                 f_progress=int(finished * 100 / len(statuses)))
        status = job_status_from_tasks(statuses, has_next=bool(ready))
        if status in END_STATUSES:
            reason = "" if status == JobStatus.SUCCESS else self._failure_reason(job)
            job_controller.end_job(self.rt, job, status, reason)

    @staticmethod
    def _failure_reason(job: Job) -> str:
        failed = Task.select().where((Task.f_job_id == job.f_job_id) & Task.f_status.in_(["failed", "timeout"]))
        return "; ".join(f"{t.f_component_name}: {t.f_error_report or t.f_status}" for t in failed)[:4000]
