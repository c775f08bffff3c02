"""Gradient-based one-side sampling (GOSS, LightGBM's; FATE's ``run_goss``): each round's trees are grown on
the samples of largest gradient and a random share of the rest, the latter's gradients and hessians amplified
so that their sums stay unbiased estimates of the sums over all samples.

Unlike FATE, which sends the hosts the ciphertexts of the sampled rows only, this server encrypts every row,
the rows left out as zeros: FATE's hosts learn which rows were sampled, and the top share is ranked by |g|,
which at the first round of a binary job is the label (|g| is p for one class and 1 - p for the other). The
trees are the same GOSS trees (sums over the sample); the split conditions on sample counts (``min_leaf_node``,
``min_sample_split``) count every row."""

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


def goss_sample(g: np.ndarray, h: np.ndarray, top_rate: float, other_rate: float,
                rng: np.random.Generator) -> GossSample:
    """FATE's sampling (once per boosting round, every class's tree on the same rows): the ``int(n *
    top_rate)`` rows of largest ``|g|`` summed over the classes (stable order on ties), then ``int(n *
    other_rate)`` drawn without replacement from the others, amplified by ``(1 - top_rate) / other_rate``.
    ``g`` and ``h`` are rows x classes (or 1-D); raises when either share would be empty."""
    samples = len(g)
    top, other = int(samples * top_rate), int(samples * other_rate)
    if top == 0 or other == 0:
        raise ComponentError(f"run_goss: {samples} samples leave an empty share (top_rate keeps {top}, "
                             f"other_rate {other}); raise the rates or turn run_goss off")
    # rounded: at a multi-class job's initial score every row's sum is 2 (K - 1) / K up to float rounding, which
    # differs by class; unrounded, those ties would be broken by label and the top share be one class's rows
    magnitude = np.round(np.abs(g).reshape(samples, -1).sum(axis=1), 9)
    by_gradient = np.argsort(-magnitude, kind="stable")
    drawn = rng.choice(by_gradient[top:], size=other, replace=False)
    amplify = (1 - top_rate) / other_rate
    weight = np.zeros(samples)
    weight[by_gradient[:top]] = 1.0
    weight[drawn] = amplify
    weight = weight.reshape((samples,) + (1,) * (g.ndim - 1))
    return GossSample(np.flatnonzero(weight.reshape(samples)), g * weight, h * weight, amplify)
