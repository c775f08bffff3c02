"""The initiator's scheduler: submit, then one pass at a time drive every job it initiated.

A pass: waiting jobs get resources on every party (all or nothing) and start, in submit order but
skipping those that cannot start now (a job that cannot get cores never blocks the jobs behind
it); running jobs have their tasks' federated statuses derived from the parties' statuses, the
next ready components started (within task_parallelism) and their own status derived. Executor
reports wake the loop at once, so one task's end starts the next in the same pass.
"""

from __future__ import annotations

import json

from fate_flow import components
from fate_flow import dsl as dsl_parser
from fate_flow.controller import job_controller, party_controller
from fate_flow.db.connection import write_transaction
from fate_flow.db.models import Job, Task
from fate_flow.entity.ids import new_job_id
from fate_flow.entity.status import END_STATUSES, INTERRUPT_STATUSES, LEVEL, JobStatus, job_status_from_tasks
from fate_flow.errors import OperatingError, RetCode
from fate_flow.federation.client import all_succeeded, failures
from fate_flow.log import schedule_logger
from fate_flow.manager import resource_manager
from fate_flow.operation import job_saver
from fate_flow.runtime import Runtime
from fate_flow.scheduler.federated_scheduler import job_command, task_command
from fate_flow.scheduler.status_collector import StatusCollector

# a party answering one of these to resource/apply is short of cores: the job waits and retries
RESOURCE_SHORTAGE = {int(RetCode.OPERATING_ERROR)}


def multi_party_task_status(party_statuses: list[str]) -> JobStatus:
    """A task's federated status from its parties' statuses (FATE's calculate_multi_party_task_status)."""
    statuses = {JobStatus.SUCCESS if s == "pass" else JobStatus(s) for s in party_statuses}
    if len(statuses) == 1:
        return statuses.pop()
    interrupts = statuses & INTERRUPT_STATUSES
    if interrupts:
        return max(interrupts, key=LEVEL.__getitem__)
    return JobStatus.RUNNING  # some running, or some success while others still wait to start


