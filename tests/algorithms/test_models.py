"""Models on a real standalone server: a training job saves each party's pipelined model, ``model/deploy``
makes a child version with the inference DSL, and a predict job on it scores the rows as the training job
did. Also what is refused (an unknown or undeployed model, a bad component list or predict DSL)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
import requests

from tests.algorithms.conftest import ARBITER, BREAST, GUEST, HOST, standalone_server
from tests.jobs import HETERO_LR_DSL, job_conf, output_rows, reader_params, run_job, submit
from tests.support import FlowCLI

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TRAIN_DSL = HETERO_LR_DSL
DEPLOYED = ["reader_0", "data_transform_0", "intersection_0", "hetero_lr_0", "evaluation_0"]
MODEL_ID = f"arbiter-{ARBITER}#guest-{GUEST}#host-{HOST}#model"


def _train_conf() -> dict:
    role = reader_params("breast_hetero_guest", ["breast_hetero_host"])
    role["guest"]["0"]["data_transform_0"] = {"with_label": True, "label_name": "y", "label_type": "int"}
    role["host"]["0"]["data_transform_0"] = {"with_label": False}
    params = {"hetero_lr_0": {"optimizer": "rmsprop", "learning_rate": 0.15, "max_iter": 3, "batch_size": -1,
                              "encrypt_param": {"key_length": 1024}},
              "evaluation_0": {"eval_type": "binary"}}
    return job_conf(GUEST, [HOST], ARBITER, params, role)


def _predict_conf(model_version: str) -> dict:
    """FATE's predict conf: the readers and the deployed model; the rest comes from the train conf."""
    return {"dsl_version": 2, "initiator": {"role": "guest", "party_id": int(GUEST)},
            "role": {"guest": [int(GUEST)], "host": [int(HOST)], "arbiter": [int(ARBITER)]},
            "job_parameters": {"common": {"job_type": "predict", "model_id": MODEL_ID,
                                          "model_version": model_version}},
            "component_parameters": {"role": reader_params("breast_hetero_guest", ["breast_hetero_host"])}}


@pytest.fixture(scope="module")
def trained(breast_server) -> str:
    job_id, status = run_job(breast_server, TRAIN_DSL, _train_conf())
    assert status == "success", job_id
    return job_id


def _deploy(server, model_version: str, **extra) -> dict:
    return server.post("/v1/model/deploy", {"model_id": MODEL_ID, "model_version": model_version, **extra})


def _scores(server, job_id: str) -> dict[str, tuple[float, str]]:
    return {row["id"]: (float(row["predict_score"]), row["predict_result"])
            for row in output_rows(server, job_id, "hetero_lr_0", "guest", GUEST)}


def test_every_party_saves_its_pipelined_model(breast_server, trained):
    answer = breast_server.post("/v1/model/query", {"model_id": MODEL_ID, "model_version": trained})
    assert answer["retcode"] == 0, answer
    rows = {(row["role"], row["party_id"]): row for row in answer["data"]}
    assert set(rows) == {("guest", GUEST), ("host", HOST), ("arbiter", ARBITER)}
    guest = rows[("guest", GUEST)]
    assert guest["parent"] is True and guest["job_id"] == trained and guest["train_dsl"] == TRAIN_DSL
    assert guest["train_runtime_conf"]["component_parameters"]["common"]["hetero_lr_0"]["max_iter"] == 3
    store = Path(breast_server.home) / "model_local_cache" / f"guest#{GUEST}#{MODEL_ID}" / trained
    pipeline = json.loads((store / "pipeline.json").read_text())
    assert pipeline["components"] == {"data_transform_0": {"module": "DataTransform", "aliases": ["model"]},
                                      "hetero_lr_0": {"module": "HeteroLR", "aliases": ["model"]}}
    manifest = json.loads((store / "variables" / "hetero_lr_0" / "model" / "manifest.json").read_text())
    assert manifest["module"] == "HeteroLR" and "param.json" in manifest["files"]
    assert guest["size"] == sum(p.stat().st_size for p in store.rglob("*") if p.is_file())
    assert not list(store.parent.glob(".tmp-*")), "a finished save leaves no temporary directory"


