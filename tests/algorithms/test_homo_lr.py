"""HomoLR and its secure aggregation.

Secure aggregation, in process (clients and arbiter in threads over an in-memory data plane that goes through
the real codec): the unmasked sums equal the plain weighted sums; every vector the arbiter receives is
uniformly masked; masks differ per aggregation and cancel exactly; keys are fresh per session.

HomoLR on a real standalone server (guest 9999, host 10000, arbiter 10000): FATE's homo_lr_train example
reaches AUC >= 0.98; the model equals plain FedAvg computed here in numpy; the arbiter (a recording twin of
the component) never receives a client's model in the clear; cross validation, one-vs-rest and the predict
stage; a bad optimizer is refused at submit.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.multiclass import OneVsRestClassifier

from fate_flow.engine import codec
from fate_flow.entity.keys import TaskKey
from fate_flow.framework.context import Context
from fate_flow.framework.federation import Exchange
from fate_flow.ml import secure_agg
from fate_flow.ml.predict import TEST
from fate_flow.ml.secure_agg import AggregationClient, AggregationServer, PairwiseMasks
from tests.algorithms.conftest import ARBITER, GUEST, HOST, standalone_server
from tests.algorithms.homo_lr_spy import SPY_DIR_ENV
from tests.jobs import FATE_DATA, component_call, job_conf, output_rows, reader_params, run_job, submit, summary, upload
from tests.support import ServerProcess

FATE_EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "dsl-v2" / "homo_logistic_regression"


# -- secure aggregation, in process ----------------------------------------------------------------------------
class MemoryPlane:
    """Objects in flight between parties, each passed through the codec as the real data plane does; ``log``
    keeps (source, destination, name, tag, object) of everything sent."""

    def __init__(self) -> None:
        self.objects: dict[tuple, Any] = {}
        self.log: list[tuple] = []
        self.changed = threading.Condition()

    def transport(self, me: tuple[str, str]) -> Any:
        plane = self

        class Transport:
            def remote(self, obj: Any, name: str, tag: str, parties: list) -> None:
                wire = codec.decode(codec.encode(obj))
                with plane.changed:
                    for party in parties:
                        plane.objects[(name, tag, me, tuple(party))] = wire
                        plane.log.append((me, tuple(party), name, tag, wire))
                    plane.changed.notify_all()

            def get(self, name: str, tag: str, parties: list) -> list[Any]:
                keys = [(name, tag, tuple(party), me) for party in parties]
                with plane.changed:
                    assert plane.changed.wait_for(lambda: all(k in plane.objects for k in keys), timeout=20), keys
                    return [plane.objects.pop(k) for k in keys]

        return Transport()


def _context(plane: MemoryPlane, roles: dict[str, list[str]], role: str, party_id: str) -> Context:
    task = TaskKey("202401010000000000001", "homo_lr_0", "t", 0, role, party_id)
    exchange = Exchange(plane.transport((role, party_id)), (role, party_id), roles)
    return Context(task=task, module="HomoLR", stage="train", params=None, cores=1, computing=None, inputs=None,
                   outputs=None, models=None, metrics=None, exchange=exchange)


ROLES = {"guest": ["9999"], "host": ["10000", "10001"], "arbiter": ["10000"]}
CLIENTS = [("guest", "9999"), ("host", "10000"), ("host", "10001")]


def _run_session(plane: MemoryPlane, counts: list[int], client_work: Callable[[int, AggregationClient, Context], Any],
                 server_work: Callable[[AggregationServer, Context], Any]) -> tuple[list[Any], Any]:
    """Clients and the arbiter of one session, each in a thread; returns what each one's work returned."""

    def client(index: int) -> Any:
        ctx = _context(plane, ROLES, *CLIENTS[index])
        return client_work(index, AggregationClient(ctx, counts[index]), ctx)

    def server() -> Any:
        ctx = _context(plane, ROLES, "arbiter", "10000")
        return server_work(AggregationServer(ctx), ctx)

    with ThreadPoolExecutor(len(CLIENTS) + 1) as pool:
        clients = [pool.submit(client, i) for i in range(len(CLIENTS))]
        arbiter = pool.submit(server)
        return [c.result(timeout=30) for c in clients], arbiter.result(timeout=30)


