"""A standalone server (it runs guest 9999, host 10000 and arbiter 10000 itself) with FATE's example tables,
shared by the algorithm tests of a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.jobs import FATE_DATA, upload
from tests.support import ServerProcess, database_env

GUEST, HOST, ARBITER = "9999", "10000", "10000"
BREAST = {"breast_hetero_guest": "breast_hetero_guest.csv", "breast_hetero_host": "breast_hetero_host.csv"}


def standalone_server(home, tables: dict[str, str], env: dict[str, str] | None = None) -> ServerProcess:
    """A standalone party with ``tables`` (name -> file in tests/data/fate-data) uploaded to ``experiment``."""
    server = ServerProcess(home, {**database_env("sqlite"), "FATE_FLOW_PARTY_ID": GUEST, **(env or {})}).start()
    for name, file_name in tables.items():
        upload(server, FATE_DATA / file_name, name)
    return server


@pytest.fixture(scope="module")
def breast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A standalone server with the breast tables uploaded."""
    server = standalone_server(tmp_path_factory.mktemp("algo") / "party", BREAST)
    yield server
    server.stop()
