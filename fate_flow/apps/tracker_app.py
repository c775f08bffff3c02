"""/v1/tracker: what executors record through their server (tables, metrics, outputs, models)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint

from fate_flow.apps import bodies
from fate_flow.apps.bodies import accepts
from fate_flow.apps.util import body, body_as, path_task_key, result, runtime
from fate_flow.engine.model_files import ModelFileError, read_manifest
from fate_flow.entity.keys import TaskKey
from fate_flow.entity.table_meta import TableMeta
from fate_flow.errors import ArgumentError
from fate_flow.operation import job_tracker
from fate_flow.utils.paths import within_any

tracker_app = Blueprint("tracker", __name__, url_prefix="/v1/tracker")
TASK = "/<job_id>/<component_name>/<task_id>/<int:task_version>/<role>/<party_id>"


def _key(**task) -> TaskKey:
    return path_task_key(**task)


@tracker_app.route(TASK + "/table/meta", methods=["POST"])
def save_table_meta(**task):
    request_body = body()
    try:
        meta = TableMeta.from_dict(request_body)
    except ValueError as exc:
        raise ArgumentError(str(exc)) from None
    runtime().storage.publish(meta, job_id=_key(**task).job_id, replace=bool(request_body.get("replace")))
    return result()


@tracker_app.route(TASK + "/output_data_info/save", methods=["POST"])
@accepts(bodies.OutputDataInfo)
def save_output_data_info(**task):
    info = body_as(bodies.OutputDataInfo)
    job_tracker.save_output_data_info(_key(**task), info.data_name, info.table_namespace, info.table_name)
    return result()


@tracker_app.route(TASK + "/metric_data/save", methods=["POST"])
@accepts(bodies.MetricData)
def save_metric_data(**task):
    request = body_as(bodies.MetricData)
    job_tracker.save_metric_data(_key(**task), request.metric_namespace, request.metric_name, request.metrics)
    return result()


@tracker_app.route(TASK + "/metric_meta/save", methods=["POST"])
@accepts(bodies.MetricMeta)
def save_metric_meta(**task):
    request = body_as(bodies.MetricMeta)
    job_tracker.save_metric_meta(_key(**task), request.metric_namespace, request.metric_name, request.metric_meta)
    return result()


@tracker_app.route(TASK + "/summary/save", methods=["POST"])
@accepts(bodies.Summary)
def save_summary(**task):
    job_tracker.save_summary(_key(**task), body_as(bodies.Summary).summary)
    return result()


@tracker_app.route(TASK + "/model/register", methods=["POST"])
@accepts(bodies.ModelRegistration)
def register_model(**task):
    """A model the task wrote as files into its own model directory: verified, then recorded."""
    request = body_as(bodies.ModelRegistration)
    key = _key(**task)
    model_dir = runtime().paths.task_dir(key.job_id, key.role, key.party_id, key.component_name,
                                         key.task_version) / "model"
    directory = Path(request.directory)
    if not within_any(directory, [model_dir]) or directory.resolve() == model_dir.resolve():
        raise ArgumentError(f"a model of task {key.task_id} must be written inside {model_dir}")
    try:
        manifest = read_manifest(directory)
    except ModelFileError as exc:
        raise ArgumentError(str(exc)) from None
    job_tracker.register_model(key, request.model_alias, request.module_name, str(directory.resolve()), manifest)
    return result()
