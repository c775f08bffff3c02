"""HeteroSecureBoost on a real standalone server (guest 9999, host 10000): the shipped example trains, its first
tree equals the tree the same algorithm grows on the joined data in the clear (same features, same thresholds,
whichever party holds them), its AUC is scikit-learn's gradient boosting's; deployed, it predicts the training
scores; the host's model holds the host's thresholds and the guest's does not; bad parameters are refused at
submit naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from fate_flow.ml.tree import Criterion, Objective
from tests.algorithms.conftest import GUEST, HOST
from tests.algorithms.test_hetero_lr import _joined
from tests.jobs import component_call, output_rows, run_job, submit, summary
from tests.testsuites.suite import rewrite_parties
from tests.unit.test_hetero_sbt import _plain_tree

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "hetero_secureboost"
SBT = "hetero_secure_boost_0"
MODEL_ID = f"guest-{GUEST}#host-{HOST}#model"


def _example() -> tuple[dict, dict]:
    return (json.loads((EXAMPLE / "hetero_secureboost_dsl.json").read_text()),
            json.loads((EXAMPLE / "hetero_secureboost_conf.json").read_text()))


def _model(server, job_id: str, role: str, party_id: str) -> dict:
    return component_call(server, "output/model", job_id, SBT, role, party_id)["data"]


def _scores(server, job_id: str, kind: str) -> dict[str, float]:
    return {r["id"]: float(r["predict_score"]) for r in output_rows(server, job_id, SBT, "guest", GUEST)
            if r["type"] == kind}


@pytest.fixture(scope="module")
def trained(breast_server) -> str:
    dsl, conf = _example()
    job_id, status = run_job(breast_server, dsl, conf, timeout=600)
    assert status == "success", job_id
    return job_id


def _param(model: dict) -> dict:
    """The model's param, however the output/model answer nests it."""
    for key in ("HeteroSecureBoostingTreeGuestParam", "HeteroSecureBoostingTreeHostParam"):
        if key in model:
            return model[key]
    return model.get("model", {}).get("param", model)


def test_the_example_learns_as_well_as_plain_gradient_boosting(breast_server, trained):
    rows = [r for r in output_rows(breast_server, trained, SBT, "guest", GUEST) if r["type"] == "train"]
    labels = np.array([int(float(r["label"])) for r in rows])
    auc = roc_auc_score(labels, [float(r["predict_score"]) for r in rows])
    ids, y, xg, xh = _joined("breast_hetero_guest.csv", "breast_hetero_host.csv")
    plain = GradientBoostingClassifier(n_estimators=5, max_depth=3, learning_rate=0.3, random_state=0)
    plain.fit(np.hstack([xg, xh]), y)
    plain_auc = roc_auc_score(y, plain.predict_proba(np.hstack([xg, xh]))[:, 1])
    assert auc >= 0.99 and auc >= plain_auc - 0.01, (auc, plain_auc)
    evaluated = summary(breast_server, trained, "evaluation_0", "guest", GUEST)
    assert next(iter(evaluated.values()))["train"]["auc"] == pytest.approx(auc, abs=1e-4)
    found = summary(breast_server, trained, SBT, "guest", GUEST)
    assert len(found["loss_history"]) == 5 and found["loss_history"] == sorted(found["loss_history"], reverse=True)
    assert len(found["validation_metrics"]["train"]["auc"]) == 5
    assert any(name.startswith(f"host_{HOST}_x") for name in found["feature_importance"])


