"""/v1/table: table_info, delete."""

from __future__ import annotations

from flask import Blueprint

from fate_flow.apps.util import body, result, runtime
from fate_flow.errors import ArgumentError, require

table_app = Blueprint("table", __name__, url_prefix="/v1/table")


def _name(request_body: dict) -> tuple[str, str]:
    name = request_body.get("table_name") or request_body.get("name")
    if not name:
        raise ArgumentError("required argument are missing: table_name; ")
    require(request_body, "namespace")
    return str(request_body["namespace"]), str(name)


@table_app.route("/delete", methods=["POST"])
def delete_table():
    namespace, name = _name(body())
    runtime().storage.delete(namespace, name)
    return result({"table_name": name, "namespace": namespace})


@table_app.route("/<table_func>", methods=["POST"])
def table_func(table_func: str):
    if table_func != "table_info":
        raise ArgumentError(f"unknown table function {table_func!r}", http_status=404)
    namespace, name = _name(body())
    storage = runtime().storage
    return result(storage.table_info(storage.get_meta(namespace, name), namespace, name))
