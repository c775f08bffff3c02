"""The hetero GLM protocols (``fate_flow.ml.hetero_linear``: under the arbiter's key, and under the parties' own
keys, ``ml.hetero_linear_party_keys``) with their three parties in one process, talking through an in-memory
data plane that keeps every encoded message: the weights equal FATE's algorithm run in the clear, and what
crossed the data plane gives nobody what it must not have — the arbiter sees no gradient, a host no label and
no residual in the clear, the guest no host forward in the clear — and the keys are fresh per run."""

from __future__ import annotations

import threading
from typing import Any
from unittest import mock

import numpy as np
import pytest
from gmpy2 import mpz

from fate_flow.components.intersection.loopback import Hub
from fate_flow.engine.bigint import BigIntVector
from fate_flow.engine.codec import decode
from fate_flow.entity.keys import TaskKey
from fate_flow.errors import ComponentError
from fate_flow.framework.context import Context
from fate_flow.framework.federation import Exchange
from fate_flow.framework.metrics import Metrics
from fate_flow.ml.glm import LINEAR, LOGISTIC, POISSON, Family
from fate_flow.ml.hetero_linear import Settings, arbiter_fit, guest_fit, host_fit
from fate_flow.ml.optim import Optimizer
from fate_flow.ml.paillier import EncryptedVector, PublicKey, generate_keypair

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


def _settings(**overrides: Any) -> Settings:
    values = dict(max_iter=ITERATIONS, batch_size=-1, batch_strategy="full", shuffle=False, early_stop="diff",
                  tol=1e-12, optimizer="sgd", learning_rate=RATE, alpha=ALPHA, penalty="L2", decay=1.0,
                  decay_sqrt=True, init_method="zeros", init_const=1.0, fit_intercept=True, random_seed=None,
                  key_length=1024)
    return Settings(**{**values, **overrides})


def _run(xg: np.ndarray, y: np.ndarray, xh: np.ndarray, party_keys: bool = True) -> tuple[Any, Any, Hub]:
    results, hub = _run_family(LOGISTIC, xg, y, xh, party_keys=party_keys)
    return results["guest"], results["host"], hub


def _run_family(family: Family, xg: np.ndarray, y: np.ndarray, xh: np.ndarray, weights: np.ndarray | None = None,
                party_keys: bool = True, settings: Settings | None = None) -> tuple[dict[str, Any], Hub]:
    """One fit; ``party_keys=False`` forces the arbiter's key where the parties' own keys would apply."""
    if not party_keys:
        with mock.patch("fate_flow.ml.hetero_linear.applies", return_value=False):
            return _run_family(family, xg, y, xh, weights, settings=settings)
    settings = settings or _settings()
    hub = Hub(timeout=120)
    results: dict[str, Any] = {}

    def play(role: str) -> None:
        ctx = _context(hub, role)
        try:
            if role == "guest":
                results[role] = guest_fit(ctx, family, xg, y, weights, settings)
            elif role == "host":
                results[role] = host_fit(ctx, family, xh, settings)
            else:
                results[role] = arbiter_fit(ctx, settings)
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


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    random = np.random.default_rng(7)
    xg, xh = random.normal(size=(ROWS, 3)), random.normal(size=(ROWS, 4))
    y = (xg[:, 0] + xh[:, 1] + random.normal(scale=0.5, size=ROWS) > 0).astype(float)
    return xg, y, xh


@pytest.fixture(scope="module")
def run() -> tuple:
    """LR with one host and no weights: the parties' own keys."""
    xg, y, xh = _data()
    return xg, y, xh, _run(xg, y, xh)


@pytest.fixture(scope="module")
def run_arbiter_key() -> tuple:
    """The same fit under the arbiter's key (what several hosts, sample weights, Poisson and sqn use)."""
    xg, y, xh = _data()
    return xg, y, xh, _run(xg, y, xh, party_keys=False)


def _received(hub: Hub, role: str) -> list[tuple[str, Any]]:
    return [(m.name, decode(m.data)) for m in hub.messages if m.receiver[0] == role]


def _sent(hub: Hub, sender: str, receiver: str, name: str) -> list[Any]:
    return [decode(m.data) for m in hub.messages if m.sender[0] == sender and m.receiver[0] == receiver
            and m.name == name]


