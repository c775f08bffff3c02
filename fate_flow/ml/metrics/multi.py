"""Multi-class metrics (FATE: scikit-learn's accuracy_score, and precision_score / recall_score with
``average=None`` over the classes seen in the labels or the predictions, sorted)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PerClass:
    """Precision and recall of each class (``classes`` sorted; 0 for a class never predicted / never true)."""

    classes: np.ndarray
    precision: np.ndarray
    recall: np.ndarray


def accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """The share of samples whose predicted class is the true one."""
    return float(np.mean(labels == predicted))


def per_class(labels: np.ndarray, predicted: np.ndarray) -> PerClass:
    """Precision and recall per class, the classes being those of the labels and the predictions."""
    classes, codes = np.unique(np.concatenate([labels, predicted]), return_inverse=True)
    codes = codes.reshape(-1)
    true_codes, predicted_codes = codes[:labels.size], codes[labels.size:]
    size = classes.size
    hits = np.bincount(true_codes[true_codes == predicted_codes], minlength=size)
    predicted_counts = np.bincount(predicted_codes, minlength=size)
    true_counts = np.bincount(true_codes, minlength=size)
    precision = np.divide(hits, predicted_counts, out=np.zeros(size), where=predicted_counts > 0)
    recall = np.divide(hits, true_counts, out=np.zeros(size), where=true_counts > 0)
    return PerClass(classes=classes, precision=precision, recall=recall)
