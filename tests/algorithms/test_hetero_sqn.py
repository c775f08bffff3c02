"""The sqn optimizer (stochastic quasi-Newton) of HeteroLR and HeteroLinR.

A plain reference written here, in FATE's own form (the L-BFGS inverse hessian built as a matrix, as FATE's
arbiter builds it, on the joined data), must give the federated weights: in one process through an
in-memory data plane (which also shows what crossed: the arbiter decrypts no party's gradient or
hessian-vector product but under a one-time mask, a host gets no label, residual or plain guest value, the
guest no host value in the clear), and on a real standalone server for HeteroLR on the breast tables (binary,
and one-vs-rest on vehicle_scale) and HeteroLinR on FATE's motor tables.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from fate_flow.components.intersection.loopback import Hub
from fate_flow.engine.bigint import BigIntVector
from fate_flow.engine.codec import decode
from fate_flow.entity.keys import TaskKey
from fate_flow.framework.context import Context
from fate_flow.framework.federation import Exchange
from fate_flow.framework.metrics import Metrics
from fate_flow.ml.glm import LINEAR, LOGISTIC, Family
from fate_flow.ml.hetero_linear import Settings, arbiter_fit, guest_fit, host_fit
from fate_flow.ml.sqn import Curvature, Pairs, two_loop
from tests.algorithms.conftest import ARBITER, BREAST, GUEST, HOST, standalone_server
from tests.jobs import FATE_DATA, job_conf, reader_params, run_job, summary
from tests.support import ServerProcess

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

ROLES = {"guest": ["9999"], "host": ["10000"], "arbiter": ["10000"]}
# what the federated weights must equal the plain reference to (they agree to 1e-13 here): fixed-point Paillier
# (64 fractional bits, rmatmul columns rounded to 40 significant bits) through the L-BFGS direction
TOLERANCE = 1e-10


# -- the plain reference -----------------------------------------------------------------------------------------
def _fate_hessian(s_memory: list[np.ndarray], y_memory: list[np.ndarray]) -> np.ndarray:
    """FATE's arbiter: H0 = (s.y / y.y) I of the newest pair, then the BFGS update with each pair, oldest first."""
    n = len(s_memory[0])
    hessian = (y_memory[-1] @ s_memory[-1]) / (y_memory[-1] @ y_memory[-1]) * np.identity(n)
    for s, y in zip(s_memory, y_memory, strict=True):
        rho = 1.0 / (y @ s)
        left = np.identity(n) - rho * np.outer(s, y)
        hessian = left @ hessian @ left.T + rho * np.outer(s, s)
    return hessian


def plain_sqn(family: Family, x: np.ndarray, y: np.ndarray, intercept: int | None, *, iterations: int,
              batch_size: int, rate: float, alpha: float, decay: float, decay_sqrt: bool, interval: int,
              memory: int, sample_size: int, seed: int | None) -> np.ndarray:
    """sqn on the joined design ``x`` (all parties' columns; ``intercept``: the column of ones, unpenalised),
    consecutive batches, zeros to start; FATE's schedule: weights averaged over ``interval`` batches, a pair
    from the second window on, a sample of ``sample_size`` rows of the batch drawn with ``seed``."""
    w = np.zeros(x.shape[1])
    penalised = np.ones(x.shape[1])
    if intercept is not None:
        penalised[intercept] = 0.0
    factor = 0.25 if family is LOGISTIC else 1.0
    batches = [np.arange(len(y))] if batch_size == -1 else [
        np.arange(len(y))[start:start + batch_size] for start in range(0, len(y), batch_size)]
    hessian, s_memory, y_memory, total, previous, count = None, [], [], np.zeros_like(w), None, 0
    for iteration in range(iterations):
        base = 1 + decay * iteration
        step = rate / (np.sqrt(base) if decay_sqrt else base)
        for rows in batches:
            part = x[rows]
            wx = part @ w
            d = 0.25 * wx - 0.5 * (2 * y[rows] - 1) if family is LOGISTIC else wx - y[rows]
            gradient = part.T @ d / len(rows) + alpha * penalised * w
            count += 1
            total += w
            updated = w - step * (gradient if hessian is None else hessian @ gradient)
            if count % interval == 0:
                average, total = total / interval, np.zeros_like(w)
                if previous is not None:
                    s = average - previous
                    picked = np.arange(len(rows)) if sample_size >= len(rows) else np.sort(
                        np.random.default_rng(seed).choice(np.arange(len(rows)), size=sample_size, replace=False))
                    sample = part[picked]
                    hv = factor * sample.T @ (sample @ s) / len(picked) + alpha * penalised * s
                    s_memory, y_memory = [*s_memory, s][-memory:], [*y_memory, hv][-memory:]
                    hessian = _fate_hessian(s_memory, y_memory)
                previous = average
            w = updated
    return w