@pytest.mark.parametrize("fixture", ["run", "run_arbiter_key"])
def test_weights_equal_the_plain_algorithm(fixture, request):
    xg, y, xh, (guest, host, _) = request.getfixturevalue(fixture)
    wg, wh, _ = _reference(xg, y, xh)
    np.testing.assert_allclose(guest.weights, wg, atol=1e-8)
    np.testing.assert_allclose(host.weights, wh, atol=1e-8)


def test_the_arbiter_never_sees_a_gradient(run_arbiter_key):
    xg, y, xh, (_, _, hub) = run_arbiter_key
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
    assert names == {"protocol", "masked_gradient", "loss", "penalty", "step_norm", "batch_count", "stop"}


def test_a_host_gets_no_label_and_no_residual_in_the_clear(run_arbiter_key):
    xg, y, xh, (_, _, hub) = run_arbiter_key
    received = _received(hub, "host")
    assert {name for name, _ in received} == {"protocol", "public_key", "batches", "residual", "revealed",
                                              "converged", "validate", "stop"}
    for name, obj in received:
        if name == "residual":
            assert set(obj) == {"key", "exponent", "bound", "ciphertexts"}
            assert isinstance(obj["ciphertexts"], BigIntVector) and len(obj["ciphertexts"]) == ROWS
        if name == "batches":
            assert all(np.asarray(rows).dtype.kind in "iu" for rows in obj)  # row positions, nothing else


def test_the_guest_gets_host_forwards_only_encrypted(run_arbiter_key):
    *_, (_, _, hub) = run_arbiter_key
    forwards = [obj for name, obj in _received(hub, "guest") if name == "forward"]
    assert len(forwards) == ITERATIONS
    for pieces in forwards:
        assert set(pieces) == {"wx", "sum_sq_wx"}
        assert all(isinstance(piece["ciphertexts"], BigIntVector) for piece in pieces.values())


def test_keys_are_fresh_per_run(run_arbiter_key):
    xg, y, xh, (_, _, hub) = run_arbiter_key
    _, _, again = _run(xg[:20], y[:20], xh[:20], party_keys=False)
    keys = [[obj["n"] for name, obj in _received(h, "guest") if name == "public_key"] for h in (hub, again)]
    assert len(keys[0]) == len(keys[1]) == 1 and keys[0] != keys[1]


# -- the parties' own keys -------------------------------------------------------------------------------------
def _key_of(hub: Hub, owner: str) -> int:
    receiver = "host" if owner == "guest" else "guest"
    (wire,) = _sent(hub, owner, receiver, "public_key")
    return wire["n"]


def test_with_party_keys_each_party_gets_the_others_values_only_under_the_others_key(run):
    """The host gets the guest's part of the residual (labels inside) under the guest's key, the guest the
    host's forward under the host's: a party can decrypt neither; each key is fresh, of the configured length,
    and nobody else's; the arbiter holds no key and gets no ciphertext it could decrypt."""
    *_, (_, _, hub) = run
    guest_n, host_n = _key_of(hub, "guest"), _key_of(hub, "host")
    assert guest_n != host_n and guest_n.bit_length() == host_n.bit_length() == 1024
    parts = _sent(hub, "guest", "host", "residual_part") + _sent(hub, "guest", "host", "loss_part")
    forwards = _sent(hub, "host", "guest", "forward")
    assert len(parts) == 2 * ITERATIONS and len(forwards) == ITERATIONS
    for wires, owner, other, rows in ((parts, guest_n, host_n, (ROWS, 1)), (forwards, host_n, guest_n, (ROWS,))):
        for wire in wires:
            assert len(EncryptedVector.from_wire(PublicKey(owner), wire)) in rows
            with pytest.raises(ValueError):
                EncryptedVector.from_wire(PublicKey(other), wire)
    assert _sent(hub, "guest", "arbiter", "public_key") == [{"scheme": "paillier", "n": guest_n}]
    assert not _sent(hub, "host", "arbiter", "public_key")
    assert {name for name, _ in _received(hub, "arbiter")} == {
        "protocol", "public_key", "loss_mask", "revealed_loss", "penalty", "step_norm", "batch_count", "stop"}
    assert {name for name, _ in _received(hub, "host")} == {
        "protocol", "public_key", "key_proof", "batches", "residual_part", "loss_part", "masked_gradient",
        "revealed", "converged", "validate", "stop"}
    assert {name for name, _ in _received(hub, "guest")} == {
        "public_key", "key_proof", "forward", "masked_gradient", "masked_loss", "revealed", "converged"}