def test_the_first_tree_equals_the_plain_tree_on_joined_data(breast_server, trained):
    guest, host = (_param(_model(breast_server, trained, role, party))
                   for role, party in (("guest", GUEST), ("host", HOST)))
    _, y, xg, xh = _joined("breast_hetero_guest.csv", "breast_hetero_host.csv")
    g, h = Objective("cross_entropy").grad_hess(y, np.zeros((len(y), 1)))
    expected = _plain_tree(np.hstack([xg, xh]), g[:, 0], h[:, 0], Criterion(), 3)
    guest_tree, host_tree = guest["trees_"][0], host["trees_"][0]
    found = []
    for node in guest_tree["tree_"]:
        if node["is_leaf"]:
            continue
        nid = str(node["id"])
        if node["sitename"] == f"guest:{GUEST}":
            found.append((node["id"], node["fid"], guest_tree["split_maskdict"][nid]))
            assert nid not in host_tree["split_maskdict"]
        else:
            assert node["sitename"] == f"host:{HOST}" and node["fid"] == -1 and nid not in guest_tree["split_maskdict"]
            host_node = next(n for n in host_tree["tree_"] if n["id"] == node["id"])
            found.append((node["id"], xg.shape[1] + host_node["fid"], host_tree["split_maskdict"][nid]))
    assert [(a, b, pytest.approx(c)) for a, b, c in expected] == found
    # the host's copy has no weights; the guest's leaves have them
    assert all(n["weight"] == 0 for n in host_tree["tree_"])
    assert any(n["weight"] != 0 for n in guest_tree["tree_"] if n["is_leaf"])


def test_the_shipped_predict_example_gives_the_training_scores(breast_server, trained):
    predict_dsl = (EXAMPLE / "hetero_secureboost_predict_dsl.json").read_text()
    answer = breast_server.post("/v1/model/deploy", {"model_id": MODEL_ID, "model_version": trained,
                                                     "dsl": predict_dsl})
    assert answer["retcode"] == 0, answer
    conf = json.loads((EXAMPLE / "hetero_secureboost_predict_conf.json").read_text())
    assert conf["job_parameters"]["common"]["model_id"] == MODEL_ID
    conf["job_parameters"]["common"]["model_version"] = answer["data"]["model_version"]
    job_id, status = run_job(breast_server, json.loads(predict_dsl), conf)
    assert status == "success", job_id
    predicted, scores = _scores(breast_server, job_id, "predict"), _scores(breast_server, trained, "train")
    assert len(predicted) == 569 and predicted == pytest.approx(scores, abs=1e-12)


@pytest.mark.parametrize(("params", "field"), [
    ({"task_type": "regression"}, "objective_param"),
    ({"objective_param": {"objective": "lse"}}, "objective_param"),
    ({"tree_param": {"max_depth": 0}}, "tree_param.max_depth"),
    ({"tree_param": {"criterion_params": [-1, 0]}}, "tree_param.criterion_params"),
    ({"bin_num": 1}, "bin_num"),
    ({"subsample_feature_rate": 1.5}, "subsample_feature_rate"),
    ({"encrypt_param": {"method": None}}, "encrypt_param"),
    ({"run_goss": True, "top_rate": 0.6, "other_rate": 0.5}, "top_rate + other_rate"),
    ({"run_goss": True, "other_rate": 0}, "other_rate"),
])
def test_bad_parameters_are_refused_at_submit(breast_server, params, field):
    dsl, conf = _example()
    conf["component_parameters"]["common"][SBT] = params
    answer = submit(breast_server, dsl, conf)
    assert answer["retcode"] == 103 and field in answer["retmsg"], answer


def test_eini_inference_gives_the_training_scores(breast_server, trained):
    """FATE's EINI predict (the guest never learns which leaf a host's splits send a sample to): the same
    scores as the training job's, from encrypted leaf contributions the host sums."""
    predict_dsl = (EXAMPLE / "hetero_secureboost_predict_dsl.json").read_text()
    answer = breast_server.post("/v1/model/deploy", {"model_id": MODEL_ID, "model_version": trained,
                                                     "dsl": predict_dsl})
    assert answer["retcode"] == 0, answer
    conf = json.loads((EXAMPLE / "hetero_secureboost_predict_conf.json").read_text())
    conf["job_parameters"]["common"]["model_version"] = answer["data"]["model_version"]
    conf["component_parameters"]["common"] = {SBT: {"EINI_inference": True, "encrypt_param": {"key_length": 1024}}}
    job_id, status = run_job(breast_server, json.loads(predict_dsl), conf)
    assert status == "success", job_id
    predicted, scores = _scores(breast_server, job_id, "predict"), _scores(breast_server, trained, "train")
    assert len(predicted) == 569 and predicted == pytest.approx(scores, abs=1e-9)


