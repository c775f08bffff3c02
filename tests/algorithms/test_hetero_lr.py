"""HeteroLR (and its siblings HeteroLinR, HeteroPoisson) on a real standalone server, against plain references
computed here on the joined data: the same algorithm in numpy (FATE's Taylor-approximated gradient, same
optimizer, batches and iterations) must give the same weights; scikit-learn's logistic regression the same
quality. Also: FATE's hetero_lr_normal example unchanged but for party ids, one-vs-rest, validation metrics,
bad parameters."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from tests.algorithms.conftest import ARBITER, GUEST, HOST
from tests.jobs import FATE_DATA, job_conf, output_rows, reader_params, run_job, submit, summary

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _dsl(module: str = "HeteroLR") -> dict:
    return {"components": {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "data_transform_0": {"module": "DataTransform", "input": {"data": {"data": ["reader_0.data"]}},
                             "output": {"data": ["data"], "model": ["model"]}},
        "lr_0": {"module": module, "input": {"data": {"train_data": ["data_transform_0.data"]}},
                 "output": {"data": ["data"], "model": ["model"]}},
    }}


def _conf(params: dict, guest_table: str = "breast_hetero_guest", host_tables: tuple[str, ...] = (
        "breast_hetero_host",), label: str = "y", label_type: str = "int") -> dict:
    role = reader_params(guest_table, list(host_tables))
    role["guest"]["0"]["data_transform_0"] = {"with_label": True, "label_name": label, "label_type": label_type}
    for index in range(len(host_tables)):
        role["host"][str(index)]["data_transform_0"] = {"with_label": False}
    return job_conf(GUEST, [HOST] * len(host_tables), ARBITER, {"lr_0": params}, role)


def _joined(guest: str, host: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ids, y, guest features, host features) in the guest file's order."""
    def read(name: str) -> tuple[list[str], np.ndarray]:
        lines = (FATE_DATA / name).read_text().splitlines()[1:]
        rows = [line.split(",") for line in lines]
        return [r[0] for r in rows], np.array([[float(v) for v in r[1:]] for r in rows])

    guest_ids, guest_values = read(guest)
    host_ids, host_values = read(host)
    position = {sid: i for i, sid in enumerate(host_ids)}
    host_aligned = host_values[[position[s] for s in guest_ids]]
    return np.array(guest_ids), guest_values[:, 0], guest_values[:, 1:], host_aligned


def _taylor_reference(xg: np.ndarray, xh: np.ndarray, y: np.ndarray, iterations: int, rate: float,
                      alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """FATE's hetero LR on the joined data, in the clear: full batch, sgd, L2, intercept at the guest."""
    design_g = np.hstack([xg, np.ones((len(y), 1))])
    wg, wh = np.zeros(design_g.shape[1]), np.zeros(xh.shape[1])
    signed = 2 * y - 1
    for iteration in range(iterations):
        step = rate / np.sqrt(1 + iteration)  # decay 1, decay_sqrt
        d = 0.25 * (design_g @ wg + xh @ wh) - 0.5 * signed
        gg, gh = design_g.T @ d / len(y), xh.T @ d / len(y)
        gg[:-1] += alpha * wg[:-1]
        gh += alpha * wh
        wg, wh = wg - step * gg, wh - step * gh
    return wg, wh


def test_weights_equal_the_plain_algorithm_on_joined_data(breast_server):
    params = {"penalty": "L2", "alpha": 0.01, "optimizer": "sgd", "learning_rate": 0.15, "max_iter": 5,
              "batch_size": -1, "init_param": {"init_method": "zeros"}, "early_stop": "diff", "tol": 1e-12,
              "encrypt_param": {"key_length": 1024}}
    job_id, status = run_job(breast_server, _dsl(), _conf(params))
    assert status == "success", job_id
    _, y, xg, xh = _joined("breast_hetero_guest.csv", "breast_hetero_host.csv")
    wg, wh = _taylor_reference(xg, xh, y, 5, 0.15, 0.01)
    guest_summary = summary(breast_server, job_id, "lr_0", "guest", GUEST)
    host_summary = summary(breast_server, job_id, "lr_0", "host", HOST)
    federated_g = np.array([guest_summary["coef"][f"x{i}"] for i in range(xg.shape[1])] + [guest_summary["intercept"]])
    federated_h = np.array([host_summary["coef"][f"x{i}"] for i in range(xh.shape[1])])
    # fixed-point Paillier arithmetic: equal to the plain computation to 1e-6
    np.testing.assert_allclose(federated_g, wg, atol=1e-6)
    np.testing.assert_allclose(federated_h, wh, atol=1e-6)
    # the loss curve was recorded by the arbiter, one point per iteration, decreasing
    arbiter = summary(breast_server, job_id, "lr_0", "arbiter", ARBITER)
    assert len(arbiter["loss_history"]) == 5 and arbiter["loss_history"][-1] < arbiter["loss_history"][0]


def test_quality_equals_scikit_learn_on_joined_data(breast_server):
    params = {"penalty": "L2", "alpha": 0.01, "optimizer": "rmsprop", "learning_rate": 0.15, "max_iter": 15,
              "batch_size": -1, "init_param": {"init_method": "zeros"}, "encrypt_param": {"key_length": 1024},
              "validation_freqs": 5, "shuffle": False}
    job_id, status = run_job(breast_server, _dsl(), _conf(params))
    assert status == "success", job_id
    rows = output_rows(breast_server, job_id, "lr_0", "guest", GUEST)
    assert {"label", "predict_result", "predict_score", "predict_detail", "type"} <= set(rows[0])
    labels = np.array([int(r["label"]) for r in rows])
    scores = np.array([float(r["predict_score"]) for r in rows])
    federated_auc = roc_auc_score(labels, scores)
    _, y, xg, xh = _joined("breast_hetero_guest.csv", "breast_hetero_host.csv")
    joined = np.hstack([xg, xh])
    reference = LogisticRegression(C=1 / (0.01 * len(y)), max_iter=1000).fit(joined, y)
    sklearn_auc = roc_auc_score(y, reference.predict_proba(joined)[:, 1])
    # 15 iterations of FATE's Taylor-approximated gradient against a converged exact fit
    assert federated_auc >= 0.98 and federated_auc == pytest.approx(sklearn_auc, abs=0.02)
    detail = json.loads(rows[0]["predict_detail"])
    assert set(detail) == {"0", "1"} and sum(detail.values()) == pytest.approx(1.0)
    auc_history = summary(breast_server, job_id, "lr_0", "guest", GUEST)["validation_metrics"]["train"]["auc"]
    assert len(auc_history) == 3 and auc_history[-1] == pytest.approx(federated_auc, abs=1e-6)


def test_bad_parameters_refused_at_submit(breast_server):
    for bad, field in (({"optimizer": "newton"}, "optimizer"), ({"alpha": -1}, "alpha"),
                       ({"batch_size": 5}, "batch_size"), ({"penalty": "L3"}, "penalty")):
        answer = submit(breast_server, _dsl(), _conf(bad))
        assert answer["retcode"] == 103 and field in answer["retmsg"] and "lr_0" in answer["retmsg"], answer
