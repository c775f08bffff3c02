"""/v1/checkpoint: a component's training checkpoints. This server's components save their model when they
end, not checkpoints along the way (FATE's ``callback_param`` ``ModelCheckpoint``): every list is empty and
every get answers FATE's 404, for a model this server holds."""

from __future__ import annotations

from flask import Blueprint

from fate_flow.apps import bodies
from fate_flow.apps.bodies import accepts
from fate_flow.apps.util import body_as, error_response, result
from fate_flow.db.models import ModelInfo
from fate_flow.entity.keys import ModelKey
from fate_flow.errors import DataError

checkpoint_app = Blueprint("checkpoint", __name__, url_prefix="/v1/checkpoint")


def _model(request: bodies.ComponentCheckpoint) -> None:
    key = ModelKey(request.role, request.party_id, request.model_id, request.model_version)
    if ModelInfo.find(key) is None:
        raise DataError(f"model {key.model_id} version {key.model_version} is not on this server for {key.role} "
                        f"{key.party_id}")


@checkpoint_app.route("/list", methods=["POST"])
@accepts(bodies.ComponentCheckpoint)
def list_checkpoints():
    _model(body_as(bodies.ComponentCheckpoint, http_status=400))
    return result([], retmsg="no checkpoints: this server's components save their model when they end")


@checkpoint_app.route("/get", methods=["POST"])
@accepts(bodies.ComponentCheckpoint)
def get_checkpoint():
    request = body_as(bodies.ComponentCheckpoint, http_status=400)
    if request.step_index is None and request.step_name is None:
        return error_response(400, "'step_index' or 'step_name' is required")
    _model(request)
    return error_response(404, "The checkpoint was not found.")
