"""/v1/model: deploy a trained model, read its inference DSL and a predict conf, query the model store."""

from __future__ import annotations

import json
import tempfile

import flask
from flask import Blueprint, Response, send_file

from fate_flow.apps import bodies
from fate_flow.apps.bodies import accepts, parse
from fate_flow.apps.util import body, body_as, error_response, result, runtime
from fate_flow.controller import model_controller, model_serving, model_tags, model_transfer
from fate_flow.errors import ArgumentError, DataError, FlowError
from fate_flow.manager.data_access import DataAccess

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


@model_app.route("/load", methods=["POST"])
def load():
    retcode, retmsg, data = model_serving.load(runtime(), body())
    return result(data, retmsg=retmsg, retcode=retcode)


@model_app.route("/bind", methods=["POST"])
def bind():
    model_serving.bind(runtime(), body())
    return result()  # pragma: no cover (bind raises: no serving system here)


@model_app.route("/migrate", methods=["POST"])
@accepts(bodies.ModelMigrate)
def migrate():
    retcode, retmsg, data = model_transfer.migrate(runtime(), body_as(bodies.ModelMigrate).model_dump())
    return result(data, retmsg=retmsg, retcode=retcode)


@model_app.route("/export", methods=["GET", "POST"])
@accepts(bodies.PartyModel)
def export():
    """The archive of one party's model version (FATE's CLI sends a GET with a JSON body and saves the file
    the ``Content-Disposition`` names)."""
    request = body_as(bodies.PartyModel)
    archive = tempfile.SpooledTemporaryFile(max_size=16 << 20)  # noqa: SIM115 (send_file closes it)
    name = model_transfer.export_model(runtime(), request.model_dump(), archive)
    archive.seek(0)
    return send_file(archive, mimetype="application/zip", as_attachment=True, download_name=name)


@model_app.route("/import", methods=["POST"])
@accepts(bodies.ModelImport)
def import_():
    """A model archive as the multipart part ``file`` (the CLI's, with the conf as form fields), or a file on
    this server named by ``file`` inside the directories it reads from (``data_access.allowed_dirs``)."""
    part = flask.request.files.get("file")
    fields = parse(bodies.ModelImport, flask.request.form.to_dict() if part is not None else body())
    rt = runtime()
    if part is not None:
        source = part.stream
    elif fields.file:
        source = DataAccess(rt.settings).readable(fields.file, "file")
    else:
        raise ArgumentError("file: send the archive as the multipart part 'file', or name a file on this server")
    return result(model_transfer.import_model(rt, fields.model_dump(exclude_none=True), source,
                                                flask.request.remote_addr or ""))


@model_app.route("/model_tag/<operation>", methods=["POST"])
def model_tag(operation: str):
    message, data = model_tags.model_tag(operation, body())
    return result(data, retmsg=message)


@model_app.route("/tag/<operation>", methods=["POST"])
def tag(operation: str):
    message, data = model_tags.tag(operation, body())
    return result(data, retmsg=message)


@model_app.route("/homo/convert", methods=["POST"])
def homo_convert():
    message, detail = model_serving.convert_homo(runtime(), body())
    return result(detail, retmsg=message)


@model_app.route("/homo/deploy", methods=["POST"])
def homo_deploy():
    """FATE deploys a converted homo model to a KFServing cluster: there is none here."""
    raise FlowError("model/homo/deploy needs a KFServing (Kubernetes) deployment, which this server does not have: "
                    "export the converted model (model/homo/convert, then model/export) and serve it yourself")


@model_app.route("/query", methods=["POST"])
@accepts(bodies.ModelQuery)
def query():
    rows = model_controller.query(body_as(bodies.ModelQuery).model_dump(exclude_none=True))
    if not rows:
        return result([], retmsg="no model found", retcode=100)
    return result(rows)
