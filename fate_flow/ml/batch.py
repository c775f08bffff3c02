"""Mini-batches over aligned samples: the guest decides them and the hosts follow (they receive index arrays,
never the guest's labels)."""

from __future__ import annotations

import numpy as np


def batch_indices(count: int, batch_size: int, strategy: str = "full", shuffle: bool = False,
                  seed: int | None = None, iteration: int = 0) -> list[np.ndarray]:
    """The row positions of each batch of one iteration.

    ``batch_size`` -1 (or at least ``count``) is one batch of everything. ``full``: the same consecutive
    batches every iteration (over one shuffled order when ``shuffle``); ``random``: a fresh shuffle each
    iteration, as FATE's random batch strategy.
    """
    if batch_size == -1 or batch_size >= count:
        return [np.arange(count)]
    order = np.arange(count)
    if shuffle or strategy == "random":
        random = np.random.default_rng(None if seed is None else seed + (iteration if strategy == "random" else 0))
        order = random.permutation(count)
    return [order[start:start + batch_size] for start in range(0, count, batch_size)]


def largest_batch(count: int, batch_size: int) -> int:
    """The most rows one batch of ``batch_indices(count, batch_size, ...)`` has."""
    return count if batch_size == -1 or batch_size >= count else batch_size


def folds(count: int, n_splits: int, shuffle: bool, seed: int | None) -> list[np.ndarray]:
    """The row positions of each cross-validation fold (k nearly equal parts)."""
    order = np.random.default_rng(seed).permutation(count) if shuffle else np.arange(count)
    return [np.sort(part) for part in np.array_split(order, n_splits)]
