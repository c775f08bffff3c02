"""Request and response helpers shared by the blueprints (FATE's envelope and body conventions)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from flask import current_app, jsonify, request
from flask.wrappers import Response

from fate_flow.apps.bodies import ROLES, Model, parse
from fate_flow.entity.keys import JobKey, TaskKey
from fate_flow.errors import ArgumentError, RetCode
from fate_flow.runtime import Runtime
from fate_flow.utils.paths import check_name

RUNTIME_KEY = "fate_flow_runtime"


def runtime() -> Runtime:
    """The server's Runtime (bound to the application at start)."""
    return current_app.extensions[RUNTIME_KEY]


def body() -> dict:
    """The JSON body whatever the content type; a missing or invalid body is ``{}`` (as FATE)."""
    data = request.get_json(force=True, silent=True)
    return data if isinstance(data, dict) else {}


def body_as(model: type[Model], http_status: int | None = None) -> Model:
    """The request body checked as ``model`` (ArgumentError, 101, naming the field)."""
    return parse(model, body(), http_status)


def _role(role: str) -> str:
    if role not in ROLES:
        raise ArgumentError(f"role {role!r} is not a role: use {', '.join(ROLES)}")
    return role


def _party(party_id: str) -> str:
    if not party_id.isdigit() or len(party_id) > 20:
        raise ArgumentError(f"party_id {party_id!r} is not a party id (digits)")
    return party_id


def path_job_key(job_id: str, role: str, party_id: str) -> JobKey:
    """The job row named by a URL's path parts, each checked (101 naming the part)."""
    return JobKey(check_name("job_id", job_id), _role(role), _party(party_id))


def path_task_key(job_id: str, component_name: str, task_id: str, task_version: int, role: str,
                  party_id: str) -> TaskKey:
    """The task row named by a URL's path parts, each checked (101 naming the part)."""
    return TaskKey(check_name("job_id", job_id), check_name("component_name", component_name),
                   check_name("task_id", task_id), task_version, _role(role), _party(party_id))


def query_conf() -> dict:
    """The conf the clients put in the query string: URL-encoded JSON text, or plain key=value pairs."""
    raw = request.query_string.decode("utf-8", "replace")
    if raw:
        try:
            conf = json.loads(unquote_plus(raw))
            if isinstance(conf, dict):
                return conf
        except json.JSONDecodeError:
            pass
    args = request.args.to_dict()
    if len(args) == 1:
        key, value = next(iter(args.items()))
        try:
            conf = json.loads(key + (("=" + value) if value else ""))
            if isinstance(conf, dict):
                return conf
        except json.JSONDecodeError:
            pass
    return args


def result(data: Any = None, retmsg: str = "success", retcode: int = RetCode.SUCCESS, **top: Any) -> Response:
    """FATE's envelope; keys whose value is None are left out."""
    payload = {"retcode": int(retcode), "retmsg": retmsg, "data": data, **top}
    return jsonify({k: v for k, v in payload.items() if v is not None})


def error_response(http_status: int, retmsg: str) -> Response:
    response = jsonify({"retcode": http_status, "retmsg": retmsg})
    response.status_code = http_status
    return response
