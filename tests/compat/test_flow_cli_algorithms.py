"""FATE 1.11.2's algorithm examples, unchanged but for table names and party ids, submitted with the real
``flow`` CLI (fate-client 1.11.3) to one standalone server and to separate servers (guest 9999, host and
arbiter 10000), hetero_lr_normal deployed and predicting there, and ``flow test min --no-sbt`` as a whole
(train, deploy, predict). Slow: behind the ``testsuite`` marker."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.jobs import FATE_DATA, output_rows, summary
from tests.support import FATE_CLIENT_VENV, FlowCLI, ServerProcess, database_env, start_parties
from tests.testsuites.suite import rewrite_parties

pytestmark = [pytest.mark.compat, pytest.mark.testsuite]

EXAMPLES = Path(__file__).resolve().parent.parent / "data" / "dsl-v2"
GUEST, HOST = "9999", "10000"
PARTIES = {"guest": [9999], "host": [10000, 9999], "arbiter": [10000]}
TABLES = {  # table -> (file, party that holds it)
    "breast_hetero_guest": ("breast_hetero_guest.csv", GUEST),
    "breast_hetero_host": ("breast_hetero_host.csv", HOST),
    "breast_homo_guest": ("breast_homo_guest.csv", GUEST),
    "breast_homo_host": ("breast_homo_host.csv", HOST),
    "motor_hetero_guest": ("motor_hetero_guest.csv", GUEST),
    "motor_hetero_host": ("motor_hetero_host.csv", HOST),
}
# (folder, dsl, conf) of each example, and what it must show
EXAMPLES_RUN = {
    "hetero_lr_normal": ("hetero_logistic_regression", "hetero_lr_normal_dsl.json", "hetero_lr_normal_conf.json"),
    "hetero_lr_cv": ("hetero_logistic_regression", "hetero_lr_cv_dsl.json", "hetero_lr_cv_conf.json"),
    "hetero_lr_multi_host": ("hetero_logistic_regression", "hetero_lr_multi_host_dsl.json",
                             "hetero_lr_multi_host_conf.json"),
    "intersect_rsa": ("intersect", "test_intersect_job_dsl.json", "test_intersect_job_rsa_conf.json"),
    "intersect_ecdh": ("intersect", "test_intersect_job_dsl.json", "test_intersect_job_ecdh_conf.json"),
    "homo_lr_train": ("homo_logistic_regression", "homo_lr_train_dsl.json", "homo_lr_train_conf.json"),
    # FATE has no raw example conf: the rsa one with intersect_method raw (FATE 1.11 runs raw as ecdh)
    "intersect_raw": ("intersect", "test_intersect_job_dsl.json", "test_intersect_job_rsa_conf.json"),
    # (FATE's feature_scale examples put HeteroFeatureBinning in front: they come with the binning issue)
    "data_split": ("data_split", "test_hetero_data_split_job_dsl.json", "test_hetero_data_split_job_conf.json"),
}


def _upload(flow: FlowCLI, tmp_path: Path, table: str) -> None:
    file_name, _ = TABLES[table]
    conf = tmp_path / f"upload_{table}.json"
    conf.write_text(json.dumps({"file": str(FATE_DATA / file_name), "head": 1, "partition": 4,
                                "namespace": "experiment", "table_name": table}))
    answer = flow.run("data", "upload", "-c", str(conf), "--drop")
    assert answer["retcode"] == 0, answer


def _submit(flow: FlowCLI, tmp_path: Path, name: str) -> str:
    folder, dsl, conf = EXAMPLES_RUN[name]
    runtime = rewrite_parties(json.loads((EXAMPLES / folder / conf).read_text()), PARTIES)
    if name == "intersect_raw":
        runtime["component_parameters"]["common"]["intersect_0"]["intersect_method"] = "raw"
    conf_path = tmp_path / f"{name}_conf.json"
    conf_path.write_text(json.dumps(runtime))
    answer = flow.run("job", "submit", "-c", str(conf_path), "-d", str(EXAMPLES / folder / dsl))
    assert answer["retcode"] == 0, answer
    return answer["jobId"]


def _wait(server: ServerProcess, job_id: str) -> str:
    return server.wait_job(job_id, timeout=900)["f_status"]


def _check(server: ServerProcess, name: str, job_id: str) -> None:
    if name in ("hetero_lr_normal", "homo_lr_train"):
        component = "hetero_lr_0" if name == "hetero_lr_normal" else "homo_lr_0"
        rows = output_rows(server, job_id, component, "guest", int(GUEST))
        auc = roc_auc_score([int(float(r["label"])) for r in rows], [float(r["predict_score"]) for r in rows])
        assert auc >= 0.98, (name, auc)
        evaluated = summary(server, job_id, "evaluation_0", "guest", int(GUEST))
        assert next(iter(evaluated.values()))["train"]["auc"] == pytest.approx(auc, abs=1e-4)
    elif name.startswith("intersect"):
        assert summary(server, job_id, "intersect_0", "guest", int(GUEST))["intersect_num"] == 569


def _deploy_and_predict(flow: FlowCLI, server: ServerProcess, tmp_path: Path, train_job: str) -> None:
    """``flow model deploy`` of a hetero_lr_normal job, then FATE's predict example (with ``job_type: predict``,
    which the shipped conf lacks) submitted with ``flow job submit``: the guest's scores equal the training
    job's for every row."""
    folder = EXAMPLES / "hetero_logistic_regression"
    model_id = f"arbiter-{HOST}#guest-{GUEST}#host-{HOST}#model"
    deployed = flow.run("model", "deploy", "--model-id", model_id, "--model-version", train_job, "--cpn-list",
                        "reader_0, data_transform_0, intersection_0, hetero_lr_0, evaluation_0")
    assert deployed["retcode"] == 0, deployed
    child = deployed["data"]["model_version"]
    conf = json.loads((folder / "hetero_lr_normal_predict_conf.json").read_text())
    conf["job_parameters"]["common"].update({"job_type": "predict", "model_id": model_id, "model_version": child})
    conf_path = tmp_path / f"predict_{child}.json"
    conf_path.write_text(json.dumps(conf))
    answer = flow.run("job", "submit", "-c", str(conf_path), "-d", str(folder / "hetero_lr_normal_predict_dsl.json"))
    assert answer["retcode"] == 0, answer
    assert _wait(server, answer["jobId"]) == "success", answer["jobId"]

    def scores(job_id: str) -> dict[str, float]:
        return {r["id"]: float(r["predict_score"]) for r in output_rows(server, job_id, "hetero_lr_0", "guest", GUEST)}
    predicted, trained = scores(answer["jobId"]), scores(train_job)
    assert len(predicted) == 569 and predicted == pytest.approx(trained, abs=1e-9)


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("cli-algorithms") / "party"
    server = ServerProcess(home, {**database_env("sqlite"), "FATE_FLOW_PARTY_ID": GUEST}).start()
    flow = FlowCLI()
    flow.init(server)
    for table in TABLES:
        _upload(flow, home.parent, table)
    yield server, flow, home.parent
    server.stop()


