"""/v1/pipeline: the DAG of a job for FATE-Board."""

from __future__ import annotations

from flask import Blueprint

from fate_flow import dsl as dsl_parser
from fate_flow.apps.util import body, result, runtime
from fate_flow.controller import party_controller, tracking_controller
from fate_flow.db.models import Job
from fate_flow.errors import FindFailedError

pipeline_app = Blueprint("pipeline", __name__, url_prefix="/v1/pipeline")


@pipeline_app.route("/dag/dependency", methods=["POST"])
def dag_dependency():
    request_body = body()
    if request_body.get("job_dsl") and request_body.get("job_runtime_conf"):
        spec = dsl_parser.parse_job(request_body["job_dsl"], request_body["job_runtime_conf"], runtime().registry.has)
        return result(party_controller.dag_dependencies(runtime(), spec, request_body.get("role"),
                                                        None if request_body.get("party_id") is None
                                                        else str(request_body["party_id"])))
    job_id, _, role, party_id = tracking_controller.locate(request_body, need_component=False)
    job = Job.get_or_none((Job.f_job_id == job_id) & (Job.f_role == role) & (Job.f_party_id == party_id))
    if job is None:
        raise FindFailedError(f"no job {job_id} for {role} {party_id} on this party")
    spec = dsl_parser.parse_job(job.f_dsl, job.f_runtime_conf)
    return result(party_controller.dag_dependencies(runtime(), spec, role, party_id))
