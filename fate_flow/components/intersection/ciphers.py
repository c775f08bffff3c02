"""The commutative ciphers of the dh and ecdh protocols: ``E_b(E_a(x)) == E_a(E_b(x))``, keys fresh per task.

- ``X25519Cipher`` (ecdh): the id's digest, reduced modulo 2^255 - 19, is an X25519 u-coordinate; the
  cipher is X25519 with a fresh private scalar (``cryptography``'s, i.e. OpenSSL's), which multiplies the
  point by the clamped scalar: scalars commute. Intel's crypto_mb multiplies eight points at once where it
  runs (``ml.multibuffer``, ~4x OpenSSL's speed), OpenSSL one at a time elsewhere.
- ``ModpCipher`` (dh): the digest, reduced modulo an RFC 2409/3526 safe prime p and squared (so it lies in
  the subgroup of prime order (p-1)/2, where Diffie-Hellman is hard), raised to a fresh secret exponent.

The heavy work runs in the task's worker processes (``parallel_rows``): module-level kernels get the key
and a chunk, return a row matrix.
"""

from __future__ import annotations

import secrets
from functools import cache
from typing import Any

import numpy as np

from fate_flow.components.intersection.hashing import (
    check_rows,
    digest_function,
    int_rows,
    parallel_rows,
    row_ints,
    rows,
    salted,
)
from fate_flow.errors import ComponentError
from fate_flow.ml import multibuffer

P25519 = 2**255 - 19
X25519_WIDTH = 32


# -- ecdh: X25519 ---------------------------------------------------------------------------------------------------
def _x25519_rows(scalar: bytes, points: np.ndarray) -> np.ndarray:
    """X25519(scalar, u) for each 32-byte row u: Intel's crypto_mb eight at a time where it runs, else OpenSSL's
    one at a time (the same bytes). A point of low order raises ``ValueError``."""
    out = multibuffer.x25519(scalar, points)
    if out is not None:
        return out
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

    key, load = X25519PrivateKey.from_private_bytes(scalar), X25519PublicKey.from_public_bytes
    buffer = np.ascontiguousarray(points).tobytes()
    return rows([key.exchange(load(buffer[i:i + 32])) for i in range(0, len(buffer), 32)], X25519_WIDTH)


def _x25519_hash_encrypt(item: tuple[bytes, str, str, list[str]]) -> np.ndarray:
    scalar, method, salt, ids = item
    digest = digest_function(method)
    points = [(int.from_bytes(digest(v), "little") % P25519).to_bytes(32, "little") for v in salted(ids, salt)]
    return _x25519_rows(scalar, rows(points, X25519_WIDTH))


def _x25519_reencrypt(item: tuple[bytes, np.ndarray]) -> np.ndarray:
    scalar, points = item
    try:
        return _x25519_rows(scalar, points)
    except ValueError as exc:  # a low-order point: an all-zero shared secret
        raise ValueError(f"the peer sent a point of low order: {exc}") from None


class X25519Cipher:
    """ecdh on curve25519 with a fresh scalar."""

    name = "ecdh"
    width = X25519_WIDTH

    def __init__(self, hash_method: str, salt: str, scalar: bytes | None = None):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

        self.hash_method, self.salt = hash_method, salt
        if scalar is None:
            scalar = X25519PrivateKey.generate().private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        if len(scalar) != 32:
            raise ComponentError("an X25519 key is 32 bytes")
        self._scalar = scalar

    def key_text(self) -> str:
        """The secret scalar as text (kept in a cache)."""
        return self._scalar.hex()

    def encrypt_ids(self, computing: Any, ids: np.ndarray) -> np.ndarray:
        """E(H(id + salt)) for each id, as rows."""
        return parallel_rows(computing, _x25519_hash_encrypt,
                             lambda s: (self._scalar, self.hash_method, self.salt, ids[s].tolist()), len(ids),
                             self.width)

    def reencrypt(self, computing: Any, name: str, points: Any) -> np.ndarray:
        """E(y) for each row y the peer sent (checked: 32-byte rows, no point of low order)."""
        points = check_rows(name, points, self.width)
        try:
            return parallel_rows(computing, _x25519_reencrypt, lambda s: (self._scalar, points[s]), len(points),
                                 self.width)
        except ValueError as exc:
            raise ComponentError(f"{name}: {exc}") from None


