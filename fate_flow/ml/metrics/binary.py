"""Binary-classification metrics, computed as FATE 1.11 computes them (``evaluation/metrics/classification_metric.py``
and ``metric_interface.py``), so the numbers equal FATE's.

``labels`` are 1 (positive) / 0 (see ``labels.positive_labels``), ``scores`` the positive class's
probabilities. A sample is predicted positive when its score is strictly above the threshold. FATE
samples its curves at 100 cuts, and the cuts differ by metric:

- step (lift, gain, accuracy, precision, recall): the distinct scores in descending order, taken at
  ``int(count * i / 100)``;
- index (ks): every score in descending order, taken the same way;
- fixed (f1_score, confusion_mat): the thresholds 0.00, 0.01 ... 0.99;
- quantile (quantile_pr, psi): the 0, 5 ... 100 % quantiles of the scores (``nearest``).

auc and the ROC curve are scikit-learn's; FATE then samples the ROC at 100 cuts of its thresholds.
Counting uses two sorted arrays and ``searchsorted``: O(n log n) whatever the number of thresholds.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

STEP_CUTS = np.arange(0, 1, 0.01)  # FATE's cut_by_step (the same floats: int(n * cut) depends on them)
INDEX_CUTS = np.arange(100) / 100  # cut_by_index
FIXED_THRESHOLDS = np.arange(100) * 0.01  # fixed_interval_threshold
QUANTILES = [round(i * 0.05, 3) for i in range(20)] + [1.0]
LIFT_WITHOUT_POSITIVES = sys.float_info.max  # FATE's lift when the data has no positive sample


@dataclass(frozen=True)
class Counts:
    """The confusion matrix at each threshold (one entry per threshold)."""

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray

    def precision(self) -> np.ndarray:
        """tp / (tp + fp), and 1 where nothing is predicted positive (FATE's value, it keeps PR curves drawable)."""
        predicted = self.tp + self.fp
        return np.where(predicted > 0, self.tp / np.maximum(predicted, 1), 1.0)

    def recall(self) -> np.ndarray:
        """tp / (tp + fn)."""
        positives = self.tp + self.fn
        return self.tp / np.maximum(positives, 1)


@dataclass(frozen=True)
class Curve:
    """A curve sampled at thresholds: ``y`` against ``x``, both cut at ``thresholds``."""

    x: np.ndarray
    y: np.ndarray
    thresholds: np.ndarray


@dataclass(frozen=True)
class KS:
    """FATE's KS: the best ``tpr - fpr`` over the index cuts, and both curves (``cuts`` ends with 1.0, where
    both rates are 1; ``thresholds`` has one entry per cut before it)."""

    value: float
    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    cuts: np.ndarray


@dataclass(frozen=True)
class PrecisionRecall:
    """Precision and recall at the step cuts plus one last threshold under every score (101 points)."""

    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray
    cuts: np.ndarray


def require_both_classes(labels: np.ndarray) -> None:
    """ValueError unless ``labels`` hold positive and negative samples (FATE's auc and ks need both)."""
    positives = int(np.count_nonzero(labels))
    if positives == 0 or positives == labels.size:
        kind = "positive" if positives else "negative"
        raise ValueError(f"binary evaluation needs positive and negative samples, the labels are all {kind}")


def counts(labels: np.ndarray, scores: np.ndarray, thresholds: np.ndarray) -> Counts:
    """The confusion matrix at every threshold (a score strictly above it is predicted positive)."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    positive = np.sort(scores[labels == 1])
    negative = np.sort(scores[labels != 1])
    tp = positive.size - np.searchsorted(positive, thresholds, side="right")
    fp = negative.size - np.searchsorted(negative, thresholds, side="right")
    return Counts(tp=tp, fp=fp, fn=positive.size - tp, tn=negative.size - fp)


def step_thresholds(scores: np.ndarray, add_to_end: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """FATE's step cut: 100 thresholds from the distinct scores (descending) and their cuts; ``add_to_end``
    appends a threshold 0.001 under the lowest one, at cut 1 (every sample predicted positive)."""
    distinct = np.unique(scores)[::-1]
    thresholds = distinct[(distinct.size * STEP_CUTS).astype(np.int64)]
    cuts = STEP_CUTS
    if add_to_end:
        thresholds = np.append(thresholds, thresholds.min() - 0.001)
        cuts = np.append(cuts, 1.0)
    return thresholds, cuts


def quantile_thresholds(scores: np.ndarray, remove_duplicate: bool = True) -> np.ndarray:
    """The 0, 5 ... 100 % quantiles of ``scores`` (nearest), ascending; distinct ones when ``remove_duplicate``
    (then at least the minimum and the maximum)."""
    values = np.quantile(scores, QUANTILES, method="nearest")
    values = np.unique(values) if remove_duplicate else np.sort(values)
    if values.size == 1:
        values = np.array([scores.min(), scores.max()])
    return values


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The area under the ROC curve (scikit-learn's roc_auc_score): the Mann-Whitney statistic, tied scores
    sharing their average rank."""
    require_both_classes(labels)
    _, inverse, sizes = np.unique(scores, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(sizes) - (sizes - 1) / 2.0
    ranks = average_rank[inverse.reshape(-1)]
    positives = float(np.count_nonzero(labels))
    negatives = labels.size - positives
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's roc_curve (``drop_intermediate``): fpr, tpr and the decreasing thresholds, the first
    being the highest score + 1 as in the scikit-learn FATE 1.11 ships (1.0.1; newer ones put infinity)."""
    order = np.argsort(scores, kind="mergesort")[::-1]
    ordered_scores, ordered_labels = scores[order], labels[order]
    last_of_value = np.r_[np.flatnonzero(np.diff(ordered_scores)), ordered_labels.size - 1]
    tps = np.cumsum(ordered_labels)[last_of_value]
    fps = 1 + last_of_value - tps
    thresholds = ordered_scores[last_of_value]
    if tps.size > 2:  # drop the points on a straight line between their neighbours
        corners = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
        tps, fps, thresholds = tps[corners], fps[corners], thresholds[corners]
    tps, fps = np.r_[0, tps], np.r_[0, fps]
    thresholds = np.r_[thresholds[0] + 1, thresholds]
    return fps / fps[-1], tps / tps[-1], thresholds


def roc(labels: np.ndarray, scores: np.ndarray) -> Curve:
    """FATE's ROC curve: scikit-learn's, sampled at 100 cuts of its thresholds, each point once, and the
    corner (1, 1) at threshold 1 appended (x: fpr, y: tpr)."""
    require_both_classes(labels)
    fpr, tpr, thresholds = roc_curve(labels, scores)
    picks = np.unique((thresholds.size * STEP_CUTS).astype(np.int64))  # the cuts repeat points on short curves
    return Curve(x=np.append(fpr[picks], 1.0), y=np.append(tpr[picks], 1.0),
                 thresholds=np.append(thresholds[picks], 1.0))


def ks(labels: np.ndarray, scores: np.ndarray) -> KS:
    """FATE's Kolmogorov-Smirnov statistic: the largest ``tpr - fpr`` at the 100 index cuts (every point
    of the ROC curve when there are at most 100 samples)."""
    require_both_classes(labels)
    descending = np.sort(scores)[::-1]
    thresholds = descending[(descending.size * INDEX_CUTS).astype(np.int64)]
    matrix = counts(labels, scores, thresholds)
    positives = np.count_nonzero(labels)
    tpr = matrix.tp / positives
    fpr = matrix.fp / (labels.size - positives)
    return KS(value=float(np.max(tpr - fpr)), fpr=np.append(fpr, 1.0), tpr=np.append(tpr, 1.0),
              thresholds=thresholds, cuts=np.append(INDEX_CUTS, 1.0))


def _predicted_share(matrix: Counts, size: int) -> np.ndarray:
    return (matrix.tp + matrix.fp) / size


def lift(labels: np.ndarray, scores: np.ndarray) -> Curve:
    """Lift of the positive class at the step cuts: x the share predicted positive, y the precision over
    the share of positives."""
    thresholds, _ = step_thresholds(scores)
    matrix = counts(labels, scores, thresholds)
    base_rate = (matrix.tp + matrix.fn) / labels.size
    lifted = matrix.precision() / np.where(base_rate > 0, base_rate, 1.0)
    return Curve(x=_predicted_share(matrix, labels.size), y=np.where(base_rate > 0, lifted, LIFT_WITHOUT_POSITIVES),
                 thresholds=thresholds)


def gain(labels: np.ndarray, scores: np.ndarray) -> Curve:
    """Gain of the positive class at the step cuts: x the share predicted positive, y the recall (1 when
    there is no positive)."""
    thresholds, _ = step_thresholds(scores)
    matrix = counts(labels, scores, thresholds)
    positives = matrix.tp + matrix.fn
    return Curve(x=_predicted_share(matrix, labels.size),
                 y=np.where(positives > 0, matrix.tp / np.maximum(positives, 1), 1.0), thresholds=thresholds)


def accuracy(labels: np.ndarray, scores: np.ndarray) -> Curve:
    """Accuracy at the 100 step cuts (x: the cut)."""
    thresholds, cuts = step_thresholds(scores)
    matrix = counts(labels, scores, thresholds)
    return Curve(x=cuts, y=(matrix.tp + matrix.tn) / labels.size, thresholds=thresholds)


def precision_recall(labels: np.ndarray, scores: np.ndarray) -> PrecisionRecall:
    """Precision and recall at the step cuts and at a last threshold under every score."""
    thresholds, cuts = step_thresholds(scores, add_to_end=True)
    matrix = counts(labels, scores, thresholds)
    return PrecisionRecall(precision=matrix.precision(), recall=matrix.recall(), thresholds=thresholds, cuts=cuts)


def confusion_mat(labels: np.ndarray, scores: np.ndarray) -> tuple[Counts, np.ndarray]:
    """The confusion matrix at the fixed thresholds 0.00 ... 0.99, and those thresholds."""
    return counts(labels, scores, FIXED_THRESHOLDS), FIXED_THRESHOLDS


def f1_score(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F1 at the fixed thresholds 0.00 ... 0.99 (precision 1 where nothing is predicted positive; a zero
    denominator counts as 1e-6, as FATE does), and those thresholds."""
    matrix = counts(labels, scores, FIXED_THRESHOLDS)
    precision, recall = matrix.precision(), matrix.recall()
    denominator = precision + recall
    denominator[denominator == 0] = 1e-6
    return 2 * precision * recall / denominator, FIXED_THRESHOLDS


def quantile_pr(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall at the 21 quantiles of the scores (duplicates kept), thresholds ascending."""
    thresholds = quantile_thresholds(scores, remove_duplicate=False)
    matrix = counts(labels, scores, thresholds)
    return matrix.precision(), matrix.recall(), thresholds
