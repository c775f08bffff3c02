"""Hashing ids as FATE does (``str(id) + salt``, UTF-8, then the method's digest), fixed-width byte rows,
and the helpers every protocol shares: rows as sortable keys, matching, work split over the task's cores.

Ids, digests and ciphertexts are kept as numpy arrays (a ``uint8`` matrix, one row per id; big integers
little-endian in ``width`` bytes), so they cross the data plane as one raw block each.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fate_flow.errors import ComponentError

Digest = Callable[[bytes], bytes]


def digest_function(method: str) -> Digest:
    """``bytes -> digest`` for a FATE hash method name (md5, sha1, sha224, sha256, sha384, sha512, sm3, none)."""
    if method == "none":
        return bytes
    if method == "sm3" and "sm3" not in hashlib.algorithms_available:
        from cryptography.hazmat.primitives import hashes

        def sm3(data: bytes) -> bytes:
            h = hashes.Hash(hashes.SM3())
            h.update(data)
            return h.finalize()

        return sm3
    try:
        hashlib.new(method)
    except ValueError as exc:
        raise ComponentError(f"hash method {method!r} is not available: {exc}") from None
    constructor = getattr(hashlib, method, None)
    if constructor is not None:
        return lambda data: constructor(data).digest()
    return lambda data: hashlib.new(method, data).digest()


def salted(ids: Sequence[str], salt: str) -> list[bytes]:
    """FATE's hash input: the id's text with the salt appended, UTF-8."""
    return [(str(i) + salt).encode("utf-8") for i in ids]


def hash_ids(ids: Sequence[str], method: str, salt: str) -> list[bytes]:
    """The digest of each id (``none``: the salted text itself)."""
    digest = digest_function(method)
    return [digest(value) for value in salted(ids, salt)]


# -- rows of bytes ------------------------------------------------------------------------------------------------
def rows(values: Sequence[bytes], width: int) -> np.ndarray:
    """Equal-length byte strings as an ``n x width`` uint8 matrix."""
    if not values:
        return np.zeros((0, width), dtype=np.uint8)
    return np.frombuffer(b"".join(values), dtype=np.uint8).reshape(len(values), width)


def int_rows(values: Sequence[int], width: int) -> np.ndarray:
    """Non-negative integers below ``256**width`` as little-endian rows."""
    return rows([int(v).to_bytes(width, "little") for v in values], width)


def row_ints(matrix: np.ndarray) -> list[int]:
    """The rows of a little-endian uint8 matrix as integers."""
    width = matrix.shape[1] if matrix.ndim == 2 else 0
    buffer = np.ascontiguousarray(matrix).tobytes()
    return [int.from_bytes(buffer[i:i + width], "little") for i in range(0, len(buffer), width)] if width else []


def keys(matrix: np.ndarray) -> np.ndarray:
    """One sortable, comparable key per row (a void scalar of the row's bytes)."""
    matrix = np.ascontiguousarray(matrix, dtype=np.uint8)
    return matrix.view(np.dtype((np.void, matrix.shape[1]))).ravel()


def match(mine: np.ndarray, theirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the rows both matrices hold: ``(rows in mine, rows in theirs)``, in matching pairs.

    Rows are paired by their first 8 bytes (one uint64 sort: fast for millions of rows) and then compared
    whole; the few rows whose first 8 bytes are not unique in their matrix are matched on all their bytes."""
    empty = np.zeros(0, dtype=np.int64)
    if len(mine) == 0 or len(theirs) == 0 or mine.shape[1] != theirs.shape[1]:
        return empty, empty
    if mine.shape[1] < 8:
        return _match_whole(mine, theirs, np.arange(len(mine)), np.arange(len(theirs)))
    a, b = _prefix(mine), _prefix(theirs)
    shared_a, shared_b = _repeated(a), _repeated(b)
    single_a, single_b = np.flatnonzero(~shared_a), np.flatnonzero(~shared_b)
    _, in_a, in_b = np.intersect1d(a[single_a], b[single_b], assume_unique=True, return_indices=True)
    in_a, in_b = single_a[in_a], single_b[in_b]
    equal = np.all(mine[in_a] == theirs[in_b], axis=1)
    pairs_a, pairs_b = [in_a[equal]], [in_b[equal]]
    if shared_a.any() or shared_b.any():
        rest_a = np.flatnonzero(shared_a | np.isin(a, b[shared_b]))
        rest_b = np.flatnonzero(shared_b | np.isin(b, a[shared_a]))
        more_a, more_b = _match_whole(mine, theirs, rest_a, rest_b)
        pairs_a.append(more_a)
        pairs_b.append(more_b)
    return np.concatenate(pairs_a).astype(np.int64), np.concatenate(pairs_b).astype(np.int64)


def _prefix(matrix: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(matrix[:, :8]).view("<u8").ravel()


def _repeated(values: np.ndarray) -> np.ndarray:
    """Whether each value occurs more than once (one sort; almost never any for ciphertexts)."""
    ordered = np.sort(values)
    repeats = ordered[1:][ordered[1:] == ordered[:-1]]
    return np.isin(values, repeats) if repeats.size else np.zeros(values.size, dtype=bool)


def _match_whole(mine: np.ndarray, theirs: np.ndarray, rows_a: np.ndarray,
                 rows_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if rows_a.size == 0 or rows_b.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    _, in_a, in_b = np.intersect1d(keys(mine[rows_a]), keys(theirs[rows_b]), return_indices=True)
    return rows_a[in_a].astype(np.int64), rows_b[in_b].astype(np.int64)


def check_rows(name: str, value: Any, width: int, count: int | None = None) -> np.ndarray:
    """A matrix received from a peer, checked: uint8, ``width`` bytes a row, ``count`` rows when given."""
    if not isinstance(value, np.ndarray) or value.dtype != np.uint8 or value.ndim != 2 or value.shape[1] != width:
        shape = getattr(value, "shape", None)
        raise ComponentError(f"the peer sent {name} that is not {width}-byte rows (got {type(value).__name__} {shape})")
    if count is not None and value.shape[0] != count:
        raise ComponentError(f"the peer sent {value.shape[0]} {name} for {count} sent to it")
    return value


def check_positions(name: str, value: Any, bound: int) -> np.ndarray:
    """Row positions received from a peer, checked: integers in ``[0, bound)``, each once."""
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iu" or value.ndim != 1:
        raise ComponentError(f"the peer sent {name} that are not row positions")
    if value.size and (value.min() < 0 or value.max() >= bound or np.unique(value).size != value.size):
        raise ComponentError(f"the peer sent {name} outside the {bound} rows it was given")
    return value.astype(np.int64)


def permutation(count: int) -> np.ndarray:
    """A secret random order: what a party sends derived from its own ids is shuffled, so that the order
    of its table tells the peer nothing."""
    return np.random.default_rng(secrets.randbits(128)).permutation(count)


# -- work over the task's cores -----------------------------------------------------------------------------------
MIN_CHUNK = 64
PROBE_ITEMS = 64  # items parallel_rows runs here first, to learn what one costs


def chunks(count: int, cores: int, min_chunk: int = MIN_CHUNK) -> list[slice]:
    """Slices covering ``range(count)``: a few per core (balancing), none smaller than ``min_chunk``."""
    pieces = max(1, min(max(cores, 1) * 4, count // min_chunk))
    bounds = np.linspace(0, count, pieces + 1).astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def parallel_rows(computing: Any, function: Callable[[Any], np.ndarray], make_item: Callable[[slice], Any],
                  count: int, width: int) -> np.ndarray:
    """``function`` over chunks of ``count`` items (``make_item(slice)`` builds each chunk's argument) on the
    task's cores; the row matrices it returns, concatenated in order.

    The first ``PROBE_ITEMS`` run here, and their time tells what the rest costs: the rest goes over the cores
    only when that pays for the workers (``computing.min_parallel_s``). A breast-sized table (569 ids) then
    costs no fork at all; a million ids take all the cores as before."""
    if count == 0:
        return np.zeros((0, width), dtype=np.uint8)
    probe = min(count, PROBE_ITEMS)
    started = time.perf_counter()
    parts = [function(make_item(slice(0, probe)))]
    rest = count - probe
    if rest and rest * (time.perf_counter() - started) / probe < computing.min_parallel_s:
        parts.append(function(make_item(slice(probe, count))))
    elif rest:
        shifted = [slice(probe + s.start, probe + s.stop) for s in chunks(rest, computing.cores)]
        parts.extend(computing.parallel_map(function, [make_item(s) for s in shifted]))
    return np.concatenate(parts) if len(parts) > 1 else parts[0]
