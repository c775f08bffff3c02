"""/v1/table: table_info, delete."""

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
