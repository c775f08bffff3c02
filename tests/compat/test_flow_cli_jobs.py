"""DSL jobs driven by the real `flow` CLI of fate-client 1.11.3 (guest 9999, standalone federation).

One server for the module: upload, submit, query, tracking, job control and error cases all go
through the CLI exactly as a user types them; only waiting uses plain HTTP where the CLI adds nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.support import DATA, FlowCLI, ServerProcess, database_env

pytestmark = pytest.mark.compat

GUEST = "9999"
END = ("success", "failed", "canceled", "timeout")


@pytest.fixture(scope="module")
def guest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("cli_jobs") / "party",
                           {**database_env("sqlite"), "FATE_FLOW_PARTY_ID": GUEST}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def flow(guest: ServerProcess) -> FlowCLI:
    cli = FlowCLI()
    cli.init(guest)
    return cli


@pytest.fixture(scope="module")
def uploaded(flow: FlowCLI, guest: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> str:
    """breast_hetero_guest@experiment uploaded with `flow data upload`."""
    conf = tmp_path_factory.mktemp("upload") / "upload_guest.json"
    conf.write_text(json.dumps({"file": str(DATA / "breast_hetero_guest.csv"), "id_delimiter": ",", "head": 1,
                                "partition": 4, "namespace": "experiment", "table_name": "breast_hetero_guest"}))
    answer = flow.run("data", "upload", "-c", str(conf), "--drop")
    assert answer["retcode"] == 0, answer
    assert guest.wait_job(answer["jobId"])["f_status"] == "success"
    return answer["jobId"]


def conf_of(components: dict, guest_components: dict | None = None, **extra) -> dict:
    conf = {"dsl_version": 2, "initiator": {"role": "guest", "party_id": int(GUEST)}, "role": {"guest": [int(GUEST)]},
            "component_parameters": {"common": components}}
    if guest_components:
        conf["component_parameters"]["role"] = {"guest": {"0": guest_components}}
    conf.update(extra)
    return conf


READER = {"reader_0": {"table": {"name": "breast_hetero_guest", "namespace": "experiment"}}}


def submit(flow: FlowCLI, tmp_path: Path, dsl: dict, conf: dict, name: str = "job") -> dict:
    dsl_path, conf_path = tmp_path / f"{name}_dsl.json", tmp_path / f"{name}_conf.json"
    dsl_path.write_text(json.dumps(dsl))
    conf_path.write_text(json.dumps(conf))
    return flow.run("job", "submit", "-c", str(conf_path), "-d", str(dsl_path))


def flow_wait(flow: FlowCLI, job_id: str, timeout: float = 30) -> dict:
    """`flow job query` until an end status (the CLI drops f_runtime_conf and f_dsl from the rows)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        answer = flow.run("job", "query", "-j", job_id)
        assert answer["retcode"] == 0, answer
        row = answer["data"][0]
        assert row["f_status"] in ("waiting", "running", *END), row
        if row["f_status"] in END:
            return row
        time.sleep(0.2)
    raise TimeoutError(job_id)


