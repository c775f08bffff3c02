"""FATE's Evaluation over prediction tables: every requested metric of a data set, and how FATE 1.11 logs
each one, since FATE-Board draws them from exactly these names, metas and points.

For data ``D`` (the upstream component's name) in namespace ``train``, ``validate`` or ``predict``:

- single values (metric ``D``, type ``EVALUATION_SUMMARY``, points ``[metric, value]`` rounded to 6
  digits): auc, the best ks, every regression metric, multi accuracy and the class means of multi
  precision and recall; they are also the component's summary ``{D: {namespace: {metric: value}}}``;
- curves (metric ``D_<metric>``, type ``<METRIC>_EVALUATION``): roc, ks (``D_ks_fpr`` and ``D_ks_tpr``),
  lift, gain, binary accuracy, precision and recall (``<METRIC>_<EVAL_TYPE>_EVALUATION``);
- tables held in the meta alone (type ``<METRIC>``): confusion_mat, f1_score, quantile_pr, psi (validate
  scores against train scores).

``Evaluator`` runs it over several data sets (PSI pairs train and validate rows as FATE does);
``log_evaluation`` logs one data set's results, for components that validate while training.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from fate_flow.ml.metrics import (
    ACCURACY,
    AUC,
    BINARY,
    CONFUSION_MAT,
    F1_SCORE,
    GAIN,
    KS,
    LIFT,
    MULTI,
    PRECISION,
    PSI,
    QUANTILE_PR,
    RECALL,
    REGRESSION,
    ROC,
    binary,
    multi,
    regression,
)
from fate_flow.ml.metrics import psi as psi_metric
from fate_flow.ml.metrics.labels import as_numbers, as_text, class_keys, positive_labels
from fate_flow.ml.predict import PREDICT_HEADER, TEST

if TYPE_CHECKING:
    from fate_flow.framework.metrics import Metrics as MetricSink  # ctx.metrics: curve, scalars, table

ROUND = 6  # FATE rounds logged values to 6 digits
INFINITE_SINGLE_VALUE = -9999999.0  # what FATE logs for an infinite single value
PREDICTION_COLUMNS = PREDICT_HEADER  # label, predict_result, predict_score, predict_detail, type
# a prediction table's ``type`` -> the namespace FATE evaluates its rows under (FATE's test rows say "predict")
NAMESPACE_OF_TYPE = {TEST: "predict"}


@dataclass(frozen=True)
class Record:
    """One metric as FATE logs it: ``points`` ``[key, value]`` (none for a table held in the meta), the meta's
    extra keys, and ``title``, the meta's ``name`` when it is not the metric's own."""

    name: str
    metric_type: str
    points: list[tuple[Any, float]]
    meta: dict[str, Any]
    title: str | None = None


# -- computing ------------------------------------------------------------------------------------------------

def _binary_results(metrics: list[str], labels: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    binary.require_both_classes(labels)
    functions = {AUC: binary.auc, KS: binary.ks, ROC: binary.roc, LIFT: binary.lift, GAIN: binary.gain,
                 ACCURACY: binary.accuracy, CONFUSION_MAT: binary.confusion_mat, F1_SCORE: binary.f1_score,
                 QUANTILE_PR: binary.quantile_pr}
    results: dict[str, Any] = {}
    for metric in metrics:
        if metric in (PRECISION, RECALL):  # one computation gives both curves
            results[metric] = results.get(PRECISION) or results.get(RECALL) or binary.precision_recall(labels, scores)
        elif metric in functions:
            results[metric] = functions[metric](labels, scores)
    return results


def _scores(values: Any, what: str) -> np.ndarray:
    numbers = as_numbers(values)
    if numbers is None:
        raise ValueError(f"{what} must be numbers")
    if np.isnan(numbers).any():
        raise ValueError(f"{what} has {int(np.isnan(numbers).sum())} missing values")
    return numbers


def evaluate(eval_type: str, metrics: list[str], labels: Any, scores: Any, predicted: Any = None,
             pos_label: Any = 1) -> dict[str, Any]:
    """Each of ``metrics`` (FATE names, as ``resolve_metrics`` gives them) on one data set, in their order.

    Binary: ``scores`` are the positive class's probabilities, ``labels`` compared with ``pos_label``; multi:
    the ``predicted`` classes against ``labels``; regression: ``scores`` against ``labels``. psi is left out
    (it compares two data sets, see ``Evaluator``). ValueError when the data cannot give a metric.
    """
    if eval_type == BINARY:
        return _binary_results(metrics, positive_labels(labels, pos_label), _scores(scores, "predict_score"))
    if eval_type == MULTI:
        if predicted is None:
            raise ValueError("multi evaluation needs the predicted classes")
        true_classes, predicted_classes = class_keys(labels, predicted)
        results: dict[str, Any] = {}
        for metric in metrics:
            if metric == ACCURACY:
                results[metric] = multi.accuracy(true_classes, predicted_classes)
            elif metric in (PRECISION, RECALL):
                results[metric] = results.get(PRECISION) or results.get(RECALL) or multi.per_class(
                    true_classes, predicted_classes)
        return results
    if eval_type == REGRESSION:
        truth, values = _scores(labels, "label"), _scores(scores, "predict_score")
        return {metric: regression.METRICS[metric](truth, values) for metric in metrics
                if metric in regression.METRICS}
    raise ValueError(f"eval_type {eval_type} is not provided by this server's Evaluation")


def single_value(eval_type: str, metric: str, result: Any) -> float | None:
    """The single value FATE reports for a metric's result (None for curves and tables); infinity becomes
    -9999999 as in FATE."""
    value: float | None = None
    if metric == AUC or (eval_type == REGRESSION) or (eval_type == MULTI and metric == ACCURACY):
        value = float(result)
    elif metric == KS:
        value = result.value
    elif eval_type == MULTI and metric in (PRECISION, RECALL):
        value = float(np.mean(result.precision if metric == PRECISION else result.recall))
    if value is not None and math.isinf(value):
        return INFINITE_SINGLE_VALUE
    return value


# -- what FATE logs -------------------------------------------------------------------------------------------

def _rounded(values: Any) -> list[float]:
    return [float(v) for v in np.round(np.asarray(values, dtype=np.float64), ROUND)]


def _points(keys: Any, values: Any) -> list[tuple[Any, float]]:
    """Curve points as FATE logs them: float keys and values rounded, sorted by key."""
    keys = [round(float(k), ROUND) if isinstance(k, float | np.floating) else k for k in np.asarray(keys).tolist()]
    return sorted(zip(keys, _rounded(values), strict=True), key=lambda point: point[0])


def _curve_meta(**meta: Any) -> dict[str, Any]:
    """The meta keys that have a value (FATE drops empty ones), thresholds rounded."""
    if "thresholds" in meta:
        meta["thresholds"] = _rounded(meta["thresholds"])
    return {key: value for key, value in meta.items() if value}


def best_per_x(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """For each distinct ``x`` (in order of first appearance) the index of its highest ``y`` (the first one
    on ties): FATE draws one point per abscissa."""
    best: dict[float, int] = {}
    for index, (key, value) in enumerate(zip(x.tolist(), y.tolist(), strict=True)):
        if key not in best or value > y[best[key]]:
            best[key] = index
    return np.array(list(best.values()), dtype=np.int64)


def _ks_records(data: str, result: binary.KS) -> list[Record]:
    return [Record(f"{data}_ks_{rate}", "KS_EVALUATION", _points(result.cuts, values),
                   _curve_meta(curve_name=f"{data}_{rate}", pair_type=data, thresholds=result.thresholds))
            for rate, values in (("fpr", result.fpr), ("tpr", result.tpr))]


def _lift_gain_record(data: str, metric: str, curve: binary.Curve) -> Record:
    keep = best_per_x(curve.x, curve.y)
    x, y = np.append(curve.x[keep], 1.0), np.append(curve.y[keep], 1.0)
    thresholds = np.append(curve.thresholds[keep], 0.0)
    return Record(f"{data}_{metric}", f"{metric.upper()}_EVALUATION", _points(x, y),
                  _curve_meta(curve_name=data, thresholds=thresholds))


def _binary_pr_records(data: str, result: binary.PrecisionRecall) -> list[Record]:
    keep = best_per_x(result.recall, result.precision)  # one point per recall value, its best precision
    cuts = result.cuts[keep]
    # FATE drops the threshold of the last cut (under every score) when that cut is kept
    threshold_rows = keep[:-1] if keep[-1] == result.thresholds.size - 1 else keep
    thresholds = result.thresholds[threshold_rows]
    return [Record(f"{data}_{name}", f"{name.upper()}_BINARY_EVALUATION", _points(cuts, values[keep]),
                   _curve_meta(ordinate_name=name.capitalize(), curve_name=data, pair_type=data, thresholds=thresholds))
            for name, values in ((PRECISION, result.precision), (RECALL, result.recall))]


def _class_axis(per_class: multi.PerClass) -> tuple[list[Any], dict[str, np.ndarray]]:
    """Classes 0..max when they are whole numbers (a class never seen scores 0, as FATE pads), else as they are."""
    numbers = as_numbers(per_class.classes)
    values = {PRECISION: per_class.precision, RECALL: per_class.recall}
    if numbers is None or not np.all((numbers >= 0) & (numbers == np.round(numbers))):
        return per_class.classes.tolist(), values
    codes = numbers.astype(np.int64)
    padded = {}
    for name, scores in values.items():
        padded[name] = np.zeros(int(codes.max()) + 1)
        padded[name][codes] = scores
    return list(range(int(codes.max()) + 1)), padded


def _multi_pr_records(data: str, result: multi.PerClass) -> list[Record]:
    classes, values = _class_axis(result)
    return [Record(f"{data}_{name}", f"{name.upper()}_MULTI_EVALUATION", _points(classes, values[name]),
                   _curve_meta(ordinate_name=name.capitalize(), curve_name=data, pair_type=data))
            for name in (PRECISION, RECALL)]


def _table_record(data: str, metric: str, meta: dict[str, Any]) -> Record:
    return Record(f"{data}_{metric}", metric.upper(), [], meta)


def records(data: str, eval_type: str, metric: str, result: Any) -> list[Record]:
    """The curves and tables FATE logs for one metric's result (single values are logged apart)."""
    if metric == KS:
        return _ks_records(data, result)
    if metric == ROC:
        meta = _curve_meta(unit_name="fpr", ordinate_name="tpr", curve_name=data, thresholds=result.thresholds)
        return [Record(f"{data}_roc", "ROC_EVALUATION", _points(result.x, result.y), meta)]
    if metric in (LIFT, GAIN):
        return [_lift_gain_record(data, metric, result)]
    if metric == ACCURACY and eval_type == BINARY:
        return [Record(f"{data}_accuracy", "ACCURACY_EVALUATION", _points(result.x, result.y),
                       _curve_meta(curve_name=data, thresholds=result.thresholds))]
    if metric == PRECISION:  # recall's curve comes with precision's
        return _binary_pr_records(data, result) if eval_type == BINARY else _multi_pr_records(data, result)
    if metric == CONFUSION_MAT:
        matrix, thresholds = result
        return [_table_record(data, metric, {"tp": matrix.tp.tolist(), "tn": matrix.tn.tolist(),
                                             "fp": matrix.fp.tolist(), "fn": matrix.fn.tolist(),
                                             "thresholds": _rounded(thresholds)})]
    if metric == F1_SCORE:
        scores, thresholds = result
        return [_table_record(data, metric, {"f1_scores": _rounded(scores), "thresholds": _rounded(thresholds)})]
    if metric == QUANTILE_PR:
        precision, recall, thresholds = result
        return [_table_record(data, metric, {"p_scores": [[0.0, v] for v in _rounded(precision)],
                                             "r_scores": [[0.0, v] for v in _rounded(recall)],
                                             "thresholds": _rounded(thresholds)})]
    return []


