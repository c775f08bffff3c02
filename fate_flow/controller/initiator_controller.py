"""What the initiator does with a job it owns, on request: submit, stop, rerun, update parameters, end.

These are plain functions over the server's one ``Runtime``: the HTTP views, the detector and the
scheduler loop all call them, so there is one copy of the state they touch (the job rows, and the
initiator's record of its parties' reachability, which ending a job clears).
"""

from __future__ import annotations

import json

from fate_flow import dsl as dsl_parser
from fate_flow.controller import job_controller, model_controller, party_controller
from fate_flow.controller.federated_commands import job_command, job_parties, task_command
from fate_flow.db.connection import write_transaction
from fate_flow.db.models import Job, Task
from fate_flow.dsl.conf import job_type as conf_job_type
from fate_flow.entity.ids import model_id, new_job_id
from fate_flow.entity.keys import JobKey
from fate_flow.entity.status import END_STATUSES, INTERRUPT_STATUSES, LEVEL, JobStatus
from fate_flow.errors import OperatingError, RetCode
from fate_flow.federation.client import Answers, all_succeeded, failures, succeeded
from fate_flow.log import schedule_logger
from fate_flow.operation import job_saver
from fate_flow.runtime import Runtime

# a party's answer to an end status that means it has it: done now, or already (it ended it itself)
ACCEPTED = (int(RetCode.SUCCESS), int(RetCode.NOT_EFFECTIVE))


def submit_job(rt: Runtime, dsl: dict, conf: dict, job_id: str | None = None) -> dict:
    """Validate everything, create the job on every party, queue it. Nothing is left if it fails. A predict
    job runs its deployed model's inference DSL on the train conf with ``conf`` on top (FATE's rule)."""
    train_conf: dict = {}
    if conf_job_type(conf) == "predict":
        dsl, conf, train_conf = model_controller.predict_job(rt, conf)
    spec = party_controller.parse_job(rt, dsl, conf, refuse_v1_train=True)
    job_id = job_id or new_job_id()
    log = schedule_logger(job_id)
    log.info("submit job %s: initiator %s %s, roles %s", job_id, spec.initiator_role, spec.initiator_party_id,
             json.dumps(spec.roles))
    for warning in spec.warnings:  # what the conf says that no component takes (ignored, as FATE does)
        log.warning("job %s: %s", job_id, warning)
    job = Job(f_job_id=job_id, f_roles=spec.roles)
    answers = job_command(rt.federation, job, "create", {"dsl": spec.dsl, "runtime_conf": spec.conf,
                                                         "job_id": job_id, "train_runtime_conf": train_conf})
    if not all_succeeded(answers):
        reason = failures(answers)
        log.error("job %s could not be created: %s", job_id, reason)
        created = succeeded(answers)
        if created:
            job_command(rt.federation, job, "status/failed", {"reason": "submit failed: " + reason}, parties=created)
            for role, party_id in created:
                job_saver.update_job(JobKey(job_id, role, party_id), f_tag="submit_failed")
        raise OperatingError(f"job {job_id} could not be created: {reason}", data={"job_id": job_id})
    _create_holder_rows(rt, job_id, spec, answers)
    job_saver.update_job_status(JobKey(job_id, spec.initiator_role, spec.initiator_party_id), JobStatus.WAITING)
    rt.wake_scheduler()
    params = dsl_parser.party_job_parameters(spec, spec.initiator_role, spec.initiator_party_id)
    predict = spec.job_type == "predict"
    model_info = {"model_id": params.get("model_id") if predict else model_id(spec.roles),
                  "model_version": params.get("model_version") if predict else job_id}
    return job_controller.job_submit_data(rt, job_id, spec.initiator_role, spec.initiator_party_id, model_info)