def test_reader_writer_download_job(flow: FlowCLI, guest: ServerProcess, uploaded: str, tmp_path: Path):
    out = guest.home / "downloads" / "out.csv"
    dsl = {"components": {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "writer_0": {"module": "Writer", "input": {"data": {"data": ["reader_0.data"]}}},
        "download_0": {"module": "Download", "input": {"data": {"data": ["reader_0.data"]}}},
    }}
    conf = conf_of({"writer_0": {"namespace": "copies", "table_name": "guest_copy"},
                    "download_0": {"output_path": str(out)}}, READER)
    submitted = submit(flow, tmp_path, dsl, conf)
    assert submitted["retcode"] == 0, submitted
    job_id = submitted["jobId"]
    assert submitted["data"]["job_id"] == job_id
    assert submitted["data"]["model_info"] == {"model_id": f"guest-{GUEST}#model", "model_version": job_id}
    assert f"job_id={job_id}&role=guest&party_id={GUEST}" in submitted["data"]["board_url"]

    row = flow_wait(flow, job_id)
    assert row["f_status"] == "success", row
    assert "f_runtime_conf" not in row and "f_dsl" not in row  # the CLI deleted them: the server sent them
    assert row["f_role"] == "guest" and str(row["f_party_id"]) == GUEST and row["f_progress"] == 100

    # the files and tables the job wrote
    assert out.read_text().splitlines() == (DATA / "breast_hetero_guest.csv").read_text().splitlines()
    info = flow.run("table", "info", "-n", "copies", "-t", "guest_copy")
    assert info["retcode"] == 0 and info["data"]["exist"] == 1 and info["data"]["count"] == 569, info

    tasks = flow.run("task", "query", "-j", job_id)
    assert tasks["retcode"] == 0, tasks
    assert sorted(t["f_component_name"] for t in tasks["data"]) == ["download_0", "reader_0", "writer_0"]
    assert {t["f_status"] for t in tasks["data"]} == {"success"}
    assert {t["f_role"] for t in tasks["data"]} == {"guest"}
    one = flow.run("task", "query", "-j", job_id, "-r", "guest", "-p", GUEST, "-cpn", "writer_0")
    assert [t["f_component_module"] for t in one["data"]] == ["Writer"]

    listed = flow.run("task", "list", "-l", "50")
    assert listed["retcode"] == 0 and listed["data"]["count"] >= 3
    assert {"reader_0", "writer_0", "download_0"} <= {t["component_name"] for t in listed["data"]["tasks"]
                                                       if t["job_id"] == job_id}

    components = flow.run("component", "list", "-j", job_id)
    assert components["retcode"] == 0
    assert sorted(components["data"]["components"]) == ["download_0", "reader_0", "writer_0"]

    jobs = flow.run("job", "list", "-l", "50")
    assert jobs["retcode"] == 0 and job_id in [j["job_id"] for j in jobs["data"]["jobs"]]

    view = flow.run("job", "view", "-j", job_id, "-r", "guest", "-p", GUEST)
    assert view["retcode"] == 0, view
    assert sorted((v["f_component_name"], v["f_data_name"]) for v in view["data"]) == [
        ("reader_0", "data"), ("writer_0", "data")]

    config_dir = tmp_path / "config"
    config = flow.run("job", "config", "-j", job_id, "-r", "guest", "-p", GUEST, "-o", str(config_dir))
    assert config["retcode"] == 0, config
    assert config["data"]["job_id"] == job_id and set(config["data"]["model_info"]) == {"model_id", "model_version"}
    written = config_dir / f"job_{job_id}_config"
    assert json.loads((written / "dsl.json").read_text()) == dsl
    runtime_conf = json.loads((written / "runtime_conf.json").read_text())
    assert runtime_conf["role"] == {"guest": [int(GUEST)]}
    assert runtime_conf["component_parameters"] == conf["component_parameters"]

    generated = flow.run("job", "dsl", "--cpn-list", "reader_0,writer_0", "--train-dsl-path",
                         str(written / "dsl.json"))
    assert generated["retcode"] == 0, generated
    assert list(generated["data"]["components"]) == ["reader_0", "writer_0"]
    assert generated["data"]["components"]["writer_0"]["input"]["data"] == {"data": ["reader_0.data"]}
    to_file = flow.run("job", "dsl", "--cpn-list", "reader_0", "--train-dsl-path", str(written / "dsl.json"),
                       "-o", str(tmp_path / "predict"))
    assert to_file["retcode"] == 0, to_file
    [predict_file] = (tmp_path / "predict").glob("predict_dsl_*.json")
    assert list(json.loads(predict_file.read_text())["components"]) == ["reader_0"]


def test_reader_writer_download_chain(flow: FlowCLI, guest: ServerProcess, uploaded: str, tmp_path: Path):
    out = guest.home / "downloads" / "chain.csv"
    dsl = {"components": {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "writer_0": {"module": "Writer", "input": {"data": {"data": ["reader_0.data"]}}, "output": {"data": ["data"]}},
        "download_0": {"module": "Download", "input": {"data": {"data": ["writer_0.data"]}}},
    }}
    conf = conf_of({"writer_0": {"namespace": "copies", "table_name": "chained"},
                    "download_0": {"output_path": str(out)}}, READER)
    submitted = submit(flow, tmp_path, dsl, conf)
    assert submitted["retcode"] == 0, submitted
    job_id = submitted["jobId"]
    assert guest.wait_job(job_id)["f_status"] == "success"
    tables = flow.run("component", "output-data-table", "-j", job_id, "-r", "guest", "-p", GUEST,
                      "-cpn", "writer_0")
    assert tables["retcode"] == 0 and tables["data"][0]["table_namespace"] == "copies", tables
    assert out.read_text().splitlines() == (DATA / "breast_hetero_guest.csv").read_text().splitlines()


