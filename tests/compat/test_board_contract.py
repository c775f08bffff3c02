"""The FATE-Board 1.11 -> Flow calls (flow-contracts-v1.md section 4.2) with the bodies the Board sends.

The Board posts JSON (Content-Type application/json;charset=UTF-8) and forwards most answers to its
front-end unchanged, so the fields it reads are asserted here; party_id arrives as a string in some
calls and as an int in others, both are sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests

from tests.support import DATA, ServerProcess, database_env, upload_multipart

pytestmark = pytest.mark.compat

GUEST = "9999"
JOB_ROW_FIELDS = {"job_id", "role", "party_id", "name", "description", "tag", "dsl", "runtime_conf",
                  "train_runtime_conf", "roles", "initiator_role", "initiator_party_id", "status", "is_initiator",
                  "progress", "create_time", "update_time", "start_time", "end_time", "elapsed"}
TASK_ROW_FIELDS = {"job_id", "component_name", "task_id", "task_version", "initiator_role", "initiator_party_id",
                   "status", "role", "party_id", "run_ip", "run_pid", "party_status", "create_time", "update_time",
                   "start_time", "end_time", "elapsed"}
PARTY_LOG_TYPES = ("jobSchedule", "jobScheduleError", "partyError", "partyWarning", "partyInfo", "partyDebug")
IPV4 = re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")


class Board:
    """Posts as the Board's Feign client does."""

    def __init__(self, server: ServerProcess):
        self.server = server

    def post(self, path: str, body: dict) -> dict:
        response = requests.post(self.server.url + path, json=body, timeout=10,
                                 headers={"Content-Type": "application/json;charset=UTF-8"})
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()


@pytest.fixture(scope="module")
def guest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("board") / "party",
                           {**database_env("sqlite"), "FATE_FLOW_PARTY_ID": GUEST}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def jobs(guest: ServerProcess) -> dict[str, str]:
    """A successful reader -> test_0 job (metrics, model, output data) and a failed job rerun once."""
    uploaded = upload_multipart(guest, {"file": "breast_hetero_guest.csv", "head": 1, "partition": 4,
                                        "namespace": "experiment", "table_name": "breast_hetero_guest", "drop": 1},
                                DATA / "breast_hetero_guest.csv").json()
    assert guest.wait_job(uploaded["jobId"])["f_status"] == "success"
    base = {"dsl_version": 2, "initiator": {"role": "guest", "party_id": int(GUEST)}, "role": {"guest": [int(GUEST)]}}
    good = guest.post("/v1/job/submit", {
        "job_dsl": {"components": {
            "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
            "test_0": {"module": "TestModule", "input": {"data": {"data": ["reader_0.data"]}},
                       "output": {"data": ["data"], "model": ["model"]}}}},
        "job_runtime_conf": {**base, "component_parameters": {
            "common": {"test_0": {"pass_through": True, "metrics": True}},
            "role": {"guest": {"0": {"reader_0": {"table": {"name": "breast_hetero_guest",
                                                            "namespace": "experiment"}}}}}}}})
    assert good["retcode"] == 0, good
    bad = guest.post("/v1/job/submit", {
        "job_dsl": {"components": {"test_0": {"module": "TestModule"}}},
        "job_runtime_conf": {**base, "component_parameters": {"common": {"test_0": {"fail": True}}}}})
    assert bad["retcode"] == 0, bad
    assert guest.wait_job(good["jobId"])["f_status"] == "success"
    assert guest.wait_job(bad["jobId"])["f_status"] == "failed"
    assert guest.post("/v1/job/rerun", {"job_id": bad["jobId"]})["retcode"] == 0
    assert guest.wait_job(bad["jobId"])["f_status"] == "failed"
    return {"good": good["jobId"], "bad": bad["jobId"]}


@pytest.fixture(scope="module")
def board(guest: ServerProcess) -> Board:
    return Board(guest)


