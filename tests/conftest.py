from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.support import FlowCLI, ServerProcess, database_env, drop_mysql_database

# Every process this test session starts (servers, their fork servers and executors, Spark's JVMs) inherits this
# mark in its environment; what still runs when the session ends is left over and is ended then. An executor whose
# server a test killed or stopped mid-job keeps retrying its last report for as long as its job may run, by design:
# a server that restarts gets it. The name must not start with FATE_FLOW_: the server reads those as settings.
SESSION_MARK = "FLOW_TESTS_SESSION"
_INHERITED = SESSION_MARK in os.environ  # an xdist worker: its controller made the mark and ends the session
_MARK = os.environ.setdefault(SESSION_MARK, uuid.uuid4().hex)


@pytest.hookimpl(trylast=True)  # after the fixtures' teardown and, under xdist, after the workers have ended
def pytest_sessionfinish() -> None:
    """End the processes that carry this session's mark (never fails the session: it only warns)."""
    if _INHERITED:
        return
    try:
        leftover = []
        for process in psutil.process_iter():
            try:
                if process.pid != os.getpid() and process.environ().get(SESSION_MARK) == _MARK:
                    process.kill()
                    leftover.append(process)
            except psutil.Error:
                continue
        psutil.wait_procs(leftover, timeout=10)
    except Exception as exc:  # noqa: BLE001 (a cleanup must not turn a passing session into a failed one)
        print(f"\nleftover test processes could not all be ended: {exc}", file=sys.stderr)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """With ``-n N --dist loadgroup`` (make test): a file's tests run on one worker, in order, so its module
    fixtures (a shared server, a suite's server) start once; tests marked ``xdist_group(name)`` run on one worker
    whatever their file, for what the machine has once (the RabbitMQ broker a test restarts, the pipeline SDK's
    installed config)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileOrGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.rfind("@") > nodeid.rfind("]"):  # xdist appends "@group" to a marked test's id
                return nodeid.rsplit("@", 1)[-1]
            return nodeid.split("::", 1)[0]

    return FileOrGroupScheduling(config, log)


@pytest.fixture(params=["sqlite", "mysql"])
def db_engine(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator:
    """Start real servers (subprocesses); all are stopped and their MySQL databases dropped after."""
    started: list[ServerProcess] = []

    def start(engine: str = "sqlite", name: str = "party", env: dict | None = None, config: Path | None = None,
              **ports: int) -> ServerProcess:
        server_env = {**database_env(engine), **(env or {})}
        server = ServerProcess(tmp_path / name, server_env, config=config, **ports).start()
        started.append(server)
        return server

    start.root = tmp_path  # where the servers' homes are: tmp_path / name
    yield start
    for server in started:
        server.stop()
        database = server.env.get("FATE_FLOW_DATABASE__NAME")
        if server.env.get("FATE_FLOW_DATABASE__ENGINE") == "mysql" and database:
            drop_mysql_database(database)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One SQLite party shared by a module's read-mostly tests (saves a start per test)."""
    server = ServerProcess(tmp_path_factory.mktemp("shared") / "party", database_env("sqlite")).start()
    yield server
    server.stop()


@pytest.fixture
def server(server_factory) -> ServerProcess:
    """One party on SQLite."""
    return server_factory()


@pytest.fixture
def flow_cli() -> FlowCLI:
    return FlowCLI()


@pytest.fixture
def without_crypto_mb():
    """This process without Intel's crypto_mb (``FLOW_MULTIBUFFER=0``), as on a machine without it: OpenSSL and
    gmpy2 do the work (fate_flow/ml/multibuffer.py); restored after the test."""
    from fate_flow.ml import multibuffer

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLOW_MULTIBUFFER", "0")
        multibuffer.library.cache_clear()
        yield
    multibuffer.library.cache_clear()
