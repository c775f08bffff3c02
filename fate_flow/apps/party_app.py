"""/v1/party: what the initiator tells a party to do, and executors' reports (FATE's paths)."""

from __future__ import annotations

from flask import Blueprint

from fate_flow.apps.util import body, result, runtime
from fate_flow.controller import party_controller, task_controller
from fate_flow.entity.status import JobStatus
from fate_flow.errors import ArgumentError, RetCode, require

party_app = Blueprint("party", __name__, url_prefix="/v1/party")
JOB = "/<job_id>/<role>/<party_id>"
TASK = "/<job_id>/<component_name>/<task_id>/<int:task_version>/<role>/<party_id>"


def _status(text: str) -> JobStatus:
    try:
        return JobStatus(text)
    except ValueError:
        raise ArgumentError(f"unknown status {text!r}") from None


def _effect(effective: bool):
    return result() if effective else result(retmsg="not effective", retcode=RetCode.NOT_EFFECTIVE)


@party_app.route(JOB + "/create", methods=["POST"])
def create_job(job_id: str, role: str, party_id: str):
    request_body = body()
    require(request_body, "dsl", "runtime_conf")
    return result(party_controller.create_job(runtime(), job_id, role, party_id, request_body))


@party_app.route(JOB + "/resource/apply", methods=["POST"])
def apply_resource(job_id: str, role: str, party_id: str):
    party_controller.apply_resource(job_id, role, party_id)
    return result()


@party_app.route(JOB + "/resource/return", methods=["POST"])
def return_resource(job_id: str, role: str, party_id: str):
    return _effect(party_controller.return_resource(job_id, role, party_id))


@party_app.route(JOB + "/start", methods=["POST"])
def start_job(job_id: str, role: str, party_id: str):
    party_controller.update_job_status(runtime(), job_id, role, party_id, JobStatus.RUNNING)
    return result()


@party_app.route(JOB + "/update", methods=["POST"])
def update_job(job_id: str, role: str, party_id: str):
    party_controller.update_job_fields(job_id, role, party_id, body())
    return result()


@party_app.route(JOB + "/status/<status>", methods=["POST"])
def job_status(job_id: str, role: str, party_id: str, status: str):
    effective = party_controller.update_job_status(runtime(), job_id, role, party_id, _status(status),
                                                   str(body().get("reason") or ""))
    return _effect(effective)


@party_app.route(JOB + "/stop/<stop_status>", methods=["POST"])
def stop_job(job_id: str, role: str, party_id: str, stop_status: str):
    return _effect(party_controller.stop_job(runtime(), job_id, role, party_id, _status(stop_status)))


@party_app.route(JOB + "/rerun", methods=["POST"])
def rerun_job(job_id: str, role: str, party_id: str):
    return _effect(party_controller.rerun_job(job_id, role, party_id))


@party_app.route(JOB + "/parameter/update", methods=["POST"])
def update_parameters(job_id: str, role: str, party_id: str):
    return result(party_controller.update_parameters(job_id, role, party_id, body()))


@party_app.route(TASK + "/create", methods=["POST"])
def create_task_version(job_id: str, component_name: str, task_id: str, task_version: int, role: str,
                        party_id: str):
    return result({"task_version": party_controller.create_task_version(job_id, task_id, task_version, role,
                                                                        party_id)})


@party_app.route(JOB + "/clean", methods=["POST"])
def clean_job(job_id: str, role: str, party_id: str):
    party_controller.get_job(job_id, role, party_id)
    return result()


@party_app.route(TASK + "/start", methods=["POST"])
def start_task(job_id: str, component_name: str, task_id: str, task_version: int, role: str, party_id: str):
    return _effect(party_controller.start_task(runtime(), job_id, task_id, task_version, role, party_id))


@party_app.route(TASK + "/status/<status>", methods=["POST"])
def task_status(job_id: str, component_name: str, task_id: str, task_version: int, role: str, party_id: str,
                status: str):
    return _effect(party_controller.update_task_status(runtime(), job_id, task_id, task_version, role, party_id,
                                                       _status(status)))


@party_app.route(TASK + "/stop/<stop_status>", methods=["POST"])
def stop_task(job_id: str, component_name: str, task_id: str, task_version: int, role: str, party_id: str,
              stop_status: str):
    return _effect(party_controller.stop_task(job_id, task_id, task_version, role, party_id, _status(stop_status)))


@party_app.route(TASK + "/collect", methods=["POST"])
def collect_task(job_id: str, component_name: str, task_id: str, task_version: int, role: str, party_id: str):
    return result(party_controller.collect_task(job_id, task_id, task_version, role, party_id))


@party_app.route(TASK + "/report", methods=["POST"])
def report_task(job_id: str, component_name: str, task_id: str, task_version: int, role: str, party_id: str):
    report = body()
    require(report, "party_status")
    effective = task_controller.report_task(runtime(), job_id, component_name, task_id, task_version, role,
                                            party_id, report)
    return result({"effective": effective})
