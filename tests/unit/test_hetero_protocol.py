"""The hetero GLM protocol (``fate_flow.ml.hetero_linear``) with its three parties in one process, talking
through an in-memory data plane that keeps every encoded message: the weights equal FATE's algorithm run in
the clear, and what crossed the data plane gives nobody what it must not have — the arbiter sees no
gradient, a host no label and no residual in the clear, the guest no host forward in the clear — and the
keys are fresh per run."""

from __future__ import annotations

import threading
from typing import Any
from unittest import mock

import numpy as np
import pytest

from fate_flow.components.intersection.loopback import Hub
from fate_flow.engine.bigint import BigIntVector
from fate_flow.engine.codec import decode
from fate_flow.entity.keys import TaskKey
from fate_flow.framework.context import Context
from fate_flow.framework.federation import Exchange
from fate_flow.framework.metrics import Metrics
from fate_flow.ml.glm import LINEAR, LOGISTIC, POISSON, Family
from fate_flow.ml.hetero_linear import Settings, arbiter_fit, guest_fit, host_fit
from fate_flow.ml.optim import Optimizer
from fate_flow.ml.paillier import EncryptedVector

ROLES = {"guest": ["9999"], "host": ["10000"], "arbiter": ["10000"]}
ROWS, ITERATIONS, RATE, ALPHA = 120, 3, 0.2, 0.01


class Recorder:
    """A tracker that keeps the metrics the arbiter records."""

    def __init__(self) -> None:
        self.points: list = []

    def save_metric_data(self, namespace: str, name: str, points: list) -> None:
        self.points.extend(points)

    def save_metric_meta(self, namespace: str, name: str, meta: dict) -> None:
        pass


def _context(hub: Hub, role: str) -> Context:
    me = (role, ROLES[role][0])
    task = TaskKey("job", "hetero_lr_0", "job_hetero_lr_0", 0, *me)
    return Context(task=task, module="HeteroLR", stage="train", params=None, cores=1, computing=None, inputs=None,
                   outputs=None, models=None, metrics=Metrics(Recorder()), exchange=Exchange(hub.transport(me), me,
                                                                                            ROLES))


def _settings() -> Settings:
    return Settings(max_iter=ITERATIONS, batch_size=-1, batch_strategy="full", shuffle=False, early_stop="diff",
                    tol=1e-12, optimizer="sgd", learning_rate=RATE, alpha=ALPHA, penalty="L2", decay=1.0,
                    decay_sqrt=True, init_method="zeros", init_const=1.0, fit_intercept=True, random_seed=None,
                    key_length=1024)


def _run(xg: np.ndarray, y: np.ndarray, xh: np.ndarray) -> tuple[Any, Any, Hub]:
    results, hub = _run_family(LOGISTIC, xg, y, xh)
    return results["guest"], results["host"], hub