def test_job_config_model_info(flow: FlowCLI, guest: ServerProcess, tmp_path: Path):
    submitted = submit(flow, tmp_path, {"components": {"test_0": {"module": "TestModule"}}}, conf_of({}))
    job_id = submitted["jobId"]
    config = flow.run("job", "config", "-j", job_id, "-r", "guest", "-p", GUEST, "-o", str(tmp_path / "config"))
    assert config["retcode"] == 0, config
    assert config["data"]["model_info"] == submitted["data"]["model_info"] == {
        "model_id": f"guest-{GUEST}#model", "model_version": job_id}
    guest.wait_job(job_id)


def test_component_tracking_commands(flow: FlowCLI, guest: ServerProcess, tmp_path: Path):
    dsl = {"components": {"test_0": {"module": "TestModule", "output": {"data": ["data"], "model": ["model"]}}}}
    submitted = submit(flow, tmp_path, dsl, conf_of({"test_0": {"metrics": True, "output_rows": 7}}))
    assert submitted["retcode"] == 0, submitted
    job_id = submitted["jobId"]
    assert guest.wait_job(job_id)["f_status"] == "success"
    cpn = ("-j", job_id, "-r", "guest", "-p", GUEST, "-cpn", "test_0")

    metrics = flow.run("component", "metrics", *cpn)
    assert metrics["retcode"] == 0 and {k: sorted(v) for k, v in metrics["data"].items()} == {"train": ["auc", "loss"]}

    metric_all = flow.run("component", "metric-all", *cpn)
    assert metric_all["retcode"] == 0, metric_all
    loss = metric_all["data"]["train"]["loss"]
    assert loss["data"] == [[0, 0.9], [1, 0.6], [2, 0.4]]  # sorted by key
    assert loss["meta"]["name"] == "loss" and loss["meta"]["metric_type"] == "LOSS"
    assert metric_all["data"]["train"]["auc"]["data"] == [["auc", 0.98]]
    assert flow.run("tracking", "metric-all", *cpn)["data"] == metric_all["data"]  # the alias group

    parameters = flow.run("component", "parameters", *cpn)
    assert parameters["retcode"] == 0 and parameters["data"]["module"] == "TestModule", parameters
    [param_key] = [k for k in parameters["data"] if k.endswith("Param")]
    assert parameters["data"][param_key]["metrics"] is True and parameters["data"][param_key]["output_rows"] == 7

    model = flow.run("component", "output-model", *cpn)
    assert model["retcode"] == 0, model
    assert model["data"] == {"weight": [0.1, 0.2], "intercept": 0.3}
    assert model["meta"]["module_name"] == "TestModule" and model["meta"]["meta_data"]["max_iter"] == 3

    tables = flow.run("component", "output-data-table", *cpn)
    assert tables["retcode"] == 0 and len(tables["data"]) == 1, tables
    assert tables["data"][0]["data_name"] == "data" and tables["data"][0]["table_name"]
    assert tables["data"][0]["table_namespace"].startswith("output_data_")

    out_dir = tmp_path / "output"
    downloaded = flow.run("component", "output-data", *cpn, "-o", str(out_dir))
    assert downloaded["retcode"] == 0, downloaded
    extracted = out_dir / f"job_{job_id}_test_0_guest_{GUEST}_output_data"
    assert Path(downloaded["directory"]) == extracted
    lines = (extracted / "data.csv").read_text().splitlines()
    assert lines[0] == "id,x0,x1" and len(lines) == 8 and lines[1] == "0,0.0,0"
    assert json.loads((extracted / "data.meta").read_text())["header"] == ["id", "x0", "x1"]
    limited = flow.run("component", "output-data", *cpn, "-o", str(tmp_path / "limited"), "-l", "3")
    assert limited["retcode"] == 0, limited
    assert len((Path(limited["directory"]) / "data.csv").read_text().splitlines()) == 4

    summary = flow.run("component", "get-summary", *cpn)
    assert summary["retcode"] == 0 and summary["data"]["validation_metrics"]["train"]["auc"] == [0.97, 0.98], summary
    summary_dir = tmp_path / "summary"
    summary_dir.mkdir()
    saved = flow.run("component", "get-summary", *cpn, "-o", str(summary_dir))
    assert saved["retcode"] == 0, saved
    [summary_file] = summary_dir.glob("summary_test_0_*.json")
    assert json.loads(summary_file.read_text()) == summary["data"]

    # a component without metrics/summary: FATE's "no data" answers
    reader_less = submit(flow, tmp_path, {"components": {"test_0": {"module": "TestModule"}}},
                         conf_of({"test_0": {}}), name="plain")
    plain = ("-j", reader_less["jobId"], "-r", "guest", "-p", GUEST, "-cpn", "test_0")
    assert guest.wait_job(reader_less["jobId"])["f_status"] == "success"
    assert flow.run("component", "metrics", *plain) == {"retcode": 0, "retmsg": "no data", "data": {}}
    no_summary = flow.run("component", "get-summary", *plain)
    assert no_summary["retcode"] != 0, no_summary


