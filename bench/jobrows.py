"""Fill a home's database with finished jobs, through the server's own code (settings, models, migrations).

Each job is what a one-component TestModule job of guest 9999 leaves behind (its t_job row as the
initiator, one t_task row), copied from a real run; 95 % success, 4 % failed, 1 % canceled, created
one second apart (ids sort by time, as real ones). Used by queue_drain.py and list_jobs.py.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path

PARTY = "9999"
BATCH = 5000  # rows per transaction
BASE = datetime.datetime(2025, 1, 1)


def open_home(home: Path, environ: dict[str, str] | None = None):
    """Settings of ``home`` and its database, opened, migrated and with the engine registered, as a server
    start does. Returns the settings."""
    from fate_flow.db.connection import connection, open_database
    from fate_flow.db.migrations import migrate
    from fate_flow.manager import resource_manager
    from fate_flow.settings import load_settings

    settings = load_settings(home=home, environ={"FATE_FLOW_PARTY_ID": PARTY, **(environ or {})})
    home.mkdir(parents=True, exist_ok=True)
    open_database(settings.database)
    with connection():
        migrate()
        resource_manager.register_engine(settings.computing_engine, settings.total_cores)
    return settings


def status_of(i: int) -> str:
    r = i % 100
    return "failed" if r < 4 else "canceled" if r == 4 else "success"


def job_id_of(i: int) -> str:
    return (BASE + datetime.timedelta(seconds=i)).strftime("%Y%m%d%H%M%S%f") + "0"


def rows(i: int, jobs_dir: Path) -> tuple[dict, dict]:
    job_id = job_id_of(i)
    created = int((BASE + datetime.timedelta(seconds=i)).timestamp() * 1000)
    status = status_of(i)
    conf = {"dsl_version": 2, "initiator": {"role": "guest", "party_id": int(PARTY)}, "role": {"guest": [int(PARTY)]},
            "job_parameters": {"common": {"task_parallelism": 1, "task_cores": 1}},
            "component_parameters": {"common": {"test_0": {"sleep": 0}}}}
    conf_on_party = {**conf, "job_parameters": {
        "task_cores": 1, "task_parallelism": 1, "auto_retries": 0, "federated_status_collect_type": "PUSH",
        "computing_engine": "STANDALONE", "job_type": "train", "federated_mode": "SINGLE"}}
    job = {
        "f_create_time": created, "f_update_time": created + 80, "f_job_id": job_id, "f_role": "guest",
        "f_party_id": PARTY, "f_name": "", "f_description": "", "f_tag": "job_end", "f_user_id": "",
        "f_dsl": {"components": {"test_0": {"module": "TestModule"}}}, "f_runtime_conf": conf,
        "f_runtime_conf_on_party": conf_on_party, "f_train_runtime_conf": {}, "f_roles": {"guest": [int(PARTY)]},
        "f_initiator_role": "guest", "f_initiator_party_id": PARTY, "f_status": status, "f_status_code": None,
        "f_is_initiator": True, "f_progress": 100 if status == "success" else 0,
        "f_cancel_signal": status == "canceled",
        "f_rerun_signal": False, "f_engine_name": "standalone", "f_cores": 1, "f_memory": 0, "f_remaining_cores": 1,
        "f_resource_in_use": False, "f_apply_resource_time": created + 9, "f_return_resource_time": created + 76,
        "f_error": "test_0 failed (guest 9999: failed on request)" if status == "failed" else None,
        "f_start_time": created + 14, "f_end_time": created + 77, "f_elapsed": 63,
    }
    task_id = f"{job_id}_test_0"
    task = {
        "f_create_time": created + 2, "f_update_time": created + 67, "f_job_id": job_id, "f_component_name": "test_0",
        "f_component_module": "TestModule", "f_task_id": task_id, "f_task_version": 0, "f_role": "guest",
        "f_party_id": PARTY, "f_initiator_role": "guest", "f_initiator_party_id": PARTY, "f_federated_mode": "SINGLE",
        "f_federated_status_collect_type": "PUSH", "f_status": status, "f_party_status": status,
        "f_status_code": None, "f_auto_retries": 0, "f_run_on_this_party": True,
        "f_worker_id": f"{i:032x}", "f_cmd": ["fork_server", "fate_flow.worker.task_executor", "--config",
                                              str(jobs_dir / job_id / "guest" / PARTY / "test_0/0/task_config.json")],
        "f_run_ip": "127.0.0.1", "f_run_port": 9380, "f_run_pid": 10_000 + i % 50_000,
        "f_run_pid_create_time": created / 1000, "f_provider_info": {"name": "fate_flow", "version": "builtin"},
        "f_component_parameters": {"ComponentParam": {"sleep": 0}, "module": "TestModule", "need_run": True},
        "f_engine_conf": None, "f_kill_status": False,
        "f_error_report": "failed on request" if status == "failed" else None,
        "f_start_time": created + 21, "f_end_time": created + 67, "f_elapsed": 46, "f_component_elapsed": 10,
    }
    return job, task


def fill(home: Path, n: int) -> float:
    """Insert ``n`` finished jobs into the database of ``home`` (created if needed), then close it; seconds taken."""
    from fate_flow.db.connection import close_database

    settings = open_home(home)
    try:
        return insert_jobs(settings, n)
    finally:
        close_database()


def _bulk(model, dicts: list[dict]) -> None:
    """``model.insert_many(dicts)`` with the statement built once by peewee for a single row and the rows sent
    with ``executemany`` (peewee alone spends ~0.7 ms per row building one huge statement)."""
    from fate_flow.db.connection import DB

    sql, _ = model.insert(dicts[0]).sql()
    fields = [model._meta.fields[name] for name in dicts[0]]
    DB.cursor().executemany(sql, [[f.db_value(d[f.name]) for f in fields] for d in dicts])


def insert_jobs(settings, n: int, start: int = 0) -> float:
    """Insert ``n`` finished jobs (and a task each) into the open database, a transaction per batch; seconds."""
    from fate_flow.db.connection import DB, connection, write_transaction
    from fate_flow.db.models import Job, Task

    t0 = time.perf_counter()
    with connection():
        for first in range(start, start + n, BATCH):
            batch = [rows(i, settings.jobs_dir) for i in range(first, min(first + BATCH, start + n))]
            with write_transaction():
                _bulk(Job, [job for job, _ in batch])
                _bulk(Task, [task for _, task in batch])
        DB.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.perf_counter() - t0
