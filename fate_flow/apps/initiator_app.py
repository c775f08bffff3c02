"""/v1/initiator: what parties tell the initiator (task reports) and requests routed to it."""

from __future__ import annotations

from flask import Blueprint

from fate_flow.apps import bodies
from fate_flow.apps.bodies import accepts
from fate_flow.apps.util import body_as, path_job_key, path_task_key, result, runtime
from fate_flow.controller import initiator_controller
from fate_flow.db.models import Job
from fate_flow.entity.status import JobStatus
from fate_flow.errors import ArgumentError, RetCode
from fate_flow.operation import job_saver

initiator_app = Blueprint("initiator", __name__, url_prefix="/v1/initiator")


@initiator_app.route("/<job_id>/<component_name>/<task_id>/<int:task_version>/<role>/<party_id>/report",
                     methods=["POST"])
@accepts(bodies.PartyReport)
def report_task(**task):
    """A party's task changed: update the initiator's copy of that party's row, then schedule at once."""
    key = path_task_key(**task)
    report = body_as(bodies.PartyReport)
    fields = {f"f_{k}": v for k, v in report.model_dump(include={"start_time", "end_time", "elapsed",
                                                                  "error_report"}, exclude_none=True).items() if v}
    if report.party_status:
        job_saver.update_task_status(key, party_status=JobStatus(report.party_status), **fields)
    runtime().wake_scheduler()
    return result()


@initiator_app.route("/<job_id>/<role>/<party_id>/stop/<stop_status>", methods=["POST"])
def stop_job(job_id: str, role: str, party_id: str, stop_status: str):
    path_job_key(job_id, role, party_id)
    try:
        status = JobStatus(stop_status)
    except ValueError:
        raise ArgumentError(f"unknown stop status {stop_status!r}") from None
    return result(initiator_controller.stop_job(runtime(), job_id, status))


@initiator_app.route("/<job_id>/<role>/<party_id>/rerun", methods=["POST"])
@accepts(bodies.RerunRequest)
def rerun_job(job_id: str, role: str, party_id: str):
    path_job_key(job_id, role, party_id)
    request = body_as(bodies.RerunRequest)
    return result(initiator_controller.rerun_job(runtime(), job_id, request.component_name, request.force))


@initiator_app.route("/<job_id>/<role>/<party_id>/parameter/update", methods=["POST"])
@accepts(bodies.Parameters)
def update_parameters(job_id: str, role: str, party_id: str):
    path_job_key(job_id, role, party_id)
    updates = body_as(bodies.Parameters).model_dump(exclude_none=True)
    return result(initiator_controller.update_parameters(runtime(), job_id, updates))


@initiator_app.route("/<job_id>/<role>/<party_id>/query", methods=["POST"])
def query_job(job_id: str, role: str, party_id: str):
    """A party asks the initiator how its job stands (the party's reconciliation after a restart)."""
    key = path_job_key(job_id, role, party_id)
    job = Job.get_or_none(Job.matches(key) & (Job.f_is_initiator == True))  # noqa: E712
    if job is None:
        return result(retmsg=f"job {job_id} is unknown to its initiator", retcode=RetCode.DATA_ERROR)
    return result({"status": job.f_status, "error": job.f_error})