COUNTS = [100, 250, 37]
ROUNDS = 3


def _vectors(index: int, round_: int) -> np.ndarray:
    return np.random.default_rng(100 * index + round_).normal(scale=3.0, size=40)


@pytest.fixture(scope="module")
def session() -> dict[str, Any]:
    """Three rounds of aggregating each client's vectors."""
    plane = MemoryPlane()

    def client_work(index: int, agg: AggregationClient, ctx: Context) -> list[np.ndarray]:
        return [agg.mean(ctx.child("round", r), "model", _vectors(index, r)) for r in range(ROUNDS)]

    def server_work(agg: AggregationServer, ctx: Context) -> list[np.ndarray]:
        return [agg.sum(ctx.child("round", r), "model") for r in range(ROUNDS)] + [agg.total_count]

    clients, server = _run_session(plane, COUNTS, client_work, server_work)
    return {"plane": plane, "clients": clients, "server": server}


def test_secure_sums_equal_the_plain_weighted_sums(session):
    total = sum(COUNTS)
    assert session["server"][-1] == total  # the arbiter learns the total count, not the counts
    for r in range(ROUNDS):
        plain = sum(COUNTS[i] / total * _vectors(i, r) for i in range(len(CLIENTS)))
        assert np.allclose(session["server"][r], plain, rtol=0, atol=1e-8)
        for results in session["clients"]:
            assert np.array_equal(results[r], session["server"][r])


def test_the_arbiter_receives_only_uniformly_masked_vectors(session):
    received = [(src, name, obj) for src, dst, name, _, obj in session["plane"].log if dst[0] == "arbiter"]
    models = [(src, obj) for src, name, obj in received if name == "model"]
    assert len(models) == ROUNDS * len(CLIENTS)
    total = sum(COUNTS)
    for _, masked in models:
        assert masked.dtype == np.uint64
        looked_at = secure_agg.decode(masked)
        for i in range(len(CLIENTS)):
            for r in range(ROUNDS):  # neither the plain nor the weighted vector of any client and round
                for plain in (_vectors(i, r), COUNTS[i] / total * _vectors(i, r)):
                    assert np.abs(looked_at - plain).min() > 1e3
    # the counts too are masked: the arbiter never holds 100, 250 or 37
    counts = [secure_agg.decode(obj)[0] for _, name, obj in received if name == "sample_count"]
    assert len(counts) == 3 and not {round(c) for c in counts} & set(COUNTS)
    # uniform: each bit of the masked words is set about half of the time (120 words: 0.5 +- 0.15)
    words = np.concatenate([m for _, m in models])
    bits = np.unpackbits(words.view(np.uint8)).reshape(-1, 64).mean(axis=0)
    assert np.all((bits > 0.35) & (bits < 0.65)), bits
    # and the public keys are all the arbiter learns of the key agreement
    keys = [obj for _, name, obj in received if name == "public_key"]
    assert len(keys) == 3 and all(isinstance(k, bytes) and len(k) == 32 for k in keys)


def test_masks_differ_per_aggregation_cancel_exactly_and_keys_are_fresh():
    keys = [secure_agg.new_private_key() for _ in range(3)]
    public = [secure_agg.public_bytes(k) for k in keys]
    masks = [PairwiseMasks.agree(i, keys[i], public, b"session") for i in range(3)]
    zeros = np.zeros(1000, dtype=np.uint64)
    for stream in range(3):
        shares = [m.mask(zeros, stream) for m in masks]
        assert np.array_equal(secure_agg.modular_sum(shares), zeros)  # the masks cancel exactly
        assert all(np.count_nonzero(s) > 990 for s in shares)
    assert not np.array_equal(masks[0].mask(zeros, 0), masks[0].mask(zeros, 1))
    assert masks[0].seeds[1] == masks[1].seeds[0]  # both ends of a pair derive the same seed
    others = [secure_agg.new_private_key() for _ in range(3)]
    again = PairwiseMasks.agree(0, others[0], [secure_agg.public_bytes(k) for k in others], b"session")
    assert again.seeds[1] != masks[0].seeds[1]  # a new session, new keys, new seeds
    other_session = PairwiseMasks.agree(0, keys[0], public, b"another session")
    assert other_session.seeds[1] != masks[0].seeds[1]


