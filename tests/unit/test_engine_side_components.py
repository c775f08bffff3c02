"""Components whose row work runs where the table lives: DataTransform (dense) and FeatureScale compute with
``Table.map_batches`` / ``Table.aggregate``, so on Spark their output is a plan the executors compute (never
collected into the task), and it equals the standalone engine's row for row; FeatureScale's fit (cap mode's
quantiles included) equals a plain numpy computation on the whole column."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from fate_flow.components._feature_scale import Scaling
from fate_flow.components._feature_scale import _fit as fit_scaling
from fate_flow.components.data_transform import DataTransformParams
from fate_flow.components.data_transform.runner import _apply as apply_transform
from fate_flow.components.data_transform.runner import _fit as fit_transform
from fate_flow.components.feature_scale import FeatureScaleParams
from fate_flow.engine.parts import write_parts
from fate_flow.engine.spark import SparkTable
from fate_flow.engine.standalone import StandaloneComputing
from fate_flow.entity.table_meta import TableMeta
from fate_flow.errors import ComponentError
from tests.spark_support import local_spark  # noqa: F401  (the module fixture `spark`)

ROWS = 3000
CTX = SimpleNamespace(component_name="component_0")


def _text_table(directory: Path, parts: int = 3) -> TableMeta:
    """A Reader's table: every column text, some values missing ("", "NA") and some outliers ("-999")."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(ROWS, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -1.0]
    texts = x.round(6).astype(str)
    texts[rng.random((ROWS, 3)) < 0.05] = "NA"
    texts[rng.random((ROWS, 3)) < 0.02] = ""
    texts[rng.random((ROWS, 3)) < 0.01] = "-999"
    data = pa.table({"id": [f"id{i}" for i in range(ROWS)], "y": (np.arange(ROWS) % 2).astype(str),
                     **{f"x{j}": texts[:, j] for j in range(3)}})
    write_parts(data, directory, parts)
    return TableMeta(namespace="ns", name="t", path=str(directory), count=ROWS, partitions=parts,
                     schema={"sid": "id", "header": ["y", "x0", "x1", "x2"]})


TRANSFORM = DataTransformParams(with_label=True, label_name="y", label_type="int", missing_fill=True,
                                missing_fill_method="mean", outlier_replace=True, outlier_impute=["-999"],
                                outlier_replace_method="max")


def _transformed(computing, meta: TableMeta):
    table = computing.read(meta)
    transform, rates = fit_transform(CTX, table, TRANSFORM)
    return transform, apply_transform(CTX, table, transform), rates


def test_data_transform_on_spark_is_a_plan_that_equals_the_standalone_engine(spark, tmp_path):
    meta = _text_table(tmp_path / "t")
    local_transform, local, local_rates = _transformed(StandaloneComputing(), meta)
    transform, output, rates = _transformed(spark, meta)
    assert isinstance(output, SparkTable) and not output.collected  # the executors compute it when it is used
    assert transform == local_transform and rates == local_rates
    assert output.schema == local.schema and output.arrow_schema() == local.arrow_schema()
    np.testing.assert_array_equal(output.sids(), local.sids())
    np.testing.assert_array_equal(output.labels(), local.labels())
    np.testing.assert_allclose(output.features(), local.features(), rtol=1e-15)

    # the fill and replacement values are the plain statistics of each column's valid values
    raw = StandaloneComputing().read(meta)
    for name in ("x0", "x1", "x2"):
        text = raw.column(name).astype(str)
        present = np.array([float(v) for v in text if v not in ("", "NA")])  # outliers count for the fill
        assert transform.missing_fill[name] == pytest.approx(present.mean(), rel=1e-12)
        assert transform.outlier_replace[name] == present[present != -999].max()
        assert rates["outlier"][name] == pytest.approx(np.mean(text == "-999"))
        assert rates["missing"][name] == pytest.approx(np.mean((text == "") | (text == "NA")))
    assert not np.isnan(output.features()).any()


def test_a_bad_value_fails_in_the_executor_with_the_column_named(spark, tmp_path):
    meta = _text_table(tmp_path / "t")
    table = spark.read(meta)
    transform, _ = fit_transform(CTX, table, DataTransformParams(with_label=True, label_name="y"))
    transform.missing_values = []  # "NA" is now a value, and not a number
    output = apply_transform(CTX, table, transform)
    with pytest.raises(ComponentError, match="component_0: feature column 'x0' holds a value that is not a number"):
        output.features()