def psi_record(data: str, result: psi_metric.PSI) -> Record:
    """FATE's PSI table (metric ``D_psi``, all in the meta)."""
    return _table_record(data, PSI, {
        "psi_scores": _rounded(result.scores), "total_psi": round(result.total, ROUND),
        "expected_interval": result.expected_count.tolist(),
        "expected_percentage": result.expected_percentage.tolist(),
        "actual_interval": result.actual_count.tolist(), "actual_percentage": result.actual_percentage.tolist(),
        "intervals": result.intervals, "train_pos_perc": result.train_pos_perc.tolist(),
        "validate_pos_perc": result.validate_pos_perc.tolist()})


def write(sink: MetricSink, namespace: str, record: Record) -> None:
    """Log one record: a curve when it has points, else a table in the meta."""
    if record.points:
        sink.curve(namespace, record.name, record.points, metric_type=record.metric_type, **record.meta)
    else:
        sink.table(namespace, record.name, metric_type=record.metric_type, title=record.title, **record.meta)


def log_evaluation(sink: MetricSink, data: str, namespace: str, eval_type: str,
                   results: dict[str, Any]) -> dict[str, float]:
    """Log one data set's results as FATE does; returns the single values (not rounded), metric -> value."""
    singles = {metric: value for metric, result in results.items()
               if (value := single_value(eval_type, metric, result)) is not None}
    if singles:
        sink.scalars(namespace, data, {metric: round(value, ROUND) for metric, value in singles.items()},
                     metric_type="EVALUATION_SUMMARY")
    for metric, result in results.items():
        for record in records(data, eval_type, metric, result):
            write(sink, namespace, record)
    return singles


