"""/v1/tracker: what executors record through their server (tables, metrics, outputs, models)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint

from fate_flow.apps.util import body, result, runtime
from fate_flow.engine.model_files import ModelFileError, read_manifest
from fate_flow.entity.keys import TaskKey
from fate_flow.entity.table_meta import TableMeta
from fate_flow.errors import ArgumentError, require
from fate_flow.operation import job_tracker
from fate_flow.utils.paths import within_any

tracker_app = Blueprint("tracker", __name__, url_prefix="/v1/tracker")
TASK = "/<job_id>/<component_name>/<task_id>/<int:task_version>/<role>/<party_id>"


def _key(**task) -> TaskKey:
    return TaskKey(**task)


@tracker_app.route(TASK + "/table/meta", methods=["POST"])
def save_table_meta(**task):
    request_body = body()
    try:
        meta = TableMeta.from_dict(request_body)
    except ValueError as exc:
        raise ArgumentError(str(exc)) from None
    runtime().storage.publish(meta, job_id=task["job_id"], replace=bool(request_body.get("replace")))
    return result()


@tracker_app.route(TASK + "/output_data_info/save", methods=["POST"])
def save_output_data_info(**task):
    info = body()
    require(info, "data_name", "table_namespace", "table_name")
    job_tracker.save_output_data_info(_key(**task), str(info["data_name"]), str(info["table_namespace"]),
                                      str(info["table_name"]))
    return result()


@tracker_app.route(TASK + "/metric_data/save", methods=["POST"])
def save_metric_data(**task):
    request_body = body()
    require(request_body, "metric_namespace", "metric_name")
    points = request_body.get("metrics") or []
    if not all(isinstance(p, list) and len(p) == 2 for p in points):
        raise ArgumentError("metrics must be a list of [key, value] pairs")
    job_tracker.save_metric_data(_key(**task), str(request_body["metric_namespace"]),
                                 str(request_body["metric_name"]), points)
    return result()


@tracker_app.route(TASK + "/metric_meta/save", methods=["POST"])
def save_metric_meta(**task):
    request_body = body()
    require(request_body, "metric_namespace", "metric_name")
    job_tracker.save_metric_meta(_key(**task), str(request_body["metric_namespace"]),
                                 str(request_body["metric_name"]), dict(request_body.get("metric_meta") or {}))
    return result()


@tracker_app.route(TASK + "/summary/save", methods=["POST"])
def save_summary(**task):
    job_tracker.save_summary(_key(**task), dict(body().get("summary") or {}))
    return result()


@tracker_app.route(TASK + "/model/register", methods=["POST"])
def register_model(**task):
    """A model the task wrote as files into its own model directory: verified, then recorded."""
    request_body = body()
    require(request_body, "model_alias", "directory")
    key = _key(**task)
    rt = runtime()
    model_dir = rt.paths.task_dir(key.job_id, key.role, key.party_id, key.component_name, key.task_version) / "model"
    directory = Path(str(request_body["directory"]))
    if not within_any(directory, [model_dir]) or directory.resolve() == model_dir.resolve():
        raise ArgumentError(f"a model of task {key.task_id} must be written inside {model_dir}")
    try:
        manifest = read_manifest(directory)
    except ModelFileError as exc:
        raise ArgumentError(str(exc)) from None
    job_tracker.register_model(key, str(request_body["model_alias"]), str(request_body.get("module_name") or ""),
                               str(directory.resolve()), manifest)
    return result()
