"""What one party does with its own rows when the initiator (or its own executor) tells it to.

These are the handlers behind ``/v1/party/...``; a party never decides a job's or a task's
federated status itself, it applies what the initiator decided and reports what its executors did.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

import peewee

from fate_flow import dsl as dsl_parser
from fate_flow.controller import model_controller, permission_controller, task_controller
from fate_flow.controller.component_check import check_components
from fate_flow.db.connection import write_transaction
from fate_flow.db.models import Job, Task
from fate_flow.dsl import DSLError
from fate_flow.entity.ids import model_id
from fate_flow.entity.ids import task_id as make_task_id
from fate_flow.entity.keys import JobKey, TaskKey
from fate_flow.entity.status import END_STATUSES, JobStatus
from fate_flow.entity.table_meta import STORAGE_ENGINES
from fate_flow.errors import ArgumentError, DataError, FlowError, OperatingError
from fate_flow.log import schedule_logger
from fate_flow.manager import broker, resource_manager
from fate_flow.manager.data_access import DataAccess
from fate_flow.operation import job_saver
from fate_flow.runtime import Runtime

# roles that compute nothing heavy: FATE charges them no cores (IGNORE_RESOURCE_ROLES)
NO_RESOURCE_ROLES = {"arbiter"}


def get_job(key: JobKey) -> Job:
    """This party's row of the job; DataError (102) when this server holds none."""
    job = Job.find(key)
    if job is None:
        raise DataError(f"no job {key.job_id} for {key.role} {key.party_id} on this server")
    return job


def get_task(key: TaskKey) -> Task:
    """This party's row of the task version; DataError (102) when this server holds none."""
    task = Task.find(key)
    if task is None:
        raise DataError(f"no task {key.task_id} version {key.task_version} for {key.role} {key.party_id} "
                        "on this server")
    return task


def provided_computing_engines(rt: Runtime) -> tuple[str, ...]:
    """The computing engines a job may name here: standalone (eggroll is computed standalone), and Spark when
    this party has a cluster (``fate_on_spark.spark``)."""
    return ("standalone", "eggroll", "spark") if rt.settings.spark else ("standalone", "eggroll")


def _party_job_parameters(rt: Runtime, job_id: str, spec: dsl_parser.JobSpec, role: str, party_id: str) -> dict:
    defaults = rt.settings.job
    params = {"task_cores": defaults.task_cores, "task_parallelism": defaults.task_parallelism,
              "auto_retries": defaults.auto_retries, "federated_status_collect_type": "PUSH",
              "computing_engine": rt.settings.computing_engine.upper(), "job_type": spec.job_type}
    params.update(dsl_parser.party_job_parameters(spec, role, party_id))
    computing = str(params.get("computing_engine") or "").lower()
    if computing not in provided_computing_engines(rt):
        raise OperatingError(f"job_parameters computing_engine {params['computing_engine']!r} is not provided by "
                             f"this server (it computes on {' or '.join(provided_computing_engines(rt))})")
    storage = str(params.get("storage_engine") or "STANDALONE").upper()
    if storage not in STORAGE_ENGINES:
        raise OperatingError(f"job_parameters storage_engine {params['storage_engine']!r} is not provided by this "
                             f"server (it stores tables as {' or '.join(STORAGE_ENGINES)}: Parquet files on the "
                             "local file system)")
    if spec.job_type != "predict":  # a training job's model is its parties' and its own version (as FATE sets)
        params["model_id"], params["model_version"] = model_id(spec.roles), job_id
    params["federated_mode"] = "SINGLE" if all(rt.is_local_party(r, p) for r, ids in spec.roles.items()
                                               for p in ids) else "MULTIPLE"
    return params


