"""/v1/party: scheduling calls. For now: an executor's report of its task."""

from __future__ import annotations

from flask import Blueprint

from fate_flow.apps.util import body, result, runtime
from fate_flow.controller import task_controller
from fate_flow.errors import require

party_app = Blueprint("party", __name__, url_prefix="/v1/party")


@party_app.route("/<job_id>/<component_name>/<task_id>/<int:task_version>/<role>/<party_id>/report",
                 methods=["POST"])
def report_task(job_id: str, component_name: str, task_id: str, task_version: int, role: str, party_id: str):
    report = body()
    require(report, "party_status")
    effective = task_controller.report_task(runtime(), job_id, component_name, task_id, task_version, role,
                                            party_id, report)
    return result({"effective": effective})
