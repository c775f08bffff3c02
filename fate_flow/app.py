"""The Flask application: explicit blueprints, one error handler mapping errors to FATE's envelope."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Request
from werkzeug.exceptions import HTTPException
from werkzeug.formparser import FormDataParser

from fate_flow.access import authenticate
from fate_flow.apps import (
    data_access_app,
    initiator_app,
    job_app,
    log_app,
    mailbox_app,
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


BLUEPRINTS = (
    job_app.job_app,
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
)


def create_app() -> Flask:
    """The Flask application: blueprints and the one error map. It serves once ``bind_runtime`` gave it
    the server's Runtime (which itself needs the application, for calls to parties served here)."""
    app = Flask("fate_flow")
    app.request_class = FlowRequest
    app.url_map.strict_slashes = False
    app.json.sort_keys = False
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)

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
        return error_response(exc.code or 500, f"{exc.name}: {exc.description}")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        logger.exception("request failed")
        return result(retmsg=f"{type(exc).__name__}: {exc}", retcode=RetCode.EXCEPTION_ERROR)

    return app


def bind_runtime(app: Flask, rt: Runtime) -> None:
    """Give the application the server's Runtime (once, before it serves)."""
    if RUNTIME_KEY in app.extensions:
        raise RuntimeError("the application already has a runtime")
    app.extensions[RUNTIME_KEY] = rt