def test_fixed_point_round_trip_and_refusals():
    values = np.array([-3.25, 0.0, 1e-9, 12345.678901, -1e8])
    assert np.allclose(secure_agg.decode(secure_agg.encode(values)), values, rtol=0, atol=2 ** -32)
    with pytest.raises(Exception, match="NaN or infinite"):
        secure_agg.encode(np.array([1.0, np.nan]))
    with pytest.raises(Exception, match="exceeds"):
        secure_agg.encode(np.array([2.0 ** 40]))


def test_a_relayed_key_that_is_not_the_clients_own_is_refused():
    plane = MemoryPlane()
    roles = {"guest": ["9999"], "host": ["10000"], "arbiter": ["10000"]}
    guest = _context(plane, roles, "guest", "9999")
    arbiter = _context(plane, roles, "arbiter", "10000")
    forged = [secure_agg.public_bytes(secure_agg.new_private_key()) for _ in range(2)]
    arbiter.child("secure_agg", "setup").guests.put("public_keys", forged)
    with pytest.raises(Exception, match="another key in this client's place"):
        AggregationClient(guest, 10)


# -- HomoLR on a server ----------------------------------------------------------------------------------------
HOMO_TABLES = {"breast_homo_guest": "breast_homo_guest.csv", "breast_homo_host": "breast_homo_host.csv",
               "vehicle_scale_homo_guest": "vehicle_scale_homo_guest.csv",
               "vehicle_scale_homo_host": "vehicle_scale_homo_host.csv"}


@pytest.fixture(scope="module")
def homo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A standalone server with the homo tables and the recording twin of HomoLR."""
    spy_dir = tmp_path_factory.mktemp("spy")
    server = standalone_server(tmp_path_factory.mktemp("homo") / "party", HOMO_TABLES,
                               {"FATE_FLOW_COMPONENTS__MODULES": '["tests.algorithms.homo_lr_spy"]',
                                SPY_DIR_ENV: str(spy_dir)})
    server.spy_dir = spy_dir
    yield server
    server.stop()


def _example(name: str) -> dict:
    return json.loads((FATE_EXAMPLES / name).read_text())


def _pipeline(module: str = "HomoLR", extra: dict | None = None) -> dict:
    """reader -> data transform -> HomoLR (``module``), plus ``extra`` components."""
    return {"components": {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "data_transform_0": {"module": "DataTransform", "input": {"data": {"data": ["reader_0.data"]}},
                             "output": {"data": ["data"], "model": ["model"]}},
        "homo_lr_0": {"module": module, "input": {"data": {"train_data": ["data_transform_0.data"]}},
                      "output": {"data": ["data"], "model": ["model"]}},
        **(extra or {})}}


def _conf(params: dict, guest_table: str = "breast_homo_guest", host_table: str = "breast_homo_host") -> dict:
    return job_conf(GUEST, [HOST], ARBITER, {"data_transform_0": {"with_label": True}, "homo_lr_0": params},
                    reader_params(guest_table, [host_table]))


def _client_data(name: str) -> tuple[np.ndarray, np.ndarray]:
    data = np.loadtxt(FATE_DATA / name, delimiter=",", skiprows=1)
    return data[:, 2:], data[:, 1]


def _fedavg(clients: list[tuple[np.ndarray, np.ndarray]], learning_rate: float, alpha: float, max_iter: int,
            tol: float) -> tuple[np.ndarray, list[list[np.ndarray]], list[float]]:
    """Plain FedAvg of logistic regression: full-batch SGD from zeros, L2 on the coefficients, the learning rate
    decaying as lr / sqrt(1 + t), models averaged by sample count every epoch, stopping once the mean loss
    changes by less than ``tol``. Returns the model, each round's local models, the mean losses."""
    total = sum(len(y) for _, y in clients)
    w = np.zeros(clients[0][0].shape[1] + 1)
    local_models, losses = [], []
    for epoch in range(max_iter):
        rate = learning_rate / np.sqrt(1 + epoch)
        updated, loss = [], 0.0
        for x, y in clients:
            xa = np.hstack([x, np.ones((len(y), 1))])
            z = xa @ w
            gradient = xa.T @ (1 / (1 + np.exp(-z)) - y) / len(y)
            gradient[:-1] += alpha * w[:-1]
            updated.append(w - rate * gradient)
            loss += len(y) / total * float(np.mean(np.logaddexp(0, z) - y * z))
        w = sum(len(y) / total * u for (_, y), u in zip(clients, updated, strict=True))
        local_models.append(updated)
        losses.append(loss)
        if len(losses) > 1 and abs(losses[-2] - losses[-1]) < tol:
            break
    return w, local_models, losses


