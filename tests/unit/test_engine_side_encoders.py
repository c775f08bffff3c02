"""FeatureImputation and OneHotEncoder compute where the table lives: the fit is one ``Table.aggregate`` pass,
the output a ``Table.map_batches``. On the standalone engine their fit, output and rates equal a plain
computation here on whole columns (values parsed one by one in Python); on a real Spark (``local[2]``) the
fit reads partial results only (the input is never collected), the output is a plan the executors compute,
and model, summary and rows equal the standalone engine's exactly (the mean is the correctly rounded one,
whatever the partitions)."""

from __future__ import annotations

import json
import logging
import math
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from fate_flow.components import _feature_imputation as imputation
from fate_flow.components import _one_hot_encoder as one_hot
from fate_flow.components._tables import MISSING_TEXTS, select_columns
from fate_flow.components.data_transform import DataTransformParams
from fate_flow.components.data_transform.runner import _apply as apply_transform
from fate_flow.components.data_transform.runner import _fit as fit_transform
from fate_flow.components.feature_imputation import FeatureImputationParams
from fate_flow.components.one_hot_encoder import OneHotEncoderParams
from fate_flow.engine import codec
from fate_flow.engine.parts import write_parts
from fate_flow.engine.spark import SparkTable
from fate_flow.engine.standalone import StandaloneComputing
from fate_flow.engine.table import Table
from fate_flow.entity.table_meta import TableMeta
from fate_flow.errors import ComponentError
from fate_flow.framework import PREDICT, TRAIN
from tests.spark_support import local_spark  # noqa: F401  (the module fixture `spark`)

ROWS = 2003  # not a multiple of the partitions: parts of different sizes
PARTS = 3
CTX = SimpleNamespace(component_name="component_0")
FEATURES = ["x0", "x1", "x2", "x3"]
MISSING = ("", "NA", " null ", "None", "nan")


# -- the tables ------------------------------------------------------------------------------------------------------
def _texts(values: np.ndarray, rng: np.random.Generator, missing: int) -> list[str]:
    """``values`` as a Reader stores them, ``missing`` of them replaced by the missing texts."""
    texts = [repr(float(v)) for v in values]
    for index, row in enumerate(rng.choice(len(texts), missing, replace=False)):
        texts[row] = MISSING[index % len(MISSING)]
    return texts


def _stored(directory: Path, data: pa.Table, header: list[str], parts: int = PARTS) -> TableMeta:
    write_parts(data, directory, parts)
    return TableMeta(namespace="ns", name=directory.name, path=str(directory), count=data.num_rows, partitions=parts,
                     schema={"sid": "id", "header": header, "label_name": "y"})


