"""/v1/mailbox: an executor waits here for objects other parties pushed to this server (long poll).

``POST /v1/mailbox/<job_id>/wait {"key": ..., "timeout": seconds}`` answers as soon as the object is
complete with ``{"retcode": 0, "data": {"path": <its file>}}`` (the executor runs on this machine, reads
the file and removes it), or with retcode 106 (not there yet) after at most ``MAX_WAIT`` seconds, so a
request never holds a server thread for long; the executor asks again until its own deadline.
"""

from __future__ import annotations

import math

from flask import Blueprint
from flask.wrappers import Response

from fate_flow.apps import bodies
from fate_flow.apps.bodies import accepts
from fate_flow.apps.util import body, result, runtime
from fate_flow.errors import RetCode, UnsafePathError
from fate_flow.manager.mailbox import MailboxError

MAX_WAIT = 20.0

mailbox_app = Blueprint("mailbox", __name__, url_prefix="/v1/mailbox")


def _timeout(value: object) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return min(seconds, MAX_WAIT) if math.isfinite(seconds) and seconds > 0 else 0.0


@mailbox_app.route("/<job_id>/wait", methods=["POST"])
@accepts(bodies.MailboxWait)
def wait(job_id: str) -> Response:
    request_body = body()  # read leniently: this route answers executors, and junk only means "do not wait"
    try:
        path = runtime().mailbox.wait(job_id, request_body.get("key"), _timeout(request_body.get("timeout")))
    except (MailboxError, UnsafePathError) as exc:
        return result(retcode=RetCode.ARGUMENT_ERROR, retmsg=str(exc))
    if path is None:
        return result(retcode=RetCode.RUNNING, retmsg="not arrived yet")
    return result({"path": str(path)})
