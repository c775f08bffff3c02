"""Parties on separate servers run one job together: both transports, three parties (one on MariaDB),
stop from either side, a party killed mid-job, a party unreachable at submit."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from tests.support import ServerProcess, start_parties

ENDED = ("success", "failed", "canceled", "timeout")


def _conf(roles: dict[str, list[int]], params: dict, **job_parameters) -> dict:
    return {"dsl_version": 2, "initiator": {"role": "guest", "party_id": roles["guest"][0]}, "role": roles,
            "job_parameters": {"common": {"task_cores": 2, **job_parameters}},
            "component_parameters": {"common": params}}


CHAIN = {"components": {"a": {"module": "TestModule", "output": {"data": ["data"]}},
                        "b": {"module": "TestModule", "input": {"data": {"data": ["a.data"]}},
                              "output": {"data": ["data"]}}}}
CHAIN_PARAMS = {"a": {"output_rows": 10}, "b": {"pass_through": True, "metrics": True}}


def _wait(server: ServerProcess, job_id: str, statuses=ENDED, timeout: float = 40) -> dict:
    return server.wait_job(job_id, statuses, timeout)


def _assert_cores_back(*servers: ServerProcess) -> None:
    for server in servers:
        deadline = time.time() + 10
        while time.time() < deadline:
            jobs = server.post("/v1/job/list/job", {})["data"]["jobs"]
            if not any(job["resource_in_use"] for job in jobs):
                break
            time.sleep(0.1)
        assert not any(job["resource_in_use"] for job in jobs), (server.http_port, jobs)


def _running_pids(server: ServerProcess, job_id: str) -> list[int]:
    tasks = server.post("/v1/job/task/query", {"job_id": job_id}).get("data") or []
    return [t["f_run_pid"] for t in tasks if t["f_run_on_this_party"] and t["f_run_pid"]]


def _wait_executors(guest: ServerProcess, host: ServerProcess, job_id: str) -> None:
    deadline = time.time() + 20
    while time.time() < deadline and not (_running_pids(guest, job_id) and _running_pids(host, job_id)):
        time.sleep(0.1)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_two_parties_run_a_chain(server_factory, protocol: str):
    parties = start_parties(server_factory, ["9999", "10000"], protocol=protocol)
    guest, host = parties["9999"], parties["10000"]
    submitted = guest.post("/v1/job/submit", {"job_dsl": CHAIN, "job_runtime_conf": _conf(
        {"guest": [9999], "host": [10000]}, CHAIN_PARAMS)})
    assert submitted["retcode"] == 0, submitted
    job_id = submitted["jobId"]
    assert _wait(guest, job_id)["f_status"] == "success"
    assert _wait(host, job_id)["f_status"] == "success"
    host_tasks = host.post("/v1/job/task/query", {"job_id": job_id, "role": "host"})["data"]
    assert {t["f_component_name"]: t["f_status"] for t in host_tasks} == {"a": "success", "b": "success"}
    # each party's data stayed with that party; each party's tracking is its own
    for server, role, party in ((guest, "guest", 9999), (host, "host", 10000)):
        tables = server.post("/v1/tracking/component/output/data/table",
                             {"job_id": job_id, "role": role, "party_id": party, "component_name": "b"})
        assert tables["retcode"] == 0 and tables["data"][0]["data_name"] == "data"
    audit = (guest.home / "logs" / job_id / "fate_flow_audit.log").read_text()
    assert f"{protocol} /v1/party/{job_id}/host/10000/create" in audit
    assert "received POST /v1/party/" in (host.home / "logs" / job_id / "fate_flow_audit.log").read_text()
    _assert_cores_back(guest, host)


def test_three_parties_one_on_mariadb(server_factory):
    parties = start_parties(server_factory, ["9999", "10000", "10001"], engines={"10000": "mysql"})
    guest = parties["9999"]
    roles = {"guest": [9999], "host": [10000, 10001], "arbiter": [10001]}
    submitted = guest.post("/v1/job/submit", {"job_dsl": CHAIN, "job_runtime_conf": _conf(roles, CHAIN_PARAMS)})
    assert submitted["retcode"] == 0, submitted
    assert _wait(guest, submitted["jobId"])["f_status"] == "success"
    for party_id, server in parties.items():
        rows = server.post("/v1/job/query", {"job_id": submitted["jobId"]})["data"]
        assert rows and {r["f_status"] for r in rows} == {"success"}, party_id
    arbiter = parties["10001"].post("/v1/job/query", {"job_id": submitted["jobId"], "role": "arbiter"})["data"]
    assert arbiter[0]["f_status"] == "success"
    _assert_cores_back(*parties.values())


@pytest.mark.parametrize("stop_at", ["9999", "10000"])
def test_stop_reaches_every_party(server_factory, stop_at: str):
    parties = start_parties(server_factory, ["9999", "10000"])
    guest, host = parties["9999"], parties["10000"]
    job_id = guest.post("/v1/job/submit", {"job_dsl": {"components": {"slow": {"module": "TestModule"}}},
                                           "job_runtime_conf": _conf({"guest": [9999], "host": [10000]},
                                                                     {"slow": {"sleep": 60}})})["jobId"]
    _wait_executors(guest, host, job_id)
    pids = _running_pids(guest, job_id) + _running_pids(host, job_id)
    assert len(pids) == 2
    answer = parties[stop_at].post("/v1/job/stop", {"job_id": job_id})
    assert answer["retcode"] == 0, answer
    assert _wait(guest, job_id)["f_status"] == "canceled"
    assert _wait(host, job_id)["f_status"] == "canceled"
    deadline = time.time() + 10
    while time.time() < deadline and not all(_gone(pid) for pid in pids):
        time.sleep(0.1)
    assert all(_gone(pid) for pid in pids)
    _assert_cores_back(guest, host)


def test_unreachable_party_at_submit_is_named_and_nothing_runs(server_factory):
    parties = start_parties(server_factory, ["9999", "10000"])
    guest, host = parties["9999"], parties["10000"]
    host.stop()
    submitted = guest.post("/v1/job/submit", {"job_dsl": CHAIN, "job_runtime_conf": _conf(
        {"guest": [9999], "host": [10000]}, CHAIN_PARAMS)})
    assert submitted["retcode"] == 103, submitted
    assert "10000" in submitted["retmsg"] and "unreachable" in submitted["retmsg"]
    jobs = guest.post("/v1/job/list/job", {})["data"]
    assert jobs["count"] == 0  # the guest's row is tagged submit_failed and hidden from the Board
    rows = guest.post("/v1/job/query", {"job_id": submitted["data"]["job_id"]})["data"]
    assert rows and rows[0]["f_status"] == "failed"
    _assert_cores_back(guest)


def test_party_killed_mid_job_fails_the_job_everywhere(server_factory):
    env = {"FATE_FLOW_JOB_DEFAULT__STATUS_PULL_AFTER": "1", "FATE_FLOW_JOB_DEFAULT__PARTY_UNREACHABLE_AFTER": "3",
           "FATE_FLOW_JOB_DEFAULT__SCHEDULER_INTERVAL": "0.5"}
    parties = start_parties(server_factory, ["9999", "10000"], env=env)
    guest, host = parties["9999"], parties["10000"]
    job_id = guest.post("/v1/job/submit", {"job_dsl": {"components": {"slow": {"module": "TestModule"}}},
                                           "job_runtime_conf": _conf({"guest": [9999], "host": [10000]},
                                                                     {"slow": {"sleep": 60}})})["jobId"]
    _wait_executors(guest, host, job_id)
    host_pids = _running_pids(host, job_id)
    host.kill()  # the host's server dies; its executor is killed too (as a machine crash would)
    for pid in host_pids:
        os.kill(pid, signal.SIGKILL)
    job = _wait(guest, job_id, timeout=30)
    assert job["f_status"] == "failed" and "10000" in job["f_error"] and "unreachable" in job["f_error"]
    _assert_cores_back(guest)
    host.start()  # the host comes back: its dead task fails, its job follows the initiator
    assert _wait(host, job_id, timeout=30)["f_status"] == "failed"
    _assert_cores_back(host)


def test_rerun_and_timeout_reach_every_party(server_factory):
    parties = start_parties(server_factory, ["9999", "10000"], protocol="grpc")
    guest, host = parties["9999"], parties["10000"]
    conf = _conf({"guest": [9999], "host": [10000]}, CHAIN_PARAMS)
    conf["component_parameters"]["role"] = {"host": {"0": {"b": {"fail": "the host's b broke"}}}}
    job_id = guest.post("/v1/job/submit", {"job_dsl": CHAIN, "job_runtime_conf": conf})["jobId"]
    job = _wait(guest, job_id)
    assert job["f_status"] == "failed" and "the host's b broke" in job["f_error"]
    assert _wait(host, job_id)["f_status"] == "failed"
    updated = guest.post("/v1/job/parameter/update", {"job_id": job_id, "component_parameters": {
        "role": {"host": {"0": {"b": {"fail": False}}}}}})
    assert updated["retcode"] == 0, updated
    rerun = host.post("/v1/job/rerun", {"job_id": job_id, "component_name": "b"})  # asked at the host
    assert rerun["retcode"] == 0 and rerun["data"]["components"] == ["b"], rerun
    assert _wait(guest, job_id)["f_status"] == "success"
    assert _wait(host, job_id)["f_status"] == "success"
    tasks = host.post("/v1/job/task/query", {"job_id": job_id, "component_name": "b"})["data"]
    assert tasks[0]["f_task_version"] == 1 and tasks[0]["f_status"] == "success"
    slow = guest.post("/v1/job/submit", {"job_dsl": {"components": {"slow": {"module": "TestModule"}}},
                                         "job_runtime_conf": _conf({"guest": [9999], "host": [10000]},
                                                                   {"slow": {"sleep": 60}}, timeout=2)})["jobId"]
    assert _wait(guest, slow)["f_status"] == "timeout"
    assert _wait(host, slow)["f_status"] == "timeout"
    _assert_cores_back(guest, host)