def test_a_deployed_model_predicts_the_training_scores(breast_server, trained):
    answer = _deploy(breast_server, trained, cpn_list=DEPLOYED)
    assert answer["retcode"] == 0, answer
    child = answer["data"]["model_version"]
    assert child != trained and answer["data"]["model_id"] == MODEL_ID
    assert answer["data"]["guest"] == {GUEST: 0} and answer["data"]["host"] == {HOST: 0}
    predict_dsl = breast_server.post("/v1/model/get/predict/dsl", {"model_id": MODEL_ID, "model_version": child})
    components = predict_dsl["data"]["components"]
    assert components["hetero_lr_0"]["input"] == {"data": {"test_data": ["intersection_0.data"]},
                                                  "model": ["pipeline.hetero_lr_0.model"]}
    assert components["data_transform_0"]["input"]["model"] == ["pipeline.data_transform_0.model"]
    child_row = breast_server.post("/v1/model/query", {"model_version": child, "role": "guest"})["data"][0]
    assert child_row["parent"] is False and child_row["parent_info"]["parent_model_version"] == trained

    job_id, status = run_job(breast_server, {"components": {}}, _predict_conf(child))
    assert status == "success", job_id
    predicted, train_scores = _scores(breast_server, job_id), _scores(breast_server, trained)
    assert len(predicted) == 569 and predicted.keys() == train_scores.keys()
    for sample_id, (score, result) in predicted.items():
        assert score == pytest.approx(train_scores[sample_id][0], abs=1e-9) and result == train_scores[sample_id][1]
    # FATE-Board's model view of the predict job's component: the deployed model it loaded
    def board_model(job: str) -> dict:
        return breast_server.post("/v1/tracking/component/output/model", {
            "job_id": job, "component_name": "hetero_lr_0", "role": "guest", "party_id": GUEST})
    dag = breast_server.post("/v1/pipeline/dag/dependency", {"job_id": job_id, "role": "guest", "party_id": GUEST})
    assert dag["retcode"] == 0 and "hetero_lr_0" in dag["data"]["component_list"], dag
    shown, original = board_model(job_id), board_model(trained)
    assert shown["data"] == original["data"] and shown["data"]["weights"], shown
    assert shown["meta"]["module_name"] == "HeteroLR" == original["meta"]["module_name"]


def test_a_predict_conf_template_names_the_readers_to_fill(breast_server, trained):
    child = _deploy(breast_server, trained, cpn_list=DEPLOYED)["data"]["model_version"]
    conf = breast_server.post("/v1/model/get/predict/conf", {"model_id": MODEL_ID, "model_version": child})["data"]
    assert conf["job_parameters"]["common"] == {"job_type": "predict", "model_id": MODEL_ID, "model_version": child}
    assert conf["component_parameters"]["role"]["guest"]["0"]["reader_0"]["table"]["name"] == "name_to_be_filled_0"
    assert "arbiter" not in conf["component_parameters"]["role"]


def test_what_deploy_and_predict_refuse(breast_server, trained):
    unknown = _deploy(breast_server, "20000101000000000000")
    assert unknown["retcode"] == 404 and "not on this server" in unknown["retmsg"]
    bad_component = _deploy(breast_server, trained, cpn_list=["reader_0", "no_such_0"])
    assert bad_component["retcode"] == 103 and "cpn_list" in bad_component["retmsg"], bad_component
    foreign_model = {"components": {"lr": {"module": "HeteroLR", "input": {"model": ["pipeline.lr_9.model"]}}}}
    refused = _deploy(breast_server, trained, predict_dsl=foreign_model)
    assert refused["retcode"] == 103 and "pipeline.lr_9.model" in refused["retmsg"], refused
    # a predict job needs a deployed version: the trained one is refused, and so is one that does not exist
    not_deployed = submit(breast_server, {"components": {}}, _predict_conf(trained))
    assert not_deployed["retcode"] != 0 and "has not been deployed" in not_deployed["retmsg"], not_deployed
    missing = submit(breast_server, {"components": {}}, _predict_conf("20000101000000000000"))
    assert missing["retcode"] != 0 and "not on this server" in missing["retmsg"], missing
    no_version = _predict_conf(trained)
    del no_version["job_parameters"]["common"]["model_version"]
    answer = submit(breast_server, {"components": {}}, no_version)
    assert answer["retcode"] == 103 and "model_version" in answer["retmsg"], answer