# -- the shared math -----------------------------------------------------------------------------------------------
def test_coefficients_split_over_parties_equal_the_two_loop_and_fates_matrix():
    random = np.random.default_rng(3)
    a = random.normal(size=(9, 9))
    spd = a @ a.T + np.identity(9)
    blocks = [slice(0, 4), slice(4, 9)]  # a guest of 4 coordinates and a host of 5
    parties, curvature = [Pairs(3), Pairs(3)], Curvature(3)
    s_all, y_all = [], []
    for _ in range(5):  # more pairs than the memory: the oldest roll out
        s = random.normal(size=9)
        y = spd @ s
        products = sum(p.pair_products(s[b], y[b]) for p, b in zip(parties, blocks, strict=True))
        assert curvature.add(products)
        for party, block in zip(parties, blocks, strict=True):
            party.add(s[block], y[block])
        s_all, y_all = [*s_all, s][-3:], [*y_all, y][-3:]
    gradient = random.normal(size=9)
    coefficients = curvature.coefficients(sum(p.direction_products(gradient[b]) for p, b in
                                              zip(parties, blocks, strict=True)))
    split = np.concatenate([p.direction(gradient[b], coefficients) for p, b in zip(parties, blocks, strict=True)])
    np.testing.assert_allclose(split, two_loop(s_all, y_all, gradient), rtol=1e-10)
    np.testing.assert_allclose(split, _fate_hessian(s_all, y_all) @ gradient, rtol=1e-10)
    # a pair without curvature (s.y <= 0) is refused, nothing kept
    s = random.normal(size=9)
    assert not curvature.add(sum(p.pair_products(s[b], -s[b]) for p, b in zip(parties, blocks, strict=True)))
    assert len(curvature) == 3


# -- the protocol in one process ------------------------------------------------------------------------------------
ROWS = 120
PROTOCOL = dict(iterations=6, batch_size=40, rate=0.3, alpha=0.01, decay=1.0, decay_sqrt=True, interval=2, memory=3,
                sample_size=25, seed=5)


class _Recorder:
    def save_metric_data(self, namespace: str, name: str, points: list) -> None:
        pass

    def save_metric_meta(self, namespace: str, name: str, meta: dict) -> None:
        pass


def _settings() -> Settings:
    p = PROTOCOL
    return Settings(max_iter=p["iterations"], batch_size=p["batch_size"], batch_strategy="full", shuffle=False,
                    early_stop="diff", tol=1e-12, optimizer="sqn", learning_rate=p["rate"], alpha=p["alpha"],
                    penalty="L2", decay=p["decay"], decay_sqrt=p["decay_sqrt"], init_method="zeros", init_const=1.0,
                    fit_intercept=True, random_seed=None, key_length=1024, sqn_interval=p["interval"],
                    sqn_memory=p["memory"], sqn_sample_size=p["sample_size"], sqn_seed=p["seed"])


