"""``default_engines.computing: spark`` against a real Spark standalone master and worker on loopback (from the
pyspark package) with the machine's RabbitMQ between the parties.

The same jobs run on three pairs of parties: both standalone (the reference), the guest on Spark + RabbitMQ
with the host standalone (+ RabbitMQ), and both on Spark + RabbitMQ; their results must be the reference's,
also through a RabbitMQ restart mid-job. Faults: a worker killed under a running task while another is alive
(Spark moves the work, the job completes), then the last worker killed (the task fails with Spark named, the
job ends, the cores come back).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from fate_flow.components.toy.shares import draw
from fate_flow.utils.spark_cluster import LocalSparkCluster
from tests.integration.test_rabbitmq_federation import RABBITMQ_ENV, _ended_everywhere, _Factory, _job_queues, _prefixed
from tests.jobs import FATE_DATA, HETERO_LR_DSL, job_conf, metric_data, output_rows, reader_params, submit, summary
from tests.spark_support import require_spark
from tests.support import REPO, ServerProcess, start_parties, upload_multipart
from tests.unit.test_rabbitmq_federation import _rabbitmqctl, queue_exists, require_rabbitmq

pytestmark = pytest.mark.cluster
GUEST, HOST = "9999", "10000"
ENDED = ("success", "failed", "canceled", "timeout")
PARTITIONS = 4
TASK_CORES = 2
INTERSECT_DSL = {"components": {
    "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
    "data_transform_0": {"module": "DataTransform", "input": {"data": {"data": ["reader_0.data"]}},
                         "output": {"data": ["data"], "model": ["model"]}},
    "intersection_0": {"module": "Intersection", "input": {"data": {"data": ["data_transform_0.data"]}},
                       "output": {"data": ["data"]}},
}}


def _spark_env(cluster: LocalSparkCluster) -> dict[str, str]:
    return {"FATE_FLOW_DEFAULT_ENGINES__COMPUTING": "spark",
            "FATE_FLOW_FATE_ON_SPARK__SPARK__MASTER": cluster.master_url,
            "FATE_FLOW_FATE_ON_SPARK__SPARK__WEB_UI": cluster.web_ui,
            "FATE_FLOW_FATE_ON_SPARK__SPARK__CORES_PER_NODE": "4",
            "FATE_FLOW_FATE_ON_SPARK__SPARK__NODES": "1",
            # an executor takes 3-20 s to start here (the longer under load): more than that means lost
            "FATE_FLOW_FATE_ON_SPARK__SPARK__LOST_WORKERS_TIMEOUT": "45",
            # small tables: executors that start fast (the client compiler only) are what matters here
            "FATE_FLOW_FATE_ON_SPARK__SPARK__PROPERTIES": json.dumps({
                "spark.executor.memory": "768m",
                "spark.executor.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"})}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSparkCluster]:
    require_spark()
    require_rabbitmq()
    with LocalSparkCluster(tmp_path_factory.mktemp("spark")) as made:
        made.start_master()
        # 8 cores to schedule (of the machine's 2): two parties' tasks at once each take TASK_CORES
        made.start_worker(cores=8, memory="4g")
        yield made


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Factory]:
    made = _Factory(tmp_path_factory.mktemp("spark-parties"))
    yield made
    for server in made.started:
        server.stop()


def _with_tables(servers: dict[str, ServerProcess]) -> dict[str, ServerProcess]:
    for party, name in ((GUEST, "breast_hetero_guest"), (HOST, "breast_hetero_host")):
        conf = {"namespace": "experiment", "table_name": name, "head": 1, "partition": PARTITIONS, "drop": 1}
        answer = upload_multipart(servers[party], conf, FATE_DATA / f"{name}.csv").json()
        assert answer["retcode"] == 0, answer
        assert servers[party].wait_job(answer["jobId"], timeout=180)["f_status"] == "success"
    grant = {"party_id": int(GUEST), "dataset": [{"namespace": "experiment", "name": "breast_hetero_host"}]}
    assert servers[HOST].post("/v1/permission/grant", grant)["retcode"] == 0
    return servers


@pytest.fixture(scope="module")
def reference(factory: _Factory) -> dict[str, ServerProcess]:
    """Both parties standalone (computing and the gRPC data plane)."""
    return _with_tables(start_parties(_prefixed(factory, "standalone"), [GUEST, HOST]))


@pytest.fixture(scope="module")
def mixed(factory: _Factory, cluster: LocalSparkCluster) -> dict[str, ServerProcess]:
    """The guest computes on Spark, the host standalone; RabbitMQ between them."""
    return _with_tables(start_parties(_prefixed(factory, "mixed"), [GUEST, HOST], env=RABBITMQ_ENV,
                                      party_env={GUEST: _spark_env(cluster)}))


@pytest.fixture(scope="module")
def on_spark(factory: _Factory, cluster: LocalSparkCluster) -> dict[str, ServerProcess]:
    """Both parties on Spark + RabbitMQ."""
    return _with_tables(start_parties(_prefixed(factory, "spark"), [GUEST, HOST],
                                      env={**RABBITMQ_ENV, **_spark_env(cluster)}))


def _run(parties: dict[str, ServerProcess], dsl: dict, conf: dict, timeout: float = 400) -> str:
    guest, host = parties[GUEST], parties[HOST]
    answer = submit(guest, dsl, conf)
    assert answer["retcode"] == 0, answer
    job_id = answer["jobId"]
    assert guest.wait_job(job_id, ENDED, timeout)["f_status"] == "success", _errors(parties, job_id)
    assert host.wait_job(job_id, ENDED, 60)["f_status"] == "success", _errors(parties, job_id)
    return job_id


def _errors(parties: dict[str, ServerProcess], job_id: str) -> list:
    return [(t["f_role"], t["f_component_name"], t["f_status"], t.get("f_error_report"))
            for server in parties.values() for t in server.post("/v1/job/task/query", {"job_id": job_id})["data"]]


def _lr_conf(intersect: dict | None = None) -> dict:
    params = {"hetero_lr_0": {"penalty": "L2", "alpha": 0.01, "optimizer": "sgd", "learning_rate": 0.15,
                              "max_iter": 3, "batch_size": -1, "init_param": {"init_method": "zeros"},
                              "early_stop": "diff", "tol": 1e-12, "encrypt_param": {"key_length": 1024}},
              "intersection_0": intersect or {"intersect_method": "raw"}}
    role = reader_params("breast_hetero_guest", ["breast_hetero_host"])
    role["guest"]["0"]["data_transform_0"] = {"with_label": True, "label_name": "y", "label_type": "int"}
    role["host"]["0"]["data_transform_0"] = {"with_label": False}
    return job_conf(GUEST, [HOST], HOST, params, role, {"task_cores": TASK_CORES})


def _intersection(parties: dict[str, ServerProcess], job_id: str) -> list[str]:
    rows = output_rows(parties[GUEST], job_id, "intersection_0", "guest", GUEST)
    return [next(iter(row.values())) for row in rows]


def _auc(parties: dict[str, ServerProcess], job_id: str) -> float:
    points = metric_data(parties[GUEST], job_id, "evaluation_0", "guest", GUEST, "train", "hetero_lr_0")
    return float(dict((name, value) for name, value in points)["auc"])


def _weights(parties: dict[str, ServerProcess], job_id: str) -> np.ndarray:
    guest = summary(parties[GUEST], job_id, "hetero_lr_0", "guest", GUEST)
    host = summary(parties[HOST], job_id, "hetero_lr_0", "host", HOST)
    return np.array([*guest["coef"].values(), guest["intercept"], *host["coef"].values()])


def _stored_files(server: ServerProcess, name: str) -> list[Path]:
    answer = server.post("/v1/table/table_info", {"namespace": "experiment", "table_name": name})
    return sorted(Path(answer["data"]["address"]["path"]).glob("*.parquet"))


def test_an_upload_on_spark_is_one_parquet_file_per_partition(on_spark, reference):
    assert [p.name for p in _stored_files(on_spark[GUEST], "breast_hetero_guest")] == [
        f"part-{i:05d}.parquet" for i in range(PARTITIONS)]
    assert len(_stored_files(reference[GUEST], "breast_hetero_guest")) == 1  # standalone: one file


def test_the_toy_job_adds_up_on_spark(on_spark):
    conf = json.loads((REPO / "tests/data/fate-flow/toy/toy_example_conf.json").read_text())
    conf["component_parameters"]["role"]["host"] = {"0": {"secure_add_example_0": {"seed": 321}}}
    dsl = json.loads((REPO / "tests/data/fate-flow/toy/toy_example_dsl.json").read_text())
    job_id = _run(on_spark, dsl, conf)
    expected = float(np.sum(draw(123, 1000))) + float(np.sum(draw(321, 1000)))
    points = metric_data(on_spark[GUEST], job_id, "secure_add_example_0", "guest", GUEST, "secure_add",
                         "secure_sum")
    assert abs(float(points[0][1]) - expected) < 1e-6 * abs(expected), points


def test_the_party_reports_its_spark_cluster_and_brokers(on_spark, cluster):
    guest = on_spark[GUEST]
    info = next(iter(guest.post("/v1/server/fateflow/info")["data"].values()))
    assert (info["computing_engine"], info["federation_engine"]) == ("spark", "rabbitmq")
    routes = guest.post("/v1/server/routes")["data"]
    spark = routes["spark"]
    assert spark["reachable"] and spark["master"] == cluster.master_url, spark
    assert spark["alive_workers"] >= 1 and spark["cores"] >= 8 and spark["cores_scheduled"] == 4, spark
    assert all(broker["reachable"] for broker in routes["rabbitmq"]), routes["rabbitmq"]
    resource = guest.post("/v1/resource/query", {})["data"]["computing_engine_resource"]
    assert (resource["f_engine_name"], resource["f_cores"]) == ("spark", 4), resource


_REFERENCE_JOBS: dict[str, str] = {}
ECDH = {"intersect_method": "ecdh", "ecdh_params": {"hash_method": "sha256"}}


def _reference_job(reference: dict[str, ServerProcess], kind: str) -> str:
    """The standalone pair's run of hetero_lr_normal ("lr") or of the intersection job, once per module."""
    if kind not in _REFERENCE_JOBS:
        _REFERENCE_JOBS[kind] = (_run(reference, HETERO_LR_DSL, _lr_conf(ECDH)) if kind == "lr"
                                 else _run(reference, INTERSECT_DSL, _intersect_conf()))
    return _REFERENCE_JOBS[kind]