def test_with_party_keys_every_decryption_a_party_does_for_the_other_is_masked(run):
    """What each party decrypts for the other (a gradient, the loss) is uniform in [0, n): as fixed-point
    numbers astronomically far from any gradient or loss, positive or negative (``n - |v|``)."""
    xg, y, xh, (_, _, hub) = run
    _, _, gradients = _reference(xg, y, xh)
    guest_n, host_n = _key_of(hub, "guest"), _key_of(hub, "host")
    for sender, receiver, name, per_batch, n in (("host", "guest", "revealed", 4, host_n),
                                                 ("guest", "host", "revealed", 4, guest_n),
                                                 ("guest", "arbiter", "revealed_loss", 1, guest_n)):
        revealed = _sent(hub, sender, receiver, name)
        assert len(revealed) == ITERATIONS and all(len(vector) == per_batch for vector in revealed)
        assert min(min(v, n - v) for vector in revealed for v in vector.ints()) > 2 ** 600
    assert np.abs(np.concatenate(gradients)).max() < 10


def test_with_party_keys_keys_are_fresh_per_run(run):
    xg, y, xh, (_, _, hub) = run
    _, _, again = _run(xg[:20], y[:20], xh[:20])
    for owner in ("guest", "host"):
        assert _key_of(hub, owner) != _key_of(again, owner)


def test_with_party_keys_several_batches_equal_the_arbiter_key_protocol():
    """Mini-batches of 50 (the last one shorter), the loss history included: both protocols compute the same."""
    xg, y, xh = _data()
    settings = _settings(batch_size=50)
    party, _ = _run_family(LOGISTIC, xg, y, xh, settings=settings)
    arbiter, _ = _run_family(LOGISTIC, xg, y, xh, party_keys=False, settings=settings)
    for role in ("guest", "host"):
        np.testing.assert_allclose(party[role].weights, arbiter[role].weights, atol=1e-9)
    np.testing.assert_allclose(party["arbiter"].loss_history, arbiter["arbiter"].loss_history, rtol=1e-9)


def test_with_party_keys_the_arbiter_learns_the_loss_exactly(run):
    """The arbiter unmasks the loss the guest decrypted with the host's mask: FATE's Taylor loss of the
    iteration (before the step) plus the penalty after it."""
    xg, y, xh, (_, _, hub) = run
    design = np.hstack([xg, np.ones((len(y), 1))])
    wg, wh, expected = np.zeros(design.shape[1]), np.zeros(xh.shape[1]), []
    guest_opt, host_opt = Optimizer("sgd", RATE, ALPHA, "L2", fit_intercept=True), Optimizer("sgd", RATE, ALPHA, "L2")
    for iteration in range(ITERATIONS):
        wx, signed = design @ wg + xh @ wh, 2 * y - 1
        taylor = float(np.mean(np.log(2) - 0.5 * signed * wx + 0.125 * wx ** 2))
        d = 0.25 * wx - 0.5 * signed
        guest_opt.iteration = host_opt.iteration = iteration
        wg, wh = guest_opt.step(wg, design.T @ d / len(y)), host_opt.step(wh, xh.T @ d / len(y))
        expected.append(taylor + guest_opt.penalty_loss(wg) + host_opt.penalty_loss(wh))
    assert len(_sent(hub, "host", "arbiter", "loss_mask")) == ITERATIONS
    results, _ = _run_family(LOGISTIC, xg, y, xh)
    np.testing.assert_allclose(results["arbiter"].loss_history, expected, rtol=1e-9)


