"""Big-integer helpers the Paillier modules share: the constant one, uniform random units from the OS CSPRNG,
Montgomery's batch inversion, and the concatenation that combines per-process results.

They import nothing else of the package, so every module of it may use them.
"""

from __future__ import annotations

import os
import secrets

import gmpy2
from gmpy2 import mpz

_ONE = mpz(1)


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


def batch_invert(values: list[mpz], modulus: mpz) -> list[mpz]:
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


def _concat_lists(parts: list[list[mpz]]) -> list[mpz]:
    return [c for part in parts for c in part]
