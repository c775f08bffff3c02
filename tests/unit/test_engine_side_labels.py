"""LabelTransform and SampleWeight compute where the table lives: their fits are ``Table.aggregate`` passes over the
label (or weight) column and their outputs ``Table.map_batches`` plans, so on Spark the input is never collected
into the task, the output is a plan the executors compute when it is stored, and both equal the standalone
engine's; on the standalone engine they equal plain computations on the whole columns."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from fate_flow.components import _label_transform, _sample_weight
from fate_flow.components.label_transform import LabelTransformParams
from fate_flow.components.sample_weight import SampleWeightParams
from fate_flow.engine.parts import write_parts
from fate_flow.engine.spark import SparkComputing, SparkTable
from fate_flow.engine.standalone import StandaloneComputing
from fate_flow.entity.table_meta import TableMeta
from fate_flow.errors import ComponentError
from fate_flow.ml.predict import multi_output
from tests.spark_support import local_spark  # noqa: F401  (the module fixture `spark`)

ROWS = 3000
rng = np.random.default_rng(11)
STRING_LABELS = rng.choice(["b", "a", "c", "1", "1.0", " 2"], ROWS)
INT_LABELS = rng.choice([3, 5, 9], ROWS)
WEIGHTS = rng.random(ROWS) + 0.1


# -- tables and a task's context ---------------------------------------------------------------------------------
def _labelled(directory: Path, labels: Any, weights: np.ndarray = WEIGHTS, parts: int = 3) -> TableMeta:
    """DataTransform's output: id, the label y, features x0 and w (three files: several batches)."""
    data = pa.table({"id": [f"id{i}" for i in range(ROWS)], "y": pa.array(labels),
                     "x0": rng.normal(size=ROWS), "w": weights})
    write_parts(data, directory, parts)
    return TableMeta(namespace="ns", name="t", path=str(directory), count=ROWS, partitions=parts,
                     schema={"sid": "id", "header": ["x0", "w"], "label_name": "y"})


def _predictions(directory: Path, codes: np.ndarray) -> TableMeta:
    """A multi-class prediction result on coded labels (classes "0", "1", "2")."""
    probabilities = rng.random((len(codes), 3))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    table = multi_output(np.array([f"id{i}" for i in range(len(codes))]), codes, probabilities, ["0", "1", "2"],
                         "train")
    write_parts(table.data, directory, 2)
    return TableMeta(namespace="ns", name="p", path=str(directory), count=len(codes), partitions=2,
                     schema={"sid": "id", "header": list(table.schema.header)})


class _Logs(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelname, record.getMessage()))


def _run(runner: Any, computing: Any, meta: TableMeta, params: Any, stage: str = "train",
         model: dict[str, Any] | None = None) -> SimpleNamespace:
    """One guest task of ``runner`` on ``meta``: its input, output, saved model (as JSON), metrics and logs."""
    table = computing.read(meta)
    logs = _Logs()
    logger = logging.getLogger(f"test_engine_side_labels.{id(logs)}")
    logger.addHandler(logs)
    logger.propagate = False
    task = SimpleNamespace(input=table, written=[], model={}, metrics=[], logs=logs.records)
    ctx = SimpleNamespace(
        component_name="component_0", role="guest", stage=stage, params=params, logger=logger,
        inputs=SimpleNamespace(first=lambda *keys: table, get=lambda key: table if key == "data" else None),
        outputs=[SimpleNamespace(write=task.written.append)],
        models=SimpleNamespace(load=lambda: SimpleNamespace(**model),
                               save=lambda param, meta: task.model.update(json.loads(json.dumps(
                                   {"param": param, "meta": meta})))),
        metrics=SimpleNamespace(scalars=lambda *args, **kwargs: task.metrics.append(
            json.loads(json.dumps([args, kwargs])))))
    runner.run(ctx)
    task.output = task.written[0]
    return task


