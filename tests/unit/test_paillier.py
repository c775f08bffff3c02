"""fate_flow.ml.paillier against plain numpy arithmetic: every operation, the homomorphic identities,
exponent alignment, the wire format and what from_wire refuses, randomness (the DJN obfuscators: table walk
against direct exponentiation, full-length exponents, the encrypting process's own base) and wrong keys."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from unittest import mock

import gmpy2
import numpy as np
import pytest

from fate_flow.engine.bigint import BigIntVector
from fate_flow.engine.codec import decode, encode
from fate_flow.ml.paillier import (
    ENCRYPT_FRAC_BITS,
    MATMUL_FRAC_BITS,
    MULT_FRAC_BITS,
    OBFUSCATION_SLACK_BITS,
    OBFUSCATION_TABLE_BYTES,
    EncryptedVector,
    ObfuscatorPool,
    PrivateKey,
    PublicKey,
    generate_keypair,
    multiexp,
    obfuscation,
    parallel,
    vector,
)
from fate_flow.ml.paillier import pool as pool_module

RNG = np.random.default_rng(20240611)


@pytest.fixture(scope="module")
def keys() -> tuple[PublicKey, PrivateKey]:
    return generate_keypair(1024)


@pytest.fixture(scope="module")
def values() -> np.ndarray:
    """Negatives and positives, big and small, zero, exact and inexact binary fractions."""
    mixed = np.concatenate([RNG.normal(size=40) * 10, RNG.uniform(-1e6, 1e6, size=8), RNG.normal(size=6) * 1e-6,
                            [0.0, -0.0, 1.0, -1.0, 0.25, 1e-9, -123456.789, 0.1]])
    return RNG.permutation(mixed)


@pytest.fixture(scope="module")
def encrypted(keys, values) -> EncryptedVector:
    pub, _ = keys
    return pub.encrypt(values)


def close(got: np.ndarray, want: np.ndarray, scale: float | None = None, rel: float = 1e-9) -> None:
    """Elementwise within ``rel`` of the larger of |want| and ``scale`` (the operands' magnitude)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    tolerance = rel * np.maximum(np.abs(want), scale if scale is not None else 1e-300)
    assert np.all(np.abs(got - want) <= tolerance), np.max(np.abs(got - want) / np.maximum(tolerance, 1e-300))


# ----------------------------------------------------------------------------------------------- keys


def test_keypair_has_the_requested_length_and_is_fresh() -> None:
    pub, priv = generate_keypair(1024)
    assert pub.key_length == 1024 and priv.p * priv.q == pub.n and priv.public == pub
    assert gmpy2.is_prime(priv.p) and gmpy2.is_prime(priv.q) and priv.p != priv.q
    other, _ = generate_keypair(1024)
    assert other != pub and other.fingerprint != pub.fingerprint


@pytest.mark.parametrize("length", [512, 1000, 1023, 16384])
def test_keypair_refuses_lengths_out_of_range(length: int) -> None:
    with pytest.raises(ValueError, match="key_length"):
        generate_keypair(length)


@pytest.mark.parametrize("length", [True, 2048.0, "2048", None])
def test_keypair_refuses_non_int_lengths(length: object) -> None:
    with pytest.raises(TypeError):
        generate_keypair(length)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ encryption / decryption


def test_round_trip_keeps_float64_precision(keys, values, encrypted) -> None:
    _, priv = keys
    got = priv.decrypt(encrypted)
    # exact to float64 for |v| >= 2^-11; below that, exact to 2^-64 absolute
    assert np.all(np.abs(got - values) <= np.maximum(np.abs(values) * 2.0 ** -52, 2.0 ** -64))
    assert got.dtype == np.float64 and encrypted.exponent == ENCRYPT_FRAC_BITS


def test_private_key_encryption_decrypts_the_same(keys, values) -> None:
    pub, priv = keys
    by_owner = priv.encrypt(values, cores=2)
    np.testing.assert_array_equal(priv.decrypt(by_owner), priv.decrypt(pub.encrypt(values)))
    assert by_owner.public == pub


def test_encryptions_of_the_same_value_differ(keys) -> None:
    pub, _ = keys
    same = np.full(20, 3.5)
    first, second = pub.encrypt(same), pub.encrypt(same, cores=2)
    assert len(set(first.ciphertexts)) == 20
    assert not set(first.ciphertexts) & set(second.ciphertexts)
    assert all(c != (1 + (3.5 * 2**ENCRYPT_FRAC_BITS) * pub.n) % pub.nsquare for c in first.ciphertexts)


def test_plain_operations_are_deterministic_until_rerandomized(keys, values, encrypted) -> None:
    pub, priv = keys
    shifted = encrypted + values
    # whoever made `encrypted` can recover the plain operand from the output ...
    m = int(np.rint(np.ldexp(values[0], ENCRYPT_FRAC_BITS)))
    assert shifted.ciphertexts[0] * gmpy2.invert(encrypted.ciphertexts[0], pub.nsquare) % pub.nsquare == \
        (1 + m * pub.n) % pub.nsquare
    # ... until fresh randomness hides it
    fresh = shifted.rerandomize(cores=2)
    assert not set(fresh.ciphertexts) & set(shifted.ciphertexts)
    np.testing.assert_array_equal(priv.decrypt(fresh), priv.decrypt(shifted))
    assert (fresh.exponent, fresh.bound) == (shifted.exponent, shifted.bound)


def test_encryption_with_several_cores_matches(keys, values) -> None:
    pub, priv = keys
    both = priv.decrypt(pub.encrypt(values, cores=2), cores=2)
    np.testing.assert_array_equal(both, priv.decrypt(pub.encrypt(values)))


@pytest.mark.parametrize("bad", [[np.nan], [np.inf], [-np.inf], [2.0**64], np.zeros((2, 2))])
def test_encrypt_refuses_bad_values(keys, bad) -> None:
    pub, _ = keys
    with pytest.raises(ValueError):
        pub.encrypt(np.asarray(bad, dtype=np.float64))


def test_empty_vector(keys) -> None:
    pub, priv = keys
    empty = pub.encrypt(np.zeros(0))
    assert len(empty) == 0 and priv.decrypt(empty).shape == (0,)
    assert priv.decrypt(empty.sum()).tolist() == [0.0]


# ------------------------------------------------------------------------------- obfuscation (DJN)


def is_nth_residue(priv: PrivateKey, values: list) -> bool:
    """An n-th residue mod n^2 is an encryption of 0: what every obfuscator must be."""
    return all(m == 0 for m in priv.decrypt_integers(values))


def test_the_base_is_the_encrypting_process_own_nth_residue(keys) -> None:
    pub, priv = keys
    state = obfuscation._obfuscation(pub)
    assert obfuscation._obfuscation(PublicKey.from_wire(pub.to_wire())) is state  # one per key and process
    assert state.base not in (0, 1) and is_nth_residue(priv, [state.base])
    other = obfuscation._Obfuscation(pub)  # another process's: its own random h
    assert other.base != state.base and is_nth_residue(priv, [other.base])


def test_exponents_are_full_length_and_tables_fit_the_budget(keys) -> None:
    for key_length in (1024, 2048):
        bits = key_length + OBFUSCATION_SLACK_BITS
        for budget in (OBFUSCATION_TABLE_BYTES // 4, OBFUSCATION_TABLE_BYTES):
            width, rows, steps = shape = obfuscation._comb_shape(bits, key_length // 4, budget)
            assert width * rows * steps >= bits  # never fewer random bits than the key length (+ 128)
            assert obfuscation._comb_entries(shape) * (key_length // 4 + obfuscation._TABLE_ENTRY_OVERHEAD) <= budget
            assert obfuscation._comb_operations(shape) < bits / 5  # vs ~1.2 * bits for a direct exponentiation
    pub, _ = keys
    state = obfuscation._obfuscation(pub)
    assert state.exponent_bits == pub.key_length + OBFUSCATION_SLACK_BITS
    exponents = obfuscation._random_exponents(200, state.exponent_bits)
    assert max(exponents).bit_length() >= state.exponent_bits - 7 and len(set(exponents)) == 200


@pytest.mark.parametrize("shape", [(3, 2, 4), (1, 5, 3), (4, 3, 1), (2, 1, 7), "production"])
def test_table_walk_equals_direct_exponentiation(keys, shape) -> None:
    pub, _ = keys
    state = obfuscation._obfuscation(pub)
    shape = state.shapes[0] if shape == "production" else shape
    fixed = obfuscation._FixedBase(state.base, pub.nsquare, shape)
    digits = fixed.random_digits(8)
    for k, power in enumerate(fixed.powers(digits)):
        assert power == gmpy2.powmod(state.base, fixed.exponent(digits[:, :, k]), pub.nsquare)
    width, rows, steps = shape
    top = np.full((steps, rows, 1), (1 << width) - 1, dtype=np.uint16)
    assert fixed.exponent(top[:, :, 0]) == (1 << width * rows * steps) - 1  # every exponent bit, each once
    assert fixed.powers(top) == [gmpy2.powmod(state.base, (1 << width * rows * steps) - 1, pub.nsquare)]
    assert fixed.powers(np.zeros((steps, rows, 1), dtype=np.uint16)) == [1]


def test_tables_are_built_when_they_pay(keys, monkeypatch) -> None:
    """Direct exponentiations first, then a small table, then the large one; n-th residues throughout."""
    pub, priv = keys
    monkeypatch.setattr(obfuscation, "OBFUSCATION_TABLE_BYTES", 1 << 20)  # small tables: a quick test
    state = obfuscation._Obfuscation(pub)
    small, large = state.shapes
    assert obfuscation._comb_operations(large) < obfuscation._comb_operations(small)
    seen = []
    for count, shape in [(1, None), (1, small), (30, small), (500, large), (3, large)]:
        made = state.obfuscators(count)
        assert len(made) == count and is_nth_residue(priv, made)
        assert (None if state.fixed is None else (state.fixed.width, state.fixed.rows, state.fixed.steps)) == shape
        seen.extend(made)
    assert len(set(seen)) == len(seen)


def test_obfuscators_from_forked_workers_are_fresh(keys, monkeypatch) -> None:
    pub, priv = keys
    state = obfuscation._obfuscation(pub)
    state.obfuscators(200)  # makes sure a table exists
    monkeypatch.setattr(parallel, "_MIN_FORK_MULTIPLICATIONS", 0)  # fork even for this small job
    made = pub.obfuscators(64, cores=2)
    assert len(set(made)) == 64 and is_nth_residue(priv, made)
    values = RNG.normal(size=64) * 1e3
    first, second = pub.encrypt(values, cores=2), pub.encrypt(values, cores=2)
    assert not set(first.ciphertexts) & set(second.ciphertexts)
    np.testing.assert_array_equal(priv.decrypt(first), priv.decrypt(second))
    fresh = first.rerandomize(cores=2)
    assert not set(fresh.ciphertexts) & set(first.ciphertexts)
    np.testing.assert_array_equal(priv.decrypt(fresh), priv.decrypt(first))


def test_many_values_round_trip_through_the_table(keys) -> None:
    pub, priv = keys
    many = np.concatenate([RNG.normal(size=600) * 10.0 ** RNG.integers(-8, 7, size=600),
                           [0.0, 1.0, -1.0, 2.0**63, -(2.0**63), 2.0**-64, -(2.0**-64), 5e-324]])
    got = priv.decrypt(pub.encrypt(many, cores=2), cores=2)
    assert obfuscation._obfuscation(pub).fixed is not None
    assert np.all(np.abs(got - many) <= np.maximum(np.abs(many) * 2.0 ** -52, 2.0 ** -64))
    same = pub.encrypt(np.full(300, -2.5))
    assert len(set(same.ciphertexts)) == 300 and np.all(priv.decrypt(same) == -2.5)


def test_rerandomized_vectors_decrypt_equal_and_share_no_ciphertext(keys, values, encrypted) -> None:
    pub, priv = keys
    result = encrypted.rmatmul(rmatmul_cases(len(values))) + 1.0
    once, twice = result.rerandomize(), result.rerandomize(cores=2)
    for fresh in (once, twice):
        assert not set(fresh.ciphertexts) & set(result.ciphertexts)
        assert (fresh.exponent, fresh.bound) == (result.exponent, result.bound)
        np.testing.assert_array_equal(priv.decrypt(fresh), priv.decrypt(result))
    assert not set(once.ciphertexts) & set(twice.ciphertexts)
    # the quotient of a rerandomized ciphertext by its input is an obfuscator: an n-th residue, never 1
    quotients = [c * gmpy2.invert(r, pub.nsquare) % pub.nsquare for c, r in zip(once.ciphertexts, result.ciphertexts,
                                                                               strict=True)]
    assert 1 not in quotients and is_nth_residue(priv, quotients)


def test_the_obfuscation_cache_keeps_few_keys(keys) -> None:
    pub, _ = keys
    obfuscation._obfuscation(pub)
    others = [generate_keypair(1024)[0] for _ in range(obfuscation._CACHED_KEYS)]
    for other in others:
        obfuscation._obfuscation(other)
    assert (pub.n, False) not in obfuscation._OBFUSCATIONS
    assert len(obfuscation._OBFUSCATIONS) == obfuscation._CACHED_KEYS


# ------------------------------------------------------------------- the key owner's obfuscators (CRT)


def test_the_owner_makes_the_same_powers_by_crt(keys) -> None:
    """hs^(a mod (p-1)) mod p^2 and hs^(a mod (q-1)) mod q^2, joined: exactly hs^a mod n^2, for the same a
    (the owner's direct exponentiations and both halves' table walks)."""
    pub, priv = keys
    state = obfuscation._obfuscation(pub, (priv.p, priv.q))
    assert state is not obfuscation._obfuscation(pub) and state is obfuscation._obfuscation(pub, (priv.p, priv.q))
    assert state.exponent_bits == pub.key_length + OBFUSCATION_SLACK_BITS  # the same full-length exponents
    exponents = obfuscation._random_exponents(6, state.exponent_bits) + [0, 1, priv.p - 1, (priv.p - 1) * (priv.q - 1)]
    assert state._direct(exponents, cores=2) == [gmpy2.powmod(state.base, a, pub.nsquare) for a in exponents]
    fixed = state._build(state.shapes[0])
    for half, order in fixed.halves:
        reduced = [a % order for a in exponents]
        digits = half.digits_of(reduced)
        assert [half.exponent(digits[:, :, k]) for k in range(len(reduced))] == reduced
        assert half.powers(digits) == [gmpy2.powmod(half.table[0][1], a, half.modulus) for a in reduced]
    made = fixed.random_powers(40)
    assert len(set(made)) == 40 and is_nth_residue(priv, made)


@pytest.mark.parametrize("level", [0, 1])
def test_the_owners_tables_give_hs_to_the_drawn_exponent(keys, monkeypatch, level) -> None:
    """The production walk, end to end: with the exponents known, each obfuscator is hs^a mod n^2 for its
    own a (the p^2 table pairs with p - 1, the q^2 table with q - 1, one a for both halves)."""
    pub, priv = keys
    state = obfuscation._obfuscation(pub, (priv.p, priv.q))
    fixed = state._build(state.shapes[level])
    for (half, order), prime in zip(fixed.halves, (priv.p, priv.q), strict=True):
        assert half.modulus == prime * prime and order == prime - 1 and half.table[0][1] == state.base % half.modulus
    drawn = obfuscation._random_exponents(12, state.exponent_bits)
    monkeypatch.setattr(obfuscation, "_random_exponents", lambda count, bits: drawn[:count])
    assert fixed.random_powers(12) == [gmpy2.powmod(state.base, a, pub.nsquare) for a in drawn]


def test_the_owner_encrypts_by_crt_at_every_stage(keys, monkeypatch, without_crypto_mb) -> None:
    """Direct exponentiations, the small table, the large one, forked workers: every ciphertext decrypts to
    its value, and none repeats. (Without Intel's crypto_mb, which makes the owner's obfuscators at 1024 bits
    where it runs: tests/unit/test_multibuffer.py; the tables serve 2048 bits and other machines.)"""
    pub, priv = keys
    monkeypatch.setattr(obfuscation, "OBFUSCATION_TABLE_BYTES", 1 << 20)
    monkeypatch.setattr(parallel, "_MIN_FORK_MULTIPLICATIONS", 0)
    state = obfuscation._Obfuscation(pub, (priv.p, priv.q))
    monkeypatch.setitem(obfuscation._OBFUSCATIONS, (pub.n, True), state)
    seen, stages = [], []
    for count in (1, 1, 5, 30, 500, 64):
        values = RNG.normal(size=count) * 1e3
        enc = priv.encrypt(values, cores=2)
        assert enc.public == pub
        np.testing.assert_array_equal(priv.decrypt(enc), np.ldexp(np.rint(np.ldexp(values, ENCRYPT_FRAC_BITS)),
                                                                   -ENCRYPT_FRAC_BITS))
        half = state.fixed.halves[0][0] if state.fixed is not None else None
        stages.append(None if half is None else (half.width, half.rows, half.steps))
        seen.extend(enc.ciphertexts)
    assert len(set(seen)) == len(seen)
    assert stages[0] is None and stages[-1] == state.shapes[1] and state.shapes[0] in stages
    packed = priv.encrypt_integers([0, 7, 2 ** 300], cores=2)
    assert (packed.exponent, packed.bound) == (0, 2 ** 300)
    assert priv.decrypt_integers(packed.ciphertexts) == [0, 7, 2 ** 300]


def test_the_owners_tables_never_go_to_spark_executors(keys, monkeypatch) -> None:
    """On a Spark task, table walks go to the executors, but not the owner's: its tables hold the factors."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one CPU: the work is never spread, so nothing would go to the executors either way")
    pub, priv = keys
    sent = []
    monkeypatch.setattr(parallel, "REMOTE_MIN_ELEMENTS", 0)
    monkeypatch.setattr(parallel, "_MIN_FORK_MULTIPLICATIONS", 0)
    for key in (pub, priv):
        state = obfuscation._obfuscation(pub, None if key is pub else (priv.p, priv.q))
        state.table_for_pool()  # a table exists: the walk is what is spread
    parallel.spread_over(lambda func, items: sent.append(func) or [func(item) for item in items])
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(obfuscation._obfuscation(pub, (priv.p, priv.q)).fixed)
    try:
        assert is_nth_residue(priv, priv.obfuscators(32, cores=2))
        assert not sent
        assert is_nth_residue(priv, pub.obfuscators(32, cores=2))
        assert sent
    finally:
        parallel.spread_over(None)


def test_an_owners_pool_serves_both_halves_of_the_key(keys) -> None:
    pub, priv = keys
    with ObfuscatorPool(priv, capacity=64) as owners:
        deadline = time.time() + 30
        while owners.ready < 64 and time.time() < deadline:
            time.sleep(0.05)
        assert owners.public == pub and owners.ready == 64
        values = RNG.normal(size=40)
        for enc in (priv.encrypt(values, pool=owners), pub.encrypt(values, pool=owners)):
            np.testing.assert_allclose(priv.decrypt(enc), values, rtol=1e-12)
        assert owners.taken >= 64 and owners.taken + owners.made_here == 80
    other = generate_keypair(1024)[1]
    with ObfuscatorPool(other, capacity=1) as foreign, pytest.raises(ValueError, match="another public key"):
        priv.encrypt_integers([1], pool=foreign)


# ---------------------------------------------------------------------------------- obfuscator pools


@pytest.fixture
def pool(keys):
    pub, _ = keys
    obfuscation._obfuscation(pub).table_for_pool()  # the worker inherits it instead of building its own
    with ObfuscatorPool(pub, capacity=64) as made:
        yield made


def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def process_gone(pid: int) -> bool:
    """Exited (and reaped, or a zombie nobody needs to reap: /proc tells which)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_pool_obfuscators_are_fresh_nth_residues_each_handed_out_once(keys, pool) -> None:
    pub, priv = keys
    wait_until(lambda: pool.ready >= 40)
    assert pool.capacity == 64  # 64 ciphertexts of 256 bytes fill a 16 kB pipe
    seen = []
    for count in (1, 7, 32, 100, 0, 250):  # the worker's first, then more than it holds: the rest made here
        made = pool.take(count)
        assert len(made) == count
        seen += made
    assert pool.taken >= 40 and pool.made_here > 0 and pool.taken + pool.made_here == len(seen)
    assert len(set(seen)) == len(seen) and is_nth_residue(priv, seen)
    assert not set(seen) & set(pub.obfuscators(200)) and 1 not in seen


def test_pool_holds_at_most_its_capacity(pool) -> None:
    wait_until(lambda: pool.ready == pool.capacity)
    time.sleep(0.2)  # the worker has made its next block by now: it waits for room in the pipe
    assert pool.ready == pool.capacity
    pool.take(pool.capacity)
    assert pool.taken == pool.capacity and pool.made_here == 0


def test_pool_holds_more_than_its_pipe_and_hands_it_all_out(keys, monkeypatch) -> None:
    """A pool sized beyond what a pipe holds keeps the rest in its worker and moves it over as it is taken."""
    pub, priv = keys
    # the worker runs at idle priority: on a loaded machine (the other test worker) it may get no CPU within
    # the owner's usual 50 ms, and the owner would rightly make the rest itself; here it waits for it
    monkeypatch.setattr(pool_module, "_POOL_REFILL_WAIT", 10.0)
    obfuscation._obfuscation(pub).table_for_pool()
    capacity = 2 * (1 << 20) // pub.ciphertext_bytes  # twice what an unprivileged pipe can hold
    with ObfuscatorPool(pub, capacity=capacity) as big:
        assert big.capacity == capacity
        wait_until(lambda: big.ready == capacity, timeout=120)
        time.sleep(0.2)
        assert big.ready == capacity  # and no more
        made = big.take(capacity)
        assert big.taken == capacity and big.made_here == 0
        assert len(set(made)) == capacity and is_nth_residue(priv, made[:50] + made[-50:])


def test_pool_makes_no_more_than_its_owner_expects_to_take(keys) -> None:
    pub, _ = keys
    obfuscation._obfuscation(pub).table_for_pool()
    with ObfuscatorPool(pub, capacity=64, expected=10) as pool:
        wait_until(lambda: pool.ready >= 10)
        time.sleep(0.3)
        assert pool.ready == 10  # not its capacity: the rest would be made for nothing
        pool.take(4)
        time.sleep(0.3)
        assert pool.ready == 6
        pool.expect(20)
        wait_until(lambda: pool.ready == 20)
        pool.take(20)
        time.sleep(0.3)
        assert pool.ready == 0 and pool.made_here == 0 and pool.taken == 24


def test_two_pools_never_hand_out_the_same_value(keys) -> None:
    pub, _ = keys
    obfuscation._obfuscation(pub).table_for_pool()
    with ObfuscatorPool(pub, capacity=64) as first, ObfuscatorPool(pub, capacity=64) as second:
        wait_until(lambda: first.ready >= 32 and second.ready >= 32)
        a, b = first.take(32), second.take(32)
        assert first.taken == second.taken == 32 and not set(a) & set(b)


def test_encrypt_and_rerandomize_with_a_pool_decrypt_equal(keys, values, pool) -> None:
    pub, priv = keys
    wait_until(lambda: pool.ready >= 32)
    with_pool = pub.encrypt(values, pool=pool)
    without = pub.encrypt(values)
    np.testing.assert_array_equal(priv.decrypt(with_pool), priv.decrypt(without))
    np.testing.assert_array_equal(priv.decrypt(priv.encrypt(values, cores=2, pool=pool)), priv.decrypt(without))
    fresh = with_pool.rerandomize(pool=pool)
    np.testing.assert_array_equal(priv.decrypt(fresh), priv.decrypt(without))
    assert not set(fresh.ciphertexts) & set(with_pool.ciphertexts)
    assert pool.taken >= 32 and pool.taken + pool.made_here == 3 * len(values)


def test_pool_is_bound_to_its_key_and_its_process(keys, pool) -> None:
    other, _ = generate_keypair(1024)
    with pytest.raises(ValueError, match="another public key"):
        other.encrypt(np.ones(3), pool=pool)
    with pytest.raises(TypeError, match="ObfuscatorPool"):
        keys[0].encrypt(np.ones(3), pool=[1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(pool)
    with pytest.raises(ValueError, match="capacity"):
        ObfuscatorPool(keys[0], capacity=0)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # a forked child must not draw from its parent's pool
        try:
            pool.take(1)
            os.write(write, b"took")
        except RuntimeError:
            os.write(write, b"refused")
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    assert os.read(read, 16) == b"refused"
    os.close(read)


def test_pool_worker_is_gone_after_close(keys) -> None:
    pub, priv = keys
    pool = ObfuscatorPool(pub, capacity=64)
    pid = pool.worker_pid
    assert pid and not process_gone(pid)
    pool.close()
    assert process_gone(pid) and pool.worker_pid is None and pool.ready == 0
    pool.close()  # twice is fine
    made = pool.take(5)  # a closed pool makes what it is asked for itself
    assert len(made) == 5 == pool.made_here and is_nth_residue(priv, made)


@pytest.mark.parametrize(("how", "holder"), [(signal.SIGKILL, False), (signal.SIGTERM, False), (signal.SIGKILL, True)])
def test_pool_worker_dies_with_its_owner(how, holder) -> None:
    """The owner killed (no cleanup runs): the worker's next write finds no reader and it ends; or, when a
    process forked from the owner still holds the pipe (``holder``), it sees its owner gone within a second."""
    script = ("import os, sys, time; from fate_flow.ml.paillier import ObfuscatorPool, generate_keypair\n"
              "pool = ObfuscatorPool(generate_keypair(1024)[0], capacity=64)\n"
              f"child = os.fork() if {holder} else -1\n"
              "if child == 0:\n    time.sleep(60)\n    os._exit(0)\n"
              "print(pool.worker_pid, child, flush=True)\n"
              "time.sleep(60)\n")
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    worker = child = None
    try:
        worker, child = map(int, owner.stdout.readline().split())
        assert not process_gone(worker)
        time.sleep(1.0)  # the worker may fill its pipe and wait for room: it must notice all the same
        owner.send_signal(how)
        owner.wait(10)
        wait_until(lambda: process_gone(worker), timeout=20)
    finally:
        owner.kill()
        owner.wait()
        for pid in (worker, child):  # the test failed, or the holder: leave no orphan behind
            if pid is not None and pid > 0 and not process_gone(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("count", [0, 1, 5, 40])
def test_decryption_over_cores_matches(keys, count) -> None:
    pub, priv = keys
    ciphertexts = pub.encrypt(RNG.normal(size=count) * 1e3).ciphertexts
    one = priv.decrypt_integers(ciphertexts)
    for cores in (2, 3, 4):
        assert priv.decrypt_integers(ciphertexts, cores) == one


# ----------------------------------------------------------------------------------------- arithmetic


def test_additions_and_subtractions(keys, values, encrypted) -> None:
    pub, priv = keys
    other = RNG.normal(size=values.size) * 100
    enc_other = pub.encrypt(other)
    scale = np.abs(values).max()
    close(priv.decrypt(encrypted + enc_other), values + other, scale, 1e-14)
    close(priv.decrypt(encrypted - enc_other), values - other, scale, 1e-14)
    close(priv.decrypt(encrypted + other), values + other, scale, 1e-14)
    close(priv.decrypt(other + encrypted), values + other, scale, 1e-14)
    close(priv.decrypt(encrypted - other), values - other, scale, 1e-14)
    close(priv.decrypt(other - encrypted), other - values, scale, 1e-14)
    close(priv.decrypt(-encrypted), -values, scale, 1e-15)
    close(priv.decrypt(encrypted + 2.5), values + 2.5, scale, 1e-14)
    close(priv.decrypt(encrypted - np.float64(7)), values - 7, scale, 1e-14)


@pytest.mark.parametrize("scalar", [0.25, -0.25, 1.0, -1.0, 0.0, 3, -7.5, 0.1, -0.3333, 1e6, 1e-7, np.float32(0.5)])
def test_scalar_multiplication(keys, values, encrypted, scalar) -> None:
    _, priv = keys
    close(priv.decrypt(encrypted * scalar), values * float(scalar), np.abs(values).max() * abs(float(scalar)), 1e-14)
    close(priv.decrypt(scalar * encrypted), values * float(scalar), np.abs(values).max() * abs(float(scalar)), 1e-14)


def test_power_of_two_scalars_only_move_the_exponent(encrypted) -> None:
    quarter = encrypted * 0.25
    assert quarter.ciphertexts == encrypted.ciphertexts and quarter.exponent == encrypted.exponent + 2
    assert (encrypted * 4).exponent == encrypted.exponent


def test_elementwise_multiplication(keys, values, encrypted) -> None:
    _, priv = keys
    factors = np.concatenate([RNG.normal(size=values.size - 3) * 50, [0.0, 1e5, -1e-5]])
    want = values * factors
    scale = np.abs(values).max() * np.abs(factors).max()
    close(priv.decrypt(encrypted * factors), want, scale, 1e-12)
    close(priv.decrypt(factors * encrypted), want, scale, 1e-12)  # ndarray on the left defers to us
    close(priv.decrypt(encrypted.multiply(factors, cores=2)), want, scale, 1e-12)
    assert isinstance(factors * encrypted, EncryptedVector)


def test_sum_take_concat(keys, values, encrypted) -> None:
    pub, priv = keys
    close(priv.decrypt(encrypted.sum()), np.array([values.sum()]), np.abs(values).sum(), 1e-14)
    index = np.array([5, 0, -1, 5, 17])
    np.testing.assert_array_equal(priv.decrypt(encrypted.take(index)), priv.decrypt(encrypted)[index])
    assert len(encrypted.take(np.array([], dtype=np.int64))) == 0
    tail = pub.encrypt(np.array([1.5, -2.5]))
    joined = EncryptedVector.concat([encrypted * 0.5, tail, encrypted.take(np.array([1]))])
    want = np.concatenate([values * 0.5, [1.5, -2.5], values[[1]]])
    close(priv.decrypt(joined), want, np.abs(values).max(), 1e-14)
    assert len(joined) == len(encrypted) + 3


def rmatmul_cases(rows: int) -> np.ndarray:
    """Columns of every kind: normal, 0/1, all zero, integers, one sign, huge, tiny, constant."""
    return np.column_stack([
        RNG.normal(size=rows), RNG.integers(0, 2, rows), np.zeros(rows), RNG.integers(-50, 50, rows),
        -np.abs(RNG.normal(size=rows)), RNG.normal(size=rows) * 1e6, RNG.normal(size=rows) * 1e-7,
        np.full(rows, -0.1), RNG.uniform(0, 1, rows),
    ]).astype(np.float64)


def test_rmatmul_against_numpy(keys, values, encrypted) -> None:
    _, priv = keys
    x = rmatmul_cases(values.size)
    product = encrypted.rmatmul(x)
    assert product.exponent == ENCRYPT_FRAC_BITS + MATMUL_FRAC_BITS and len(product) == x.shape[1]
    got = priv.decrypt(product)
    # each column is rounded to 40 bits of its largest value: error <= rows * max|x_j| * max|v| * 2^-40
    scale = np.abs(x).max(axis=0) * np.abs(values).max() * values.size
    assert np.all(np.abs(got - x.T @ values) <= scale * 2.0 ** -39)
    close(got[[1, 2, 3]], (x.T @ values)[[1, 2, 3]], np.abs(values).sum() * 50, 1e-14)  # integer columns: exact
    one_column = priv.decrypt(encrypted.rmatmul(x[:, 0]))
    close(one_column, got[:1], scale[0], 1e-12)


def test_rmatmul_takes_decimal_text_columns_as_integers(keys) -> None:
    """Numbers read from text with six decimals (FATE's example data) are integers / 10^6: 24 bits instead of
    40, and closer to the values than 40-bit rounding (the lift to 2^64 errs by under 2^-45, relative)."""
    pub, priv = keys
    text = [[f"{v:.6f}" for v in row] for row in RNG.normal(scale=3, size=(200, 3))]
    x = np.array([[float(v) for v in row] for row in text])
    column = multiexp._encode_column(x[:, 0])
    assert column.decimals == 6 and column.bits <= 25
    assert np.array_equal(column.integers, [int(row[0].replace(".", "")) for row in text])
    assert multiexp._encode_column(np.array([0.5, 0.25, -1.0])).decimals == 0  # binary-exact: 2 bits
    assert multiexp._encode_column(RNG.normal(size=50)).decimals == 0  # no few decimals: rounded to 40 bits
    residuals = RNG.normal(size=200)
    got = priv.decrypt(pub.encrypt(residuals).rmatmul(x))
    close(got, x.T @ residuals, np.abs(x).max() * np.abs(residuals).sum(), 2e-14)


@pytest.mark.parametrize("cores", [2, 3])
def test_rmatmul_in_worker_processes_matches(keys, monkeypatch, cores) -> None:
    pub, priv = keys
    residuals = RNG.normal(size=120)
    x = rmatmul_cases(120)
    enc = pub.encrypt(residuals)
    single, one_column = enc.rmatmul(x), enc.rmatmul(x[:, :1])
    monkeypatch.setattr(parallel, "_MIN_PROCESS_WORK", 0)  # fork even for this small job
    monkeypatch.setattr(parallel, "_MIN_FORK_MULTIPLICATIONS", 0)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    split = []
    real = multiexp._in_processes
    monkeypatch.setattr(multiexp, "_in_processes", lambda func, *args: split.append(func) or real(func, *args))
    # columns split between the processes (each column whole), then rows of one column
    np.testing.assert_array_equal(priv.decrypt(enc.rmatmul(x, cores=cores)), priv.decrypt(single))
    np.testing.assert_array_equal(priv.decrypt(enc.rmatmul(x[:, :1], cores=cores)), priv.decrypt(one_column))
    assert split == [multiexp._multi_exp_columns, multiexp._multi_exp_rows]
    factors = RNG.normal(size=120)
    np.testing.assert_array_equal(priv.decrypt(enc.multiply(factors, cores=cores)), priv.decrypt(enc * factors))


def test_signed_and_offset_digits_give_the_same_ciphertexts(keys, monkeypatch) -> None:
    """Many columns take signed digits (with the bases' inverses), a lone 0/1 column offsets: same products."""
    pub, _ = keys
    enc = pub.encrypt(RNG.normal(size=60))
    x = rmatmul_cases(60)
    used = []
    for name in ("_signed_pippenger", "_pippenger"):
        real = getattr(multiexp, name)
        monkeypatch.setattr(multiexp, name, lambda *args, real=real, name=name: used.append(name) or real(*args))
    together = enc.rmatmul(x).ciphertexts
    assert set(used) == {"_signed_pippenger"}
    used.clear()
    alone = [enc.rmatmul(x[:, j]).ciphertexts[0] for j in range(x.shape[1])]
    assert "_pippenger" in used and together == alone
    used.clear()
    assert enc.rmatmul(x[:, [1]]).ciphertexts[0] == together[1] and used == ["_pippenger"]


@pytest.mark.parametrize(("costs", "parts", "spans"), [
    ([5] * 20, 2, [(0, 10), (10, 20)]),
    ([300] * 10 + [1], 2, [(0, 5), (5, 11)]),  # an intercept column weighs next to nothing
    ([1, 1, 100], 2, [(0, 2), (2, 3)]),
    ([7, 0, 0], 3, [(0, 1), (1, 3)]),  # fewer spans rather than one that costs nothing
    ([4], 2, [(0, 1)]),
    ([100, 1, 1, 1], 3, [(0, 1), (1, 4)]),
    ([3, 3, 3, 3, 3, 3], 3, [(0, 2), (2, 4), (4, 6)]),
])
def test_balanced_spans_cover_every_column_once(costs, parts, spans) -> None:
    got = multiexp._balanced_spans(costs, parts)
    assert got == spans
    assert got[0][0] == 0 and got[-1][1] == len(costs) and all(a < b for a, b in got)
    assert all(got[i][1] == got[i + 1][0] for i in range(len(got) - 1))


def test_rmatmul_few_rows_and_shapes(keys) -> None:
    pub, priv = keys
    enc = pub.encrypt(np.array([2.0, -3.0]))
    close(priv.decrypt(enc.rmatmul(np.array([[1.0, 0.5], [4.0, -2.0]]))), np.array([-10.0, 7.0]), 10, 1e-14)
    assert len(enc.rmatmul(np.zeros((2, 0)))) == 0
    with pytest.raises(ValueError, match="rmatmul"):
        enc.rmatmul(np.ones((3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        enc.rmatmul(np.array([[np.nan], [1.0]]))


def test_homomorphic_identities(keys, values, encrypted) -> None:
    pub, priv = keys
    other = RNG.normal(size=values.size)
    enc_other = pub.encrypt(other)
    x = RNG.normal(size=(values.size, 3))
    scale = np.abs(values).max() * values.size * 4
    # X^T (a + b) == X^T a + X^T b
    close(priv.decrypt((encrypted + enc_other).rmatmul(x)),
          priv.decrypt(encrypted.rmatmul(x) + enc_other.rmatmul(x)), scale, 1e-10)
    # sum == rmatmul by a column of ones
    close(priv.decrypt(encrypted.sum()), priv.decrypt(encrypted.rmatmul(np.ones((values.size, 1)))), scale, 1e-14)
    # (a * 2) * 0.5 == a ; (a + x) - x == a ; a - a == 0
    close(priv.decrypt((encrypted * 2) * 0.5), values, np.abs(values).max(), 1e-15)
    close(priv.decrypt((encrypted + other) - other), values, np.abs(values).max(), 1e-15)
    assert np.all(priv.decrypt(encrypted - encrypted) == 0)


def test_exponent_alignment(keys, values, encrypted) -> None:
    pub, priv = keys
    factors = RNG.normal(size=values.size)
    product = encrypted * factors  # exponent + MULT_FRAC_BITS
    quarter = encrypted * 0.25  # exponent + 2
    assert product.exponent == ENCRYPT_FRAC_BITS + MULT_FRAC_BITS and quarter.exponent == ENCRYPT_FRAC_BITS + 2
    mixed = product + quarter
    assert mixed.exponent == product.exponent
    scale = np.abs(values).max() * np.abs(factors).max()
    close(priv.decrypt(mixed), values * factors + values * 0.25, scale, 1e-12)
    close(priv.decrypt(quarter + product), values * factors + values * 0.25, scale, 1e-12)
    joined = EncryptedVector.concat([quarter, product])
    assert joined.exponent == product.exponent
    close(priv.decrypt(joined), np.concatenate([values * 0.25, values * factors]), scale, 1e-12)


def test_bounds_follow_the_operations(keys, encrypted) -> None:
    """The public bound covers every plaintext: alignment scales it, sums add, products multiply."""
    b = encrypted.bound
    assert b == 1 << (ENCRYPT_FRAC_BITS + 64)
    assert (encrypted * 0.25 + encrypted).bound == b + (b << 2)
    assert EncryptedVector.concat([encrypted, encrypted * 0.25]).bound == b << 2
    assert (encrypted * 3).bound == b * 4 and (encrypted * -0.5).bound == b and (-encrypted).bound == b
    assert encrypted.sum().bound == b * len(encrypted)
    assert (encrypted * np.ones(len(encrypted))).bound == b << (MULT_FRAC_BITS + 64)
    assert encrypted.rmatmul(np.ones((len(encrypted), 2))).bound == b * len(encrypted) << (MATMUL_FRAC_BITS + 65)


def test_exponents_and_bounds_do_not_depend_on_the_data(keys) -> None:
    """What crosses the wire besides ciphertexts is a function of the operations only."""
    pub, _ = keys
    small, large = pub.encrypt(np.full(6, 1e-6)), pub.encrypt(np.full(6, 1e5))
    x_small, x_large = np.full((6, 2), 1e-4), RNG.normal(size=(6, 2)) * 1e4
    for a, b in [(small, large), (small * np.full(6, 0.001), large * np.full(6, 900.0)),
                 (small.rmatmul(x_small), large.rmatmul(x_large)), (small + np.ones(6), large + np.full(6, 1e9))]:
        wire_a, wire_b = a.to_wire(), b.to_wire()
        assert (wire_a["exponent"], wire_a["bound"]) == (wire_b["exponent"], wire_b["bound"])


def test_overflow_raises_instead_of_wrapping(keys) -> None:
    pub, _ = keys
    enc = pub.encrypt(np.array([1.0, -1.0]))
    with pytest.raises(OverflowError, match="key"):
        for _ in range(100):
            enc = enc * np.array([1e18, 1e18])
    assert enc.bound < pub.max_int


def test_operands_are_checked(keys, encrypted) -> None:
    pub, _ = keys
    other_pub, _ = generate_keypair(1024)
    with pytest.raises(TypeError):
        encrypted * encrypted  # noqa: B018
    with pytest.raises(ValueError, match="lengths"):
        encrypted + pub.encrypt(np.ones(3))
    with pytest.raises(ValueError, match="public key"):
        encrypted.take(np.array([0])) + other_pub.encrypt(np.ones(1))
    with pytest.raises(ValueError):
        encrypted + np.ones(3)
    with pytest.raises(ValueError):
        encrypted * np.ones(3)
    with pytest.raises(ValueError):
        encrypted * np.inf
    with pytest.raises(IndexError):
        encrypted.take(np.array([len(encrypted)]))
    with pytest.raises(ValueError):
        encrypted.take(np.array([0.5]))
    with pytest.raises(ValueError, match="different public keys"):
        EncryptedVector.concat([encrypted, other_pub.encrypt(np.ones(1))])


# ----------------------------------------------------------------------------------------------- wire


def test_wire_round_trip_through_the_codec(keys, values, encrypted) -> None:
    pub, priv = keys
    received_key = PublicKey.from_wire(decode(encode(pub.to_wire())))
    assert received_key == pub
    wire = decode(encode((encrypted * 0.5 + 1.0).to_wire()))
    assert isinstance(wire["ciphertexts"], BigIntVector)
    received = EncryptedVector.from_wire(received_key, wire)
    close(priv.decrypt(received), values * 0.5 + 1.0, np.abs(values).max(), 1e-15)
    assert received.exponent == encrypted.exponent + 1


def _wire_with(pub: PublicKey, enc: EncryptedVector, **changes: object) -> dict:
    wire = enc.to_wire()
    wire.update(changes)
    return wire


def _packed(pub: PublicKey, integers: list[int]) -> BigIntVector:
    return BigIntVector.from_ints(integers, pub.ciphertext_bytes)


def test_from_wire_refuses_malformed_vectors(keys, encrypted, monkeypatch) -> None:
    pub, priv = keys
    n2 = int(pub.nsquare)
    good = [int(c) for c in encrypted.ciphertexts[:3]]
    wrong_width = BigIntVector.from_ints(good, pub.ciphertext_bytes + 1)
    bad = [
        "not a dict", [], {}, {**encrypted.to_wire(), "extra": 1},
        {k: v for k, v in encrypted.to_wire().items() if k != "bound"},
        _wire_with(pub, encrypted, key="0" * 32),
        _wire_with(pub, encrypted, exponent=-1), _wire_with(pub, encrypted, exponent=True),
        _wire_with(pub, encrypted, exponent=1 << 20), _wire_with(pub, encrypted, exponent=64.0),
        _wire_with(pub, encrypted, bound=-1), _wire_with(pub, encrypted, bound=int(pub.max_int)),
        _wire_with(pub, encrypted, bound="1"),
        _wire_with(pub, encrypted, ciphertexts=good), _wire_with(pub, encrypted, ciphertexts=wrong_width),
        _wire_with(pub, encrypted, ciphertexts=_packed(pub, [*good, 0])),
        _wire_with(pub, encrypted, ciphertexts=_packed(pub, [*good, n2])),
        _wire_with(pub, encrypted, ciphertexts=_packed(pub, [n2 + 5, *good])),
        _wire_with(pub, encrypted, ciphertexts=_packed(pub, [*good, int(priv.p) * 12345])),  # shares p with n
        _wire_with(pub, encrypted, ciphertexts=_packed(pub, [*good, int(pub.n)])),
    ]
    for wire in bad:
        with pytest.raises(ValueError):
            EncryptedVector.from_wire(pub, wire)
    monkeypatch.setattr(vector, "MAX_VECTOR_LENGTH", 2)
    with pytest.raises(ValueError, match="more than"):
        EncryptedVector.from_wire(pub, _wire_with(pub, encrypted, ciphertexts=_packed(pub, good)))


def test_public_key_from_wire_refuses_bad_keys(keys) -> None:
    pub, priv = keys
    prime = int(gmpy2.next_prime(1 << 1100))
    big_prime = int(gmpy2.next_prime(1 << 1030))
    bad = [
        None, "n", [int(pub.n)], {"n": int(pub.n)}, {"scheme": "rsa", "n": int(pub.n)},
        {"scheme": "paillier", "n": str(pub.n)}, {"scheme": "paillier", "n": float(2**1023)},
        {"scheme": "paillier", "n": True}, {"scheme": "paillier", "n": int(pub.n), "g": 2},
        {"scheme": "paillier", "n": int(generate_keypair(1024)[0].n) >> 300},  # too short
        {"scheme": "paillier", "n": 1 << 9000},  # too long
        {"scheme": "paillier", "n": int(pub.n) + 1},  # even
        {"scheme": "paillier", "n": prime},  # prime
        {"scheme": "paillier", "n": int(priv.p) ** 2},  # a square
        {"scheme": "paillier", "n": 3 * big_prime},  # a small factor
        {"scheme": "paillier", "n": -int(pub.n)},
    ]
    for wire in bad:
        with pytest.raises(ValueError):
            PublicKey.from_wire(wire)


# ------------------------------------------------------------------------------------------ wrong keys


def test_decryption_with_the_wrong_key_does_not_give_the_value(keys, values, encrypted) -> None:
    pub, priv = keys
    other_pub, other_priv = generate_keypair(1024)
    with pytest.raises(ValueError, match="another public key"):
        other_priv.decrypt(encrypted)
    # force it: the same ciphertext integers read under the other key
    forced = EncryptedVector(other_pub, [c % other_pub.nsquare for c in encrypted.ciphertexts], encrypted.exponent,
                             encrypted.bound)
    garbage = other_priv.decrypt_integers(forced.ciphertexts)
    true_plaintexts = priv.decrypt_integers(encrypted.ciphertexts)
    assert sum(g == t for g, t in zip(garbage, true_plaintexts, strict=True)) <= 2  # only 0 / -0 could collide
    with pytest.raises(ValueError, match="bound"):
        other_priv.decrypt(forced)


# ------------------------------------------------------------------------------------------ 2048 bits


def test_2048_bit_key_end_to_end() -> None:
    pub, priv = generate_keypair(2048)
    assert pub.key_length == 2048 and pub.ciphertext_bytes == 512
    residual = RNG.normal(size=24)
    x = RNG.normal(size=(24, 3))
    enc = PublicKey.from_wire(pub.to_wire()).encrypt(residual, cores=2)
    received = EncryptedVector.from_wire(pub, decode(encode(enc.to_wire())))
    masked = received.rmatmul(x) + np.array([1.0, 2.0, 3.0])
    close(priv.decrypt(masked, cores=2), x.T @ residual + [1.0, 2.0, 3.0], 100, 1e-10)
    close(priv.decrypt(received * 0.25 - residual), residual * -0.75, 10, 1e-14)
    many = RNG.normal(size=100)  # enough for the key's first table: the production shape at 2048 bits
    np.testing.assert_array_equal(priv.decrypt(pub.encrypt(many).rerandomize()), priv.decrypt(pub.encrypt(many)))
    state = obfuscation._obfuscation(pub)
    assert state.fixed is not None and (state.fixed.width, state.fixed.rows, state.fixed.steps) == state.shapes[0]


def _owner_characters(private: PrivateKey, ciphertexts: list) -> set[tuple[int, int]]:
    """The Legendre symbols mod p and mod q of each ciphertext's randomness, as the key's owner computes them
    (``c = (1 + m n) rho^n`` is ``rho^n`` mod p, and n is odd)."""
    p, q = private.p, private.q
    return {(gmpy2.legendre(c % p, p), gmpy2.legendre(c % q, q)) for c in ciphertexts}


def test_rerandomizing_for_the_key_owner_hides_what_a_djn_obfuscator_leaves(keys) -> None:
    """DJN obfuscators are powers of one base: one of the owner's quadratic characters (mod p, mod q, or
    their product) is the same on all of them, so on 64 rerandomizations of one ciphertext at most two of the
    four sign pairs occur. With the blindings every pair occurs, and the values are unchanged."""
    pub, priv = keys
    copies = pub.encrypt(np.array([2.5])).take(np.zeros(64, dtype=np.int64))
    djn = copies.rerandomize()
    assert len(_owner_characters(priv, djn.ciphertexts)) <= 2
    made = []
    real = PublicKey._fresh_obfuscators
    with mock.patch.object(PublicKey, "_fresh_obfuscators",
                           lambda key, count, *args: made.append(count) or real(key, count, *args)):
        blinded = copies.rerandomize_uniform(cores=2)
    assert made == [64]  # a DJN obfuscator per value, and a blinding on top
    assert _owner_characters(priv, blinded.ciphertexts) == {(1, 1), (1, -1), (-1, 1), (-1, -1)}
    assert len(set(blinded.ciphertexts)) == 64
    np.testing.assert_array_equal(priv.decrypt(blinded), np.full(64, 2.5))


def test_keep_drops_values_under_randomness_as_uniform_as_what_it_keeps(keys) -> None:
    """A dropped value is a fresh encryption of 0: with a DJN obfuscator alone its randomness would lie in one
    coset of the characters (at most two sign pairs over 64), which a kept value's need not."""
    pub, priv = keys
    vector = pub.encrypt(np.arange(64, dtype=np.float64))
    kept = vector.keep(np.zeros(64, dtype=bool))
    assert _owner_characters(priv, kept.ciphertexts) == {(1, 1), (1, -1), (-1, 1), (-1, -1)}
    np.testing.assert_array_equal(priv.decrypt(kept), np.zeros(64))
    some = vector.keep(np.arange(64) % 2 == 0)
    np.testing.assert_array_equal(priv.decrypt(some), np.where(np.arange(64) % 2 == 0, np.arange(64), 0))


def test_a_residue_reserve_hands_each_textbook_residue_out_once():
    """Made ahead in a background thread or on the spot, each ``r^n`` is handed out once, and each is an n-th
    residue: it decrypts to 0 (with the private key, ``(1 + 0 n) r^n``)."""
    import time

    from fate_flow.ml.paillier import EncryptedVector, generate_keypair
    from fate_flow.ml.paillier.residues import ResidueReserve

    public, private = generate_keypair(1024)
    reserve = ResidueReserve(public)
    first = reserve.take(3)  # nothing ready: made on the spot
    reserve.refill(5)
    deadline = time.monotonic() + 30
    while len(reserve._ready) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    ready = list(reserve._ready)
    second = reserve.take(7)  # the 5 made ahead, then 2 more
    assert second[:5] == ready and len(second) == 7 and not reserve._ready
    assert len({int(r) for r in first + second}) == 10
    zeros = EncryptedVector(public, first + second, 0, 0)
    assert list(private.decrypt(zeros)) == [0.0] * 10
