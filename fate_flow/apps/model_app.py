"""/v1/model: deploy a trained model, read its inference DSL and a predict conf, query the model store."""

from __future__ import annotations

import json

from flask import Blueprint, Response

from fate_flow.apps import bodies
from fate_flow.apps.bodies import accepts
from fate_flow.apps.util import body_as, error_response, result, runtime
from fate_flow.controller import model_controller
from fate_flow.errors import DataError

model_app = Blueprint("model", __name__, url_prefix="/v1/model")


@model_app.route("/deploy", methods=["POST"])
@accepts(bodies.ModelDeploy)
def deploy():
    request = body_as(bodies.ModelDeploy)
    try:
        retcode, retmsg, data = model_controller.deploy(runtime(), request.model_dump(exclude_none=True))
    except DataError as exc:  # FATE answers an unknown model with HTTP 404
        return error_response(404, exc.message)
    return result(data, retmsg=retmsg, retcode=retcode)


def _document(reader) -> Response:
    """A model's document: the JSON envelope, or (with ``filename``, the CLI's) the document as that file."""
    request = body_as(bodies.ModelVersionRef)
    try:
        document = reader(runtime(), request.model_dump(exclude_none=True))
    except DataError as exc:  # FATE answers "no such model" with HTTP 210 here
        return error_response(210, exc.message)
    if not request.filename:
        return result(document)
    response = Response(json.dumps(document, indent=4), mimetype="application/json")
    response.headers["Content-Disposition"] = f"attachment; filename={request.filename}"
    return response


@model_app.route("/get/predict/dsl", methods=["POST"])
@accepts(bodies.ModelVersionRef)
def get_predict_dsl():
    return _document(model_controller.predict_dsl)


@model_app.route("/get/predict/conf", methods=["POST"])
@accepts(bodies.ModelVersionRef)
def get_predict_conf():
    return _document(model_controller.predict_conf)


@model_app.route("/query", methods=["POST"])
@accepts(bodies.ModelQuery)
def query():
    rows = model_controller.query(body_as(bodies.ModelQuery).model_dump(exclude_none=True))
    if not rows:
        return result([], retmsg="no model found", retcode=100)
    return result(rows)
