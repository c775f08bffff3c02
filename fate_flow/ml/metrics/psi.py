"""The population stability index between the train and the validate scores of a binary model (FATE's
``PSI``): the train scores' distinct 5 %-quantiles cut both score sets into intervals ``[a, b)`` (the last
one ``[a, b]``); each interval adds ``(actual% - expected%) * ln(actual% / expected%)``, an empty
interval counting 1e-6 samples. Scores outside the train range fall in no interval, as in FATE."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fate_flow.ml.metrics.binary import quantile_thresholds

EMPTY = 1e-6  # the sample count FATE gives an empty interval (no log of 0)


@dataclass(frozen=True)
class PSI:
    """The index per interval and in total, and what it was computed from (FATE's PSI table)."""

    scores: np.ndarray
    total: float
    expected_count: np.ndarray  # train samples per interval
    expected_percentage: np.ndarray
    actual_count: np.ndarray  # validate samples per interval
    actual_percentage: np.ndarray
    train_pos_perc: np.ndarray  # share of positives per interval (0 for an empty one)
    validate_pos_perc: np.ndarray
    intervals: list[str]


def interval_counts(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """How many scores fall in each interval ``[edges[i], edges[i+1])``, the last one closed."""
    ordered = np.sort(scores)
    below_left = np.searchsorted(ordered, edges[:-1], side="left")
    below_right = np.searchsorted(ordered, edges[1:], side="left")
    below_right[-1] = np.searchsorted(ordered, edges[-1], side="right")
    return below_right - below_left


def interval_names(edges: np.ndarray, digits: int = 6) -> list[str]:
    """``[a, b)`` ... ``[y, z]`` with the bounds rounded, as FATE writes them."""
    bounds = [round(float(edge), digits) for edge in edges]
    closing = [")"] * (len(bounds) - 2) + ["]"]
    return [f"[{left}, {right}{close}" for left, right, close in zip(bounds[:-1], bounds[1:], closing, strict=True)]


def _positive_share(positives: np.ndarray, totals: np.ndarray) -> np.ndarray:
    return np.divide(positives, totals, out=np.zeros(totals.size), where=totals > 0)


def psi(train_scores: np.ndarray, validate_scores: np.ndarray, train_labels: np.ndarray,
        validate_labels: np.ndarray) -> PSI:
    """The PSI of ``validate_scores`` against ``train_scores`` (labels 1/0 give the positive shares)."""
    edges = quantile_thresholds(train_scores, remove_duplicate=True)
    expected = interval_counts(train_scores, edges)
    actual = interval_counts(validate_scores, edges)
    expected_share = np.where(expected > 0, expected, EMPTY) / train_scores.size
    actual_share = np.where(actual > 0, actual, EMPTY) / validate_scores.size
    scores = (actual_share - expected_share) * np.log(actual_share / expected_share)
    return PSI(scores=scores, total=float(scores.sum()), expected_count=expected,
               expected_percentage=expected_share, actual_count=actual, actual_percentage=actual_share,
               train_pos_perc=_positive_share(interval_counts(train_scores[train_labels == 1], edges), expected),
               validate_pos_perc=_positive_share(interval_counts(validate_scores[validate_labels == 1], edges), actual),
               intervals=interval_names(edges))
