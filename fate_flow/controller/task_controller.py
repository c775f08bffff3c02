"""A task on this party: start its executor, take its reports, stop it."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import psutil

from fate_flow.db.models import Job, Task
from fate_flow.entity.status import END_STATUSES, JobStatus
from fate_flow.log import schedule_logger
from fate_flow.operation import job_saver
from fate_flow.runtime import Runtime

logger = logging.getLogger("fate_flow.task")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# executors this process started and has not reaped yet (pid -> Popen): see reap_executors
_children: dict[int, subprocess.Popen] = {}
_children_lock = threading.Lock()


def reap_executors() -> None:
    """Collect the exit status of ended executors so that none lingers as a zombie."""
    with _children_lock:
        for pid, process in list(_children.items()):
            if process.poll() is not None:
                del _children[pid]


def _task_parameters(task: Task) -> dict:
    return task.f_component_parameters.get("ComponentParam", {})


def _bindings(rt: Runtime, task: Task) -> dict:
    """Where a built-in data component reads or writes its table."""
    params = _task_parameters(task)
    if task.f_component_module == "Upload":
        return {"table_version_dir": str(rt.storage.version_dir(params["namespace"], params["name"], task.f_job_id))}
    bindings: dict = {"table_version_dir": ""}
    if task.f_component_module == "Download":
        meta = rt.storage.get_meta(params["namespace"], params["name"])
        if meta is not None:
            bindings["input_tables"] = {"table": {"address": meta.f_address, "id_delimiter": meta.f_id_delimiter,
                                                  "have_head": meta.f_have_head}}
    return bindings


def _write_config(rt: Runtime, task: Task) -> Path:
    task_dir = rt.paths.task_dir(task.f_job_id, task.f_role, task.f_party_id, task.f_component_name,
                                 task.f_task_version)
    task_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "server_url": rt.settings.base_url,
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
        **_bindings(rt, task),
    }
    path = task_dir / "task_config.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def _spawn(rt: Runtime, task: Task, config_path: Path) -> subprocess.Popen:
    log_dir = rt.paths.component_log_dir(task.f_job_id, task.f_role, task.f_party_id, task.f_component_name)
    log_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "fate_flow.worker.task_executor", "--config", str(config_path)]
    with open(log_dir / "std.log", "ab") as std:
        # own session: a Ctrl-C at the server's terminal does not kill running tasks, and a stop
        # can signal the executor together with anything it started
        process = subprocess.Popen(cmd, stdout=std, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, start_new_session=True, close_fds=True)
    with _children_lock:
        _children[process.pid] = process
    return process


def start_task(rt: Runtime, task: Task) -> bool:
    """Spawn the executor and mark the task running; False if the task was no longer startable."""
    log = schedule_logger(task.f_job_id)
    try:
        process = _spawn(rt, task, _write_config(rt, task))
        create_time = psutil.Process(process.pid).create_time()
    except (OSError, ValueError, psutil.Error) as exc:
        log.error("cannot start task %s: %s", task.f_task_id, exc)
        job_saver.update_task_status(task.f_job_id, task.f_task_id, task.f_task_version, task.f_role,
                                     task.f_party_id, status=JobStatus.FAILED, party_status=JobStatus.FAILED,
                                     f_error_report=f"executor could not start: {exc}")
        return False
    started = job_saver.update_task_status(
        task.f_job_id, task.f_task_id, task.f_task_version, task.f_role, task.f_party_id,
        status=JobStatus.RUNNING, party_status=JobStatus.RUNNING,
        f_run_pid=process.pid, f_run_pid_create_time=create_time, f_run_ip=rt.settings.host,
        f_worker_id=uuid.uuid4().hex, f_cmd=process.args,
    )
    if not started:
        log.info("task %s changed status while starting; stopping its executor", task.f_task_id)
        kill_process(process.pid, create_time)
        return False
    log.info("task %s version %s started: pid %s", task.f_task_id, task.f_task_version, process.pid)
    return True


def report_task(rt: Runtime, job_id: str, component: str, task_id: str, task_version: int, role: str,
                party_id: str, report: dict) -> bool:
    """An executor's report of its own status; end statuses wake the scheduler."""
    status = JobStatus(report["party_status"])
    if status == JobStatus.RUNNING:
        # the server itself marks a task running when it spawns the executor (with its pid); the
        # executor's own 'running' must not win a race against that write
        return True
    extra = {}
    if report.get("error_report"):
        extra["f_error_report"] = str(report["error_report"])[:8000]
    effective = job_saver.update_task_status(job_id, task_id, task_version, role, party_id,
                                             status=status, party_status=status, **extra)
    log = schedule_logger(job_id)
    if status in END_STATUSES:
        log.info("task %s of %s %s reported %s (effective: %s)", task_id, role, party_id, status, effective)
        if extra:
            log.error("task %s failed: %s", task_id, extra["f_error_report"])
        rt.wake_scheduler()
    return effective


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
    """Remove what an unsuccessful task wrote but never published (a failed or killed upload)."""
    if task.f_component_module != "Upload":
        return
    params = _task_parameters(task)
    rt.storage.discard_version(params["namespace"], params["name"], task.f_job_id)


def tasks_of(job: Job) -> list[Task]:
    return list(Task.select().where((Task.f_job_id == job.f_job_id) & (Task.f_role == job.f_role)
                                    & (Task.f_party_id == job.f_party_id)))
