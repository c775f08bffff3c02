"""/v1/tracker: what executors record through their server (table meta, later metrics and models)."""

from __future__ import annotations

from flask import Blueprint

from fate_flow.apps.util import body, result, runtime
from fate_flow.errors import require

tracker_app = Blueprint("tracker", __name__, url_prefix="/v1/tracker")


@tracker_app.route("/<job_id>/<component_name>/<task_id>/<int:task_version>/<role>/<party_id>/table/meta",
                   methods=["POST"])
def save_table_meta(job_id: str, component_name: str, task_id: str, task_version: int, role: str,
                    party_id: str):
    meta = body()
    require(meta, "namespace", "name", "address")
    meta["job_id"] = job_id
    runtime().storage.publish(meta, replace=bool(meta.get("replace")))
    return result()
