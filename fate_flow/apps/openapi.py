"""The OpenAPI description of every route this server serves, at ``/v1/openapi.json``.

Built from the routes themselves and the body model each view declares (``apps/bodies.py``), so it
cannot drift from what the server accepts. Paths keep FATE's names; every answer is FATE's envelope.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, jsonify
from flask.wrappers import Response

from fate_flow import __version__
from fate_flow.apps.bodies import ROLES

ENVELOPE = {"type": "object", "required": ["retcode", "retmsg"],
            "properties": {"retcode": {"type": "integer"}, "retmsg": {"type": "string"}, "data": {},
                           "jobId": {"type": "string"}, "meta": {}}}
NAME = {"type": "string", "pattern": r"^[0-9A-Za-z_.\-]{1,200}$"}
PATH_PARAMETERS = {"role": {"type": "string", "enum": list(ROLES)},
                   "party_id": {"type": "string", "pattern": r"^\d{1,20}$"},
                   "task_version": {"type": "integer", "minimum": 0}}
CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
# the multipart upload: the conf travels as URL-encoded JSON in the query string (as fate-client sends it)
UPLOAD_BODY = {"content": {"multipart/form-data": {"schema": {
    "type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}}}}


def _path(rule: str) -> tuple[str, list[dict]]:
    parameters = []
    for converter, name in CONVERTER.findall(rule):
        schema = PATH_PARAMETERS.get(name) or ({"type": "integer"} if converter == "int" else NAME)
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return CONVERTER.sub(r"{\2}", rule), parameters


def _operation(view: Any, endpoint: str, method: str, parameters: list[dict]) -> dict:
    operation: dict[str, Any] = {"operationId": f"{endpoint}.{method}", "parameters": parameters,
                                 "responses": {"200": {"description": "FATE's envelope",
                                                       "content": {"application/json": {"schema": ENVELOPE}}}}}
    doc = (view.__doc__ or "").strip().splitlines()
    if doc:
        operation["summary"] = doc[0]
    model = getattr(view, "request_model", None)
    if endpoint == "data_access.upload":
        operation["requestBody"] = UPLOAD_BODY
    elif method != "get":
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}") if model else {"type": "object"}
        operation["requestBody"] = {"content": {"application/json": {"schema": schema}}}
    return operation


def build(app: Flask) -> dict:
    """The OpenAPI 3.1 document (pydantic writes JSON Schema 2020-12, which 3.1 uses) of ``app``'s routes."""
    paths: dict[str, dict] = {}
    schemas: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/v1/") or rule.endpoint == "openapi":
            continue
        view = app.view_functions[rule.endpoint]
        path, parameters = _path(rule.rule)
        for method in sorted(m.lower() for m in (rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation = _operation(view, rule.endpoint, method, parameters)
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            schemas.update(body.pop("$defs", {}))
            paths.setdefault(path, {})[method] = operation
    return {"openapi": "3.1.0", "info": {"title": "fate-flow-ng", "version": __version__,
                                         "description": "FATE-Flow 1.x compatible API of one party's server"},
            "paths": paths, "components": {"schemas": schemas}}


def document(app: Flask) -> Response:
    """``GET /v1/openapi.json``."""
    return jsonify(build(app))