# -- prediction tables ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Predictions:
    """The columns of a prediction table that Evaluation reads."""

    labels: np.ndarray
    predicted: np.ndarray
    scores: np.ndarray
    details: np.ndarray
    types: np.ndarray

    @classmethod
    def of(cls, table: Any) -> Predictions:
        """Read ``table``'s prediction columns (ValueError naming the first one it lacks)."""
        present = set(table.schema.columns())
        for column in PREDICTION_COLUMNS:
            if column not in present:
                raise ValueError(f"the table has no column {column!r}: it is not a prediction table "
                                 f"(columns {', '.join(PREDICTION_COLUMNS)})")
        return cls(*(np.asarray(table.column(column)) for column in PREDICTION_COLUMNS))

    def __len__(self) -> int:
        return int(self.labels.size)

    def take(self, rows: np.ndarray) -> Predictions:
        """The rows at ``rows`` (positions or a mask)."""
        return Predictions(self.labels[rows], self.predicted[rows], self.scores[rows], self.details[rows],
                           self.types[rows])

    def missing_labels(self) -> int:
        """How many rows have no label (a prediction of unlabelled data)."""
        if self.labels.dtype.kind == "f":
            return int(np.isnan(self.labels).sum())
        if self.labels.dtype.kind == "O":
            return int(np.count_nonzero(self.labels == None))  # noqa: E711 (elementwise: the column's nulls)
        return 0

    def by_namespace(self) -> Iterator[tuple[str, Predictions]]:
        """The rows of each ``type`` (train, validate, test ...), in order of first appearance, with the
        namespace FATE evaluates them under."""
        types = self.types.astype(str)
        kinds, first = np.unique(types, return_index=True)
        for kind in kinds[np.argsort(first)]:
            yield NAMESPACE_OF_TYPE.get(kind, kind), self.take(types == kind)


