"""/v1/tracking: metrics, parameters, models and output data of a job's components (FATE's shapes)."""

from __future__ import annotations

import io
import json

from flask import Blueprint, send_file

from fate_flow.apps.util import body, result, runtime
from fate_flow.controller import tracking_controller as tracking
from fate_flow.errors import NoDataError, require
from fate_flow.operation import job_tracker

tracking_app = Blueprint("tracking", __name__, url_prefix="/v1/tracking")


@tracking_app.route("/job/data_view", methods=["POST"])
def job_data_view():
    job_id, _, role, party_id = tracking.locate(body(), need_component=False)
    return result(tracking.job_data_view(job_id, role, party_id))


@tracking_app.route("/component/list", methods=["POST"])
def component_list():
    request_body = body()
    require(request_body, "job_id")
    return result({"components": tracking.component_list(str(request_body["job_id"]))})


@tracking_app.route("/component/metrics", methods=["POST"])
def component_metrics():
    names = job_tracker.metric_names(*tracking.locate(body()))
    return result(names) if names else result({}, retmsg="no data")


@tracking_app.route("/component/metric/all", methods=["POST"])
def component_metric_all():
    metrics = job_tracker.all_metrics(*tracking.locate(body()))
    return result(metrics) if metrics else result({}, retmsg="no data")


@tracking_app.route("/component/metric_data", methods=["POST"])
def component_metric_data():
    request_body = body()
    require(request_body, "metric_namespace", "metric_name")
    points, meta = job_tracker.metric(*tracking.locate(request_body), str(request_body["metric_namespace"]),
                                      str(request_body["metric_name"]))
    if not points and not meta:
        return result([], retmsg="no data", meta={})
    return result(points, meta=meta)


@tracking_app.route("/component/metric/delete", methods=["POST"])
def component_metric_delete():
    request_body = body()
    require(request_body, "job_id")
    deleted = job_tracker.delete_metrics(str(request_body["job_id"]))
    return result(f"delete status: {bool(deleted)}")


@tracking_app.route("/component/parameters", methods=["POST"])
def component_parameters():
    return result(tracking.parameters(*tracking.locate(body())))


@tracking_app.route("/component/output/model", methods=["POST"])
def component_output_model():
    param, meta = tracking.output_model(*tracking.locate(body()))
    if not param and not meta:
        return result({}, retmsg="no data", meta={})
    return result(param, meta=meta)


@tracking_app.route("/component/output/data", methods=["POST"])
def component_output_data():
    rows, meta = tracking.output_data_preview(runtime().storage, *tracking.locate(body()))
    if not rows:
        return result([], retmsg="no data", meta=meta)
    return result(rows, meta=meta)


@tracking_app.route("/component/output/data/table", methods=["POST"])
def component_output_data_table():
    tables = tracking.output_tables(*tracking.locate(body()))
    if not tables:
        return result(retmsg="no output data table found", retcode=100)
    return result(tables)


@tracking_app.route("/component/output/data/download", methods=["GET", "POST"])
def component_output_data_download():
    request_body = body()
    archive, name = tracking.output_data_tar(runtime().storage, *tracking.locate(request_body),
                                             tracking.limit_of(request_body))
    return send_file(archive, mimetype="application/gzip", as_attachment=True, download_name=name)


@tracking_app.route("/component/summary/download", methods=["POST"])
def component_summary_download():
    request_body = body()
    summary = job_tracker.summary(*tracking.locate(request_body))
    if summary is None:
        raise NoDataError("no summary for this component")
    if request_body.get("filename"):
        return send_file(io.BytesIO(json.dumps(summary, indent=2).encode()), as_attachment=True,
                         download_name=str(request_body["filename"]), mimetype="application/json")
    return result(summary)
