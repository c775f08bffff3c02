"""The obfuscators (the random n-th residues ``rho`` of every ciphertext and rerandomization): this process's
DJN base and fixed-base comb tables per key (:class:`_Obfuscation`, kept in a per-process cache).
(:class:`~fate_flow.ml.paillier.pool.ObfuscatorPool` makes them ahead of need in a forked worker.)

Obfuscation (the random ``rho``): Damgard-Jurik-Nielsen's fixed-base variant (DJN 2010, "A generalization
of Paillier's public-key system with applications to electronic voting"; what Intel's IPCL, FATE 1.11's
encrypt method "IPCL", does) instead of the textbook ``r^n`` for a random ``r``:

- the ENCRYPTING process draws its own random unit ``h`` and computes ``hs = h^n mod n^2`` once per key
  (one full exponentiation; kept in a module cache keyed by ``n``, the key owner's apart). Nothing of it
  comes from the key holder or crosses the wire, so no party can plant a weak base (say one of small order) on
  the others. (Processes forked from one that made ``hs`` share it: harmless, DJN even publish ``hs``; what
  must be fresh is ``a``);
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
What ``<hs>`` is not is all of the n-th residues (``Z_n^*`` is not cyclic): a value computed with secret
multipliers from another party's ciphertexts needs more than a DJN obfuscator before it goes back to that
party (:mod:`~fate_flow.ml.paillier.blinding`).

Speed: encryption is the table walk above: per core, about 3,500 encryptions/s at 1024 bits and 650/s at
2048 against 520 and 78 with ``r^n`` (bench/paillier_ops.py, which also measures the table shapes). The
table is Lim and Lee's comb (:class:`_FixedBase`), shaped for the fewest multiplications within a memory
budget. A process makes its first obfuscators of a key by direct ``hs^a`` exponentiations (GIL-free gmpy2
batch calls over ``cores`` threads); once they have cost what a small table (``OBFUSCATION_TABLE_BYTES / 4``)
costs to build, it builds one (0.15 s at 1024 bits, 0.3 s at 2048); once the small table's extra
multiplications have cost what the large one (``OBFUSCATION_TABLE_BYTES``, about 72 MB) costs to build,
it builds that (0.6 s, 1.1 s). Table walks hold the GIL (one gmpy2 multiplication at a time), so big
batches run in ``cores`` forked processes that inherit the table and draw their own random digits.

The key's owner (the party that made the key pair and encrypts under it: SecureBoost's and binning's guest,
Pearson's and EINI's key holder) makes the very same ``hs^a`` by CRT (:class:`_OwnersFixedBase`):
``hs mod p^2`` lies in the subgroup of order ``p - 1``, so ``hs^a mod p^2 = (hs mod p^2)^(a mod (p - 1))``,
likewise for ``q``, and Garner's formula joins the two halves. The ``a`` are drawn whole as above; the work
is two table walks over half-length exponents with numbers of half the size: 2.7x as many obfuscators per
core at 2048 bits as the table walk above, 2.3x at 1024 (bench/paillier_ops.py). The owner's tables stay in
its own process and forked children (never on a Spark executor: they hold the factors). Where Intel's crypto_mb
runs (``ml.multibuffer``) and the squares of the primes fit its 1024-bit exponentiation (1024-bit keys), the
owner computes both halves with it, eight a call, and builds no table (:class:`_OwnersMultibuffer`, 1.8x the
comb's obfuscators per core here); at 2048 bits it is no faster than the comb, which stays.

Obfuscators ahead of need: a party that encrypts or rerandomizes again and again (the hetero linear models'
hosts and guest) keeps an :class:`~fate_flow.ml.paillier.pool.ObfuscatorPool`, a forked worker that makes
obfuscators at idle priority while the party waits for the others (a batch's worth: what the pipe holds, the
rest in the worker's memory); ``encrypt(..., pool=pool)`` and ``rerandomize(..., pool=pool)`` then cost one
multiplication per value for what the pool holds. Each obfuscator is the same ``hs^a`` with a fresh
full-length ``a``, handed out once, in the one process that made the pool.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import gmpy2
import numpy as np
from gmpy2 import mpz

from fate_flow.ml import multibuffer
from fate_flow.ml.paillier import parallel  # _MIN_FORK_MULTIPLICATIONS read from there: one value to tune or patch
from fate_flow.ml.paillier.arith import _ONE, _concat_lists, _random_units
from fate_flow.ml.paillier.parallel import _in_processes, _threaded

if TYPE_CHECKING:  # annotations only: the keys module imports this one
    from fate_flow.ml.paillier.keys import PublicKey

OBFUSCATION_SLACK_BITS = 128  # random exponent bits beyond the key length: a mod ord(hs) within 2^-128 of uniform
OBFUSCATION_TABLE_BYTES = 80 << 20  # memory one key's fixed-base table may take in one process
_TABLE_ENTRY_OVERHEAD = 72  # bytes a table entry takes beyond its limbs (object header, list slot, malloc)
_DIGIT_BLOCK = 4096  # obfuscators drawn per block of random digits (bounds the digit array)
_CACHED_KEYS = 2  # keys whose obfuscation tables one process keeps


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

    def digits_of(self, exponents: list[mpz]) -> np.ndarray:
        """The (steps, rows, count) digits that stand for each of ``exponents`` (each below
        ``2^(width * rows * steps)``): what ``exponent`` reads back, for powers whose exponents are given."""
        width, rows, steps = self.width, self.rows, self.steps
        total = width * rows * steps
        size = (total + 7) // 8
        raw = np.frombuffer(b"".join(int(e).to_bytes(size, "little") for e in exponents), dtype=np.uint8)
        # bits[k, i, j, s] is bit i A + j S + s of exponent k, i.e. bit i of digit [steps - 1 - s][j]
        bits = np.unpackbits(raw.reshape(len(exponents), size), axis=1, bitorder="little")[:, :total]
        bits = bits.reshape(len(exponents), width, rows, steps).astype(np.uint16)
        digits = np.tensordot(1 << np.arange(width, dtype=np.uint16), bits, axes=(0, 1))  # (count, rows, steps)
        return np.ascontiguousarray(digits[:, :, ::-1].transpose(2, 1, 0))

    def exponent(self, digits: np.ndarray) -> int:
        """The exponent one power's (steps, rows) digits stand for (what ``powers`` raises the base to)."""
        across, exponent = self.rows * self.steps, 0
        for t, step in enumerate(digits.tolist()):
            for j, digit in enumerate(step):
                for i in range(self.width):
                    if digit >> i & 1:
                        exponent += 1 << (i * across + j * self.steps + self.steps - 1 - t)
        return exponent


