"""Rerandomization uniform over all the n-th residues, for values computed from ciphertexts the receiver made.

A DJN obfuscator ``hs^a`` (:mod:`~fate_flow.ml.paillier.obfuscation`) is uniform in the cyclic group ``<hs>``,
and that is all semantic security needs. But ``Z_n^*`` is never cyclic: ``<h>`` misses at least a factor
``gcd(p - 1, q - 1) >= 2`` of it, so some characters of ``Z_n^*`` are constant on every obfuscator a party
makes: at least one of the Legendre symbols mod ``p`` and mod ``q`` and their product (the Jacobi symbol mod
``n``, constant for about half of the bases ``h``), and characters of other small orders. The Jacobi symbol of a
ciphertext's randomness is that of the ciphertext mod ``n``: ANYONE computes it; the others need ``p`` and ``q``.

Suppose a party computes ``prod_i c_i^(e_i)`` from ciphertexts ``c_i`` another party made (so that one knows
their randomness), with secret multipliers ``e_i`` of its own (sample weights, a histogram's membership, its
data as a matrix), and sends the result back to the maker. The maker evaluates such a character on what it
gets: ``sum_i e_i * log chi(rho_i)`` modulo the character's order, i.e. parities and residues of the secret
multipliers. A DJN rerandomization leaves that as it is. The Jacobi symbol also helps a third party: in a
vector where a secret choice decides which entries carry the maker's randomness (EINI's kept leaves, fresh
encryptions of 0 for the others), a sign the party's own obfuscators never show marks an entry as kept. And
the key's owner recovers the exact randomness of what it decrypts: ``X^T [[d]]`` as computed is the ciphertext
1 for an all-zero column and the same for two equal ones.

:func:`blinds` closes it: besides the DJN obfuscator, each value is multiplied by a random subset product of
``BLINDING_BASES`` (128) fixed random n-th residues ``t_j^n`` (``t_j`` uniform units; they need not be secret).
The subset is drawn fresh for each value from the OS CSPRNG. The images of the ``t_j`` in the quotient
``Q = Z_n^* / <h>`` are uniform. ``|Q| = phi(n) / ord(h)`` is, for an honestly made key and a random ``h``, a
small multiple of ``gcd(p - 1, q - 1)``. The subset product is a universal hash onto ``Q``, so by the leftover
hash lemma each blind is within ``sqrt(|Q| / 2^128) / 2`` of uniform on ``Q`` (on average over the bases; ``m``
values: ``m`` times that). Times the DJN obfuscator, which is uniform on ``<h>``, the rerandomizer is then close
to a uniform n-th residue, the textbook ``r^n``, and no character tells the receiver anything. This assumes a
key made as ``generate_keypair`` makes it: a key's owner who picked primes with a huge ``gcd(p - 1, q - 1)``
would void the bound, which no one can check without the factors. The cost: 128 textbook ``r^n`` once per key
and process (0.25 s at 1024 bits, about 1 s at 2048 on 2 threads), then 15 multiplications per value.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np
from gmpy2 import mpz

from fate_flow.ml.paillier.residues import textbook_residues

if TYPE_CHECKING:  # annotations only: the keys module imports the vector module, which imports this one
    from fate_flow.ml.paillier.keys import PublicKey

BLINDING_BASES = 128  # fixed random n-th residues whose random subset products complete a rerandomization
_GROUP = 8  # bases per table of subset products (256 entries): one multiplication per group and value
_CACHED_KEYS = 2


class _Blinding:
    """This process's ``t_j^n mod n^2`` for one key, as tables of the subset products of each group of 8."""

    def __init__(self, public: PublicKey, cores: int):
        n2 = public.nsquare
        residues = textbook_residues(public, BLINDING_BASES, cores)
        self.modulus = n2
        self.tables = [_subset_products(residues[i:i + _GROUP], n2) for i in range(0, BLINDING_BASES, _GROUP)]

    def blinds(self, count: int) -> list[mpz]:
        """``count`` subset products, each of a fresh uniform subset of the bases."""
        n2, tables = self.modulus, self.tables
        digits = np.frombuffer(os.urandom(len(tables) * count), dtype=np.uint8).reshape(count, len(tables))
        out = []
        for row in digits.tolist():
            product = tables[0][row[0]]
            for table, digit in zip(tables[1:], row[1:], strict=True):
                product = product * table[digit] % n2
            out.append(product)
        return out


def _subset_products(bases: list[mpz], modulus: mpz) -> list[mpz]:
    """``products[s] = prod of bases[k] for each bit k set in s``, for every ``s < 2^len(bases)``."""
    products = [mpz(1)]
    for base in bases:
        products += [p * base % modulus for p in products]
    return products


_BLINDINGS: OrderedDict[mpz, _Blinding] = OrderedDict()
_BLINDINGS_LOCK = threading.Lock()


def blinds(public: PublicKey, count: int, cores: int = 1) -> list[mpz]:
    """``count`` random n-th residues that, times DJN obfuscators, make a rerandomization uniform over all the
    n-th residues (module doc)."""
    return _blinding(public, cores).blinds(count) if count > 0 else []


def prepare_blinding(public: PublicKey, cores: int = 1) -> None:
    """Build this process's blinding tables for ``public`` in a background thread (the exponentiations release
    the GIL), so that a party that will need them computes them while it waits for the others."""
    threading.Thread(target=_blinding, args=(public, cores), daemon=True, name="paillier-blinding").start()


def _blinding(public: PublicKey, cores: int) -> _Blinding:
    """This process's blinding tables for ``public``, built on first use (callers for a key being built wait)."""
    with _BLINDINGS_LOCK:
        blinding = _BLINDINGS.get(public.n)
        if blinding is None:
            blinding = _BLINDINGS[public.n] = _Blinding(public, cores)
            while len(_BLINDINGS) > _CACHED_KEYS:
                _BLINDINGS.popitem(last=False)
        else:
            _BLINDINGS.move_to_end(public.n)
        return blinding


def _fresh_lock_after_fork() -> None:
    global _BLINDINGS_LOCK
    _BLINDINGS_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_fresh_lock_after_fork)