def _cores(rt: Runtime, role: str, params: dict) -> int:
    if role in NO_RESOURCE_ROLES:
        return 0
    try:
        cores = int(params["task_cores"]) * int(params["task_parallelism"])
    except (TypeError, ValueError):
        raise OperatingError(f"job_parameters task_cores and task_parallelism must be integers: {params}") from None
    limit = rt.settings.total_cores * rt.settings.job.max_cores_percent_per_job
    if cores > limit:
        raise OperatingError(f"the job asks for {cores} cores (task_cores x task_parallelism) on {role}, "
                             f"more than the {int(limit)} this party allows per job")
    return cores


def parse_job(rt: Runtime, dsl: dict, conf: dict, parties: list[tuple[str, str]] | None = None,
              **options: Any) -> dsl_parser.JobSpec:
    """Parse a job and check its components against this server's registry (for ``parties`` only, when
    given). Raises DSLError (103) naming the component and field."""
    spec = dsl_parser.parse_job(dsl, conf, rt.registry.has, **options)
    check_components(spec, rt.registry, parties)
    return spec


def check_server_files(rt: Runtime, key: JobKey, spec: dsl_parser.JobSpec) -> None:
    """Every file on this server that a component of the job reads or writes here is one it may: the
    Upload component's ``file``, the Download component's ``output_path`` (DataAccess); else DSLError (103)
    naming the component, the parameter and the setting to change."""
    access = DataAccess(rt.settings, upload_dir_of_job=rt.paths.upload_tmp_dir(key.job_id))
    parameters = dsl_parser.party_component_parameters(spec, key.role, key.party_id)
    for name, component in spec.components.items():
        component_spec = rt.registry.find(component.module)
        if component_spec is None or not component_spec.runs_at(key.role):
            continue
        typed = component_spec.parse_params(parameters.get(name, {}))
        try:
            if typed.file_read():
                access.readable(typed.file_read(), "file")
            if typed.file_written():
                access.writable(typed.file_written(), "output_path")
        except ArgumentError as exc:
            raise DSLError(f"component {name}: parameter {exc.message} ({key.role} {key.party_id})",
                           component=name, field="parameters") from None


def runs_here(rt: Runtime, module: str, role: str) -> bool:
    """Whether a component's tasks exist at ``role`` (its spec declares a runner there)."""
    spec = rt.registry.find(module)
    return spec is not None and spec.runs_at(role)


def dag_dependencies(rt: Runtime, spec: dsl_parser.JobSpec, role: str | None, party_id: str | None) -> dict:
    """FATE-Board's DAG document; at a given role, a component whose spec does not run there does not run."""
    document = dsl_parser.dag_dependencies(spec, role, party_id)
    if role:
        modules = document["component_module"]
        document["component_need_run"] = {name: need and runs_here(rt, modules[name], role)
                                          for name, need in document["component_need_run"].items()}
    return document


def create_job(rt: Runtime, key: JobKey, body: dict) -> dict:
    """Create this party's job row and its task rows (idempotent: a repeated create changes nothing).

    A component gets a task here only if its spec runs at this role (FATE: no Reader at the arbiter);
    the answer tells the initiator which components run here (``need_run``).
    """
    spec = parse_job(rt, body["dsl"], body["runtime_conf"], [(key.role, key.party_id)])
    permission_controller.check_partner_job(rt, key, spec)
    check_server_files(rt, key, spec)
    params = _party_job_parameters(rt, key.job_id, spec, key.role, key.party_id)
    model_controller.check_predict_model(key.role, key.party_id, params, spec.roles)
    cores = _cores(rt, key.role, params)
    component_params = dsl_parser.party_component_parameters(spec, key.role, key.party_id)
    need_run = dsl_parser.party_need_run(spec, key.role, key.party_id)
    present = {name for name, c in spec.components.items() if runs_here(rt, c.module, key.role)}
    conf_on_party = {**spec.conf, "job_parameters": params}
    is_initiator = key.role == spec.initiator_role and key.party_id == spec.initiator_party_id
    _write_conf_files(rt, key, spec, conf_on_party)
    with write_transaction():
        job_saver.create_job(
            f_job_id=key.job_id, f_role=key.role, f_party_id=key.party_id, f_initiator_role=spec.initiator_role,
            f_initiator_party_id=spec.initiator_party_id, f_dsl=spec.dsl, f_runtime_conf=spec.conf,
            f_runtime_conf_on_party=conf_on_party, f_train_runtime_conf=body.get("train_runtime_conf") or {},
            f_roles={r: [int(p) if p.isdigit() else p for p in ids] for r, ids in spec.roles.items()},
            # the initiator's row stays 'ready' (not schedulable) until submit has created everything
            f_status=(JobStatus.READY if is_initiator else JobStatus.WAITING).value, f_is_initiator=is_initiator,
            f_engine_name=rt.settings.computing_engine,
            f_cores=cores, f_user_id=str(params.get("user", "") or ""),
        )
        for name, component in spec.components.items():
            if name in present:
                create_task_row(key.job_id, name, component.module, 0, key.role, key.party_id, spec, run_here=True,
                                parameters=component_params.get(name, {}), need_run=need_run.get(name, True))
    schedule_logger(key.job_id).info("job %s created on %s %s (%s cores)", key.job_id, key.role, key.party_id,
                                     cores)
    return {"components": {name: {"need_run": name in present and need_run.get(name, True)}
                           for name in spec.components}}