def _intersect_conf() -> dict:
    conf = _lr_conf()
    conf["component_parameters"]["common"].pop("hetero_lr_0")
    return conf


def _assert_lr_equals_reference(parties: dict[str, ServerProcess], job_id: str, reference, cluster) -> None:
    baseline = _reference_job(reference, "lr")
    ids = _intersection(parties, job_id)
    assert len(ids) == 569 and ids == _intersection(reference, baseline)
    assert _auc(parties, job_id) == pytest.approx(_auc(reference, baseline), abs=1e-12)
    np.testing.assert_allclose(_weights(parties, job_id), _weights(reference, baseline), rtol=0, atol=1e-9)
    # the guest's tasks computed on the cluster: one Spark application per task that touched a table
    apps = {app["name"] for app in cluster.status()["completedapps"]}
    assert any(name.startswith(f"{job_id}_intersection_0") for name in apps), apps


def test_hetero_lr_normal_with_the_guest_on_spark_equals_standalone(mixed, reference, cluster):
    """reader -> data transform -> ECDH intersection -> hetero LR -> evaluation; the host standalone."""
    _assert_lr_equals_reference(mixed, _run(mixed, HETERO_LR_DSL, _lr_conf(ECDH)), reference, cluster)


def test_hetero_lr_normal_on_spark_equals_standalone_through_a_rabbitmq_restart(on_spark, reference, cluster):
    """Both parties on Spark; the broker's app stops and starts under hetero LR's iterations (durable queues,
    persistent messages): the job completes with the reference's results, nothing stays running, and the
    job's queues are gone."""
    if not shutil.which("rabbitmqctl"):
        pytest.fail("rabbitmqctl not found: cannot restart the broker")
    job_id = _submit_until_running(on_spark, HETERO_LR_DSL, _lr_conf(ECDH), "hetero_lr_0")
    _rabbitmqctl("stop_app")
    try:
        time.sleep(3)
    finally:
        _rabbitmqctl("start_app")
    final = on_spark[GUEST].wait_job(job_id, ENDED, 400)
    _ended_everywhere(job_id, *on_spark.values(), timeout=60)
    for server in on_spark.values():
        rows = server.post("/v1/job/task/query", {"job_id": job_id})["data"]
        assert all(row["f_status"] != "running" for row in rows), rows
    assert not any(queue_exists(q) for q in _job_queues(job_id, list(HETERO_LR_DSL["components"])))
    assert final["f_status"] == "success", _errors(on_spark, job_id)
    _assert_lr_equals_reference(on_spark, job_id, reference, cluster)


