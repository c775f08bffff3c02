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

WATCH_EVERY_S = 0.5


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
        self.guard._arm(self, due)


class StreamGuard:
    """The data plane's limits and the one watchdog thread that cancels overdue streams."""

    def __init__(self, limits: PushLimits):
        self.limits = limits
        self._due: dict[int, tuple[StreamWatch, float]] = {}
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _arm(self, watch: StreamWatch, due: float) -> None:
        with self._lock:
            self._due[id(watch)] = (watch, due)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="push-watchdog", daemon=True)
                self._thread.start()

    @contextlib.contextmanager
    def watch(self, context: Any) -> Iterator[StreamWatch]:
        """Watch one stream while it is served: cancelled (``context.cancel()``) once overdue."""
        watch = StreamWatch(self, context)
        try:
            yield watch
        finally:
            with self._lock:
                self._due.pop(id(watch), None)

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

    def _watch(self) -> None:
        while True:
            time.sleep(WATCH_EVERY_S)
            now = time.monotonic()
            with self._lock:
                overdue = [key for key, (_, due) in self._due.items() if due < now]
                watches = [self._due.pop(key)[0] for key in overdue]
            for watch in watches:
                with contextlib.suppress(Exception):
                    watch.context.cancel()