def _same(task: SimpleNamespace, local: SimpleNamespace) -> None:
    """A Spark task's results equal the standalone engine's, the output's rows included."""
    assert task.model == local.model and task.metrics == local.metrics and task.logs == local.logs
    assert task.output.schema == local.output.schema and task.output.meta_schema() == local.output.meta_schema()
    assert task.output.data.equals(local.output.data)


def _spark_and_local(spark: SparkComputing, runner: Any, meta: TableMeta, params: Any, stage: str = "train",
                     model: dict[str, Any] | None = None) -> SimpleNamespace:
    task = _run(runner, spark, meta, params, stage, model)
    assert isinstance(task.output, SparkTable) and not task.output.collected  # a plan the executors compute
    assert not task.input.collected  # fitted from partial results only
    _same(task, _run(runner, StandaloneComputing(), meta, params, stage, model))
    return task


# -- LabelTransform ----------------------------------------------------------------------------------------------
def test_label_transform_codes_the_sorted_labels(tmp_path):
    task = _run(_label_transform, StandaloneComputing(), _labelled(tmp_path / "t", STRING_LABELS),
                LabelTransformParams())
    # numbers first (by value: "1" and "1.0" are one label, spelt "1"), then texts alphabetically
    codes = {"1": 0, "1.0": 0, " 2": 1, "a": 2, "b": 3, "c": 4}
    assert task.model["param"]["labelEncoder"] == {"1": "0", " 2": "1", "a": "2", "b": "3", "c": "4"}
    assert task.output.arrow_schema().field("y").type == pa.int64()
    np.testing.assert_array_equal(task.output.column("y"), [codes[label] for label in STRING_LABELS])
    np.testing.assert_array_equal(task.output.column("w"), WEIGHTS)  # the other columns as they were


def test_label_transform_applies_a_partial_encoder_typed_by_label_list(tmp_path):
    params = LabelTransformParams(label_encoder={"3": "three", "9": 1.5}, label_list=[3, 9])
    task = _run(_label_transform, StandaloneComputing(), _labelled(tmp_path / "t", INT_LABELS), params)
    # FATE 1.11.4: 5 is not in the encoder, so it keeps its value; a column of numbers and text is text
    expected = {3: "three", 5: "5", 9: "1.5"}
    np.testing.assert_array_equal(task.output.column("y"), [expected[label] for label in INT_LABELS])
    assert task.model["param"]["encoderKeyType"] == {"3": "int", "9": "int", "5": "int"}
    assert task.model["param"]["encoderValueType"] == {"3": "str", "9": "float", "5": "int"}
    assert ("WARNING", "component_0: labels [5] are not in label_encoder: kept as they are") in task.logs


def test_label_transform_decodes_predictions_and_refuses_unknown_labels_before_any_batch(tmp_path):
    fitted = _run(_label_transform, StandaloneComputing(), _labelled(tmp_path / "t", INT_LABELS),
                  LabelTransformParams())
    codes = np.searchsorted([3, 5, 9], INT_LABELS)
    meta = _predictions(tmp_path / "p", codes)
    task = _run(_label_transform, StandaloneComputing(), meta, LabelTransformParams(), "predict", fitted.model)
    stored = StandaloneComputing().read(meta)
    np.testing.assert_array_equal(task.output.column("label"), INT_LABELS)  # the label column's type: int64
    np.testing.assert_array_equal(task.output.column("predict_result"),
                                  [str([3, 5, 9][int(c)]) for c in stored.column("predict_result")])
    for new, old in zip(task.output.column("predict_detail"), stored.column("predict_detail"), strict=True):
        assert json.loads(new) == {str([3, 5, 9][int(k)]): p for k, p in json.loads(old).items()}

    unknown = _labelled(tmp_path / "u", np.where(INT_LABELS == 9, 7, INT_LABELS))
    with pytest.raises(ComponentError, match=r"label column 'y' values \['7'\] are not in the label encoder"):
        _run(_label_transform, StandaloneComputing(), unknown, LabelTransformParams(), "predict", fitted.model)