class _OwnersFixedBase:
    """The key owner's ``hs^a mod n^2``: the very power ``hs``'s own table gives, computed from the factors as
    ``hs^(a mod (p - 1)) mod p^2`` and ``hs^(a mod (q - 1)) mod q^2`` joined by CRT (``hs mod p^2`` lies in the
    subgroup of order ``p - 1``, so the reduced exponent gives the same power). Half-size numbers and
    half-length exponents: about 3x fewer CPU cycles per obfuscator at 2048 bits. Same interface as
    :class:`_FixedBase` (the same ``a``, drawn whole from the OS CSPRNG, then reduced)."""

    __slots__ = ("halves", "exponent_bits", "crt")

    def __init__(self, base: mpz, crt: _Crt, shape: tuple[int, int, int], exponent_bits: int):
        self.crt = crt
        self.halves = tuple((_FixedBase(base % square, square, shape), order)
                            for square, order in ((crt.p_square, crt.p_order), (crt.q_square, crt.q_order)))
        self.exponent_bits = exponent_bits

    def __reduce__(self) -> Any:
        raise TypeError("the key owner's tables hold its factors: they are never pickled")

    @property
    def operations(self) -> int:
        """Modular multiplications and squarings per power, in each half (numbers of half the size)."""
        return self.halves[0][0].operations

    def random_powers(self, count: int) -> list[mpz]:
        """``count`` powers of the base with fresh uniform exponents of ``exponent_bits`` bits."""
        out: list[mpz] = []
        for start in range(0, count, _DIGIT_BLOCK):
            exponents = _random_exponents(min(_DIGIT_BLOCK, count - start), self.exponent_bits)
            at_p, at_q = (fixed.powers(fixed.digits_of([a % order for a in exponents])) for fixed, order in self.halves)
            out.extend(self.crt.join(at_p, at_q))
        return out