def test_with_party_keys_what_goes_back_to_a_key_owner_carries_textbook_randomness():
    """Each party's gradient (and the host's loss) is its data times ciphertexts the other party made under a
    key it made too: what goes back is rerandomized with textbook ``r^n`` (exactly uniform for a proven key;
    a DJN obfuscator alone leaves characters the owner reads), and it is that rerandomized vector, masked,
    that is sent: mod n the mask ``1 + R n`` vanishes, so a sent value equals the rerandomized one mod n."""
    xg, y, xh = _data()
    produced: list[tuple[list, list]] = []
    real = EncryptedVector.rerandomize_textbook

    def recorded(vector: EncryptedVector, *args: Any, **kwargs: Any) -> EncryptedVector:
        fresh = real(vector, *args, **kwargs)
        produced.append((list(vector.ciphertexts), list(fresh.ciphertexts)))
        return fresh

    with mock.patch.object(EncryptedVector, "rerandomize_textbook", recorded), \
            mock.patch.object(EncryptedVector, "rerandomize", side_effect=AssertionError("DJN only")), \
            mock.patch.object(EncryptedVector, "rerandomize_uniform", side_effect=AssertionError("DJN+blinding")):
        _, hub = _run_family(LOGISTIC, xg, y, xh)
    assert sorted(len(before) for before, _ in produced) == sorted([4, 4, 1] * ITERATIONS)
    keys = {"guest": _key_of(hub, "guest"), "host": _key_of(hub, "host")}
    sent = [(wire, keys["host" if m.sender[0] == "guest" else "guest"]) for m in hub.messages
            if m.name in ("masked_gradient", "masked_loss") for wire in [decode(m.data)]]
    assert len(sent) == 3 * ITERATIONS
    for wire, n in sent:
        values = [c % n for c in wire["ciphertexts"].ints()]
        matches = [(before, after) for before, after in produced if [c % n for c in after] == values]
        assert len(matches) == 1  # the rerandomized vector, masked
        assert all(b % n != v for b, v in zip(matches[0][0], values, strict=True))  # not the raw product


def test_a_modulus_sharing_a_factor_with_phi_is_refused(monkeypatch):
    """A review's attack: a host picks n = p_1 ... p_15 q (27-bit p_i, q = 2 d t + 1 with d = prod p_i), which
    passes every check of PublicKey.from_wire; Z_q^* then has a character of order d that no rerandomization
    touches, with which the host read the guest's features off the gradient it decrypts. Nobody can give n-th
    roots of its challenges, so the guest refuses the key before it computes anything under it."""
    import math
    import secrets

    import gmpy2
    from gmpy2 import mpz

    from fate_flow.ml.paillier import key_proof

    smalls, p = [], mpz(1) << 27
    while math.prod(smalls).bit_length() <= 400:
        p = gmpy2.next_prime(p)
        smalls.append(p)
    d = mpz(math.prod(smalls))
    while True:
        lo, hi = (mpz(1) << 1023) // (2 * d * d) + 1, (mpz(1) << 1024) // (2 * d * d) - 1
        t = lo + mpz(secrets.randbelow(int(hi - lo)))
        q = 2 * d * t + 1
        if (d * q).bit_length() == 1024 and gmpy2.gcd(t, d) == 1 and gmpy2.is_prime(q):
            break
    crafted = PublicKey.from_wire({"scheme": "paillier", "n": int(d * q)})  # accepted by the plain checks
    with pytest.raises(ZeroDivisionError):  # the owner's own factors give no n-th roots: n has no inverse
        gmpy2.invert(crafted.n, math.prod(f - 1 for f in [*smalls, q]))
    honest_public, honest_private = generate_keypair(1024)
    proof = key_proof.prove(honest_private)
    key_proof.verify(honest_public, proof)
    for public in (crafted, generate_keypair(1024)[0]):  # a borrowed proof does not pass either
        with pytest.raises(ValueError, match="key proof fails"):
            key_proof.verify(public, proof)
    # in the protocol: the guest refuses the crafted key (with the best "proof" the host can make)
    xg, y, _ = _data()
    hub = Hub(timeout=10)
    host = _context(hub, "host")
    host.guest.put("public_key", crafted.to_wire())
    host.guest.put("key_proof", proof)
    with pytest.raises(ComponentError, match="host's public key is refused: the key proof fails"):
        guest_fit(_context(hub, "guest"), LOGISTIC, xg, y, None, _settings())


