"""/v1/job: query, list, tasks, stop, config, logs."""

from __future__ import annotations

import io
import json
import tarfile
import tempfile

from flask import Blueprint, send_file

from fate_flow.apps import bodies
from fate_flow.apps.bodies import accepts
from fate_flow.apps.util import body_as, error_response, result, runtime
from fate_flow.controller import initiator_controller, job_controller
from fate_flow.entity.keys import JobKey
from fate_flow.entity.status import client_status, is_end
from fate_flow.errors import ArgumentError, DataError, FindFailedError
from fate_flow.federation.client import PartyAnswer, PartyCall
from fate_flow.operation import job_saver

job_app = Blueprint("job", __name__, url_prefix="/v1/job")


@job_app.route("/query", methods=["POST"])
@accepts(bodies.JobQuery)
def query_job():
    jobs = job_controller.query_jobs(body_as(bodies.JobQuery).model_dump(exclude_none=True), runtime().wait_reasons)
    if not jobs:
        return result([], retmsg="no job could be found")
    return result(jobs)


@job_app.route("/list/job", methods=["POST"])
@accepts(bodies.JobList)
def list_job():
    request = body_as(bodies.JobList, http_status=400).model_dump(exclude_none=True)  # FATE-Board's 400s
    return result(job_controller.list_jobs(request, runtime().settings.limits.page_size, runtime().wait_reasons))


@job_app.route("/task/query", methods=["POST"])
@accepts(bodies.TaskQuery)
def query_task():
    return result(job_controller.query_tasks(body_as(bodies.TaskQuery).model_dump(exclude_none=True)))


@job_app.route("/list/task", methods=["POST"])
@accepts(bodies.TaskList)
def list_task():
    request = body_as(bodies.TaskList, http_status=400).model_dump(exclude_none=True)
    return result(job_controller.list_tasks(request, runtime().settings.limits.page_size))


@job_app.route("/submit", methods=["POST"])
@accepts(bodies.JobSubmit)
def submit_job():
    request = body_as(bodies.JobSubmit)
    dsl = request.job_dsl or request.dsl or {}
    conf = request.job_runtime_conf or request.runtime_conf
    if not conf:
        raise ArgumentError("required argument are missing: job_runtime_conf; ")
    data = initiator_controller.submit_job(runtime(), dsl, conf)
    return result(data, jobId=data["job_id"])


def _to_initiator(job_id: str, command: str, request: dict) -> PartyAnswer:
    """Route a job command to the job's initiator (this server or another party's)."""
    jobs = job_controller.find_jobs(job_id)
    if not jobs:
        raise DataError(f"no job {job_id!r} could be found on this party")
    job = jobs[0]
    return runtime().federation.call(PartyCall(
        job.f_initiator_role, job.f_initiator_party_id,
        f"/v1/initiator/{job_id}/{job.f_initiator_role}/{job.f_initiator_party_id}/{command}", request))


def _forwarded(answer: PartyAnswer, success_message: str):
    """The initiator's answer, with its own retcode (a refusal there is the same refusal here)."""
    if not answer.ok:
        return result(answer.data, retmsg=answer.message, retcode=answer.retcode)
    return result(answer.data, retmsg=success_message)


@job_app.route("/stop", methods=["POST"])
@accepts(bodies.JobStop)
def stop_job():
    request = body_as(bodies.JobStop)
    job_id, stop_status = request.job_id, request.stop_status
    jobs = job_controller.find_jobs(job_id)
    if jobs and all(is_end(job.f_status) for job in jobs):
        raise DataError(f"job {job_id} has already ended: {client_status(jobs[0].f_status)}")
    return _forwarded(_to_initiator(job_id, f"stop/{stop_status}", {}),
                      "stop job on this party success; stop job on all party success")


@job_app.route("/rerun", methods=["POST"])
@accepts(bodies.JobRerun)
def rerun_job():
    request = body_as(bodies.JobRerun)
    forward = {"component_name": request.component_name, "force": request.force}
    return _forwarded(_to_initiator(request.job_id, "rerun", forward), "rerun job success")


@job_app.route("/parameter/update", methods=["POST"])
@accepts(bodies.ParameterUpdate)
def update_parameters():
    request = body_as(bodies.ParameterUpdate)
    forward = request.model_dump(include={"job_parameters", "component_parameters"}, exclude_none=True)
    return _forwarded(_to_initiator(request.job_id, "parameter/update", forward), "success")


@job_app.route("/dsl/generate", methods=["POST"])
@accepts(bodies.DslGenerate)
def generate_dsl():
    request = body_as(bodies.DslGenerate)
    predict_dsl = job_controller.predict_dsl(request.train_dsl, request.cpn_str)
    if request.filename:
        return send_file(io.BytesIO(json.dumps(predict_dsl, indent=4).encode()), as_attachment=True,
                         download_name=request.filename, mimetype="application/json")
    return result(predict_dsl)


@job_app.route("/data/view/query", methods=["POST"])
@accepts(bodies.DataViewQuery)
def data_view_query():
    request = body_as(bodies.DataViewQuery)
    rows = job_controller.output_data_rows(request.job_id, request.role, request.party_id, request.component_name)
    if not rows:
        raise FindFailedError(f"no output data of job {request.job_id}")
    return result(rows)


@job_app.route("/clean/queue", methods=["POST"])
def clean_queue():
    return result(initiator_controller.cancel_waiting_jobs(runtime()))


@job_app.route("/config", methods=["POST"])
@accepts(bodies.JobConfig)
def job_config():
    request = body_as(bodies.JobConfig)
    return result(job_controller.job_config(request.job_id, request.role, request.party_id))


@job_app.route("/update", methods=["POST"])
@accepts(bodies.JobNotes)
def update_job():
    request = body_as(bodies.JobNotes)
    updated = job_saver.update_job(JobKey(request.job_id, request.role, request.party_id),
                                   f_description=request.notes)
    if not updated:
        raise FindFailedError("find job failed")
    return result()


@job_app.route("/log/path", methods=["POST"])
@accepts(bodies.JobRef)
def job_log_path():
    job_id = body_as(bodies.JobRef).job_id
    return result({"logs_directory": str(runtime().paths.job_log_dir(job_id))})


@job_app.route("/log", methods=["GET", "POST"])  # the 1.5 client's route
@job_app.route("/log/download", methods=["POST"])
@accepts(bodies.JobRef)
def job_log_download():
    job_id = body_as(bodies.JobRef).job_id
    log_dir = runtime().paths.job_log_dir(job_id)
    if not log_dir.is_dir():
        return error_response(404, f"no log directory for job {job_id}")
    buffer = tempfile.SpooledTemporaryFile(max_size=16 << 20)  # noqa: SIM115 (send_file closes it)
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(log_dir.rglob("*")):
            if path.is_file() and not path.is_symlink():
                tar.add(path, arcname=str(path.relative_to(log_dir)), recursive=False)
    buffer.seek(0)
    return send_file(buffer, mimetype="application/gzip", as_attachment=True,
                     download_name=f"job_{job_id}_log.tar.gz")
