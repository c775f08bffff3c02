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
from typing import Any

import peewee
from playhouse.pool import PooledMySQLDatabase
from playhouse.shortcuts import ReconnectMixin

from fate_flow.settings import DatabaseSettings

DB = peewee.DatabaseProxy()
logger = logging.getLogger("fate_flow.db")


POOL_WAIT_S = 30.0


class ReconnectingPooledMySQL(ReconnectMixin, PooledMySQLDatabase):
    """A pooled MySQL database that reconnects when the server went away (restart, timeout)."""


class _FetchedCursor:
    """A statement's whole result, read at once; the SQLite statement is finished before we go on."""

    def __init__(self, cursor: Any):
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid
        self._rows = cursor.fetchall() if cursor.description else []
        self._next = 0
        cursor.close()

    def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list:
        rows, self._next = self._rows[self._next:], len(self._rows)
        return rows

    def close(self) -> None:
        self._rows = []


class FetchingSqliteDatabase(peewee.SqliteDatabase):
    """SQLite whose SELECTs are read to the end at once.

    A statement that is only partly read (a loop over a query, a ``get`` that stops at the first row)
    keeps its connection's read snapshot open; the next write on that connection then fails at once
    with 'database is locked' if another thread committed meanwhile (no busy timeout applies to a
    stale snapshot). Reading every result whole closes that trap for all code. Our queries are bounded
    (pages, one job's tasks), so memory is not a concern.
    """

    def execute_sql(self, sql: str, params: Any = None) -> _FetchedCursor:
        """Run ``sql`` and read its whole result before returning, so no statement stays open."""
        return _FetchedCursor(super().execute_sql(sql, params))


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
            # a burst of requests (the HTTP pool grows past max_connections) waits for a connection
            # rather than failing at once
            timeout=POOL_WAIT_S,
            charset="utf8mb4",
        )
    else:
        conf.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        database = FetchingSqliteDatabase(
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
    """Whether the bound database is MySQL/MariaDB (else SQLite)."""
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
    """Close the bound database's connections (the whole pool with MySQL); nothing to do before ``open_database``."""
    if DB.obj is None:
        return
    if isinstance(DB.obj, PooledMySQLDatabase):
        DB.obj.close_all()
    else:
        DB.close()
