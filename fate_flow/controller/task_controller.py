"""A task on this party: write its config from the component's spec, start its executor, take its
reports, stop it. Nothing here knows a component by name: what a component reads and writes comes
from its spec and its typed parameters."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import psutil

from fate_flow.controller import model_controller
from fate_flow.db.models import Job, Task
from fate_flow.dsl.spec import PREDICT_MODEL_PREFIX
from fate_flow.entity.keys import TaskKey
from fate_flow.entity.status import JobStatus
from fate_flow.entity.table_meta import TableMeta, TableRef
from fate_flow.entity.task_config import (
    FederationConfig,
    ModelRef,
    NamedTable,
    RabbitMQConfig,
    ServerFiles,
    SparkConfig,
    TaskConfig,
)
from fate_flow.errors import ArgumentError, FlowError, ParamError
from fate_flow.framework.params import Params
from fate_flow.framework.spec import ComponentSpec, stage_of
from fate_flow.log import schedule_logger
from fate_flow.manager.data_access import DataAccess
from fate_flow.operation import job_saver, job_tracker
from fate_flow.runtime import Runtime
from fate_flow.utils.paths import partial_path

logger = logging.getLogger("fate_flow.task")


class TaskSetupError(ValueError):
    """The task cannot be started as configured (bad parameters, a path it may not use); the message says why."""


def task_parameters(task: Task) -> dict:
    """This party's parameters of the task, as resolved from the job's conf."""
    return task.f_component_parameters.get("ComponentParam", {})


def typed_parameters(rt: Runtime, task: Task) -> tuple[ComponentSpec, Params]:
    """The task's component spec and its parameters parsed by it (TaskSetupError when they are invalid)."""
    try:
        spec = rt.registry.get(task.f_component_module)
        return spec, spec.parse_params(task_parameters(task))
    except (LookupError, ParamError) as exc:
        raise TaskSetupError(str(exc)) from None


def _table_metas(rt: Runtime, ref: TableRef) -> list[TableMeta]:
    row = rt.storage.get_meta(ref.namespace, ref.name)
    return [row.to_meta()] if row is not None else []


def _upstream_tables(rt: Runtime, task: Task, data_inputs: dict) -> dict[str, list[TableMeta]]:
    """Each data input key bound to the tables its upstream components output at this party."""
    bound: dict[str, list[TableMeta]] = {}
    for key, refs in (data_inputs or {}).items():
        for ref in refs if isinstance(refs, list) else [refs]:
            component, _, data_name = str(ref).partition(".")
            for info in job_tracker.output_data_infos(task.f_job_id, component, task.f_role, task.f_party_id):
                if info.f_data_name == (data_name or "data"):
                    bound.setdefault(key, []).extend(
                        _table_metas(rt, TableRef(info.f_table_namespace, info.f_table_name)))
    return bound


MODEL_INPUTS = ("model", "isometric_model")  # a component given one of these loads a model (stage_of)


def _upstream_models(rt: Runtime, task: Task, job: Job, inputs: dict) -> dict[str, list[ModelRef]]:
    """Each model input key bound to the models its upstream components registered at this party; a ``cache``
    input (Intersection's) to the upstream's models of alias ``cache``; ``pipeline.<component>.<alias>`` to
    this party's deployed model of the (predict) job."""
    bound: dict[str, list[ModelRef]] = {}
    deployed = None
    for key in (*MODEL_INPUTS, "cache"):
        for ref in inputs.get(key) or []:
            component = str(ref).split(".", 1)[0]
            if component == PREDICT_MODEL_PREFIX:
                if deployed is None:
                    try:
                        deployed = model_controller.deployed_models(rt.models, task.f_role, task.f_party_id,
                                                                    _job_parameters(job))
                    except FlowError as exc:
                        raise TaskSetupError(exc.message) from None
                bound.setdefault(key, []).extend(_deployed_refs(str(ref), deployed))
                continue
            for row in job_tracker.models(task.f_job_id, component, task.f_role, task.f_party_id):
                if row.f_directory and (key != "cache" or row.f_model_alias == "cache"):
                    bound.setdefault(key, []).append(ModelRef(component, row.f_model_alias, row.f_module_name,
                                                              row.f_directory))
    return bound


def _deployed_refs(ref: str, deployed: dict[str, tuple[str, dict[str, str]]]) -> list[ModelRef]:
    """``pipeline.<component>.<alias>``: that component's deployed model at this party; none where the component
    kept no model at this party (an arbiter's HeteroLR): a component that needs one says so when it loads it."""
    _, component, alias = (ref.split(".", 2) + ["", ""])[:3]
    module, aliases = deployed.get(component, ("", {}))
    return [ModelRef(component, alias, module, aliases[alias])] if alias in aliases else []


