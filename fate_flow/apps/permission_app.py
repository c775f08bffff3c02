"""/v1/permission: grant, delete and query what a partner party may make this party do
(``flow privilege grant|delete|query``)."""

from __future__ import annotations

from flask import Blueprint

from fate_flow.apps import bodies
from fate_flow.apps.bodies import accepts
from fate_flow.apps.util import body, result, runtime
from fate_flow.controller import permission_controller

permission_app = Blueprint("permission", __name__, url_prefix="/v1/permission")


@permission_app.route("/grant", methods=["POST"])
@accepts(bodies.PermissionGrant)
def grant():
    """Grant a partner party components, tables or roles (``flow privilege grant -c conf.json``)."""
    return result(permission_controller.grant(runtime(), body()))


@permission_app.route("/delete", methods=["POST"])
@accepts(bodies.PermissionGrant)
def delete():
    """Take back what was granted to a partner party; ``"*"`` takes back every value of a kind."""
    return result(permission_controller.delete(runtime(), body()))


@permission_app.route("/query", methods=["POST"])
@accepts(bodies.PermissionQuery)
def query():
    """What this party granted a partner party (``flow privilege query -p PARTY``)."""
    return result(permission_controller.query_request(body()))
