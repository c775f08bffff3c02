"""Intel's crypto_mb (fate_flow/ml/multibuffer.py) gives the same bytes as OpenSSL and gmpy2, refuses what they
refuse, and steps aside where it cannot run."""

from __future__ import annotations

import os
import platform
import secrets
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from fate_flow.components.intersection import ciphers
from fate_flow.components.intersection import rsa as rsa_protocol
from fate_flow.components.intersection.hashing import int_rows, row_ints
from fate_flow.ml import multibuffer
from fate_flow.ml.paillier.arith import batch_invert


def _cpu_has_ifma() -> bool:
    try:
        return "avx512ifma" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


CAN_RUN = platform.system() == "Linux" and platform.machine() == "x86_64" and _cpu_has_ifma()
needs_ifma = pytest.mark.skipif(not CAN_RUN, reason="no AVX-512 IFMA on this machine: crypto_mb cannot run here "
                                                    "(OpenSSL and gmpy2 do the work; their tests still run)")


def _random_rows(count: int, width: int) -> np.ndarray:
    return np.frombuffer(os.urandom(count * width), dtype=np.uint8).reshape(count, width).copy()


def _openssl_x25519(scalar: bytes, points: np.ndarray) -> list[bytes]:
    key = X25519PrivateKey.from_private_bytes(scalar)
    return [key.exchange(X25519PublicKey.from_public_bytes(bytes(row))) for row in points]


@needs_ifma
def test_the_library_is_installed_and_runs_on_this_cpu():
    assert multibuffer.library() is not None, "crypto_mb did not load: is ipp-crypto installed (make venv)?"


@needs_ifma
@pytest.mark.parametrize("count", [1, 7, 8, 9, 250])
def test_x25519_gives_openssl_bytes_for_any_row(count):
    """Random rows: u with the top bit set and u >= 2^255 - 19 included; counts that leave lanes empty."""
    scalar = os.urandom(32)
    points = _random_rows(count, 32)
    points[0, 31] |= 0x80
    if count > 1:
        points[1] = np.frombuffer((2**255 - 19 + 5).to_bytes(32, "little"), dtype=np.uint8)
    out = multibuffer.x25519(scalar, points)
    assert [bytes(row) for row in out] == _openssl_x25519(scalar, points)


@needs_ifma
def test_x25519_matches_rfc7748s_vector():
    scalar = bytes.fromhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
    u = bytes.fromhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
    out = multibuffer.x25519(scalar, np.frombuffer(u, dtype=np.uint8).reshape(1, 32))
    assert bytes(out[0]).hex() == "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"


@needs_ifma
@pytest.mark.parametrize("position", [0, 5, 12])
def test_a_point_of_low_order_is_refused_wherever_it_sits(position):
    points = _random_rows(13, 32)
    points[:, 31] &= 0x7F
    points[position] = 0  # u = 0: order 1 (an all-zero result for every scalar)
    with pytest.raises(ValueError, match="low order"):
        multibuffer.x25519(os.urandom(32), points)
    with pytest.raises(ValueError, match="low order"):
        ciphers._x25519_reencrypt((os.urandom(32), points))


