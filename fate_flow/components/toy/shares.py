"""What both sides of the toy do alike: draw the data, split it into two random shares."""

from __future__ import annotations

import numpy as np


def draw(seed: int | None, count: int) -> np.ndarray:
    """The party's private numbers."""
    return np.random.default_rng(seed or 0).random(count)


def split(values: np.ndarray, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Two shares that add up to ``values``; one alone says nothing about it."""
    noise = np.random.default_rng((seed or 0) + 1_000_003).uniform(-1e3, 1e3, values.shape)
    return values - noise, noise