def _create_holder_rows(rt: Runtime, job_id: str, spec: dsl_parser.JobSpec, answers: Answers) -> None:
    """The initiator keeps a row per remote party's task, to follow it (local parties have real rows);
    only for the components that party said it runs."""
    remote = [(call, answer) for call, answer in answers if not rt.is_local_party(call.role, call.party_id)]
    if not remote:
        return
    with write_transaction():
        for call, answer in remote:
            runs = ((answer.data or {}).get("components") or {}) if isinstance(answer.data, dict) else {}
            for name, component in spec.components.items():
                if (runs.get(name) or {}).get("need_run", False):
                    party_controller.create_task_row(job_id, name, component.module, 0, call.role, call.party_id,
                                                     spec, run_here=False, need_run=True)


def end_job(rt: Runtime, job: Job, status: JobStatus, reason: str = "") -> None:
    """Every party's job row to ``status``; each party stops what still runs and returns its cores."""
    # the other parties first: when the initiator's row shows the end, every party has it too
    others = [p for p in job_parties(job) if p != (job.f_role, str(job.f_party_id))]
    answers = job_command(rt.federation, job, f"status/{status}", {"reason": reason}, parties=others)
    refused = [(call, answer) for call, answer in answers if answer.retcode not in ACCEPTED]
    if refused:
        schedule_logger(job.f_job_id).error("job %s end status %s not taken everywhere: %s", job.f_job_id, status,
                                            failures(refused))
    # the copies of the other parties' tasks before the initiator's own row: once that shows the end, they do too
    settle_holder_rows(job, status)
    # the initiator's own row is local: make sure it ends even if a party is unreachable
    party_controller.update_job_status(rt, job.key, status, reason)
    rt.party_contact.forget(job.f_job_id)


def settle_holder_rows(job: Job, status: JobStatus) -> None:
    """The initiator's copies of remote parties' tasks that still show running follow the job's end: each
    party stopped its tasks when it took the end status (one that could not be told follows its initiator
    once it can), so no copy shows ``running`` for good."""
    end = status if status != JobStatus.SUCCESS else JobStatus.CANCELED
    for tasks in task_rows(job).values():
        for task in tasks:
            if not task.f_run_on_this_party and JobStatus.RUNNING.value in (task.f_party_status, task.f_status):
                # each on its own: the federated status may have ended already (a stop syncs it first)
                job_saver.update_task_status(task.key, status=end)
                job_saver.update_task_status(task.key, party_status=end)


def _initiated(job_id: str) -> Job:
    job = Job.get_or_none((Job.f_job_id == job_id) & (Job.f_is_initiator == True))  # noqa: E712
    if job is None:
        raise OperatingError(f"job {job_id} was not initiated by this server")
    return job


def stop_job(rt: Runtime, job_id: str, stop_status: JobStatus) -> dict:
    """Stop a job everywhere (cancel signal, parties stop, every row ends with ``stop_status``)."""
    job = _initiated(job_id)
    job_saver.update_job(job.key, f_cancel_signal=True)
    if JobStatus(job.f_status) in END_STATUSES:
        return {"stopped": []}
    # the other parties first; this party's row ends last (in end_job), after the copies of their tasks
    here = (job.f_role, str(job.f_party_id))
    others = [p for p in job_parties(job) if p != here]
    # every party knows the job is being stopped before any stops: a task that fails because a peer stopped
    # first is then recorded as stopped, and the job does not end as failed
    job_command(rt.federation, job, "update", {"cancel_signal": True}, parties=others)
    answers = job_command(rt.federation, job, f"stop/{stop_status}", parties=others)
    end_job(rt, job, stop_status, f"stopped by request ({stop_status})")
    rt.wake_scheduler()
    return {"stopped": [f"{role}/{party_id}" for role, party_id in [here, *succeeded(answers)]]}


