"""/v1/tracking: metrics, parameters, models and output data of a job's components (FATE's shapes)."""

from __future__ import annotations

import io
import json

from flask import Blueprint, send_file

from fate_flow.apps import bodies
from fate_flow.apps.bodies import Model, accepts
from fate_flow.apps.util import body_as, result, runtime
from fate_flow.controller import tracking_controller as tracking
from fate_flow.errors import NoDataError
from fate_flow.operation import job_tracker

tracking_app = Blueprint("tracking", __name__, url_prefix="/v1/tracking")


def _located(model: type[Model] = bodies.ComponentRef) -> tuple[Model, tuple[str, str, str, str]]:
    """The request as ``model``, and (job_id, component, role, party_id) with FATE's defaults applied."""
    request = body_as(model)
    return request, tracking.locate(request.model_dump(exclude_none=True),
                                    need_component=hasattr(request, "component_name"))


@tracking_app.route("/job/data_view", methods=["POST"])
@accepts(bodies.JobView)
def job_data_view():
    _, (job_id, _, role, party_id) = _located(bodies.JobView)
    return result(tracking.job_data_view(job_id, role, party_id))


@tracking_app.route("/component/list", methods=["POST"])
@accepts(bodies.JobRef)
def component_list():
    return result({"components": tracking.component_list(body_as(bodies.JobRef).job_id)})


@tracking_app.route("/component/metrics", methods=["POST"])
@accepts(bodies.ComponentRef)
def component_metrics():
    names = job_tracker.metric_names(*_located()[1])
    return result(names) if names else result({}, retmsg="no data")


@tracking_app.route("/component/metric/all", methods=["POST"])
@accepts(bodies.ComponentRef)
def component_metric_all():
    metrics = job_tracker.all_metrics(*_located()[1])
    return result(metrics) if metrics else result({}, retmsg="no data")


@tracking_app.route("/component/metric_data", methods=["POST"])
@accepts(bodies.MetricRef)
def component_metric_data():
    request, where = _located(bodies.MetricRef)
    points, meta = job_tracker.metric(*where, request.metric_namespace, request.metric_name)
    if not points and not meta:
        return result([], retmsg="no data", meta={})
    return result(points, meta=meta)


@tracking_app.route("/component/metric/delete", methods=["POST"])
@accepts(bodies.JobRef)
def component_metric_delete():
    deleted = job_tracker.delete_metrics(body_as(bodies.JobRef).job_id)
    return result(f"delete status: {bool(deleted)}")


@tracking_app.route("/component/parameters", methods=["POST"])
@accepts(bodies.ComponentRef)
def component_parameters():
    return result(tracking.parameters(*_located()[1]))


@tracking_app.route("/component/output/model", methods=["POST"])
@accepts(bodies.ComponentRef)
def component_output_model():
    param, meta = tracking.output_model(*_located()[1], store=runtime().models)
    if not param and not meta:
        return result({}, retmsg="no data", meta={})
    return result(param, meta=meta)


@tracking_app.route("/component/output/data", methods=["POST"])
@accepts(bodies.ComponentRef)
def component_output_data():
    rows, meta = tracking.output_data_preview(runtime().storage, *_located()[1])
    if not rows:
        return result([], retmsg="no data", meta=meta)
    return result(rows, meta=meta)


@tracking_app.route("/component/output/data/table", methods=["POST"])
@accepts(bodies.ComponentRef)
def component_output_data_table():
    tables = tracking.output_tables(*_located()[1])
    if not tables:
        return result(retmsg="no output data table found", retcode=100)
    return result(tables)


@tracking_app.route("/component/output/data/download", methods=["GET", "POST"])
@accepts(bodies.OutputDownload)
def component_output_data_download():
    request, where = _located(bodies.OutputDownload)
    archive, name = tracking.output_data_tar(runtime().storage, *where, request.limit)
    return send_file(archive, mimetype="application/gzip", as_attachment=True, download_name=name)


@tracking_app.route("/component/summary/download", methods=["POST"])
@accepts(bodies.SummaryDownload)
def component_summary_download():
    request, where = _located(bodies.SummaryDownload)
    summary = job_tracker.summary(*where)
    if summary is None:
        raise NoDataError("no summary for this component")
    if request.filename:
        return send_file(io.BytesIO(json.dumps(summary, indent=2).encode()), as_attachment=True,
                         download_name=request.filename, mimetype="application/json")
    return result(summary)
