"""Prediction output as FATE writes it: one row per sample with ``label``, ``predict_result``,
``predict_score``, ``predict_detail`` (JSON text, class -> probability) and ``type`` (``train``,
``validate`` or ``predict``). Evaluation reads these columns; FATE-Board and ``flow component output-data``
show them."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from fate_flow.engine.standalone import ArrowTable
from fate_flow.engine.table import Schema, Table

PREDICT_HEADER = ("label", "predict_result", "predict_score", "predict_detail", "type")
TRAIN, VALIDATE, TEST = "train", "validate", "predict"


def _details(classes: Sequence[str], probabilities: np.ndarray) -> list[str]:
    rounded = np.round(probabilities, 8)
    return [json.dumps(dict(zip(classes, map(float, row), strict=True))) for row in rounded]


def binary_output(sids: np.ndarray, labels: np.ndarray | None, scores: np.ndarray, threshold: float,
                  kind: str, classes: Sequence[str] = ("0", "1"), sid_name: str = "id") -> Table:
    """Rows for a binary classifier: ``scores`` is the probability of the positive class."""
    scores = np.asarray(scores, dtype=np.float64)
    negative, positive = classes
    results = np.where(scores > threshold, positive, negative)
    details = _details(classes, np.column_stack([1.0 - scores, scores]))
    return _table(sids, labels, results, scores, details, kind, sid_name)


def multi_output(sids: np.ndarray, labels: np.ndarray | None, probabilities: np.ndarray, classes: Sequence[str],
                 kind: str, sid_name: str = "id") -> Table:
    """Rows for a one-vs-rest classifier: ``probabilities`` is rows x classes."""
    best = probabilities.argmax(axis=1)
    results = np.asarray(classes, dtype=object)[best]
    scores = probabilities[np.arange(len(best)), best]
    return _table(sids, labels, results, scores, _details(classes, probabilities), kind, sid_name)


def regression_output(sids: np.ndarray, labels: np.ndarray | None, values: np.ndarray, kind: str,
                      sid_name: str = "id") -> Table:
    """Rows for a regressor: result and score are the predicted value."""
    values = np.asarray(values, dtype=np.float64)
    details = [json.dumps({"label": float(v)}) for v in np.round(values, 8)]
    return _table(sids, labels, values, values, details, kind, sid_name)


def _table(sids: np.ndarray, labels: np.ndarray | None, results: np.ndarray, scores: np.ndarray,
           details: list[str], kind: str, sid_name: str) -> Table:
    rows = len(sids)
    label_column = pa.array(np.asarray(labels)) if labels is not None else pa.nulls(rows, pa.float64())
    result_values = np.asarray(results)
    result_column = pa.array(result_values.astype(str) if result_values.dtype == object else result_values)
    data = pa.table({sid_name: pa.array(np.asarray(sids).astype(str), type=pa.string()),
                     "label": label_column, "predict_result": result_column,
                     "predict_score": pa.array(np.asarray(scores, dtype=np.float64)),
                     "predict_detail": pa.array(details, type=pa.string()),
                     "type": pa.array([kind] * rows, type=pa.string())})
    return ArrowTable(Schema(sid=sid_name, header=PREDICT_HEADER), data)


def concat(tables: Sequence[Table]) -> Table:
    """Prediction tables one after the other (train rows, then validate rows), as FATE outputs them."""
    arrow = [t.data for t in tables if isinstance(t, ArrowTable)]
    data = pa.concat_tables(arrow, promote_options="permissive")
    return ArrowTable(tables[0].schema, data)
