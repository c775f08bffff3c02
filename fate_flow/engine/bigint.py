"""A vector of non-negative big integers of one fixed byte width: how ciphertexts travel.

100,000 Paillier ciphertexts are 100,000 Python ints; sent as a list each would be a tagged field of
its own. A ``BigIntVector`` keeps them as one buffer (``count`` x ``width`` bytes, little-endian), so
the codec writes it as one raw block and the receiver gets it without parsing a field per number.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any


class BigIntVector(Sequence[int]):
    """Immutable; ``ints()`` gives the Python ints back (``gmpy2.mpz`` values convert with ``int``)."""

    __slots__ = ("width", "_buffer", "_count")

    def __init__(self, buffer: bytes | memoryview, width: int, count: int):
        if width <= 0 or count < 0 or len(buffer) != width * count:
            raise ValueError(f"a BigIntVector of {count} x {width} bytes cannot hold {len(buffer)} bytes")
        self.width = width
        self._buffer = buffer
        self._count = count

    @classmethod
    def from_ints(cls, values: Iterable[Any], width: int | None = None) -> BigIntVector:
        """Pack non-negative integers; ``width`` (bytes) defaults to what the largest one needs."""
        numbers = [int(v) for v in values]
        if any(n < 0 for n in numbers):
            raise ValueError("a BigIntVector holds non-negative integers only")
        needed = max(((n.bit_length() + 7) // 8 for n in numbers), default=1) or 1
        width = width or needed
        if needed > width:
            raise ValueError(f"an integer needs {needed} bytes, more than the width {width}")
        return cls(b"".join(n.to_bytes(width, "little") for n in numbers), width, len(numbers))

    def ints(self) -> list[int]:
        """The integers, as a list."""
        view, width = memoryview(self._buffer), self.width
        return [int.from_bytes(view[i * width:(i + 1) * width], "little") for i in range(self._count)]

    @property
    def buffer(self) -> memoryview:
        """The packed bytes (what the codec sends)."""
        return memoryview(self._buffer).cast("B")

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return BigIntVector.from_ints(self.ints()[index], self.width)
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        return int.from_bytes(self.buffer[index * self.width:(index + 1) * self.width], "little")

    def __iter__(self) -> Iterator[int]:
        return iter(self.ints())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BigIntVector):
            return NotImplemented
        return self.ints() == other.ints()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"BigIntVector({self._count} x {self.width} bytes)"
