"""The ``testsuite`` marker and one standalone server per suite, shared by that suite's job tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.testsuites.runner import SuiteRun, standalone_server, upload_suite_data
from tests.testsuites.suite import Testsuite

MARKER = "testsuite: a job of one of FATE 1.11.2's testsuites (tests/data/dsl-v2), run as fate_test runs it"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)


class SuiteServers:
    """The server of the suite whose jobs are being tested: started (its tables uploaded) by the suite's first
    test, stopped when a test of another suite starts. The tests are ordered suite by suite, so each suite's
    server starts once; its home stays in pytest's temporary directory for the logs."""

    def __init__(self, root: Path):
        self.root = root
        self.folder: str | None = None
        self.run: SuiteRun | None = None
        self.start_error = ""
        self.stack = ExitStack()

    def get(self, suite: Testsuite) -> SuiteRun:
        """The run of ``suite`` (its server started and its tables uploaded on first use)."""
        if self.folder != suite.folder:
            self.close()
            self.folder, self.start_error = suite.folder, ""
            try:
                server = self.stack.enter_context(standalone_server(self.root / suite.folder / "party"))
            except RuntimeError as exc:  # the server's own error (e.g. a component module that cannot load)
                self.start_error = str(exc)[-3000:]
            else:
                # as fate_test, a failed upload does not stop the suite; the jobs reading that table say so
                self.run = SuiteRun(suite, server, upload_failures=upload_suite_data(server, suite))
        if self.start_error:
            pytest.fail(f"the standalone server did not start: {self.start_error}", pytrace=False)
        return self.run

    def close(self) -> None:
        """Stop the current suite's server."""
        self.stack.close()
        self.stack = ExitStack()
        self.folder = self.run = None


@pytest.fixture(scope="module")
def suite_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SuiteServers]:
    servers = SuiteServers(tmp_path_factory.mktemp("testsuites"))
    yield servers
    servers.close()