def _server_files(rt: Runtime, task: Task, params: Params) -> ServerFiles:
    """The files on this server the component reads and writes, resolved and confined (DataAccess): the
    component uses these paths, never the raw parameters."""
    access = DataAccess(rt.settings, upload_dir_of_job=rt.paths.upload_tmp_dir(task.f_job_id))
    try:
        read = str(access.readable(params.file_read(), "file")) if params.file_read() else None
        written = str(access.writable(params.file_written(), "output_path")) if params.file_written() else None
    except ArgumentError as exc:
        raise TaskSetupError(exc.message) from None
    return ServerFiles(read=read, written=written)


def _federation_config(rt: Runtime, job: Job) -> FederationConfig:
    """Where the task's peers receive objects: each party's gRPC server (this one for local parties)."""
    s = rt.settings
    own = f"{'127.0.0.1' if s.host in ('0.0.0.0', '::') else s.host}:{s.grpc_port}"
    routes = {}
    for role, ids in (job.f_roles or {}).items():
        for party_id in map(str, ids):
            route = None if rt.is_local_party(role, party_id) else s.federation.route(party_id)
            routes[party_id] = f"{route.host}:{route.grpc_port}" if route else own
    timeout = int(_job_parameters(job).get("timeout") or s.job.job_timeout)
    return FederationConfig(routes=routes, send_timeout=600.0, get_timeout=float(timeout))


def _rabbitmq_config(rt: Runtime, parties: Iterable[str]) -> RabbitMQConfig | None:
    """The brokers of the job's parties (``default_engines.federation: rabbitmq``); None on another engine.
    A party served here consumes from this party's broker."""
    s = rt.settings
    if s.federation_engine != "rabbitmq" or s.rabbitmq is None:
        return None
    brokers = {}
    for party_id in parties:
        broker = s.rabbitmq.own if rt.is_local_party("", party_id) else s.rabbitmq.broker(party_id, s.party_id)
        if broker is None:
            raise TaskSetupError(f"no RabbitMQ broker for party {party_id}: add it (or default) to "
                                 "fate_on_spark.rabbitmq.route_table")
        brokers[party_id] = broker
    return RabbitMQConfig(brokers=brokers, max_message_size=s.rabbitmq.max_message_size,
                          max_object_bytes=int(s.limits.object_mb * (1 << 20)))


def _job_parameters(job: Job) -> dict:
    return (job.f_runtime_conf_on_party or {}).get("job_parameters", {})


def build_task_config(rt: Runtime, task: Task) -> TaskConfig:
    """Everything the executor needs, bound from the spec, the parameters and what upstream produced."""
    job = Job.find(task.key.job)
    if job is None:
        raise TaskSetupError(f"no job row for task {task.f_task_id} on {task.f_role} {task.f_party_id}")
    spec, params = typed_parameters(rt, task)
    dsl_component = (job.f_dsl or {}).get("components", {}).get(task.f_component_name, {})
    inputs, outputs = dsl_component.get("input") or {}, dsl_component.get("output") or {}
    input_tables = _upstream_tables(rt, task, inputs.get("data") or {})
    for key, ref in params.tables_read().items():
        input_tables.setdefault(key, []).extend(_table_metas(rt, ref))
    named_ref = params.table_written()
    named = (NamedTable(named_ref.namespace, named_ref.name,
                        str(rt.storage.version_dir(named_ref.namespace, named_ref.name, task.f_job_id)))
             if named_ref else None)
    server_files = _server_files(rt, task, params)
    models = _upstream_models(rt, task, job, inputs)
    job_params = _job_parameters(job)
    stage = stage_of(str(job_params.get("job_type") or "train"), list((inputs.get("data") or {}).keys()),
                     any(models.get(key) or inputs.get(key) for key in MODEL_INPUTS))
    if stage not in spec.stages:
        raise TaskSetupError(f"{spec.module} has no {stage} stage (it has {', '.join(spec.stages)})")
    key, paths = task.key, rt.paths
    task_dir = paths.task_dir(key.job_id, key.role, key.party_id, key.component_name, key.task_version)
    federation = _federation_config(rt, job)
    # how the executor signs its pushes: the private key's path (it reads the file as the server's user)
    signing = rt.key_ring.push_signing(federation.routes, [p for p in federation.routes if rt.is_local_party("", p)])
    rabbitmq = _rabbitmq_config(rt, federation.routes)
    if rabbitmq is not None:
        # over RabbitMQ the receiving executor checks each object itself: it needs the senders' public keys
        public_keys = {p: rt.settings.federation.public_key(p) for p in federation.routes}
        signing = replace(signing, public_keys={p: k for p, k in public_keys.items() if k})
    computing_engine = str(job_params.get("computing_engine") or rt.settings.computing_engine).lower()
    return TaskConfig(
        server_url=rt.settings.base_url, local_token=rt.local_token, task=key, module=spec.module,
        spec_source=rt.registry.source(spec.module), stage=stage, parameters=task_parameters(task),
        cores=max(int(job_params.get("task_cores") or 1), 1),
        computing_engine=computing_engine,
        roles={role: [str(p) for p in ids] for role, ids in (job.f_roles or {}).items()},
        party_log_dir=str(paths.party_log_dir(key.job_id, key.role, key.party_id)),
        component_log_dir=str(paths.component_log_dir(key.job_id, key.role, key.party_id, key.component_name)),
        model_dir=str(task_dir / "model"), tables_dir=str(rt.settings.tables_dir),
        federation=FederationConfig(federation.routes, federation.send_timeout, federation.get_timeout, signing,
                                    engine="rabbitmq" if rabbitmq else "direct", rabbitmq=rabbitmq,
                                    mailbox_dir=str(rt.mailbox.root)),
        input_tables=input_tables, input_models=models,
        output_data_names=list(outputs.get("data") or []), output_model_names=list(outputs.get("model") or []),
        named_table=named, server_files=server_files,
        spark=_spark_config(rt, job_params) if computing_engine == "spark" else None,
    )


