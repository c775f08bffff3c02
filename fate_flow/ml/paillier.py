"""Paillier encryption over numpy vectors: what the hetero linear models send between parties.

The arbiter makes a key pair and sends the public key; a party encrypts a float vector (``pub.encrypt``),
the others add plain or encrypted vectors, multiply by plain numbers, and compute ``X^T @ [[d]]``
(``rmatmul``); the arbiter decrypts (``priv.decrypt``). Everything crosses parties as plain values
(``to_wire`` / ``from_wire``, which validates what a peer sent).

Scheme: Paillier with ``g = n + 1``: ``Enc(m) = (1 + m n) * rho mod n^2`` where ``rho`` is a fresh random
n-th residue for every ciphertext; decryption by CRT over ``p^2`` and ``q^2``. Keys are at least 1024 bits.

Obfuscation (the random ``rho``): Damgard-Jurik-Nielsen's fixed-base variant (DJN 2010, "A generalization
of Paillier's public-key system with applications to electronic voting"; what Intel's IPCL, FATE 1.11's
encrypt method "IPCL", does) instead of the textbook ``r^n`` for a random ``r``:

- the ENCRYPTING process draws its own random unit ``h`` and computes ``hs = h^n mod n^2`` once per key
  (one full exponentiation; kept in a module cache keyed by ``n``). Nothing of it comes from the key holder
  or crosses the wire, so no party can plant a weak base (say one of small order) on the others. (Processes
  forked from one that made ``hs`` share it: harmless, DJN even publish ``hs``; what must be fresh is ``a``);
- every ciphertext (``encrypt``) and every rerandomization (``rerandomize``) gets ``rho = hs^a mod n^2``
  with ``a`` FULL-LENGTH and fresh from the OS CSPRNG: at least ``key_length + 128`` bits, never reused;
- ``hs^a`` comes from a fixed-base table of powers of ``hs`` (Lim and Lee's comb, :class:`_FixedBase`).
  As ``a`` is random, its digits are drawn directly (independent uniform digits: a uniform ``a``); each
  costs one table look-up and one modular multiplication: 86 multiplications and squarings per encryption
  at 1024 bits, 178 at 2048, instead of a full exponentiation (about 1.2 per exponent bit).

Security basis: decisional composite residuosity (DCR), the assumption Paillier itself rests on. ``hs`` is
a uniform n-th residue (``h`` is a uniform unit), i.e. exactly DCR's "residue" distribution. The order of
``hs`` divides ``lambda(n) < n < 2^key_length``, so ``a mod ord(hs)`` is within ``2^-128`` of uniform and
``rho`` is a uniform element of the cyclic group ``<hs>``. A reduction that swaps ``hs`` for a DCR challenge
``z`` gives the real ciphertexts when ``z`` is a residue, and ciphertexts uniform in ``<z>`` (which then
contains ``1 + n``), whatever the plaintexts, when ``z`` is random: semantic security from DCR alone. IPCL
draws ``a`` with only ``key_length / 2`` bits: security then needs an assumption beyond DCR (that powers of
``hs`` with short random exponents look like those with full ones). We pay for full-length exponents
instead: at least as many random bits as the textbook ``r`` in ``Z_n`` (FATE's default "Paillier").

Fixed point: a vector has one ``exponent`` (fractional bits): ciphertext ``i`` holds the integer
``round(value_i * 2^exponent)`` modulo ``n``, negatives as ``n - |v|``. A vector also carries ``bound``,
a public upper bound on ``|integer|`` derived from the operations alone (never from the data, so sending
it leaks nothing); an operation whose bound would reach ``n / 2`` raises :class:`OverflowError` instead of
wrapping, and decryption refuses a plaintext beyond the bound (a wrong key or a corrupted ciphertext).

Exponents, also public, depend only on the operations: encryption uses ``ENCRYPT_FRAC_BITS``; an
elementwise product adds ``MULT_FRAC_BITS``, ``rmatmul`` ``MATMUL_FRAC_BITS``; a product by one plain
number adds the few bits that number needs exactly (so ``enc * 0.25`` is free). Adding vectors of
different exponents raises the smaller one's ciphertexts to ``2^diff``.

Speed: encryption is the table walk above: per core, about 3,500 encryptions/s at 1024 bits and 650/s at
2048 against 520 and 78 with ``r^n`` (bench/paillier_ops.py, which also measures the table shapes). The
table is Lim and Lee's comb (:class:`_FixedBase`), shaped for the fewest multiplications within a memory
budget. A process makes its first obfuscators of a key by direct ``hs^a`` exponentiations (GIL-free gmpy2
batch calls over ``cores`` threads); once they have cost what a small table (``OBFUSCATION_TABLE_BYTES / 4``)
costs to build, it builds one (0.15 s at 1024 bits, 0.3 s at 2048); once the small table's extra
multiplications have cost what the large one (``OBFUSCATION_TABLE_BYTES``, about 72 MB) costs to build,
it builds that (0.6 s, 1.1 s). Table walks hold the GIL (one gmpy2 multiplication at a time), so big
batches run in ``cores`` forked processes that inherit the table and draw their own random digits.
Decryption runs in GIL-free gmpy2 batch calls over ``cores`` threads (the ``p`` and ``q`` halves apart, so
even a short vector uses two cores). ``rmatmul`` is a bucket (Pippenger) multi-exponentiation per column:
about ``bits / w`` modular multiplications per element instead of ``bits * 1.2``, with signed digits when
there are several columns; elementwise and matrix products spread over ``cores`` forked processes when the
work pays for the fork (matrix products by whole columns; the calling process computes one share).

Obfuscators ahead of need: a party that encrypts or rerandomizes again and again (the hetero linear models'
hosts and guest) keeps an :class:`ObfuscatorPool`, a forked worker that makes obfuscators at idle priority
while the party waits for the others (a batch's worth: what the pipe holds, the rest in the worker's memory);
``encrypt(..., pool=pool)`` and ``rerandomize(..., pool=pool)`` then
cost one multiplication per value for what the pool holds. Each obfuscator is the same ``hs^a`` with a fresh
full-length ``a``, handed out once, in the one process that made the pool.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import hashlib
import math
import multiprocessing
import os
import secrets
import select
import signal
import termios
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import gmpy2
import numpy as np
from gmpy2 import mpz

from fate_flow.engine.bigint import BigIntVector

MIN_KEY_LENGTH = 1024
MAX_KEY_LENGTH = 8192
ENCRYPT_FRAC_BITS = 64  # fractional bits of an encrypted vector: float64 precision for |v| >= 2^-11
MULT_FRAC_BITS = 48  # fractional bits an elementwise multiplier adds to the exponent (2^-48 absolute)
MATMUL_FRAC_BITS = 64  # fractional bits rmatmul adds: every column is aligned to it (nearly free)
MATMUL_BITS = 40  # rmatmul rounds each column to 40 significant bits of its largest |value| (if >= 2^-24)
VALUE_BITS = 64  # plain values (encrypted, added or multipliers) must satisfy |v| < 2^64
MAX_EXPONENT = 1 << 14
MAX_VECTOR_LENGTH = 20_000_000  # ciphertexts one wire vector may hold
WIRE_KEYS = frozenset({"key", "exponent", "bound", "ciphertexts"})
OBFUSCATION_SLACK_BITS = 128  # random exponent bits beyond the key length: a mod ord(hs) within 2^-128 of uniform
OBFUSCATION_TABLE_BYTES = 80 << 20  # memory one key's fixed-base table may take in one process
POOL_CAPACITY = 2048  # obfuscators an ObfuscatorPool holds ready unless told otherwise
POOL_MAX_BYTES = 64 << 20  # the most one pool holds ready (a pipe's worth, the rest in its worker's memory)

_ONE = mpz(1)
# work (elements x multiplications) below which forking worker processes costs more than it saves
_MIN_PROCESS_WORK = 3_000
_MIN_THREAD_ITEMS = 16
_TABLE_ENTRY_OVERHEAD = 72  # bytes a table entry takes beyond its limbs (object header, list slot, malloc)
_DIGIT_BLOCK = 4096  # obfuscators drawn per block of random digits (bounds the digit array)
_MIN_FORK_MULTIPLICATIONS = 40_000  # table multiplications below which forking costs more than it saves
_CACHED_KEYS = 2  # keys whose obfuscation tables one process keeps
_POOL_BLOCK = 32  # obfuscators a pool's worker makes and writes at a time
_POOL_REFILL_WAIT = 0.05  # seconds a pool's owner waits for its worker to move more into the pipe
_POOL_IDLE_POLL = 0.02  # seconds a full pool's worker sleeps before it looks whether some were taken
_SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p ** 0.5) + 1, 2))]
_SMALL_PRIMORIAL = math.prod(_SMALL_PRIMES)


# ------------------------------------------------------------------------------------------------ keys


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
        plain = _fixed_point(_float_vector(values, "values"), ENCRYPT_FRAC_BITS)
        return self._seal(plain, self._fresh_obfuscators(len(plain), cores, pool))

    def _seal(self, plain: list[int], obfuscators: list[mpz]) -> EncryptedVector:
        """``(1 + m n) * rho mod n^2`` for each plaintext and its own fresh obfuscator ``rho``."""
        n, n2 = self.n, self.nsquare
        ciphertexts = [(m * n + 1) * r % n2 for m, r in zip(plain, obfuscators, strict=True)]
        return EncryptedVector(self, ciphertexts, ENCRYPT_FRAC_BITS, _one_shifted(ENCRYPT_FRAC_BITS + VALUE_BITS))

    def encrypt_integers(self, values: Sequence[int], cores: int = 1,
                         pool: ObfuscatorPool | None = None) -> EncryptedVector:
        """Encrypt non-negative integers as they are (exponent 0; SecureBoost's packed gradients), each with
        fresh randomness; the vector's public bound is the largest value, which must stay below n/2."""
        plain = [int(v) for v in values]
        if any(v < 0 for v in plain):
            raise ValueError("encrypt_integers takes non-negative integers")
        bound = max(plain, default=0)
        if bound >= self.max_int:
            raise OverflowError("an integer reaches n/2: use a longer key")
        vector = self._seal(plain, self._fresh_obfuscators(len(plain), cores, pool))
        return vector._like(vector.ciphertexts, exponent=0, bound=bound)

    def obfuscators(self, count: int, cores: int = 1) -> list[mpz]:
        """``count`` fresh random n-th residues ``hs^a mod n^2``: this process's own DJN base ``hs``, a new
        full-length ``a`` from the OS CSPRNG for each (see the module doc)."""
        return _obfuscation(self).obfuscators(count, cores)

    def _fresh_obfuscators(self, count: int, cores: int, pool: ObfuscatorPool | None) -> list[mpz]:
        if pool is None:
            return self.obfuscators(count, cores)
        if not isinstance(pool, ObfuscatorPool):
            raise TypeError(f"pool must be an ObfuscatorPool, not {type(pool).__name__}")
        if pool.public != self:
            raise ValueError("the obfuscator pool belongs to another public key")
        return pool.take(count, cores)

    def random_units(self, count: int) -> list[mpz]:
        """``count`` independent uniform values in [1, n) from the OS CSPRNG (bias below 2^-64)."""
        return _random_units(self.n, count)


class PrivateKey:
    """The primes ``p`` and ``q``: decrypts. Never leaves the party that made it."""

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
        """``public.encrypt``: the DJN table walk is about twice as fast as the owner's CRT shortcut (``r^n``
        as two half-size exponentiations mod ``p^2`` and ``q^2``), so the owner encrypts like everyone else."""
        return self.public.encrypt(values, cores, pool)

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


def _crt_powers(ciphertexts: list[mpz], prime: mpz, square: mpz) -> list[mpz]:
    """``c^(prime - 1) mod prime^2`` for each ciphertext (one GIL-free gmpy2 batch call)."""
    return gmpy2.powmod_base_list([c % square for c in ciphertexts], prime - 1, square)


# ------------------------------------------------------------------------------------------ the vector


class EncryptedVector:
    """Ciphertexts of one public key, one exponent and one public bound (see the module doc)."""

    __slots__ = ("public", "ciphertexts", "exponent", "bound")
    __array_ufunc__ = None  # ndarray (op) EncryptedVector defers to our reflected operators

    def __init__(self, public: PublicKey, ciphertexts: list[mpz], exponent: int, bound: int):
        if bound >= public.max_int:
            raise OverflowError(f"encrypted values may reach 2^{bound.bit_length()}, beyond what a "
                                f"{public.key_length}-bit key holds: use fewer operations or a longer key")
        self.public = public
        self.ciphertexts = ciphertexts
        self.exponent = exponent
        self.bound = bound

    def __len__(self) -> int:
        return len(self.ciphertexts)

    def __repr__(self) -> str:
        return f"EncryptedVector({len(self)} values, exponent {self.exponent}, {self.public!r})"

    def _like(self, ciphertexts: list[mpz], exponent: int | None = None, bound: int | None = None) -> EncryptedVector:
        return EncryptedVector(self.public, ciphertexts, self.exponent if exponent is None else exponent,
                               self.bound if bound is None else bound)

    # ---- wire

    def to_wire(self) -> dict:
        """Plain values the codec carries (the ciphertexts as one ``BigIntVector`` block)."""
        width = self.public.ciphertext_bytes
        packed = b"".join(c.to_bytes(width, "little") for c in self.ciphertexts)
        return {"key": self.public.fingerprint, "exponent": self.exponent, "bound": int(self.bound),
                "ciphertexts": BigIntVector(packed, width, len(self.ciphertexts))}

    @classmethod
    def from_wire(cls, public: PublicKey, obj: Any) -> EncryptedVector:
        """The vector a peer sent under ``public``: every field and ciphertext checked (0 < c < n^2, unit)."""
        if not isinstance(obj, dict) or set(obj) != WIRE_KEYS:
            raise ValueError(f"an encrypted vector is a dict with keys {sorted(WIRE_KEYS)}")
        if obj["key"] != public.fingerprint:
            raise ValueError("the encrypted vector was made under another public key")
        exponent, bound, packed = obj["exponent"], obj["bound"], obj["ciphertexts"]
        if isinstance(exponent, bool) or not isinstance(exponent, int) or not 0 <= exponent <= MAX_EXPONENT:
            raise ValueError(f"the exponent must be an int in [0, {MAX_EXPONENT}]")
        if isinstance(bound, bool) or not isinstance(bound, int) or not 0 <= bound < public.max_int:
            raise ValueError("the bound must be an int in [0, n/2)")
        if not isinstance(packed, BigIntVector):
            raise ValueError(f"the ciphertexts must be a BigIntVector, not {type(packed).__name__}")
        if packed.width != public.ciphertext_bytes:
            raise ValueError(f"ciphertexts are {packed.width} bytes wide; this key's are {public.ciphertext_bytes}")
        if len(packed) > MAX_VECTOR_LENGTH:
            raise ValueError(f"{len(packed)} ciphertexts: more than the {MAX_VECTOR_LENGTH} one vector may hold")
        width, view, n, n2 = packed.width, packed.buffer, public.n, public.nsquare
        ciphertexts = [mpz.from_bytes(view[i * width:(i + 1) * width], "little") for i in range(len(packed))]
        residues = _ONE
        for i, c in enumerate(ciphertexts):
            if not 0 < c < n2:
                raise ValueError(f"ciphertext {i} is out of range (0, n^2)")
            residues = residues * c % n
        if gmpy2.gcd(residues, n) != 1:  # one gcd for the whole vector: a multiple of p or q shows in the product
            raise ValueError("a ciphertext shares a factor with n: not a valid ciphertext")
        return cls(public, ciphertexts, exponent, bound)

    # ---- arithmetic

    def __add__(self, other: Any) -> EncryptedVector:
        if isinstance(other, EncryptedVector):
            return self._add_encrypted(other)
        values = _plain_operand(other, len(self))
        plain = _fixed_point(values, self.exponent)
        n, n2 = self.public.n, self.public.nsquare
        ciphertexts = [c * (m * n + 1) % n2 if m else c for c, m in zip(self.ciphertexts, plain, strict=True)]
        return self._like(ciphertexts, bound=self.bound + _one_shifted(self.exponent + VALUE_BITS))

    __radd__ = __add__

    def __sub__(self, other: Any) -> EncryptedVector:
        if isinstance(other, EncryptedVector):
            return self._add_encrypted(-other)
        return self + (-_plain_operand(other, len(self)))

    def __rsub__(self, other: Any) -> EncryptedVector:
        return (-self) + other

    def __neg__(self) -> EncryptedVector:
        return self._like(_batch_invert(self.ciphertexts, self.public.nsquare))

    def __mul__(self, other: Any) -> EncryptedVector:
        return self.multiply(other)

    __rmul__ = __mul__

    def multiply(self, other: Any, cores: int = 1) -> EncryptedVector:
        """``self * other`` for a plain number or a plain vector of ``len(self)``, over ``cores`` cores."""
        if isinstance(other, EncryptedVector):
            raise TypeError("Paillier cannot multiply two encrypted vectors")
        if isinstance(other, int | float | np.number) and not isinstance(other, bool | np.bool_):
            return self._mul_scalar(float(other), cores)
        array = np.asarray(other)
        if array.ndim == 0 or (array.ndim == 1 and array.size == 1 and len(self) != 1):
            return self._mul_scalar(float(array.reshape(-1)[0]), cores)
        return self._mul_elementwise(array, cores)

    def rerandomize(self, cores: int = 1, pool: ObfuscatorPool | None = None) -> EncryptedVector:
        """The same values under fresh randomness (each ciphertext times a new obfuscator: an encryption's cost,
        or next to nothing with a ``pool`` that has them ready).

        Plain additions and products are deterministic: a party that made (or can recompute) the input
        ciphertexts and sees the output learns the plain operand (``c' / c = 1 + m n``). Rerandomize before
        sending a result back to such a party.
        """
        obfuscators = self.public._fresh_obfuscators(len(self), cores, pool)
        n2 = self.public.nsquare
        return self._like([c * r % n2 for c, r in zip(self.ciphertexts, obfuscators, strict=True)])

    def sum(self) -> EncryptedVector:
        """The encrypted sum of all elements (length 1)."""
        n2 = self.public.nsquare
        total = _ONE
        for c in self.ciphertexts:
            total = total * c % n2
        return self._like([total], bound=self.bound * max(len(self), 1))

    def group_sums(self, groups: Sequence[np.ndarray]) -> EncryptedVector:
        """One encrypted sum per group of element indices (an empty group sums to an encryption of 0 without
        randomness: rerandomize before such a result leaves the party)."""
        n2, cs = self.public.nsquare, self.ciphertexts
        sums, largest = [], 1
        for group in groups:
            total = _ONE
            for i in np.asarray(group, dtype=np.int64).tolist():
                total = total * cs[i] % n2
            sums.append(total)
            largest = max(largest, len(group))
        return self._like(sums, bound=self.bound * largest)

    def keep(self, mask: np.ndarray, cores: int = 1) -> EncryptedVector:
        """Elements where ``mask`` is true, fresh encryptions of 0 elsewhere, all under fresh randomness (what
        was dropped cannot be told from what was kept)."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(self),):
            raise ValueError("the mask must have one entry per element")
        n2 = self.public.nsquare
        obfuscators = self.public.obfuscators(len(self), cores)
        return self._like([c * r % n2 if kept else r for c, r, kept in zip(self.ciphertexts, obfuscators, mask.tolist(),
                                                                               strict=True)])

    def take(self, indices: np.ndarray) -> EncryptedVector:
        """The elements at ``indices`` (numpy integer indexing, negatives count from the end)."""
        index = np.asarray(indices)
        if index.ndim != 1 or (index.size and not np.issubdtype(index.dtype, np.integer)):
            raise ValueError("indices must be a 1-D integer array")
        size = len(self)
        if index.size and (index.max() >= size or index.min() < -size):
            raise IndexError(f"index out of range for {size} ciphertexts")
        cs = self.ciphertexts
        return self._like([cs[i] for i in index.tolist()])

    @staticmethod
    def concat(vectors: Sequence[EncryptedVector]) -> EncryptedVector:
        """One vector of the elements of ``vectors`` in order (aligned to the largest exponent)."""
        if not vectors:
            raise ValueError("nothing to concatenate")
        public = vectors[0].public
        if any(v.public != public for v in vectors):
            raise ValueError("cannot concatenate vectors of different public keys")
        exponent = max(v.exponent for v in vectors)
        aligned = [v._aligned(exponent) for v in vectors]
        ciphertexts = [c for v in aligned for c in v.ciphertexts]
        return EncryptedVector(public, ciphertexts, exponent, max(v.bound for v in aligned))

    def rmatmul(self, x: np.ndarray, cores: int = 1) -> EncryptedVector:
        """``x.T @ self`` for ``x`` of shape (len(self), features): one encrypted value per feature."""
        matrix = np.asarray(x, dtype=np.float64)
        if matrix.ndim == 1:
            matrix = matrix[:, None]
        if matrix.ndim != 2 or matrix.shape[0] != len(self):
            raise ValueError(f"rmatmul needs a ({len(self)}, features) matrix, got shape {matrix.shape}")
        _check_finite(matrix, "x")
        exponent = self.exponent + MATMUL_FRAC_BITS
        # + 1 bit: rounding a column to its own precision then shifting to MATMUL_FRAC_BITS may round up
        bound = self.bound * max(len(self), 1) * _one_shifted(MATMUL_FRAC_BITS + VALUE_BITS + 1)
        result = self._like([_ONE] * matrix.shape[1], exponent, bound)  # raises on overflow before the work
        result.ciphertexts = _rmatmul(self.ciphertexts, matrix, self.public.nsquare, cores)
        return result

    # ---- helpers

    def _add_encrypted(self, other: EncryptedVector) -> EncryptedVector:
        if other.public != self.public:
            raise ValueError("cannot add vectors of different public keys")
        if len(other) != len(self):
            raise ValueError(f"cannot add vectors of lengths {len(self)} and {len(other)}")
        exponent = max(self.exponent, other.exponent)
        a, b = self._aligned(exponent), other._aligned(exponent)
        n2 = self.public.nsquare
        ciphertexts = [x * y % n2 for x, y in zip(a.ciphertexts, b.ciphertexts, strict=True)]
        return self._like(ciphertexts, exponent, a.bound + b.bound)

    def _aligned(self, exponent: int) -> EncryptedVector:
        """The same values at a larger exponent: each plaintext times 2^diff (a short exponentiation)."""
        diff = exponent - self.exponent
        if diff == 0:
            return self
        bound = self.bound << diff
        result = self._like([], exponent, bound)
        factor, n2 = mpz(1) << diff, self.public.nsquare
        result.ciphertexts = [gmpy2.powmod(c, factor, n2) for c in self.ciphertexts]
        return result

    def _mul_scalar(self, value: float, cores: int) -> EncryptedVector:
        if not math.isfinite(value) or abs(value) >= 2.0 ** VALUE_BITS:
            raise ValueError(f"cannot multiply by {value}: multipliers must be finite and below 2^{VALUE_BITS}")
        multiplier, frac_bits = _exact_fixed_point(value)
        magnitude = abs(multiplier)
        bound = self.bound * (1 << max(magnitude - 1, 0).bit_length())  # a power of two: hides the value
        result = self._like([], self.exponent + frac_bits, bound)
        n2 = self.public.nsquare
        if magnitude == 1:
            result.ciphertexts = list(self.ciphertexts) if multiplier == 1 else _batch_invert(self.ciphertexts, n2)
        elif multiplier == 0:
            result.ciphertexts = [_ONE] * len(self)
        else:
            base = self.ciphertexts if multiplier > 0 else _batch_invert(self.ciphertexts, n2)
            result.ciphertexts = _threaded(lambda chunk: gmpy2.powmod_base_list(chunk, magnitude, n2), base, cores)
        return result

    def _mul_elementwise(self, array: np.ndarray, cores: int) -> EncryptedVector:
        values = _float_vector(array, "multiplier")
        if values.size != len(self):
            raise ValueError(f"cannot multiply {len(self)} ciphertexts by {values.size} values elementwise")
        exponent = self.exponent + MULT_FRAC_BITS
        bound = self.bound * _one_shifted(MULT_FRAC_BITS + VALUE_BITS)
        result = self._like([], exponent, bound)
        multipliers = _fixed_point(values, MULT_FRAC_BITS)
        work = len(self) * (MULT_FRAC_BITS + 8)
        result.ciphertexts = _in_processes(_pow_chunk, (self.ciphertexts, multipliers, self.public.nsquare),
                                           len(self), _cores_for(work, cores), _concat_lists)
        return result


# ------------------------------------------------------------------------------- obfuscation (DJN)


class _FixedBase:
    """Powers ``base^a mod modulus`` by Lim and Lee's comb: fixed-base exponentiation with a table.

    Shape ``(width, rows, steps)``: the exponent has ``width * rows * steps`` bits; bit ``i A + j S + t``
    (``i < width``, ``j < rows``, ``t < steps``, ``S = steps``, ``A = rows * steps``) is bit ``i`` of digit
    ``u[t][j]``, and ``table[j][u] = base^(sum_i u_i 2^(i A + j S))`` for every ``width``-bit ``u``. From the
    top step down, the accumulator is squared, then multiplied by ``table[j][u[t][j]]`` for each ``j``:
    ``rows * steps`` multiplications and ``steps - 1`` squarings, for ``rows * 2^width`` table entries
    (``steps == 1`` is the plain windowed table). The exponents are random, so the digits are drawn
    directly: independent uniform digits make a uniform exponent.
    """

    __slots__ = ("modulus", "width", "rows", "steps", "table")

    def __init__(self, base: mpz, modulus: mpz, shape: tuple[int, int, int]):
        self.modulus = modulus
        self.width, self.rows, self.steps = shape
        self.table = _comb_table(base, modulus, *shape)

    @property
    def operations(self) -> int:
        """Modular multiplications and squarings per power."""
        return _comb_operations((self.width, self.rows, self.steps))

    def random_digits(self, count: int) -> np.ndarray:
        """(steps, rows, count) digits, each uniform in [0, 2^width) from os.urandom (2^16 is a multiple of
        2^width, so masking keeps them uniform)."""
        raw = np.frombuffer(os.urandom(2 * self.steps * self.rows * count), dtype=np.uint16)
        return (raw & ((1 << self.width) - 1)).reshape(self.steps, self.rows, count)

    def powers(self, digits: np.ndarray) -> list[mpz]:
        """``base^a`` for each ``a`` that ``digits[:, :, k]`` stands for, table row by table row (a row
        stays in cache while it serves every power)."""
        n2, table = self.modulus, self.table
        acc: list[mpz] | None = None
        for step in digits:  # the most significant first
            if acc is not None:
                acc = [a * a % n2 for a in acc]
            for row, row_digits in zip(table, step, strict=True):
                ds = row_digits.tolist()
                acc = [row[d] for d in ds] if acc is None else [a * row[d] % n2 for a, d in zip(acc, ds, strict=True)]
        return acc if acc is not None else []

    def random_powers(self, count: int) -> list[mpz]:
        """``count`` powers of the base with fresh uniform exponents, drawn block by block."""
        out: list[mpz] = []
        for start in range(0, count, _DIGIT_BLOCK):
            out.extend(self.powers(self.random_digits(min(_DIGIT_BLOCK, count - start))))
        return out

    def exponent(self, digits: np.ndarray) -> int:
        """The exponent one power's (steps, rows) digits stand for (what ``powers`` raises the base to)."""
        across, exponent = self.rows * self.steps, 0
        for t, step in enumerate(digits.tolist()):
            for j, digit in enumerate(step):
                for i in range(self.width):
                    if digit >> i & 1:
                        exponent += 1 << (i * across + j * self.steps + self.steps - 1 - t)
        return exponent


def _comb_table(base: mpz, modulus: mpz, width: int, rows: int, steps: int) -> list[list[mpz]]:
    # bases[i][j] = base^(2^(i A + j S)): consecutive positions are S bits apart (A = rows * S)
    bases, g, shift = [], base, _ONE << steps
    for _ in range(width):
        column = []
        for _ in range(rows):
            column.append(g)
            g = gmpy2.powmod(g, shift, modulus)
        bases.append(column)
    table = []
    for j in range(rows):
        row = [_ONE]
        for i in range(width):  # row[u + 2^i] = row[u] * bases[i][j]
            b = bases[i][j]
            row.extend([x * b % modulus for x in row])
        table.append(row)
    return table


def _comb_shape(exponent_bits: int, entry_bytes: int, budget: int) -> tuple[int, int, int]:
    """The comb shape of least work whose table fits in ``budget`` bytes (a squaring counted as 0.85 of a
    multiplication, as measured)."""
    best: tuple[float, int, tuple[int, int, int]] | None = None
    for width in range(1, 17):
        per_row = (1 << width) * (entry_bytes + _TABLE_ENTRY_OVERHEAD)
        for rows in range(1, min(budget // per_row, -(-exponent_bits // width)) + 1):
            steps = -(-exponent_bits // (width * rows))
            candidate = (rows * steps + 0.85 * (steps - 1), rows << width, (width, rows, steps))
            if best is None or candidate[:2] < best[:2]:
                best = candidate
    if best is None:
        raise ValueError(f"no fixed-base table fits in {budget} bytes")
    return best[2]


def _comb_operations(shape: tuple[int, int, int]) -> int:
    _, rows, steps = shape
    return rows * steps + steps - 2


def _comb_entries(shape: tuple[int, int, int]) -> int:
    width, rows, _ = shape
    return rows << width


class _Obfuscation:
    """This process's DJN obfuscators for one public key (module doc): its own ``hs = h^n mod n^2``, and
    fixed-base tables of ``hs`` once enough obfuscators have been asked for to pay for them."""

    def __init__(self, public: PublicKey):
        n, n2 = public.n, public.nsquare
        h = _random_units(n, 1)[0]
        if gmpy2.gcd(h, n) != 1:  # probability ~2^-(key_length/2): would mean h shares a prime with n
            raise ArithmeticError("the random unit is not a unit modulo n")
        self.modulus = n2
        self.base = gmpy2.powmod(h, n, n2)
        self.exponent_bits = public.key_length + OBFUSCATION_SLACK_BITS
        entry = public.ciphertext_bytes
        self.shapes = (_comb_shape(self.exponent_bits, entry, OBFUSCATION_TABLE_BYTES // 4),
                       _comb_shape(self.exponent_bits, entry, OBFUSCATION_TABLE_BYTES))
        self.fixed: _FixedBase | None = None
        self._level = 0  # the next of `shapes` to consider building
        self._made = 0  # obfuscators made by the current method (direct exponentiation, then each table)
        self._lock = threading.Lock()

    def obfuscators(self, count: int, cores: int = 1) -> list[mpz]:
        """``count`` values ``hs^a`` with fresh uniform exponents of at least ``exponent_bits`` bits."""
        if count <= 0:
            return []
        fixed = self._table_for(count)
        if fixed is None:
            base, n2 = self.base, self.modulus
            exponents = _random_exponents(count, self.exponent_bits)
            return _threaded(lambda chunk: gmpy2.powmod_exp_list(base, chunk, n2), exponents, cores)
        usable = max(1, min(int(cores or 1), os.cpu_count() or 1))
        workers = usable if count * fixed.operations >= _MIN_FORK_MULTIPLICATIONS else 1
        return _in_processes(_fixed_base_chunk, (fixed,), count, workers, _concat_lists)

    def table_for_pool(self) -> _FixedBase:
        """The table a pool's worker walks: the one it inherited from its owner, else the small one of
        ``shapes`` (built now): a worker makes obfuscators for as long as the fit runs, but on CPU its party
        leaves idle, and its own table is memory on top of its owner's."""
        with self._lock:
            if self.fixed is None:
                self.fixed = _FixedBase(self.base, self.modulus, self.shapes[0])
                self._level, self._made = 1, 0
            return self.fixed

    def _table_for(self, count: int) -> _FixedBase | None:
        """The table to use for ``count`` more obfuscators, built or enlarged when it pays (ski rental: the
        next table is built once what it would have saved so far equals its build cost, about one
        multiplication per entry)."""
        with self._lock:
            self._made += count
            while self._level < len(self.shapes):
                shape = self.shapes[self._level]
                # a direct exponentiation (GMP's windowed Montgomery powmod, in C) costs what about
                # 0.7 * exponent_bits of our table multiplications do (measured at 1024 and 2048 bits)
                current = 0.7 * self.exponent_bits if self.fixed is None else self.fixed.operations
                saving = current - _comb_operations(shape)
                if saving > 0:
                    if self._made * saving < _comb_entries(shape):
                        break
                    self.fixed = None  # let a smaller table go before the next one is built
                    self.fixed = _FixedBase(self.base, self.modulus, shape)
                    self._made = 0
                self._level += 1
            return self.fixed


def _fixed_base_chunk(state: tuple, start: int, stop: int) -> list[mpz]:
    """``stop - start`` fresh obfuscators (a forked worker draws its own random digits)."""
    (fixed,) = state
    return fixed.random_powers(stop - start)


def _random_exponents(count: int, bits: int) -> list[mpz]:
    """``count`` independent uniform exponents of ``bits`` bits (rounded up to whole bytes) from os.urandom."""
    width = (bits + 7) // 8
    pool = os.urandom(width * count)
    return [mpz.from_bytes(pool[i * width:(i + 1) * width], "little") for i in range(count)]


_OBFUSCATIONS: OrderedDict[mpz, _Obfuscation] = OrderedDict()
_OBFUSCATIONS_LOCK = threading.Lock()


def _obfuscation(public: PublicKey) -> _Obfuscation:
    """This process's obfuscation state for ``public`` (keyed by ``n`` itself, not a hash of it)."""
    with _OBFUSCATIONS_LOCK:
        found = _OBFUSCATIONS.get(public.n)
        if found is None:
            found = _OBFUSCATIONS[public.n] = _Obfuscation(public)
            while len(_OBFUSCATIONS) > _CACHED_KEYS:
                _OBFUSCATIONS.popitem(last=False)
        else:
            _OBFUSCATIONS.move_to_end(public.n)
        return found


def _fresh_locks_after_fork() -> None:
    """A forked child starts with unlocked locks (the parent may have forked while a thread held one)."""
    global _OBFUSCATIONS_LOCK
    _OBFUSCATIONS_LOCK = threading.Lock()
    for state in _OBFUSCATIONS.values():
        state._lock = threading.Lock()


os.register_at_fork(after_in_child=_fresh_locks_after_fork)


# --------------------------------------------------------------------------------- obfuscator pools


class ObfuscatorPool:
    """Fresh obfuscators for one public key, made ahead of need by a worker process (forked from this one).

    A party's protocol runs one step after another and waits for the others in between; the worker makes
    obfuscators meanwhile at idle priority (the CPU nothing else wants), so that an encryption or a
    rerandomization costs one multiplication per value. The obfuscators are exactly those
    ``PublicKey.obfuscators`` makes (``hs^a``, full-length fresh ``a`` from the worker's OS CSPRNG); they go
    through a pipe whose reads consume them, so each is handed out once, and only in this process (a pool
    cannot be pickled, and refuses to serve a forked child). The worker stops making once ``capacity`` values
    are ready (capped at ``POOL_MAX_BYTES``): what the pipe holds, the rest in the worker's memory, moved into
    the pipe as it is read. A party sizes its pool to what it needs per round, so that all of it can be made
    while it waits.

    ``take`` hands out what is ready and makes the rest as ``PublicKey.obfuscators`` does. The worker ends
    when ``close`` is called (or ``with`` ends), when this process exits (it is a daemon) and when this
    process dies (its next write finds the pipe without a reader).
    """

    def __init__(self, public: PublicKey, capacity: int = POOL_CAPACITY, expected: int | None = None):
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a positive int, not {capacity!r}")
        self.public = public
        self.taken = 0  # obfuscators handed out from the worker
        self.made_here = 0  # obfuscators take() had to make itself
        self._width = public.ciphertext_bytes
        self._owner = os.getpid()
        self._partial = b""  # the first bytes of an obfuscator the worker is still writing
        self.capacity = min(capacity, POOL_MAX_BYTES // self._width)
        self._stocked = multiprocessing.RawValue("q", 0)  # made, in the worker's memory, not yet in the pipe
        # what this process will still take (-1: unknown), see ``expect``
        self._expected = multiprocessing.RawValue("q", -1 if expected is None else max(0, int(expected)))
        read_fd, write_fd = os.pipe()
        try:
            _grow_pipe(write_fd, self.capacity * self._width)
            os.set_blocking(read_fd, False)
            self._worker = multiprocessing.get_context("fork").Process(
                target=_pool_worker, args=(public, read_fd, write_fd, self.capacity, self._stocked, self._expected),
                daemon=True,
                name=f"paillier-obfuscators-{public.fingerprint[:8]}")
            self._worker.start()
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)  # the worker's copy alone: the pipe ends when the worker does
        self._fd: int | None = read_fd
        self._finalizer = weakref.finalize(self, _stop_pool_worker, self._worker, read_fd, self._owner)

    def __repr__(self) -> str:
        return (f"ObfuscatorPool({self.public!r}, capacity {self.capacity}, taken {self.taken}, "
                f"made here {self.made_here})")

    def __reduce__(self) -> Any:
        raise TypeError("an ObfuscatorPool belongs to the process that made it: it cannot be pickled")

    def __enter__(self) -> ObfuscatorPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def worker_pid(self) -> int | None:
        """The worker's process id (None once closed)."""
        return self._worker.pid if self._fd is not None else None

    @property
    def ready(self) -> int:
        """How many obfuscators the worker has made that no one has taken yet."""
        if self._fd is None:
            return 0
        return (_pipe_bytes(self._fd) + len(self._partial)) // self._width + self._stocked.value

    def expect(self, count: int) -> None:
        """Tell the pool that this process will take at most ``count`` more obfuscators: its worker makes no
        more than that (none are left over, made for nothing, when a fit ends)."""
        self._expected.value = max(0, int(count))

    def take(self, count: int, cores: int = 1) -> list[mpz]:
        """``count`` obfuscators never handed out before: what the worker has ready, the rest made here over
        ``cores`` (so a pool never makes a party wait longer than it would without one)."""
        if os.getpid() != self._owner:
            raise RuntimeError("an ObfuscatorPool serves only the process that made it")
        out = self._ready(count) if count > 0 else []
        if self._expected.value >= 0:
            self._expected.value = max(0, self._expected.value - count)
        self.taken += len(out)
        missing = count - len(out)
        if missing > 0:
            out.extend(self.public.obfuscators(missing, cores))
            self.made_here += missing
        return out

    def close(self) -> None:
        """Stop the worker and drop what it made (idempotent)."""
        self._fd = None
        self._finalizer()

    def _ready(self, wanted: int) -> list[mpz]:
        """Up to ``wanted`` obfuscators the worker has made: what the pipe holds, then, while the worker holds
        more, what it moves into the pipe (this process waits for it: an idle-priority worker runs when its
        owner does not)."""
        out = self._read(wanted)
        while self._fd is not None and len(out) < wanted and self._stocked.value > 0:
            if not select.select([self._fd], [], [], _POOL_REFILL_WAIT)[0]:
                break  # the worker gets no CPU: the caller makes the rest
            out += self._read(wanted - len(out))
        return out

    def _read(self, wanted: int) -> list[mpz]:
        """Up to ``wanted`` obfuscators from the pipe as it is (none if it is empty, or the worker has ended)."""
        if self._fd is None:
            return []
        width = self._width
        try:
            data = os.read(self._fd, wanted * width - len(self._partial))
        except BlockingIOError:
            return []
        if not data:  # end of file: the worker is gone (it never stops on its own: it failed)
            self.close()
            return []
        data = self._partial + data
        whole = len(data) - len(data) % width
        self._partial = data[whole:]
        return [mpz.from_bytes(data[i:i + width], "little") for i in range(0, whole, width)]


def _grow_pipe(fd: int, size: int) -> int:
    """Ask the kernel for a pipe of ``size`` bytes (Linux: at most ``pipe-max-size``); what it holds now."""
    if not hasattr(fcntl, "F_GETPIPE_SZ"):
        return 16384  # what a pipe holds at least where its size cannot be asked (macOS)
    with contextlib.suppress(OSError, ValueError), open("/proc/sys/fs/pipe-max-size") as limit:
        size = min(size, int(limit.read()))
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
    return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)


def _pipe_bytes(fd: int) -> int:
    """How many bytes the pipe of ``fd`` (either end) holds."""
    waiting = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, waiting)
    return waiting[0]


def _pool_worker(public: PublicKey, read_fd: int, write_fd: int, capacity: int, stocked: Any, expected: Any) -> None:
    """In the worker: obfuscators a block at a time while fewer than ``capacity`` (and than the owner
    ``expected`` to take) are ready, moved into the pipe as it has room (``stocked`` tells the owner how many
    wait here), until no one reads the pipe or the owner is gone (a full pipe is rechecked every second: other
    processes forked from the owner may hold its read end)."""
    owner = os.getppid()
    os.close(read_fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the owner decides when the worker stops
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the executor's handlers
    _idle_priority()
    fixed = _obfuscation(public).table_for_pool()
    width = public.ciphertext_bytes
    os.set_blocking(write_fd, False)
    stock = bytearray()  # whole obfuscators not yet in the pipe
    with contextlib.suppress(BrokenPipeError):
        while os.getppid() == owner:
            held = (_pipe_bytes(write_fd) + len(stock)) // width
            room = capacity - held if expected.value < 0 else min(capacity, expected.value) - held
            if room > 0:
                stock += b"".join(r.to_bytes(width, "little") for r in fixed.random_powers(min(room, _POOL_BLOCK)))
            if stock:
                try:
                    del stock[:os.write(write_fd, stock)]
                except BlockingIOError:  # the pipe is full
                    if room <= 0:
                        select.select([], [write_fd], [], 1.0)
            elif room <= 0:  # all it made is in the pipe: wait for the owner to take some
                time.sleep(_POOL_IDLE_POLL)
            stocked.value = len(stock) // width


def _idle_priority() -> None:
    """Run this process only when its owner does not: SCHED_IDLE (else nice 19). With Linux's autogroup
    scheduling that orders it behind the processes of its session (the owner's), while the session as a whole
    keeps its fair share of the machine: the worker takes what its party leaves while waiting for the others."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):
        with contextlib.suppress(OSError):
            os.nice(19)


def _stop_pool_worker(worker: multiprocessing.Process, read_fd: int, owner: int) -> None:
    """Close the pool's end of the pipe and end its worker (only in the process that started it)."""
    if os.getpid() != owner:
        return
    with contextlib.suppress(OSError):
        os.close(read_fd)
    if worker.is_alive():
        worker.terminate()
        worker.join(5)
        if worker.is_alive():
            worker.kill()
    worker.join()


# ------------------------------------------------------------------------------------ plain encodings


def _random_units(modulus: mpz, count: int) -> list[mpz]:
    """``count`` independent uniform values in [1, modulus) from os.urandom (bias below 2^-64)."""
    width = (modulus.bit_length() + 64 + 7) // 8
    units: list[mpz] = []
    while len(units) < count:
        block = min(count - len(units), 4096)
        pool = os.urandom(width * block)
        for i in range(block):
            r = mpz.from_bytes(pool[i * width:(i + 1) * width], "little") % modulus
            while r == 0:  # probability 1/modulus: never in practice, but never emit 0
                r = mpz(secrets.randbelow(int(modulus)))
            units.append(r)
    return units


def _one_shifted(bits: int) -> int:
    return 1 << bits


def _float_vector(values: Any, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{what} must be a 1-D vector, got shape {array.shape}")
    _check_finite(array, what)
    return array


def _check_finite(array: np.ndarray, what: str) -> None:
    if array.size and not np.isfinite(array).all():
        raise ValueError(f"{what} holds NaN or infinite values")
    if array.size and np.abs(array).max() >= 2.0 ** VALUE_BITS:
        raise ValueError(f"{what} holds values of magnitude 2^{VALUE_BITS} or more")


def _plain_operand(other: Any, length: int) -> np.ndarray:
    array = np.asarray(other, dtype=np.float64)
    if array.ndim == 0 or (array.ndim == 1 and array.size == 1):
        array = np.full(length, float(array.reshape(-1)[0]))
    array = _float_vector(array, "plain operand")
    if array.size != length:
        raise ValueError(f"cannot combine {length} ciphertexts with {array.size} plain values")
    return array


def _fixed_point(values: np.ndarray, frac_bits: int) -> list[int]:
    """``round(v * 2^frac_bits)`` as exact Python ints (ldexp is exact; int(float) too)."""
    scaled = np.rint(np.ldexp(values, frac_bits))
    if scaled.size and not np.isfinite(scaled).all():
        raise OverflowError(f"values scaled by 2^{frac_bits} overflow a float")
    return [int(v) for v in scaled.tolist()]


def _exact_fixed_point(value: float) -> tuple[int, int]:
    """``value == k / 2^f`` exactly with the smallest ``f >= 0`` (0.25 -> (1, 2), 3.0 -> (3, 0))."""
    numerator, denominator = value.as_integer_ratio()  # the denominator is a power of two
    return numerator, denominator.bit_length() - 1


# ------------------------------------------------------------------------------------------- big ints


def _batch_invert(values: list[mpz], modulus: mpz) -> list[mpz]:
    """Inverses of all ``values`` with one modular inversion and 3 multiplications each (Montgomery)."""
    if not values:
        return []
    prefix, acc = [], _ONE
    for v in values:
        acc = acc * v % modulus
        prefix.append(acc)
    inverse = gmpy2.invert(acc, modulus)
    out = [_ONE] * len(values)
    for i in range(len(values) - 1, 0, -1):
        out[i] = inverse * prefix[i - 1] % modulus
        inverse = inverse * values[i] % modulus
    out[0] = inverse
    return out


def _pow_chunk(state: tuple, start: int, stop: int) -> list[mpz]:
    """Elementwise ``c_i ^ k_i`` (negative ``k`` through the inverse) for rows [start, stop)."""
    ciphertexts, multipliers, n2 = state
    return [gmpy2.powmod(c, k, n2) if k not in (0, 1) else (c if k else _ONE)
            for c, k in zip(ciphertexts[start:stop], multipliers[start:stop], strict=True)]


def _concat_lists(parts: list[list[mpz]]) -> list[mpz]:
    return [c for part in parts for c in part]


# -------------------------------------------------------------------------------------------- rmatmul


def _rmatmul(ciphertexts: list[mpz], matrix: np.ndarray, n2: mpz, cores: int) -> list[mpz]:
    """``prod_i c_i ^ (x_ij * 2^MATMUL_FRAC_BITS)`` for every column ``j``.

    Each column becomes integers with as few bits as it needs (``MATMUL_BITS`` relative to its largest
    value; fewer when the column is exact with fewer, e.g. 0/1 columns need one bit). Negative integers
    are handled one of two ways, whichever takes fewer multiplications: signed digits (a negative digit
    picks the base's inverse; half as many buckets, for the inverses of all bases once: pays with several
    columns), or an offset of ``2^b`` that makes a column non-negative, corrected with one shared inverse.
    Results are then raised to ``2^(MATMUL_FRAC_BITS - f_j)`` so that every column has the same public
    exponent. The ciphertexts are the same either way: only the order of the multiplications differs.
    """
    rows, columns = matrix.shape
    encoded = [_encode_column(matrix[:, j]) for j in range(columns)]
    offsets = [1 << e.bits if e.negative else 0 for e in encoded]
    unsigned = [_multi_exp_cost(rows, e.bits + e.negative) for e in encoded]
    signed = [_signed_multi_exp_cost(rows, e.bits) for e in encoded]
    offset_work = (rows if any(offsets) else 0) + sum(2 * o.bit_length() for o in offsets)
    use_signed = rows >= 8 and 3 * rows + sum(signed) < sum(unsigned) + offset_work
    integers = np.column_stack([e.integers for e in encoded]) if columns else np.zeros((rows, 0), np.int64)
    if use_signed:
        state = (ciphertexts, _batch_invert(ciphertexts, n2), integers, [e.bits for e in encoded], n2)
        costs = signed
    else:
        exponents = integers + np.asarray(offsets, dtype=np.int64) if columns else integers
        bits = [int(exponents[:, j].max()).bit_length() if rows else 0 for j in range(columns)]
        state = (ciphertexts, None, exponents, bits, n2)
        costs = unsigned
    processes = _cores_for_multiplications(sum(costs), cores)
    if processes > 1 and columns >= processes:
        # whole columns per process: rows split over processes would each pay for a full set of buckets
        spans = _balanced_spans(costs, processes)
        results = _in_processes(_multi_exp_columns, state, columns, processes, _concat_lists, spans)
    else:
        results = [_ONE] * columns
        for partial in _in_processes(_multi_exp_rows, state, rows, processes, list):
            results = [a * b % n2 for a, b in zip(results, partial, strict=True)]
    if not use_signed and any(offsets):
        total = _ONE
        for c in ciphertexts:
            total = total * c % n2
        inverse_total = gmpy2.invert(total, n2)
        results = [r * gmpy2.powmod(inverse_total, offset, n2) % n2 if offset else r
                   for r, offset in zip(results, offsets, strict=True)]
    return [r if e.frac_bits == MATMUL_FRAC_BITS else gmpy2.powmod(r, mpz(1) << (MATMUL_FRAC_BITS - e.frac_bits), n2)
            for r, e in zip(results, encoded, strict=True)]


class _Column:
    """One column as int64 integers ``round(x * 2^frac_bits)``, ``bits`` the bit length of the largest |one|."""

    __slots__ = ("integers", "frac_bits", "bits", "negative")

    def __init__(self, integers: np.ndarray, frac_bits: int):
        self.integers = integers
        self.frac_bits = frac_bits
        self.bits = int(np.abs(integers).max()).bit_length() if integers.size else 0
        self.negative = bool(integers.size and integers.min() < 0)


def _encode_column(column: np.ndarray) -> _Column:
    largest = float(np.abs(column).max()) if column.size else 0.0
    if largest == 0.0:
        return _Column(np.zeros(column.shape, np.int64), MATMUL_FRAC_BITS)
    top = math.frexp(largest)[1]  # largest < 2^top
    frac_bits = min(MATMUL_FRAC_BITS, MATMUL_BITS - top)
    # fewest fractional bits that keep the column exact (binary search: exact at f implies exact at f + 1)
    low, high = min(frac_bits, 0), frac_bits
    while low < high:
        middle = (low + high) // 2
        scaled = np.ldexp(column, middle)
        if np.array_equal(scaled, np.rint(scaled)):
            high = middle
        else:
            low = middle + 1
    frac_bits = high
    return _Column(np.rint(np.ldexp(column, frac_bits)).astype(np.int64), frac_bits)


def _multi_exp_cost(rows: int, bits: int) -> int:
    """Modular multiplications (and squarings) ``_pippenger`` takes for one column of non-negative integers."""
    if bits == 0:
        return 0
    width = _window_for(rows, bits)
    return -(-bits // width) * (_window_cost(rows, (1 << width) - 1) + width)


def _signed_multi_exp_cost(rows: int, bits: int) -> int:
    """Modular multiplications (and squarings) ``_signed_pippenger`` takes for one column."""
    if bits == 0:
        return 0
    width = _signed_window_for(rows, bits)
    return -(-(bits + 1) // width) * (_window_cost(rows, 1 << (width - 1)) + width)


def _window_cost(rows: int, buckets: int) -> int:
    """Multiplications one window takes: a row into a bucket that holds one already (an empty one just takes
    it), and two per bucket for their product."""
    return rows - min(rows, buckets) + 2 * buckets


def _balanced_spans(costs: list[int], parts: int) -> list[tuple[int, int]]:
    """``costs`` cut into at most ``parts`` contiguous spans of about equal total cost (none empty)."""
    prefix = np.cumsum(np.asarray(costs, dtype=np.float64))
    total, size = (float(prefix[-1]) if len(costs) else 0.0), len(costs)
    edges = [0]
    for k in range(1, parts):
        target = total * k / parts
        edge = int(np.searchsorted(prefix, target)) + 1  # the first edge whose span reaches the target
        if edge > 1 and target - prefix[edge - 2] < prefix[edge - 1] - target:
            edge -= 1  # stopping one column short is closer to the target
        if edges[-1] < edge < size:
            edges.append(edge)
    edges.append(size)
    return list(zip(edges, edges[1:], strict=False))


def _window_for(rows: int, bits: int) -> int:
    """The digit width of fewest multiplications for ``bits``-bit exponents in 2^w - 1 buckets."""
    return min(range(1, 17), key=lambda w: -(-bits // w) * (_window_cost(rows, (1 << w) - 1) + w))


def _signed_window_for(rows: int, bits: int) -> int:
    """The digit width of fewest multiplications for signed digits in [-2^(w-1), 2^(w-1)): 2^(w-1) buckets,
    ``bits + 1`` bits (the top digit may carry)."""
    return min(range(2, 18), key=lambda w: -(-(bits + 1) // w) * (_window_cost(rows, 1 << (w - 1)) + w))


def _multi_exp_rows(state: tuple, start: int, stop: int) -> list[mpz]:
    """Per column, ``prod_i c_i ^ e_ij`` over rows [start, stop)."""
    ciphertexts, inverses, exponents, bits, n2 = state
    return _multi_exp(ciphertexts[start:stop], None if inverses is None else inverses[start:stop],
                      exponents[start:stop], bits, n2)


def _multi_exp_columns(state: tuple, start: int, stop: int) -> list[mpz]:
    """For columns [start, stop), ``prod_i c_i ^ e_ij`` over all rows."""
    ciphertexts, inverses, exponents, bits, n2 = state
    return _multi_exp(ciphertexts, inverses, exponents[:, start:stop], bits[start:stop], n2)


def _multi_exp(bases: list[mpz], inverses: list[mpz] | None, block: np.ndarray, bits: list[int],
               n2: mpz) -> list[mpz]:
    """Per column ``j`` of ``block``, ``prod_i bases_i ^ block_ij`` by Pippenger's bucket method (signed
    digits when the bases' ``inverses`` are given; non-negative exponents otherwise)."""
    out = []
    for j, column_bits in enumerate(bits):
        column = block[:, j]
        if inverses is not None:
            out.append(_signed_pippenger(bases, inverses, column, column_bits, n2))
        elif len(bases) < 8:  # a handful of rows: plain exponentiations are cheaper than buckets
            acc = _ONE
            for c, e in zip(bases, column.tolist(), strict=True):
                if e:
                    acc = acc * gmpy2.powmod(c, e, n2) % n2
            out.append(acc)
        else:
            out.append(_pippenger(bases, column, column_bits, n2))
    return out


def _pippenger(bases: list[mpz], column: np.ndarray, bits: int, n2: mpz) -> mpz:
    if bits == 0:
        return _ONE
    width = _window_for(len(bases), bits)
    mask = (1 << width) - 1
    result = None
    for window in reversed(range(-(-bits // width))):
        digits = ((column >> (width * window)) & mask).tolist()
        buckets: list[Any] = [None] * (mask + 1)
        for c, d in zip(bases, digits, strict=True):
            if d:
                held = buckets[d]
                buckets[d] = c if held is None else held * c % n2
        result = _next_window(result, _bucket_product(buckets, n2), width, n2)
    return _ONE if result is None else result


def _signed_pippenger(bases: list[mpz], inverses: list[mpz], column: np.ndarray, bits: int, n2: mpz) -> mpz:
    """``prod_i bases_i ^ column_i`` for signed ``column``: digits in [-2^(w-1), 2^(w-1)), a negative digit
    ``-k`` puts the base's inverse into bucket ``k``."""
    if bits == 0:
        return _ONE
    width = _signed_window_for(len(bases), bits)
    half, mask = 1 << (width - 1), (1 << width) - 1
    windows, rest = [], column.astype(np.int64)
    while rest.any():  # least significant first; exact: rest - digit is a multiple of 2^width
        digit = ((rest + half) & mask) - half
        windows.append(digit)
        rest = (rest - digit) >> width
    result = None
    for digits in reversed(windows):
        buckets: list[Any] = [None] * (half + 1)
        for c, inverse, d in zip(bases, inverses, digits.tolist(), strict=True):
            if d:
                if d < 0:
                    c, d = inverse, -d
                held = buckets[d]
                buckets[d] = c if held is None else held * c % n2
        result = _next_window(result, _bucket_product(buckets, n2), width, n2)
    return _ONE if result is None else result


def _next_window(result: mpz | None, window_value: mpz | None, width: int, n2: mpz) -> mpz | None:
    """``result^(2^width) * window_value`` (None stands for 1)."""
    if result is None:
        return window_value
    result = gmpy2.powmod(result, 1 << width, n2)
    return result if window_value is None else result * window_value % n2


def _bucket_product(buckets: list[Any], n2: mpz) -> mpz | None:
    """``prod_k bucket_k ^ k`` with two multiplications per bucket (running products, high to low)."""
    running = total = None
    for k in range(len(buckets) - 1, 0, -1):
        held = buckets[k]
        if held is not None:
            running = held if running is None else running * held % n2
        if running is not None:
            total = running if total is None else total * running % n2
    return total


# ------------------------------------------------------------------------------------------ parallel


def _cores_for(work: int, cores: int) -> int:
    """How many processes ``work`` (elements x multiplications / 8) deserves out of ``cores``."""
    usable = max(1, min(int(cores or 1), os.cpu_count() or 1))
    return usable if work >= _MIN_PROCESS_WORK * 8 else 1


def _cores_for_multiplications(multiplications: int, cores: int) -> int:
    """How many processes work of ``multiplications`` modular multiplications deserves out of ``cores`` (when
    it is split without extra work: the one process that is not forked works too)."""
    usable = max(1, min(int(cores or 1), os.cpu_count() or 1))
    return usable if multiplications >= _MIN_FORK_MULTIPLICATIONS // 2 else 1


def _threaded(func: Callable[[list], list], items: Sequence, cores: int) -> list:
    """``func`` (a GIL-free gmpy2 batch call) over ``items`` in ``cores`` threads, results in order."""
    items = list(items)
    workers = max(1, min(int(cores or 1), os.cpu_count() or 1, len(items) // _MIN_THREAD_ITEMS or 1))
    if workers == 1:
        return list(func(items))
    chunks = _chunks(len(items), workers)
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(lambda span: func(items[span[0]:span[1]]), chunks))
    return [x for part in parts for x in part]


_FORK_STATE: tuple | None = None  # what forked workers read (inherited, never pickled)


def _run_forked(func_and_span: tuple[Callable, int, int]) -> list:
    func, start, stop = func_and_span
    assert _FORK_STATE is not None
    return func(_FORK_STATE, start, stop)


def _in_processes(func: Callable[[tuple, int, int], list], state: tuple, size: int, cores: int,
                  combine: Callable[[list], Any], spans: list[tuple[int, int]] | None = None) -> Any:
    """``combine([func(state, start, stop) for each span])``: ``spans`` (by default [0, size) cut into ``cores``
    equal ones), the first computed here while forked processes compute the others.

    The workers inherit ``state`` through fork (no copy of the ciphertexts is pickled); only the results
    come back, from our own children.
    """
    global _FORK_STATE
    if spans is None:
        spans = _chunks(size, cores if size >= 2 else 1)
    if len(spans) <= 1:
        return combine([func(state, *spans[0])] if spans else [func(state, 0, size)])
    _FORK_STATE = state
    try:
        with ProcessPoolExecutor(len(spans) - 1, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(_run_forked, (func, start, stop)) for start, stop in spans[1:]]
            first = func(state, *spans[0])
            parts = [first, *(future.result() for future in futures)]
    finally:
        _FORK_STATE = None
    return combine(parts)


def in_processes(func: Callable[[tuple, int, int], list], state: tuple, size: int, cores: int,
                 combine: Callable[[list], Any], spans: list[tuple[int, int]] | None = None) -> Any:
    """Public name of the fork-and-combine helper the ciphertext arithmetic uses (see ``_in_processes``): work
    on big-integer lists spread over ``cores`` processes that inherit ``state``."""
    return _in_processes(func, state, size, cores, combine, spans)


def _chunks(size: int, parts: int) -> list[tuple[int, int]]:
    parts = max(1, min(parts, size))
    edges = [size * i // parts for i in range(parts + 1)]
    return [(edges[i], edges[i + 1]) for i in range(parts)]
