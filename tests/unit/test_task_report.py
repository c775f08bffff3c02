"""An executor's reports to its server (``worker.task_executor._report``): retried through an outage, but not
for a server whose home is gone (a process must not sleep for days on a report nobody can take)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fate_flow.worker.server_client import ServerCallError
from fate_flow.worker.task_executor import _report


class Server:
    """A server that cannot be reached for its first ``down`` calls."""

    def __init__(self, down: int):
        self.down, self.calls = down, 0

    def report(self, **body) -> None:
        self.calls += 1
        if self.calls <= self.down:
            raise ServerCallError("cannot reach the server")


def test_a_report_is_retried_through_an_outage(tmp_path: Path):
    server = Server(down=2)
    _report(server, {"party_status": "success"}, time.monotonic() + 30, tmp_path)
    assert server.calls == 3


def test_a_report_to_a_server_whose_home_is_gone_is_given_up(tmp_path: Path):
    task_dir = tmp_path / "task"
    task_dir.mkdir()
    server = Server(down=10 ** 6)
    started = time.monotonic()
    with pytest.raises(ServerCallError):
        _report(server, {"party_status": "success"}, time.monotonic() + 0.5, task_dir)
    assert server.calls > 1 and time.monotonic() - started >= 0.15  # tried again while the home was there
    task_dir.rmdir()
    server.calls, started = 0, time.monotonic()
    with pytest.raises(ServerCallError):
        _report(server, {"party_status": "success"}, time.monotonic() + 3600, task_dir)
    assert server.calls == 1 and time.monotonic() - started < 0.1