class DAGScheduler:
    def __init__(self, rt: Runtime):
        self.rt = rt
        job = rt.settings.job
        self.collector = (StatusCollector(rt.federation, job.status_pull_after, job.party_unreachable_after)
                          if rt.federation is not None else None)

    # -- submit -------------------------------------------------------------------------------------------------
    def submit(self, dsl: dict, conf: dict, job_id: str | None = None) -> dict:
        """Validate everything, create the job on every party, queue it. Nothing is left if it fails."""
        spec = dsl_parser.parse_job(dsl, conf, components.has_module, refuse_v1_train=True)
        job_id = job_id or new_job_id()
        log = schedule_logger(job_id)
        log.info("submit job %s: initiator %s %s, roles %s", job_id, spec.initiator_role, spec.initiator_party_id,
                 json.dumps(spec.roles))
        job = Job(f_job_id=job_id, f_roles=spec.roles)
        answers = job_command(self.rt.federation, job, "create",
                              {"dsl": spec.dsl, "runtime_conf": spec.conf, "job_id": job_id})
        if not all_succeeded(answers):
            reason = failures(answers)
            log.error("job %s could not be created: %s", job_id, reason)
            created = [(c.role, c.party_id) for c, a in answers if a.get("retcode") == 0]
            if created:
                job_command(self.rt.federation, job, "status/failed", {"reason": "submit failed: " + reason},
                            parties=created)
                for role, party_id in created:
                    job_saver.update_job(job_id, role, party_id, f_tag="submit_failed")
            raise OperatingError(f"job {job_id} could not be created: {reason}", data={"job_id": job_id})
        self._create_holder_rows(job_id, spec)
        job_saver.update_job_status(job_id, spec.initiator_role, spec.initiator_party_id, JobStatus.WAITING)
        self.rt.wake_scheduler()
        params = dsl_parser.party_job_parameters(spec, spec.initiator_role, spec.initiator_party_id)
        model_info = {"model_id": params.get("model_id") or party_controller.model_id(spec.roles),
                      "model_version": params.get("model_version") or job_id}
        return job_controller.job_submit_data(self.rt, job_id, spec.initiator_role, spec.initiator_party_id,
                                              model_info)

    def _create_holder_rows(self, job_id: str, spec: dsl_parser.JobSpec) -> None:
        """The initiator keeps a row per remote party's task, to follow it (local parties have real rows)."""
        remote = [(r, p) for r, ids in spec.roles.items() for p in ids if not self.rt.is_local_party(r, p)]
        if not remote:
            return
        with write_transaction():
            for role, party_id in remote:
                for name, component in spec.components.items():
                    party_controller.create_task_row(job_id, name, component.module, 0, role, party_id, spec,
                                                     run_here=False, need_run=component.need_run)

    # -- one pass ----------------------------------------------------------------------------------------------
    def run_pass(self) -> None:
        self.rt.launcher.reap()
        # read each selection whole before writing: an open SQLite cursor holds a read snapshot, and a
        # write from the same connection would then fail at once with 'database is locked'
        waiting = list(Job.select().where((Job.f_is_initiator == True)  # noqa: E712
                                          & (Job.f_status == "waiting")).order_by(Job.f_create_time))
        free_cores = resource_manager.remaining_cores(self.rt.settings.computing_engine)
        for job in waiting:
            if job.f_cancel_signal:
                self.end_job(job, JobStatus.CANCELED, "canceled before it started")
            elif free_cores > 0 and self._may_fit(job, free_cores) and self.try_start(job):
                free_cores = resource_manager.remaining_cores(self.rt.settings.computing_engine)
        running = list(Job.select().where((Job.f_is_initiator == True) & (Job.f_status == "running")))  # noqa: E712
        for job in running:
            self.advance(job)

    def _may_fit(self, job: Job, free_cores: int) -> bool:
        """A cheap local pre-check before asking every party for cores: a job whose every party is served
        here and needs more than is free now would be refused anyway (it stays queued, others go on)."""
        if not all(self.rt.is_local_party(role, p) for role, ids in (job.f_roles or {}).items() for p in ids):
            return True
        needed = sum(j.f_cores for j in Job.select(Job.f_cores).where(Job.f_job_id == job.f_job_id))
        return needed <= free_cores

    def try_start(self, job: Job) -> bool:
        log = schedule_logger(job.f_job_id)
        answers = job_command(self.rt.federation, job, "resource/apply")
        if not all_succeeded(answers):
            granted = [(c.role, c.party_id) for c, a in answers if a.get("retcode") == 0]
            if granted:
                job_command(self.rt.federation, job, "resource/return", parties=granted)
            if all(a.get("retcode") in (0, *RESOURCE_SHORTAGE) for _, a in answers):
                return False  # short of cores somewhere: wait, let other jobs go
            self.end_job(job, JobStatus.FAILED, "could not apply resources: " + failures(answers))
            return False
        answers = job_command(self.rt.federation, job, "start")
        if not all_succeeded(answers):
            self.end_job(job, JobStatus.FAILED, "could not start: " + failures(answers))
            return False
        log.info("job %s started on every party", job.f_job_id)
        self.advance(Job.get_by_id((job.f_job_id, job.f_role, job.f_party_id)))
        return True

    def _task_rows(self, job: Job) -> dict[str, list[Task]]:
        """Every party's row of each component's latest task version, from this (initiator) database."""
        rows: dict[str, list[Task]] = {}
        latest: dict[str, int] = {}
        for task in Task.select().where(Task.f_job_id == job.f_job_id):
            version = latest.get(task.f_component_name, -1)
            if task.f_task_version > version:
                latest[task.f_component_name] = task.f_task_version
                rows[task.f_component_name] = [task]
            elif task.f_task_version == version:
                rows[task.f_component_name].append(task)
        return rows

    def _sync_task_status(self, job: Job, tasks: list[Task], status: JobStatus) -> None:
        task_command(self.rt.federation, [t for t in tasks if not self.rt.is_local_party(t.f_role, t.f_party_id)],
                     f"status/{status}")
        for t in tasks:  # local rows directly, holder rows of remote parties as the initiator's copy
            party_controller.update_task_status(self.rt, t.f_job_id, t.f_task_id, t.f_task_version, t.f_role,
                                                t.f_party_id, status)

    def advance(self, job: Job) -> None:
        """Derive task statuses, start what is ready, derive the job's status."""
        rows = self._task_rows(job)
        unreachable = self.collector.collect(job, rows) if self.collector else None
        if unreachable:
            self.end_job(job, JobStatus.FAILED, unreachable)
            return
        if self.collector and any(not t.f_run_on_this_party for tasks in rows.values() for t in tasks):
            rows = self._task_rows(job)  # what the collection refreshed
        statuses: dict[str, str] = {}
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
            reason = "" if status == JobStatus.SUCCESS else self._failure_reason(rows, statuses)
            self.end_job(job, status, reason)

    def _start_ready(self, job: Job, rows: dict[str, list[Task]], statuses: dict[str, str]) -> bool:
        if any(JobStatus(s) in INTERRUPT_STATUSES for s in statuses.values()) or job.f_cancel_signal:
            return False
        parallelism = int(job.f_runtime_conf_on_party.get("job_parameters", {}).get("task_parallelism", 1) or 1)
        running = sum(1 for s in statuses.values() if s == "running")
        upstream = dsl_parser_upstream(job.f_dsl)
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
            job_saver.update_task_status(t.f_job_id, t.f_task_id, t.f_task_version, t.f_role, t.f_party_id,
                                         status=JobStatus.RUNNING)
        answers = task_command(self.rt.federation, tasks, "start")
        started = [(c, a) for c, a in answers if a.get("retcode") in (0, int(RetCode.NOT_EFFECTIVE))]
        for call, _ in started:  # the party said so: its holder row here need not wait for the push
            task = next(t for t in tasks if t.f_role == call.role and str(t.f_party_id) == call.party_id)
            if not task.f_run_on_this_party:
                job_saver.update_task_status(task.f_job_id, task.f_task_id, task.f_task_version, task.f_role,
                                             task.f_party_id, party_status=JobStatus.RUNNING)
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

    # -- end, stop ----------------------------------------------------------------------------------------------
    def end_job(self, job: Job, status: JobStatus, reason: str = "") -> None:
        """Every party's job row to ``status``; each party stops what still runs and returns its cores."""
        # the other parties first: when the initiator's row shows the end, every party has it too
        others = [(role, str(p)) for role, ids in (job.f_roles or {}).items() for p in ids
                  if (role, str(p)) != (job.f_role, str(job.f_party_id))]
        answers = job_command(self.rt.federation, job, f"status/{status}", {"reason": reason}, parties=others)
        if not all_succeeded(answers):
            schedule_logger(job.f_job_id).error("job %s end status %s not taken everywhere: %s", job.f_job_id,
                                                status, failures(answers))
        # the initiator's own row is local: make sure it ends even if a party is unreachable
        party_controller.update_job_status(self.rt, job.f_job_id, job.f_role, job.f_party_id, status, reason)
        if self.collector:
            self.collector.forget(job.f_job_id)

    def rerun(self, job_id: str, component: str | None = None, force: bool = False) -> dict:
        """Rerun an ended job in place: same job id, new versions of the chosen tasks on every party."""
        job = Job.get_or_none((Job.f_job_id == job_id) & (Job.f_is_initiator == True))  # noqa: E712
        if job is None:
            raise OperatingError(f"job {job_id} was not initiated by this server")
        if JobStatus(job.f_status) not in END_STATUSES:
            raise OperatingError(f"job {job_id} is {job.f_status}: only an ended job can be rerun")
        rows = self._task_rows(job)
        statuses = {name: multi_party_task_status([t.f_party_status for t in tasks]).value
                    for name, tasks in rows.items()}
        chosen = rerun_components(job.f_dsl, statuses, component, force)
        if not chosen:
            raise OperatingError(f"job {job_id}: nothing to rerun (every component succeeded; use force)")
        log = schedule_logger(job_id)
        for name in chosen:
            remote = [t for t in rows[name] if not self.rt.is_local_party(t.f_role, t.f_party_id)]
            answers = task_command(self.rt.federation, [t for t in rows[name] if t not in remote], "create")
            answers += task_command(self.rt.federation, remote, "create")
            if not all_succeeded(answers):
                raise OperatingError(f"rerun of {name} could not be prepared: {failures(answers)}")
            for holder in remote:  # the initiator's copy of each remote party's new version
                party_controller.create_holder_version(holder)
        answers = job_command(self.rt.federation, job, "rerun")
        if not all_succeeded(answers):
            raise OperatingError(f"rerun of job {job_id} could not be prepared: {failures(answers)}")
        log.info("job %s rerun: %s", job_id, ", ".join(chosen))
        self.rt.wake_scheduler()
        return {"job_id": job_id, "components": chosen}

    def update_parameters(self, job_id: str, updates: dict) -> dict:
        job = Job.get_or_none((Job.f_job_id == job_id) & (Job.f_is_initiator == True))  # noqa: E712
        if job is None:
            raise OperatingError(f"job {job_id} was not initiated by this server")
        body = {k: updates[k] for k in ("job_parameters", "component_parameters") if k in updates}
        if not body:
            raise OperatingError("give job_parameters and/or component_parameters to update")
        answers = job_command(self.rt.federation, job, "parameter/update", body)
        if not all_succeeded(answers):
            raise OperatingError(f"parameters of job {job_id} not updated: {failures(answers)}")
        own = [a for c, a in answers if c.role == job.f_role and c.party_id == job.f_party_id]
        return (own or [answers[0][1]])[0].get("data", {})

    def stop_job(self, job_id: str, stop_status: JobStatus) -> dict:
        job = Job.get_or_none((Job.f_job_id == job_id) & (Job.f_is_initiator == True))  # noqa: E712
        if job is None:
            raise OperatingError(f"job {job_id} was not initiated by this server")
        job_saver.update_job(job.f_job_id, job.f_role, job.f_party_id, f_cancel_signal=True)
        if JobStatus(job.f_status) in END_STATUSES:
            return {"stopped": []}
        answers = job_command(self.rt.federation, job, f"stop/{stop_status}")
        self.end_job(job, stop_status, f"stopped by request ({stop_status})")
        self.rt.wake_scheduler()
        return {"stopped": [f"{c.role}/{c.party_id}" for c, a in answers if a.get("retcode") == 0]}


