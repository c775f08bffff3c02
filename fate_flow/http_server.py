"""The HTTP server: cheroot (threaded, production-grade WSGI), bounded so slow or idle clients cannot starve
it.

- A request's headers must arrive within ``limits.http_timeout_s`` of its first byte, and its body within
  that time plus what its length takes at ``MIN_BODY_RATE``: a client that trickles bytes (one per
  socket timeout) is cut off instead of holding a worker thread for good. One watchdog thread enforces the
  deadlines by shutting overdue sockets down (a read blocked inside a header line then returns at once).
- The worker pool grows while every worker is busy (up to ``MAX_THREADS``), so the connections an attacker
  holds during those seconds do not lock everyone else out.
- The listen backlog holds a burst (``limits.http_backlog``).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

from cheroot import server as cheroot_server
from cheroot import wsgi

from fate_flow.settings import Settings
from fate_flow.utils.deadlines import Deadlines

logger = logging.getLogger("fate_flow.http")
MIN_BODY_RATE = 16 << 10  # bytes per second a body must average
MAX_THREADS = 256
GROW_BY = 16


def _cut(conn: Any) -> None:
    conn.socket.shutdown(socket.SHUT_RDWR)  # a read blocked inside a header line returns at once


def connection_deadlines() -> Deadlines:
    """The deadlines of the connections' requests: an overdue one has its socket shut down."""
    return Deadlines(_cut)


class CountingReader:
    """A connection's input that tells the watchdog when the current request's body has been read."""

    def __init__(self, raw: Any, conn: Any, watchdog: Deadlines):
        self.raw, self.conn, self.watchdog = raw, conn, watchdog
        self.expected = 0
        self.seen = 0

    def expect(self, length: int) -> None:
        """The body about to be read has ``length`` bytes (0: none)."""
        self.expected, self.seen = length, 0
        if length <= 0:
            self.watchdog.disarm(self.conn)

    def _count(self, data: bytes) -> bytes:
        if self.expected > 0:
            self.seen += len(data)
            if self.seen >= self.expected:
                self.watchdog.disarm(self.conn)
        return data

    def read(self, *args: Any) -> bytes:
        """``read`` of the connection's input."""
        return self._count(self.raw.read(*args))

    def readline(self, *args: Any) -> bytes:
        """``readline`` of the connection's input."""
        return self._count(self.raw.readline(*args))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class BoundedRequest(cheroot_server.HTTPRequest):
    """cheroot's request, with its reading under the watchdog's deadlines."""

    timeout = 30.0
    watchdog: Deadlines

    def parse_request(self) -> None:
        """Headers within ``timeout``; then the body within ``timeout`` + length / MIN_BODY_RATE."""
        conn = self.conn
        reader = conn.rfile
        if not isinstance(reader, CountingReader):
            reader = conn.rfile = CountingReader(reader, conn, self.watchdog)
        reader.expect(0)
        self.watchdog.arm(conn, time.monotonic() + self.timeout)
        super().parse_request()
        if not self.ready:
            self.watchdog.disarm(conn)
            return
        length = self._content_length()
        if length:
            self.watchdog.arm(conn, time.monotonic() + self.timeout + length / MIN_BODY_RATE)
        reader.expect(length)

    def _content_length(self) -> int:
        try:
            return max(int(self.inheaders.get(b"Content-Length", b"0") or 0), 0)
        except ValueError:
            return 0

    def respond(self) -> None:
        """cheroot's respond; whatever happens, the request no longer has a deadline."""
        try:
            super().respond()
        finally:
            self.watchdog.disarm(self.conn)


def make_server(settings: Settings, app: Any, watchdog: Deadlines) -> wsgi.Server:
    """The bound (not yet serving) HTTP server of ``settings``, serving ``app`` under ``watchdog``."""
    limits = settings.limits

    class Request(BoundedRequest):
        timeout = limits.http_timeout_s

    Request.watchdog = watchdog

    class Connection(cheroot_server.HTTPConnection):
        RequestHandlerClass = Request

    server = wsgi.Server((settings.host, settings.http_port), app, numthreads=settings.http_threads,
                         max=MAX_THREADS, server_name="fate_flow", timeout=limits.http_timeout_s,
                         shutdown_timeout=3, request_queue_size=limits.http_backlog)
    server.ConnectionClass = Connection
    server.prepare()
    return server


def grow_when_busy(server: wsgi.Server, stop: threading.Event, interval: float = 0.5) -> None:
    """Add workers while none is idle (up to MAX_THREADS); runs until ``stop`` is set."""
    while not stop.wait(interval):
        pool = server.requests
        try:
            if pool.idle == 0 and len(pool._threads) < MAX_THREADS:
                pool.grow(min(GROW_BY, MAX_THREADS - len(pool._threads)))
                logger.warning("every HTTP worker was busy: now %d workers", len(pool._threads))
        except Exception:  # noqa: BLE001 (never take the server down for this)
            logger.exception("could not grow the HTTP worker pool")