ROW_WORK_DSL = {"components": {
    **INTERSECT_DSL["components"],
    "feature_scale_0": {"module": "FeatureScale", "input": {"data": {"data": ["intersection_0.data"]}},
                        "output": {"data": ["data"], "model": ["model"]}},
    "statistics_0": {"module": "DataStatistics", "input": {"data": {"data": ["feature_scale_0.data"]}},
                     "output": {"data": ["data"], "model": ["model"]}},
    "column_expand_0": {"module": "ColumnExpand", "input": {"data": {"data": ["feature_scale_0.data"]}},
                        "output": {"data": ["data"], "model": ["model"]}},
}}


def _row_work_conf() -> dict:
    conf = _intersect_conf()
    conf["component_parameters"]["common"].update({
        "feature_scale_0": {"method": "standard_scale", "feat_upper": 3.0},
        "statistics_0": {"statistics": ["mean", "stddev", "median", "95%"]},
        "column_expand_0": {"append_header": ["constant"], "fill_value": [1.5], "method": "manual"}})
    return conf


def test_the_row_work_runs_on_the_cluster_and_equals_standalone(on_spark, reference, cluster):
    """Reader -> DataTransform -> intersection -> FeatureScale -> DataStatistics and ColumnExpand: the row work
    and statistics run in the cluster's executors (Table.map_batches / aggregate), with the standalone results."""
    job_id, baseline = _run(on_spark, ROW_WORK_DSL, _row_work_conf()), _run(reference, ROW_WORK_DSL, _row_work_conf())
    for role, party in (("guest", GUEST), ("host", HOST)):
        for component in ("feature_scale_0", "column_expand_0"):
            got = output_rows(on_spark[party], job_id, component, role, party)
            expected = output_rows(reference[party], baseline, component, role, party)
            assert len(got) == 569 and [r.keys() for r in got] == [r.keys() for r in expected]
            np.testing.assert_allclose([[float(v) for k, v in r.items() if k != "id"] for r in got],
                                       [[float(v) for k, v in r.items() if k != "id"] for r in expected], rtol=1e-12)
        statistics = summary(on_spark[party], job_id, "statistics_0", role, party)
        expected_statistics = summary(reference[party], baseline, "statistics_0", role, party)
        assert statistics.keys() == expected_statistics.keys() and statistics
        for column, values in statistics.items():
            for name, value in values.items():
                assert value == pytest.approx(expected_statistics[column][name], rel=1e-9, abs=1e-12), (column, name)
    apps = {app["name"] for app in cluster.status()["completedapps"]}
    for component in ("feature_scale_0", "statistics_0", "column_expand_0"):  # each task a Spark application
        assert any(name.startswith(f"{job_id}_{component}") for name in apps), (component, apps)