def create_task_row(job_id: str, component: str, module: str, version: int, role: str, party_id: str,
                    spec: dsl_parser.JobSpec, run_here: bool, parameters: dict | None = None,
                    need_run: bool = True) -> bool:
    """Insert a task row (a party's own, or the initiator's holder row of a remote party's)."""
    return job_saver.create_task(
        f_job_id=job_id, f_role=role, f_party_id=str(party_id), f_initiator_role=spec.initiator_role,
        f_initiator_party_id=spec.initiator_party_id, f_component_name=component,
        f_component_module=module, f_task_id=make_task_id(job_id, component), f_task_version=version,
        f_status=JobStatus.WAITING.value, f_party_status=JobStatus.WAITING.value, f_run_on_this_party=run_here,
        f_component_parameters={"ComponentParam": parameters or {}, "module": module, "need_run": need_run},
        f_provider_info={"name": "fate_flow", "version": "builtin"},
    )


def _write_conf_files(rt: Runtime, key: JobKey, spec: dsl_parser.JobSpec, conf_on_party: dict) -> None:
    job_dir = rt.paths.job_dir(key.job_id)
    party_dir = rt.paths.task_dir(key.job_id, key.role, key.party_id, "_", 0).parent.parent
    party_dir.mkdir(parents=True, exist_ok=True)
    for path, content in ((job_dir / "job_dsl.json", spec.dsl), (job_dir / "job_runtime_conf.json", spec.conf),
                          (party_dir / "job_runtime_on_party_conf.json", conf_on_party)):
        path.write_text(json.dumps(content, indent=2))


def apply_resource(key: JobKey) -> None:
    """Take the job's cores here (once); OperatingError when this party lacks them."""
    job = get_job(key)
    if job.f_resource_in_use:
        return
    if not resource_manager.apply_for_job(job):
        raise OperatingError(f"not enough cores on {key.role} {key.party_id}: the job needs {job.f_cores}, "
                             f"{resource_manager.remaining_cores(job.f_engine_name)} free")


def return_resource(key: JobKey) -> bool:
    """Give the job's cores back here (once); False if they were not held."""
    return resource_manager.return_for_job(get_job(key))


def update_job_status(rt: Runtime, key: JobKey, status: JobStatus, reason: str = "") -> bool:
    """The initiator's decision for this party's job row; an end status also ends what runs here."""
    job = get_job(key)
    if JobStatus(status) in END_STATUSES and JobStatus(job.f_status) not in END_STATUSES:
        # clean up first: once a job shows an end status, its executors are gone and its cores back
        finish_job_here(rt, job, JobStatus(status))
        if JobStatus(status) == JobStatus.SUCCESS:
            _save_model(rt, job)  # before the status: a client that sees success finds the model
    effective = job_saver.update_job_status(key, status, **({"f_error": reason} if reason else {}))
    if effective:
        schedule_logger(key.job_id).info("job %s on %s %s: %s%s", key.job_id, key.role, key.party_id, status,
                                         f" ({reason})" if reason else "")
        if JobStatus(status) in END_STATUSES:
            _clean_when_every_row_ended(rt, job)
    return effective


