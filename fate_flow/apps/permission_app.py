"""/v1/permission: grant, delete and query what a partner party may make this party do
(``flow privilege grant|delete|query``)."""

from __future__ import annotations

from flask import Blueprint

permission_app = Blueprint("permission", __name__, url_prefix="/v1/permission")
