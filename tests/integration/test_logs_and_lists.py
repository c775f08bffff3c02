"""log/size and log/cat for every Board log type, confinement, and the Board's job/task lists."""

from __future__ import annotations

import pytest
import requests

from tests.support import DATA, ServerProcess, upload_multipart

CONF = {"head": 1, "partition": 4, "namespace": "experiment", "table_name": "guest", "drop": 1}
LOG_TYPES = ("jobSchedule", "partyInfo", "partyDebug", "componentInfo")


@pytest.fixture(scope="module")
def server(shared_server: ServerProcess) -> ServerProcess:
    return shared_server


@pytest.fixture(scope="module")
def job(server: ServerProcess) -> str:
    answer = upload_multipart(server, CONF, DATA / "breast_hetero_guest.csv").json()
    assert server.wait_job(answer["jobId"])["f_status"] == "success"
    return answer["jobId"]


def _log_request(job_id: str, log_type: str, **extra) -> dict:
    return {"job_id": job_id, "log_type": log_type, "role": "local", "party_id": "0",
            "component_name": "upload_0", "instance_id": "whatever", **extra}


def test_every_board_log_type(server: ServerProcess, job: str):
    for log_type in LOG_TYPES:
        size = server.post("/v1/log/size", _log_request(job, log_type))
        assert size["retcode"] == 0 and size["data"]["size"] > 0, (log_type, size)
        lines = server.post("/v1/log/cat", _log_request(job, log_type, begin=1, end=size["data"]["size"]))["data"]
        assert [line["line_num"] for line in lines] == list(range(1, size["data"]["size"] + 1))
        assert all(line["content"].startswith("[") for line in lines), log_type
    # types whose files do not exist (no error was logged): size 0, no lines
    for log_type in ("jobScheduleError", "partyError", "partyWarning"):
        assert server.post("/v1/log/size", _log_request(job, log_type))["data"]["size"] == 0
        assert server.post("/v1/log/cat", _log_request(job, log_type, begin=1, end=10))["data"] == []


def test_cat_ranges(server: ServerProcess, job: str):
    total = server.post("/v1/log/size", _log_request(job, "jobSchedule"))["data"]["size"]
    assert total >= 3
    whole = server.post("/v1/log/cat", _log_request(job, "jobSchedule"))["data"]
    assert len(whole) == total
    tail = server.post("/v1/log/cat", _log_request(job, "jobSchedule", begin=2))["data"]
    assert tail == whole[1:]
    head = server.post("/v1/log/cat", _log_request(job, "jobSchedule", end=2))["data"]
    assert head == whole[:2]
    assert server.post("/v1/log/cat", _log_request(job, "jobSchedule", begin=total + 5))["data"] == []


def test_ips_are_masked(server: ServerProcess, job: str):
    lines = server.post("/v1/log/cat", _log_request(job, "partyInfo"))["data"]
    assert not any("127.0.0.1" in line["content"] for line in lines)


@pytest.mark.parametrize("field,value", [
    ("job_id", "../.."), ("job_id", "x; cat /etc/passwd"), ("role", "../../.."), ("role", "local && ls"),
    ("party_id", "0/../../"), ("party_id", "$(id)"), ("component_name", "../../../fate_flow"),
    ("component_name", "a|b"), ("log_type", "../INFO"), ("log_type", "jobSchedule;ls"),
])
def test_log_requests_cannot_leave_the_job_log_dir(server: ServerProcess, job: str, field: str, value: str):
    request = {**_log_request(job, "componentInfo"), field: value}
    for path in ("/v1/log/size", "/v1/log/cat"):
        answer = server.post(path, request)
        assert answer["retcode"] == 101, (path, field, value, answer)
        assert field in answer["retmsg"] or "log_type" in answer["retmsg"], answer


def test_log_type_needs_its_fields(server: ServerProcess, job: str):
    answer = server.post("/v1/log/size", {"job_id": job, "log_type": "partyInfo"})
    assert answer["retcode"] == 101 and "role" in answer["retmsg"]


def test_board_job_list(server_factory, tmp_path):
    server = server_factory()
    first = upload_multipart(server, CONF, DATA / "breast_hetero_guest.csv").json()
    job = server.wait_job(first["jobId"])["f_job_id"]
    second = upload_multipart(server, {**CONF, "table_name": "other"}, DATA / "breast_hetero_guest.csv").json()
    server.wait_job(second["jobId"])
    listing = server.post("/v1/job/list/job", {"page": 1, "limit": 1, "order_by": "create_time", "order": "desc"})
    assert listing["retcode"] == 0 and listing["data"]["count"] == 2
    row = listing["data"]["jobs"][0]
    assert row["job_id"] == second["jobId"] and row["status"] == "success" and row["party_id"] == 0
    for key in ("role", "roles", "partners", "progress", "create_time", "start_time", "end_time", "elapsed",
                "dsl", "runtime_conf", "initiator_role", "is_initiator", "description"):
        assert key in row, key
    assert row["progress"] == 100
    page2 = server.post("/v1/job/list/job", {"page": 2, "limit": 1, "order_by": "create_time", "order": "desc"})
    assert page2["data"]["jobs"][0]["job_id"] == job
    by_substring = server.post("/v1/job/list/job", {"job_id": job[-6:]})["data"]
    assert [j["job_id"] for j in by_substring["jobs"]] == [job]
    assert server.post("/v1/job/list/job", {"status": ["running", "waiting"]})["data"]["count"] == 0
    assert server.post("/v1/job/list/job", {"status": "success", "role": ["local"], "party_id": "0"})["data"][
        "count"] == 2
    assert server.post("/v1/job/update", {"job_id": job, "role": "local", "party_id": 0, "notes": "n1"})[
        "retcode"] == 0
    assert server.post("/v1/job/list/job", {"description": "n1"})["data"]["jobs"][0]["job_id"] == job
    for bad in ({"status": "bogus"}, {"role": "king"}, {"order_by": "nonsense"}, {"party_id": "abc"}):
        response = requests.post(server.url + "/v1/job/list/job", json=bad, timeout=10)
        assert response.status_code == 400, bad


def test_board_task_list_and_info(server: ServerProcess, job: str):
    tasks = server.post("/v1/job/list/task", {"page": 1, "limit": 1, "job_id": job, "role": "local",
                                              "party_id": 0, "component_name": "upload_0",
                                              "order_by": "task_version", "order": "desc"})["data"]
    assert tasks["count"] == 1
    task = tasks["tasks"][0]
    assert task["component_name"] == "upload_0" and task["status"] == "success" and task["run_pid"] > 0
    assert task["elapsed"] is not None and task["elapsed"] >= 0
    info = server.post("/v1/server/fateflow/info", {})["data"]
    (instance,) = info.values()
    assert instance["http_port"] == server.http_port and instance["grpc_port"] == server.grpc_port
    versions = server.post("/v1/version/get", {"module": "FATEFlow"})
    assert versions["data"]["API"] == "v1" and versions["data"]["FATEFlow"]
    assert server.post("/v1/server/version/get", {})["data"]["API"] == "v1"
