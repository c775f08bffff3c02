from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fate_flow.db import migrations
from fate_flow.db.connection import close_database, open_database
from fate_flow.settings import load_settings
from tests.support import MYSQL, drop_mysql_database, require_mysql


@pytest.fixture(params=["sqlite", "mysql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The real database of each engine, migrated, bound to the DB proxy in this process."""
    env = {"FATE_FLOW_DATABASE__ENGINE": request.param}
    name = f"fate_flow_unit_{uuid.uuid4().hex[:10]}"
    if request.param == "mysql":
        require_mysql()
        env.update({"FATE_FLOW_DATABASE__NAME": name, "FATE_FLOW_DATABASE__USER": MYSQL["user"],
                    "FATE_FLOW_DATABASE__PASSWD": "", "FATE_FLOW_DATABASE__MAX_CONNECTIONS": "40"})
    settings = load_settings(home=tmp_path / "home", environ=env)
    open_database(settings.database)
    migrations.migrate()
    yield request.param
    close_database()
    if request.param == "mysql":
        drop_mysql_database(name)