def _save_model(rt: Runtime, job: Job) -> None:
    """The party's pipelined model of a successful training job; a failure to save is logged with the job
    (its outputs stay where they are) and does not change the job's end."""
    try:
        model_controller.save_trained_model(rt, job)
    except (OSError, ValueError, FlowError, peewee.PeeweeError) as exc:
        schedule_logger(job.f_job_id).error("job %s: the model of %s %s was not saved: %s", job.f_job_id,
                                            job.f_role, job.f_party_id, exc)


def push_authorizer(rt: Runtime | None = None):
    """The data plane accepts objects only for a job that runs here, from a party of that job."""
    from fate_flow.db.connection import connection

    def authorize(header: Any) -> bool:
        with connection():
            found = Job.status_and_roles(JobKey(header.job_id, header.dst_role, str(header.dst_party)))
        if found is None or JobStatus(found[0]) in END_STATUSES:
            return False
        return str(header.src_party) in {str(p) for p in (found[1] or {}).get(header.src_role, [])}

    return authorize


def finish_job_here(rt: Runtime, job: Job, status: JobStatus) -> None:
    """Stop this party's unfinished tasks, drop unpublished outputs, give the cores back (before the row shows
    its end status)."""
    for task in task_controller.tasks_of(job):
        # tasks that never started stay waiting (as in FATE): a rerun picks them up
        if JobStatus.RUNNING.value in (task.f_party_status, task.f_status):
            task_controller.stop_task(task, status if status != JobStatus.SUCCESS else JobStatus.CANCELED)
        if task.f_party_status not in ("success", "pass"):
            task_controller.discard_outputs(rt, task)
    resource_manager.return_for_job(job)
    # this row's queues are its own (they carry objects to its role only): deleted with it, whatever the
    # job's other rows here are doing
    _delete_job_queues(rt, job)


def _clean_when_every_row_ended(rt: Runtime, job: Job) -> None:
    """Once every row of the job on this server shows an end status, drop what its tasks received from other
    parties and the server's copy of an uploaded file (the table holds the data). Checked after this row's
    end status is written: of two rows ending at once, the later write sees the other's end."""
    running = Job.select().where((Job.f_job_id == job.f_job_id) & Job.f_status.not_in(
        [str(s) for s in END_STATUSES]))
    if not running.exists():
        rt.mailbox.clean(job.f_job_id)
        shutil.rmtree(rt.paths.upload_tmp_dir(job.f_job_id), ignore_errors=True)


def _delete_job_queues(rt: Runtime, job: Job) -> None:
    """Over RabbitMQ, the queues on this party's broker that carry the job's objects to this row's role (its
    other mailbox) go with the job."""
    if rt.settings.federation_engine != "rabbitmq" or rt.settings.rabbitmq is None:
        return
    components = list(((job.f_dsl or {}).get("components") or {}).keys())
    queues = broker.job_queues(job.f_job_id, components, job.f_roles or {}, [(job.f_role, str(job.f_party_id))])
    deleted = broker.delete_queues(rt.settings.rabbitmq, queues)
    schedule_logger(job.f_job_id).info("job %s: %d RabbitMQ queues deleted at %s %s", job.f_job_id, deleted,
                                       job.f_role, job.f_party_id)


def stop_job(rt: Runtime, key: JobKey, stop_status: JobStatus) -> bool:
    """Stop this party's job: cancel signal, then the end status (which stops what runs)."""
    job_saver.update_job(key, f_cancel_signal=True)
    return update_job_status(rt, key, stop_status, reason=f"stopped ({stop_status})")


