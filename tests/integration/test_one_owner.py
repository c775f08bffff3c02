"""One owner for each piece of state: the scheduler loop, the detector and the HTTP views of one server
share one Runtime, so what a stop over HTTP clears is what the scheduler reads."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.inprocess import InProcessParty
from tests.support import ServerProcess, free_port, make_party_key

GUEST, HOST = "9999", "10000"


@pytest.fixture
def parties(tmp_path: Path, server_factory) -> Iterator[tuple[InProcessParty, ServerProcess]]:
    """The guest (initiator) in this process, to look at its state; the host a real server process."""
    ports = {GUEST: (free_port(), free_port()), HOST: (free_port(), free_port())}
    keys = {GUEST: make_party_key(tmp_path / "guest"), HOST: make_party_key(server_factory.root / "host")}
    routes = json.dumps({p: {"host": "127.0.0.1", "http_port": h, "grpc_port": g, "public_key": keys[p]}
                         for p, (h, g) in ports.items()})
    common = {"FATE_FLOW_DEFAULT_ENGINES__FEDERATION": "direct", "FATE_FLOW_ROUTE_TABLE": routes,
              "FATE_FLOW_AUTHENTICATION__SITE__SWITCH": "true", "FATE_FLOW_JOB_DEFAULT__STATUS_PULL_AFTER": "0.5",
              "FATE_FLOW_JOB_DEFAULT__PARTY_UNREACHABLE_AFTER": "120"}
    guest = InProcessParty(tmp_path / "guest", party_id=GUEST, grpc_port=ports[GUEST][1], env=common)
    guest.http_port = ports[GUEST][0]
    guest.start()
    host = server_factory("sqlite", name="host", env={"FATE_FLOW_PARTY_ID": HOST, **common},
                          http_port=ports[HOST][0], grpc_port=ports[HOST][1])
    yield guest, host
    guest.stop()


def _until(condition, timeout: float = 20, what: str = "") -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


def _status(server, job_id: str, role: str) -> str:
    rows = server.post("/v1/job/query", {"job_id": job_id, "role": role}).get("data") or []
    return rows[0]["f_status"] if rows else ""


def _task_running(server, job_id: str) -> bool:
    tasks = server.post("/v1/job/task/query", {"job_id": job_id}).get("data") or []
    return any(t["f_party_status"] == "running" for t in tasks)


def test_a_stop_over_http_then_a_rerun_does_not_inherit_unreachable_state(parties):
    guest, host = parties
    rt = guest.server.runtime
    assert guest.server.dag_scheduler.collector.contact is rt.party_contact  # one record, shared
    conf = {"dsl_version": 2, "initiator": {"role": "guest", "party_id": int(GUEST)},
            "role": {"guest": [int(GUEST)], "host": [int(HOST)]},
            "job_parameters": {"common": {"task_cores": 1}},
            "component_parameters": {"common": {"test_0": {"sleep": 30}}}}
    guest_api = ServerProcess(guest.home)
    guest_api.http_port = guest.http_port
    submitted = guest_api.post("/v1/job/submit", {"job_dsl": {"components": {"test_0": {"module": "TestModule"}}},
                                                  "job_runtime_conf": conf})
    assert submitted["retcode"] == 0, submitted
    job_id = submitted["jobId"]
    _until(lambda: _task_running(host, job_id), what="the host's task running")

    host.kill()  # the host becomes unreachable; the initiator's PULL records since when
    _until(lambda: rt.party_contact.is_failing(job_id), what="the initiator noticing the host is unreachable")
    stopped = guest_api.post("/v1/job/stop", {"job_id": job_id})
    assert stopped["retcode"] == 0, stopped
    assert _status(guest_api, job_id, "guest") == "canceled"
    assert not rt.party_contact.is_failing(job_id), "the stop over HTTP must clear what the scheduler reads"

    host.start()  # restarted, the host follows its initiator: its row ends too
    _until(lambda: _status(host, job_id, "host") == "canceled", timeout=30, what="the host following the stop")
    updated = guest_api.post("/v1/job/parameter/update", {"job_id": job_id, "component_parameters": {
        "common": {"test_0": {"sleep": 0}}}})
    assert updated["retcode"] == 0, updated
    rerun = guest_api.post("/v1/job/rerun", {"job_id": job_id})
    assert rerun["retcode"] == 0, rerun
    _until(lambda: _status(guest_api, job_id, "guest") in ("success", "failed"), timeout=30, what="the rerun")
    assert _status(guest_api, job_id, "guest") == "success"
    assert _status(host, job_id, "host") == "success"
    assert not rt.party_contact.is_failing(job_id)
