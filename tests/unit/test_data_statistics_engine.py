"""DataStatistics computed where the table lives: the moments through ``Table.aggregate`` (two passes), the
percentiles and the median by narrowing bin counts (``_rank_values``), equal to a plain numpy / scipy
computation here on a table of several partitions with missing texts, an abnormal value, a constant column
and an empty column; on a real Spark (``local[2]``) equal to the standalone engine, computed without
collecting; the narrowing itself on columns with heavy ties and a huge range, over several passes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from fate_flow.components import _rank_values
from fate_flow.components._data_statistics import FLOAT_ZERO, table_statistics
from fate_flow.components._tables import MISSING_TEXTS
from fate_flow.components.data_statistics import StatisticsParams
from fate_flow.engine.parts import write_parts
from fate_flow.engine.standalone import StandaloneComputing
from fate_flow.engine.table import Table
from fate_flow.entity.table_meta import TableMeta
from tests.spark_support import local_spark  # noqa: F401  (the module fixture `spark`)

ROWS = 997  # not a multiple of the partitions: parts of different sizes
PARTS = 4
COLUMNS = ["a", "b", "c", "d", "e"]
ABNORMAL = -999.0
QUANTILES = ["5%", "25%", "95%", "100%"]


def _texts(values: np.ndarray, rng: np.random.Generator) -> list[str]:
    """``values`` as text, with some empty and some ``NA`` (missing) and some ``-999`` (abnormal)."""
    texts = [repr(float(v)) for v in values]
    for index in rng.choice(len(texts), 40, replace=False):
        texts[index] = ("", "NA", " ", "-999")[index % 4]
    return texts


def _data() -> pa.Table:
    rng = np.random.default_rng(7)
    b = rng.exponential(3.0, ROWS)  # skewed
    b[::50] = np.nan  # a typed column (as DataTransform leaves it): NaN is missing
    return pa.table({
        "id": [f"s{i}" for i in range(ROWS)],
        "y": np.arange(ROWS) % 2,
        "a": _texts(rng.normal(10.0, 2.5, ROWS), rng),
        "b": b,
        "c": ["4.25"] * (ROWS - 3) + ["", "NA", "-999"],  # constant: variance 0
        "d": _texts(np.round(rng.uniform(-5, 5, ROWS), 1), rng),  # ties: rank statistics among repeats
        "e": [""] * (ROWS - 1) + ["-999"],  # no valid value at all
    })


def _stored(directory: Path, data: pa.Table, parts: int = PARTS) -> TableMeta:
    write_parts(data, directory, parts)
    return TableMeta(namespace="ns", name="t", path=str(directory), count=data.num_rows, partitions=parts,
                     schema={"sid": "id", "header": COLUMNS, "label_name": "y"})


def _params(bias: bool, **more) -> StatisticsParams:
    return StatisticsParams(statistics=["count", "variance", "median", *QUANTILES], abnormal_list=[ABNORMAL, "x"],
                            bias=bias, quantile_error=1e-4, **more)


# -- the plain reference -------------------------------------------------------------------------------------------

def _parsed(column: pa.ChunkedArray) -> np.ndarray:
    """A column as floats, the plain way: a missing text (stripped) or a null is NaN."""
    values = column.to_pylist()
    return np.array([math.nan if v is None or (isinstance(v, str) and v.strip() in MISSING_TEXTS) else float(v)
                     for v in values], dtype=np.float64)


def _rank_quantile(ordered: np.ndarray, q: float, error: float) -> float:
    """The value of rank ceil(q * n) among ``ordered``; the min / max within ``error`` of the ends."""
    if not len(ordered):
        return math.nan
    if q <= error:
        return float(ordered[0])
    if q >= 1 - error:
        return float(ordered[-1])
    return float(ordered[math.ceil(q * len(ordered)) - 1])


def _reference(values: np.ndarray, params: StatisticsParams) -> dict[str, float]:
    """Every statistic of one column, from numpy and scipy on its valid values."""
    valid = values[~np.isnan(values) & (values != ABNORMAL)]
    n = len(valid)
    expected: dict[str, float] = {"count": n, "missing_count": int(np.isnan(values).sum()),
                                  "missing_ratio": np.isnan(values).sum() / len(values), "sum": float(valid.sum())}
    if not n:
        return expected | {name: math.nan for name in ("mean", "variance", "stddev", "coefficient_of_variance",
                                                       "skewness", "kurtosis", "min", "max", "median",
                                                       *QUANTILES)}
    mean = valid.mean()
    variance = np.var(valid)
    variance = 0.0 if abs(variance) < FLOAT_ZERO else variance
    constant = variance == 0
    expected |= {
        "mean": mean, "variance": variance, "stddev": math.sqrt(variance), "min": valid.min(), "max": valid.max(),
        "coefficient_of_variance": abs(math.sqrt(variance) / (mean if abs(mean) >= FLOAT_ZERO else FLOAT_ZERO)),
        # a constant column: the moment ratios count as 0, so the excess kurtosis is -3 (scipy gives NaN)
        "skewness": 0.0 if constant else stats.skew(valid, bias=params.bias),
        "kurtosis": -3.0 if constant else stats.kurtosis(valid, bias=params.bias)}
    ordered = np.sort(valid)
    expected["median"] = _rank_quantile(ordered, 0.5, params.quantile_error)
    for name in QUANTILES:
        expected[name] = _rank_quantile(ordered, float(name[:-1]) / 100, params.quantile_error)
    return expected


def _assert_equal_reference(results: dict[str, list], data: pa.Table, params: StatisticsParams) -> None:
    assert list(results) == [n for n in params.statistics if not n.endswith("%")] + params.quantiles
    for index, column in enumerate(COLUMNS):
        expected = _reference(_parsed(data.column(column)), params)
        for name, values in results.items():
            want, got = expected[name], values[index]
            if isinstance(want, float) and math.isnan(want):
                assert got is None, (column, name, got)
            else:
                assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (column, name, got, want)


# -- the standalone engine -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[TableMeta, pa.Table]:
    data = _data()
    return _stored(tmp_path_factory.mktemp("statistics") / "t", data), data


@pytest.mark.parametrize("bias", [True, False])
def test_statistics_from_aggregates_equal_numpy_and_scipy(stored, bias):
    meta, data = stored
    table = StandaloneComputing().read(meta)
    params = _params(bias)
    results = table_statistics(table, COLUMNS, params)
    _assert_equal_reference(results, data, params)
    # the edge rules, spelt out: a constant column, and a column with no valid value
    c, e = COLUMNS.index("c"), COLUMNS.index("e")
    assert [results[name][c] for name in ("variance", "stddev", "skewness", "kurtosis")] == [0.0, 0.0, 0.0, -3.0]
    assert results["count"][e] == 0 and results["missing_count"][e] == ROWS - 1
    assert results["sum"][e] == 0.0 and results["mean"][e] is None and results["median"][e] is None
    # the abnormal text "x" is no number, so it is ignored; -999 is left out but is not missing
    assert results["missing_count"][c] == 2 and results["count"][c] == ROWS - 3


def test_nothing_is_collected_not_even_for_the_median_and_percentiles(stored, monkeypatch):
    """Every statistic, the median and percentiles included, is computed from partial results of the batches:
    the table is never loaded into the task, as a whole or a column at a time."""
    meta, data = stored
    table = StandaloneComputing().read(meta)

    def collected(*_: object) -> None:
        raise AssertionError("the columns were collected")

    for name in ("floats", "features", "column", "data"):
        monkeypatch.setattr(type(table), name, property(collected) if name == "data" else collected)
    params = _params(False)
    assert "median" in params.statistics and params.quantiles
    _assert_equal_reference(table_statistics(table, COLUMNS, params), data, params)


def test_a_table_without_rows(stored):
    meta, _ = stored
    empty = StandaloneComputing().read(meta).filter_sids(["nobody"])
    params = _params(True).model_copy(update={"statistics": ["count", "sum", "mean", "missing_ratio", "kurtosis"]})
    assert table_statistics(empty, COLUMNS, params) == {
        "count": [0] * 5, "sum": [0.0] * 5, "mean": [None] * 5, "missing_ratio": [0.0] * 5, "kurtosis": [None] * 5}


def test_only_the_chosen_columns_are_read(stored):
    meta, data = stored
    params = _params(True)
    results = table_statistics(StandaloneComputing().read(meta), ["d", "a"], params)
    every = table_statistics(StandaloneComputing().read(meta), COLUMNS, params)
    assert results == {name: [values[3], values[0]] for name, values in every.items()}


# -- a real Spark --------------------------------------------------------------------------------------------------

def _close(a: dict[str, list], b: dict[str, list]) -> None:
    assert list(a) == list(b)
    for name in a:
        for x, y in zip(a[name], b[name], strict=True):
            assert (x is None and y is None) or x == pytest.approx(y, rel=1e-12, abs=1e-15), (name, x, y)


def test_on_spark_the_statistics_equal_the_standalone_engine(spark, stored, monkeypatch):
    meta, data = stored
    local: Table = StandaloneComputing().read(meta)
    for bias in (True, False):
        params = _params(bias)
        on_spark = table_statistics(spark.read(meta), COLUMNS, params)
        _close(on_spark, table_statistics(local, COLUMNS, params))
        _assert_equal_reference(on_spark, data, params)
    # computed in the executors: the table is never collected into the driver
    table = spark.read(meta)
    table_statistics(table, COLUMNS, _params(False))
    assert not table.collected


def test_the_default_statistics_are_fates_basic_set():
    """A conf that leaves ``statistics`` out gets FATE's "summary" (it was once left a bare string)."""
    from fate_flow.components.data_statistics import StatisticsParams

    assert StatisticsParams().statistics == StatisticsParams(statistics="summary").statistics
    assert "median" in StatisticsParams().statistics


