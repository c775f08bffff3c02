"""Metrics and summaries as FATE-Board reads them: a metric is (namespace, name) with a meta (its type,
units, curve names) and data points [key, value]; the summary is one JSON object per task."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fate_flow.framework.tracker import Tracker

LOSS, SUMMARY, CURVE = "LOSS", "EVALUATION_SUMMARY", "CURVE"


class Metrics:
    def __init__(self, tracker: Tracker):
        self._tracker = tracker
        self._described: set[tuple[str, str]] = set()

    def _describe(self, namespace: str, name: str, meta: dict[str, Any]) -> None:
        if (namespace, name) not in self._described:
            self._tracker.save_metric_meta(namespace, name, meta)
            self._described.add((namespace, name))

    def loss(self, iteration: int, value: float, namespace: str = "train", name: str = "loss") -> None:
        """One point of a loss curve (FATE's ``LOSS`` metric, unit ``iters``); the Board plots it live."""
        self._describe(namespace, name, {"name": name, "metric_type": LOSS, "unit_name": "iters"})
        self._tracker.save_metric_data(namespace, name, [[int(iteration), float(value)]])

    def curve(self, namespace: str, name: str, points: Iterable[tuple[Any, Any]], *, metric_type: str = CURVE,
              **meta: Any) -> None:
        """A whole curve at once (ROC, KS, lift ...): ``meta`` carries FATE's extra keys (curve_name,
        pair_type, thresholds ...)."""
        self._describe(namespace, name, {"name": name, "metric_type": metric_type, **meta})
        self._tracker.save_metric_data(namespace, name, [[key, value] for key, value in points])

    def scalars(self, namespace: str, name: str, values: Mapping[str, Any], *, metric_type: str = SUMMARY,
                **meta: Any) -> None:
        """Named values (``auc``, ``ks`` ...) as one metric, FATE's evaluation summary shape."""
        self._describe(namespace, name, {"name": name, "metric_type": metric_type, **meta})
        self._tracker.save_metric_data(namespace, name, [[key, value] for key, value in values.items()])

    def table(self, namespace: str, name: str, *, metric_type: str, title: str | None = None, **meta: Any) -> None:
        """A metric held wholly in its meta, without points (FATE's confusion matrix, F1, PSI, quantile PR and
        one-vs-rest tables); ``title`` is the meta's ``name`` when it is not the metric's own."""
        self._describe(namespace, name, {"name": title or name, "metric_type": metric_type, **meta})

    def summary(self, summary: Mapping[str, Any]) -> None:
        """The component's summary (``flow component get-summary``, the SDK's ``get_summary()``)."""
        self._tracker.save_summary(dict(summary))