def _text_table(directory: Path, rows: int = ROWS, seed: int = 7) -> TableMeta:
    """A Reader's table, every column text: the label, a text column between the features (kept where the output
    puts the non-features), missing values; x2 spans +-1e6 around a small mean (numpy's mean is a few ulps off
    there), x3 has zeros (a missing value when ``missing_impute`` names 0)."""
    rng = np.random.default_rng(seed)
    data = pa.table({
        "id": [f"s{i}" for i in range(rows)],
        "y": [str(v) for v in rng.integers(0, 2, rows)],
        "x0": _texts(rng.normal(3.0, 2.0, rows), rng, rows // 10),
        "tag": [f"t{i % 7}" for i in range(rows)],
        "x1": _texts(rng.integers(-3, 4, rows), rng, rows // 20),
        "x2": _texts(np.round(rng.uniform(-1e6, 1e6, rows), 3), rng, rows // 10),
        "x3": _texts(np.where(rng.random(rows) < 0.1, 0.0, rng.exponential(1.0, rows)), rng, rows // 10),
    })
    return _stored(directory, data, FEATURES)


def _category_table(directory: Path, rows: int = ROWS, seed: int = 3, **more: list[str]) -> TableMeta:
    """A Reader's table of integer categories (some spelt ``2.0``, some with spaces) and a real-valued column."""
    rng = np.random.default_rng(seed)
    columns = {"id": [f"s{i}" for i in range(rows)], "y": [str(v) for v in rng.integers(0, 2, rows)],
               "a": [str(v) for v in rng.integers(-2, 3, rows)],
               "b": [f"{v}.0" if v % 2 else f" {v} " for v in rng.choice([4, 7, 9, 12], rows)],
               "r": [repr(float(v)) for v in rng.normal(size=rows)],
               "c": [str(v) for v in rng.integers(0, 3, rows)], **more}
    return _stored(directory, pa.table(columns), ["a", "b", "r", "c", *more])


# -- the plain reference: whole columns, values parsed one by one ---------------------------------------------------
def _parsed(table: Table, name: str) -> list[float]:
    """A stored column as floats, the plain way: a null or a missing text (stripped) is NaN."""
    values = pa.concat_tables([pa.Table.from_batches([b]) for b in table.record_batches()]).column(name).to_pylist()
    return [math.nan if v is None or (isinstance(v, str) and v.strip() in MISSING_TEXTS) else float(v) for v in values]


def _is_missing(value: float, missing_values: list[Any]) -> bool:
    """FATE's rule: NaN is missing when a null text, None or NaN is listed; a number when it is listed."""
    nan_listed = any(v is None or (isinstance(v, str) and v.strip() in MISSING_TEXTS)
                     or (isinstance(v, float) and math.isnan(v)) for v in missing_values)
    numbers = {float(v) for v in missing_values if isinstance(v, int | float) and not math.isnan(float(v))}
    return nan_listed if math.isnan(value) else value in numbers


def _reference_imputation(table: Table, params: FeatureImputationParams) -> tuple[dict[str, float], dict[str, float],
                                                                                  dict[str, list[float]]]:
    """Fill values (the mean exact, then rounded once), rates and imputed columns, computed plainly."""
    missing_values = params.missing_impute or list(imputation.DEFAULT_MISSING)
    methods = {c: (params.col_missing_fill_method or {}).get(c, params.missing_fill_method) for c in FEATURES}
    fill, rates, columns = {}, {}, {}
    for column in FEATURES:
        values = _parsed(table, column)
        missing = [_is_missing(v, missing_values) for v in values]
        valid = [v for v, m in zip(values, missing, strict=True) if not m and not math.isnan(v)]
        method = methods[column]
        if method is not None:
            fill[column] = {"min": min(valid, default=None), "max": max(valid, default=None),
                            "designated": float(params.default_value),
                            "mean": float(sum(map(Fraction, valid)) / len(valid)) if valid else None}[method]
        rates[column] = sum(missing) / len(values) if method is not None else 0.0
        columns[column] = [fill[column] if m and method is not None else v for v, m in zip(values, missing,
                                                                                         strict=True)]
    return fill, rates, columns


def _reference_one_hot(table: Table, chosen: list[str]) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """The sorted distinct values of the chosen columns, and every output feature column, computed plainly."""
    values = {c: sorted(set(_parsed(table, c))) for c in chosen}
    columns: dict[str, list[float]] = {}
    for column in table.schema.header:
        parsed = _parsed(table, column)
        if column not in values:
            columns[column] = parsed
            continue
        for value in values[column]:
            columns[f"{column}_{int(value)}"] = [1.0 if v == value else 0.0 for v in parsed]
    return values, columns


# -- a task's context for ``run`` ------------------------------------------------------------------------------------
def _run(runner: Any, table: Table, params: Any, stage: str = TRAIN, model: dict | None = None) -> SimpleNamespace:
    """``runner(ctx)`` on ``table``: what it wrote, saved (as JSON, as a model file holds it) and summarised."""
    done = SimpleNamespace(outputs=[], model=None, summary=None)

    def save(param: dict, meta: dict, arrays: Any = None, alias: str = "model") -> None:
        done.model = json.loads(json.dumps({"param": param, "meta": meta}))

    ctx = SimpleNamespace(params=params, stage=stage, component_name=CTX.component_name,
                          logger=logging.getLogger("test"), inputs=SimpleNamespace(first=lambda *_: table),
                          outputs=[SimpleNamespace(write=done.outputs.append)],
                          models=SimpleNamespace(save=save, load=lambda *_: SimpleNamespace(**model)),
                          summary=lambda summary: setattr(done, "summary", summary))
    runner(ctx)
    done.output = done.outputs[0]
    return done


def _assert_same_rows(got: Table, expected: Table) -> None:
    """Same schema, stored columns (names, types, order) and values (NaN where NaN); collects ``got``."""
    assert got.schema == expected.schema and got.schema.extra == expected.schema.extra
    assert got.arrow_schema() == expected.arrow_schema()
    got_data, expected_data = got.data, expected.data
    assert got_data.schema == expected_data.schema
    for name in expected_data.column_names:
        a, b = got_data.column(name).to_numpy(), expected_data.column(name).to_numpy()
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            assert a.tolist() == b.tolist(), name


# -- FeatureImputation ----------------------------------------------------------------------------------------------
IMPUTATIONS = [
    FeatureImputationParams(missing_fill_method="mean"),
    FeatureImputationParams(missing_fill_method="min", missing_impute=[0]),
    FeatureImputationParams(col_missing_fill_method={"x0": "max", "x1": "designated", "x3": "mean"}, default_value=7),
    FeatureImputationParams(missing_fill_method="max", missing_impute=[0, "NA", -1.0, float("nan")]),
]
IMPUTATION_IDS = ["mean", "min-of-zeros", "per-column-x2-skipped", "max-numbers-and-nan"]


@pytest.mark.parametrize("params", IMPUTATIONS, ids=IMPUTATION_IDS)
def test_imputation_equals_the_plain_computation(tmp_path, params):
    table = StandaloneComputing().read(_text_table(tmp_path / "t"))
    imputer, census = imputation._fit(CTX, table, params)
    fill, rates, columns = _reference_imputation(table, params)
    assert imputer.fill.keys() == fill.keys()
    for column, value in fill.items():  # min and max exactly, the mean up to the sums' rounding
        assert imputer.fill[column] == pytest.approx(value, rel=1e-13), column
    output, got_rates, rows = imputation._apply(CTX, table, imputer, census)
    assert got_rates == rates and rows == ROWS
    # the other columns as stored, then every feature as float64 in header order (as replace_features did)
    assert output.arrow_schema() == pa.schema([("id", pa.string()), ("y", pa.string()), ("tag", pa.string()),
                                               *((c, pa.float64()) for c in FEATURES)])
    assert output.schema == table.schema
    for column in FEATURES:
        np.testing.assert_allclose(output.column(column), np.array(columns[column]), rtol=1e-13, err_msg=column)
    np.testing.assert_array_equal(output.column("tag"), table.column("tag"))


def test_the_mean_is_numpys_up_to_its_rounding(tmp_path):
    table = StandaloneComputing().read(_text_table(tmp_path / "t"))
    imputer, _ = imputation._fit(CTX, table, FeatureImputationParams(missing_fill_method="mean"))
    for column in FEATURES:
        valid = np.array([v for v in _parsed(table, column) if not math.isnan(v)])
        # a sum per batch, then added up: a few ulps of the values' size from numpy's pairwise whole-column sum,
        # which is many ulps of the mean where they cancel (x2)
        assert imputer.fill[column] == pytest.approx(float(np.mean(valid)), rel=0,
                                                     abs=1e-14 * float(np.mean(np.abs(valid))))


def test_the_census_partials_go_through_the_codec(tmp_path):
    table = StandaloneComputing().read(_text_table(tmp_path / "t"))
    spec = imputation.CensusSpec(tuple(FEATURES), tuple(FEATURES), ("x0", "x2"), (None, 0))
    batch = next(table.record_batches(500))
    partial = imputation._batch_census(spec, batch)
    decoded = codec.decode(codec.encode(partial))
    merged = imputation._merge_census(decoded, decoded)  # decoded arrays are read-only: merging makes new ones
    assert merged["rows"] == 1000
    assert np.array_equal(merged["valid"]["sum"], 2 * partial["valid"]["sum"], equal_nan=True)
    bad = imputation._batch_census(spec, pa.RecordBatch.from_pydict({c: ["1", "x"] for c in FEATURES}))
    assert codec.decode(codec.encode(bad))["errors"]["x1"].startswith("column 'x1' holds a value that is not a number")


def test_imputation_reports_the_first_bad_column_in_header_order(tmp_path):
    # x3 is bad in the first rows, x1 only in the last: read column by column, x1 is the one reported
    rng = np.random.default_rng(0)
    data = {"id": [f"s{i}" for i in range(ROWS)], "y": ["0"] * ROWS,
            **{c: [repr(float(v)) for v in rng.normal(size=ROWS)] for c in FEATURES}}
    data["x3"][0] = "bad"
    data["x1"][-1] = "worse"
    table = StandaloneComputing().read(_stored(tmp_path / "t", pa.table(data), FEATURES))
    with pytest.raises(ComponentError, match="column 'x1' holds a value that is not a number.*'worse'"):
        imputation._fit(CTX, table, FeatureImputationParams(missing_fill_method="mean"))
    # the imputed columns first (the fit reads them), then the skipped ones
    with pytest.raises(ComponentError, match="column 'x3' holds a value that is not a number.*'bad'"):
        imputation._fit(CTX, table, FeatureImputationParams(col_missing_fill_method={"x3": "mean"}))
    imputer, census = imputation._fit(CTX, table, FeatureImputationParams(col_missing_fill_method={"x0": "min"}))
    with pytest.raises(ComponentError, match="column 'x1'"):
        imputation._apply(CTX, table, imputer, census)


def test_a_column_without_valid_values_fails_the_fit(tmp_path):
    data = {"id": ["a", "b", "c"], "y": ["0", "1", "0"], "x0": ["1", "2", "3"], "x1": ["", "NA", "null"],
            "x2": ["1", "", "2"], "x3": ["0", "0", ""]}
    table = StandaloneComputing().read(_stored(tmp_path / "t", pa.table(data), FEATURES, parts=2))
    with pytest.raises(ComponentError, match="component_0: feature 'x1' has no value that is not missing: its mean"):
        imputation._fit(CTX, table, FeatureImputationParams(missing_fill_method="mean"))
    imputer, _ = imputation._fit(CTX, table, FeatureImputationParams(
        missing_fill_method="mean", col_missing_fill_method={"x1": "designated"}, default_value=[0, 5, 0, 0]))
    assert imputer.fill == {"x0": 2.0, "x1": 5.0, "x2": 1.5, "x3": 0.0}


def test_imputation_on_spark_is_a_plan_equal_to_the_standalone_engine(spark, tmp_path):
    meta = _text_table(tmp_path / "t")
    other = _text_table(tmp_path / "other", rows=300, seed=11)
    for params in IMPUTATIONS:
        local = _run(imputation.run, StandaloneComputing().read(meta), params)
        table = spark.read(meta)
        done = _run(imputation.run, table, params)
        assert not table.collected  # fitted and counted from partial results only
        assert isinstance(done.output, SparkTable) and not done.output.collected
        assert done.model == local.model and done.summary == local.summary  # the mean too: it is exact
        _assert_same_rows(done.output, local.output)

        # predict: the model's values applied to other data (one census pass for the rates)
        local_predicted = _run(imputation.run, StandaloneComputing().read(other), params, PREDICT, local.model)
        other_table = spark.read(other)
        predicted = _run(imputation.run, other_table, params, PREDICT, local.model)
        assert not other_table.collected and isinstance(predicted.output, SparkTable)
        assert predicted.model == local_predicted.model
        assert predicted.model["param"]["imputer"] == local.model["param"]["imputer"]  # not refitted
        _assert_same_rows(predicted.output, local_predicted.output)


def test_imputation_of_a_plan_on_spark(spark, tmp_path):
    """Input that is itself a plan (DataTransform's output, typed, NaN where a value was missing)."""
    meta = _text_table(tmp_path / "t")
    params = DataTransformParams(with_label=True, label_name="y", label_type="int", exclusive_data_type={"tag": "str"})

    def transformed(computing: Any) -> Table:
        table = computing.read(meta)
        transform, _ = fit_transform(CTX, table, params)
        return apply_transform(CTX, table, transform)

    plan, local = transformed(spark), transformed(StandaloneComputing())
    imputer, census = imputation._fit(CTX, plan, IMPUTATIONS[1])
    assert not plan.collected
    local_imputer, local_census = imputation._fit(CTX, local, IMPUTATIONS[1])
    assert imputer == local_imputer and census == local_census
    output, rates, _ = imputation._apply(CTX, plan, imputer, census)
    assert isinstance(output, SparkTable) and not output.collected
    _assert_same_rows(output, imputation._apply(CTX, local, local_imputer, local_census)[0])


# -- OneHotEncoder --------------------------------------------------------------------------------------------------
ENCODINGS = [OneHotEncoderParams(transform_col_indexes=[0, 1, 3]),
             OneHotEncoderParams(transform_col_indexes=[], transform_col_names=["c", "a"])]


@pytest.mark.parametrize("params", ENCODINGS, ids=["indexes", "names"])
def test_one_hot_equals_the_plain_computation(tmp_path, params):
    table = StandaloneComputing().read(_category_table(tmp_path / "t"))
    chosen = select_columns(list(table.schema.header), params.transform_col_indexes,
                                    params.transform_col_names, logging.getLogger("test"), "one_hot_0")
    values = one_hot._fit(CTX, table, chosen)
    expected_values, expected_columns = _reference_one_hot(table, chosen)
    assert list(values) == chosen and {c: v.tolist() for c, v in values.items()} == expected_values
    result_header, output = one_hot._encode(CTX, table, list(table.schema.header), values)
    assert result_header == list(expected_columns)  # each encoded column replaced in place
    assert output.schema == table.schema.with_header(result_header)
    assert output.arrow_schema() == pa.schema([("id", pa.string()), ("y", pa.string()),
                                               *((c, pa.float64()) for c in result_header)])
    for column, expected in expected_columns.items():
        np.testing.assert_array_equal(output.column(column), np.array(expected), err_msg=column)


def test_one_hot_fails_as_before(tmp_path):
    wide = [str(i) for i in range(ROWS)]
    table = StandaloneComputing().read(_category_table(tmp_path / "t", w=wide, n=["1"] * (ROWS - 1) + [""],
                                                       q=["x"] + ["1"] * (ROWS - 1)))
    # the chosen columns are all read first, then checked in order: integers, then at most 1024 values
    with pytest.raises(ComponentError, match="column 'q' holds a value that is not a number"):
        one_hot._fit(CTX, table, ["r", "w", "q"])
    with pytest.raises(ComponentError, match="feature 'r' holds values that are not integers"):
        one_hot._fit(CTX, table, ["a", "r", "w"])
    with pytest.raises(ComponentError, match=f"feature 'w' has {ROWS} distinct values, more than the 1024"):
        one_hot._fit(CTX, table, ["a", "w", "r"])
    with pytest.raises(ComponentError, match="feature 'n' holds values that are not integers"):  # NaN is not one
        one_hot._fit(CTX, table, ["n"])


def test_one_hot_of_unseen_values_and_no_rows(tmp_path):
    table = StandaloneComputing().read(_category_table(tmp_path / "t"))
    values = {"a": np.array([-2.0, 0.0, 1.0]), "c": np.zeros(0)}
    header, output = one_hot._encode(CTX, table, ["c", "a", "b"], values)  # the model's header order, c lost
    assert header == ["a_-2", "a_0", "a_1", "b"]
    a = np.array(_parsed(table, "a"))
    np.testing.assert_array_equal(output.features(), np.column_stack([a == -2, a == 0, a == 1,
                                                                      _parsed(table, "b")]).astype(float))
    empty = StandaloneComputing().read(_category_table(tmp_path / "empty", rows=0))
    assert {c: v.tolist() for c, v in one_hot._fit(CTX, empty, ["a", "b"]).items()} == {"a": [], "b": []}


def test_one_hot_partials_go_through_the_codec(tmp_path):
    table = StandaloneComputing().read(_category_table(tmp_path / "t"))
    first, second = list(table.record_batches(1200))[:2]
    parts = [codec.decode(codec.encode(one_hot._batch_distinct(("a", "r", "b"), batch))) for batch in (first, second)]
    merged = one_hot._merge_distinct(*parts)
    assert merged["integral"].tolist() == [True, False, True] and merged["distinct"][1].size == 0
    assert merged["distinct"][2].tolist() == [4.0, 7.0, 9.0, 12.0]


def test_one_hot_on_spark_is_a_plan_equal_to_the_standalone_engine(spark, tmp_path):
    meta = _category_table(tmp_path / "t")
    other = _category_table(tmp_path / "other", rows=200, seed=5)  # values the fit did not see: all zeros
    for params in ENCODINGS:
        local = _run(one_hot.run, StandaloneComputing().read(meta), params)
        table = spark.read(meta)
        done = _run(one_hot.run, table, params)
        assert not table.collected  # the distinct values are partial results
        assert isinstance(done.output, SparkTable) and not done.output.collected
        assert done.model == local.model and done.summary == local.summary
        _assert_same_rows(done.output, local.output)

        local_predicted = _run(one_hot.run, StandaloneComputing().read(other), params, PREDICT, local.model)
        predicted = _run(one_hot.run, spark.read(other), params, PREDICT, local.model)
        assert isinstance(predicted.output, SparkTable) and not predicted.output.collected
        assert predicted.model == local_predicted.model == local.model
        _assert_same_rows(predicted.output, local_predicted.output)