def _scores(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([float(r["label"]) for r in rows]), np.array([float(r["predict_score"]) for r in rows])


def test_fate_homo_lr_train_example_reaches_auc_098(homo_server):
    job_id, status = run_job(homo_server, _example("homo_lr_train_dsl.json"), _example("homo_lr_train_conf.json"))
    assert status == "success"
    for role, party in (("guest", GUEST), ("host", HOST)):
        rows = output_rows(homo_server, job_id, "homo_lr_0", role, party)
        assert {r["type"] for r in rows} == {"train"}
        labels, scores = _scores(rows)
        assert roc_auc_score(labels, scores) >= 0.98
    loss = summary(homo_server, job_id, "homo_lr_0", "arbiter", ARBITER)["loss_history"]
    assert len(loss) >= 2 and loss[-1] < loss[0]
    answer = component_call(homo_server, "metric_data", job_id, "homo_lr_0", "arbiter", ARBITER,
                            metric_namespace="train", metric_name="loss")
    assert [value for _, value in answer["data"]] == pytest.approx(loss)  # the loss of each aggregate round
    assert answer["meta"]["metric_type"] == "LOSS" and answer["meta"]["unit_name"] == "aggregate_round"


def test_model_equals_plain_fedavg_and_the_arbiter_never_sees_a_client_model(homo_server):
    params = {"penalty": "L2", "alpha": 0.01, "optimizer": "sgd", "learning_rate": 0.15, "max_iter": 12,
              "tol": 1e-6, "init_param": {"init_method": "zeros"}, "encrypt_param": {"method": None}}
    job_id, status = run_job(homo_server, _pipeline("HomoLRSpy"), _conf(params))
    assert status == "success"
    clients = [_client_data("breast_homo_guest.csv"), _client_data("breast_homo_host.csv")]
    expected, local_models, losses = _fedavg(clients, 0.15, 0.01, 12, 1e-6)
    header = [f"x{i}" for i in range(30)]
    for role, party in (("guest", GUEST), ("host", HOST)):
        got = summary(homo_server, job_id, "homo_lr_0", role, party)
        assert np.allclose([got["coef"][h] for h in header] + [got["intercept"]], expected, rtol=0, atol=1e-7)
    arbiter = summary(homo_server, job_id, "homo_lr_0", "arbiter", ARBITER)
    assert np.allclose(arbiter["loss_history"], losses, rtol=0, atol=1e-7)
    # everything the arbiter received: public keys and uniformly masked words, never a client's (weighted) model
    received = codec.decode((homo_server.spy_dir / f"{job_id}.ffc").read_bytes())
    models = [obj for name, _, _, _, obj in received if name == "model"]
    assert len(models) == 2 * len(local_models)
    total = sum(len(y) for _, y in clients)
    plain = [m * (len(y) / total) for round_ in local_models for m, (_, y) in zip(round_, clients, strict=True)]
    plain += [m for round_ in local_models for m in round_]
    for masked in models:
        assert masked.dtype == np.uint64
        assert all(np.abs(secure_agg.decode(masked) - p).min() > 1e3 for p in plain)
    assert {name for name, *_ in received} <= {"class_count", "public_key", "sample_count", "model", "loss"}
    # nor does a client model appear in the arbiter's logs
    logs = "".join(p.read_text(errors="replace") for p in (homo_server.home / "logs" / job_id / "arbiter").rglob("*")
                   if p.is_file())
    assert not [v for m in local_models[-1] for v in m[:5] if f"{v:.6f}" in logs]


def test_cross_validation_trains_per_fold(homo_server):
    params = {"optimizer": "sgd", "learning_rate": 0.15, "alpha": 0.01, "max_iter": 3, "batch_size": 320,
              "init_param": {"init_method": "zeros"}, "encrypt_param": {"method": None},
              "cv_param": {"n_splits": 3, "shuffle": True, "random_seed": 33, "need_cv": True}}
    job_id, status = run_job(homo_server, _pipeline(), _conf(params))
    assert status == "success"
    got = summary(homo_server, job_id, "homo_lr_0", "guest", GUEST)
    assert got["fold_num"] == 3 and {"fold_0", "fold_1", "fold_2"} <= set(got)
    rows = output_rows(homo_server, job_id, "homo_lr_0", "guest", GUEST)
    assert len(rows) == 3 * 227  # each sample once per fold: as validate in one, as train in the others
    validate = [r for r in rows if r["type"] == "validate"]
    assert len(validate) == 227 and all("#fold" in r["id"] and r["id"].endswith("#validate") for r in validate)
    assert summary(homo_server, job_id, "homo_lr_0", "arbiter", ARBITER)["fold_num"] == 3


def test_one_vs_rest_on_vehicle_and_the_predict_stage(homo_server):
    params = {"optimizer": "rmsprop", "learning_rate": 0.15, "alpha": 0.01, "max_iter": 20,
              "init_param": {"init_method": "zeros"}, "encrypt_param": {"method": None}}
    predict = {"homo_lr_1": {"module": "HomoLR", "input": {"data": {"test_data": ["data_transform_0.data"]},
                                                           "model": ["homo_lr_0.model"]},
                             "output": {"data": ["data"]}}}
    job_id, status = run_job(homo_server, _pipeline(extra=predict),
                             _conf(params, "vehicle_scale_homo_guest", "vehicle_scale_homo_host"))
    assert status == "success"
    trained = output_rows(homo_server, job_id, "homo_lr_0", "guest", GUEST)
    assert set(json.loads(trained[0]["predict_detail"])) == {"0", "1", "2", "3"}
    # one-vs-rest logistic regression on the pooled data with the same L2 strength (scikit-learn's C is
    # 1 / (alpha * samples)), scored on the guest's samples: 20 federated epochs come within 0.05 of it
    (xg, yg), (xh, yh) = _client_data("vehicle_scale_homo_guest.csv"), _client_data("vehicle_scale_homo_host.csv")
    pooled_x, pooled_y = np.vstack([xg, xh]), np.concatenate([yg, yh])
    reference = OneVsRestClassifier(LogisticRegression(C=1 / (0.01 * len(pooled_y)), max_iter=5000))
    expected = reference.fit(pooled_x, pooled_y).score(xg, yg)
    accuracy = np.mean([r["label"] == r["predict_result"] for r in trained])
    assert accuracy >= expected - 0.05, (accuracy, expected)
    got = summary(homo_server, job_id, "homo_lr_0", "guest", GUEST)
    assert set(got) == {"0", "1", "2", "3"} and all(got[c]["one_vs_rest"] for c in got)
    scored = output_rows(homo_server, job_id, "homo_lr_1", "guest", GUEST)
    assert {r["type"] for r in scored} == {TEST}
    by_id = {r["id"]: r for r in trained}
    assert all(r["predict_result"] == by_id[r["id"]]["predict_result"] for r in scored)


def test_validation_during_training_is_in_the_summary(homo_server):
    params = {"optimizer": "sgd", "learning_rate": 0.15, "alpha": 0.01, "max_iter": 3,
              "init_param": {"init_method": "zeros"}, "encrypt_param": {"method": None},
              "callback_param": {"callbacks": ["EarlyStopping"], "validation_freqs": 1}}
    extra = {"homo_lr_0": {"module": "HomoLR", "input": {"data": {"train_data": ["data_transform_0.data"],
                                                                  "validate_data": ["data_transform_0.data"]}},
                           "output": {"data": ["data"], "model": ["model"]}}}
    job_id, status = run_job(homo_server, _pipeline(extra=extra), _conf(params))
    assert status == "success"
    metrics = summary(homo_server, job_id, "homo_lr_0", "guest", GUEST)["validation_metrics"]
    assert len(metrics["train"]["auc"]) == 3 and metrics["train"]["auc"] == metrics["validate"]["auc"]
    rows = output_rows(homo_server, job_id, "homo_lr_0", "guest", GUEST)
    labels, scores = _scores([r for r in rows if r["type"] == "validate"])
    assert metrics["validate"]["auc"][-1] == pytest.approx(roc_auc_score(labels, scores), abs=1e-6)


def test_a_bad_optimizer_is_refused_at_submit(homo_server):
    answer = submit(homo_server, _pipeline(), _conf({"optimizer": "newton"}))
    assert answer["retcode"] == 103
    assert "homo_lr_0" in answer["retmsg"] and "optimizer" in answer["retmsg"]


def test_labels_of_one_class_fail_naming_why(homo_server, tmp_path):
    """Clients whose labels hold one class only cannot train logistic regression: the job fails saying so."""
    table = tmp_path / "one_class.csv"
    lines = (FATE_DATA / "breast_homo_host.csv").read_text().splitlines()
    table.write_text("\n".join([lines[0]] + [line for line in lines[1:] if line.split(",")[1] == "1"]) + "\n")
    upload(homo_server, table, "one_class_host")
    guest_lines = (FATE_DATA / "breast_homo_guest.csv").read_text().splitlines()
    guest_table = tmp_path / "one_class_guest.csv"
    guest_table.write_text("\n".join([guest_lines[0]] + [ln for ln in guest_lines[1:] if ln.split(",")[1] == "1"]))
    upload(homo_server, guest_table, "one_class_guest")
    job_id, status = run_job(homo_server, _pipeline(), _conf({"max_iter": 2}, "one_class_guest", "one_class_host"))
    assert status == "failed"
    errors = "".join(p.read_text() for p in (homo_server.home / "logs" / job_id).rglob("ERROR.log"))
    assert "one class only" in errors


def test_homo_convert_gives_sklearn_the_same_scores(homo_server, tmp_path):
    """``model/homo/convert``: the guest's HomoLR model as a scikit-learn LogisticRegression (joblib, as FATE
    writes it), whose probabilities are the training job's scores; the export carries it."""
    import io
    import zipfile

    import joblib
    import requests

    params = {"optimizer": "sgd", "learning_rate": 0.15, "max_iter": 3, "encrypt_param": {"method": None}}
    job_id, status = run_job(homo_server, _pipeline(), _conf(params))
    assert status == "success", job_id
    model = {"role": "guest", "party_id": GUEST, "model_id": f"arbiter-{ARBITER}#guest-{GUEST}#host-{HOST}#model",
             "model_version": job_id}
    answer = homo_server.post("/v1/model/homo/convert", model)
    assert answer["retcode"] == 0 and answer["data"][0]["component_name"] == "homo_lr_0", answer
    converted = joblib.load(answer["data"][0]["converted_model_path"])  # the test trusts what the server wrote
    features, _ = _client_data("breast_homo_guest.csv")
    rows = output_rows(homo_server, job_id, "homo_lr_0", "guest", GUEST)
    ids = np.loadtxt(FATE_DATA / "breast_homo_guest.csv", delimiter=",", skiprows=1, usecols=0).astype(int)
    expected = {r["id"]: float(r["predict_score"]) for r in rows}
    assert np.allclose(converted.predict_proba(features)[:, 1], [expected[str(i)] for i in ids], atol=1e-9)
    exported = requests.get(f"{homo_server.url}/v1/model/export", json=model, timeout=30)
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        assert "converted/homo_lr_0/model/sklearn_model.joblib" in archive.namelist()
    assert homo_server.post("/v1/model/homo/convert", {**model, "role": "arbiter", "party_id": ARBITER})[
        "retcode"] == 100  # the arbiter keeps no HomoLR weights to convert
