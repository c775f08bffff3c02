"""A Bloom filter over byte strings (FATE's BitArray: ``run_preprocess`` and rsa cardinality), vectorised.

Sizes follow FATE: ``m = ceil(-n ln p / ln(2)^2)`` bits, ``k = round(m/n ln 2)`` hash functions kept within
[4, 32] (``m`` re-derived for the target rate when ``k`` is clamped). The k bit positions of an element
come from one salted digest of it by double hashing (``h1 + j h2 mod m``), computed for all elements at
once with numpy.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Any

import numpy as np

from fate_flow.components.intersection.hashing import digest_function
from fate_flow.errors import ComponentError

MIN_HASH_FUNC_COUNT, MAX_HASH_FUNC_COUNT = 4, 32
MAX_BITS = 1 << 34  # 2 GiB of filter: far beyond any table this engine holds


def filter_size(n: int, rate: float) -> tuple[int, int]:
    """FATE's (bit count, hash function count) for ``n`` elements at false-positive ``rate``."""
    n = max(n, 1)
    m = math.ceil(-n * math.log(rate) / (math.log(2) ** 2))
    k = round(m / n * math.log(2))
    if not MIN_HASH_FUNC_COUNT <= k <= MAX_HASH_FUNC_COUNT:
        k = min(max(k, MIN_HASH_FUNC_COUNT), MAX_HASH_FUNC_COUNT)
        m = round(-n * k / math.log(1 - math.pow(rate, 1 / k)))
    return m, k


@dataclass
class BloomFilter:
    bits: np.ndarray  # uint64 words
    bit_count: int
    hash_count: int
    method: str
    salt: bytes

    @classmethod
    def build(cls, elements: list[bytes], rate: float, method: str, random_state: float | None = None) -> BloomFilter:
        """A filter holding ``elements``; ``random_state`` (FATE's) fixes the salt, else it is random."""
        m, k = filter_size(len(elements), rate)
        words = (m + 63) // 64
        salt = (np.random.RandomState(int(random_state)).bytes(16) if random_state is not None
                else secrets.token_bytes(16))
        bloom = cls(np.zeros(words, dtype=np.uint64), words * 64, k, method, salt)
        positions = bloom._positions(elements).ravel()
        np.bitwise_or.at(bloom.bits, positions >> 6, np.left_shift(np.uint64(1), (positions & 63).astype(np.uint64)))
        return bloom

    def _positions(self, elements: list[bytes]) -> np.ndarray:
        """``len(elements) x hash_count`` bit positions."""
        digest = digest_function(self.method)
        raw = [digest(self.salt + e) for e in elements]
        if raw and len(raw[0]) < 16:
            raise ComponentError(f"Bloom filter hash {self.method!r} gives fewer than 16 bytes")
        heads = np.frombuffer(b"".join(r[:16] for r in raw), dtype="<u8").reshape(-1, 2)
        h1, h2 = heads[:, 0:1], heads[:, 1:2] | np.uint64(1)
        j = np.arange(self.hash_count, dtype=np.uint64)[None, :]
        return ((h1 + j * h2) % np.uint64(self.bit_count)).astype(np.int64)  # uint64 arithmetic wraps: fine

    def contains(self, elements: list[bytes]) -> np.ndarray:
        """A boolean per element: whether the filter (probably) holds it."""
        if not elements:
            return np.zeros(0, dtype=bool)
        positions = self._positions(elements)
        words = self.bits[positions >> 6]
        return np.all((words >> (positions & 63).astype(np.uint64)) & np.uint64(1), axis=1)

    def to_wire(self) -> dict[str, Any]:
        """What crosses the data plane (plain values and one array)."""
        return {"bits": self.bits, "bit_count": self.bit_count, "hash_count": self.hash_count,
                "method": self.method, "salt": self.salt}

    @classmethod
    def from_wire(cls, value: Any) -> BloomFilter:
        """A filter a peer sent, checked."""
        try:
            bits, bit_count, hash_count = value["bits"], int(value["bit_count"]), int(value["hash_count"])
            method, salt = str(value["method"]), bytes(value["salt"])
        except (TypeError, KeyError, ValueError) as exc:
            raise ComponentError(f"the peer sent a malformed filter: {exc}") from None
        if (not isinstance(bits, np.ndarray) or bits.dtype != np.uint64 or bits.ndim != 1
                or bit_count != bits.size * 64 or not 0 < bit_count <= MAX_BITS
                or not MIN_HASH_FUNC_COUNT <= hash_count <= MAX_HASH_FUNC_COUNT):
            raise ComponentError("the peer sent a filter of inconsistent size")
        if method not in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sm3"):
            raise ComponentError(f"the peer sent a filter with an unknown hash {method!r}")
        return cls(bits, bit_count, hash_count, method, salt)
