"""Gradient-based one-side sampling (GOSS, LightGBM's; FATE's ``run_goss``): each tree is grown on the
samples of largest gradient and a random share of the rest, the latter's gradients and hessians amplified so
that their sums stay unbiased estimates of the sums over all samples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fate_flow.errors import ComponentError


@dataclass(frozen=True)
class GossSample:
    """The rows a tree is grown on (sorted indices) and the gradients and hessians it is grown with: the
    sampled rows' values, those of the random share multiplied by ``amplify``; zero on the rows left out."""

    rows: np.ndarray
    g: np.ndarray
    h: np.ndarray
    amplify: float


def sample_count(samples: int, top_rate: float, other_rate: float) -> int:
    """How many rows a tree over ``samples`` rows is grown on."""
    return int(samples * top_rate) + int(samples * other_rate)


def goss_sample(g: np.ndarray, h: np.ndarray, top_rate: float, other_rate: float,
                rng: np.random.Generator) -> GossSample:
    """FATE's sampling: the ``int(n * top_rate)`` rows of largest ``|g|`` (stable order on ties), then
    ``int(n * other_rate)`` drawn without replacement from the others, amplified by ``(1 - top_rate) /
    other_rate``. Raises when either share would be empty."""
    samples = len(g)
    top, other = int(samples * top_rate), int(samples * other_rate)
    if top == 0 or other == 0:
        raise ComponentError(f"run_goss: {samples} samples leave an empty share (top_rate keeps {top}, "
                             f"other_rate {other}); raise the rates or turn run_goss off")
    by_gradient = np.argsort(-np.abs(g), kind="stable")
    drawn = rng.choice(by_gradient[top:], size=other, replace=False)
    amplify = (1 - top_rate) / other_rate
    keep = np.zeros(samples, dtype=bool)
    keep[by_gradient[:top]] = True
    weight = np.zeros(samples)
    weight[by_gradient[:top]] = 1.0
    weight[drawn] = amplify
    keep[drawn] = True
    return GossSample(np.flatnonzero(keep), g * weight, h * weight, amplify)
