"""Evaluation metrics as FATE 1.11 computes them (``federatedml/evaluation``), vectorised with numpy.

This module is light (no numpy): it names the metrics, resolves FATE's aliases and checks which metrics an
``eval_type`` allows, so a component's parameters can validate metric lists at submit. The numbers are
computed by the submodules, imported on first use:

- ``binary``: auc, ks, roc, lift, gain, accuracy, precision/recall, f1_score, confusion_mat, quantile_pr
- ``multi`` and ``regression``: the single-value metrics of those eval types
- ``psi``: the population stability index between train and validate scores
- ``evaluate``: every requested metric at once and how FATE logs each (names, metas, data points)

Training components validate an iteration with ``validation_scores``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

BINARY, MULTI, REGRESSION, CLUSTERING = "binary", "multi", "regression", "clustering"
EVAL_TYPES = (BINARY, MULTI, REGRESSION, CLUSTERING)

AUC, KS, LIFT, GAIN, ROC = "auc", "ks", "lift", "gain", "roc"
ACCURACY, PRECISION, RECALL = "accuracy", "precision", "recall"
CONFUSION_MAT, PSI, F1_SCORE, QUANTILE_PR = "confusion_mat", "psi", "f1_score", "quantile_pr"
EXPLAINED_VARIANCE, MEAN_ABSOLUTE_ERROR = "explained_variance", "mean_absolute_error"
MEAN_SQUARED_ERROR, MEAN_SQUARED_LOG_ERROR = "mean_squared_error", "mean_squared_log_error"
MEDIAN_ABSOLUTE_ERROR, R2_SCORE = "median_absolute_error", "r2_score"
ROOT_MEAN_SQUARED_ERROR = "root_mean_squared_error"
CLUSTERING_METRICS = ("jaccard_similarity_score", "fowlkes_mallows_score", "adjusted_rand_score",
                      "davies_bouldin_index", "distance_measure", "contingency_matrix")

ALLOWED: dict[str, tuple[str, ...]] = {
    BINARY: (AUC, KS, LIFT, GAIN, ACCURACY, PRECISION, RECALL, ROC, CONFUSION_MAT, PSI, F1_SCORE, QUANTILE_PR),
    MULTI: (ACCURACY, PRECISION, RECALL),
    REGRESSION: (EXPLAINED_VARIANCE, MEAN_ABSOLUTE_ERROR, MEAN_SQUARED_ERROR, MEDIAN_ABSOLUTE_ERROR, R2_SCORE,
                 ROOT_MEAN_SQUARED_ERROR),
    CLUSTERING: CLUSTERING_METRICS,
}
# what validation during training computes when no metric is given (FATE's single-value defaults)
SINGLE_VALUE_DEFAULTS: dict[str, tuple[str, ...]] = {
    BINARY: (AUC, KS),
    MULTI: (ACCURACY, PRECISION, RECALL),
    REGRESSION: (ROOT_MEAN_SQUARED_ERROR, MEAN_ABSOLUTE_ERROR),
    CLUSTERING: ("davies_bouldin_index",),
}
# metrics validation during training never computes (they need a table or two data sets)
NOT_FOR_VALIDATION = (PSI, F1_SCORE, CONFUSION_MAT, QUANTILE_PR)
KNOWN = (*ALLOWED[BINARY], *ALLOWED[REGRESSION], MEAN_SQUARED_LOG_ERROR, *CLUSTERING_METRICS)
# FATE's aliases, matched after lower-casing (its upper-case DBI, FMI and RI therefore never match)
ALIASES = {
    "l1": MEAN_ABSOLUTE_ERROR, "mae": MEAN_ABSOLUTE_ERROR, "regression_l1": MEAN_ABSOLUTE_ERROR,
    "l2": MEAN_SQUARED_ERROR, "mse": MEAN_SQUARED_ERROR, "regression_l2": MEAN_SQUARED_ERROR,
    "regression": MEAN_SQUARED_ERROR,
    "l2_root": ROOT_MEAN_SQUARED_ERROR, "rmse": ROOT_MEAN_SQUARED_ERROR,
    "msle": MEAN_SQUARED_LOG_ERROR, "r2": R2_SCORE, "acc": ACCURACY, "jaccard": "jaccard_similarity_score",
}


def canonical_metric(name: str) -> str:
    """FATE's name of a metric given by name or alias, any case; ValueError when there is none."""
    lowered = str(name).lower()
    if lowered in KNOWN:
        return lowered
    if lowered in ALIASES:
        return ALIASES[lowered]
    raise ValueError(f"metric {name} is not supported")


def resolve_metrics(eval_type: str, metrics: Iterable[str] | None, single_value: bool = False) -> list[str]:
    """The metrics to compute, as FATE's EvaluateParam.check() leaves them.

    None or empty means every metric of ``eval_type`` (``single_value``: FATE's validation defaults,
    auc+ks, accuracy/precision/recall, rmse+mae); names are lower-cased, aliases resolved, duplicates dropped,
    each must be allowed for ``eval_type``, and precision and recall come together. ``single_value`` drops
    the metrics validation never computes (psi, f1_score, confusion_mat, quantile_pr). ValueError names the
    offending metric.
    """
    if eval_type not in ALLOWED:
        raise ValueError(f"eval_type {eval_type} is not one of {', '.join(EVAL_TYPES)}")
    given = list(metrics or [])
    if not given:
        given = list((SINGLE_VALUE_DEFAULTS if single_value else ALLOWED)[eval_type])
    resolved = list(dict.fromkeys(canonical_metric(name) for name in given))
    if single_value:
        resolved = [m for m in resolved if m not in NOT_FOR_VALIDATION]
    for metric in resolved:
        if metric not in ALLOWED[eval_type]:
            raise ValueError(f"metric {metric} is not used for {eval_type} task")
    if RECALL in resolved and PRECISION not in resolved:
        resolved.append(PRECISION)
    if PRECISION in resolved and RECALL not in resolved:
        resolved.append(RECALL)
    return resolved


def validation_scores(eval_type: str, metrics: list[str], labels: np.ndarray, scores: np.ndarray,
                      predicted: np.ndarray | None = None, pos_label: Any = 1) -> dict[str, float]:
    """The single-value metrics of one data set, as FATE's validation during training computes them.

    ``metrics`` as in a ``callback_param`` (empty: auc+ks for binary, accuracy/precision/recall for multi,
    rmse+mae for regression); binary ``scores`` are the positive class's probabilities and ``labels`` are
    compared with ``pos_label``; multi needs the ``predicted`` classes; regression ``scores`` are the
    predicted values. Metrics without a single value (binary lift, roc, precision ...) are left out.
    """
    from fate_flow.ml.metrics.evaluate import evaluate, single_value

    resolved = resolve_metrics(eval_type, metrics, single_value=True)
    results = evaluate(eval_type, resolved, labels, scores, predicted, pos_label)
    values = {metric: single_value(eval_type, metric, result) for metric, result in results.items()}
    return {metric: value for metric, value in values.items() if value is not None}


_SUBMODULES = ("binary", "multi", "regression", "psi", "evaluate", "labels")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
