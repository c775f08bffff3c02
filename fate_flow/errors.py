"""FATE's retcodes and the exceptions that carry them: one place maps an error to a response."""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class RetCode(IntEnum):
    SUCCESS = 0
    NOT_EFFECTIVE = 10
    EXCEPTION_ERROR = 100
    ARGUMENT_ERROR = 101
    DATA_ERROR = 102
    OPERATING_ERROR = 103
    FEDERATED_ERROR = 104
    CONNECTION_ERROR = 105
    RUNNING = 106
    INCOMPATIBLE_FATE_VER = 107
    PERMISSION_ERROR = 108
    AUTHENTICATION_ERROR = 109
    SERVER_ERROR = 500


class FlowError(Exception):
    """An error with a retcode and a message meant for the user.

    ``http_status`` is 200 for FATE's envelope errors; download-style endpoints answer with the
    status FATE uses (404, 210 ...) so that the clients print the JSON body.
    """

    retcode: RetCode = RetCode.EXCEPTION_ERROR
    http_status: int = 200

    def __init__(self, message: str, *, data: Any = None, http_status: int | None = None):
        super().__init__(message)
        self.message = message
        self.data = data
        if http_status is not None:
            self.http_status = http_status


class ArgumentError(FlowError):
    """A request field is missing or malformed."""

    retcode = RetCode.ARGUMENT_ERROR


class DataError(FlowError):
    """The request names something that does not exist or is in the wrong state."""

    retcode = RetCode.DATA_ERROR


class OperatingError(FlowError):
    """An operation could not be carried out (submit failed, DSL invalid ...)."""

    retcode = RetCode.OPERATING_ERROR


class AlreadyExistsError(FlowError):
    """FATE answers 'already exists' conflicts (e.g. upload without drop) with retcode 100."""

    retcode = RetCode.EXCEPTION_ERROR


class NotFoundError(FlowError):
    """Something looked up by id does not exist (FATE uses 101 'find ... failed' for most)."""

    retcode = RetCode.ARGUMENT_ERROR


class AuthenticationError(FlowError):
    retcode = RetCode.AUTHENTICATION_ERROR


class NoDataError(FlowError):
    """FATE's pseudo HTTP status 210 'no data' for download-style endpoints."""

    retcode = RetCode(100)
    http_status = 210


def require(body: dict, *keys: str) -> None:
    """Raise FATE's 101 'required argument are missing' when any key is absent or empty."""
    missing = [key for key in keys if body.get(key) in (None, "")]
    if missing:
        raise ArgumentError(f"required argument are missing: {','.join(missing)}; ")