@pytest.mark.parametrize("name", list(EXAMPLES_RUN))
def test_example_on_one_standalone_server(standalone, name: str):
    server, flow, tmp_path = standalone
    job_id = _submit(flow, tmp_path, name)
    assert _wait(server, job_id) == "success", job_id
    _check(server, name, job_id)
    if name == "hetero_lr_normal":
        _deploy_and_predict(flow, server, tmp_path, job_id)


def test_examples_on_separate_servers(server_factory, tmp_path: Path):
    parties = start_parties(server_factory, [GUEST, HOST], protocol="grpc")
    flows = {}
    for party, server in parties.items():
        flows[party] = FlowCLI()
        flows[party].init(server)
        for table, (_, holder) in TABLES.items():
            if holder == party:
                _upload(flows[party], tmp_path, table)
    # the host lets the guest's jobs read its tables (as `flow privilege grant` does)
    grant = {"party_id": int(GUEST), "dataset": [{"namespace": "experiment", "name": t}
                                                   for t, (_, holder) in TABLES.items() if holder == HOST]}
    assert parties[HOST].post("/v1/permission/grant", grant)["retcode"] == 0
    for name in ("hetero_lr_normal", "intersect_ecdh", "homo_lr_train"):
        job_id = _submit(flows[GUEST], tmp_path, name)
        assert _wait(parties[GUEST], job_id) == "success", (name, job_id)
        assert parties[HOST].wait_job(job_id, timeout=60)["f_status"] == "success"
        _check(parties[GUEST], name, job_id)
        if name == "hetero_lr_normal":
            _deploy_and_predict(flows[GUEST], parties[GUEST], tmp_path, job_id)


def test_flow_test_min_as_a_whole(standalone):
    """``flow test min -gid 9999 -hid 10000 -aid 10000 --no-sbt``: its hetero LR pipeline trains (AUC read from
    the summary), then the pipeline SDK deploys it (``deploy_component``) and predicts with it; the command
    fails on any error, so its exit status says the whole ran."""
    import subprocess

    server, flow, tmp_path = standalone
    # `flow test min` drives the pipeline SDK, which reads its own server address (`pipeline init`)
    init = subprocess.run([str(FATE_CLIENT_VENV / "bin" / "pipeline"), "init", "--ip", "127.0.0.1", "--port",
                           str(server.http_port)], capture_output=True, text=True, timeout=60)
    assert "succeeded" in init.stdout, init
    completed = subprocess.run([str(flow.flow), "test", "min", "-gid", GUEST, "-hid", HOST, "-aid", HOST, "--no-sbt"],
                               capture_output=True, text=True, cwd=tmp_path, timeout=1200, env=flow.env)
    assert completed.returncode == 0, completed.stdout + completed.stderr[-3000:]
    assert "lower than expect" not in completed.stdout
    jobs = [j for j in server.post("/v1/job/list/job", {})["data"]["jobs"] if j["role"] == "guest"]
    trained = [summary(server, j["job_id"], "hetero_lr_0", "guest", int(GUEST)) for j in jobs
               if j["status"] == "success"]
    trained = [found for found in trained if "validation_metrics" in found]
    assert trained, completed.stdout + completed.stderr
    auc = trained[0]["validation_metrics"]
    assert np.isfinite(auc["train"]["auc"][-1]) and auc["train"]["auc"][-1] >= 0.98
    # the predict job ran on the deployed model: a predict job succeeded with LR scores at the guest
    predicted = [j for j in jobs if j["status"] == "success"
                 and (server.post("/v1/job/config", {"job_id": j["job_id"], "role": "guest", "party_id": GUEST})
                      ["data"]["runtime_conf"]["job_parameters"]["common"].get("job_type") == "predict")]
    assert predicted, jobs
    rows = output_rows(server, predicted[0]["job_id"], "hetero_lr_0", "guest", int(GUEST))
    assert len(rows) == 569 and all(0.0 <= float(r["predict_score"]) <= 1.0 for r in rows)
