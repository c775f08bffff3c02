"""Evaluation and its metrics.

The metric functions (fate_flow.ml.metrics) against scikit-learn on random scores with ties, FATE's
threshold cuts recomputed plainly here; then one job on a real standalone server: a test component
(tests/components/fixed_predictions.py) turns known labels and scores into FATE's prediction tables, and
Evaluation's metrics (names, metas, points), summary and refusals are checked against scikit-learn.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as sk

from fate_flow.ml.metrics import binary, multi, regression, resolve_metrics, validation_scores
from fate_flow.ml.metrics.evaluate import evaluate, single_value
from fate_flow.ml.metrics.labels import positive_labels
from fate_flow.ml.metrics.psi import psi
from tests.algorithms.conftest import ARBITER, GUEST, HOST, standalone_server
from tests.jobs import component_call, dumps, job_conf, reader_params, run_job, submit, summary, upload

QUANTILES = [round(i * 0.05, 3) for i in range(20)] + [1.0]


def _binary_data(seed: int, size: int, digits: int | None = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size)
    scores = np.clip(rng.random(size) * 0.7 + labels * 0.25, 0, 1)
    return labels, (np.round(scores, digits) if digits is not None else scores)


def _predicted(scores: np.ndarray, threshold: float) -> np.ndarray:
    return (scores > threshold).astype(int)


def _some(cuts: int) -> np.ndarray:
    """Every 6th cut and the last: scikit-learn called per threshold is slow."""
    return np.unique(np.r_[np.arange(0, cuts, 6), cuts - 1])


# -- metric functions against scikit-learn -----------------------------------------------------------------

@pytest.mark.parametrize("size", [9, 80, 100, 733, 4000])
@pytest.mark.parametrize("digits", [1, 2, None])
def test_auc_and_roc_equal_scikit_learn(size, digits):
    labels, scores = _binary_data(size, size, digits)
    assert binary.auc(labels, scores) == pytest.approx(sk.roc_auc_score(labels, scores), abs=1e-12)
    fpr, tpr, thresholds = binary.roc_curve(labels, scores)
    sk_fpr, sk_tpr, sk_thresholds = sk.roc_curve(labels, scores)
    assert np.array_equal(fpr, sk_fpr) and np.array_equal(tpr, sk_tpr)
    assert np.array_equal(thresholds[1:], sk_thresholds[1:])
    assert thresholds[0] == scores.max() + 1  # the scikit-learn FATE ships; newer ones write infinity


@pytest.mark.parametrize("size", [12, 57, 100])
def test_ks_is_the_largest_gap_between_tpr_and_fpr(size):
    labels, scores = _binary_data(size + 1, size)
    fpr, tpr, _ = sk.roc_curve(labels, scores)
    assert binary.ks(labels, scores).value == pytest.approx(np.max(tpr - fpr), abs=1e-12)


def test_ks_of_many_samples_is_taken_at_fate_cuts():
    labels, scores = _binary_data(3, 2500, digits=None)
    descending = np.sort(scores)[::-1]
    gaps = []
    for cut in range(100):  # FATE: the sorted scores at int(n * i / 100), predicted positive when above
        threshold = descending[int(len(scores) * (cut / 100))]
        predicted = _predicted(scores, threshold)
        gaps.append(sk.recall_score(labels, predicted) - predicted[labels == 0].mean())
    result = binary.ks(labels, scores)
    assert result.value == pytest.approx(max(gaps), abs=1e-12)
    assert len(result.fpr) == len(result.tpr) == len(result.cuts) == 101 and len(result.thresholds) == 100
    fpr, tpr, _ = sk.roc_curve(labels, scores)
    assert result.value <= np.max(tpr - fpr) + 1e-12


@pytest.mark.parametrize("size", [40, 350])
def test_threshold_curves_equal_scikit_learn_at_each_threshold(size):
    labels, scores = _binary_data(size + 7, size)
    pr = binary.precision_recall(labels, scores)
    assert len(pr.thresholds) == 101 and pr.thresholds[-1] == pytest.approx(scores.min() - 0.001)
    every = _some(101)
    for threshold, precision, recall in zip(pr.thresholds[every], pr.precision[every], pr.recall[every], strict=True):
        predicted = _predicted(scores, threshold)
        assert precision == pytest.approx(sk.precision_score(labels, predicted, zero_division=1.0))
        assert recall == pytest.approx(sk.recall_score(labels, predicted))
    accuracy = binary.accuracy(labels, scores)
    every = _some(100)
    for threshold, value in zip(accuracy.thresholds[every], accuracy.y[every], strict=True):
        assert value == pytest.approx(sk.accuracy_score(labels, _predicted(scores, threshold)))
    gain, lift = binary.gain(labels, scores), binary.lift(labels, scores)
    for threshold, share, recall, lifted in zip(gain.thresholds[every], gain.x[every], gain.y[every], lift.y[every],
                                                strict=True):
        predicted = _predicted(scores, threshold)
        assert share == pytest.approx(predicted.mean())
        assert recall == pytest.approx(sk.recall_score(labels, predicted))
        assert lifted == pytest.approx(sk.precision_score(labels, predicted, zero_division=1.0) / labels.mean())
    f1, fixed = binary.f1_score(labels, scores)
    matrix, _ = binary.confusion_mat(labels, scores)
    assert np.allclose(fixed, np.arange(100) * 0.01)
    for index in _some(100):
        threshold = fixed[index]
        predicted = _predicted(scores, threshold)
        assert f1[index] == pytest.approx(sk.f1_score(labels, predicted, zero_division=0.0))
        tn, fp, fn, tp = sk.confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
        assert (matrix.tp[index], matrix.fp[index], matrix.fn[index], matrix.tn[index]) == (tp, fp, fn, tn)
    precision, recall, thresholds = binary.quantile_pr(labels, scores)
    assert np.array_equal(thresholds, np.sort(np.quantile(scores, QUANTILES, method="nearest")))
    for threshold, p, r in zip(thresholds, precision, recall, strict=True):
        predicted = _predicted(scores, threshold)
        assert p == pytest.approx(sk.precision_score(labels, predicted, zero_division=1.0))
        assert r == pytest.approx(sk.recall_score(labels, predicted))


def _psi_reference(train: np.ndarray, validate: np.ndarray) -> float:
    edges = np.unique(np.quantile(train, QUANTILES, method="nearest"))
    total = 0.0
    for index, (left, right) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        last = index == len(edges) - 2

        def share(scores, left=left, right=right, last=last):
            inside = (scores >= left) & ((scores <= right) if last else (scores < right))
            return max(int(inside.sum()), 1e-6) / len(scores)

        expected, actual = share(train), share(validate)
        total += (actual - expected) * math.log(actual / expected)
    return total


def test_psi_equals_a_plain_computation():
    labels, scores = _binary_data(11, 900)
    shifted = np.clip(scores[600:] + 0.05, 0, 1.2)  # some validate scores beyond the train range
    result = psi(scores[:600], shifted, labels[:600], labels[600:])
    assert result.total == pytest.approx(_psi_reference(scores[:600], shifted), abs=1e-12)
    assert result.expected_count.sum() == 600 and result.actual_count.sum() <= 300
    assert result.intervals[0].startswith("[") and result.intervals[-1].endswith("]")


def test_multi_and_regression_equal_scikit_learn():
    rng = np.random.default_rng(5)
    truth, guess = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    guess[guess == 3] = 2  # class 3 never predicted: precision 0 as scikit-learn's zero_division=0
    per_class = multi.per_class(truth, guess)
    assert np.allclose(per_class.precision, sk.precision_score(truth, guess, average=None, zero_division=0))
    assert np.allclose(per_class.recall, sk.recall_score(truth, guess, average=None, zero_division=0))
    assert multi.accuracy(truth, guess) == pytest.approx(sk.accuracy_score(truth, guess))
    # labels as numbers and predicted classes as text compare as the same classes
    assert validation_scores("multi", [], truth.astype(float), None, guess.astype(str)) == pytest.approx({
        "accuracy": sk.accuracy_score(truth, guess),
        "precision": sk.precision_score(truth, guess, average="macro", zero_division=0),
        "recall": sk.recall_score(truth, guess, average="macro", zero_division=0)})
    labels, predicted = rng.normal(size=500), rng.normal(size=500)
    expected = {"explained_variance": sk.explained_variance_score, "mean_absolute_error": sk.mean_absolute_error,
                "mean_squared_error": sk.mean_squared_error, "median_absolute_error": sk.median_absolute_error,
                "r2_score": sk.r2_score,
                "root_mean_squared_error": lambda a, b: math.sqrt(sk.mean_squared_error(a, b))}
    for name, reference in expected.items():
        assert regression.METRICS[name](labels, predicted) == pytest.approx(reference(labels, predicted), abs=1e-12)
    constant = np.full(10, 3.0)
    assert regression.r2_score(constant, constant) == 1.0 and regression.r2_score(constant, constant + 1) == 0.0


def test_metric_names_aliases_and_validation_defaults():
    assert resolve_metrics("regression", ["RMSE", "l1", "mse", "R2", "regression_l1"]) == [
        "root_mean_squared_error", "mean_absolute_error", "mean_squared_error", "r2_score"]
    assert resolve_metrics("binary", ["recall", "AUC"]) == ["recall", "auc", "precision"]
    assert resolve_metrics("multi", None) == ["accuracy", "precision", "recall"]
    assert resolve_metrics("binary", [], single_value=True) == ["auc", "ks"]
    assert resolve_metrics("regression", None, single_value=True) == ["root_mean_squared_error", "mean_absolute_error"]
    assert resolve_metrics("binary", ["psi", "auc", "confusion_mat"], single_value=True) == ["auc"]
    for eval_type, metrics, message in [("binary", ["rmse"], "not used for binary"),
                                        ("regression", ["msle"], "not used for regression"),
                                        ("binary", ["DBI"], "not supported"), ("multi", ["auc"], "not used for multi")]:
        with pytest.raises(ValueError, match=message):
            resolve_metrics(eval_type, metrics)
    labels, scores = _binary_data(2, 200)
    fpr, tpr, _ = sk.roc_curve(labels, scores)
    assert validation_scores("binary", [], labels, scores) == pytest.approx(
        {"auc": sk.roc_auc_score(labels, scores), "ks": binary.ks(labels, scores).value})
    assert validation_scores("binary", ["lift", "auc"], labels, scores).keys() == {"auc"}
    # pos_label picks the positive class: labels 2/5 with 5 positive are labels 0/1
    relabelled = np.where(labels == 1, 5, 2)
    assert validation_scores("binary", ["auc"], relabelled, scores, pos_label="5") == pytest.approx(
        {"auc": sk.roc_auc_score(labels, scores)})
    assert np.array_equal(positive_labels(relabelled.astype(str), 5), labels)
    regression_scores = validation_scores("regression", [], scores, labels.astype(float))
    assert regression_scores == pytest.approx({
        "root_mean_squared_error": math.sqrt(sk.mean_squared_error(scores, labels)),
        "mean_absolute_error": sk.mean_absolute_error(scores, labels)})
    with pytest.raises(ValueError, match="positive and negative"):
        evaluate("binary", ["auc"], np.ones(5), np.linspace(0, 1, 5))
    assert single_value("binary", "roc", binary.roc(labels, scores)) is None


class _Sink:
    """What Evaluation logs, namespace -> name -> meta (tables only)."""

    def __init__(self):
        self.tables: dict[str, dict[str, dict]] = {}

    def curve(self, namespace, name, points, *, metric_type, **meta):
        pass

    def scalars(self, namespace, name, values, *, metric_type, **meta):
        pass

    def table(self, namespace, name, *, metric_type, title=None, **meta):
        self.tables.setdefault(namespace, {})[name] = {"name": title or name, "metric_type": metric_type, **meta}


def test_unfold_multi_result_gives_one_vs_rest_auc_and_ks():
    import json

    from fate_flow.ml.metrics.evaluate import Evaluator, Predictions

    rng = np.random.default_rng(9)
    truth = rng.integers(0, 3, 120)
    probabilities = rng.random((120, 3))
    probabilities[np.arange(120), truth] += 0.3
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    details = np.array([json.dumps({str(c): float(p) for c, p in enumerate(row)}) for row in probabilities])
    predictions = Predictions(labels=truth.astype(float), predicted=probabilities.argmax(axis=1).astype(str),
                              scores=probabilities.max(axis=1), details=details,
                              types=np.array(["train"] * 80 + ["validate"] * 40))
    sink = _Sink()
    Evaluator("multi", resolve_metrics("multi", None), unfold_multi_result=True).evaluate(sink, "lr_0", predictions)
    for label in ("0", "1", "2"):
        meta = sink.tables["validate"][f"lr_0_class_{label}_ovr"]
        assert meta["name"] == "lr_0" and meta["metric_type"] == "ovr"
        positives = (truth == int(label)).astype(int)
        fpr, tpr, _ = sk.roc_curve(positives, probabilities[:, int(label)])
        # FATE evaluates every row of the data under each namespace
        assert meta[label] == pytest.approx({"auc": sk.roc_auc_score(positives, probabilities[:, int(label)]),
                                             "ks": binary.ks(positives, probabilities[:, int(label)]).value})
        assert meta[label]["ks"] <= np.max(tpr - fpr) + 1e-12
        assert sink.tables["train"][f"lr_0_class_{label}_ovr"][label] == meta[label]


# -- Evaluation on a real server ------------------------------------------------------------------------------

SIZES = {"train": 90, "validate": 70, "predict": 40}  # up to 100 rows per type: FATE's ks is then the exact one
EVAL, DATA = "evaluation_0", ("fixed_0", "fixed_1")
DSL = {"components": {
    "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
    "fixed_0": {"module": "FixedPredictions", "input": {"data": {"data": ["reader_0.data"]}},
                "output": {"data": ["data"]}},
    "fixed_1": {"module": "FixedPredictions", "input": {"data": {"data": ["reader_0.data"]}},
                "output": {"data": ["data"]}},
    "fixed_multi": {"module": "FixedPredictions", "input": {"data": {"data": ["reader_0.data"]}},
                    "output": {"data": ["data"]}},
    "fixed_regression": {"module": "FixedPredictions", "input": {"data": {"data": ["reader_0.data"]}},
                         "output": {"data": ["data"]}},
    EVAL: {"module": "Evaluation", "input": {"data": {"data": ["fixed_0.data", "fixed_1.data"]}},
           "output": {"data": ["data"]}},
    "evaluation_multi": {"module": "Evaluation", "input": {"data": {"data": ["fixed_multi.data"]}},
                         "output": {"data": ["data"]}},
    "evaluation_regression": {"module": "Evaluation", "input": {"data": {"data": ["fixed_regression.data"]}},
                              "output": {"data": ["data"]}},
}}
PARAMS = {
    "fixed_0": {"task": "binary", "label_column": "y", "score_columns": ["score"]},
    "fixed_1": {"task": "binary", "label_column": "y", "score_columns": ["score_b"]},
    "fixed_multi": {"task": "multi", "label_column": "ym", "score_columns": ["p0", "p1", "p2"]},
    "fixed_regression": {"task": "regression", "label_column": "yr", "score_columns": ["pr"]},
    EVAL: {"eval_type": "binary", "pos_label": 1},
    "evaluation_multi": {"eval_type": "multi"},
    "evaluation_regression": {"eval_type": "regression", "metrics": ["mae", "RMSE", "r2", "l2", "explained_variance",
                                                                     "median_absolute_error"]},
}


def _prediction_csv(path: Path) -> dict[str, np.ndarray]:
    """Known labels and scores (2 digits: many ties), one row type per block."""
    rng = np.random.default_rng(42)
    size = sum(SIZES.values())
    y = rng.integers(0, 2, size)
    columns = {"y": y, "score": np.round(np.clip(rng.random(size) * 0.7 + y * 0.25, 0, 1), 2),
               "score_b": np.round(rng.random(size), 2)}
    ym = rng.integers(0, 3, size)
    probabilities = rng.random((size, 3))
    probabilities[np.arange(size), ym] += 0.5
    probabilities = np.round(probabilities / probabilities.sum(axis=1, keepdims=True), 4)
    columns.update(ym=ym, p0=probabilities[:, 0], p1=probabilities[:, 1], p2=probabilities[:, 2])
    yr = np.round(rng.normal(10, 3, size), 3)
    columns.update(yr=yr, pr=np.round(yr + rng.normal(0, 1, size), 3))
    types = np.repeat(list(SIZES), list(SIZES.values()))
    header = ["id", *columns, "type"]
    lines = [",".join(header)] + [",".join([str(i), *(str(columns[c][i]) for c in columns), types[i]])
                                  for i in range(size)]
    path.write_text("\n".join(lines) + "\n")
    return {**columns, "type": types}


GUEST_ONLY = {name: params for name, params in PARAMS.items() if name.startswith("fixed")}
COMMON = {name: params for name, params in PARAMS.items() if not name.startswith("fixed")}


def _conf(common: dict) -> dict:
    """Readers of the predictions table at guest and host, the FixedPredictions at the guest, ``common`` for all."""
    role = reader_params("eval_predictions", ["eval_predictions"])
    role["guest"]["0"].update(GUEST_ONLY)
    return job_conf(GUEST, [HOST], ARBITER, common, role)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory):
    """One job: four prediction tables, three Evaluations (binary on two inputs, multi, regression)."""
    home = tmp_path_factory.mktemp("evaluation")
    server = standalone_server(home / "party", {},
                               {"FATE_FLOW_COMPONENTS__MODULES": '["tests.components.fixed_predictions"]'})
    columns = _prediction_csv(home / "predictions.csv")
    upload(server, home / "predictions.csv", "eval_predictions")
    job_id, status = run_job(server, DSL, _conf(COMMON))
    assert status == "success", job_id
    yield server, job_id, columns
    server.stop()


def _rows(columns: dict, kind: str) -> np.ndarray:
    return columns["type"] == kind


def _all_metrics(server, job_id: str, component: str, role: str = "guest", party: str = GUEST) -> dict:
    return component_call(server, "metric/all", job_id, component, role, party).get("data") or {}


def test_binary_summary_equals_scikit_learn_per_namespace(evaluated):
    server, job_id, columns = evaluated
    got = summary(server, job_id, EVAL, "guest", GUEST)
    assert set(got) == set(DATA), dumps(got)
    for data, score_column in zip(DATA, ("score", "score_b"), strict=True):
        assert set(got[data]) == {"train", "validate", "predict"}  # predict rows: FATE's "predict" namespace
        for namespace, kind in (("train", "train"), ("validate", "validate"), ("predict", "predict")):
            rows = _rows(columns, kind)
            labels, scores = columns["y"][rows], columns[score_column][rows]
            fpr, tpr, _ = sk.roc_curve(labels, scores)
            assert got[data][namespace] == pytest.approx({"auc": sk.roc_auc_score(labels, scores),
                                                          "ks": np.max(tpr - fpr)}, abs=1e-9)


def test_binary_metrics_have_fate_names_metas_and_points(evaluated):
    server, job_id, columns = evaluated
    metrics = _all_metrics(server, job_id, EVAL)
    curves = ["ks_fpr", "ks_tpr", "roc", "lift", "gain", "accuracy", "precision", "recall", "confusion_mat",
              "f1_score", "quantile_pr"]
    for data in DATA:
        for namespace in ("train", "predict"):
            assert {f"{data}_{c}" for c in curves} | {data} <= set(metrics[namespace]), sorted(metrics[namespace])
        assert f"{data}_psi" in metrics["validate"] and f"{data}_psi" not in metrics["train"]
    train = metrics["train"]
    rows = _rows(columns, "train")
    labels, scores = columns["y"][rows], columns["score"][rows]
    single = train["fixed_0"]
    assert single["meta"] == {"name": "fixed_0", "metric_type": "EVALUATION_SUMMARY"}
    assert dict(single["data"])["auc"] == round(sk.roc_auc_score(labels, scores), 6)
    # ROC: scikit-learn's curve sampled at FATE's 100 cuts, then the corner (1, 1)
    roc = train["fixed_0_roc"]
    assert roc["meta"] | {"thresholds": None} == {"name": "fixed_0_roc", "metric_type": "ROC_EVALUATION",
                                                  "unit_name": "fpr", "ordinate_name": "tpr", "curve_name": "fixed_0",
                                                  "thresholds": None}
    fpr, tpr, _ = sk.roc_curve(labels, scores)
    picks = np.unique((len(fpr) * np.arange(0, 1, 0.01)).astype(int))
    expected = sorted([(round(f, 6), round(t, 6)) for f, t in zip(fpr[picks], tpr[picks], strict=True)] + [(1.0, 1.0)])
    assert [tuple(p) for p in roc["data"]] == expected
    # KS: the two curves over the cuts, their largest gap is the ks
    fpr_curve, tpr_curve = train["fixed_0_ks_fpr"], train["fixed_0_ks_tpr"]
    assert fpr_curve["meta"]["curve_name"] == "fixed_0_fpr" and fpr_curve["meta"]["pair_type"] == "fixed_0"
    assert fpr_curve["meta"]["metric_type"] == "KS_EVALUATION" and len(fpr_curve["meta"]["thresholds"]) == 100
    gaps = [t[1] - f[1] for f, t in zip(fpr_curve["data"], tpr_curve["data"], strict=True)]
    assert max(gaps) == pytest.approx(dict(single["data"])["ks"], abs=1e-6)
    # precision and recall: one point per recall value at a cut, each equal to scikit-learn's at its threshold
    precision, recall = train["fixed_0_precision"], train["fixed_0_recall"]
    assert precision["meta"]["metric_type"] == "PRECISION_BINARY_EVALUATION"
    assert recall["meta"]["ordinate_name"] == "Recall" and recall["meta"]["pair_type"] == "fixed_0"
    thresholds = precision["meta"]["thresholds"]
    assert len(precision["data"]) - len(thresholds) in (0, 1)
    for (_, p), (_, r), threshold in zip(precision["data"], recall["data"], thresholds, strict=False):
        predicted = _predicted(scores, threshold)
        assert p == pytest.approx(sk.precision_score(labels, predicted, zero_division=1.0), abs=1e-6)
        assert r == pytest.approx(sk.recall_score(labels, predicted), abs=1e-6)
    # gain: share predicted positive -> recall at each threshold; the last point (1, 1) at threshold 0
    gain = train["fixed_0_gain"]
    assert gain["meta"]["metric_type"] == "GAIN_EVALUATION" and gain["meta"]["thresholds"][-1] == 0.0
    for (share, value), threshold in zip(gain["data"][:-1], gain["meta"]["thresholds"][:-1], strict=True):
        predicted = _predicted(scores, threshold)
        assert (share, value) == pytest.approx((predicted.mean(), sk.recall_score(labels, predicted)), abs=1e-6)
    assert gain["data"][-1] == [1.0, 1.0]
    # tables held in the meta: confusion matrix and F1 at 0.00 ... 0.99, quantile PR, PSI
    matrix = train["fixed_0_confusion_mat"]
    assert matrix["data"] == [] and matrix["meta"]["metric_type"] == "CONFUSION_MAT"
    for index in (0, 37, 50, 99):
        predicted = _predicted(scores, index * 0.01)
        tn, fp, fn, tp = sk.confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
        assert [matrix["meta"][k][index] for k in ("tp", "fp", "fn", "tn")] == [tp, fp, fn, tn]
        assert train["fixed_0_f1_score"]["meta"]["f1_scores"][index] == pytest.approx(
            sk.f1_score(labels, predicted, zero_division=0.0), abs=1e-6)
    quantile = train["fixed_0_quantile_pr"]["meta"]
    assert quantile["metric_type"] == "QUANTILE_PR" and len(quantile["thresholds"]) == 21
    validate = _rows(columns, "validate")
    table = metrics["validate"]["fixed_0_psi"]["meta"]
    assert table["metric_type"] == "PSI" and len(table["intervals"]) == len(table["psi_scores"])
    assert table["total_psi"] == pytest.approx(_psi_reference(scores, columns["score"][validate]), abs=1e-6)


def test_host_and_arbiter_have_nothing_to_evaluate(evaluated):
    server, job_id, _ = evaluated
    for role, party in (("host", HOST), ("arbiter", ARBITER)):
        tasks = server.post("/v1/job/task/query", {"job_id": job_id, "component_name": EVAL, "role": role,
                                                   "party_id": party})["data"]
        assert [t["f_status"] for t in tasks] == ["success"], dumps(tasks)
        assert _all_metrics(server, job_id, EVAL, role, party) == {}


def test_multi_summary_and_class_curves_equal_scikit_learn(evaluated):
    server, job_id, columns = evaluated
    got = summary(server, job_id, "evaluation_multi", "guest", GUEST)["fixed_multi"]
    metrics = _all_metrics(server, job_id, "evaluation_multi")
    for namespace, kind in (("train", "train"), ("validate", "validate"), ("predict", "predict")):
        rows = _rows(columns, kind)
        truth = columns["ym"][rows]
        guess = np.stack([columns[c][rows] for c in ("p0", "p1", "p2")], axis=1).argmax(axis=1)
        assert got[namespace] == pytest.approx({
            "accuracy": sk.accuracy_score(truth, guess),
            "precision": sk.precision_score(truth, guess, average="macro", zero_division=0),
            "recall": sk.recall_score(truth, guess, average="macro", zero_division=0)}, abs=1e-9)
        curve = metrics[namespace]["fixed_multi_precision"]
        assert curve["meta"]["metric_type"] == "PRECISION_MULTI_EVALUATION"
        assert [p[0] for p in curve["data"]] == [0, 1, 2]
        assert [p[1] for p in curve["data"]] == pytest.approx(
            sk.precision_score(truth, guess, average=None, zero_division=0), abs=1e-6)


def test_regression_summary_equals_scikit_learn(evaluated):
    server, job_id, columns = evaluated
    got = summary(server, job_id, "evaluation_regression", "guest", GUEST)["fixed_regression"]
    for namespace, kind in (("train", "train"), ("validate", "validate"), ("predict", "predict")):
        rows = _rows(columns, kind)
        truth, predicted = columns["yr"][rows], columns["pr"][rows]
        assert got[namespace] == pytest.approx({
            "mean_absolute_error": sk.mean_absolute_error(truth, predicted),
            "root_mean_squared_error": math.sqrt(sk.mean_squared_error(truth, predicted)),
            "r2_score": sk.r2_score(truth, predicted), "mean_squared_error": sk.mean_squared_error(truth, predicted),
            "explained_variance": sk.explained_variance_score(truth, predicted),
            "median_absolute_error": sk.median_absolute_error(truth, predicted)}, abs=1e-9)
    single = _all_metrics(server, job_id, "evaluation_regression")["train"]["fixed_regression"]
    assert single["meta"]["metric_type"] == "EVALUATION_SUMMARY" and len(single["data"]) == 6


@pytest.mark.parametrize("params, field", [({"eval_type": "binaryy"}, "eval_type"),
                                           ({"eval_type": "regression", "metrics": ["auc"]}, "metrics"),
                                           ({"metrics": ["auc", "no_such_metric"]}, "metrics"),
                                           ({"pos_label": None}, "pos_label")])
def test_bad_parameters_refused_at_submit(evaluated, params, field):
    server, _, _ = evaluated
    answer = submit(server, DSL, _conf({**COMMON, EVAL: params}))
    assert answer["retcode"] == 103, answer
    assert EVAL in answer["retmsg"] and field in answer["retmsg"], answer["retmsg"]


def test_a_table_that_is_not_a_prediction_fails_naming_it(evaluated):
    server, _, _ = evaluated
    dsl = {"components": {"reader_0": DSL["components"]["reader_0"],
                          EVAL: {"module": "Evaluation", "input": {"data": {"data": ["reader_0.data"]}}}}}
    role = reader_params("eval_predictions", ["eval_predictions"])
    job_id, status = run_job(server, dsl, job_conf(GUEST, [HOST], ARBITER, {EVAL: {}}, role))
    assert status == "failed"
    logs = "".join(p.read_text() for p in (server.home / "logs" / job_id).rglob("ERROR.log"))
    assert f"{EVAL}: input data reader_0: the table has no column 'label'" in logs
