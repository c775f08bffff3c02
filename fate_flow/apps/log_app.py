"""/v1/log: size and cat of a job's logs for FATE-Board (no shell; paths confined)."""

from __future__ import annotations

from flask import Blueprint

from fate_flow.apps.util import body, result, runtime
from fate_flow.errors import ArgumentError, require
from fate_flow.manager.log_reader import LogReader, LogRequestError, log_path

log_app = Blueprint("log", __name__, url_prefix="/v1/log")
_reader = LogReader()


def _path(request_body: dict):
    require(request_body, "job_id", "log_type")
    try:
        return log_path(
            runtime().settings.logs_dir, str(request_body["job_id"]), str(request_body["log_type"]),
            role=request_body.get("role"),
            party_id=None if request_body.get("party_id") is None else str(request_body["party_id"]),
            component_name=request_body.get("component_name"),
        )
    except LogRequestError as exc:
        raise ArgumentError(str(exc)) from None


def _line(request_body: dict, name: str) -> int | None:
    value = request_body.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ArgumentError(f"{name} must be a line number, got {value!r}") from None


@log_app.route("/size", methods=["POST"])
def log_size():
    return result({"size": _reader.size(_path(body()))})


@log_app.route("/cat", methods=["POST"])
def log_cat():
    request_body = body()
    path = _path(request_body)
    return result(_reader.cat(path, _line(request_body, "begin"), _line(request_body, "end")))