def test_job_list_page(board: Board, jobs: dict[str, str]):
    page = board.post("/v1/job/list/job", {"page": 1, "limit": 10, "party_id": GUEST, "role": ["guest"],
                                           "status": ["success", "failed"], "order_by": "start_time",
                                           "order": "desc"})
    assert page["retcode"] == 0, page
    rows = page["data"]["jobs"]
    assert page["data"]["count"] == 2 and [r["job_id"] for r in rows] == [jobs["bad"], jobs["good"]]
    for row in rows:
        assert set(row) >= JOB_ROW_FIELDS, JOB_ROW_FIELDS - set(row)
        assert row["party_id"] == int(GUEST) and row["role"] == "guest" and row["is_initiator"] is True
        assert row["roles"] == {"guest": [int(GUEST)]} and row["partners"] == []
        assert row["start_time"] and row["end_time"] and row["elapsed"] == row["end_time"] - row["start_time"]
        assert isinstance(row["dsl"], dict) and isinstance(row["runtime_conf"], dict)
    assert {r["job_id"]: r["status"] for r in rows} == {jobs["good"]: "success", jobs["bad"]: "failed"}
    assert rows[1]["progress"] == 100

    ascending = board.post("/v1/job/list/job", {"page": 1, "limit": 10, "role": ["guest"], "order": "asc"})
    assert [r["job_id"] for r in ascending["data"]["jobs"]] == [jobs["good"], jobs["bad"]]  # create_time asc
    second = board.post("/v1/job/list/job", {"page": 2, "limit": 1, "party_id": int(GUEST), "role": ["guest"],
                                             "order_by": "elapsed", "order": "desc"})
    assert second["data"]["count"] == 2 and len(second["data"]["jobs"]) == 1
    only_success = board.post("/v1/job/list/job", {"page": 1, "limit": 10, "status": ["success"], "role": "guest"})
    assert [r["job_id"] for r in only_success["data"]["jobs"]] == [jobs["good"]]
    by_id = board.post("/v1/job/list/job", {"page": 1, "limit": 10, "job_id": jobs["good"][-8:]})
    assert [r["job_id"] for r in by_id["data"]["jobs"]] == [jobs["good"]]  # substring match
    banner = board.post("/v1/job/list/job", {"status": ["waiting", "running"]})
    assert banner["retcode"] == 0 and banner["data"]["count"] == 0 and banner["data"]["jobs"] == []
    single = board.post("/v1/job/list/job", {"job_id": jobs["good"], "role": "guest", "party_id": GUEST})
    assert single["data"]["jobs"][0]["status"] == "success"
    # the upload job (role local) is listed too, but not under role guest
    assert board.post("/v1/job/list/job", {"page": 1, "limit": 0, "role": ["local"]})["data"]["count"] == 1


def test_job_list_rejects_unknown_status(guest: ServerProcess, jobs: dict[str, str]):
    response = requests.post(guest.url + "/v1/job/list/job", json={"page": 1, "limit": 10, "status": ["bogus"]},
                             timeout=10)
    assert response.status_code == 400 and response.json()["retcode"] == 400


@pytest.mark.parametrize("party_id", [GUEST, int(GUEST)])
def test_job_data_view(board: Board, jobs: dict[str, str], party_id):
    view = board.post("/v1/tracking/job/data_view", {"job_id": jobs["good"], "role": "guest", "party_id": party_id})
    assert view["retcode"] == 0, view
    data = view["data"]
    assert data["dataset"] == {"guest": {GUEST: {"reader_0": "experiment.breast_hetero_guest"}}}
    assert data["roles"] == {"guest": [int(GUEST)]}
    assert all(int(GUEST) not in ids for ids in data["partner"].values())
    assert isinstance(data["model_summary"], dict)
    missing = board.post("/v1/tracking/job/data_view", {"job_id": "20000101000000000000", "role": "guest",
                                                        "party_id": party_id})
    assert missing["retcode"] != 0


