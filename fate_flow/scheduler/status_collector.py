"""PULL, the fallback to PUSH: the initiator asks parties for tasks it has not heard of for a while,
and a party that stays unreachable fails the jobs that need it (and only those).

What it knows of each party's reachability lives in the server's one ``PartyContact`` (the Runtime's),
so ending a job anywhere (a stop over HTTP, a timeout) clears it for a rerun.
"""

from __future__ import annotations

import time

from fate_flow.controller.federated_commands import task_command
from fate_flow.db.models import Job, Task
from fate_flow.entity.status import JobStatus
from fate_flow.federation.client import FederatedClient
from fate_flow.log import schedule_logger
from fate_flow.operation import job_saver
from fate_flow.operation.party_contact import PartyContact
from fate_flow.utils.timeutil import now_ms


class StatusCollector:
    def __init__(self, federation: FederatedClient, contact: PartyContact, quiet_s: float = 5.0,
                 unreachable_s: float = 20.0):
        """``quiet_s``: a remote party's running task not heard of for this long is asked for its status;
        ``unreachable_s``: a party that cannot be asked for this long fails the job."""
        self.federation = federation
        self.contact = contact
        self.quiet_s = quiet_s
        self.unreachable_s = unreachable_s

    def collect(self, job: Job, rows: dict[str, list[Task]]) -> str | None:
        """Refresh quiet remote rows; returns why the job must fail (a party unreachable too long), or None."""
        now = time.monotonic()
        quiet = [t for tasks in rows.values() for t in tasks
                 if not t.f_run_on_this_party and JobStatus.RUNNING.value in (t.f_status, t.f_party_status)
                 and now_ms() - (t.f_update_time or 0) > self.quiet_s * 1000
                 and not self.contact.asked_recently(t.key, self.quiet_s, now)]
        for task, (_, answer) in zip(quiet, task_command(self.federation, quiet, "collect"), strict=True):
            self.contact.asked(task.key, now)
            if answer.ok and isinstance(answer.data, dict):
                self.contact.reached(job.f_job_id, task.f_role, task.f_party_id)
                self._apply(task, answer.data)
                continue
            failing_for = self.contact.unreachable_for(job.f_job_id, task.f_role, task.f_party_id, now)
            schedule_logger(job.f_job_id).warning("cannot collect %s from %s %s: %s", task.f_task_id, task.f_role,
                                                  task.f_party_id, answer.message)
            if failing_for > self.unreachable_s:
                return f"party {task.f_party_id} ({task.f_role}) unreachable for {failing_for:.0f} s: {answer.message}"
        return None

    @staticmethod
    def _apply(task: Task, data: dict) -> None:
        status = data.get("party_status")
        if status and status != task.f_party_status:
            fields = {f"f_{k}": data[k] for k in ("end_time", "elapsed", "error_report") if data.get(k)}
            job_saver.update_task_status(task.key, party_status=JobStatus(status), **fields)
        else:
            job_saver.update_task(task.key)