def _task_status(server: ServerProcess, job_id: str, component: str) -> str:
    rows = server.post("/v1/job/task/query", {"job_id": job_id, "component_name": component})["data"]
    return rows[0]["f_status"] if rows else ""


def _alive_workers(cluster: LocalSparkCluster) -> list:
    return [w for w in cluster.workers if w.process.poll() is None]


def _submit_until_running(parties: dict[str, ServerProcess], dsl: dict, conf: dict, component: str) -> str:
    answer = submit(parties[GUEST], dsl, conf)
    assert answer["retcode"] == 0, answer
    job_id = answer["jobId"]
    deadline = time.time() + 120
    while _task_status(parties[GUEST], job_id, component) != "running":
        assert time.time() < deadline, _errors(parties, job_id)
        time.sleep(0.2)
    return job_id


def _worker_hosting(cluster: LocalSparkCluster, app_name: str, timeout: float = 120):
    """The alive worker running an executor of the Spark application ``app_name`` (a task's), once it has one."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for worker in _alive_workers(cluster):
            with contextlib.suppress(requests.RequestException, ValueError):
                executors = requests.get(f"{worker.web_ui}/json/", timeout=2).json().get("executors") or []
                if any(e.get("appdesc", {}).get("name") == app_name for e in executors):
                    return worker
        time.sleep(0.1)
    raise AssertionError(f"no executor of {app_name} started within {timeout} s")


def test_a_worker_killed_under_a_task_is_replaced_by_spark_and_the_job_completes(on_spark, reference, cluster):
    cluster.start_worker(cores=8, memory="4g")  # a second machine
    job_id = _submit_until_running(on_spark, INTERSECT_DSL, _intersect_conf(), "data_transform_0")
    cluster.kill_worker(_worker_hosting(cluster, f"{job_id}_data_transform_0"))  # the guest task's executor
    assert on_spark[GUEST].wait_job(job_id, ENDED, 300)["f_status"] == "success", _errors(on_spark, job_id)
    assert _intersection(on_spark, job_id) == _intersection(reference, _reference_job(reference, "intersect"))


def test_a_worker_killed_under_a_task_fails_it_cleanly_and_the_cores_come_back(on_spark, cluster):
    guest, host = on_spark[GUEST], on_spark[HOST]
    job_id = _submit_until_running(on_spark, INTERSECT_DSL, _intersect_conf(), "data_transform_0")
    _worker_hosting(cluster, f"{job_id}_data_transform_0")
    for worker in _alive_workers(cluster):  # the cluster's last machine
        cluster.kill_worker(worker)
    try:
        final = guest.wait_job(job_id, ENDED, 180)
        assert final["f_status"] == "failed", _errors(on_spark, job_id)
        errors = [e for *_, status, e in _errors(on_spark, job_id) if status == "failed" and e]
        assert any("Spark" in e and "no executor" in e for e in errors), errors
        host.wait_job(job_id, ENDED, 60)
        for server in (guest, host):  # nothing runs any more, and every core is free again
            rows = server.post("/v1/job/task/query", {"job_id": job_id})["data"]
            assert all(row["f_status"] != "running" for row in rows), [(r["f_component_name"], r["f_status"])
                                                                        for r in rows]
            resource = server.post("/v1/resource/query", {"engine_name": "SPARK"})["data"]
            assert resource["computing_engine_resource"]["f_remaining_cores"] == 4, resource
    finally:
        cluster.start_worker(cores=8, memory="4g")

