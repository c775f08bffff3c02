"""/v1/log: size and cat of a job's logs for FATE-Board (no shell; paths confined), and a live tail for the
board (server-sent events)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from flask import Blueprint, Response, request, stream_with_context

from fate_flow.apps import bodies
from fate_flow.apps.bodies import accepts
from fate_flow.apps.util import body_as, error_response, result, runtime
from fate_flow.db.connection import DB, connection, is_mysql
from fate_flow.db.models import Job
from fate_flow.entity.status import is_end
from fate_flow.errors import ArgumentError
from fate_flow.manager.log_reader import LogReader, LogRequestError, log_path

log_app = Blueprint("log", __name__, url_prefix="/v1/log")
_reader = LogReader()
# the live tail: each open stream holds one server thread, so they are bounded
MAX_STREAMS = 32
_streams = threading.BoundedSemaphore(MAX_STREAMS)
POLL_S = 0.2  # how often a stream looks at its file: the delay from a write to the browser
STATUS_EVERY_S = 1.0  # how often an idle stream asks whether the job has ended
KEEPALIVE_S = 10.0  # a comment line this often: a closed browser is noticed, proxies keep the stream
STREAM_LIFETIME_S = 300.0  # then the browser reconnects (EventSource does) from the last line it got
LINES_PER_EVENT = 1000


def _path(request: bodies.LogRequest) -> Path:
    try:
        return log_path(runtime().settings.logs_dir, request.job_id, request.log_type, role=request.role,
                        party_id=request.party_id, component_name=request.component_name)
    except LogRequestError as exc:
        raise ArgumentError(str(exc)) from None


@log_app.route("/size", methods=["POST"])
@accepts(bodies.LogRequest)
def log_size():
    return result({"size": _reader.size(_path(body_as(bodies.LogRequest)))})


@log_app.route("/cat", methods=["POST"])
@accepts(bodies.LogRequest)
def log_cat():
    request = body_as(bodies.LogRequest)
    return result(_reader.cat(_path(request), request.begin, request.end))


def _job_ended(job_id: str, role: str | None, party_id: str | None) -> bool:
    """Whether every row of the job (at ``role``/``party_id`` when given) has an end status."""
    query = Job.select(Job.f_status).where(Job.f_job_id == job_id)
    if role:
        query = query.where(Job.f_role == role)
    if party_id:
        query = query.where(Job.f_party_id == party_id)
    with connection():
        statuses = [job.f_status for job in query]
    return not statuses or all(is_end(status) for status in statuses)


def _event(name: str, data: object, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _tail(path: Path, first_line: int, log: bodies.LogRequest) -> Iterator[str]:
    """The file's complete lines from ``first_line`` as they are written, until the job has ended and they are all
    sent (then an ``end`` event) or the stream's lifetime is over (the browser then reconnects)."""
    next_line, now = first_line, time.monotonic()
    deadline, last_sent, last_status = now + STREAM_LIFETIME_S, now, 0.0
    yield "retry: 1000\n\n"
    while time.monotonic() < deadline:
        complete = _reader.complete_lines(path)
        if complete >= next_line:
            lines = _reader.cat(path, next_line, min(complete, next_line + LINES_PER_EVENT - 1))
            next_line = lines[-1]["line_num"] + 1
            yield _event("lines", lines, next_line - 1)
            last_sent = time.monotonic()
            continue
        if time.monotonic() - last_status >= STATUS_EVERY_S:
            last_status = time.monotonic()
            if _job_ended(log.job_id, log.role, log.party_id) and _reader.complete_lines(path) < next_line:
                yield _event("end", {"reason": f"job {log.job_id} has ended", "next_line": next_line})
                return
        if time.monotonic() - last_sent >= KEEPALIVE_S:
            yield ": keepalive\n\n"
            last_sent = time.monotonic()
        time.sleep(POLL_S)


@log_app.route("/stream", methods=["GET"])
@accepts(bodies.LogRequest)
def log_stream():
    log = bodies.parse(bodies.LogRequest, request.args.to_dict())
    path = _path(log)
    resumed = request.headers.get("Last-Event-ID", "")
    first_line = max(log.begin or 1, int(resumed) + 1 if resumed.isdigit() and len(resumed) < 13 else 1)
    if not _streams.acquire(blocking=False):
        return error_response(503, f"{MAX_STREAMS} log streams are open on this server: try again later")
    if is_mysql() and not DB.is_closed():
        DB.close()  # back to the pool while the stream lasts (each status check takes one for a moment)
    response = Response(stream_with_context(_tail(path, first_line, log)), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response.call_on_close(_streams.release)  # the server closes every response, sent whole or cut off
    return response