def _run_family(family: Family, xg: np.ndarray, y: np.ndarray, xh: np.ndarray,
                weights: np.ndarray | None = None) -> tuple[dict[str, Any], Hub]:
    hub = Hub(timeout=120)
    results: dict[str, Any] = {}

    def play(role: str) -> None:
        ctx = _context(hub, role)
        try:
            if role == "guest":
                results[role] = guest_fit(ctx, family, xg, y, weights, _settings())
            elif role == "host":
                results[role] = host_fit(ctx, family, xh, _settings())
            else:
                results[role] = arbiter_fit(ctx, _settings())
        except BaseException as exc:  # noqa: BLE001 (re-raised below)
            results[role] = exc

    threads = [threading.Thread(target=play, args=(role,), daemon=True) for role in ROLES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    for outcome in results.values():
        if isinstance(outcome, BaseException):
            raise outcome
    return results, hub


def _reference(xg: np.ndarray, y: np.ndarray, xh: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
    """FATE's hetero LR in the clear: Taylor gradient, sgd, L2 on the coefficients, decay_sqrt."""
    design = np.hstack([xg, np.ones((len(y), 1))])
    wg, wh, gradients = np.zeros(design.shape[1]), np.zeros(xh.shape[1]), []
    for iteration in range(ITERATIONS):
        d = 0.25 * (design @ wg + xh @ wh) - 0.5 * (2 * y - 1)
        gg, gh = design.T @ d / len(y), xh.T @ d / len(y)
        gradients.extend([gg.copy(), gh.copy()])
        gg[:-1] += ALPHA * wg[:-1]
        gh += ALPHA * wh
        step = RATE / np.sqrt(1 + iteration)
        wg, wh = wg - step * gg, wh - step * gh
    return wg, wh, gradients


@pytest.fixture(scope="module")
def run() -> tuple:
    random = np.random.default_rng(7)
    xg, xh = random.normal(size=(ROWS, 3)), random.normal(size=(ROWS, 4))
    y = (xg[:, 0] + xh[:, 1] + random.normal(scale=0.5, size=ROWS) > 0).astype(float)
    return xg, y, xh, _run(xg, y, xh)


def _received(hub: Hub, role: str) -> list[tuple[str, Any]]:
    return [(m.name, decode(m.data)) for m in hub.messages if m.receiver[0] == role]


def test_weights_equal_the_plain_algorithm(run):
    xg, y, xh, (guest, host, _) = run
    wg, wh, _ = _reference(xg, y, xh)
    np.testing.assert_allclose(guest.weights, wg, atol=1e-8)
    np.testing.assert_allclose(host.weights, wh, atol=1e-8)


def test_the_arbiter_never_sees_a_gradient(run):
    xg, y, xh, (_, _, hub) = run
    _, _, gradients = _reference(xg, y, xh)
    plain = np.abs(np.concatenate(gradients))
    masked = [obj for name, obj in _received(hub, "arbiter") if name == "masked_gradient"]
    assert len(masked) == 2 * ITERATIONS
    for wire in masked:
        assert set(wire) == {"key", "ciphertexts"} and isinstance(wire["ciphertexts"], BigIntVector)
    # what the arbiter decrypted (and sent back) is uniform in [0, n): as fixed-point numbers, astronomically
    # far from any gradient
    revealed = [obj for m in hub.messages if m.sender[0] == "arbiter" and m.name == "revealed"
                for obj in [decode(m.data)]]
    values = [v for vector in revealed for v in vector.ints()]
    assert len(values) == sum(len(g) for g in gradients)
    assert min(values) > 2 ** 600 and plain.max() < 10
    # the arbiter receives nothing else but one-number summaries (loss, penalties, norms, counts, flags)
    names = {name for name, _ in _received(hub, "arbiter")}
    assert names == {"masked_gradient", "loss", "penalty", "step_norm", "batch_count", "stop"}


def test_a_host_gets_no_label_and_no_residual_in_the_clear(run):
    xg, y, xh, (_, _, hub) = run
    received = _received(hub, "host")
    assert {name for name, _ in received} == {"public_key", "batches", "residual", "revealed", "converged", "validate",
                                              "stop"}
    for name, obj in received:
        if name == "residual":
            assert set(obj) == {"key", "exponent", "bound", "ciphertexts"}
            assert isinstance(obj["ciphertexts"], BigIntVector) and len(obj["ciphertexts"]) == ROWS
        if name == "batches":
            assert all(np.asarray(rows).dtype.kind in "iu" for rows in obj)  # row positions, nothing else


def test_the_guest_gets_host_forwards_only_encrypted(run):
    *_, (_, _, hub) = run
    forwards = [obj for name, obj in _received(hub, "guest") if name == "forward"]
    assert len(forwards) == ITERATIONS
    for pieces in forwards:
        assert set(pieces) == {"wx", "sum_sq_wx"}
        assert all(isinstance(piece["ciphertexts"], BigIntVector) for piece in pieces.values())


def test_keys_are_fresh_per_run(run):
    xg, y, xh, (_, _, hub) = run
    _, _, again = _run(xg[:20], y[:20], xh[:20])
    keys = [[obj["n"] for name, obj in _received(h, "guest") if name == "public_key"] for h in (hub, again)]
    assert len(keys[0]) == len(keys[1]) == 1 and keys[0] != keys[1]


def _glm_reference(family: Family, xg: np.ndarray, y: np.ndarray, xh: np.ndarray) -> tuple:
    """LinR / Poisson in the clear as the protocol runs them: exact residual (wx - y, exp(wx) - y), full batch,
    sgd, L2 but on the intercept, decay_sqrt; the loss of an iteration is the data loss before the step plus
    the penalty after it."""
    design = np.hstack([xg, np.ones((len(y), 1))])
    wg, wh, losses = np.zeros(design.shape[1]), np.zeros(xh.shape[1]), []
    guest_opt = Optimizer("sgd", RATE, ALPHA, "L2", fit_intercept=True)
    host_opt = Optimizer("sgd", RATE, ALPHA, "L2")
    for iteration in range(ITERATIONS):
        wx = design @ wg + xh @ wh
        d = np.exp(wx) - y if family is POISSON else wx - y
        data_loss = family.plain_loss(wx, y, None)
        guest_opt.iteration = host_opt.iteration = iteration
        wg, wh = guest_opt.step(wg, design.T @ d / len(y)), host_opt.step(wh, xh.T @ d / len(y))
        losses.append(data_loss + guest_opt.penalty_loss(wg) + host_opt.penalty_loss(wh))
    return wg, wh, losses


@pytest.mark.parametrize("family", [LINEAR, POISSON], ids=lambda family: family.name)
def test_linear_and_poisson_equal_the_plain_algorithm(family):
    random = np.random.default_rng(11)
    xg, xh = random.normal(scale=0.5, size=(ROWS, 2)), random.normal(scale=0.5, size=(ROWS, 3))
    rate = np.exp(0.4 * xg[:, 0] - 0.3 * xh[:, 1] + 0.2)
    y = random.poisson(rate).astype(float) if family is POISSON else np.log(rate) + random.normal(size=ROWS)
    results, hub = _run_family(family, xg, y, xh)
    wg, wh, losses = _glm_reference(family, xg, y, xh)
    np.testing.assert_allclose(results["guest"].weights, wg, atol=1e-8)
    np.testing.assert_allclose(results["host"].weights, wh, atol=1e-8)
    np.testing.assert_allclose(results["arbiter"].loss_history, losses, rtol=1e-8)
    forwards = [obj for name, obj in _received(hub, "guest") if name == "forward"]
    expected = {"exp_wx", "sum_y_wx"} if family is POISSON else {"wx", "sum_sq_wx"}
    assert len(forwards) == ITERATIONS and all(set(pieces) == expected for pieces in forwards)
    # Poisson: the host gets the labels once, encrypted, and nothing else new
    labels = [obj for name, obj in _received(hub, "host") if name == "encrypted_labels"]
    assert len(labels) == (family is POISSON)
    for wire in labels:
        assert isinstance(wire["ciphertexts"], BigIntVector) and len(wire["ciphertexts"]) == ROWS


@pytest.mark.parametrize(("family", "weighted", "uniform"), [
    (LOGISTIC, False, False), (LOGISTIC, True, True), (LINEAR, True, True), (POISSON, False, True)],
    ids=["logistic", "weighted logistic", "weighted linear", "poisson"])
def test_the_residual_goes_back_uniformly_rerandomized_when_the_guest_multiplies_the_forward(family, weighted,
                                                                                            uniform):
    """A host made [[wx_h]] and knows the Jacobi symbol of its randomness (anyone reads it off the ciphertext):
    were the residual, that ciphertext times the guest's sample weights (or Poisson's exp(wx_g)), rerandomized
    by a DJN obfuscator only, its Jacobi symbols would give the host the weights' parities (the labels, with
    class weights). Multiplied by a public 0.25 only, a DJN obfuscator is enough."""
    random = np.random.default_rng(3)
    xg, xh = random.normal(scale=0.5, size=(ROWS, 2)), random.normal(scale=0.5, size=(ROWS, 2))
    y = random.poisson(1.0, ROWS).astype(float) if family is POISSON else (xg[:, 0] > 0).astype(float)
    weights = np.where(y > 0, 3.7, 0.6) if weighted else None
    calls = {"rerandomize": 0, "rerandomize_uniform": 0}
    real = {name: getattr(EncryptedVector, name) for name in calls}

    def spy(name: str):
        def counted(vector: EncryptedVector, *args: Any, **kwargs: Any) -> EncryptedVector:
            if len(vector) == ROWS:  # the residual (the other rerandomizations are of one value or a gradient)
                calls[name] += 1
            return real[name](vector, *args, **kwargs)
        return counted

    with mock.patch.object(EncryptedVector, "rerandomize", spy("rerandomize")), \
            mock.patch.object(EncryptedVector, "rerandomize_uniform", spy("rerandomize_uniform")):
        _run_family(family, xg, y, xh, weights)
    assert calls == ({"rerandomize": 0, "rerandomize_uniform": ITERATIONS} if uniform
                     else {"rerandomize": ITERATIONS, "rerandomize_uniform": 0})


def test_the_arbiter_cannot_tell_a_zero_or_repeated_column_from_the_masked_gradient():
    """``X^T [[d]]`` of an all-zero column is the ciphertext 1 and equal columns give equal ciphertexts; the
    arbiter can read both off what it decrypts (mod n the plaintext mask vanishes) unless the party
    rerandomizes first."""
    random = np.random.default_rng(9)
    xg = random.normal(size=(ROWS, 2))
    shared = random.normal(size=ROWS)
    xh = np.column_stack([np.zeros(ROWS), shared, shared])
    y = (xg[:, 0] + shared > 0).astype(float)
    _, _, hub = _run(xg, y, xh)
    n = next(obj["n"] for name, obj in _received(hub, "host") if name == "public_key")
    for m in hub.messages:
        if m.sender[0] == "host" and m.name == "masked_gradient":
            zero, first, second = (c % n for c in decode(m.data)["ciphertexts"].ints())
            assert zero != 1 and first != second
