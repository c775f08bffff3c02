"""/v1/resource: this party's computing cores (`flow resource query` / `flow resource return`)."""

from __future__ import annotations

from flask import Blueprint

from fate_flow.apps import bodies
from fate_flow.apps.bodies import accepts
from fate_flow.apps.util import body_as, result, runtime
from fate_flow.controller import job_controller
from fate_flow.db.models import EngineRegistry, Job
from fate_flow.entity.status import is_end
from fate_flow.errors import DataError, OperatingError
from fate_flow.manager import resource_manager

resource_app = Blueprint("resource", __name__, url_prefix="/v1/resource")


@resource_app.route("/query", methods=["POST"])
@accepts(bodies.EngineQuery)
def query_resource():
    engine = str(body_as(bodies.EngineQuery).engine_name or runtime().settings.computing_engine).lower()
    row = EngineRegistry.get_or_none(EngineRegistry.f_engine_name == engine)
    if row is None:
        raise DataError(f"no computing engine {engine!r} on this party")
    holders = Job.select().where((Job.f_resource_in_use == True) & (Job.f_engine_name == engine))  # noqa: E712
    return result({
        "use_resource_job": [{"job_id": j.f_job_id, "role": j.f_role, "party_id": j.f_party_id, "core": j.f_cores,
                              "memory": j.f_memory} for j in holders],
        "computing_engine_resource": row.to_dict(),
    })


@resource_app.route("/return", methods=["POST"])
@accepts(bodies.JobRef)
def return_resource():
    job_id = body_as(bodies.JobRef).job_id
    jobs = job_controller.find_jobs(job_id)
    if not jobs:
        raise DataError(f"no job {job_id!r} on this party")
    running = [j for j in jobs if j.f_resource_in_use and not is_end(j.f_status)]
    if running:
        raise OperatingError(f"job {jobs[0].f_job_id} is {running[0].f_status}: stop it to return its cores")
    return result([{"job_id": j.f_job_id, "role": j.f_role, "party_id": j.f_party_id,
                    "resource_in_use": j.f_resource_in_use,
                    "resource_return_status": resource_manager.return_for_job(j)} for j in jobs])
