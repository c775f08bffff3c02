"""The pipeline SDK of fate-client 1.11.3 trains hetero LR, deploys it (``deploy_component``) and predicts with
it (``predict``) on three servers: guest 9999, host 10000 and arbiter 10001, each its own party, signing its
calls. The predict job's scores equal the training job's for every row, and every party holds its model."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.compat.test_pipeline_sdk import run_script
from tests.jobs import FATE_DATA, output_rows, upload
from tests.support import FATE_CLIENT_VENV, FlowCLI, start_parties

pytestmark = [pytest.mark.compat, pytest.mark.xdist_group("pipeline-config")]  # `pipeline init` writes the package

GUEST, HOST, ARBITER = "9999", "10000", "10001"

SCRIPT = f'''
    from pipeline.component import DataTransform, Evaluation, HeteroLR, Intersection

    guest, host, arbiter = {GUEST}, {HOST}, {ARBITER}
    tables = {{"guest": {{"name": "breast_hetero_guest", "namespace": "experiment"}},
              "host": {{"name": "breast_hetero_host", "namespace": "experiment"}}}}
    train = PipeLine().set_initiator(role="guest", party_id=guest).set_roles(guest=guest, host=host, arbiter=arbiter)
    reader_0 = Reader(name="reader_0")
    reader_0.get_party_instance(role="guest", party_id=guest).component_param(table=tables["guest"])
    reader_0.get_party_instance(role="host", party_id=host).component_param(table=tables["host"])
    data_transform_0 = DataTransform(name="data_transform_0")
    data_transform_0.get_party_instance(role="guest", party_id=guest).component_param(with_label=True)
    data_transform_0.get_party_instance(role="host", party_id=host).component_param(with_label=False)
    intersection_0 = Intersection(name="intersection_0")
    hetero_lr_0 = HeteroLR(name="hetero_lr_0", optimizer="rmsprop", learning_rate=0.15, max_iter=3, batch_size=-1,
                           encrypt_param={{"key_length": 1024}})
    evaluation_0 = Evaluation(name="evaluation_0", eval_type="binary")
    train.add_component(reader_0)
    train.add_component(data_transform_0, data=Data(data=reader_0.output.data))
    train.add_component(intersection_0, data=Data(data=data_transform_0.output.data))
    train.add_component(hetero_lr_0, data=Data(train_data=intersection_0.output.data))
    train.add_component(evaluation_0, data=Data(data=hetero_lr_0.output.data))
    train.compile()
    train.fit()
    train.deploy_component([data_transform_0, intersection_0, hetero_lr_0])

    predict = PipeLine()
    reader_1 = Reader(name="reader_1")
    reader_1.get_party_instance(role="guest", party_id=guest).component_param(table=tables["guest"])
    reader_1.get_party_instance(role="host", party_id=host).component_param(table=tables["host"])
    predict.add_component(reader_1)
    predict.add_component(train, data=Data(predict_input={{train.data_transform_0.input.data: reader_1.output.data}}))
    predict.predict()
    report(train_job=train.get_train_job_id(), predict_job=predict.get_predict_job_id(),
           model=train.get_predict_model_info().__dict__)
'''


def test_fit_deploy_and_predict_on_three_servers(server_factory, tmp_path: Path):
    FlowCLI()  # skips (or fails in CI) without fate-client
    parties = start_parties(server_factory, [GUEST, HOST, ARBITER])
    upload(parties[GUEST], FATE_DATA / "breast_hetero_guest.csv", "breast_hetero_guest")
    upload(parties[HOST], FATE_DATA / "breast_hetero_host.csv", "breast_hetero_host")
    grant = {"party_id": int(GUEST), "dataset": [{"namespace": "experiment", "name": "breast_hetero_host"}]}
    assert parties[HOST].post("/v1/permission/grant", grant)["retcode"] == 0
    init = subprocess.run([str(FATE_CLIENT_VENV / "bin" / "pipeline"), "init", "--ip", "127.0.0.1", "--port",
                           str(parties[GUEST].http_port)], capture_output=True, text=True, timeout=60)
    assert "succeeded" in init.stdout, init
    completed, result = run_script(tmp_path, SCRIPT, timeout=600)
    assert result, completed.stdout[-3000:] + completed.stderr[-3000:]
    train_job, predict_job = result["train_job"], result["predict_job"]
    for party, server in parties.items():
        assert server.wait_job(predict_job, timeout=60)["f_status"] == "success", party
        deployed = server.post("/v1/model/query", {"model_version": result["model"]["model_version"]})["data"]
        assert [(row["party_id"], row["parent"]) for row in deployed] == [(party, False)]

    def scores(job_id: str) -> dict[str, float]:
        return {r["id"]: float(r["predict_score"])
                for r in output_rows(parties[GUEST], job_id, "hetero_lr_0", "guest", GUEST)}
    predicted = scores(predict_job)
    assert len(predicted) == 569 and predicted == pytest.approx(scores(train_job), abs=1e-9)
