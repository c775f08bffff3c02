from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import FlowCLI, ServerProcess, database_env, drop_mysql_database


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
