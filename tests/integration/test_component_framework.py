"""The component framework end to end on a real server: a component registered by its spec alone
(``tests/components/scaler.py``, added through the ``components.modules`` setting) runs with its
declared inputs, outputs, parameters and roles; a bad parameter is refused at submit naming the field;
a model written by a train stage is loaded by a predict stage; components run only at the roles their
specs declare (no Reader at the arbiter)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import requests

from tests.jobs import metric_data, run_job
from tests.support import DATA, ServerProcess, upload_multipart

GUEST, HOST = 9999, 10000
FACTOR, ROUNDS = 2.5, 3


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    env = {"FATE_FLOW_DATABASE__ENGINE": "sqlite", "FATE_FLOW_COMPONENTS__MODULES": '["tests.components.scaler"]'}
    party = ServerProcess(tmp_path_factory.mktemp("framework") / "party", env).start()
    for side in ("guest", "host"):
        conf = {"namespace": "experiment", "table_name": f"breast_hetero_{side}", "head": 1, "partition": 1}
        answer = upload_multipart(party, conf, DATA / f"breast_hetero_{side}.csv").json()
        assert answer["retcode"] == 0, answer
        assert party.wait_job(answer["jobId"])["f_status"] == "success"
    yield party
    party.stop()


def _conf(params: dict, **extra) -> dict:
    return {"dsl_version": 2, "initiator": {"role": "guest", "party_id": GUEST},
            "role": {"guest": [GUEST], "host": [HOST], "arbiter": [HOST]},
            "component_parameters": {
                "common": params,
                "role": {"guest": {"0": {"reader_0": {"table": {"name": "breast_hetero_guest",
                                                                "namespace": "experiment"}}}},
                         "host": {"0": {"reader_0": {"table": {"name": "breast_hetero_host",
                                                               "namespace": "experiment"}}}}}},
            **extra}


DSL = {"components": {
    "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
    "scaler_0": {"module": "ColumnScaler", "input": {"data": {"train_data": ["reader_0.data"]}},
                 "output": {"data": ["data"], "model": ["model"]}},
    # the alias, a predict stage in a train job: the model of scaler_0 applied to the reader's data
    "scaler_1": {"module": "ColumnScalerV0", "input": {"data": {"test_data": ["reader_0.data"]},
                                                       "model": ["scaler_0.model"]},
                 "output": {"data": ["data"]}},
}}


def _component(server: ServerProcess, path: str, job_id: str, component: str, role: str, party_id: int,
               **extra) -> dict:
    return server.post(f"/v1/tracking/component/{path}", {"job_id": job_id, "component_name": component,
                                                          "role": role, "party_id": party_id, **extra})


def _output_rows(server: ServerProcess, job_id: str, component: str, role: str, party_id: int) -> list[list[str]]:
    response = requests.post(f"{server.url}/v1/tracking/component/output/data/download",
                             json={"job_id": job_id, "component_name": component, "role": role,
                                   "party_id": party_id}, timeout=30)
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        text = tar.extractfile("data.csv").read().decode()
    return [line.split(",") for line in text.splitlines()]


def _csv(side: str) -> tuple[list[str], np.ndarray]:
    lines = (DATA / f"breast_hetero_{side}.csv").read_text().splitlines()
    rows = [line.split(",") for line in lines[1:]]
    return lines[0].split(",")[1:], np.array([[float(v) for v in row[1:]] for row in rows])


@pytest.fixture(scope="module")
def job(server: ServerProcess) -> str:
    submitted = server.post("/v1/job/submit", {"job_dsl": DSL, "job_runtime_conf": _conf(
        {"scaler_0": {"factor": FACTOR, "rounds": ROUNDS}})})
    assert submitted["retcode"] == 0, submitted
    job_id = submitted["jobId"]
    assert server.wait_job(job_id, timeout=60)["f_status"] == "success"
    return job_id


def test_components_run_only_at_the_roles_their_specs_declare(server: ServerProcess, job: str):
    tasks = server.post("/v1/job/task/query", {"job_id": job})["data"]
    where = {(t["f_component_name"], t["f_role"]) for t in tasks}
    # Reader and ColumnScaler run at guest and host; the arbiter (party 10000 too) has no task of them
    assert where == {(c, r) for c in ("reader_0", "scaler_0", "scaler_1") for r in ("guest", "host")}
    assert {t["f_status"] for t in tasks} == {"success"}
    arbiter = server.post("/v1/job/query", {"job_id": job, "role": "arbiter"})["data"]
    assert [row["f_status"] for row in arbiter] == ["success"]


def test_declared_outputs_parameters_and_exchanges(server: ServerProcess, job: str):
    for role, party_id, side in (("guest", GUEST, "guest"), ("host", HOST, "host")):
        header, features = _csv(side)
        rows = _output_rows(server, job, "scaler_0", role, party_id)
        assert rows[0][1:] == header
        scaled = np.array([[float(v) for v in row[1:]] for row in rows[1:]])
        np.testing.assert_allclose(scaled, features * FACTOR, rtol=1e-12)
        summary = _component(server, "summary/download", job, "scaler_0", role, party_id)["data"]
        # one sub-context per round: the guest got each host's doubled number, each host the guest's number
        expected = [2 * n for n in range(ROUNDS)] if role == "guest" else list(range(ROUNDS))
        assert summary["exchanged"] == expected and summary["tag_after_rounds"] == "root", summary
        assert summary["rows"] == 569 and summary["cores"] == 4
    loss = _component(server, "metric_data", job, "scaler_0", "guest", GUEST, metric_namespace="train",
                      metric_name="loss")
    assert loss["data"] == [[n, 1.0 / (n + 1)] for n in range(ROUNDS)] and loss["meta"]["metric_type"] == "LOSS"


def test_a_model_written_by_a_train_stage_is_loaded_by_a_predict_stage(server: ServerProcess, job: str):
    header, features = _csv("guest")
    model = _component(server, "output/model", job, "scaler_0", "guest", GUEST)
    assert model["retcode"] == 0 and model["data"] == {"factor": FACTOR, "header": header}, model
    assert model["meta"]["module_name"] == "ColumnScaler" and model["meta"]["meta_data"] == {"rows": 569}
    summary = _component(server, "summary/download", job, "scaler_1", "guest", GUEST)["data"]
    assert summary["stage"] == "predict" and summary["header"] == header
    np.testing.assert_allclose(summary["means"], features.mean(axis=0), rtol=1e-12)
    predicted = _output_rows(server, job, "scaler_1", "guest", GUEST)
    np.testing.assert_allclose(np.array([[float(v) for v in r[1:]] for r in predicted[1:]]), features * FACTOR)


def test_model_files_are_verified(server: ServerProcess, job: str):
    """A model file changed after it was registered is refused when read, never trusted."""
    [manifest] = list(server.home.glob(f"jobs/{job}/host/{HOST}/scaler_0/0/model/model/manifest.json"))
    files = json.loads(manifest.read_text())["files"]
    assert set(files) == {"param.json", "meta.json", "means.npy"}
    param = manifest.parent / "param.json"
    original = param.read_text()
    try:
        param.write_text(original.replace(str(FACTOR), "9.0"))
        answer = _component(server, "output/model", job, "scaler_0", "host", HOST)
        assert answer["retcode"] == 102 and "does not match its manifest" in answer["retmsg"], answer
    finally:
        param.write_text(original)


@pytest.mark.parametrize(("params", "field"), [
    ({"scaler_0": {"factor": -1}}, "parameter factor"),
    ({"scaler_0": {"factor": "big"}}, "parameter factor"),
    ({"scaler_0": {"rounds": 1000}}, "parameter rounds"),
    ({"scaler_0": {"factr": 2}}, "parameter factr"),
])
def test_a_bad_parameter_is_refused_at_submit_naming_the_field(server: ServerProcess, params: dict, field: str):
    before = server.post("/v1/job/list/job", {})["data"]["count"]
    answer = server.post("/v1/job/submit", {"job_dsl": DSL, "job_runtime_conf": _conf(params)})
    assert answer["retcode"] == 103, answer
    component = next(iter(params))
    assert f"component {component}: {field}" in answer["retmsg"], answer
    assert server.post("/v1/job/list/job", {})["data"]["count"] == before  # nothing was created


def test_a_role_specific_bad_parameter_names_the_party(server: ServerProcess):
    conf = _conf({})
    conf["component_parameters"]["role"]["host"]["0"]["scaler_0"] = {"factor": 0}
    answer = server.post("/v1/job/submit", {"job_dsl": DSL, "job_runtime_conf": conf})
    assert answer["retcode"] == 103 and "host 10000" in answer["retmsg"] and "factor" in answer["retmsg"], answer


@pytest.mark.parametrize(("component", "problem"), [
    ({"module": "ColumnScaler", "input": {"data": {"validate_data": ["reader_0.data"]}}}, "input.data.validate_data"),
    ({"module": "Reader", "input": {"model": ["scaler_0.model"]}}, "input.model"),
    ({"module": "NoSuchModule"}, "module 'NoSuchModule' is not provided"),
])
def test_inputs_and_modules_are_checked_against_the_spec(server: ServerProcess, component: dict, problem: str):
    dsl = json.loads(json.dumps(DSL))
    dsl["components"]["extra_0"] = component
    answer = server.post("/v1/job/submit", {"job_dsl": dsl, "job_runtime_conf": _conf({})})
    assert answer["retcode"] == 103 and "extra_0" in answer["retmsg"] and problem in answer["retmsg"], answer


def test_the_spec_module_is_importable_by_the_executor_only_through_the_setting(tmp_path: Path):
    """Without the setting the server does not know the component: refused at submit, nothing created."""
    party = ServerProcess(tmp_path / "plain", {"FATE_FLOW_DATABASE__ENGINE": "sqlite"}).start()
    try:
        answer = party.post("/v1/job/submit", {"job_dsl": DSL, "job_runtime_conf": _conf({})})
        assert answer["retcode"] == 103 and "'ColumnScaler' is not provided" in answer["retmsg"], answer
    finally:
        party.stop()


def test_a_computing_engine_this_party_does_not_provide_is_refused_at_submit(server: ServerProcess):
    before = server.post("/v1/job/list/job", {})["data"]["count"]
    conf = _conf({}, job_parameters={"common": {"computing_engine": "SPARK"}})
    answer = server.post("/v1/job/submit", {"job_dsl": DSL, "job_runtime_conf": conf})
    assert answer["retcode"] != 0 and "computing_engine 'SPARK' is not provided" in answer["retmsg"], answer
    assert "standalone" in answer["retmsg"], answer
    assert server.post("/v1/job/list/job", {})["data"]["count"] == before  # nothing was created


def test_small_objects_go_back_and_forth_in_order(server: ServerProcess):
    """TestModule's ``exchange_rounds`` (bench/round_trips.py): 25 round trips of small objects between the
    guest and the host through this server's data plane, each answer checked by the guest."""
    conf = {"dsl_version": 2, "initiator": {"role": "guest", "party_id": GUEST},
            "role": {"guest": [GUEST], "host": [HOST]},
            "component_parameters": {"common": {"exchange_0": {"exchange_rounds": 25}}}}
    job_id, status = run_job(server, {"components": {"exchange_0": {"module": "TestModule"}}}, conf)
    assert status == "success", job_id
    for role, party_id in (("guest", GUEST), ("host", HOST)):
        points = dict(metric_data(server, job_id, "exchange_0", role, party_id, "data_plane", "round_trip"))
        assert points["rounds"] == 25 and points["seconds"] > 0, points
