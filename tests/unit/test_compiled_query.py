"""Compiled statements (``db.connection.CompiledQuery``): the data plane's per-object checks run SQL built
once, and answer exactly as the peewee queries they replace, on SQLite and on MariaDB."""

from __future__ import annotations

import pytest

from fate_flow.controller.party_controller import push_authorizer
from fate_flow.db.connection import CompiledQuery
from fate_flow.db.models import Job, SeenNonce
from fate_flow.entity.keys import JobKey
from fate_flow.federation.transfer import PushHeader

ROLES = {"guest": [9999], "host": [10000], "arbiter": [10000]}


def _job(job_id: str, role: str, party_id: str, status: str = "running") -> None:
    Job.insert_row(f_job_id=job_id, f_role=role, f_party_id=party_id, f_status=status, f_roles=ROLES,
                   f_initiator_role="guest", f_initiator_party_id="9999").execute()


def test_job_status_and_roles_match_the_row(database: str):
    _job("202612010000000000001", "host", "10000")
    _job("202612010000000000001", "arbiter", "10000", status="success")
    key = JobKey("202612010000000000001", "host", "10000")
    assert Job.status_and_roles(key) == ("running", ROLES) == (Job.find(key).f_status, Job.find(key).f_roles)
    assert Job.status_and_roles(JobKey("202612010000000000001", "arbiter", "10000")) == ("success", ROLES)
    assert Job.status_and_roles(JobKey("202612010000000000001", "guest", "9999")) is None
    assert Job.status_and_roles(JobKey("202612010000000000002", "host", "10000")) is None
    # values are parameters, never SQL text
    assert Job.status_and_roles(JobKey("x' OR '1'='1", "host", "10000")) is None


def test_the_push_authorizer_takes_objects_of_running_jobs_from_their_parties(database: str):
    _job("202612010000000000003", "host", "10000")
    _job("202612010000000000004", "host", "10000", status="failed")
    authorize = push_authorizer()

    def header(job_id: str, src_role: str = "guest", src_party: str = "9999") -> PushHeader:
        return PushHeader(job_id, "key", src_role, src_party, "host", "10000", 0, None)

    assert authorize(header("202612010000000000003"))
    assert authorize(header("202612010000000000003", "arbiter", "10000"))
    assert not authorize(header("202612010000000000003", "guest", "8888"))  # not a party of the job
    assert not authorize(header("202612010000000000004"))  # ended
    assert not authorize(header("202612010000000000005"))  # not here


def test_a_compiled_insert_keeps_the_statement_constants_and_checks_its_values(database: str):
    insert = CompiledQuery(lambda nonce, expires: SeenNonce.insert(f_nonce=nonce, f_party_id="fixed",
                                                                   f_expires=expires), arity=2)
    insert.execute("n1", 5)
    insert.execute("n2", 7)
    rows = sorted(SeenNonce.select(SeenNonce.f_nonce, SeenNonce.f_party_id, SeenNonce.f_expires).tuples())
    assert rows == [("n1", "fixed", 5), ("n2", "fixed", 7)]
    with pytest.raises(TypeError):
        insert.execute("n3")
    unused = CompiledQuery(lambda nonce, other: SeenNonce.select().where(SeenNonce.f_nonce == nonce), arity=2)
    with pytest.raises(ValueError, match="exactly once"):
        unused.first("n1", "ignored")
