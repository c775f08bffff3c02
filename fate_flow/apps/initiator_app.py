"""/v1/initiator: what parties tell the initiator (task reports) and requests routed to it."""

from __future__ import annotations

from flask import Blueprint

from fate_flow.apps.util import body, result, runtime
from fate_flow.controller import initiator_controller
from fate_flow.db.models import Job
from fate_flow.entity.keys import TaskKey
from fate_flow.entity.status import JobStatus
from fate_flow.errors import ArgumentError, RetCode
from fate_flow.operation import job_saver

initiator_app = Blueprint("initiator", __name__, url_prefix="/v1/initiator")


@initiator_app.route("/<job_id>/<component_name>/<task_id>/<int:task_version>/<role>/<party_id>/report",
                     methods=["POST"])
def report_task(job_id: str, component_name: str, task_id: str, task_version: int, role: str, party_id: str):
    """A party's task changed: update the initiator's copy of that party's row, then schedule at once."""
    report = body()
    fields = {f"f_{k}": report[k] for k in ("start_time", "end_time", "elapsed", "error_report") if report.get(k)}
    if report.get("party_status"):
        key = TaskKey(job_id, component_name, task_id, task_version, role, party_id)
        job_saver.update_task_status(key, party_status=JobStatus(report["party_status"]), **fields)
    runtime().wake_scheduler()
    return result()


@initiator_app.route("/<job_id>/<role>/<party_id>/stop/<stop_status>", methods=["POST"])
def stop_job(job_id: str, role: str, party_id: str, stop_status: str):
    try:
        status = JobStatus(stop_status)
    except ValueError:
        raise ArgumentError(f"unknown stop status {stop_status!r}") from None
    return result(initiator_controller.stop_job(runtime(), job_id, status))


@initiator_app.route("/<job_id>/<role>/<party_id>/rerun", methods=["POST"])
def rerun_job(job_id: str, role: str, party_id: str):
    request_body = body()
    return result(initiator_controller.rerun_job(runtime(), job_id, request_body.get("component_name"),
                                                 bool(request_body.get("force"))))


@initiator_app.route("/<job_id>/<role>/<party_id>/parameter/update", methods=["POST"])
def update_parameters(job_id: str, role: str, party_id: str):
    return result(initiator_controller.update_parameters(runtime(), job_id, body()))


@initiator_app.route("/<job_id>/<role>/<party_id>/query", methods=["POST"])
def query_job(job_id: str, role: str, party_id: str):
    """A party asks the initiator how its job stands (the party's reconciliation after a restart)."""
    job = Job.get_or_none((Job.f_job_id == job_id) & (Job.f_role == role) & (Job.f_party_id == party_id)
                          & (Job.f_is_initiator == True))  # noqa: E712
    if job is None:
        return result(retmsg=f"job {job_id} is unknown to its initiator", retcode=RetCode.DATA_ERROR)
    return result({"status": job.f_status, "error": job.f_error})
