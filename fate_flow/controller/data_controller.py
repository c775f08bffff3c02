"""Data access jobs: upload, download, upload history. Everything is checked before anything is made."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fate_flow.controller import initiator_controller, job_controller
from fate_flow.db.models import StorageTableMeta, Task
from fate_flow.entity.ids import new_job_id
from fate_flow.entity.table_meta import STORAGE_ENGINES
from fate_flow.errors import AlreadyExistsError, ArgumentError, DataError, require
from fate_flow.manager.data_access import DataAccess
from fate_flow.runtime import Runtime
from fate_flow.utils.paths import UnsafePathError, check_name

MAX_PARTITIONS = 1024
PROVIDED_STORAGE = STORAGE_ENGINES
UPLOAD_OPTIONAL = ("storage_engine", "storage_address", "block_size", "schema", "with_meta", "meta")


def _int(conf: dict, name: str, default: int, allowed: range) -> int:
    value = conf.get(name, default)
    if value in (None, ""):
        value = default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ArgumentError(f"{name} must be an integer, got {value!r}") from None
    if number not in allowed:
        raise ArgumentError(f"{name} must be between {allowed.start} and {allowed.stop - 1}, got {number}")
    return number


def validate_upload(rt: Runtime, conf: dict, client_file: bool) -> dict:
    """Normalised Upload parameters, or an error naming the field; nothing is created here."""
    if not isinstance(conf, dict):
        raise ArgumentError("the upload conf must be a JSON object")
    require(conf, "namespace", "table_name", *(() if client_file else ("file",)))
    try:
        namespace, name = check_name("namespace", conf["namespace"]), check_name("table_name", conf["table_name"])
    except UnsafePathError as exc:
        raise ArgumentError(str(exc)) from None
    delimiter = conf.get("id_delimiter") or ","
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\r\n\"":
        raise ArgumentError(f"id_delimiter must be one character (not a quote or newline), got {delimiter!r}")
    params: dict[str, Any] = {
        "namespace": namespace,
        "name": name,
        "head": _int(conf, "head", 1, range(0, 2)),
        "partition": _int(conf, "partition", 16, range(1, MAX_PARTITIONS + 1)),
        "id_delimiter": delimiter,
        "destroy": _int(conf, "drop", 0, range(0, 2)),
        "extend_sid": _int(conf, "extend_sid", 0, range(0, 2)),
        "auto_increasing_sid": _int(conf, "auto_increasing_sid", 0, range(0, 2)),
        **{key: conf[key] for key in UPLOAD_OPTIONAL if key in conf},
    }
    if params["auto_increasing_sid"] and not params["extend_sid"]:
        params["extend_sid"] = 1
    if not params["destroy"] and rt.storage.exists(namespace, name):
        raise AlreadyExistsError(
            f"The data table already exists, table_name: {name}, namespace: {namespace}. "
            "If you still want to continue uploading, please add the parameter --drop"
        )
    if str(params.get("storage_engine") or "STANDALONE").upper() not in PROVIDED_STORAGE:
        raise ArgumentError(f"storage_engine {params['storage_engine']!r} is not provided by this server "
                            f"(it stores tables as {' or '.join(PROVIDED_STORAGE)})")
    if not client_file:
        path = DataAccess(rt.settings).readable(conf["file"])
        if not path.is_file():
            raise ArgumentError(f"file {conf['file']} does not exist on the server")
        params["file"] = str(path)
    return params


def submit_upload(rt: Runtime, conf: dict,
                  receive_client_file: Callable[[Path, Callable[[Path], None]], Path] | None) -> dict:
    """Create the upload job. ``receive_client_file(dir, on_open)`` streams the client's file into ``dir``
    and calls ``on_open(path)`` when it begins: the job is created then, and converts while it arrives."""
    params = validate_upload(rt, conf, client_file=receive_client_file is not None)
    job_parameters = {"task_cores": _int(conf, "task_cores", rt.settings.job.task_cores,
                                         range(1, rt.settings.total_cores + 1))}
    party_id = str(conf.get("party_id", 0))
    check_name("party_id", party_id)
    job_id = new_job_id()
    job_dir = rt.paths.job_dir(job_id)
    created: dict = {}

    def create(file: Path, in_progress: bool) -> None:
        job_params = {**params, "file": str(file), **({"file_in_progress": True} if in_progress else {})}
        dsl, job_conf = job_controller.local_job_conf("upload_0", "Upload", job_params, party_id, job_parameters)
        created.update(initiator_controller.submit_job(rt, dsl, job_conf, job_id))

    try:
        if receive_client_file is None:
            create(Path(params["file"]), in_progress=False)
        else:
            receive_client_file(rt.paths.upload_tmp_dir(job_id), lambda path: create(path, in_progress=True))
    except BaseException:
        if not created:  # nothing may be left of a request that created no job
            shutil.rmtree(job_dir, ignore_errors=True)
        raise
    return {"table_name": params["name"], "namespace": params["namespace"], **created}


def submit_download(rt: Runtime, namespace: str, name: str, output_path: str, delimiter: str | None = None,
                    overwrite: bool = False) -> dict:
    """A Download job writing a stored table (DataError if it does not exist) as CSV at ``output_path``
    (confined by DataAccess; an existing file only with ``overwrite``); nothing is created when a check fails."""
    if rt.storage.get_meta(namespace, name) is None:
        raise DataError(f"table {namespace}.{name} does not exist")
    output = DataAccess(rt.settings).writable(output_path)
    if output.exists() and not overwrite:
        raise ArgumentError(f"output_path {output} exists: give overwrite true to replace it")
    params = {"namespace": namespace, "name": name, "output_path": str(output), "overwrite": overwrite}
    if delimiter:
        params["delimiter"] = delimiter
    dsl, job_conf = job_controller.local_job_conf("download_0", "Download", params)
    data = initiator_controller.submit_job(rt, dsl, job_conf, new_job_id())
    return {"table_name": name, "namespace": namespace, **data}


def upload_history(job_id: str | None, limit: int) -> list[dict]:
    """Successful upload tasks, newest first, with what they wrote."""
    conditions = [Task.f_component_name == "upload_0", Task.f_status.in_(["success", "pass"])]
    if job_id:
        conditions.append(Task.f_job_id == job_id)
    rows = []
    for task in Task.select().where(*conditions).order_by(Task.f_create_time.desc()).limit(limit):
        params = task.f_component_parameters.get("ComponentParam", {})
        meta = StorageTableMeta.get_or_none((StorageTableMeta.f_namespace == params.get("namespace"))
                                            & (StorageTableMeta.f_name == params.get("name")))
        same_upload = meta is not None and meta.f_job_id == task.f_job_id
        rows.append({task.f_job_id: {
            "upload_info": {"table_name": params.get("name"), "namespace": params.get("namespace"),
                            "partition": params.get("partition"),
                            "upload_count": meta.f_count if same_upload else None},
            "notes": "",
            "schema": meta.f_schema if same_upload else {},
        }})
    return rows