def test_stop_running_job(flow: FlowCLI, guest: ServerProcess, tmp_path: Path):
    dsl = {"components": {"test_0": {"module": "TestModule"}}}
    submitted = submit(flow, tmp_path, dsl, conf_of({"test_0": {"sleep": 30}}))
    assert submitted["retcode"] == 0, submitted
    job_id = submitted["jobId"]
    guest.wait_job(job_id, ("running",))
    deadline = time.time() + 15
    while True:
        task = flow.run("task", "query", "-j", job_id)["data"][0]
        if task["f_status"] == "running" and task["f_run_pid"]:
            break
        assert time.time() < deadline, task
        time.sleep(0.2)
    pid = int(task["f_run_pid"])
    assert psutil.pid_exists(pid)

    stopped = flow.run("job", "stop", "-j", job_id)
    assert stopped["retcode"] == 0, stopped
    row = flow_wait(flow, job_id, timeout=15)
    assert row["f_status"] == "canceled", row
    # an end status is shown only once the executor is gone
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    task = flow.run("task", "query", "-j", job_id)["data"][0]
    assert task["f_status"] == "canceled", task

    again = flow.run("job", "stop", "-j", job_id)
    assert again["retcode"] != 0, again
    unknown = flow.run("job", "stop", "-j", "20000101000000000000")
    assert unknown["retcode"] != 0, unknown


def test_rerun_failed_job_after_parameter_update(flow: FlowCLI, guest: ServerProcess, tmp_path: Path):
    dsl = {"components": {"test_0": {"module": "TestModule", "output": {"data": ["data"]}}}}
    submitted = submit(flow, tmp_path, dsl, conf_of({"test_0": {"fail": "boom on purpose", "output_rows": 3}}))
    assert submitted["retcode"] == 0, submitted
    job_id = submitted["jobId"]
    assert flow_wait(flow, job_id)["f_status"] == "failed"
    failed_task = flow.run("task", "query", "-j", job_id)["data"][0]
    assert failed_task["f_status"] == "failed" and failed_task["f_task_version"] == 0

    update = tmp_path / "update.json"
    update.write_text(json.dumps({"component_parameters": {"common": {"test_0": {"fail": False}}}}))
    updated = flow.run("job", "parameter-update", "-j", job_id, "-c", str(update))
    assert updated["retcode"] == 0, updated

    rerun = flow.run("job", "rerun", "-j", job_id)
    assert rerun["retcode"] == 0, rerun
    row = flow_wait(flow, job_id)
    assert row["f_job_id"] == job_id  # in place: same job id
    assert row["f_status"] == "success", row
    task = flow.run("task", "query", "-j", job_id)["data"][0]
    assert task["f_task_version"] == 1 and task["f_status"] == "success", task
    tables = flow.run("component", "output-data-table", "-j", job_id, "-r", "guest", "-p", GUEST, "-cpn", "test_0")
    assert tables["retcode"] == 0 and len(tables["data"]) == 1, tables


