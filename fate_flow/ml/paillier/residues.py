"""Textbook n-th residues ``r^n mod n^2`` (``r`` uniform in ``Z_n^*``) of one public key, made ahead.

``EncryptedVector.rerandomize_textbook`` costs a full exponentiation per value (about 1 ms at 1024 bits). A
party that rerandomizes a few values every batch under another party's key (the hetero linear models under
the parties' own keys) keeps a :class:`ResidueReserve`: after each batch it asks for the next batch's worth,
which a background thread makes (GIL-free gmpy2 batch calls) while the party waits for the others. Each
residue is handed out once; what is not ready when asked for is made on the spot.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import gmpy2
from gmpy2 import mpz

from fate_flow.ml.paillier.parallel import _threaded

if TYPE_CHECKING:  # annotations only: the keys module imports the vector module, which imports this one
    from fate_flow.ml.paillier.keys import PublicKey


def textbook_residues(public: PublicKey, count: int, cores: int = 1) -> list[mpz]:
    """``count`` fresh ``r^n mod n^2`` with ``r`` uniform in ``Z_n^*`` (to within ``2^-64``) from the OS CSPRNG;
    drawn again in the unlikely case one is not a unit (a key with many prime factors can pass its proof)."""
    n, n2 = public.n, public.nsquare
    while True:
        units = public.random_units(count)
        product = mpz(1)
        for r in units:
            product = product * r % n
        if gmpy2.gcd(product, n) == 1:
            return _threaded(lambda part: gmpy2.powmod_base_list(part, n, n2), units, cores)


class ResidueReserve:
    """Textbook residues of ``public`` made ahead in a background thread (module doc)."""

    def __init__(self, public: PublicKey):
        self.public = public
        self._ready: list[mpz] = []
        self._lock = threading.Lock()
        self._filling: threading.Thread | None = None

    def refill(self, count: int) -> None:
        """Start making ``count`` more in the background (nothing if a refill is still running)."""
        with self._lock:
            if count <= 0 or (self._filling is not None and self._filling.is_alive()):
                return
            self._filling = threading.Thread(target=self._make, args=(count,), daemon=True, name="paillier-residues")
            self._filling.start()

    def take(self, count: int, cores: int = 1) -> list[mpz]:
        """``count`` residues, each handed out once: the ready ones first, the rest made now."""
        with self._lock:
            taken, self._ready = self._ready[:count], self._ready[count:]
        missing = count - len(taken)
        return taken + textbook_residues(self.public, missing, cores) if missing else taken

    def _make(self, count: int) -> None:
        made = textbook_residues(self.public, count)
        with self._lock:
            self._ready.extend(made)