@pytest.mark.parametrize("party_id", [GUEST, int(GUEST)])
def test_dag_dependency_and_node_tasks(board: Board, jobs: dict[str, str], party_id):
    dag = board.post("/v1/pipeline/dag/dependency", {"job_id": jobs["good"], "role": "guest", "party_id": party_id})
    assert dag["retcode"] == 0, dag
    data = dag["data"]
    assert data["component_list"] == ["reader_0", "test_0"]
    assert data["dependencies"] == {"test_0": [{"component_name": "reader_0", "type": "data",
                                                "up_output_info": ["data", 0]}]}
    assert data["component_module"] == {"reader_0": "Reader", "test_0": "TestModule"}
    assert data["component_need_run"] == {"reader_0": True, "test_0": True}
    for component in data["component_list"]:  # one call per DAG node (Board call 7)
        tasks = board.post("/v1/job/list/task", {"page": 1, "limit": 1, "job_id": jobs["good"], "role": "guest",
                                                 "party_id": party_id, "component_name": component,
                                                 "order_by": "task_version", "order": "desc"})
        assert tasks["retcode"] == 0 and tasks["data"]["count"] == 1, tasks
        [task] = tasks["data"]["tasks"]
        assert set(task) >= TASK_ROW_FIELDS, TASK_ROW_FIELDS - set(task)
        assert task["component_name"] == component and task["status"] == "success"
        assert task["start_time"] and task["create_time"]


def test_node_tasks_latest_version_first(board: Board, jobs: dict[str, str]):
    latest = board.post("/v1/job/list/task", {"page": 1, "limit": 1, "job_id": jobs["bad"], "role": "guest",
                                              "party_id": int(GUEST), "component_name": "test_0",
                                              "order_by": "task_version", "order": "desc"})
    assert latest["retcode"] == 0 and latest["data"]["count"] == 2, latest
    assert [(t["task_version"], t["status"]) for t in latest["data"]["tasks"]] == [(1, "failed")]
    every = board.post("/v1/job/list/task", {"job_id": jobs["bad"], "role": "guest", "party_id": GUEST})
    assert [t["task_version"] for t in every["data"]["tasks"]] == [0, 1]  # default create_time asc


@pytest.mark.parametrize("party_id", [GUEST, int(GUEST)])
def test_component_metrics_and_metric_data(board: Board, jobs: dict[str, str], party_id):
    component = {"job_id": jobs["good"], "role": "guest", "party_id": party_id, "component_name": "test_0"}
    metrics = board.post("/v1/tracking/component/metrics", component)
    assert metrics["retcode"] == 0 and "retmsg" in metrics, metrics
    assert {ns: sorted(names) for ns, names in metrics["data"].items()} == {"train": ["auc", "loss"]}
    for namespace, names in metrics["data"].items():  # the Board's batch: one call per (namespace, name)
        for name in names:
            answer = board.post("/v1/tracking/component/metric_data",
                                {**component, "party_id": int(GUEST), "metric_namespace": namespace,
                                 "metric_name": name})
            assert answer["retcode"] == 0, answer
            assert answer["meta"]["name"] == name and answer["meta"]["metric_type"]
            assert answer["data"] == sorted(answer["data"], key=lambda point: point[0])
    loss = board.post("/v1/tracking/component/metric_data",
                      {**component, "metric_namespace": "train", "metric_name": "loss"})
    assert loss["data"] == [[0, 0.9], [1, 0.6], [2, 0.4]]
    assert loss["meta"] == {"name": "loss", "metric_type": "LOSS", "unit_name": "iters"}
    none = board.post("/v1/tracking/component/metric_data",
                      {**component, "metric_namespace": "train", "metric_name": "nothing"})
    assert none == {"retcode": 0, "retmsg": "no data", "data": [], "meta": {}}
    reader = board.post("/v1/tracking/component/metrics", {**component, "component_name": "reader_0"})
    assert reader["retcode"] == 0 and reader["data"] == {}


