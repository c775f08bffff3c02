"""/v1/log: size and cat of a job's logs for FATE-Board (no shell; paths confined)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint

from fate_flow.apps import bodies
from fate_flow.apps.bodies import accepts
from fate_flow.apps.util import body_as, result, runtime
from fate_flow.errors import ArgumentError
from fate_flow.manager.log_reader import LogReader, LogRequestError, log_path

log_app = Blueprint("log", __name__, url_prefix="/v1/log")
_reader = LogReader()


def _path(request: bodies.LogRequest) -> Path:
    try:
        return log_path(runtime().settings.logs_dir, request.job_id, request.log_type, role=request.role,
                        party_id=request.party_id, component_name=request.component_name)
    except LogRequestError as exc:
        raise ArgumentError(str(exc)) from None


@log_app.route("/size", methods=["POST"])
@accepts(bodies.LogRequest)
def log_size():
    return result({"size": _reader.size(_path(body_as(bodies.LogRequest)))})


@log_app.route("/cat", methods=["POST"])
@accepts(bodies.LogRequest)
def log_cat():
    request = body_as(bodies.LogRequest)
    return result(_reader.cat(_path(request), request.begin, request.end))
