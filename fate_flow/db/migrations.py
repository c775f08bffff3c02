"""The schema, created and versioned by the server itself at start.

Each step moves the schema from version N-1 to N; the applied version is kept in
``t_schema_version``. Steps must be idempotent (``safe=True``) because two servers sharing one
MySQL database may start at the same moment; MySQL's GET_LOCK serialises them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

from fate_flow.db.connection import DB, is_mysql
from fate_flow.db.models import ALL_MODELS, MODEL_STORE_MODELS, SECURITY_MODELS, TRACKING_MODELS, SchemaVersion
from fate_flow.utils.timeutil import now_ms

logger = logging.getLogger("fate_flow.db")


def _create_base_tables() -> None:
    DB.create_tables(ALL_MODELS, safe=True)


def _create_tracking_tables() -> None:
    DB.create_tables(TRACKING_MODELS, safe=True)


def _add_component_elapsed() -> None:
    from playhouse.migrate import MySQLMigrator, SqliteMigrator, migrate

    from fate_flow.db.connection import is_mysql
    from fate_flow.db.models import Task

    columns = {c.name for c in DB.get_columns(Task._meta.table_name)}
    if "f_component_elapsed" not in columns:
        migrator = MySQLMigrator(DB) if is_mysql() else SqliteMigrator(DB)
        migrate(migrator.add_column(Task._meta.table_name, "f_component_elapsed", Task.f_component_elapsed))


def _add_job_list_indexes() -> None:
    from fate_flow.db.models import Job

    existing = {index.name for index in DB.get_indexes(Job._meta.table_name)}
    for fields in (("f_tag",), ("f_status", "f_create_time"), ("f_create_time", "f_tag")):
        name = "_".join((Job._meta.table_name, *fields))
        if name not in existing:
            columns = ", ".join(f'"{f}"' if not is_mysql() else f"`{f}`" for f in fields)
            DB.execute_sql(f"CREATE INDEX {name} ON {Job._meta.table_name} ({columns})")


def _add_task_lookup_index() -> None:
    from fate_flow.db.models import Task

    name = "t_task_f_job_id_f_role_f_party_id"
    if name not in {index.name for index in DB.get_indexes(Task._meta.table_name)}:
        quote = "`" if is_mysql() else '"'
        columns = ", ".join(f"{quote}{f}{quote}" for f in ("f_job_id", "f_role", "f_party_id"))
        DB.execute_sql(f"CREATE INDEX {name} ON {Task._meta.table_name} ({columns})")


def _add_model_files() -> None:
    from playhouse.migrate import MySQLMigrator, SqliteMigrator, migrate

    from fate_flow.db.models import ComponentModel

    columns = {c.name for c in DB.get_columns(ComponentModel._meta.table_name)}
    migrator = MySQLMigrator(DB) if is_mysql() else SqliteMigrator(DB)
    for name in ("f_directory", "f_manifest"):
        if name not in columns:
            migrate(migrator.add_column(ComponentModel._meta.table_name, name, ComponentModel._meta.fields[name]))


def _create_security_tables() -> None:
    DB.create_tables(SECURITY_MODELS, safe=True)


def _create_model_store_tables() -> None:
    DB.create_tables(MODEL_STORE_MODELS, safe=True)


# (version, description, step). Append new steps; never edit an applied one.
MIGRATIONS: list[tuple[int, str, Callable[[], None]]] = [
    (1, "jobs, tasks, table meta, engine registry", _create_base_tables),
    (2, "tracking: metrics, output data info, summaries, component models", _create_tracking_tables),
    (3, "task: the component's own run time", _add_component_elapsed),
    (4, "job: indexes for the Board's job list", _add_job_list_indexes),
    (5, "component model: the directory of its files and their manifest", _add_model_files),
    (6, "security: nonces of signed calls, partner permissions", _create_security_tables),
    (7, "model store: pipelined models (trained and deployed), model tags", _create_model_store_tables),
    # without it SQLite looks a job's tasks up by party (every row of a party's server matches)
    (8, "task: an index for a job's tasks at one party", _add_task_lookup_index),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


@contextlib.contextmanager
def _migration_lock() -> Iterator[None]:
    if not is_mysql():
        yield
        return
    DB.execute_sql("SELECT GET_LOCK('fate_flow_schema', 60)")
    try:
        yield
    finally:
        DB.execute_sql("SELECT RELEASE_LOCK('fate_flow_schema')")


def current_version() -> int:
    """The newest schema version applied to the bound database; 0 for a new one."""
    if not DB.table_exists(SchemaVersion._meta.table_name):
        return 0
    row = SchemaVersion.select().order_by(SchemaVersion.f_version.desc()).first()
    return row.f_version if row else 0


def migrate() -> int:
    """Bring the schema to SCHEMA_VERSION; returns the version found before."""
    with _migration_lock():
        DB.create_tables([SchemaVersion], safe=True)
        found = current_version()
        if found > SCHEMA_VERSION:
            raise RuntimeError(
                f"database schema version {found} is newer than this server's {SCHEMA_VERSION}"
            )
        for version, description, step in MIGRATIONS:
            if version > found:
                logger.info("schema migration %s: %s", version, description)
                step()
                SchemaVersion.insert(f_version=version, f_applied_time=now_ms()).on_conflict_ignore().execute()
        return found
