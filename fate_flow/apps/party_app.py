"""/v1/party: what the initiator tells a party to do, and executors' reports (FATE's paths)."""

from __future__ import annotations

from flask import Blueprint

from fate_flow.apps import bodies
from fate_flow.apps.bodies import accepts
from fate_flow.apps.util import body_as, path_job_key, path_task_key, result, runtime
from fate_flow.controller import model_controller, model_serving, model_transfer, party_controller, task_controller
from fate_flow.entity.status import JobStatus
from fate_flow.errors import ArgumentError, RetCode

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


_job, _task = path_job_key, path_task_key


@party_app.route(JOB + "/create", methods=["POST"])
@accepts(bodies.JobCreate)
def create_job(**job: str):
    request = body_as(bodies.JobCreate)
    return result(party_controller.create_job(runtime(), _job(**job), request.model_dump(exclude_none=True)))


@party_app.route(JOB + "/model/deploy", methods=["POST"])
@accepts(bodies.PartyModelDeploy)
def deploy_model(job_id: str, role: str, party_id: str):
    """Deploy this party's model as child version ``job_id`` (a new job id, as FATE names child versions)."""
    key = _job(job_id, role, party_id)
    request = body_as(bodies.PartyModelDeploy).model_dump()
    return result(model_controller.deploy_here(runtime(), key.role, key.party_id, key.job_id, request))


@party_app.route(JOB + "/model/migrate", methods=["POST"])
@accepts(bodies.PartyModelMigrate)
def migrate_model(job_id: str, role: str, party_id: str):
    """Copy this party's model as the model of the party that takes its place, version ``job_id``."""
    key = _job(job_id, role, party_id)
    request = body_as(bodies.PartyModelMigrate).model_dump()
    return result(model_transfer.migrate_here(runtime(), key.role, key.party_id, key.job_id, request))


@party_app.route(JOB + "/model/load", methods=["POST"])
@accepts(bodies.ModelVersionRef)
def load_model(job_id: str, role: str, party_id: str):
    """Load this party's deployed model into FATE-Serving (refused with FATE's message: there is none here)."""
    key = _job(job_id, role, party_id)
    model_serving.load_here(key.role, key.party_id, body_as(bodies.ModelVersionRef).model_dump())
    return result()  # pragma: no cover (load_here raises: no serving system here)


@party_app.route(JOB + "/resource/apply", methods=["POST"])
def apply_resource(**job: str):
    party_controller.apply_resource(_job(**job))
    return result()


@party_app.route(JOB + "/resource/return", methods=["POST"])
def return_resource(**job: str):
    return _effect(party_controller.return_resource(_job(**job)))


@party_app.route(JOB + "/start", methods=["POST"])
def start_job(**job: str):
    party_controller.update_job_status(runtime(), _job(**job), JobStatus.RUNNING)
    return result()


@party_app.route(JOB + "/update", methods=["POST"])
@accepts(bodies.JobFields)
def update_job(**job: str):
    party_controller.update_job_fields(_job(**job), body_as(bodies.JobFields).model_dump(exclude_none=True))
    return result()


@party_app.route(JOB + "/status/<status>", methods=["POST"])
@accepts(bodies.StatusReason)
def job_status(status: str, **job: str):
    effective = party_controller.update_job_status(runtime(), _job(**job), _status(status),
                                                   body_as(bodies.StatusReason).reason)
    return _effect(effective)


@party_app.route(JOB + "/stop/<stop_status>", methods=["POST"])
def stop_job(stop_status: str, **job: str):
    return _effect(party_controller.stop_job(runtime(), _job(**job), _status(stop_status)))


@party_app.route(JOB + "/rerun", methods=["POST"])
def rerun_job(**job: str):
    return _effect(party_controller.rerun_job(runtime(), _job(**job)))


@party_app.route(JOB + "/parameter/update", methods=["POST"])
@accepts(bodies.Parameters)
def update_parameters(**job: str):
    updates = body_as(bodies.Parameters).model_dump(exclude_none=True)
    return result(party_controller.update_parameters(runtime(), _job(**job), updates))


@party_app.route(TASK + "/create", methods=["POST"])
def create_task_version(**task):
    return result({"task_version": party_controller.create_task_version(runtime(), _task(**task))})


@party_app.route(JOB + "/clean", methods=["POST"])
def clean_job(**job: str):
    party_controller.get_job(_job(**job))
    return result()


@party_app.route(TASK + "/start", methods=["POST"])
def start_task(**task):
    return _effect(party_controller.start_task(runtime(), _task(**task)))


@party_app.route(TASK + "/status/<status>", methods=["POST"])
def task_status(status: str, **task):
    return _effect(party_controller.update_task_status(runtime(), _task(**task), _status(status)))


@party_app.route(TASK + "/stop/<stop_status>", methods=["POST"])
def stop_task(stop_status: str, **task):
    return _effect(party_controller.stop_task(_task(**task), _status(stop_status)))


@party_app.route(TASK + "/collect", methods=["POST"])
def collect_task(**task):
    return result(party_controller.collect_task(_task(**task)))


@party_app.route(TASK + "/report", methods=["POST"])
@accepts(bodies.ExecutorReport)
def report_task(**task):
    report = body_as(bodies.ExecutorReport).model_dump(exclude_none=True)
    return result({"effective": task_controller.report_task(runtime(), _task(**task), report)})