@dataclass
class Evaluator:
    """FATE's Evaluation over several data sets: metrics logged to a sink, the summary gathered.

    psi, when asked, compares the latest train rows with the next validate rows (or the reverse),
    whatever data set they come from, as FATE pairs them.
    """

    eval_type: str
    metrics: list[str]
    pos_label: Any = 1
    unfold_multi_result: bool = False
    summary: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    _psi_sides: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def evaluate(self, sink: MetricSink, data: str, predictions: Predictions) -> None:
        """Evaluate and log every namespace of one data set (``data``: the upstream component's name)."""
        for namespace, rows in predictions.by_namespace():
            results = evaluate(self.eval_type, self.metrics, rows.labels, rows.scores, rows.predicted,
                               self.pos_label)
            singles = log_evaluation(sink, data, namespace, self.eval_type, results)
            if singles:
                self.summary.setdefault(data, {})[namespace] = singles
            if PSI in self.metrics and self.eval_type == BINARY:
                self._psi(sink, data, namespace, rows)
        if self.unfold_multi_result and self.eval_type == MULTI:
            self._one_vs_rest(sink, data, predictions)

    def _psi(self, sink: MetricSink, data: str, namespace: str, rows: Predictions) -> None:
        if namespace not in ("train", "validate"):
            return
        self._psi_sides[namespace] = (_scores(rows.scores, "predict_score"),
                                      positive_labels(rows.labels, self.pos_label))
        if len(self._psi_sides) == 2:
            (train_scores, train_labels), (validate_scores, validate_labels) = (
                self._psi_sides.pop("train"), self._psi_sides.pop("validate"))
            result = psi_metric.psi(train_scores, validate_scores, train_labels, validate_labels)
            write(sink, namespace, psi_record(data, result))

    def _one_vs_rest(self, sink: MetricSink, data: str, predictions: Predictions) -> None:
        """FATE's ``unfold_multi_result``: each class against the rest, auc and ks, as metas
        ``D_class_<c>_ovr`` in train and validate. FATE evaluates every row of the data under each
        namespace (it unfolds the whole data set per namespace), so both metas hold the same values."""
        details = [_detail(text) for text in predictions.details]  # JSON text per row: one parse each
        classes = list(dict.fromkeys(key for row in details for key in row))
        truth = as_text(predictions.labels)
        namespaces = {namespace for namespace, _ in predictions.by_namespace()}
        for label in classes:
            labels = (truth == str(label)).astype(np.int64)
            scores = np.array([float(row.get(label, 0.0)) for row in details])
            values = {AUC: _or_zero(binary.auc, labels, scores), KS: _or_zero(lambda y, s: binary.ks(y, s).value,
                                                                                labels, scores)}
            # FATE files every namespace but train (validate, predict) under validate
            filled = {"train": "train" in namespaces, "validate": bool(namespaces - {"train"})}
            for namespace, has_rows in filled.items():
                extra = {str(label): values} if has_rows else {}
                sink.table(namespace, f"{data}_class_{label}_ovr", metric_type="ovr", title=data, **extra)


def _detail(text: Any) -> dict[str, Any]:
    """A row's predict_detail, class -> probability: JSON (FATE's own tables quote it once more, as a
    Python-style dict in a JSON string)."""
    value = json.loads(text) if isinstance(text, str) else text
    if isinstance(value, str):
        value = json.loads(value.replace("'", '"'))
    return dict(value)


def _or_zero(function: Any, labels: np.ndarray, scores: np.ndarray) -> float:
    """FATE scores a one-vs-rest auc or ks 0 when the class is all or nothing of the labels."""
    try:
        return float(function(labels, scores))
    except ValueError:
        return 0.0
