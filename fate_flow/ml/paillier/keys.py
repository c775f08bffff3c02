"""Paillier keys: key generation (two random primes of half the key length each), :class:`PublicKey` (the
modulus ``n``: encrypts, and checks a key a peer sent) and :class:`PrivateKey` (the primes: decrypts, and
encrypts by CRT).

Scheme: Paillier with ``g = n + 1``: ``Enc(m) = (1 + m n) * rho mod n^2`` where ``rho`` is a fresh random
n-th residue for every ciphertext; decryption by CRT over ``p^2`` and ``q^2``. Keys are at least 1024 bits.

Decryption runs in GIL-free gmpy2 batch calls over ``cores`` threads (the ``p`` and ``q`` halves apart, so
even a short vector uses two cores). Encryption takes its randomness from
:mod:`fate_flow.ml.paillier.obfuscation`; a ``PrivateKey`` encrypts too, with the same obfuscators made by
CRT over its factors (about a third of the cost).
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import gmpy2
import numpy as np
from gmpy2 import mpz

from fate_flow.ml.paillier.arith import _concat_lists, _random_units
from fate_flow.ml.paillier.obfuscation import _obfuscation
from fate_flow.ml.paillier.parallel import _chunks
from fate_flow.ml.paillier.pool import ObfuscatorPool
from fate_flow.ml.paillier.vector import VALUE_BITS, EncryptedVector, _fixed_point, _float_vector, _one_shifted

MIN_KEY_LENGTH = 1024
MAX_KEY_LENGTH = 8192
ENCRYPT_FRAC_BITS = 64  # fractional bits of an encrypted vector: float64 precision for |v| >= 2^-11
_SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p ** 0.5) + 1, 2))]
_SMALL_PRIMORIAL = math.prod(_SMALL_PRIMES)


def generate_keypair(key_length: int = 2048) -> tuple[PublicKey, PrivateKey]:
    """A fresh key pair whose modulus has exactly ``key_length`` bits (at least 1024)."""
    if isinstance(key_length, bool) or not isinstance(key_length, int):
        raise TypeError(f"key_length must be an int, not {type(key_length).__name__}")
    if not MIN_KEY_LENGTH <= key_length <= MAX_KEY_LENGTH:
        raise ValueError(f"key_length {key_length} is outside [{MIN_KEY_LENGTH}, {MAX_KEY_LENGTH}]")
    p_bits = key_length // 2
    while True:
        p, q = _random_prime(p_bits), _random_prime(key_length - p_bits)
        n = p * q
        # equal-size primes make gcd(n, (p-1)(q-1)) = 1 already; checked anyway for odd lengths
        if p != q and n.bit_length() == key_length and gmpy2.gcd(n, (p - 1) * (q - 1)) == 1:
            return PublicKey(n), PrivateKey(p, q)


def _random_prime(bits: int) -> mpz:
    """A random prime of exactly ``bits`` bits with its two top bits set (so p*q has full length)."""
    while True:
        start = mpz(secrets.randbits(bits)) | (mpz(3) << (bits - 2)) | 1
        prime = gmpy2.next_prime(start)
        if prime.bit_length() == bits:
            return prime


class PublicKey:
    """The modulus ``n``: encrypts, and is what every encrypted vector is bound to."""

    def __init__(self, n: int | mpz):
        self.n = mpz(n)
        self.nsquare = self.n * self.n
        self.key_length = self.n.bit_length()
        self.max_int = self.n // 2  # plaintexts above decode as negatives
        self.ciphertext_bytes = (self.nsquare.bit_length() + 7) // 8
        self.fingerprint = hashlib.sha256(int(self.n).to_bytes((self.key_length + 7) // 8, "big")).hexdigest()[:32]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and self.n == other.n

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        return f"PublicKey({self.key_length} bits, {self.fingerprint[:12]})"

    def to_wire(self) -> dict:
        """Plain values the codec carries."""
        return {"scheme": "paillier", "n": int(self.n)}

    @classmethod
    def from_wire(cls, obj: Any) -> PublicKey:
        """The key a peer sent; refuses anything but a plausible Paillier modulus of an accepted size."""
        if not isinstance(obj, dict) or set(obj) != {"scheme", "n"} or obj["scheme"] != "paillier":
            raise ValueError("a Paillier public key is a dict with 'scheme': 'paillier' and 'n'")
        n = obj["n"]
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError("the public key's n must be a positive int")
        if not MIN_KEY_LENGTH <= n.bit_length() <= MAX_KEY_LENGTH:
            raise ValueError(f"the public key's n has {n.bit_length()} bits, "
                             f"outside [{MIN_KEY_LENGTH}, {MAX_KEY_LENGTH}]")
        n = mpz(n)
        if not n & 1 or gmpy2.is_square(n) or gmpy2.gcd(n, _SMALL_PRIMORIAL) != 1 or gmpy2.is_prime(n):
            raise ValueError("the public key's n is not a product of two large odd primes")
        return cls(n)

    def encrypt(self, values: np.ndarray, cores: int = 1, pool: ObfuscatorPool | None = None) -> EncryptedVector:
        """Encrypt a 1-D float vector (|v| < 2^64), each element with fresh randomness (from ``pool`` when
        given: obfuscators made ahead by its worker, the rest made here)."""
        return _encrypt_floats(self, values, lambda count: self._fresh_obfuscators(count, cores, pool))

    def encrypt_integers(self, values: Sequence[int], cores: int = 1,
                         pool: ObfuscatorPool | None = None) -> EncryptedVector:
        """Encrypt non-negative integers as they are (exponent 0; SecureBoost's packed gradients), each with
        fresh randomness; the vector's public bound is the largest value, which must stay below n/2."""
        return _encrypt_integers(self, values, lambda count: self._fresh_obfuscators(count, cores, pool))

    def obfuscators(self, count: int, cores: int = 1) -> list[mpz]:
        """``count`` fresh random n-th residues ``hs^a mod n^2``: this process's own DJN base ``hs``, a new
        full-length ``a`` from the OS CSPRNG for each (see the obfuscation module doc)."""
        return _obfuscation(self).obfuscators(count, cores)

    def _fresh_obfuscators(self, count: int, cores: int, pool: ObfuscatorPool | None) -> list[mpz]:
        return _fresh_obfuscators(self, None, count, cores, pool)

    def random_units(self, count: int) -> list[mpz]:
        """``count`` independent uniform values in [1, n) from the OS CSPRNG (bias below 2^-64)."""
        return _random_units(self.n, count)


class PrivateKey:
    """The primes ``p`` and ``q``: decrypts, and encrypts by CRT. Never leaves the party that made it."""

    def __init__(self, p: int | mpz, q: int | mpz):
        p, q = mpz(p), mpz(q)
        if p == q:
            raise ValueError("p and q must differ")
        self.public = PublicKey(p * q)
        self.p, self.q = p, q
        self.psquare, self.qsquare = p * p, q * q
        g = self.public.n + 1
        # h_p = L_p(g^(p-1) mod p^2)^-1 mod p, the CRT form of Paillier's mu
        self._hp = gmpy2.invert((gmpy2.powmod(g, p - 1, self.psquare) - 1) // p, p)
        self._hq = gmpy2.invert((gmpy2.powmod(g, q - 1, self.qsquare) - 1) // q, q)
        self._q_inverse = gmpy2.invert(q, p)

    def __repr__(self) -> str:
        return f"PrivateKey({self.public!r})"

    def encrypt(self, values: np.ndarray, cores: int = 1, pool: ObfuscatorPool | None = None) -> EncryptedVector:
        """``public.encrypt``, the obfuscators made by CRT over the factors (``obfuscators``)."""
        return _encrypt_floats(self.public, values, lambda count: self._fresh_obfuscators(count, cores, pool))

    def encrypt_integers(self, values: Sequence[int], cores: int = 1,
                         pool: ObfuscatorPool | None = None) -> EncryptedVector:
        """``public.encrypt_integers``, the obfuscators made by CRT over the factors (``obfuscators``)."""
        return _encrypt_integers(self.public, values, lambda count: self._fresh_obfuscators(count, cores, pool))

    def obfuscators(self, count: int, cores: int = 1) -> list[mpz]:
        """What ``public.obfuscators`` makes (``hs^a mod n^2``, a fresh full-length ``a`` each), computed as
        ``hs^(a mod (p-1)) mod p^2`` and ``hs^(a mod (q-1)) mod q^2`` joined by CRT: the same values at about a
        third of the cost (half-size numbers, half-length exponents). Only the key's owner can, and it
        encrypts with them (SecureBoost's gradients, binning's labels)."""
        return _obfuscation(self.public, (self.p, self.q)).obfuscators(count, cores)

    def _fresh_obfuscators(self, count: int, cores: int, pool: ObfuscatorPool | None) -> list[mpz]:
        return _fresh_obfuscators(self.public, (self.p, self.q), count, cores, pool)

    def decrypt(self, enc: EncryptedVector, cores: int = 1) -> np.ndarray:
        """The float64 values of ``enc``; refuses a vector of another key or a plaintext beyond its bound."""
        if not isinstance(enc, EncryptedVector):
            raise TypeError(f"can only decrypt an EncryptedVector, not {type(enc).__name__}")
        if enc.public != self.public:
            raise ValueError("the vector was encrypted under another public key")
        integers = self.decrypt_integers(enc.ciphertexts, cores)
        max_int, n = self.public.max_int, self.public.n
        signed = [int(m) if m <= max_int else int(m) - int(n) for m in integers]
        bound = enc.bound
        if any(abs(v) > bound for v in signed):
            raise ValueError("a plaintext lies beyond the vector's bound: wrong key, or a corrupted ciphertext")
        scale = 1 << enc.exponent
        return np.array([v / scale for v in signed], dtype=np.float64)

    def decrypt_integers(self, ciphertexts: Sequence[mpz], cores: int = 1) -> list[mpz]:
        """The raw plaintexts in [0, n) of ``ciphertexts`` (CRT: two half-size exponentiations each, the ``p``
        and the ``q`` halves in threads of their own when ``cores`` allows: even one ciphertext's two
        exponentiations, each a millisecond at 2048 bits, run at once)."""
        ciphertexts = list(ciphertexts)
        usable = max(1, min(int(cores or 1), os.cpu_count() or 1))
        halves = ((self.p, self.psquare), (self.q, self.qsquare))
        if usable == 1 or not ciphertexts:
            xp, xq = (_crt_powers(ciphertexts, prime, square) for prime, square in halves)
        else:
            spans = _chunks(len(ciphertexts), max(1, usable // 2))
            jobs = [(ciphertexts[a:b], prime, square) for prime, square in halves for a, b in spans]
            with ThreadPoolExecutor(min(usable, len(jobs))) as pool:  # gmpy2's batch powmod releases the GIL
                parts = list(pool.map(lambda job: _crt_powers(*job), jobs))
            xp, xq = _concat_lists(parts[:len(spans)]), _concat_lists(parts[len(spans):])
        p, q = self.p, self.q
        hp, hq, q_inverse = self._hp, self._hq, self._q_inverse
        out = []
        for a, b in zip(xp, xq, strict=True):
            mp = (a - 1) // p * hp % p
            mq = (b - 1) // q * hq % q
            out.append(mq + (mp - mq) * q_inverse % p * q)
        return out


_Obfuscate = Callable[[int], list[mpz]]  # count -> that many fresh obfuscators


def _encrypt_floats(public: PublicKey, values: np.ndarray, obfuscate: _Obfuscate) -> EncryptedVector:
    plain = _fixed_point(_float_vector(values, "values"), ENCRYPT_FRAC_BITS)
    return _seal(public, plain, obfuscate(len(plain)), ENCRYPT_FRAC_BITS,
                 _one_shifted(ENCRYPT_FRAC_BITS + VALUE_BITS))


def _encrypt_integers(public: PublicKey, values: Sequence[int], obfuscate: _Obfuscate) -> EncryptedVector:
    plain = [int(v) for v in values]
    if any(v < 0 for v in plain):
        raise ValueError("encrypt_integers takes non-negative integers")
    bound = max(plain, default=0)
    if bound >= public.max_int:
        raise OverflowError("an integer reaches n/2: use a longer key")
    return _seal(public, plain, obfuscate(len(plain)), 0, bound)


def _seal(public: PublicKey, plain: list[int], obfuscators: list[mpz], exponent: int, bound: int) -> EncryptedVector:
    """``(1 + m n) * rho mod n^2`` for each plaintext and its own fresh obfuscator ``rho``."""
    n, n2 = public.n, public.nsquare
    ciphertexts = [(m * n + 1) * r % n2 for m, r in zip(plain, obfuscators, strict=True)]
    return EncryptedVector(public, ciphertexts, exponent, bound)


def _fresh_obfuscators(public: PublicKey, factors: tuple[mpz, mpz] | None, count: int, cores: int,
                       pool: ObfuscatorPool | None) -> list[mpz]:
    """``count`` obfuscators from ``pool`` (which must serve ``public``), else made here (by CRT over
    ``factors`` when the key's owner asks)."""
    if pool is None:
        return _obfuscation(public, factors).obfuscators(count, cores)
    if not isinstance(pool, ObfuscatorPool):
        raise TypeError(f"pool must be an ObfuscatorPool, not {type(pool).__name__}")
    if pool.public != public:
        raise ValueError("the obfuscator pool belongs to another public key")
    return pool.take(count, cores)


def _crt_powers(ciphertexts: list[mpz], prime: mpz, square: mpz) -> list[mpz]:
    """``c^(prime - 1) mod prime^2`` for each ciphertext (one GIL-free gmpy2 batch call)."""
    return gmpy2.powmod_base_list([c % square for c in ciphertexts], prime - 1, square)
