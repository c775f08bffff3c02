"""Things that must be done by a time: one watcher acts on each that is overdue (cuts a slow client's
socket, cancels a silent push stream). The HTTP server and the data plane share this one mechanism."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

WATCH_EVERY_S = 0.5


class Deadlines:
    """Items armed with a due time (``time.monotonic``); ``on_expire(item)`` runs once for each overdue one."""

    def __init__(self, on_expire: Callable[[Any], None], every_s: float = WATCH_EVERY_S):
        self.on_expire = on_expire
        self.every_s = every_s
        self._due: dict[int, tuple[Any, float]] = {}
        self._lock = threading.Lock()

    def arm(self, item: Any, due: float) -> None:
        """``item`` must be done by ``due`` (re-arming replaces its previous due time)."""
        with self._lock:
            self._due[id(item)] = (item, due)

    def disarm(self, item: Any) -> None:
        """``item`` was done in time."""
        with self._lock:
            self._due.pop(id(item), None)

    def expire_overdue(self) -> None:
        """Act on every item past its due time (each once: it is disarmed first)."""
        now = time.monotonic()
        with self._lock:
            overdue = [key for key, (_, due) in self._due.items() if due < now]
            items = [self._due.pop(key)[0] for key in overdue]
        for item in items:
            with contextlib.suppress(Exception):  # the item may have ended meanwhile
                self.on_expire(item)

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: every ``every_s``, act on what is overdue."""
        while not stop.wait(self.every_s):
            self.expire_overdue()

    def start(self, name: str) -> threading.Event:
        """Run the watcher in a daemon thread; set the returned event to stop it."""
        stop = threading.Event()
        threading.Thread(target=self.run, args=(stop,), name=name, daemon=True).start()
        return stop
