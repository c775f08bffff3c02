"""Labels as the metrics compare them: a prediction table may hold labels as numbers (``1.0``) and predicted
classes as text (``"1"``), or a conf may give ``pos_label`` as text; numbers are compared as numbers and
anything else as text, so ``1``, ``1.0`` and ``"1"`` are the same class."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_numbers(values: Any) -> np.ndarray | None:
    """``values`` as float64 when every one of them is a number (or numeric text), else None."""
    array = np.asarray(values)
    if array.dtype.kind in "biuf":
        return array.astype(np.float64, copy=False)
    try:
        return array.astype(np.float64)
    except (TypeError, ValueError):
        return None


def as_text(values: Any) -> np.ndarray:
    """``values`` as text; whole numbers lose their ``.0`` so that ``1.0`` reads ``"1"`` as a class name does."""
    numbers = as_numbers(values)
    if numbers is not None and np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)):
        return numbers.astype(np.int64).astype(str)
    return np.asarray(values).astype(str)


def positive_labels(labels: Any, pos_label: Any = 1) -> np.ndarray:
    """1 where a label is ``pos_label``, else 0 (FATE maps binary labels so before every binary metric)."""
    numbers, positive = as_numbers(labels), as_numbers([pos_label])
    if numbers is not None and positive is not None:
        return (numbers == positive[0]).astype(np.int64)
    return (as_text(labels) == as_text([pos_label])[0]).astype(np.int64)


def class_keys(labels: Any, predicted: Any) -> tuple[np.ndarray, np.ndarray]:
    """True and predicted classes in one comparable form: numbers when both sides are numbers, else text."""
    true_numbers, predicted_numbers = as_numbers(labels), as_numbers(predicted)
    if true_numbers is not None and predicted_numbers is not None:
        return true_numbers, predicted_numbers
    return as_text(labels), as_text(predicted)