# FATE's spark_run keys (spark-submit's options) and the Spark properties they set
SPARK_RUN_OPTIONS = {"num-executors": "spark.executor.instances", "executor-cores": "spark.executor.cores",
                     "executor-memory": "spark.executor.memory", "driver-memory": "spark.driver.memory",
                     "driver-cores": "spark.driver.cores"}


def _spark_config(rt: Runtime, job_params: dict) -> SparkConfig:
    """The cluster of ``fate_on_spark.spark`` with the job's ``spark_run`` (FATE's spark-submit options, or
    Spark properties) on top; TaskSetupError names a key that is neither, or a value that is not a scalar."""
    if rt.settings.spark is None:
        raise TaskSetupError("computing_engine spark is not provided by this server (default_engines.computing "
                             "is not spark, so fate_on_spark.spark names no cluster)")
    spark_run = job_params.get("spark_run") or {}
    if not isinstance(spark_run, dict):
        raise TaskSetupError(f"job_parameters spark_run must be a mapping, got {spark_run!r}")
    properties = dict(rt.settings.spark.config.properties)
    for key, value in spark_run.items():
        name = SPARK_RUN_OPTIONS.get(str(key)) or (str(key) if str(key).startswith("spark.") else None)
        if name is None or name in ("spark.master", "spark.cores.max"):
            raise TaskSetupError(f"job_parameters spark_run.{key} is not a Spark property this server lets a job "
                                 f"set (spark.*, or {', '.join(SPARK_RUN_OPTIONS)}; the master and cores are "
                                 "this party's)")
        if not isinstance(value, str | int | float | bool):
            raise TaskSetupError(f"job_parameters spark_run.{key} must be a single value, got {value!r}")
        properties[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return replace(rt.settings.spark.config, properties=properties)


def _write_config(rt: Runtime, task: Task) -> Path:
    key = task.key
    task_dir = rt.paths.task_dir(key.job_id, key.role, key.party_id, key.component_name, key.task_version)
    task_dir.mkdir(parents=True, exist_ok=True)
    path = task_dir / "task_config.json"
    build_task_config(rt, task).write(path)
    return path


def _spawn(rt: Runtime, task: Task, config_path: Path) -> tuple[int, list[str]]:
    log_dir = rt.paths.component_log_dir(task.f_job_id, task.f_role, task.f_party_id, task.f_component_name)
    log_dir.mkdir(parents=True, exist_ok=True)
    return rt.launcher.spawn(config_path, log_dir / "std.log")


def start_task(rt: Runtime, task: Task) -> bool:
    """Spawn the executor and mark this party's task running; False if it was no longer startable."""
    log = schedule_logger(task.f_job_id)
    try:
        pid, cmd = _spawn(rt, task, _write_config(rt, task))
        create_time = psutil.Process(pid).create_time()
    except (OSError, ValueError, psutil.Error) as exc:
        log.error("cannot start task %s: %s", task.f_task_id, exc)
        job_saver.update_task_status(task.key, party_status=JobStatus.FAILED,
                                     f_error_report=f"executor could not start: {exc}")
        push_to_initiator(rt, task)
        return False
    started = job_saver.update_task_status(
        task.key, party_status=JobStatus.RUNNING, f_run_pid=pid, f_run_pid_create_time=create_time,
        f_run_ip=rt.settings.host, f_run_port=rt.settings.http_port, f_worker_id=uuid.uuid4().hex, f_cmd=cmd,
    )
    if not started:
        log.info("task %s changed status while starting; stopping its executor", task.f_task_id)
        kill_process(pid, create_time)
        return False
    # where its executor may publish objects for this server's parties (until then it pushes them through
    # this server); made once the task runs, so that a job ending meanwhile does not get it back
    rt.mailbox.prepare(task.f_job_id)
    log.info("task %s version %s of %s %s started: pid %s", task.f_task_id, task.f_task_version, task.f_role,
             task.f_party_id, pid)
    return True


def report_task(rt: Runtime, key: TaskKey, report: dict) -> bool:
    """An executor's report of its own status, passed on to the initiator."""
    status = JobStatus(report["party_status"])
    if status == JobStatus.RUNNING:
        # the server itself marks a task running when it spawns the executor (with its pid); the
        # executor's own 'running' must not win a race against that write
        return True
    if status == JobStatus.FAILED and being_stopped(key):
        # a stop ends the job at one party before another: a task that then fails for want of its peers
        # (their mailboxes closed, their executors gone) was stopped, it did not fail
        status = JobStatus.CANCELED
    extra: dict = {}
    if report.get("run_elapsed_ms") is not None:
        extra["f_component_elapsed"] = int(report["run_elapsed_ms"])
    if report.get("error_report"):
        extra["f_error_report"] = str(report["error_report"])[:8000]
    effective = job_saver.update_task_status(key, party_status=status, **extra)
    log = schedule_logger(key.job_id)
    log.info("task %s of %s %s reported %s (effective: %s)", key.task_id, key.role, key.party_id, status, effective)
    if "f_error_report" in extra:
        log.error("task %s on %s %s failed: %s", key.task_id, key.role, key.party_id, extra["f_error_report"])
    task = Task.find(key)
    if task is not None:
        push_to_initiator(rt, task)
    return effective


def being_stopped(key: TaskKey) -> bool:
    """Whether the task's job is being stopped here (its initiator sent the cancel signal)."""
    job = Job.find(key.job)
    return job is not None and bool(job.f_cancel_signal)


def push_to_initiator(rt: Runtime, task: Task) -> None:
    """Tell the initiator what this party's task did (PUSH); a local initiator shares our rows."""
    if rt.is_local_party(task.f_initiator_role, task.f_initiator_party_id):
        rt.wake_scheduler()
        return
    from fate_flow.federation.client import PartyCall

    fresh = Task.find(task.key) or task
    body = {key: getattr(fresh, f"f_{key}") for key in ("party_status", "start_time", "end_time", "elapsed",
                                                         "error_report")}
    path = f"/v1/initiator/{task.key.path}/report"
    rt.federation.pool.submit(rt.federation.call, PartyCall(task.f_initiator_role, task.f_initiator_party_id,
                                                            path, body))


def process_alive(pid: int | None, create_time: float | None) -> bool:
    """Is the executor with this pid *and* this create time still running (a pid can be reused)?"""
    if not pid:
        return False
    try:
        process = psutil.Process(pid)
        if create_time is not None and abs(process.create_time() - create_time) > 0.01:
            return False
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def kill_process(pid: int | None, create_time: float | None, grace: float = 3.0) -> bool:
    """Terminate an executor and its children; only the very process we started."""
    if not process_alive(pid, create_time):
        return False
    try:
        process = psutil.Process(pid)
        victims = [*process.children(recursive=True), process]
    except psutil.Error:
        return False
    for victim in victims:
        with contextlib.suppress(psutil.Error):
            victim.terminate()
    _, alive = psutil.wait_procs(victims, timeout=grace)
    for victim in alive:
        with contextlib.suppress(psutil.Error):
            victim.kill()
    return True


def stop_task(task: Task, stop_status: JobStatus) -> bool:
    """Kill the task's executor (if it runs here) and move the task to ``stop_status``."""
    if task.f_run_on_this_party:
        kill_process(task.f_run_pid, task.f_run_pid_create_time)
    # two writes: the federated status may have ended already (the initiator's word that stopped it)
    stopped = job_saver.update_task_status(task.key, party_status=stop_status, f_kill_status=True)
    job_saver.update_task_status(task.key, status=stop_status)
    return stopped


def discard_outputs(rt: Runtime, task: Task) -> None:
    """Remove what an unsuccessful task wrote but never published: an upload's or writer's table version, a
    download's partial file."""
    try:
        _, params = typed_parameters(rt, task)
    except TaskSetupError:
        return  # it never started: nothing was written
    ref = params.table_written()
    if ref is not None:
        rt.storage.discard_version(ref.namespace, ref.name, task.f_job_id)
    if params.file_written():  # a killed download's file, written aside, never renamed into place
        with contextlib.suppress(ArgumentError, OSError):
            output = DataAccess(rt.settings).writable(params.file_written())
            partial_path(output, task.f_job_id).unlink(missing_ok=True)


def tasks_of(job: Job) -> list[Task]:
    """Every task row (all versions) of this party's job."""
    return list(Task.of_job(job.key))