def _deployed(server, trained: str) -> str:
    answer = _deploy(server, trained, cpn_list=DEPLOYED)
    assert answer["retcode"] == 0, answer
    return answer["data"]["model_version"]


PARTIES = (("guest", GUEST), ("host", HOST), ("arbiter", ARBITER))


def test_an_exported_model_predicts_the_same_on_a_fresh_server(breast_server, trained, tmp_path_factory):
    """``flow model export`` of every party's deployed version, ``flow model import`` on a fresh server, a predict
    job there: the scores of the original's predict job."""
    child = _deployed(breast_server, trained)
    original, status = run_job(breast_server, {"components": {}}, _predict_conf(child))
    assert status == "success", original
    fresh = standalone_server(tmp_path_factory.mktemp("fresh") / "party", BREAST)
    try:
        flow, out = FlowCLI(), tmp_path_factory.mktemp("archives")
        archives = {}
        flow.init(breast_server)
        for role, party in PARTIES:
            conf = out / f"export_{role}.json"
            conf.write_text(json.dumps({"role": role, "party_id": int(party), "model_id": MODEL_ID,
                                        "model_version": child, "output_path": str(out)}))
            answer = flow.run("model", "export", "-c", str(conf))
            assert answer["retcode"] == 0, answer
            archives[role] = Path(answer["file"])
            assert archives[role].name == f"{role}#{party}#{MODEL_ID}_{child}.zip"
        flow.init(fresh)
        for role, party in PARTIES:
            conf = out / f"import_{role}.json"
            conf.write_text(json.dumps({"role": role, "party_id": int(party), "model_id": MODEL_ID,
                                        "model_version": child, "file": str(archives[role])}))
            answer = flow.run("model", "import", "-c", str(conf))
            assert answer["retcode"] == 0, answer
        again = flow.run("model", "import", "-c", str(out / "import_guest.json"))
        assert again["retcode"] != 0 and "force_update" in again["retmsg"], again
        rows = fresh.post("/v1/model/query", {"model_version": child, "role": "guest"})["data"]
        assert rows[0]["imported"] == 1 and rows[0]["parent"] is False
        imported, status = run_job(fresh, {"components": {}}, _predict_conf(child))
        assert status == "success", imported
        assert _scores(fresh, imported) == _scores(breast_server, original)
    finally:
        fresh.stop()


