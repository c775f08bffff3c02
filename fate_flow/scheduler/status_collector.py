"""PULL, the fallback to PUSH: the initiator asks parties for tasks it has not heard of for a while,
and a party that stays unreachable fails the jobs that need it (and only those)."""

from __future__ import annotations

import time

from fate_flow.db.models import Job, Task
from fate_flow.entity.status import JobStatus
from fate_flow.federation.client import FederatedClient
from fate_flow.log import schedule_logger
from fate_flow.operation import job_saver
from fate_flow.scheduler.federated_scheduler import task_command
from fate_flow.utils.timeutil import now_ms


class StatusCollector:
    def __init__(self, federation: FederatedClient, quiet_s: float = 5.0, unreachable_s: float = 20.0):
        """``quiet_s``: a remote party's running task not heard of for this long is asked for its status;
        ``unreachable_s``: a party that cannot be asked for this long fails the job."""
        self.federation = federation
        self.quiet_ms = quiet_s * 1000
        self.unreachable_s = unreachable_s
        self._last_asked: dict[tuple, float] = {}
        self._failing_since: dict[tuple[str, str, str], float] = {}

    def collect(self, job: Job, rows: dict[str, list[Task]]) -> str | None:
        """Refresh quiet remote rows; returns why the job must fail (a party unreachable too long), or None."""
        now = time.monotonic()
        quiet = [t for tasks in rows.values() for t in tasks
                 if not t.f_run_on_this_party and JobStatus.RUNNING.value in (t.f_status, t.f_party_status)
                 and now_ms() - (t.f_update_time or 0) > self.quiet_ms
                 and now - self._last_asked.get(self._key(t), 0) > self.quiet_ms / 1000]
        for task, (_, answer) in zip(quiet, task_command(self.federation, quiet, "collect"), strict=True):
            self._last_asked[self._key(task)] = now
            party = (job.f_job_id, task.f_role, task.f_party_id)
            if answer.get("retcode") == 0 and isinstance(answer.get("data"), dict):
                self._failing_since.pop(party, None)
                self._apply(task, answer["data"])
                continue
            since = self._failing_since.setdefault(party, now)
            schedule_logger(job.f_job_id).warning("cannot collect %s from %s %s: %s", task.f_task_id, task.f_role,
                                                  task.f_party_id, answer.get("retmsg"))
            if now - since > self.unreachable_s:
                return (f"party {task.f_party_id} ({task.f_role}) unreachable for {now - since:.0f} s: "
                        f"{answer.get('retmsg')}")
        return None

    @staticmethod
    def _key(task: Task) -> tuple:
        return task.f_job_id, task.f_task_id, task.f_task_version, task.f_role, task.f_party_id

    @staticmethod
    def _apply(task: Task, data: dict) -> None:
        status = data.get("party_status")
        if status and status != task.f_party_status:
            fields = {f"f_{k}": data[k] for k in ("end_time", "elapsed", "error_report") if data.get(k)}
            job_saver.update_task_status(task.f_job_id, task.f_task_id, task.f_task_version, task.f_role,
                                         task.f_party_id, party_status=JobStatus(status), **fields)
        else:
            job_saver.update_task(task.f_job_id, task.f_task_id, task.f_task_version, task.f_role, task.f_party_id)

    def forget(self, job_id: str) -> None:
        for key in [k for k in self._last_asked if k[0] == job_id]:
            del self._last_asked[key]
        for key in [k for k in self._failing_since if k[0] == job_id]:
            del self._failing_since[key]
