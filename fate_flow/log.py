"""Logging, configured once per process (server or executor) through stdlib logging.

Server files live in ``logs/fate_flow/``; a job's schedule log in ``logs/<job_id>/`` is written by
``schedule_logger(job_id)``, routed by one handler that keeps a bounded set of files open.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
from pathlib import Path

FORMAT = (
    "[%(levelname)s] [%(asctime)s] [%(log_scope)s] [%(process)d:%(thread)d] - "
    "[%(module)s.%(funcName)s] [line:%(lineno)d]: %(message)s"
)
SCHEDULE_LOGGER = "fate_flow.schedule"
AUDIT_LOGGER = "fate_flow.audit"
LEVEL_FILES = (("DEBUG", logging.DEBUG), ("INFO", logging.INFO), ("WARNING", logging.WARNING), ("ERROR", logging.ERROR))


class _ScopeFilter(logging.Filter):
    """Fills ``log_scope`` (the job id, or 'Server') used by FORMAT."""

    def __init__(self, default_scope: str):
        super().__init__()
        self.default_scope = default_scope

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "log_scope"):
            record.log_scope = getattr(record, "job_id", None) or self.default_scope
        return True


def _file_handler(path: Path, level: int) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(FORMAT))
    return handler


class JobScheduleHandler(logging.Handler):
    """Writes records that carry a ``job_id`` to ``<logs>/<job_id>/<name>.log`` (and ``<name>_error.log``)."""

    def __init__(self, logs_dir: Path, max_open: int = 64, name: str = "fate_flow_schedule"):
        super().__init__(logging.DEBUG)
        self.logs_dir = logs_dir
        self.name_stem = name
        self.max_open = max_open
        self._files: collections.OrderedDict[Path, object] = collections.OrderedDict()
        self._files_lock = threading.Lock()
        self.setFormatter(logging.Formatter(FORMAT))

    def _write(self, path: Path, line: str) -> None:
        with self._files_lock:
            stream = self._files.pop(path, None)
            if stream is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 (kept open, LRU-closed)
            self._files[path] = stream
            while len(self._files) > self.max_open:
                self._files.popitem(last=False)[1].close()
            stream.write(line + "\n")
            stream.flush()

    def emit(self, record: logging.LogRecord) -> None:
        """Append the record to its job's schedule log (and error log from ERROR up); records without a
        ``job_id`` are dropped."""
        job_id = getattr(record, "job_id", None)
        if not job_id:
            return
        try:
            line = self.format(record)
            job_dir = self.logs_dir / job_id
            self._write(job_dir / f"{self.name_stem}.log", line)
            if record.levelno >= logging.ERROR:
                self._write(job_dir / f"{self.name_stem}_error.log", line)
        except Exception:  # noqa: BLE001 (logging must never raise into the caller)
            self.handleError(record)

    def close(self) -> None:
        """Close every job log file kept open, then the handler."""
        with self._files_lock:
            for stream in self._files.values():
                stream.close()
            self._files.clear()
        super().close()


def setup_server_logging(logs_dir: Path, level: int = logging.INFO) -> None:
    """Root handlers for the server process: level files under logs/fate_flow plus job schedule logs."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_fate_flow", False):
            root.removeHandler(handler)
            handler.close()
    scope = _ScopeFilter("Server")
    handlers: list[logging.Handler] = [
        _file_handler(logs_dir / "fate_flow" / f"{name}.log", lvl) for name, lvl in LEVEL_FILES[1:]
    ]
    handlers.append(_file_handler(logs_dir / "fate_flow" / "fate_flow_stat.log", logging.INFO))
    handlers.append(JobScheduleHandler(logs_dir))
    for handler in handlers:
        handler._fate_flow = True  # type: ignore[attr-defined]
        handler.addFilter(scope)
        root.addHandler(handler)
    root.setLevel(level)
    # the audit trail of party-to-party calls: its own files, server-wide and per job
    audit = logging.getLogger(AUDIT_LOGGER)
    audit.propagate = False
    for handler in list(audit.handlers):
        audit.removeHandler(handler)
        handler.close()
    for handler in (_file_handler(logs_dir / "fate_flow" / "fate_flow_audit.log", logging.INFO),
                    JobScheduleHandler(logs_dir, name="fate_flow_audit")):
        handler.addFilter(scope)
        audit.addHandler(handler)
    audit.setLevel(logging.INFO)


def setup_executor_logging(party_log_dir: Path, component_log_dir: Path, job_id: str) -> None:
    """Executor process: FATE's party-level and component-level level files (appended)."""
    root = logging.getLogger()
    scope = _ScopeFilter(job_id)
    for directory in (party_log_dir, component_log_dir):
        for name, level in LEVEL_FILES:
            handler = _file_handler(directory / f"{name}.log", level)
            handler.addFilter(scope)
            root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    os.environ.setdefault("FATE_JOB_ID", job_id)


def schedule_logger(job_id: str) -> logging.LoggerAdapter:
    """A logger whose records also go to the job's fate_flow_schedule.log."""
    return logging.LoggerAdapter(logging.getLogger(SCHEDULE_LOGGER), {"job_id": job_id})


def audit_logger(job_id: str) -> logging.LoggerAdapter:
    """The audit trail of party-to-party calls (``fate_flow_audit.log``, server-wide and per job)."""
    return logging.LoggerAdapter(logging.getLogger(AUDIT_LOGGER), {"job_id": job_id or None})