class _OwnersMultibuffer:
    """The key owner's ``hs^a mod n^2`` by CRT, as :class:`_OwnersFixedBase` makes it, each half computed by
    Intel's crypto_mb eight exponentiations a call (``ml.multibuffer``) instead of a comb walk: no table to
    build, and ~1.8x the obfuscators per core at 1024 bits (81 against 148 us here). Used where crypto_mb
    runs and the squares of the primes fit its 1024-bit exponentiation: at 2048 bits it is no faster than the
    comb (279 us a half against ~290)."""

    __slots__ = ("crt", "bases", "exponent_bits")
    # one power's cost in the comb's unit (its 40 operations a half take 148 us here, this 81 us): the fork choice
    operations = 22

    def __init__(self, base: mpz, crt: _Crt, exponent_bits: int):
        self.crt, self.exponent_bits = crt, exponent_bits
        self.bases = (int(base % crt.p_square), int(base % crt.q_square))  # (its _Crt refuses to be pickled)

    def powers_of(self, exponents: list[mpz]) -> list[mpz]:
        """``hs^a mod n^2`` for each exponent ``a``."""
        crt = self.crt
        halves = [multibuffer.powers(base, [int(a % order) for a in exponents], int(square))
                  for base, square, order in zip(self.bases, (crt.p_square, crt.q_square),
                                                 (crt.p_order, crt.q_order), strict=True)]
        if halves[0] is None or halves[1] is None:
            raise RuntimeError("crypto_mb stopped being available in this process")
        return crt.join([mpz(v) for v in halves[0]], [mpz(v) for v in halves[1]])

    def random_powers(self, count: int) -> list[mpz]:
        """``count`` powers of the base with fresh uniform exponents of ``exponent_bits`` bits."""
        out: list[mpz] = []
        for start in range(0, count, _DIGIT_BLOCK):
            out.extend(self.powers_of(_random_exponents(min(_DIGIT_BLOCK, count - start), self.exponent_bits)))
        return out

    @staticmethod
    def fits(crt: _Crt) -> bool:
        """Whether crypto_mb runs here and pays for this key (the squares of its primes within 1024 bits)."""
        return max(crt.p_square.bit_length(), crt.q_square.bit_length()) <= 1024 and multibuffer.library() is not None


def _powers(base: mpz, exponents: list[mpz], modulus: mpz, cores: int) -> list[mpz]:
    """``base^e mod modulus`` for each exponent: GIL-free gmpy2 batch calls over ``cores`` threads."""
    return _threaded(lambda chunk: gmpy2.powmod_exp_list(base, chunk, modulus), exponents, cores)


