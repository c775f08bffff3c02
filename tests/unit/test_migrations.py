"""Schema migrations on both engines: a database of an older schema is brought up to date without losing rows."""

from __future__ import annotations

from fate_flow.db import migrations
from fate_flow.db.connection import DB
from fate_flow.db.models import SchemaVersion, Task

TASK_INDEX = "t_task_f_job_id_f_role_f_party_id"


def _task_indexes() -> set[str]:
    return {index.name for index in DB.get_indexes(Task._meta.table_name)}


def test_a_schema_7_database_gets_the_task_lookup_index(database):
    assert TASK_INDEX in _task_indexes() and migrations.current_version() == migrations.SCHEMA_VERSION
    # as a server of schema 7 left it
    DB.execute_sql(f"DROP INDEX {TASK_INDEX}" + (f" ON {Task._meta.table_name}" if database == "mysql" else ""))
    SchemaVersion.delete().where(SchemaVersion.f_version == 8).execute()
    assert migrations.migrate() == 7
    assert TASK_INDEX in _task_indexes() and migrations.current_version() == 8
    assert migrations.migrate() == 8  # applied once
