"""The Flask application: explicit blueprints, one error handler mapping errors to FATE's envelope."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import peewee
from flask import Flask, Request, request
from werkzeug.exceptions import HTTPException
from werkzeug.formparser import FormDataParser

from fate_flow.access import authenticate
from fate_flow.apps import (
    board_app,
    checkpoint_app,
    data_access_app,
    initiator_app,
    job_app,
    log_app,
    mailbox_app,
    model_app,
    openapi,
    party_app,
    permission_app,
    pipeline_app,
    resource_app,
    server_app,
    table_app,
    tracker_app,
    tracking_app,
)
from fate_flow.apps.util import RUNTIME_KEY, error_response, result, runtime
from fate_flow.db.connection import DB, is_mysql
from fate_flow.errors import FlowError, RetCode
from fate_flow.runtime import Runtime

logger = logging.getLogger("fate_flow.api")


class FlowRequest(Request):
    """Uploaded files are written where the handler asks, not to a temporary file first."""

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> Any:
        target = data_access_app.open_upload_target(self.environ, filename)
        if target is not None:
            return target
        return super()._get_file_stream(total_content_length, content_type, filename, content_length)

    def make_form_data_parser(self) -> FormDataParser:
        """Not silent: a body that breaks off must be an error, not an empty form (an upload job may
        already be converting the part that arrived)."""
        return self.form_data_parser_class(
            stream_factory=self._get_file_stream, max_form_memory_size=self.max_form_memory_size,
            max_content_length=self.max_content_length, max_form_parts=self.max_form_parts,
            cls=self.parameter_storage_class, silent=False)


UPLOAD_PATH = "/v1/data/upload"
MODEL_IMPORT_PATH = "/v1/model/import"
BLUEPRINTS = (
    job_app.job_app,
    model_app.model_app,
    checkpoint_app.checkpoint_app,
    data_access_app.data_access_app,
    table_app.table_app,
    log_app.log_app,
    server_app.server_app,
    server_app.version_app,
    party_app.party_app,
    initiator_app.initiator_app,
    tracker_app.tracker_app,
    tracking_app.tracking_app,
    pipeline_app.pipeline_app,
    mailbox_app.mailbox_app,
    resource_app.resource_app,
    permission_app.permission_app,
    board_app.board_app,
)


def create_app() -> Flask:
    """The Flask application: blueprints and the one error map. It serves once ``bind_runtime`` gave it
    the server's Runtime (which itself needs the application, for calls to parties served here)."""
    app = Flask("fate_flow", static_folder=None)
    app.request_class = FlowRequest
    app.url_map.strict_slashes = False
    app.json.sort_keys = False
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.add_url_rule("/v1/openapi.json", "openapi", lambda: openapi.document(app))

    @app.before_request
    def _limit_body() -> None:
        # before anything reads the body (the signature check does): only an upload's file part may be large,
        # and it streams to disk
        limits = runtime().settings.limits
        if request.path.startswith(MODEL_IMPORT_PATH) and request.mimetype == "multipart/form-data":
            request.max_content_length = int(limits.model_archive_mb * (1 << 20)) + (1 << 20)  # + the form fields
        elif not (request.path.startswith(UPLOAD_PATH) and request.mimetype == "multipart/form-data"):
            request.max_content_length = int(limits.json_body_mb * (1 << 20))

    @app.before_request
    def _authenticate() -> None:
        authenticate(runtime())

    @app.before_request
    def _open_db() -> None:
        DB.connect(reuse_if_open=True)

    @app.teardown_request
    def _close_db(_exc: BaseException | None) -> None:
        if is_mysql() and not DB.is_closed():
            DB.close()  # back to the pool

    @app.errorhandler(FlowError)
    def _flow_error(exc: FlowError):
        if exc.http_status != 200:
            return error_response(exc.http_status, exc.message)
        return result(exc.data, retmsg=exc.message, retcode=exc.retcode)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if exc.code in (404, 405):
            return error_response(exc.code, f"{request.method} {request.path} is not provided by this server")
        if exc.code == 413:
            setting = "model_archive_mb" if request.path.startswith(MODEL_IMPORT_PATH) else "json_body_mb"
            limit = getattr(runtime().settings.limits, setting)
            return error_response(413, f"the request body is larger than {limit:g} MB (limits.{setting})")
        return error_response(exc.code or 500, f"{exc.name}: {exc.description}")

    @app.errorhandler(OSError)
    def _os_error(exc: OSError):
        # a full disk or a read-only home: say what could not be written, not an empty 500
        logger.exception("request failed on the file system")
        where = f" ({exc.filename})" if exc.filename else ""
        return result(retmsg=f"the server could not complete this request: {exc.strerror or exc}{where}",
                      retcode=RetCode.EXCEPTION_ERROR)

    @app.errorhandler(peewee.DatabaseError)
    def _database(exc: peewee.DatabaseError):
        # the database is down, restarting, full or read-only: say so (the executor retries its reports)
        logger.error("the database failed on %s %s: %s", request.method, request.path, exc)
        cause = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        return result(retmsg=f"the database could not complete this request: {cause}",
                      retcode=RetCode.EXCEPTION_ERROR)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # a bug: the traceback goes to the server log, never into the answer
        reference = uuid.uuid4().hex[:12]
        logger.exception("request failed (reference %s)", reference)
        return result(retmsg=f"the server failed on this request ({type(exc).__name__}); see its log, reference "
                             f"{reference}", retcode=RetCode.EXCEPTION_ERROR)

    return app


def bind_runtime(app: Flask, rt: Runtime) -> None:
    """Give the application the server's Runtime (once, before it serves)."""
    if RUNTIME_KEY in app.extensions:
        raise RuntimeError("the application already has a runtime")
    app.extensions[RUNTIME_KEY] = rt
