"""Request and response helpers shared by the blueprints (FATE's envelope and body conventions)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from flask import current_app, jsonify, request
from flask.wrappers import Response

from fate_flow.errors import RetCode
from fate_flow.runtime import Runtime

RUNTIME_KEY = "fate_flow_runtime"


def runtime() -> Runtime:
    """The server's Runtime (bound to the application at start)."""
    return current_app.extensions[RUNTIME_KEY]


def body() -> dict:
    """The JSON body whatever the content type; a missing or invalid body is ``{}`` (as FATE)."""
    data = request.get_json(force=True, silent=True)
    return data if isinstance(data, dict) else {}


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