def rerun_job(rt: Runtime, job_id: str, component: str | None = None, force: bool = False) -> dict:
    """Rerun an ended job in place: same job id, new versions of the chosen tasks on every party."""
    job = _initiated(job_id)
    if JobStatus(job.f_status) not in END_STATUSES:
        raise OperatingError(f"job {job_id} is {job.f_status}: only an ended job can be rerun")
    rows = task_rows(job)
    statuses = {name: multi_party_task_status([t.f_party_status for t in tasks]).value for name, tasks in rows.items()}
    chosen = rerun_components(job.f_dsl, statuses, component, force)
    if not chosen:
        raise OperatingError(f"job {job_id}: nothing to rerun (every component succeeded; use force)")
    for name in chosen:
        remote = [t for t in rows[name] if not rt.is_local_party(t.f_role, t.f_party_id)]
        answers = task_command(rt.federation, [t for t in rows[name] if t not in remote], "create")
        answers += task_command(rt.federation, remote, "create")
        if not all_succeeded(answers):
            raise OperatingError(f"rerun of {name} could not be prepared: {failures(answers)}")
        for holder in remote:  # the initiator's copy of each remote party's new version
            party_controller.create_holder_version(holder)
    answers = job_command(rt.federation, job, "rerun")
    if not all_succeeded(answers):
        raise OperatingError(f"rerun of job {job_id} could not be prepared: {failures(answers)}")
    rt.party_contact.forget(job_id)
    schedule_logger(job_id).info("job %s rerun: %s", job_id, ", ".join(chosen))
    rt.wake_scheduler()
    return {"job_id": job_id, "components": chosen}


def update_parameters(rt: Runtime, job_id: str, updates: dict) -> dict:
    """New job/component parameters on every party, for the tasks that have not run yet."""
    job = _initiated(job_id)
    body = {k: updates[k] for k in ("job_parameters", "component_parameters") if k in updates}
    if not body:
        raise OperatingError("give job_parameters and/or component_parameters to update")
    # every party checks first; only when all would take the parameters does any party store them
    checked = job_command(rt.federation, job, "parameter/update", {**body, "dry_run": True})
    if not all_succeeded(checked):
        raise OperatingError(f"parameters of job {job_id} not updated: {failures(checked)}")
    answers = job_command(rt.federation, job, "parameter/update", body)
    if not all_succeeded(answers):
        raise OperatingError(f"parameters of job {job_id} not updated everywhere: {failures(answers)}")
    own = [a for c, a in answers if c.role == job.f_role and c.party_id == job.f_party_id]
    return (own or [answers[0][1]])[0].data or {}


def cancel_waiting_jobs(rt: Runtime) -> dict[str, int]:
    """``job/clean/queue``: cancel every job this server initiated that still waits; job id -> retcode."""
    canceled: dict[str, int] = {}
    for job_id in job_controller.waiting_initiated_jobs():
        try:
            stop_job(rt, job_id, JobStatus.CANCELED)
            canceled[job_id] = 0
        except OperatingError as exc:
            canceled[job_id] = int(exc.retcode)
    return canceled


# -- the initiator's view of a job's tasks ----------------------------------------------------------------------
def task_rows(job: Job) -> dict[str, list[Task]]:
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


def multi_party_task_status(party_statuses: list[str]) -> JobStatus:
    """A task's federated status from its parties' statuses (FATE's calculate_multi_party_task_status)."""
    statuses = {JobStatus.SUCCESS if s == "pass" else JobStatus(s) for s in party_statuses}
    if not statuses:
        return JobStatus.PASS  # no party runs it (its spec runs at none of the job's roles that have rows)
    if len(statuses) == 1:
        return statuses.pop()
    interrupts = statuses & INTERRUPT_STATUSES
    if interrupts:
        return max(interrupts, key=LEVEL.__getitem__)
    return JobStatus.RUNNING  # some running, or some success while others still wait to start


def rerun_components(dsl: dict, statuses: dict[str, str], component: str | None, force: bool) -> list[str]:
    """What a rerun runs again: everything unfinished (or everything, forced), or one component and all
    that depends on it."""
    if not component or component == "pipeline":
        return [name for name, status in statuses.items() if force or status not in ("success", "pass")]
    if component not in statuses:
        raise OperatingError(f"component {component} is not in the job")
    upstream = dsl_upstream(dsl)
    chosen = {component}
    changed = True
    while changed:
        changed = False
        for name, ups in upstream.items():
            if name not in chosen and chosen & set(ups):
                chosen.add(name)
                changed = True
    return [name for name in statuses if name in chosen]


def dsl_upstream(dsl: dict) -> dict[str, list[str]]:
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
