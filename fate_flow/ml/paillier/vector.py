"""The encrypted vector (:class:`EncryptedVector`): ciphertexts of one public key with a public fixed-point
exponent and bound, their homomorphic arithmetic and wire form, and the helpers that turn plain operands into
fixed-point integers.

Fixed point: a vector has one ``exponent`` (fractional bits): ciphertext ``i`` holds the integer
``round(value_i * 2^exponent)`` modulo ``n``, negatives as ``n - |v|``. A vector also carries ``bound``,
a public upper bound on ``|integer|`` derived from the operations alone (never from the data, so sending
it leaks nothing); an operation whose bound would reach ``n / 2`` raises :class:`OverflowError` instead of
wrapping, and decryption refuses a plaintext beyond the bound (a wrong key or a corrupted ciphertext).

Exponents, also public, depend only on the operations: encryption uses ``ENCRYPT_FRAC_BITS``; an
elementwise product adds ``MULT_FRAC_BITS``, ``rmatmul`` ``MATMUL_FRAC_BITS``; a product by one plain
number adds the few bits that number needs exactly (so ``enc * 0.25`` is free). Adding vectors of
different exponents raises the smaller one's ciphertexts to ``2^diff``.

Elementwise products spread over ``cores`` forked processes when the work pays for the fork; ``rmatmul``'s
multi-exponentiation is in :mod:`fate_flow.ml.paillier.multiexp`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import gmpy2
import numpy as np
from gmpy2 import mpz

from fate_flow.engine.bigint import BigIntVector
from fate_flow.ml.paillier.arith import _ONE, _concat_lists, batch_invert
from fate_flow.ml.paillier.blinding import blinds
from fate_flow.ml.paillier.multiexp import MATMUL_FRAC_BITS, _rmatmul
from fate_flow.ml.paillier.parallel import _cores_for, _in_processes, _threaded
from fate_flow.ml.paillier.residues import ResidueReserve, textbook_residues

if TYPE_CHECKING:  # annotations only: the keys module imports this one
    from fate_flow.ml.paillier.keys import PublicKey
    from fate_flow.ml.paillier.pool import ObfuscatorPool

MULT_FRAC_BITS = 48  # fractional bits an elementwise multiplier adds to the exponent (2^-48 absolute)
VALUE_BITS = 64  # plain values (encrypted, added or multipliers) must satisfy |v| < 2^64
MAX_EXPONENT = 1 << 14
MAX_VECTOR_LENGTH = 20_000_000  # ciphertexts one wire vector may hold
WIRE_KEYS = frozenset({"key", "exponent", "bound", "ciphertexts"})


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
        return self._like(batch_invert(self.ciphertexts, self.public.nsquare))

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

    def rerandomize_uniform(self, cores: int = 1, pool: ObfuscatorPool | None = None) -> EncryptedVector:
        """The same values under fresh randomness statistically close to uniform over all the n-th residues: each
        value times a DJN obfuscator (from ``pool`` when given) and a blinding (:mod:`~fate_flow.ml.paillier.
        blinding`, which gives the bound). For a vector computed with this party's secret multipliers from
        ciphertexts the receiver made (it knows their randomness) or whose randomness the receiver can recover
        (the key's owner): a DJN obfuscator alone lets it read residues of those multipliers from the Jacobi
        symbol (anyone) or other characters (the key's owner)."""
        obfuscators = self.public._fresh_obfuscators(len(self), cores, pool)
        n2 = self.public.nsquare
        return self._like([c * r % n2 * b % n2 for c, r, b in zip(self.ciphertexts, obfuscators,
                                                                   blinds(self.public, len(self), cores), strict=True)])

    def rerandomize_textbook(self, cores: int = 1, reserve: ResidueReserve | None = None) -> EncryptedVector:
        """The same values times textbook ``r^n`` with ``r`` uniform in ``Z_n^*`` (made ahead by ``reserve`` when
        given): uniform over the n-th residues (to within ``2^-64``) whatever the key's shape
        (``rerandomize_uniform``'s bound assumes a key made honestly). For a vector going back to a key's owner
        who made the key AND the ciphertexts (the other party under the parties' own keys), once its key proof
        (``key_proof``) has shown ``gcd(n, phi(n)) = 1``. A full exponentiation per value (about 1 ms at 1024
        bits): for gradients and losses, not for rows."""
        n2 = self.public.nsquare
        residues = reserve.take(len(self), cores) if reserve is not None else \
            textbook_residues(self.public, len(self), cores)
        return self._like([c * r % n2 for c, r in zip(self.ciphertexts, residues, strict=True)])

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
        """Elements where ``mask`` is true, fresh encryptions of 0 elsewhere, all under fresh randomness uniform
        over the n-th residues (what was dropped cannot be told from what was kept, not even by the Jacobi
        symbol: with DJN obfuscators alone a kept value could show the sign of its maker's randomness, a
        dropped one never)."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(self),):
            raise ValueError("the mask must have one entry per element")
        n2 = self.public.nsquare
        randomness = [r * b % n2 for r, b in zip(self.public.obfuscators(len(self), cores),
                                                 blinds(self.public, len(self), cores), strict=True)]
        return self._like([c * r % n2 if kept else r for c, r, kept in zip(self.ciphertexts, randomness, mask.tolist(),
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
            result.ciphertexts = list(self.ciphertexts) if multiplier == 1 else batch_invert(self.ciphertexts, n2)
        elif multiplier == 0:
            result.ciphertexts = [_ONE] * len(self)
        else:
            base = self.ciphertexts if multiplier > 0 else batch_invert(self.ciphertexts, n2)
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


# ---------------------------------------------------------------------------------- plain encodings


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


def _pow_chunk(state: tuple, start: int, stop: int) -> list[mpz]:
    """Elementwise ``c_i ^ k_i`` (negative ``k`` through the inverse) for rows [start, stop)."""
    ciphertexts, multipliers, n2 = state
    return [gmpy2.powmod(c, k, n2) if k not in (0, 1) else (c if k else _ONE)
            for c, k in zip(ciphertexts[start:stop], multipliers[start:stop], strict=True)]
