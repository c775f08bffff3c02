"""The initiator's commands to every party of a job, as parallel fan-outs of FATE's party API."""

from __future__ import annotations

from fate_flow.db.models import Job, Task
from fate_flow.federation.client import Answers, FederatedClient, PartyCall


def job_parties(job: Job) -> list[tuple[str, str]]:
    """(role, party id) of every party of the job."""
    return [(role, str(party_id)) for role, ids in (job.f_roles or {}).items() for party_id in ids]


def job_command(fed: FederatedClient, job: Job, command: str, body: dict | None = None,
                parties: list[tuple[str, str]] | None = None) -> Answers:
    """``/v1/party/<job>/<role>/<party>/<command>`` to every party of the job (or the given ones)."""
    return fed.fan_out(PartyCall(role, party_id, f"/v1/party/{job.f_job_id}/{role}/{party_id}/{command}", body or {})
                       for role, party_id in (parties if parties is not None else job_parties(job)))


def task_command(fed: FederatedClient, tasks: list[Task], command: str,
                 body: dict | None = None) -> Answers:
    """``/v1/party/<job>/<cpn>/<task_id>/<ver>/<role>/<party>/<command>`` to every party's row of a task."""
    return fed.fan_out(PartyCall(t.f_role, t.f_party_id, f"/v1/party/{t.key.path}/{command}", body or {})
                       for t in tasks)