@pytest.mark.parametrize("collect_at", [8, 65_536], ids=["many-passes", "one-pass"])
def test_rank_values_equal_numpys_inverted_cdf(tmp_path, monkeypatch, collect_at):
    """The narrowing gives numpy's exact ranks: ties, a huge range, negative values, ranks at both ends."""
    monkeypatch.setattr(_rank_values, "COLLECT_AT", collect_at)
    rng = np.random.default_rng(3)
    rows = 50_000
    tied = rng.integers(0, 5, rows).astype(float)  # heavy ties: bins that cannot be split
    wide = np.concatenate([rng.normal(size=rows - 3) * 1e-9, [-1e300, 1e300, 7.0]])  # a cluster and outliers
    data = pa.table({"id": np.arange(rows).astype(str), "t": tied, "w": wide})
    write_parts(data, tmp_path / "t", 3)
    table = StandaloneComputing().read(TableMeta(namespace="ns", name="t", path=str(tmp_path / "t"), count=rows,
                                                 partitions=3, schema={"sid": "id", "header": ["t", "w"]}))
    columns = [tied, wide]
    quantiles = [0.0001, 0.25, 0.5, 0.9, 0.99999, 1.0]
    queries = [(c, _rank_values.rank_of(q, rows)) for c in range(2) for q in quantiles]
    found = _rank_values.rank_values(table, _plain_columns, queries, np.array([c.min() for c in columns]),
                                     np.array([c.max() for c in columns]), np.array([rows, rows]))
    expected = [np.quantile(columns[c], q, method="inverted_cdf") for c in range(2) for q in quantiles]
    np.testing.assert_array_equal(found, expected)


def _plain_columns(batch: pa.RecordBatch) -> list[np.ndarray]:
    return [batch.column("t").to_numpy(), batch.column("w").to_numpy()]
