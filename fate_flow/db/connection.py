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


class CompiledQuery:
    """A peewee query whose SQL is built once per database and then run with new values.

    Building a query's SQL costs peewee 100-450 us; SQLite answers a keyed SELECT in about 10 us. The data
    plane checks every object it receives (is the job running here, is the sender its party, is the nonce
    new), so those few statements are compiled: ``build`` makes the query from placeholder values, and
    each call puts the real values where the placeholders were (the rest of the statement's parameters,
    such as a LIMIT, stay as built).
    """

    def __init__(self, build: Any, arity: int):
        self.build = build
        self.arity = arity
        self._compiled: dict[type, tuple[str, list[Any], list[int | None]]] = {}

    def _sql(self) -> tuple[str, list[Any], list[int | None]]:
        dialect = type(DB.obj)  # the SQL differs by engine (quoting, placeholders), not by connection
        compiled = self._compiled.get(dialect)
        if compiled is None:
            markers = [f"\0compiled-query-value-{i}" for i in range(self.arity)]
            sql, params = self.build(*markers).sql()
            slots = [markers.index(p) if p in markers else None for p in params]
            if sorted(s for s in slots if s is not None) != list(range(self.arity)):
                raise ValueError("each value of a compiled query must appear exactly once in its SQL")
            compiled = self._compiled[dialect] = (sql, list(params), slots)
        return compiled

    def execute(self, *values: Any) -> Any:
        """The database cursor of the statement run with ``values`` (in ``build``'s order)."""
        if len(values) != self.arity:
            raise TypeError(f"{self.arity} values expected, {len(values)} given")
        sql, params, slots = self._sql()
        return DB.obj.execute_sql(sql, [p if s is None else values[s] for p, s in zip(params, slots, strict=True)])

    def first(self, *values: Any) -> tuple | None:
        """The first row (a tuple of the selected columns' raw values), or None."""
        cursor = self.execute(*values)
        try:
            return cursor.fetchone()
        finally:
            cursor.close()
