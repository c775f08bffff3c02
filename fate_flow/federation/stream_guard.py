"""Bounds on the data plane's push streams, so silent or greedy peers cannot hold the gRPC server's threads:
a stream must keep sending (an idle stream is cancelled), must finish within a deadline, may not announce an
object above the size limit, and one party may have only so many streams open at once."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fate_flow.utils.deadlines import Deadlines


@dataclass(frozen=True)
class PushLimits:
    max_object_bytes: int
    idle_timeout_s: float  # the longest wait for a stream's next packet (and for its first)
    stream_deadline_s: float  # a whole stream
    peer_streams: int  # streams one sending party may have open at once


class StreamWatch:
    """One stream's deadlines: ``packet()`` after each packet received."""

    def __init__(self, guard: StreamGuard, context: Any):
        self.guard, self.context = guard, context
        self.started = time.monotonic()
        self.packet()

    def packet(self) -> None:
        """A packet arrived: the next one is due within the idle timeout (never past the stream deadline)."""
        limits = self.guard.limits
        due = min(time.monotonic() + limits.idle_timeout_s, self.started + limits.stream_deadline_s)
        self.guard.deadlines.arm(self, due)


class StreamGuard:
    """The data plane's limits and the one watchdog thread that cancels overdue streams."""

    def __init__(self, limits: PushLimits):
        self.limits = limits
        self.deadlines = Deadlines(lambda watch: watch.context.cancel())
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()
        self._watching = False

    def _start_watching(self) -> None:
        with self._lock:
            if self._watching:
                return
            self._watching = True
        self.deadlines.start("push-watchdog")

    @contextlib.contextmanager
    def watch(self, context: Any) -> Iterator[StreamWatch]:
        """Watch one stream while it is served: cancelled (``context.cancel()``) once overdue."""
        self._start_watching()
        watch = StreamWatch(self, context)
        try:
            yield watch
        finally:
            self.deadlines.disarm(watch)

    @contextlib.contextmanager
    def peer_slot(self, party_id: str) -> Iterator[bool]:
        """Take one of the sending party's stream slots; yields False (nothing taken) when all are taken."""
        with self._lock:
            taken = self._open.get(party_id, 0) < self.limits.peer_streams
            if taken:
                self._open[party_id] = self._open.get(party_id, 0) + 1
        try:
            yield taken
        finally:
            if taken:
                with self._lock:
                    self._open[party_id] -= 1
