"""/v1/pipeline: the DAG of a job for FATE-Board."""

from __future__ import annotations

from flask import Blueprint

from fate_flow import dsl as dsl_parser
from fate_flow.apps import bodies
from fate_flow.apps.bodies import accepts
from fate_flow.apps.util import body_as, result, runtime
from fate_flow.controller import party_controller, tracking_controller
from fate_flow.db.models import Job
from fate_flow.entity.keys import JobKey
from fate_flow.errors import FindFailedError

pipeline_app = Blueprint("pipeline", __name__, url_prefix="/v1/pipeline")


@pipeline_app.route("/dag/dependency", methods=["POST"])
@accepts(bodies.DagDependency)
def dag_dependency():
    request = body_as(bodies.DagDependency)
    rt = runtime()
    if request.job_dsl and request.job_runtime_conf:
        spec = dsl_parser.parse_job(request.job_dsl, request.job_runtime_conf, rt.registry.has)
        return result(party_controller.dag_dependencies(rt, spec, request.role, request.party_id))
    job_id, _, role, party_id = tracking_controller.locate(request.model_dump(exclude_none=True),
                                                           need_component=False)
    job = Job.find(JobKey(job_id, role, party_id))
    if job is None:
        raise FindFailedError(f"no job {job_id} for {role} {party_id} on this party")
    spec = dsl_parser.parse_job(job.f_dsl, job.f_runtime_conf)
    return result(party_controller.dag_dependencies(rt, spec, role, party_id))
