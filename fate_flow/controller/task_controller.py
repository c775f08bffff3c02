"""A task on this party: start its executor, take its reports, stop it."""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from pathlib import Path

import psutil

from fate_flow.components.writer import destination as writer_destination
from fate_flow.db.models import Job, Task
from fate_flow.entity.status import JobStatus
from fate_flow.log import schedule_logger
from fate_flow.operation import job_saver, job_tracker
from fate_flow.runtime import Runtime
from fate_flow.utils.paths import within_any

logger = logging.getLogger("fate_flow.task")
def _task_parameters(task: Task) -> dict:
    return task.f_component_parameters.get("ComponentParam", {})


def _table_meta(rt: Runtime, namespace: str | None, name: str | None) -> list[dict]:
    meta = rt.storage.get_meta(str(namespace), str(name)) if namespace and name else None
    if meta is None:
        return []
    return [{"namespace": meta.f_namespace, "name": meta.f_name, "address": meta.f_address, "count": meta.f_count,
             "schema": meta.f_schema, "partitions": meta.f_partitions, "id_delimiter": meta.f_id_delimiter,
             "have_head": meta.f_have_head, "extend_sid": meta.f_extend_sid}]


def _dsl_component(task: Task) -> dict:
    job = Job.get_or_none((Job.f_job_id == task.f_job_id) & (Job.f_role == task.f_role)
                          & (Job.f_party_id == task.f_party_id))
    return ((job.f_dsl if job else {}) or {}).get("components", {}).get(task.f_component_name, {})


def _upstream_tables(rt: Runtime, task: Task) -> dict[str, list[dict]]:
    """Each data input of the component bound to the tables its upstream components output here."""
    inputs = _dsl_component(task).get("input", {})
    bound: dict[str, list[dict]] = {}
    for key, refs in (inputs.get("data") or {}).items():
        for ref in refs if isinstance(refs, list) else [refs]:
            component, _, data_name = str(ref).partition(".")
            for info in job_tracker.output_data_infos(task.f_job_id, component, task.f_role, task.f_party_id):
                if info.f_data_name == (data_name or "data"):
                    bound.setdefault(key, []).extend(_table_meta(rt, info.f_table_namespace, info.f_table_name))
    return bound


def _bindings(rt: Runtime, task: Task) -> dict:
    """Where the component reads and writes tables; raises ValueError for a place it may not write."""
    params = _task_parameters(task)
    module = task.f_component_module
    bindings: dict = {"table_version_dir": "", "tables_dir": str(rt.settings.tables_dir),
                      "input_tables": _upstream_tables(rt, task),
                      "output_data_names": list(_dsl_component(task).get("output", {}).get("data", []))}
    if module == "Upload":
        bindings["table_version_dir"] = str(rt.storage.version_dir(params["namespace"], params["name"], task.f_job_id))
    elif module == "Writer":
        namespace, name = writer_destination(params)
        if namespace and name:
            bindings["table_version_dir"] = str(rt.storage.version_dir(str(namespace), str(name), task.f_job_id))
        if not bindings["input_tables"]:
            bindings["input_tables"]["table"] = _table_meta(rt, params.get("namespace"),
                                                            params.get("table_name") or params.get("name"))
    elif module == "Reader":
        table = params.get("table") or {}
        bindings["input_tables"]["table"] = _table_meta(rt, table.get("namespace"), table.get("name"))
    elif module == "Download":
        bindings["input_tables"]["table"] = _table_meta(rt, params.get("namespace"),
                                                        params.get("name") or params.get("table_name"))
        output = Path(str(params.get("output_path", "")))
        if not output.is_absolute() or not within_any(output, rt.data_access_dirs):
            raise ValueError(f"output_path {output} is not in a directory this server writes downloads to "
                             f"(data_access.allowed_dirs)")
    return bindings


def _federation_config(rt: Runtime, task: Task) -> dict:
    """Where the task's peers receive objects: each party's gRPC server (this one for local parties)."""
    job = Job.get_or_none((Job.f_job_id == task.f_job_id) & (Job.f_role == task.f_role)
                          & (Job.f_party_id == task.f_party_id))
    s = rt.settings
    own = f"{'127.0.0.1' if s.host in ('0.0.0.0', '::') else s.host}:{s.grpc_port}"
    routes = {}
    for role, ids in ((job.f_roles if job else {}) or {}).items():
        for party_id in map(str, ids):
            route = None if rt.is_local_party(role, party_id) else s.federation.route(party_id)
            routes[party_id] = f"{route.host}:{route.grpc_port}" if route else own
    timeout = int((job.f_runtime_conf_on_party or {}).get("job_parameters", {}).get("timeout") or s.job.job_timeout)
    return {"routes": routes, "send_timeout": 600, "get_timeout": timeout,
            "roles": {role: list(map(str, ids)) for role, ids in ((job.f_roles if job else {}) or {}).items()}}