# -- dh: exponentiation modulo a safe prime -------------------------------------------------------------------------
# RFC 2409 §6.2 (1024) and RFC 3526 (1536 ... 8192): p = 2^n - 2^(n-64) - 1 + 2^64 * (floor(2^(n-130) pi) + offset)
MODP_OFFSETS = {1024: 129093, 1536: 741804, 2048: 124476, 3072: 1690314, 4096: 240904, 6144: 929484,
                8192: 4743158}


@cache
def modp_prime(bits: int) -> int:
    """The safe prime of the RFC 2409/3526 MODP group of ``bits`` bits, from its defining formula."""
    import gmpy2

    if bits not in MODP_OFFSETS:
        raise ComponentError(f"dh_params.key_length {bits}: the dh groups are {', '.join(map(str, MODP_OFFSETS))} "
                             "bits (RFC 2409 / RFC 3526)")
    with gmpy2.context(gmpy2.get_context(), precision=bits + 64):
        scaled_pi = int(gmpy2.floor(gmpy2.const_pi() * gmpy2.mpz(2) ** (bits - 130)))
    return 2**bits - 2**(bits - 64) - 1 + 2**64 * (scaled_pi + MODP_OFFSETS[bits])


def _modp_hash_encrypt(item: tuple[int, int, str, str, list[str]]) -> np.ndarray:
    import gmpy2

    exponent, p, method, salt, ids = item
    p_, a_, digest, width = gmpy2.mpz(p), gmpy2.mpz(exponent), digest_function(method), (p.bit_length() + 7) // 8
    out = []
    for value in salted(ids, salt):
        x = gmpy2.mpz(int.from_bytes(digest(value), "big")) % p_
        if x < 2:
            x += 2  # 0 and 1 are fixed points; an id hashing there is moved (hash values are never this small)
        out.append(int(gmpy2.powmod(x * x, a_, p_)))
    return int_rows(out, width)


def _modp_reencrypt(item: tuple[int, int, np.ndarray]) -> np.ndarray:
    import gmpy2

    exponent, p, values = item
    p_, a_, width = gmpy2.mpz(p), gmpy2.mpz(exponent), (p.bit_length() + 7) // 8
    out = []
    for y in row_ints(values):
        # an element of the prime-order subgroup: 1 < y < p and a quadratic residue
        if not 1 < y < p or gmpy2.jacobi(y, p_) != 1:
            raise ValueError("the peer sent a value outside the group")
        out.append(int(gmpy2.powmod(y, a_, p_)))
    return int_rows(out, width)


class ModpCipher:
    """dh: x -> x^a mod p on the quadratic residues of a safe prime p, a fresh secret exponent a."""

    name = "dh"

    def __init__(self, key_length: int, hash_method: str, salt: str, exponent: int | None = None):
        self.p = modp_prime(key_length)
        self.width = (self.p.bit_length() + 7) // 8
        self.hash_method, self.salt = hash_method, salt
        q = (self.p - 1) // 2
        if exponent is None:
            exponent = 2 + secrets.randbelow(q - 3)  # uniform in [2, q): the full group order
        if not 2 <= exponent < q:
            raise ComponentError("a dh exponent lies in [2, (p-1)/2)")
        self._exponent = exponent

    def key_text(self) -> str:
        """The secret exponent as text (kept in a cache)."""
        return str(self._exponent)

    def encrypt_ids(self, computing: Any, ids: np.ndarray) -> np.ndarray:
        """E(H(id + salt)^2) for each id, as rows."""
        return parallel_rows(computing, _modp_hash_encrypt,
                             lambda s: (self._exponent, self.p, self.hash_method, self.salt, ids[s].tolist()),
                             len(ids), self.width)

    def reencrypt(self, computing: Any, name: str, values: Any) -> np.ndarray:
        """E(y) for each row y the peer sent (checked: group elements)."""
        values = check_rows(name, values, self.width)
        try:
            return parallel_rows(computing, _modp_reencrypt, lambda s: (self._exponent, self.p, values[s]),
                                 len(values), self.width)
        except ValueError as exc:
            raise ComponentError(f"{name}: {exc}") from None