def test_rerun_failed_job(flow: FlowCLI, guest: ServerProcess, tmp_path: Path):
    """Rerun in place without a parameter change: a new task version runs (and fails again)."""
    dsl = {"components": {"test_0": {"module": "TestModule"}}}
    submitted = submit(flow, tmp_path, dsl, conf_of({"test_0": {"fail": True}}))
    job_id = submitted["jobId"]
    assert flow_wait(flow, job_id)["f_status"] == "failed"
    rerun = flow.run("job", "rerun", "-j", job_id, "-cpn", "test_0", "--force")
    assert rerun["retcode"] == 0, rerun
    row = flow_wait(flow, job_id)
    assert row["f_job_id"] == job_id and row["f_status"] == "failed"
    task = flow.run("task", "query", "-j", job_id)["data"]
    assert [(t["f_task_version"], t["f_status"]) for t in task] == [(1, "failed")]


def test_queue_clean(flow: FlowCLI, guest: ServerProcess, tmp_path: Path):
    """A job holding all 20 standalone cores keeps the next one waiting; `flow queue clean` cancels it."""
    dsl = {"components": {"test_0": {"module": "TestModule"}}}
    busy = submit(flow, tmp_path, dsl, conf_of({"test_0": {"sleep": 30}},
                                               job_parameters={"common": {"task_cores": 20}}), name="busy")
    assert busy["retcode"] == 0, busy
    guest.wait_job(busy["jobId"], ("running",))
    queued = submit(flow, tmp_path, dsl, conf_of({"test_0": {}}), name="queued")
    assert queued["retcode"] == 0, queued
    time.sleep(0.5)
    waiting = flow.run("job", "query", "-j", queued["jobId"])["data"][0]
    assert waiting["f_status"] == "waiting"
    # what it waits for, in what `flow job query` prints (the scheduler's pass after the submit said so)
    deadline = time.time() + 10
    while not waiting["f_wait_reason"].startswith("cores") and time.time() < deadline:
        time.sleep(0.2)
        waiting = flow.run("job", "query", "-j", queued["jobId"])["data"][0]
    assert waiting["f_wait_reason"] == f"cores: none free at party {GUEST} (all 20 are held by running jobs)"
    assert waiting["f_queue_position"] == 1

    cleaned = flow.run("queue", "clean")
    assert cleaned == {"retcode": 0, "retmsg": "success", "data": {queued["jobId"]: 0}}, cleaned
    assert guest.wait_job(queued["jobId"], timeout=10)["f_status"] == "canceled"
    assert flow.run("job", "query", "-j", busy["jobId"])["data"][0]["f_status"] == "running"
    assert flow.run("job", "stop", "-j", busy["jobId"])["retcode"] == 0
    assert guest.wait_job(busy["jobId"], timeout=15)["f_status"] == "canceled"
    assert flow.run("queue", "clean") == {"retcode": 0, "retmsg": "success", "data": {}}


def test_submit_errors(flow: FlowCLI, tmp_path: Path):
    unknown_upstream = submit(flow, tmp_path, {"components": {
        "test_0": {"module": "TestModule", "input": {"data": {"data": ["ghost_0.data"]}}}}},
        conf_of({}), name="upstream")
    assert unknown_upstream["retcode"] == 103, unknown_upstream
    assert "ghost_0" in unknown_upstream["retmsg"] and "jobId" not in unknown_upstream

    unknown_module = submit(flow, tmp_path, {"components": {"test_0": {"module": "NoSuchModule"}}}, conf_of({}),
                            name="module")
    assert unknown_module["retcode"] == 103, unknown_module
    assert "NoSuchModule" in unknown_module["retmsg"]

    no_roles = conf_of({})
    del no_roles["role"]
    without_roles = submit(flow, tmp_path, {"components": {"test_0": {"module": "TestModule"}}}, no_roles,
                           name="roles")
    assert without_roles["retcode"] != 0 and "role" in without_roles["retmsg"], without_roles
    assert "jobId" not in without_roles
