"""``X^T @ [[d]]`` (``EncryptedVector.rmatmul``): the columns' fixed-point (or decimal) encoding, a bucket (Pippenger)
multi-exponentiation per column and the cost model that picks its windows and digits.

About ``bits / w`` modular multiplications per element instead of ``bits * 1.2``, with signed digits when
there are several columns; matrix products spread over ``cores`` forked processes when the work pays for the
fork (by whole columns; the calling process computes one share).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import gmpy2
import numpy as np
from gmpy2 import mpz

from fate_flow.ml.paillier.arith import _ONE, _concat_lists, batch_invert
from fate_flow.ml.paillier.parallel import _cores_for_multiplications, _in_processes

MATMUL_FRAC_BITS = 64  # fractional bits rmatmul adds: every column is aligned to it (nearly free)
MATMUL_BITS = 40  # rmatmul rounds each column to 40 significant bits of its largest |value| (if >= 2^-24)
MATMUL_MAX_DECIMALS = 6  # a column of numbers with at most 6 decimals (text data) is taken as integers / 10^k


def _rmatmul(ciphertexts: list[mpz], matrix: np.ndarray, n2: mpz, cores: int) -> list[mpz]:
    """``prod_i c_i ^ (x_ij * 2^MATMUL_FRAC_BITS)`` for every column ``j``.

    Each column becomes integers with as few bits as it needs (``MATMUL_BITS`` relative to its largest
    value; fewer when the column is exact with fewer, e.g. 0/1 columns need one bit, or when its numbers have
    at most ``MATMUL_MAX_DECIMALS`` decimals: integers over ``10^k``). Negative integers
    are handled one of two ways, whichever takes fewer multiplications: signed digits (a negative digit
    picks the base's inverse; half as many buckets, for the inverses of all bases once: pays with several
    columns), or an offset of ``2^b`` that makes a column non-negative, corrected with one shared inverse.
    Results are then raised to each column's ``lift`` (``2^(MATMUL_FRAC_BITS - f_j)``, or about
    ``2^MATMUL_FRAC_BITS / 10^k``) so that every column has the same public exponent. The ciphertexts are the
    same whichever way the digits go: only the order of the multiplications differs.
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
        state = (ciphertexts, batch_invert(ciphertexts, n2), integers, [e.bits for e in encoded], n2)
        costs = signed
    else:
        exponents = integers + np.asarray(offsets, dtype=np.int64) if columns else integers
        bits = [int(exponents[:, j].max()).bit_length() if rows else 0 for j in range(columns)]
        state = (ciphertexts, None, exponents, bits, n2)
        costs = unsigned
    processes = _cores_for_multiplications(sum(costs), cores, n2.bit_length())
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
    return [r if e.lift == 1 else gmpy2.powmod(r, e.lift, n2) for r, e in zip(results, encoded, strict=True)]


class _Column:
    """One column as int64 integers, ``round(x * 2^frac_bits)`` or (``frac_bits`` None) ``round(x * 10^decimals)``;
    ``bits`` the bit length of the largest |one|, ``lift`` the exponent that takes the column's product to
    ``MATMUL_FRAC_BITS`` fractional bits."""

    __slots__ = ("integers", "frac_bits", "decimals", "bits", "negative")

    def __init__(self, integers: np.ndarray, frac_bits: int | None, decimals: int = 0):
        self.integers = integers
        self.frac_bits = frac_bits
        self.decimals = decimals
        self.bits = int(np.abs(integers).max()).bit_length() if integers.size else 0
        self.negative = bool(integers.size and integers.min() < 0)

    @property
    def lift(self) -> mpz:
        """``2^(MATMUL_FRAC_BITS - frac_bits)``, or for decimals ``round(2^MATMUL_FRAC_BITS / 10^decimals)``
        (relative error below 2^-45 with at most 6 decimals)."""
        if self.frac_bits is None:
            scale = 10 ** self.decimals
            return mpz(((1 << MATMUL_FRAC_BITS) + scale // 2) // scale)
        return mpz(1) << (MATMUL_FRAC_BITS - self.frac_bits)


def _encode_column(column: np.ndarray) -> _Column:
    """The column in the fewest bits that hold it: binary fixed point exact or rounded to ``MATMUL_BITS``
    significant bits, or, when that takes more bits, decimal (numbers written with few decimals, as text data
    is: ``0.254879`` is 254879 / 10^6, 18 bits instead of 40)."""
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
    binary = _Column(np.rint(np.ldexp(column, high)).astype(np.int64), high)
    decimal = _decimal_column(column, largest, binary.bits)
    return decimal if decimal is not None else binary


def _decimal_column(column: np.ndarray, largest: float, fewer_than: int) -> _Column | None:
    """The column as ``integers / 10^k`` for the fewest decimals ``k`` (1 to ``MATMUL_MAX_DECIMALS``) that give
    back every value (as the nearest double, which is what parsing the decimal text gave), if that takes fewer
    than ``fewer_than`` bits; else None."""
    for decimals in range(1, MATMUL_MAX_DECIMALS + 1):
        scale = 10.0 ** decimals
        if round(largest * scale).bit_length() >= fewer_than:
            return None
        integers = np.rint(column * scale)
        if np.array_equal(integers / scale, column):
            return _Column(integers.astype(np.int64), None, decimals)
    return None


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


@functools.lru_cache(maxsize=4096)  # asked per column, per batch, with few distinct (rows, bits)
def _window_for(rows: int, bits: int) -> int:
    """The digit width of fewest multiplications for ``bits``-bit exponents in 2^w - 1 buckets."""
    return min(range(1, 17), key=lambda w: -(-bits // w) * (_window_cost(rows, (1 << w) - 1) + w))


@functools.lru_cache(maxsize=4096)
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