def test_a_party_keys_announcement_is_refused_where_it_cannot_apply():
    """A guest announcing the party-keys protocol to a host with sample weights is refused by the host with a
    message naming the protocol (not run with the weights left out); an unknown protocol likewise."""
    _, _, xh = _data()
    for announced, weighted, message in (("party_keys", True, "party-keys protocol"),
                                         ("mine", False, "unknown protocol")):
        hub = Hub(timeout=5)
        _context(hub, "guest").hosts.put("protocol", announced)
        with pytest.raises(ComponentError, match=message):
            host_fit(_context(hub, "host"), LOGISTIC, xh, _settings(), weighted=weighted)


def test_a_short_key_from_the_other_party_is_refused():
    """A host sending a key shorter than encrypt_param.key_length would weaken what the guest sends under it."""
    xg, y, _ = _data()
    hub = Hub(timeout=5)
    host = _context(hub, "host")
    host.guest.put("public_key", generate_keypair(1024)[0].to_wire())
    longer = _settings(key_length=2048)
    with pytest.raises(ComponentError, match="1024 bits, encrypt_param.key_length is 2048"):
        guest_fit(_context(hub, "guest"), LOGISTIC, xg, y, None, longer)


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
    assert len(forwards) == ITERATIONS
    for forward in forwards:  # Poisson: the arbiter's key; LinR: the host's own, its wx alone
        pieces = forward if family is POISSON else {"wx": forward}
        assert set(pieces) == ({"exp_wx", "sum_y_wx"} if family is POISSON else {"wx"})
        assert all(isinstance(piece["ciphertexts"], BigIntVector) for piece in pieces.values())
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
        _run_family(family, xg, y, xh, weights, party_keys=False)
    assert calls == ({"rerandomize": 0, "rerandomize_uniform": ITERATIONS} if uniform
                     else {"rerandomize": ITERATIONS, "rerandomize_uniform": 0})


@pytest.mark.parametrize("party_keys", [False, True], ids=["arbiter key", "party keys"])
def test_the_key_holder_cannot_tell_a_zero_or_repeated_column_from_the_masked_gradient(party_keys):
    """``X^T [[d]]`` of an all-zero column is the ciphertext 1 and equal columns give equal ciphertexts; the
    key holder (the arbiter, or the guest under the parties' own keys) can read both off what it decrypts (mod
    n the plaintext mask vanishes) unless the party rerandomizes first."""
    random = np.random.default_rng(9)
    xg = random.normal(size=(ROWS, 2))
    shared = random.normal(size=ROWS)
    xh = np.column_stack([np.zeros(ROWS), shared, shared])
    y = (xg[:, 0] + shared > 0).astype(float)
    _, _, hub = _run(xg, y, xh, party_keys=party_keys)
    n = _key_of(hub, "guest") if party_keys else \
        next(obj["n"] for name, obj in _received(hub, "host") if name == "public_key")
    masked = _sent(hub, "host", "guest" if party_keys else "arbiter", "masked_gradient")
    assert len(masked) == ITERATIONS
    for wire in masked:
        zero, first, second = (c % n for c in wire["ciphertexts"].ints())
        assert zero != 1 and first != second


def test_the_arbiter_checks_the_loss_mask_before_it_decodes_anything():
    """The loss mask comes from the host: exactly one mask, in the key's ring, an exponent and a bound of range;
    an answer that decodes to no float is refused with a ValueError, not an OverflowError."""
    from fate_flow.ml import masking

    public, private = generate_keypair(1024)
    loss = public.encrypt(np.array([0.693]))
    wire, secret = masking.hide(public, loss)
    good = masking.secret_to_wire(secret)
    assert masking.recover(public, masking.secret_from_wire(public, good, 1),
                           masking.reveal(private, wire))[0] == pytest.approx(0.693)
    bad_cases = [({**good, "masks": BigIntVector.from_ints([1, 2])}, "1 values"),
                 ({**good, "masks": BigIntVector.from_ints([int(public.n)])}, "outside the plaintext ring"),
                 ({**good, "exponent": -1}, "exponent"), ({**good, "bound": int(public.n)}, "bound")]
    for bad, message in bad_cases:
        with pytest.raises(ValueError, match=message):
            masking.secret_from_wire(public, bad, 1)
    wide = generate_keypair(2048)[0]  # n/2 beyond a float's range
    huge = masking.Secret([mpz(0)], 0, int(wide.max_int))
    with pytest.raises(ValueError, match="float"):
        masking.recover(wide, huge, BigIntVector.from_ints([int(wide.max_int)]))