@pytest.mark.parametrize("params", [
    FeatureScaleParams(method="standard_scale"),
    FeatureScaleParams(method="min_max_scale", feat_upper=3.0, feat_lower=-2.0, scale_col_indexes=[0, 2]),
    FeatureScaleParams(method="standard_scale", feat_upper=[1.0, 9.0, 0.0], with_mean=False),
    FeatureScaleParams(method="min_max_scale", mode="cap", feat_upper=0.9, feat_lower=0.05),
], ids=["standard", "min-max-bounded-columns", "standard-capped-no-mean", "cap-quantiles"])
def test_feature_scale_fits_the_plain_statistics_and_scales_in_the_executors(spark, tmp_path, params):
    meta = _text_table(tmp_path / "t")
    _, local_input, _ = _transformed(StandaloneComputing(), meta)
    _, spark_input, _ = _transformed(spark, meta)
    scaling = fit_scaling(CTX, spark_input, params)
    assert not spark_input.collected  # fitted from partial results only
    local_scaling = fit_scaling(CTX, local_input, params)
    for name in ("lower", "upper", "mean", "std"):
        np.testing.assert_allclose(getattr(scaling, name), getattr(local_scaling, name), rtol=1e-12)
    _check_against_numpy(scaling, local_input.features(), params)

    scaled = scaling.apply(CTX, spark_input)
    assert isinstance(scaled, SparkTable) and not scaled.collected
    expected = local_scaling.apply(CTX, local_input).features()
    np.testing.assert_allclose(scaled.features(), expected, rtol=1e-12, atol=1e-12)


def _check_against_numpy(scaling: Scaling, features: np.ndarray, params: FeatureScaleParams) -> None:
    positions = list(range(features.shape[1])) if params.scale_col_indexes == -1 else params.scale_col_indexes
    values = features[:, positions]
    upper, lower = values.max(axis=0), values.min(axis=0)
    if params.mode == "cap":  # the quantiles' values: ranks ceil(q n) of the sorted column
        upper = np.quantile(values, params.feat_upper, axis=0, method="inverted_cdf")
        lower = np.quantile(values, params.feat_lower, axis=0, method="inverted_cdf")
    elif params.feat_upper is not None:
        upper = np.minimum(upper, np.asarray(params.feat_upper, dtype=float)[positions] if isinstance(
            params.feat_upper, list) else params.feat_upper)
    if params.feat_lower is not None and params.mode != "cap":
        lower = np.maximum(lower, params.feat_lower)
    np.testing.assert_allclose(scaling.upper, upper)
    np.testing.assert_allclose(scaling.lower, lower)
    if params.method == "standard_scale":
        clipped = np.clip(values, lower, upper)
        np.testing.assert_allclose(scaling.mean, clipped.mean(axis=0) if params.with_mean else 0.0, atol=1e-12)
        np.testing.assert_allclose(scaling.std, clipped.std(axis=0), rtol=1e-10)


def test_column_expand_appends_its_columns_in_the_executors(spark, tmp_path):
    from fate_flow.components._column_expand import expand

    meta = _text_table(tmp_path / "t")
    ctx = SimpleNamespace(component_name="column_expand_0", role="guest", party_id="9999")
    expanded = expand(ctx, spark.read(meta), ["a", "b"], [0.5, "z"])
    assert isinstance(expanded, SparkTable) and not expanded.collected
    local = expand(ctx, StandaloneComputing().read(meta), ["a", "b"], [0.5, "z"])
    assert expanded.schema.header == (*StandaloneComputing().read(meta).schema.header, "a", "b")
    assert expanded.arrow_schema() == local.arrow_schema()  # a text table gets text columns, as FATE writes them
    assert set(expanded.column("a").tolist()) == {"0.5"} and set(expanded.column("b").tolist()) == {"z"}
    np.testing.assert_array_equal(expanded.sids(), local.sids())


def test_feature_selection_keeps_its_columns_in_the_executors(spark, tmp_path):
    from fate_flow.components._tables import float_matrix, keep_features

    meta = _text_table(tmp_path / "t")
    table = spark.read(meta)
    kept = keep_features(table, ["x2", "x0"])
    assert isinstance(kept, SparkTable) and not kept.collected
    # a Reader's table: y is one of its features, so it goes too
    assert kept.schema.header == ("x2", "x0") and kept.arrow_schema().names == ["id", "x2", "x0"]
    local = StandaloneComputing().read(meta)
    np.testing.assert_array_equal(kept.features(), float_matrix(local, ["x2", "x0"]))  # NaN where missing
    np.testing.assert_array_equal(kept.sids(), local.sids())  # the other columns as stored