def test_fates_mix_example_takes_turns_between_guest_and_host_trees(breast_server):
    """FATE's mix-mode example (test_secureboost_train_mix_mode_binary_conf.json, party ids rewritten): rounds
    alternate guest-only and host-only trees, the model says so as FATE's does (``tree_plan``), it learns, and
    its prediction walk (the validate data: the same table) gives the training scores."""
    folder = Path(__file__).resolve().parents[1] / "data" / "dsl-v2" / "hetero_secureboost"
    dsl = json.loads((folder / "test_secureboost_train_dsl.json").read_text())
    conf = rewrite_parties(json.loads((folder / "test_secureboost_train_mix_mode_binary_conf.json").read_text()),
                           {"guest": [int(GUEST)], "host": [int(HOST)], "arbiter": [int(HOST)]})
    conf["component_parameters"]["common"][SBT]["encrypt_param"]["key_length"] = 1024
    job_id, status = run_job(breast_server, dsl, conf, timeout=600)
    assert status == "success", job_id
    param = _param(_model(breast_server, job_id, "guest", GUEST))
    assert param["model_name"] == "hetero_fast_sbt_mix"
    assert param["tree_plan"] == ["0_-1", f"1_{HOST}", "0_-1"]
    sites = [{n["sitename"] for n in tree["tree_"] if not n["is_leaf"]} for tree in param["trees_"]]
    assert sites[0] == sites[2] == {f"guest:{GUEST}"} and sites[1] == {f"host:{HOST}"}
    rows = [r for r in output_rows(breast_server, job_id, SBT, "guest", GUEST) if r["type"] == "train"]
    auc = roc_auc_score([int(float(r["label"])) for r in rows], [float(r["predict_score"]) for r in rows])
    assert auc > 0.98, auc
    host_param = _param(_model(breast_server, job_id, "host", HOST))
    host_sites = [{n["sitename"] for n in tree["tree_"] if not n["is_leaf"]} for tree in host_param["trees_"]]
    assert host_sites == sites  # the host holds the thresholds of its own tree
    validated = _scores(breast_server, job_id, "validate")
    assert len(validated) == 569 and validated == pytest.approx(_scores(breast_server, job_id, "train"), abs=1e-12)


def test_goss_trains_on_a_sample_and_routes_every_row(breast_server):
    """``run_goss`` (FATE's binary example with GOSS on): every tree is grown on 30 % of the rows, yet every
    row is scored (the validate data, the same table walked down the model, gives the training scores), the
    loss falls and the model learns."""
    folder = Path(__file__).resolve().parents[1] / "data" / "dsl-v2" / "hetero_secureboost"
    dsl = json.loads((folder / "test_secureboost_train_dsl.json").read_text())
    conf = rewrite_parties(json.loads((folder / "test_secureboost_train_binary_conf.json").read_text()),
                           {"guest": [int(GUEST)], "host": [int(HOST)], "arbiter": [int(HOST)]})
    conf["component_parameters"]["common"][SBT].update(
        {"run_goss": True, "top_rate": 0.2, "other_rate": 0.1, "num_trees": 5,
         "encrypt_param": {"method": "Paillier", "key_length": 1024}})
    job_id, status = run_job(breast_server, dsl, conf, timeout=600)
    assert status == "success", job_id
    rows = [r for r in output_rows(breast_server, job_id, SBT, "guest", GUEST) if r["type"] == "train"]
    auc = roc_auc_score([int(float(r["label"])) for r in rows], [float(r["predict_score"]) for r in rows])
    assert len(rows) == 569 and auc > 0.98, auc
    validated = _scores(breast_server, job_id, "validate")
    assert validated == pytest.approx(_scores(breast_server, job_id, "train"), abs=1e-12)
    losses = summary(breast_server, job_id, SBT, "guest", GUEST)["loss_history"]
    assert len(losses) == 5 and losses == sorted(losses, reverse=True)
    # the host split too: its decisions routed the rows GOSS left out as well as the sampled ones
    host_tree = _param(_model(breast_server, job_id, "host", HOST))["trees_"][0]
    assert any(n["sitename"] == f"host:{HOST}" and not n["is_leaf"] for n in host_tree["tree_"])
