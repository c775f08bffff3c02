"""Spreading big-integer work over cores: GIL-free gmpy2 batch calls over threads (``_threaded``) and work
that holds the GIL (table walks, buckets, elementwise powers) over forked processes (``_in_processes``,
public as ``in_processes``), with the thresholds below which a thread or a fork costs more than it saves.

On a Spark task (``spread_over``) that work runs in Spark's executors instead, its state pickled with it.

Forked workers inherit their input through fork (``_FORK_STATE``: no copy of the ciphertexts is pickled);
only their results come back, from our own children. The functions they run are passed by reference, so
they must be module-level functions of an importable module.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

# work (elements x multiplications) below which forking worker processes costs more than it saves
_MIN_PROCESS_WORK = 3_000
_MIN_THREAD_ITEMS = 16
_MIN_FORK_MULTIPLICATIONS = 40_000  # table multiplications below which forking costs more than it saves


def _cores_for(work: int, cores: int) -> int:
    """How many processes ``work`` (elements x multiplications / 8) deserves out of ``cores``."""
    usable = max(1, min(int(cores or 1), os.cpu_count() or 1))
    return usable if work >= _MIN_PROCESS_WORK * 8 else 1


def _cores_for_multiplications(multiplications: int, cores: int, modulus_bits: int = 2048) -> int:
    """How many processes work of ``multiplications`` modular multiplications mod a ``modulus_bits``-bit number
    deserves out of ``cores`` (when it is split without extra work: the one process that is not forked works
    too). Forking an executor (hundreds of MB of page tables) and ending the child costs some 20-40 ms, the
    time of ~55,000 multiplications mod a 2048-bit ``n^2`` (1.8 us each) but of ~19,000 mod 4096 bits (5.3 us):
    below twice that, forking made an ``X^T [[d]]`` slower (measured in a 300 MB process)."""
    usable = max(1, min(int(cores or 1), os.cpu_count() or 1))
    weight = (max(modulus_bits, 1) / 2048) ** 1.55  # GMP's cost of one multiplication relative to 2048 bits
    return usable if multiplications * weight >= _MIN_FORK_MULTIPLICATIONS * 1.4 else 1


def _threaded(func: Callable[[list], list], items: Sequence, cores: int) -> list:
    """``func`` (a GIL-free gmpy2 batch call) over ``items`` in ``cores`` threads, results in order."""
    items = list(items)
    workers = max(1, min(int(cores or 1), os.cpu_count() or 1, len(items) // _MIN_THREAD_ITEMS or 1))
    if workers == 1:
        return list(func(items))
    chunks = _chunks(len(items), workers)
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(lambda span: func(items[span[0]:span[1]]), chunks))
    return [x for part in parts for x in part]


_FORK_STATE: tuple | None = None  # what forked workers read (inherited, never pickled)

RemoteMap = Callable[[Callable[[Any], Any], list], list]
_REMOTE_MAP: RemoteMap | None = None  # set on a Spark task: the process-spread work goes to its executors
# big integers below which the work stays with forked processes even on Spark: a Spark job costs 0.1-1 s
# (scheduling, pickling the state to the executors), more than forking saves on a few thousand elements
REMOTE_MIN_ELEMENTS = 10_000


def spread_over(remote_map: RemoteMap | None) -> None:
    """Send the work ``_in_processes`` spreads to ``remote_map`` (``remote_map(function, items)`` returns
    ``[function(item) ...]`` computed elsewhere: a Spark task's executors) instead of forked processes;
    ``None`` goes back to forking. The state then travels with the work (pickled by the engine) instead of
    being inherited."""
    global _REMOTE_MAP
    _REMOTE_MAP = remote_map


def _run_span(func: Callable[[tuple, int, int], list], state: tuple, span: tuple[int, int]) -> list:
    return func(state, *span)


def _elements(state: tuple, size: int) -> int:
    """The work's size in elements: ``size``, or the longest sequence of the state (the ciphertexts)."""
    return max([size, *(len(part) for part in state if hasattr(part, "__len__") and not isinstance(part, str))])


def _run_forked(func_and_span: tuple[Callable, int, int]) -> list:
    func, start, stop = func_and_span
    assert _FORK_STATE is not None
    return func(_FORK_STATE, start, stop)


def _in_processes(func: Callable[[tuple, int, int], list], state: tuple, size: int, cores: int,
                  combine: Callable[[list], Any], spans: list[tuple[int, int]] | None = None,
                  remote: bool = True) -> Any:
    """``combine([func(state, start, stop) for each span])``: ``spans`` (by default [0, size) cut into ``cores``
    equal ones), the first computed here while forked processes compute the others.

    The workers inherit ``state`` through fork (no copy of the ciphertexts is pickled); only the results
    come back, from our own children. ``remote=False`` keeps the work in them also on a Spark task (a state
    that must not leave this process, such as a private key's factors).
    """
    global _FORK_STATE
    if spans is None:
        spans = _chunks(size, cores if size >= 2 else 1)
    if len(spans) <= 1:
        return combine([func(state, *spans[0])] if spans else [func(state, 0, size)])
    if remote and _REMOTE_MAP is not None and _elements(state, size) >= REMOTE_MIN_ELEMENTS:
        return combine(_REMOTE_MAP(functools.partial(_run_span, func, state), spans))
    _FORK_STATE = state
    try:
        with ProcessPoolExecutor(len(spans) - 1, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(_run_forked, (func, start, stop)) for start, stop in spans[1:]]
            first = func(state, *spans[0])
            parts = [first, *(future.result() for future in futures)]
    finally:
        _FORK_STATE = None
    return combine(parts)


def in_processes(func: Callable[[tuple, int, int], list], state: tuple, size: int, cores: int,
                 combine: Callable[[list], Any], spans: list[tuple[int, int]] | None = None) -> Any:
    """Public name of the fork-and-combine helper the ciphertext arithmetic uses (see ``_in_processes``): work
    on big-integer lists spread over ``cores`` processes that inherit ``state``."""
    return _in_processes(func, state, size, cores, combine, spans)


def _chunks(size: int, parts: int) -> list[tuple[int, int]]:
    parts = max(1, min(parts, size))
    edges = [size * i // parts for i in range(parts + 1)]
    return [(edges[i], edges[i + 1]) for i in range(parts)]
