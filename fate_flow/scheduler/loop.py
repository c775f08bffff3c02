"""A background loop that runs a pass when woken, or after ``interval`` seconds as a fallback."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from fate_flow.db.connection import connection
from fate_flow.runtime import Waker


class Loop:
    def __init__(self, name: str, run_pass: Callable[[], None], interval: float, waker: Waker | None = None):
        """``waker``: who may ask for a pass early (the Runtime's, for the scheduler); a private one otherwise."""
        self.name = name
        self.run_pass = run_pass
        self.interval = interval
        self.logger = logging.getLogger(f"fate_flow.{name}")
        self.waker = waker or Waker()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Ask for a pass as soon as possible (a report arrived, a job was submitted ...)."""
        self.waker.wake()

    def start(self) -> None:
        """Run passes in a daemon thread until ``stop``."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Let the current pass finish, then end the thread."""
        self._stop.set()
        self.waker.wake()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with connection():
                    self.run_pass()
            except Exception:  # noqa: BLE001 (a bad pass must not end the loop)
                self.logger.exception("%s pass failed", self.name)
            if not self._stop.is_set():
                self.waker.wait(self.interval)
