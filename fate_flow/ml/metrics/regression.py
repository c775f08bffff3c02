"""Regression metrics (FATE: scikit-learn's explained_variance_score, mean_absolute_error,
mean_squared_error, median_absolute_error, r2_score, and the root of the mean squared error)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _one_minus_ratio(numerator: float, denominator: float) -> float:
    # scikit-learn's rule for constant labels: a perfect prediction scores 1, any other 0
    if denominator == 0:
        return 1.0 if numerator == 0 else 0.0
    return float(1.0 - numerator / denominator)


def explained_variance(labels: np.ndarray, predicted: np.ndarray) -> float:
    """1 - Var(labels - predicted) / Var(labels)."""
    residual = labels - predicted
    return _one_minus_ratio(float(np.mean((residual - residual.mean()) ** 2)),
                            float(np.mean((labels - labels.mean()) ** 2)))


def mean_absolute_error(labels: np.ndarray, predicted: np.ndarray) -> float:
    """The mean of |labels - predicted|."""
    return float(np.mean(np.abs(labels - predicted)))


def mean_squared_error(labels: np.ndarray, predicted: np.ndarray) -> float:
    """The mean of (labels - predicted)^2."""
    return float(np.mean((labels - predicted) ** 2))


def root_mean_squared_error(labels: np.ndarray, predicted: np.ndarray) -> float:
    """The root of the mean squared error."""
    return float(np.sqrt(mean_squared_error(labels, predicted)))


def median_absolute_error(labels: np.ndarray, predicted: np.ndarray) -> float:
    """The median of |labels - predicted|."""
    return float(np.median(np.abs(labels - predicted)))


def r2_score(labels: np.ndarray, predicted: np.ndarray) -> float:
    """The coefficient of determination: 1 - SS_residual / SS_total."""
    return _one_minus_ratio(float(np.sum((labels - predicted) ** 2)), float(np.sum((labels - labels.mean()) ** 2)))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "explained_variance": explained_variance,
    "mean_absolute_error": mean_absolute_error,
    "mean_squared_error": mean_squared_error,
    "median_absolute_error": median_absolute_error,
    "r2_score": r2_score,
    "root_mean_squared_error": root_mean_squared_error,
}
