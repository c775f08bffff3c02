"""/v1/data: upload (multipart streamed to disk, or a server-side file), download, history."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from flask import Blueprint, request

from fate_flow.apps import bodies
from fate_flow.apps.bodies import accepts
from fate_flow.apps.util import body, body_as, query_conf, result, runtime
from fate_flow.controller import data_controller
from fate_flow.errors import ArgumentError
from fate_flow.utils.growing_file import mark_complete, mark_failed

data_access_app = Blueprint("data_access", __name__, url_prefix="/v1/data")
UPLOAD_DIR_KEY = "fate_flow.upload_dir"
UPLOAD_OPENED_KEY = "fate_flow.upload_opened"
UPLOAD_FILES_KEY = "fate_flow.upload_files"


def _upload_conf() -> tuple[dict, bool]:
    """The conf and whether the client sends the file (multipart) rather than naming a server file."""
    if request.mimetype == "multipart/form-data":
        conf = query_conf()
        conf.update({k: v for k, v in request.args.items() if k in conf})
        return conf, True
    json_body = body()
    if json_body:
        use_local = str(json_body.get("use_local_data", 1)) != "0"
        return json_body, use_local
    return query_conf(), True


def _receive_client_file(directory: Path, on_open: Callable[[Path], None]) -> Path:
    """Stream the multipart part ``file`` straight into ``directory`` (see FlowRequest). ``on_open(path)``
    runs as soon as the part begins, so the upload job can start converting while the rest arrives; the
    file ends with a marker that tells that job it is complete, or why it never will be."""
    directory.mkdir(parents=True, exist_ok=True)
    request.environ[UPLOAD_DIR_KEY] = directory
    request.environ[UPLOAD_OPENED_KEY] = on_open
    try:
        part = request.files.get("file")
    except Exception as exc:
        for opened in request.environ.get(UPLOAD_FILES_KEY, []):
            mark_failed(opened, f"the client's upload broke off: {type(exc).__name__}: {exc}")
        raise
    if part is None:
        for opened in request.environ.get(UPLOAD_FILES_KEY, []):
            mark_failed(opened, "the request has no part named 'file'")
        raise ArgumentError("no file in the request: send the CSV as the multipart part 'file'")
    path = Path(part.stream.name)
    part.stream.close()
    mark_complete(path)
    return path


@data_access_app.route("/upload", methods=["POST"])
def upload():
    conf, client_file = _upload_conf()
    if client_file and request.mimetype != "multipart/form-data":
        raise ArgumentError("no file in the request: send the CSV as the multipart part 'file', "
                            "or set use_local_data to 0 and name a file on the server")
    data = data_controller.submit_upload(runtime(), conf, _receive_client_file if client_file else None)
    return result(data, jobId=data["job_id"])


@data_access_app.route("/download", methods=["POST"])
@accepts(bodies.Download)
def download():
    request = body_as(bodies.Download)
    data = data_controller.submit_download(runtime(), request.namespace, request.table_name, request.output_path,
                                           request.delimiter, request.overwrite)
    return result(data, jobId=data["job_id"])


@data_access_app.route("/upload/history", methods=["POST"])
@accepts(bodies.UploadHistory)
def upload_history():
    request = body_as(bodies.UploadHistory)
    return result(data_controller.upload_history(request.job_id, min(request.limit,
                                                                     runtime().settings.limits.page_size)))


def open_upload_target(environ: dict, filename: str | None):
    """Where werkzeug writes an uploaded part: the job's upload directory, never a temp copy."""
    directory = environ.get(UPLOAD_DIR_KEY)
    if directory is None:
        return None
    suffix = Path(filename or "").suffix
    safe_suffix = suffix if suffix.replace(".", "").isalnum() and len(suffix) <= 10 else ""
    path = Path(directory) / f"{uuid.uuid4().hex}{safe_suffix}"
    stream = open(path, "wb+")  # noqa: SIM115 (werkzeug writes and closes it)
    environ.setdefault(UPLOAD_FILES_KEY, []).append(path)
    on_open = environ.pop(UPLOAD_OPENED_KEY, None)  # only the first part starts the job
    if on_open is not None:
        on_open(path)
    return stream