class _Crt:
    """The key owner's CRT constants: the squares of the primes, the orders ``p - 1`` and ``q - 1`` of their
    n-th residue subgroups, and what Garner's formula needs to join two halves."""

    __slots__ = ("p_square", "q_square", "p_order", "q_order", "q_square_inverse")

    def __init__(self, p: mpz, q: mpz):
        self.p_square, self.q_square = p * p, q * q
        self.p_order, self.q_order = p - 1, q - 1
        self.q_square_inverse = gmpy2.invert(self.q_square, self.p_square)

    def __reduce__(self) -> Any:
        raise TypeError("the key owner's CRT constants hold its factors: they are never pickled")

    def join(self, at_p: list[mpz], at_q: list[mpz]) -> list[mpz]:
        """The values mod ``n^2`` whose residues mod ``p^2`` and ``q^2`` are ``at_p`` and ``at_q`` (Garner)."""
        p_square, q_square, inverse = self.p_square, self.q_square, self.q_square_inverse
        return [y + q_square * ((x - y) * inverse % p_square) for x, y in zip(at_p, at_q, strict=True)]


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
    fixed-base tables of ``hs`` once enough obfuscators have been asked for to pay for them. Given the key's
    ``factors`` (the key owner's process), the same powers are computed by CRT (:class:`_OwnersFixedBase`)."""

    def __init__(self, public: PublicKey, factors: tuple[mpz, mpz] | None = None):
        n, n2 = public.n, public.nsquare
        h = _random_units(n, 1)[0]
        if gmpy2.gcd(h, n) != 1:  # probability ~2^-(key_length/2): would mean h shares a prime with n
            raise ArithmeticError("the random unit is not a unit modulo n")
        self.modulus = n2
        self.base = gmpy2.powmod(h, n, n2)
        self.exponent_bits = public.key_length + OBFUSCATION_SLACK_BITS
        self.crt = None if factors is None else _Crt(*factors)
        if factors is None:
            self.table_bits, entry, tables = self.exponent_bits, public.ciphertext_bytes, 1
        else:  # a table per prime, over exponents reduced below it, of numbers mod its square
            self.table_bits = max(f.bit_length() for f in factors)
            entry, tables = (2 * self.table_bits + 7) // 8, 2
        self.shapes = (_comb_shape(self.table_bits, entry, OBFUSCATION_TABLE_BYTES // 4 // tables),
                       _comb_shape(self.table_bits, entry, OBFUSCATION_TABLE_BYTES // tables))
        self.fixed: _FixedBase | _OwnersFixedBase | _OwnersMultibuffer | None = None
        self._level = 0  # the next of `shapes` to consider building
        self._made = 0  # obfuscators made by the current method (direct exponentiation, then each table)
        self._lock = threading.Lock()
        if self.crt is not None and _OwnersMultibuffer.fits(self.crt):
            self.fixed, self._level = _OwnersMultibuffer(self.base, self.crt, self.exponent_bits), len(self.shapes)

    def obfuscators(self, count: int, cores: int = 1) -> list[mpz]:
        """``count`` values ``hs^a`` with fresh uniform exponents of at least ``exponent_bits`` bits."""
        if count <= 0:
            return []
        fixed = self._table_for(count)
        if fixed is None:
            return self._direct(_random_exponents(count, self.exponent_bits), cores)
        usable = max(1, min(int(cores or 1), os.cpu_count() or 1))
        workers = usable if count * fixed.operations >= parallel._MIN_FORK_MULTIPLICATIONS else 1
        # the owner's tables (its factors) stay in this process's own children, never on a Spark executor
        return _in_processes(_fixed_base_chunk, (fixed,), count, workers, _concat_lists, remote=self.crt is None)

    def _direct(self, exponents: list[mpz], cores: int) -> list[mpz]:
        """``hs^a`` for each exponent by GMP's exponentiation (GIL-free batch calls over ``cores`` threads)."""
        crt = self.crt
        if crt is None:
            return _powers(self.base, exponents, self.modulus, cores)
        at_p, at_q = (_powers(self.base % square, [a % order for a in exponents], square, cores)
                      for square, order in ((crt.p_square, crt.p_order), (crt.q_square, crt.q_order)))
        return crt.join(at_p, at_q)

    def _build(self, shape: tuple[int, int, int]) -> _FixedBase | _OwnersFixedBase:
        if self.crt is None:
            return _FixedBase(self.base, self.modulus, shape)
        return _OwnersFixedBase(self.base, self.crt, shape, self.exponent_bits)

    def table_for_pool(self) -> _FixedBase | _OwnersFixedBase | _OwnersMultibuffer:
        """The table a pool's worker walks: the one it inherited from its owner, else the small one of
        ``shapes`` (built now): a worker makes obfuscators for as long as the fit runs, but on CPU its party
        leaves idle, and its own table is memory on top of its owner's."""
        with self._lock:
            if self.fixed is None:
                self.fixed = self._build(self.shapes[0])
                self._level, self._made = 1, 0
            return self.fixed

    def _table_for(self, count: int) -> _FixedBase | _OwnersFixedBase | _OwnersMultibuffer | None:
        """The table to use for ``count`` more obfuscators, built or enlarged when it pays (ski rental: the
        next table is built once what it would have saved so far equals its build cost, about one
        multiplication per entry; for the owner both sides count two halves)."""
        with self._lock:
            self._made += count
            while self._level < len(self.shapes):
                shape = self.shapes[self._level]
                # a direct exponentiation (GMP's windowed Montgomery powmod, in C) costs what about
                # 0.7 * exponent_bits of our table multiplications do (measured at 1024 and 2048 bits)
                current = 0.7 * self.table_bits if self.fixed is None else self.fixed.operations
                saving = current - _comb_operations(shape)
                if saving > 0:
                    if self._made * saving < _comb_entries(shape):
                        break
                    self.fixed = None  # let a smaller table go before the next one is built
                    self.fixed = self._build(shape)
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


_OBFUSCATIONS: OrderedDict[tuple[mpz, bool], _Obfuscation] = OrderedDict()
_OBFUSCATIONS_LOCK = threading.Lock()


def _obfuscation(public: PublicKey, factors: tuple[mpz, mpz] | None = None) -> _Obfuscation:
    """This process's obfuscation state for ``public`` (keyed by ``n`` itself, not a hash of it), the key
    owner's (by CRT over ``factors``) apart from everyone else's."""
    key = (public.n, factors is not None)
    with _OBFUSCATIONS_LOCK:
        found = _OBFUSCATIONS.get(key)
        if found is None:
            found = _OBFUSCATIONS[key] = _Obfuscation(public, factors)
            while len(_OBFUSCATIONS) > _CACHED_KEYS:
                _OBFUSCATIONS.popitem(last=False)
        else:
            _OBFUSCATIONS.move_to_end(key)
        return found


def _fresh_locks_after_fork() -> None:
    """A forked child starts with unlocked locks (the parent may have forked while a thread held one)."""
    global _OBFUSCATIONS_LOCK
    _OBFUSCATIONS_LOCK = threading.Lock()
    for state in _OBFUSCATIONS.values():
        state._lock = threading.Lock()


os.register_at_fork(after_in_child=_fresh_locks_after_fork)
