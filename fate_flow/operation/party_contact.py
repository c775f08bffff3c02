"""What the initiator knows of reaching the parties of its jobs, kept once per server.

The status collector (PULL fallback) records when it last asked a party about a task and since when a
party cannot be reached; a job that ends (stopped over HTTP, timed out, finished) forgets all of it, so a
rerun of the same job id starts with a clean slate.
"""

from __future__ import annotations

import threading
import time

from fate_flow.entity.keys import TaskKey


class PartyContact:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_asked: dict[TaskKey, float] = {}
        self._failing_since: dict[tuple[str, str, str], float] = {}

    def asked_recently(self, task_key: TaskKey, within_s: float, now: float | None = None) -> bool:
        """Whether this task was asked about less than ``within_s`` seconds ago."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return now - self._last_asked.get(task_key, 0.0) <= within_s

    def asked(self, task_key: TaskKey, now: float | None = None) -> None:
        """Record that the task was asked about now."""
        with self._lock:
            self._last_asked[task_key] = time.monotonic() if now is None else now

    def reached(self, job_id: str, role: str, party_id: str) -> None:
        """The party answered: it is reachable again."""
        with self._lock:
            self._failing_since.pop((job_id, role, party_id), None)

    def unreachable_for(self, job_id: str, role: str, party_id: str, now: float | None = None) -> float:
        """Record a failed contact; returns for how many seconds the party has been unreachable."""
        now = time.monotonic() if now is None else now
        with self._lock:
            since = self._failing_since.setdefault((job_id, role, party_id), now)
        return now - since

    def is_failing(self, job_id: str) -> bool:
        """Whether any party of the job is currently recorded as unreachable."""
        with self._lock:
            return any(key[0] == job_id for key in self._failing_since)

    def forget(self, job_id: str) -> None:
        """Drop everything known about the job's parties (the job ended)."""
        with self._lock:
            for key in [k for k in self._last_asked if k.job_id == job_id]:
                del self._last_asked[key]
            for key in [k for k in self._failing_since if k[0] == job_id]:
                del self._failing_since[key]