def _store_files(server) -> dict[str, str]:
    root = Path(server.home) / "model_local_cache"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_hostile_archives_are_refused_and_the_store_is_unchanged(breast_server, trained, tmp_path):
    exported = requests.get(f"{breast_server.url}/v1/model/export", json={
        "role": "guest", "party_id": GUEST, "model_id": MODEL_ID, "model_version": trained}, timeout=30)
    assert exported.status_code == 200 and "filename=" in exported.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(exported.content)) as z:
        entries = {info.filename: z.read(info) for info in z.infolist()}
    before = _store_files(breast_server)

    def archive(extra: dict[str, bytes]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            for name, data in {**entries, **extra}.items():
                z.writestr(name, data)
        return buffer.getvalue()

    def post(content: bytes, **fields) -> dict:
        return requests.post(f"{breast_server.url}/v1/model/import", files={"file": ("m.zip", content)},
                             data={"force_update": 1, **fields}, timeout=30).json()

    traversal = post(archive({"../../../escaped.json": b"{}"}))
    assert traversal["retcode"] == 101 and "not part of a model archive" in traversal["retmsg"], traversal
    assert not (Path(breast_server.home).parent / "escaped.json").exists()
    pipeline = json.loads(entries["pipeline.json"])
    altered = archive({"pipeline.json": json.dumps({**pipeline, "model_version": "x/../../y"}).encode()})
    answer = post(altered)
    assert answer["retcode"] == 101 and "model_version" in answer["retmsg"], answer
    mismatch = post(exported.content, role="host")
    assert mismatch["retcode"] == 101 and "does not match the archive" in mismatch["retmsg"], mismatch
    assert post(b"not a zip at all")["retcode"] == 101
    outside = requests.post(f"{breast_server.url}/v1/model/import", json={"file": "/etc/passwd"}, timeout=30).json()
    assert outside["retcode"] == 101 and "file /etc/passwd is not in a directory" in outside["retmsg"], outside
    assert _store_files(breast_server) == before
    # the same archive, replaced whole with force_update: the store's files are what they were
    assert post(exported.content)["retcode"] == 0
    assert _store_files(breast_server) == before
    # and from a file on the server, inside the directories it reads from (its home here)
    on_server = Path(breast_server.home) / "imports" / "guest.zip"
    on_server.parent.mkdir(exist_ok=True)
    on_server.write_bytes(exported.content)
    answer = requests.post(f"{breast_server.url}/v1/model/import", json={"file": str(on_server),
                                                                          "force_update": True}, timeout=30).json()
    assert answer["retcode"] == 0 and answer["data"]["model_version"] == trained, answer
    assert _store_files(breast_server) == before


def test_a_migrated_model_predicts_with_the_new_parties(breast_server, trained):
    child = _deployed(breast_server, trained)
    original, status = run_job(breast_server, {"components": {}}, _predict_conf(child))
    assert status == "success", original
    old = {"guest": [int(GUEST)], "host": [int(HOST)], "arbiter": [int(ARBITER)]}
    new = {"guest": [99], "host": [100], "arbiter": [100]}
    answer = breast_server.post("/v1/model/migrate", {
        "model_id": MODEL_ID, "model_version": child, "role": old, "migrate_role": new, "execute_party": old,
        "migrate_initiator": {"role": "guest", "party_id": 99}, "unify_model_version": f"{child}_migrated"})
    assert answer["retcode"] == 0, answer
    assert answer["data"]["model_id"] == "arbiter-100#guest-99#host-100#model"
    assert answer["data"]["guest"] == {GUEST: 0} and answer["data"]["host"] == {HOST: 0}
    rows = breast_server.post("/v1/model/query", {"model_version": f"{child}_migrated"})["data"]
    assert sorted((r["role"], r["party_id"]) for r in rows) == [("arbiter", "100"), ("guest", "99"), ("host", "100")]
    guest = next(r for r in rows if r["role"] == "guest")
    assert guest["roles"] == new and guest["train_runtime_conf"]["role"] == new
    assert guest["initiator_party_id"] == "99" and guest["parent_info"]["migrated_from"]["party_id"] == GUEST
    conf = _predict_conf(f"{child}_migrated")
    conf["initiator"]["party_id"], conf["role"] = 99, new
    conf["job_parameters"]["common"]["model_id"] = answer["data"]["model_id"]
    migrated, status = run_job(breast_server, {"components": {}}, conf)
    assert status == "success", migrated
    assert {row["id"]: float(row["predict_score"]) for row in output_rows(breast_server, migrated, "hetero_lr_0",
                                                                          "guest", "99")} == \
        {sample: score for sample, (score, _) in _scores(breast_server, original).items()}
    bad = breast_server.post("/v1/model/migrate", {
        "model_id": MODEL_ID, "model_version": child, "role": old, "migrate_role": {"guest": [99]},
        "execute_party": old, "migrate_initiator": {"role": "guest", "party_id": 99}})
    assert bad["retcode"] == 101 and "migrate_role" in bad["retmsg"], bad


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "hetero_lr"


def test_the_shipped_predict_example_runs(breast_server, trained):
    """README's steps: deploy with the example's predict DSL (as ``flow model deploy --dsl-path`` sends it), put
    the version it returns into the example's predict conf, submit."""
    dsl_text = (EXAMPLE / "hetero_lr_predict_dsl.json").read_text()
    answer = _deploy(breast_server, trained, dsl=dsl_text, components_checkpoint={})
    assert answer["retcode"] == 0, answer
    conf = json.loads((EXAMPLE / "hetero_lr_predict_conf.json").read_text())
    assert conf["job_parameters"]["common"]["model_id"] == MODEL_ID
    conf["job_parameters"]["common"]["model_version"] = answer["data"]["model_version"]
    job_id, status = run_job(breast_server, json.loads(dsl_text), conf)
    assert status == "success", job_id
    assert len(_scores(breast_server, job_id)) == 569
