"""/v1/tracker: what executors record through their server (tables, metrics, outputs, models)."""

from __future__ import annotations

from flask import Blueprint

from fate_flow.apps.util import body, result, runtime
from fate_flow.errors import ArgumentError, require
from fate_flow.operation import job_tracker

tracker_app = Blueprint("tracker", __name__, url_prefix="/v1/tracker")
TASK = "/<job_id>/<component_name>/<task_id>/<int:task_version>/<role>/<party_id>"


def _ref(job_id: str, component_name: str, task_id: str, task_version: int, role: str,
         party_id: str) -> job_tracker.TaskRef:
    return job_tracker.TaskRef(job_id, component_name, task_id, task_version, role, party_id)


@tracker_app.route(TASK + "/table/meta", methods=["POST"])
def save_table_meta(job_id: str, **_: str):
    meta = body()
    require(meta, "namespace", "name", "address")
    meta["job_id"] = job_id
    runtime().storage.publish(meta, replace=bool(meta.get("replace")))
    return result()


@tracker_app.route(TASK + "/output_data_info/save", methods=["POST"])
def save_output_data_info(**task: str):
    info = body()
    require(info, "data_name", "table_namespace", "table_name")
    job_tracker.save_output_data_info(_ref(**task), str(info["data_name"]), str(info["table_namespace"]),
                                      str(info["table_name"]))
    return result()


@tracker_app.route(TASK + "/metric_data/save", methods=["POST"])
def save_metric_data(**task: str):
    request_body = body()
    require(request_body, "metric_namespace", "metric_name")
    points = request_body.get("metrics") or []
    if not all(isinstance(p, list) and len(p) == 2 for p in points):
        raise ArgumentError("metrics must be a list of [key, value] pairs")
    job_tracker.save_metric_data(_ref(**task), str(request_body["metric_namespace"]),
                                 str(request_body["metric_name"]), points)
    return result()


@tracker_app.route(TASK + "/metric_meta/save", methods=["POST"])
def save_metric_meta(**task: str):
    request_body = body()
    require(request_body, "metric_namespace", "metric_name")
    job_tracker.save_metric_meta(_ref(**task), str(request_body["metric_namespace"]),
                                 str(request_body["metric_name"]), dict(request_body.get("metric_meta") or {}))
    return result()


@tracker_app.route(TASK + "/summary/save", methods=["POST"])
def save_summary(**task: str):
    job_tracker.save_summary(_ref(**task), dict(body().get("summary") or {}))
    return result()


@tracker_app.route(TASK + "/model/save", methods=["POST"])
def save_model(**task: str):
    request_body = body()
    job_tracker.save_model(_ref(**task), str(request_body.get("model_alias") or "model"),
                           str(request_body.get("module_name") or ""), dict(request_body.get("param") or {}),
                           dict(request_body.get("meta") or {}))
    return result()