@needs_ifma
@pytest.mark.parametrize("bits", [1024, 2048])
def test_rsa_crt_gives_the_textbook_signature(bits):
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=bits).private_numbers()
    n, d = numbers.public_numbers.n, numbers.d
    crt = (numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp)
    values = [int.from_bytes(os.urandom(bits // 8), "big") % n for _ in range(11)] + [0, 1, n - 1]
    out = multibuffer.rsa_crt(crt, n, int_rows(values, bits // 8))
    assert row_ints(out) == [pow(x, d, n) for x in values]


@needs_ifma
@pytest.mark.parametrize("bits", [1024, 2048])
def test_rsa_public_gives_the_textbook_power(bits):
    n = rsa.generate_private_key(public_exponent=65537, key_size=bits).private_numbers().public_numbers.n
    values = [int.from_bytes(os.urandom(bits // 8), "big") % n for _ in range(9)] + [1, n - 1]
    out = multibuffer.rsa_public(n, int_rows(values, bits // 8))
    assert row_ints(out) == [pow(x, 65537, n) for x in values]


def test_rsa_crt_steps_aside_for_a_size_it_has_no_method_for():
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=1536).private_numbers()
    n = numbers.public_numbers.n
    crt = (numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp)
    assert multibuffer.rsa_crt(crt, n, int_rows([2, 3], 192)) is None
    key = rsa_protocol.PrivateKey.generate(1536)
    signed = rsa_protocol._sign_rows((key.crt, key.public.n, int_rows([2, 3], key.public.width)))
    d = pow(key.public.e, -1, (key.p - 1) * (key.q - 1))
    assert row_ints(signed) == [pow(2, d, key.public.n), pow(3, d, key.public.n)]


def test_flow_multibuffer_0_turns_it_off(without_crypto_mb):
    assert multibuffer.library() is None
    assert multibuffer.x25519(os.urandom(32), _random_rows(3, 32)) is None


@pytest.mark.parametrize("library", ["crypto_mb", "fallback"])
def test_blinding_signing_and_unblinding_give_the_final_hash_of_the_signature(library, monkeypatch):
    """The guest's kernels around the key holder's: F(sign(x)) for each x, with or without the library (a blind
    factor is a unit; the batch inversion gives each its own inverse)."""
    if library == "fallback":
        monkeypatch.setenv("FLOW_MULTIBUFFER", "0")
    elif not CAN_RUN:
        pytest.skip("no AVX-512 IFMA on this machine")
    multibuffer.library.cache_clear()
    key = _fixed_rsa_key()
    n, width = key.public.n, key.public.width
    values = [int.from_bytes(os.urandom(32), "big") for _ in range(21)]
    both = rsa_protocol._blind((key.public.e, n, values))
    blinded, blinds = both[:, :width], both[:, width:]
    for x, b, r in zip(values, row_ints(blinded), row_ints(blinds), strict=True):
        assert b == pow(r, key.public.e, n) * x % n and 0 < r < n
    signed = rsa_protocol._sign_rows((key.crt, n, blinded))
    hashes = rsa_protocol._unblind((n, "sha256", "s", signed, blinds))
    expected = rsa_protocol._sign_own_values((key.crt, n, "sha256", "s", values))
    assert np.array_equal(hashes, expected)
    monkeypatch.delenv("FLOW_MULTIBUFFER", raising=False)
    multibuffer.library.cache_clear()


def test_the_blinds_are_inverted_together_each_to_its_own_inverse():
    import gmpy2

    n = gmpy2.mpz(_fixed_rsa_key().public.n)
    for count in (0, 1, 2, 9):
        values = [gmpy2.mpz(secrets.randbelow(int(n) - 1) + 1) for _ in range(count)]
        assert batch_invert(values, n) == [gmpy2.invert(v, n) for v in values]
    with pytest.raises(ZeroDivisionError):  # a blind sharing a prime with n (probability ~2^-1024)
        batch_invert([gmpy2.mpz(3), gmpy2.mpz(_fixed_rsa_key().p)], n)


# -- the protocol kernels give the same rows with and without the library ---------------------------------------------
def _kernel_outputs() -> dict[str, np.ndarray]:
    scalar = bytes(range(32))
    points = _random_rows_seeded(40, 32)
    points[:, 31] &= 0x7F
    key = _fixed_rsa_key()
    blinded = int_rows([(i * 7919 + 3) % key.public.n for i in range(1, 30)], key.public.width)
    ids = [f"id{i}" for i in range(30)]
    return {
        "x25519_hash": ciphers._x25519_hash_encrypt((scalar, "sha256", "salt", ids)),
        "x25519_reencrypt": ciphers._x25519_reencrypt((scalar, points)),
        "rsa_rows": rsa_protocol._sign_rows((key.crt, key.public.n, blinded)),
        "rsa_own_ids": rsa_protocol._sign_own_ids((key.crt, key.public.n, "sha256", "sha256", "salt", ids)),
        "rsa_own_values": rsa_protocol._sign_own_values((key.crt, key.public.n, "sha256", "", [5, 2**300, 7])),
    }


def _random_rows_seeded(count: int, width: int) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, size=(count, width), dtype=np.uint8)


_KEY: list = []


def _fixed_rsa_key() -> rsa_protocol.PrivateKey:
    if not _KEY:
        _KEY.append(rsa_protocol.PrivateKey.generate(2048))
    return _KEY[0]


@needs_ifma
def test_the_kernels_give_the_same_rows_with_and_without_crypto_mb(monkeypatch):
    with_library = _kernel_outputs()
    monkeypatch.setenv("FLOW_MULTIBUFFER", "0")
    multibuffer.library.cache_clear()
    try:
        without = _kernel_outputs()
    finally:
        monkeypatch.delenv("FLOW_MULTIBUFFER")
        multibuffer.library.cache_clear()
    for name, rows in with_library.items():
        assert np.array_equal(rows, without[name]), name


# -- Paillier: the key owner's obfuscators --------------------------------------------------------------------------
@needs_ifma
@pytest.mark.parametrize("bits", [1021, 1023, 1024, 2048])
def test_powers_give_the_textbook_power(bits):
    modulus = secrets.randbits(bits) | (1 << (bits - 1)) | 1  # odd, exactly `bits` bits
    base = int.from_bytes(os.urandom(bits // 8), "big") % modulus
    exponents = [int.from_bytes(os.urandom(64), "big") for _ in range(11)] + [0, 1]
    assert multibuffer.powers(base, exponents, modulus) == [pow(base, e, modulus) for e in exponents]


@needs_ifma
def test_the_owners_obfuscators_at_1024_bits_come_from_crypto_mb_and_are_hs_to_the_a():
    import gmpy2

    from fate_flow.ml.paillier import generate_keypair
    from fate_flow.ml.paillier.obfuscation import _Obfuscation, _OwnersMultibuffer, _random_exponents

    public, private = generate_keypair(1024)
    state = _Obfuscation(public, (gmpy2.mpz(private.p), gmpy2.mpz(private.q)))
    assert isinstance(state.fixed, _OwnersMultibuffer)
    exponents = _random_exponents(19, state.exponent_bits)
    assert state.fixed.powers_of(exponents) == [gmpy2.powmod(state.base, a, state.modulus) for a in exponents]
    values = [0.5, -3.25, 7.0, 1e-3]
    assert np.allclose(private.decrypt(private.encrypt(np.array(values))), values)
    public2, private2 = generate_keypair(2048)
    state2 = _Obfuscation(public2, (gmpy2.mpz(private2.p), gmpy2.mpz(private2.q)))
    assert not isinstance(state2.fixed, _OwnersMultibuffer)  # no faster than the comb there
