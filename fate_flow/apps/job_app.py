"""/v1/job: query, list, tasks, stop, config, logs."""

from __future__ import annotations

import io
import json
import tarfile
import tempfile

from flask import Blueprint, send_file

from fate_flow.apps.util import body, error_response, result, runtime
from fate_flow.controller import initiator_controller, job_controller
from fate_flow.entity.keys import JobKey
from fate_flow.entity.status import client_status, is_end
from fate_flow.errors import ArgumentError, DataError, FindFailedError, require
from fate_flow.federation.client import PartyAnswer, PartyCall
from fate_flow.operation import job_saver

job_app = Blueprint("job", __name__, url_prefix="/v1/job")


@job_app.route("/query", methods=["POST"])
def query_job():
    jobs = job_controller.query_jobs(body())
    if not jobs:
        return result([], retmsg="no job could be found")
    return result(jobs)


@job_app.route("/list/job", methods=["POST"])
def list_job():
    return result(job_controller.list_jobs(body()))


@job_app.route("/task/query", methods=["POST"])
def query_task():
    return result(job_controller.query_tasks(body()))


@job_app.route("/list/task", methods=["POST"])
def list_task():
    return result(job_controller.list_tasks(body()))


@job_app.route("/submit", methods=["POST"])
def submit_job():
    request_body = body()
    dsl = request_body.get("job_dsl") or request_body.get("dsl") or {}
    conf = request_body.get("job_runtime_conf") or request_body.get("runtime_conf")
    if not isinstance(conf, dict) or not conf:
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
def stop_job():
    request_body = body()
    require(request_body, "job_id")
    job_id, stop_status = str(request_body["job_id"]), str(request_body.get("stop_status") or "canceled")
    if stop_status not in ("canceled", "failed"):
        raise ArgumentError(f"stop_status must be canceled or failed, got {stop_status!r}")
    jobs = job_controller.find_jobs(job_id)
    if jobs and all(is_end(job.f_status) for job in jobs):
        raise DataError(f"job {job_id} has already ended: {client_status(jobs[0].f_status)}")
    return _forwarded(_to_initiator(job_id, f"stop/{stop_status}", {}),
                      "stop job on this party success; stop job on all party success")


@job_app.route("/rerun", methods=["POST"])
def rerun_job():
    request_body = body()
    require(request_body, "job_id")
    request = {"component_name": request_body.get("component_name"), "force": bool(request_body.get("force"))}
    return _forwarded(_to_initiator(str(request_body["job_id"]), "rerun", request), "rerun job success")


@job_app.route("/parameter/update", methods=["POST"])
def update_parameters():
    request_body = body()
    require(request_body, "job_id")
    request = {k: request_body[k] for k in ("job_parameters", "component_parameters") if k in request_body}
    return _forwarded(_to_initiator(str(request_body["job_id"]), "parameter/update", request), "success")


@job_app.route("/dsl/generate", methods=["POST"])
def generate_dsl():
    request_body = body()
    require(request_body, "train_dsl", "cpn_str")
    predict_dsl = job_controller.predict_dsl(request_body["train_dsl"], request_body["cpn_str"])
    if request_body.get("filename"):
        return send_file(io.BytesIO(json.dumps(predict_dsl, indent=4).encode()), as_attachment=True,
                         download_name=str(request_body["filename"]), mimetype="application/json")
    return result(predict_dsl)


@job_app.route("/data/view/query", methods=["POST"])
def data_view_query():
    request_body = body()
    require(request_body, "job_id")
    rows = job_controller.output_data_rows(request_body)
    if not rows:
        raise FindFailedError(f"no output data of job {request_body['job_id']}")
    return result(rows)


@job_app.route("/clean/queue", methods=["POST"])
def clean_queue():
    return result(initiator_controller.cancel_waiting_jobs(runtime()))


@job_app.route("/config", methods=["POST"])
def job_config():
    return result(job_controller.job_config(body()))


@job_app.route("/update", methods=["POST"])
def update_job():
    request_body = body()
    require(request_body, "job_id", "role", "party_id")
    key = JobKey(str(request_body["job_id"]), str(request_body["role"]), str(request_body["party_id"]))
    updated = job_saver.update_job(key, f_description=str(request_body.get("notes", "")))
    if not updated:
        raise FindFailedError("find job failed")
    return result()


@job_app.route("/log/path", methods=["POST"])
def job_log_path():
    request_body = body()
    require(request_body, "job_id")
    return result({"logs_directory": str(runtime().paths.job_log_dir(str(request_body["job_id"])))})


@job_app.route("/log", methods=["GET", "POST"])  # the 1.5 client's route
@job_app.route("/log/download", methods=["POST"])
def job_log_download():
    request_body = body()
    require(request_body, "job_id")
    job_id = str(request_body["job_id"])
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