def _write_config(rt: Runtime, task: Task) -> Path:
    task_dir = rt.paths.task_dir(task.f_job_id, task.f_role, task.f_party_id, task.f_component_name,
                                 task.f_task_version)
    task_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "server_url": rt.settings.base_url,
        "local_token": rt.local_token,
        "job_id": task.f_job_id,
        "role": task.f_role,
        "party_id": task.f_party_id,
        "component_name": task.f_component_name,
        "module": task.f_component_module,
        "task_id": task.f_task_id,
        "task_version": task.f_task_version,
        "parameters": _task_parameters(task),
        "party_log_dir": str(rt.paths.party_log_dir(task.f_job_id, task.f_role, task.f_party_id)),
        "component_log_dir": str(rt.paths.component_log_dir(task.f_job_id, task.f_role, task.f_party_id,
                                                            task.f_component_name)),
        "federation": _federation_config(rt, task),
        **_bindings(rt, task),
    }
    path = task_dir / "task_config.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def _spawn(rt: Runtime, task: Task, config_path: Path) -> tuple[int, list[str]]:
    log_dir = rt.paths.component_log_dir(task.f_job_id, task.f_role, task.f_party_id, task.f_component_name)
    log_dir.mkdir(parents=True, exist_ok=True)
    return rt.launcher.spawn(config_path, log_dir / "std.log")


def start_task(rt: Runtime, task: Task) -> bool:
    """Spawn the executor and mark this party's task running; False if it was no longer startable."""
    log = schedule_logger(task.f_job_id)
    key = (task.f_job_id, task.f_task_id, task.f_task_version, task.f_role, task.f_party_id)
    try:
        pid, cmd = _spawn(rt, task, _write_config(rt, task))
        create_time = psutil.Process(pid).create_time()
    except (OSError, ValueError, psutil.Error) as exc:
        log.error("cannot start task %s: %s", task.f_task_id, exc)
        job_saver.update_task_status(*key, party_status=JobStatus.FAILED,
                                     f_error_report=f"executor could not start: {exc}")
        push_to_initiator(rt, task)
        return False
    started = job_saver.update_task_status(
        *key, party_status=JobStatus.RUNNING, f_run_pid=pid, f_run_pid_create_time=create_time,
        f_run_ip=rt.settings.host, f_run_port=rt.settings.http_port, f_worker_id=uuid.uuid4().hex, f_cmd=cmd,
    )
    if not started:
        log.info("task %s changed status while starting; stopping its executor", task.f_task_id)
        kill_process(pid, create_time)
        return False
    log.info("task %s version %s of %s %s started: pid %s", task.f_task_id, task.f_task_version, task.f_role,
             task.f_party_id, pid)
    return True


def report_task(rt: Runtime, job_id: str, component: str, task_id: str, task_version: int, role: str,
                party_id: str, report: dict) -> bool:
    """An executor's report of its own status, passed on to the initiator."""
    status = JobStatus(report["party_status"])
    if status == JobStatus.RUNNING:
        # the server itself marks a task running when it spawns the executor (with its pid); the
        # executor's own 'running' must not win a race against that write
        return True
    extra: dict = {}
    if report.get("run_elapsed_ms") is not None:
        extra["f_component_elapsed"] = int(report["run_elapsed_ms"])
    if report.get("error_report"):
        extra["f_error_report"] = str(report["error_report"])[:8000]
    effective = job_saver.update_task_status(job_id, task_id, task_version, role, party_id, party_status=status,
                                             **extra)
    log = schedule_logger(job_id)
    log.info("task %s of %s %s reported %s (effective: %s)", task_id, role, party_id, status, effective)
    if "f_error_report" in extra:
        log.error("task %s on %s %s failed: %s", task_id, role, party_id, extra["f_error_report"])
    task = Task.get_or_none((Task.f_job_id == job_id) & (Task.f_task_id == task_id)
                            & (Task.f_task_version == int(task_version)) & (Task.f_role == role)
                            & (Task.f_party_id == str(party_id)))
    if task is not None:
        push_to_initiator(rt, task)
    return effective


def push_to_initiator(rt: Runtime, task: Task) -> None:
    """Tell the initiator what this party's task did (PUSH); a local initiator shares our rows."""
    if rt.is_local_party(task.f_initiator_role, task.f_initiator_party_id):
        rt.wake_scheduler()
        return
    from fate_flow.federation.client import PartyCall

    fresh = Task.get_or_none((Task.f_job_id == task.f_job_id) & (Task.f_task_id == task.f_task_id)
                             & (Task.f_task_version == task.f_task_version) & (Task.f_role == task.f_role)
                             & (Task.f_party_id == task.f_party_id)) or task
    body = {key: getattr(fresh, f"f_{key}") for key in ("party_status", "start_time", "end_time", "elapsed",
                                                         "error_report")}
    path = (f"/v1/initiator/{task.f_job_id}/{task.f_component_name}/{task.f_task_id}/{task.f_task_version}/"
            f"{task.f_role}/{task.f_party_id}/report")
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
    return job_saver.update_task_status(task.f_job_id, task.f_task_id, task.f_task_version, task.f_role,
                                        task.f_party_id, status=stop_status, party_status=stop_status,
                                        f_kill_status=True)


def discard_outputs(rt: Runtime, task: Task) -> None:
    """Remove what an unsuccessful task wrote but never published (a failed or killed upload or writer)."""
    params = _task_parameters(task)
    if task.f_component_module == "Upload":
        rt.storage.discard_version(params["namespace"], params["name"], task.f_job_id)
    elif task.f_component_module == "Writer":
        namespace, name = writer_destination(params)
        if namespace and name:
            rt.storage.discard_version(str(namespace), str(name), task.f_job_id)


def tasks_of(job: Job) -> list[Task]:
    return list(Task.select().where((Task.f_job_id == job.f_job_id) & (Task.f_role == job.f_role)
                                    & (Task.f_party_id == job.f_party_id)))