def rerun_components(dsl: dict, statuses: dict[str, str], component: str | None, force: bool) -> list[str]:
    """What a rerun runs again: everything unfinished (or everything, forced), or one component and all
    that depends on it."""
    if not component or component == "pipeline":
        return [name for name, status in statuses.items() if force or status not in ("success", "pass")]
    if component not in statuses:
        raise OperatingError(f"component {component} is not in the job")
    upstream = dsl_parser_upstream(dsl)
    chosen = {component}
    changed = True
    while changed:
        changed = False
        for name, ups in upstream.items():
            if name not in chosen and chosen & set(ups):
                chosen.add(name)
                changed = True
    return [name for name in statuses if name in chosen]


def dsl_parser_upstream(dsl: dict) -> dict[str, list[str]]:
    """Each component's upstream components (any ``"cpn.output"`` reference in its input), from the stored DSL."""
    names = set(dsl.get("components", {}))

    def refs(node: object) -> list[str]:
        if isinstance(node, str):
            return [node.split(".", 1)[0]] if "." in node else []
        if isinstance(node, list):
            return [r for item in node for r in refs(item)]
        if isinstance(node, dict):
            return [r for item in node.values() for r in refs(item)]
        return []

    return {name: [r for r in dict.fromkeys(refs(c.get("input", {}))) if r in names]
            for name, c in dsl.get("components", {}).items()}