@pytest.mark.parametrize("party_id", [GUEST, int(GUEST)])
def test_component_parameters_model_and_data(board: Board, jobs: dict[str, str], party_id):
    component = {"job_id": jobs["good"], "role": "guest", "party_id": party_id, "component_name": "test_0"}
    parameters = board.post("/v1/tracking/component/parameters", component)
    assert parameters["retcode"] == 0 and parameters["data"]["module"] == "TestModule", parameters
    [param_key] = [key for key in parameters["data"] if key.endswith("Param")]
    assert parameters["data"][param_key]["metrics"] is True

    model = board.post("/v1/tracking/component/output/model", component)
    assert model["retcode"] == 0, model
    assert model["data"] == {"weight": [0.1, 0.2], "intercept": 0.3}
    assert model["meta"]["module_name"] == "TestModule" and isinstance(model["meta"]["meta_data"], dict)
    no_model = board.post("/v1/tracking/component/output/model", {**component, "component_name": "reader_0"})
    assert no_model["retcode"] == 0 and no_model["data"] == {} and no_model["retmsg"] == "no data", no_model

    output = board.post("/v1/tracking/component/output/data", component)
    assert output["retcode"] == 0, output
    meta = output["meta"]
    assert set(meta) >= {"header", "total", "names"}
    assert meta["names"] == ["data"] and meta["total"] == [569]
    assert meta["header"] == [["id", "y", *(f"x{i}" for i in range(10))]]
    [rows] = output["data"]
    assert len(rows) == 100 and all(len(row) == 12 for row in rows)  # at most 100 sampled rows per table
    reader = board.post("/v1/tracking/component/output/data", {**component, "component_name": "reader_0"})
    assert reader["meta"]["total"] == [569] and reader["meta"]["names"] == ["data"]


def test_fateflow_info(board: Board, guest: ServerProcess):
    info = board.post("/v1/server/fateflow/info", {})
    assert info["retcode"] == 0, info
    [(instance_id, instance)] = info["data"].items()
    assert instance["instance_id"] == instance_id
    assert {"timestamp", "version", "host", "grpc_port", "http_port"} <= set(instance)
    assert instance["http_port"] == guest.http_port and instance["grpc_port"] == guest.grpc_port


def _log_body(job_id: str, log_type: str, component: str, party_id, instance_id: str) -> dict:
    return {"job_id": job_id, "log_type": log_type, "role": "guest", "party_id": party_id,
            "component_name": component, "instance_id": instance_id}


def test_log_size_and_cat_for_every_log_type(board: Board, jobs: dict[str, str]):
    [instance_id] = board.post("/v1/server/fateflow/info", {})["data"]
    job_id = jobs["bad"]  # a failed job has lines in every log, the error logs included
    cases = [(log_type, "default") for log_type in PARTY_LOG_TYPES] + [("componentInfo", "test_0")]
    for log_type, component in cases:
        size = board.post("/v1/log/size", _log_body(job_id, log_type, component, GUEST, instance_id))
        assert size["retcode"] == 0, (log_type, size)
        count = size["data"]["size"]
        assert isinstance(count, int) and count > 0, (log_type, size)

        whole = board.post("/v1/log/cat", _log_body(job_id, log_type, component, int(GUEST), instance_id))
        assert whole["retcode"] == 0, (log_type, whole)
        lines = [line for line in whole["data"] if line["content"]]
        assert len(lines) == count, (log_type, count, whole["data"])
        assert [line["line_num"] for line in whole["data"]][:count] == list(range(1, count + 1))
        assert not any(IPV4.search(line["content"]) for line in lines), (log_type, lines)  # IPs are masked

        ranged = board.post("/v1/log/cat", {**_log_body(job_id, log_type, component, int(GUEST), instance_id),
                                            "begin": 1, "end": 1})
        assert ranged["data"] == whole["data"][:1], (log_type, ranged)
        if count >= 2:
            tail = board.post("/v1/log/cat", {**_log_body(job_id, log_type, component, int(GUEST), instance_id),
                                              "begin": 2, "end": count})
            assert [line["line_num"] for line in tail["data"] if line["content"]] == list(range(2, count + 1))
    assert "failed on request" in "".join(
        line["content"] for line in board.post(
            "/v1/log/cat", _log_body(job_id, "partyError", "default", int(GUEST), instance_id))["data"])


def test_log_size_of_missing_log_is_zero(board: Board, jobs: dict[str, str]):
    [instance_id] = board.post("/v1/server/fateflow/info", {})["data"]
    size = board.post("/v1/log/size", _log_body(jobs["good"], "componentInfo", "no_such_0", GUEST, instance_id))
    assert size == {"retcode": 0, "retmsg": "success", "data": {"size": 0}}
    bad_type = board.post("/v1/log/size", _log_body(jobs["good"], "noSuchLog", "default", GUEST, instance_id))
    assert bad_type["retcode"] != 0