def _recheck(rt: Runtime, key: JobKey, job: Job) -> None:
    """What this party allows may have changed since the job was created (a grant taken back, a directory
    no longer allowed): a rerun is checked like a submit."""
    spec = dsl_parser.parse_job(job.f_dsl, job.f_runtime_conf, rt.registry.has)
    permission_controller.check_partner_job(rt, key, spec)
    check_server_files(rt, key, spec)


def rerun_job(rt: Runtime, key: JobKey) -> bool:
    """Back to waiting (same job id): clear what the previous run left on the job row."""
    job = get_job(key)
    _recheck(rt, key, job)
    if not job_saver.update_job_status(key, JobStatus.WAITING):
        return JobStatus(job.f_status) == JobStatus.WAITING
    Job.update(f_cancel_signal=False, f_end_time=None, f_elapsed=None, f_tag="", f_error=None, f_progress=0).where(
        Job.matches(key)).execute()
    schedule_logger(key.job_id).info("job %s on %s %s is waiting again (rerun)", key.job_id, key.role, key.party_id)
    return True


def create_task_version(rt: Runtime, key: TaskKey) -> int:
    """A rerun's next version of a task, copied from ``key``'s version (idempotent); checked like a submit."""
    task = get_task(key)
    _recheck(rt, key.job, get_job(key.job))
    latest = (Task.select(Task.f_task_version).where((Task.f_job_id == key.job_id) & (Task.f_task_id == key.task_id)
                                                     & (Task.f_role == key.role) & (Task.f_party_id == key.party_id))
              .order_by(Task.f_task_version.desc()).first())
    if latest.f_task_version != task.f_task_version:
        return latest.f_task_version  # already created by a repeated call
    version = task.f_task_version + 1
    # the new version takes the job's current parameters (parameter/update may have changed them)
    job = get_job(key.job)
    spec = dsl_parser.parse_job(job.f_dsl, job.f_runtime_conf)
    parameters = {**task.f_component_parameters, "ComponentParam": dsl_parser.party_component_parameters(
        spec, key.role, key.party_id).get(task.f_component_name, {})}
    job_saver.create_task(
        f_job_id=key.job_id, f_role=key.role, f_party_id=key.party_id, f_initiator_role=task.f_initiator_role,
        f_initiator_party_id=task.f_initiator_party_id, f_component_name=task.f_component_name,
        f_component_module=task.f_component_module, f_task_id=key.task_id, f_task_version=version,
        f_status=JobStatus.WAITING.value, f_party_status=JobStatus.WAITING.value,
        f_run_on_this_party=task.f_run_on_this_party, f_component_parameters=parameters,
        f_provider_info=task.f_provider_info, f_federated_mode=task.f_federated_mode,
    )
    return version


def create_holder_version(holder: Task) -> bool:
    """The initiator's row following a remote party's next version of a task (rerun)."""
    return job_saver.create_task(
        f_job_id=holder.f_job_id, f_role=holder.f_role, f_party_id=holder.f_party_id,
        f_initiator_role=holder.f_initiator_role, f_initiator_party_id=holder.f_initiator_party_id,
        f_component_name=holder.f_component_name, f_component_module=holder.f_component_module,
        f_task_id=holder.f_task_id, f_task_version=holder.f_task_version + 1, f_status=JobStatus.WAITING.value,
        f_party_status=JobStatus.WAITING.value, f_run_on_this_party=False,
        f_component_parameters=holder.f_component_parameters, f_federated_mode=holder.f_federated_mode,
    )


