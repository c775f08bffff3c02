"""FATE's retcodes and the one error hierarchy that carries them.

Every domain error is a :class:`FlowError` subclass whose class fixes the retcode FATE answers with;
the application has one handler that turns any of them into FATE's envelope. Lower layers that must
stay free of the server (the DSL parser, path checks) raise these same classes, so there is no
second map from exception types to retcodes anywhere.
"""

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

    def __init__(self, message: str, *, data: Any = None, http_status: int | None = None,
                 retcode: int | None = None):
        super().__init__(message)
        self.message = message
        self.data = data
        if http_status is not None:
            self.http_status = http_status
        if retcode is not None:  # an answer forwarded from another party keeps that party's retcode
            self.retcode = retcode  # type: ignore[assignment]


class ArgumentError(FlowError):
    """A request field is missing or malformed (101)."""

    retcode = RetCode.ARGUMENT_ERROR


class UnsafePathError(ArgumentError, ValueError):
    """A request field would point outside its directory, or holds characters a name may not (101)."""


class FindFailedError(FlowError):
    """Answers FATE's 101 "find ... failed": an id the client gave matches nothing on this party."""

    retcode = RetCode.ARGUMENT_ERROR


class DataError(FlowError):
    """Answers 102: the request names a job, task or table that this party does not hold, or holds in a
    state that does not allow the request."""

    retcode = RetCode.DATA_ERROR


class NoDataError(FlowError):
    """Answers FATE's pseudo HTTP status 210 "no data" of the download-style endpoints."""

    retcode = RetCode.EXCEPTION_ERROR
    http_status = 210


class OperatingError(FlowError):
    """An operation could not be carried out: submit failed, a party refused, nothing to rerun (103)."""

    retcode = RetCode.OPERATING_ERROR


class NotEffectiveError(FlowError):
    """The request was valid but changed nothing (10), e.g. a status that was already reached."""

    retcode = RetCode.NOT_EFFECTIVE


class AlreadyExistsError(FlowError):
    """FATE answers 'already exists' conflicts (e.g. upload without drop) with retcode 100."""

    retcode = RetCode.EXCEPTION_ERROR


class AuthenticationError(FlowError):
    """A signature is missing, wrong, stale or replayed (109)."""

    retcode = RetCode.AUTHENTICATION_ERROR


class PermissionDeniedError(FlowError):
    """The caller is known but may not do this (108)."""

    retcode = RetCode.PERMISSION_ERROR


def require(body: dict, *keys: str) -> None:
    """Raise FATE's 101 'required argument are missing' when any key is absent or empty."""
    missing = [key for key in keys if body.get(key) in (None, "")]
    if missing:
        raise ArgumentError(f"required argument are missing: {','.join(missing)}; ")


class ComponentError(Exception):
    """A component failed for a reason the user can act on; the message is shown as is. Raised in the
    executor (by components and the framework); anything else a component raises is a bug and is
    logged with its traceback."""


class ParamError(ComponentError, ValueError):
    """A component parameter is missing or invalid; ``field`` is its dotted path (``encrypt_param.key_length``)."""

    def __init__(self, module: str, field: str, problem: str):
        super().__init__(f"{module}: parameter {field}: {problem}")
        self.module = module
        self.field = field
        self.problem = problem