@pytest.mark.parametrize("labels", ["strings", "ints"])
def test_label_transform_on_spark_is_a_plan_that_equals_the_standalone_engine(spark, tmp_path, labels):
    meta = _labelled(tmp_path / "t", STRING_LABELS if labels == "strings" else INT_LABELS)
    fitted = _spark_and_local(spark, _label_transform, meta, LabelTransformParams())
    _spark_and_local(spark, _label_transform, meta, LabelTransformParams(), "predict", fitted.model)
    if labels == "ints":  # and a prediction result decoded by the model
        predictions = _predictions(tmp_path / "p", np.searchsorted([3, 5, 9], INT_LABELS))
        _spark_and_local(spark, _label_transform, predictions, LabelTransformParams(), "predict", fitted.model)


# -- SampleWeight ------------------------------------------------------------------------------------------------
def test_sample_weight_balanced_and_given_class_weights(tmp_path):
    meta = _labelled(tmp_path / "t", INT_LABELS)
    task = _run(_sample_weight, StandaloneComputing(), meta, SampleWeightParams(class_weight="balanced"))
    classes, counts = np.unique(INT_LABELS, return_counts=True)
    balanced = {str(c): ROWS / (len(classes) * n) for c, n in zip(classes, counts, strict=True)}
    assert task.model["param"]["class_weight"] == balanced and list(task.model["param"]["class_weight"]) == [
        "3", "5", "9"]
    np.testing.assert_array_equal(task.output.weights(), [balanced[str(c)] for c in INT_LABELS])
    assert task.output.schema.weight == "weight" and task.output.schema.header == ("x0", "w")
    assert task.output.arrow_schema().names == ["id", "y", "x0", "w", "weight"]

    given = _run(_sample_weight, StandaloneComputing(), meta, SampleWeightParams(class_weight={"5": -2, "9": 0.5}))
    np.testing.assert_array_equal(given.output.weights(), np.select([INT_LABELS == 5, INT_LABELS == 9], [-2, 0.5], 1))
    assert ("WARNING", "component_0: negative weights among the samples") in given.logs


def test_sample_weight_by_a_column_normalised(tmp_path):
    weights = WEIGHTS - 0.3  # some negative
    meta = _labelled(tmp_path / "t", INT_LABELS, weights)
    task = _run(_sample_weight, StandaloneComputing(), meta, SampleWeightParams(sample_weight_name="w", normalize=True))
    np.testing.assert_allclose(task.output.weights(), weights / weights.mean(), rtol=1e-13)
    assert task.output.schema.header == ("x0",) and task.output.arrow_schema().names == ["id", "y", "x0", "weight"]
    assert ("WARNING", "component_0: negative weights among the samples") in task.logs
    plain = _run(_sample_weight, StandaloneComputing(), _labelled(tmp_path / "p", INT_LABELS),
                 SampleWeightParams(sample_weight_name="w"))
    np.testing.assert_array_equal(plain.output.weights(), WEIGHTS)
    assert not [level for level, _ in plain.logs if level == "WARNING"]


@pytest.mark.parametrize("params", [
    SampleWeightParams(class_weight="balanced"),
    SampleWeightParams(class_weight={"a": 2.0, "1": -1.0}),
    SampleWeightParams(sample_weight_name="w", normalize=True),
], ids=["balanced", "dict", "column-normalised"])
def test_sample_weight_on_spark_is_a_plan_that_equals_the_standalone_engine(spark, tmp_path, params):
    meta = _labelled(tmp_path / "t", STRING_LABELS)
    fitted = _spark_and_local(spark, _sample_weight, meta, params)
    _spark_and_local(spark, _sample_weight, meta, SampleWeightParams(), "predict", fitted.model)