def update_parameters(rt: Runtime, key: JobKey, updates: dict) -> dict:
    """Merge new job/component parameters into this party's conf; tasks not run yet take them. With
    ``dry_run`` only check that this party would take them (the initiator asks every party first)."""
    job = get_job(key)
    if JobStatus(job.f_status) == JobStatus.RUNNING:
        raise OperatingError(f"job {key.job_id} is running: stop it or wait for it to end before updating "
                             "parameters")
    conf = dsl_parser.deep_merge(job.f_runtime_conf, {k: v for k, v in updates.items()
                                                      if k in ("job_parameters", "component_parameters")})
    spec = parse_job(rt, job.f_dsl, conf, [(key.role, key.party_id)])
    permission_controller.check_partner_job(rt, key, spec)
    check_server_files(rt, key, spec)
    params = dsl_parser.party_component_parameters(spec, key.role, key.party_id)
    conf_on_party = {**conf, "job_parameters": {**job.f_runtime_conf_on_party.get("job_parameters", {}),
                                                **dsl_parser.party_job_parameters(spec, key.role, key.party_id)}}
    answer = {"job_parameters": conf.get("job_parameters", {}), "component_parameters": conf.get(
        "component_parameters", {}), "components": list(spec.components)}
    if updates.get("dry_run"):
        return answer
    with write_transaction():
        Job.update(f_runtime_conf=conf, f_runtime_conf_on_party=conf_on_party).where(Job.matches(key)).execute()
        for task in task_controller.tasks_of(job):
            if task.f_status == JobStatus.WAITING.value:
                task.f_component_parameters["ComponentParam"] = params.get(task.f_component_name, {})
                Task.update(f_component_parameters=task.f_component_parameters).where(
                    Task.matches(task.key)).execute()
    return answer


def update_job_fields(key: JobKey, fields: dict[str, Any]) -> int:
    """The initiator's progress (or description) for this party's row, or its notice that the job is being
    stopped (``cancel_signal``: only ever set, by the job's initiator, before it stops the parties)."""
    allowed = {"progress", "description"}
    values = {f"f_{k}": v for k, v in fields.items() if k in allowed}
    if fields.get("cancel_signal") is True:
        values["f_cancel_signal"] = True
    return job_saver.update_job(key, **values)


def _passes_data_through(rt: Runtime, task: Task) -> bool:
    """FATE runs a component that need not run at a party when it takes and gives data: its input data is
    passed on unchanged (the executor does it), so the components after it still get a table."""
    spec = rt.registry.find(task.f_component_module)
    return spec is not None and bool(spec.inputs.data) and spec.outputs.data


def start_task(rt: Runtime, key: TaskKey) -> bool:
    """Start this party's task (spawn its executor), or pass it when it need not run here."""
    task = get_task(key)
    if task.f_party_status != JobStatus.WAITING.value:
        return False  # already started (a repeated start): nothing to spawn
    if not task.f_component_parameters.get("need_run", True) and not _passes_data_through(rt, task):
        return job_saver.update_task_status(key, party_status=JobStatus.PASS)
    started = task_controller.start_task(rt, task)
    if started:  # the initiator starts a task only once it decided it runs: our copy of its status says so
        job_saver.update_task_status(key, status=JobStatus.RUNNING)
    return started


def update_task_status(rt: Runtime, key: TaskKey, status: JobStatus) -> bool:
    """The initiator's federated status of the task; an end status stops it here if it still runs."""
    effective = job_saver.update_task_status(key, status=status)
    if JobStatus(status) in END_STATUSES:
        task = get_task(key)
        if task.f_run_on_this_party and JobStatus(task.f_party_status) not in END_STATUSES:
            task_controller.stop_task(task, JobStatus(status))
    return effective


def stop_task(key: TaskKey, status: JobStatus) -> bool:
    """Kill the task's executor here and record ``status``."""
    return task_controller.stop_task(get_task(key), status)


def collect_task(key: TaskKey) -> dict:
    """This party's row of the task, for the initiator's PULL."""
    task = get_task(key)
    return {name: getattr(task, f"f_{name}") for name in (
        "job_id", "task_id", "task_version", "role", "party_id", "status", "party_status", "start_time",
        "update_time", "end_time", "elapsed", "error_report")}
