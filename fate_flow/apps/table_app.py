"""/v1/table: table_info, delete; list and preview (the board's data page)."""

from __future__ import annotations

from flask import Blueprint

from fate_flow.apps import bodies
from fate_flow.apps.bodies import accepts
from fate_flow.apps.util import body_as, result, runtime
from fate_flow.errors import FindFailedError, RetCode

table_app = Blueprint("table", __name__, url_prefix="/v1/table")
# FATE's exact answer for a table that does not exist: clients match on it
NO_TABLE = "no find table"


@table_app.route("/delete", methods=["POST"])
@accepts(bodies.TableRefBody)
def delete_table():
    request = body_as(bodies.TableRefBody)
    name = request.table()
    try:
        runtime().storage.delete(request.namespace, name)
    except FindFailedError:
        return result(retmsg=NO_TABLE, retcode=RetCode.ARGUMENT_ERROR)
    return result({"table_name": name, "namespace": request.namespace})


@table_app.route("/table_info", methods=["POST"])
@accepts(bodies.TableRefBody)
def table_info():
    request = body_as(bodies.TableRefBody)
    storage = runtime().storage
    name = request.table()
    return result(storage.table_info(storage.get_meta(request.namespace, name), request.namespace, name))


@table_app.route("/list", methods=["POST"])
@accepts(bodies.TableList)
def list_tables():
    request = body_as(bodies.TableList)
    cap = runtime().settings.limits.page_size
    limit = min(request.limit or cap, cap)
    return result(runtime().storage.list_tables(request.namespace, request.table_name, request.page, limit))


@table_app.route("/preview", methods=["POST"])
@accepts(bodies.TablePreview)
def preview_table():
    request = body_as(bodies.TablePreview)
    storage = runtime().storage
    meta = storage.get_meta(request.namespace, request.table())
    if meta is None:
        return result(retmsg=NO_TABLE, retcode=RetCode.ARGUMENT_ERROR)
    return result(storage.preview(meta, request.limit))
