"""Why each waiting job of this initiator has not started: written by the scheduler at every pass that could
not start it, read by job/query, job/list/job and the board. In memory: after a restart the next pass (within
``job_default.scheduler_interval``) says it again."""

from __future__ import annotations

import threading


class WaitReasons:
    """job id -> what it waits for (one sentence naming the party and the cores, or the party unreachable)."""

    def __init__(self) -> None:
        self._reasons: dict[str, str] = {}
        self._lock = threading.Lock()

    def note(self, job_id: str, reason: str) -> None:
        """Job ``job_id`` could not start at this pass, because of ``reason``."""
        with self._lock:
            self._reasons[job_id] = reason

    def clear(self, job_id: str) -> None:
        """Job ``job_id`` started or ended: it waits no more."""
        with self._lock:
            self._reasons.pop(job_id, None)

    def get(self, job_id: str) -> str | None:
        """What ``job_id`` waits for, if a pass tried to start it."""
        with self._lock:
            return self._reasons.get(job_id)

    def keep_only(self, job_ids: set[str]) -> None:
        """Forget every job not in ``job_ids`` (those still waiting)."""
        with self._lock:
            for job_id in [j for j in self._reasons if j not in job_ids]:
                del self._reasons[job_id]
