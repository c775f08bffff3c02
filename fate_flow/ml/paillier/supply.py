"""Obfuscators the key's owner makes for the parties that encrypt under its key.

A party that holds only the public key makes an obfuscator ``hs^a mod n^2`` by one walk of a fixed-base table
over ``n^2``; the key's owner makes the same value by CRT over ``p^2`` and ``q^2``, 2.3x (1024 bits) to 2.9x
(2048 bits) cheaper (:mod:`~fate_flow.ml.paillier.obfuscation`). In the hetero linear models the arbiter
owns the key and waits most of the time, while the guest and the hosts make one obfuscator per row and batch:
so the arbiter makes them, from an ``ObfuscatorPool`` of its private key, and sends each party what it asks
for. The values are the ones the party would have made (full-length exponents from the arbiter's OS CSPRNG).

What that changes in who knows what: the arbiter knows the randomness of every ciphertext made with its
obfuscators. It must never see one of them, or anything computed from them, without a fresh obfuscator of
the sender's own on top: the protocol that uses a supply says where that happens. A party trusts the
arbiter's obfuscators as it trusts the arbiter with the key: an arbiter that helps a host to read the
guest's residual could decrypt it for that host anyway.

On the wire a supply is ``{"key": fingerprint, "obfuscators": BigIntVector}``; :func:`unpack` checks it
(key, width, length, every value a unit in ``(1, n^2)``, no value twice).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import gmpy2
from gmpy2 import mpz

from fate_flow.engine.bigint import BigIntVector
from fate_flow.ml.paillier.obfuscation import ObfuscatorPool, _obfuscation

SUPPLY_KEYS = frozenset({"key", "obfuscators"})


class ObfuscatorSupply:
    """Obfuscators the key's owner sent (:meth:`add`), each handed out once by :meth:`take`, which makes what
    they do not cover here, as ``PublicKey.obfuscators`` does. It serves the process that made it only: it
    cannot be pickled (a copy would hand the same values out twice)."""

    def __init__(self, public: Any):
        self.public = public
        self._stock: deque[mpz] = deque()
        self.taken = 0  # obfuscators handed out from what the owner sent
        self.made_here = 0  # obfuscators take() had to make itself

    def __len__(self) -> int:
        return len(self._stock)

    def __repr__(self) -> str:
        return f"ObfuscatorSupply({self.public!r}, {len(self)} left, taken {self.taken}, made here {self.made_here})"

    def __reduce__(self) -> Any:
        raise TypeError("an ObfuscatorSupply belongs to the process that received it: it cannot be pickled")

    def add(self, obfuscators: list[mpz]) -> None:
        """Keep what the owner sent (already checked by :func:`unpack`) for later takes."""
        self._stock.extend(obfuscators)

    def take(self, count: int, cores: int = 1) -> list[mpz]:
        """``count`` obfuscators never handed out before: what is left of the owner's, the rest made here over
        ``cores``."""
        supplied = min(count, len(self._stock))
        out = [self._stock.popleft() for _ in range(supplied)]
        self.taken += supplied
        missing = count - supplied
        if missing > 0:
            out.extend(_obfuscation(self.public, None).obfuscators(missing, cores))
            self.made_here += missing
        return out


Obfuscators = ObfuscatorPool | ObfuscatorSupply  # where an encryption may take its obfuscators from


def pack(public: Any, obfuscators: list[mpz]) -> dict:
    """The wire form of ``obfuscators`` made under ``public``."""
    width = public.ciphertext_bytes
    packed = b"".join(int(r).to_bytes(width, "little") for r in obfuscators)
    return {"key": public.fingerprint, "obfuscators": BigIntVector(packed, width, len(obfuscators))}


def unpack(public: Any, wire: Any, expected: int) -> list[mpz]:
    """The ``expected`` obfuscators the key's owner sent, checked: this key, its width, as many as asked,
    each a unit in ``(1, n^2)`` and none twice (ValueError otherwise). Whether each is an n-th residue cannot
    be checked without the key: a party believes that as it believes the owner keeps the key to itself."""
    if not isinstance(wire, dict) or set(wire) != SUPPLY_KEYS:
        raise ValueError(f"a supply of obfuscators is a dict with keys {sorted(SUPPLY_KEYS)}")
    if wire["key"] != public.fingerprint:
        raise ValueError("the obfuscators were made under another public key")
    packed = wire["obfuscators"]
    if not isinstance(packed, BigIntVector) or packed.width != public.ciphertext_bytes:
        raise ValueError(f"the obfuscators must be a BigIntVector {public.ciphertext_bytes} bytes wide")
    if len(packed) != expected:
        raise ValueError(f"{len(packed)} obfuscators, {expected} asked for")
    width, view, n, n2 = packed.width, packed.buffer, public.n, public.nsquare
    values = [mpz.from_bytes(view[i * width:(i + 1) * width], "little") for i in range(len(packed))]
    product = mpz(1)
    for i, r in enumerate(values):
        if not 1 < r < n2:
            raise ValueError(f"obfuscator {i} is out of range (1, n^2)")
        product = product * r % n  # one gcd for all: a value sharing a factor with n makes the product do so
    if values and gmpy2.gcd(product, n) != 1:
        raise ValueError("an obfuscator is not a unit mod n")
    if len(set(values)) != len(values):
        raise ValueError("an obfuscator was sent twice")
    return values