def _run(family: Family, xg: np.ndarray, y: np.ndarray, xh: np.ndarray | list[np.ndarray],
         settings: Settings) -> tuple[dict, Hub]:
    """The three roles in threads (one host per block of ``xh`` when it is a list); results by role, the
    hosts' as ``host``, ``host.1``, ..."""
    blocks = xh if isinstance(xh, list) else [xh]
    roles = {**ROLES, "host": [str(10000 + i) for i in range(len(blocks))], "arbiter": ["10000"]}
    hub = Hub(timeout=120)
    results: dict[str, Any] = {}

    def play(role: str, index: int) -> None:
        me = (role, roles[role][index])
        key = role if index == 0 else f"{role}.{index}"
        ctx = Context(task=TaskKey("job", "lr_0", "job_lr_0", 0, *me), module="HeteroLR", stage="train",
                      params=None, cores=1, computing=None, inputs=None, outputs=None, models=None,
                      metrics=Metrics(_Recorder()), exchange=Exchange(hub.transport(me), me, roles))
        try:
            if role == "guest":
                results[key] = guest_fit(ctx, family, xg, y, None, settings)
            elif role == "host":
                results[key] = host_fit(ctx, family, blocks[index], settings)
            else:
                results[key] = arbiter_fit(ctx, settings)
        except BaseException as exc:  # noqa: BLE001 (re-raised below)
            results[key] = exc

    threads = [threading.Thread(target=play, args=(role, index), daemon=True)
               for role, parties in roles.items() for index in range(len(parties))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    for outcome in results.values():
        if isinstance(outcome, BaseException):
            raise outcome
    return results, hub


def _data(family: Family) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    random = np.random.default_rng(13)
    xg, xh = random.normal(size=(ROWS, 3)), random.normal(size=(ROWS, 4))
    signal = xg[:, 0] - 0.5 * xh[:, 1] + 0.3 * xh[:, 2]
    y = (signal + random.normal(scale=0.5, size=ROWS) > 0).astype(float) if family is LOGISTIC else (
        signal + random.normal(scale=0.3, size=ROWS))
    return xg, y, xh


@pytest.fixture(scope="module", params=[LOGISTIC, LINEAR], ids=lambda family: family.name)
def protocol(request: pytest.FixtureRequest) -> Iterator[tuple]:
    family = request.param
    xg, y, xh = _data(family)
    results, hub = _run(family, xg, y, xh, _settings())
    yield family, xg, y, xh, results, hub


def _received(hub: Hub, role: str) -> list[tuple[str, str, Any]]:
    return [(m.sender[0], m.name, decode(m.data)) for m in hub.messages if m.receiver[0] == role]


def _is_encrypted(wire: Any) -> bool:
    return isinstance(wire, dict) and set(wire) == {"key", "exponent", "bound", "ciphertexts"} and isinstance(
        wire["ciphertexts"], BigIntVector)


def test_protocol_weights_equal_the_plain_algorithm(protocol):
    family, xg, y, xh, results, _ = protocol
    x = np.hstack([xg, np.ones((ROWS, 1)), xh])
    w = plain_sqn(family, x, y, intercept=xg.shape[1], **PROTOCOL)
    np.testing.assert_allclose(results["guest"].weights, w[:xg.shape[1] + 1], atol=TOLERANCE)
    np.testing.assert_allclose(results["host"].weights, w[xg.shape[1] + 1:], atol=TOLERANCE)
    # and it is not sgd: the same run with sgd ends elsewhere
    sgd = plain_sqn(family, x, y, intercept=xg.shape[1], **{**PROTOCOL, "interval": 10 ** 6})
    assert np.abs(sgd - w).max() > 100 * TOLERANCE


@pytest.mark.parametrize("family", [LOGISTIC, LINEAR], ids=lambda family: family.name)
def test_two_hosts_equal_the_plain_algorithm(family):
    xg, y, xh = _data(family)
    results, _ = _run(family, xg, y, [xh[:, :2], xh[:, 2:]], _settings())
    w = plain_sqn(family, np.hstack([xg, np.ones((ROWS, 1)), xh]), y, intercept=xg.shape[1], **PROTOCOL)
    federated = np.concatenate([results["guest"].weights, results["host"].weights, results["host.1"].weights])
    np.testing.assert_allclose(federated, w, atol=TOLERANCE)


def test_the_arbiter_decrypts_only_masked_vectors_and_sums(protocol):
    *_, hub = protocol
    received = _received(hub, "arbiter")
    assert {name for _, name, _ in received} == {"protocol", "masked_gradient", "products", "loss", "penalty",
                                                  "step_norm", "batch_count", "stop"}
    # gradients and hessian-vector products alike: 18 batches, 8 curvature pairs, two parties
    masked = [obj for _, name, obj in received if name == "masked_gradient"]
    assert len(masked) == 2 * (18 + 8) and all(set(wire) == {"key", "ciphertexts"} for wire in masked)
    revealed = [v for m in hub.messages if m.sender[0] == "arbiter" and m.name == "revealed"
                for v in decode(m.data).ints()]
    assert min(revealed) > 2 ** 600  # uniform in [0, n): no gradient, no hessian-vector product
    # inner products: from the guest only (the hosts' shares went to the guest, encrypted), one sum per step
    # with a memory and per curvature pair
    products = [(sender, obj) for sender, name, obj in received if name == "products"]
    assert all(sender == "guest" and _is_encrypted(obj) for sender, obj in products)
    assert len(products) == 18 - 4 + 8  # the first pair is kept after batch 4 (the 2nd window): 14 steps use it


def test_a_host_gets_no_label_residual_or_plain_guest_value(protocol):
    *_, hub = protocol
    received = _received(hub, "host")
    assert {name for _, name, _ in received} == {
        "protocol", "public_key", "batches", "residual", "revealed", "converged", "validate", "stop",
        "sample", "hessian_forward", "coefficients", "kept"}
    for sender, name, obj in received:
        if name in ("residual", "hessian_forward"):
            assert sender == "guest" and _is_encrypted(obj)
        if name == "sample":
            assert np.asarray(obj).dtype.kind in "iu" and len(obj) == PROTOCOL["sample_size"]
        if name == "coefficients":
            assert sender == "arbiter" and set(obj) == {"g", "s", "y"} and len(obj["s"]) <= PROTOCOL["memory"]


def test_the_guest_gets_host_values_only_encrypted(protocol):
    *_, hub = protocol
    from_host = [(name, obj) for sender, name, obj in _received(hub, "guest") if sender == "host"]
    assert {name for name, _ in from_host} == {"forward", "products"}
    for name, obj in from_host:
        pieces = obj.values() if name == "forward" and not _is_encrypted(obj) else [obj]
        assert all(_is_encrypted(piece) for piece in pieces)


# -- on a real server ----------------------------------------------------------------------------------------------
def _read(name: str) -> tuple[list[str], list[str], np.ndarray]:
    lines = (FATE_DATA / name).read_text().splitlines()
    rows = [line.split(",") for line in lines[1:]]
    return lines[0].split(",")[1:], [r[0] for r in rows], np.array([[float(v) for v in r[1:]] for r in rows])


def _joined(guest: str, host: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
    """(y, guest features, host features aligned to the guest, guest header, host header)."""
    guest_header, guest_ids, guest_values = _read(guest)
    host_header, host_ids, host_values = _read(host)
    position = {sid: i for i, sid in enumerate(host_ids)}
    return (guest_values[:, 0], guest_values[:, 1:], host_values[[position[s] for s in guest_ids]],
            guest_header[1:], host_header)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tables = {**BREAST, "motor_hetero_guest": "motor_hetero_guest.csv", "motor_hetero_host": "motor_hetero_host.csv",
              "vehicle_scale_hetero_guest": "vehicle_scale_hetero_guest.csv",
              "vehicle_scale_hetero_host": "vehicle_scale_hetero_host.csv"}
    party = standalone_server(tmp_path_factory.mktemp("sqn") / "party", tables)
    yield party
    party.stop()


def _job(server: ServerProcess, module: str, table: str, label: str, label_type: str, params: dict) -> str:
    dsl = {"components": {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "data_transform_0": {"module": "DataTransform", "input": {"data": {"data": ["reader_0.data"]}},
                             "output": {"data": ["data"], "model": ["model"]}},
        "model_0": {"module": module, "input": {"data": {"train_data": ["data_transform_0.data"]}},
                    "output": {"data": ["data"], "model": ["model"]}}}}
    role = reader_params(f"{table}_hetero_guest", [f"{table}_hetero_host"])
    role["guest"]["0"]["data_transform_0"] = {"with_label": True, "label_name": label, "label_type": label_type}
    role["host"]["0"]["data_transform_0"] = {"with_label": False}
    job_id, status = run_job(server, dsl, job_conf(GUEST, [HOST], ARBITER, {"model_0": params}, role), timeout=600)
    assert status == "success", job_id
    return job_id


def _sqn_params(p: dict, **extra: Any) -> dict:
    return {"optimizer": "sqn", "penalty": "L2", "alpha": p["alpha"], "learning_rate": p["rate"],
            "max_iter": p["iterations"], "batch_size": p["batch_size"], "decay": p["decay"],
            "decay_sqrt": p["decay_sqrt"], "init_param": {"init_method": "zeros"}, "early_stop": "diff",
            "tol": 1e-12, "encrypt_param": {"key_length": 1024},
            "sqn_param": {"update_interval_L": p["interval"], "memory_M": p["memory"],
                          "sample_size": p["sample_size"], "random_seed": p["seed"]}, **extra}


def _model_weights(model: dict, guest_header: list[str], host_coef: dict, host_header: list[str]) -> np.ndarray:
    return np.array([model["coef"][h] for h in guest_header] + [model["intercept"]]
                    + [host_coef[h] for h in host_header])


BREAST_SQN = dict(iterations=5, batch_size=200, rate=0.15, alpha=0.01, decay=1.0, decay_sqrt=True, interval=2,
                  memory=3, sample_size=120, seed=7)


def test_hetero_lr_breast_equals_the_plain_algorithm(server):
    job_id = _job(server, "HeteroLR", "breast", "y", "int", _sqn_params(BREAST_SQN, shuffle=False))
    y, xg, xh, guest_header, host_header = _joined("breast_hetero_guest.csv", "breast_hetero_host.csv")
    x = np.hstack([xg, np.ones((len(y), 1)), xh])
    w = plain_sqn(LOGISTIC, x, y, intercept=xg.shape[1], **BREAST_SQN)
    guest = summary(server, job_id, "model_0", "guest", GUEST)
    host = summary(server, job_id, "model_0", "host", HOST)
    np.testing.assert_allclose(_model_weights(guest, guest_header, host["coef"], host_header), w, atol=TOLERANCE)
    arbiter = summary(server, job_id, "model_0", "arbiter", ARBITER)
    assert len(arbiter["loss_history"]) == 5 and arbiter["loss_history"][-1] < arbiter["loss_history"][0]


VEHICLE_SQN = dict(iterations=4, batch_size=-1, rate=0.15, alpha=0.01, decay=1.0, decay_sqrt=True, interval=1,
                   memory=2, sample_size=300, seed=11)


def test_hetero_lr_one_vs_rest_equals_the_plain_algorithm_per_class(server):
    job_id = _job(server, "HeteroLR", "vehicle_scale", "y", "int", _sqn_params(VEHICLE_SQN, shuffle=False))
    y, xg, xh, guest_header, host_header = _joined("vehicle_scale_hetero_guest.csv", "vehicle_scale_hetero_host.csv")
    x = np.hstack([xg, np.ones((len(y), 1)), xh])
    guest = summary(server, job_id, "model_0", "guest", GUEST)
    hosts = summary(server, job_id, "model_0", "host", HOST)["coef"]
    classes = sorted(np.unique(y))
    assert guest["one_vs_rest"] and len(guest["one_vs_rest_models"]) == len(classes) == len(hosts) == 4
    for model, host_coef, label in zip(guest["one_vs_rest_models"], hosts, classes, strict=True):
        w = plain_sqn(LOGISTIC, x, (y == label).astype(float), intercept=xg.shape[1], **VEHICLE_SQN)
        np.testing.assert_allclose(_model_weights(model, guest_header, host_coef, host_header), w, atol=TOLERANCE)


MOTOR_SQN = dict(iterations=12, batch_size=-1, rate=0.15, alpha=0.01, decay=0.0, decay_sqrt=False, interval=3,
                 memory=5, sample_size=300, seed=3)


def test_hetero_linr_motor_equals_the_plain_algorithm(server):
    job_id = _job(server, "HeteroLinR", "motor", "motor_speed", "float", _sqn_params(MOTOR_SQN))
    y, xg, xh, guest_header, host_header = _joined("motor_hetero_guest.csv", "motor_hetero_host.csv")
    x = np.hstack([xg, np.ones((len(y), 1)), xh])
    w = plain_sqn(LINEAR, x, y, intercept=xg.shape[1], **MOTOR_SQN)
    guest = summary(server, job_id, "model_0", "guest", GUEST)
    host = summary(server, job_id, "model_0", "host", HOST)
    np.testing.assert_allclose(_model_weights(guest, guest_header, host["coef"], host_header), w, atol=TOLERANCE)
    # sqn, not sgd: sgd's weights after the same iterations are elsewhere
    sgd = plain_sqn(LINEAR, x, y, intercept=xg.shape[1], **{**MOTOR_SQN, "interval": 10 ** 6})
    assert np.abs(sgd - w).max() > 100 * TOLERANCE
