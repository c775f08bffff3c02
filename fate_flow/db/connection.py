"""The database: SQLite (embedded default) or MySQL/MariaDB through pymysql, behind one proxy.

Only the server process opens the database; executors report through the server's API. So the
SQLite writer is always this one process: WAL lets readers run beside a writer, a busy timeout
absorbs short waits between threads, and multi-statement writes take the write lock up front
(BEGIN IMMEDIATE) so a read-then-write upgrade can never fail with 'database is locked'.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import peewee
from playhouse.pool import PooledMySQLDatabase
from playhouse.shortcuts import ReconnectMixin

from fate_flow.settings import DatabaseSettings

DB = peewee.DatabaseProxy()
logger = logging.getLogger("fate_flow.db")


class ReconnectingPooledMySQL(ReconnectMixin, PooledMySQLDatabase):
    """A pooled MySQL database that reconnects when the server went away (restart, timeout)."""


def _create_mysql_database(conf: DatabaseSettings) -> None:
    import pymysql

    connection = pymysql.connect(host=conf.host, port=conf.port, user=conf.user, password=conf.passwd)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE DATABASE IF NOT EXISTS `{conf.name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
    finally:
        connection.close()


def open_database(conf: DatabaseSettings) -> peewee.Database:
    """Create the engine's database object (and the MySQL schema if missing) and bind the proxy."""
    if conf.engine == "mysql":
        _create_mysql_database(conf)
        database: peewee.Database = ReconnectingPooledMySQL(
            conf.name,
            host=conf.host,
            port=conf.port,
            user=conf.user,
            password=conf.passwd,
            max_connections=conf.max_connections,
            stale_timeout=conf.stale_timeout,
            charset="utf8mb4",
        )
    else:
        conf.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        database = peewee.SqliteDatabase(
            str(conf.sqlite_path),
            pragmas={
                "journal_mode": "wal",
                "busy_timeout": 60_000,
                "synchronous": "normal",
                "cache_size": -64_000,
            },
            check_same_thread=False,
        )
    DB.initialize(database)
    return database


def is_mysql() -> bool:
    return isinstance(DB.obj, peewee.MySQLDatabase)


@contextlib.contextmanager
def write_transaction() -> Iterator[peewee._atomic]:
    """A transaction that will write: takes SQLite's write lock at BEGIN. Yields it (for rollback)."""
    atomic = DB.atomic() if is_mysql() else DB.atomic(lock_type="IMMEDIATE")
    with atomic as transaction:
        yield transaction


@contextlib.contextmanager
def connection() -> Iterator[None]:
    """Hold a connection for a unit of work; with the MySQL pool it goes back to the pool after."""
    opened = DB.connect(reuse_if_open=True)
    try:
        yield
    finally:
        if opened and is_mysql():
            DB.close()


def close_database() -> None:
    if DB.obj is None:
        return
    if isinstance(DB.obj, PooledMySQLDatabase):
        DB.obj.close_all()
    else:
        DB.close()
