"""DataStatistics, FeatureImputation, LabelTransform, OneHotEncoder and FederatedSample on a real standalone
server, each against a plain computation here: statistics equal numpy's and scipy's, imputed values the
column statistics, label mappings and their inverse on prediction results, one-hot columns a plain
encoding, sample sizes as asked with the hosts following the guest's ids; bad parameters refused at
submit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from tests.algorithms.conftest import GUEST, HOST
from tests.jobs import (
    FATE_DATA,
    component_call,
    job_conf,
    output_rows,
    reader_params,
    run_job,
    submit,
    summary,
    upload,
)
from tests.support import upload_multipart


def _component(module: str, data: str, model: str | None = None, key: str = "data", outputs: bool = True) -> dict:
    body: dict = {"module": module, "input": {"data": {key: [data]}}, "output": {"data": ["data"]}}
    if model:
        body["input"]["model"] = [model]
    if outputs:
        body["output"]["model"] = ["model"]
    return body


def _reader(name: str = "reader_0") -> dict:
    return {name: {"module": "Reader", "output": {"data": ["data"]}}}


def _transform(name: str, reader: str, model: str | None = None) -> dict:
    return {name: _component("DataTransform", f"{reader}.data", model)}


def _write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.write_text("\n".join([",".join(header)] + [",".join(str(v) for v in row) for row in rows]) + "\n")
    return path


def _breast(name: str) -> tuple[list[str], list[list[str]]]:
    lines = (FATE_DATA / name).read_text().splitlines()
    return lines[0].split(","), [line.split(",") for line in lines[1:]]


def _number(text: str) -> float:
    return float(text) if text not in ("", "nan", "NaN", "None") else np.nan


def _matrix(rows: list[dict], columns: list[str]) -> np.ndarray:
    return np.array([[_number(row[c]) for c in columns] for row in rows], dtype=np.float64)


def _by_id(rows: list[dict], sid: str = "id") -> dict[str, dict]:
    return {row[sid]: row for row in rows}


def _metric(server, job_id: str, component: str, namespace: str, name: str) -> tuple[list, dict]:
    """The points and the meta of one metric of the guest's task."""
    body = component_call(server, "metric_data", job_id, component, "guest", GUEST, metric_namespace=namespace,
                          metric_name=name)
    return body["data"], body["meta"]


def _preview(server, job_id: str, component: str) -> dict[str, dict]:
    """The guest's output rows by id, as FATE-Board previews them (``output/data``)."""
    body = component_call(server, "output/data", job_id, component, "guest", GUEST)
    header = body["meta"]["header"][0]
    return {row[0]: dict(zip(header, row, strict=True)) for row in body["data"][0]}


def _as_text(rows: list[list[str]], values: np.ndarray) -> list[list[str]]:
    """Breast rows (id, y) with ``values`` as their features, NaN written as an empty cell."""
    return [[row[0], row[1], *["" if np.isnan(v) else repr(float(v)) for v in line]]
            for row, line in zip(rows, values, strict=True)]


# -- DataStatistics and FeatureImputation ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stats_tables(breast_server, tmp_path_factory) -> dict:
    """The breast guest table with 5% of its feature cells blank and 1% zero, and 60 other rows with blanks."""
    directory = tmp_path_factory.mktemp("data_b")
    header, rows = _breast("breast_hetero_guest.csv")
    rng = np.random.default_rng(0)
    values = np.array([[float(v) for v in row[2:]] for row in rows])
    blank = rng.random(values.shape) < 0.05
    zero = (rng.random(values.shape) < 0.01) & ~blank
    values[zero] = 0.0
    values[blank] = np.nan
    upload(breast_server, _write_csv(directory / "stats.csv", header, _as_text(rows, values)), "stats_guest")
    other = values[:60].copy()
    other[rng.random(other.shape) < 0.2] = np.nan
    upload(breast_server, _write_csv(directory / "other.csv", header, _as_text(rows[:60], other)), "stats_other")
    return {"header": header[2:], "values": values, "other": other}


STATS_DSL = {"components": {
    **_reader(), **_transform("data_transform_0", "reader_0"),
    "statistic_0": _component("DataStatistics", "data_transform_0.data"),
    "statistic_1": _component("DataStatistics", "data_transform_0.data"),
    "feature_imputation_0": _component("FeatureImputation", "data_transform_0.data"),
    "feature_imputation_2": _component("FeatureImputation", "data_transform_0.data"),
    **_reader("reader_1"), **_transform("data_transform_1", "reader_1", "data_transform_0.model"),
    "feature_imputation_1": _component("FeatureImputation", "data_transform_1.data", "feature_imputation_0.model"),
}}
IMPUTE_METHODS = {"x0": "max", "x1": "designated", "x2": "min"}


@pytest.fixture(scope="module")
def stats_job(breast_server, stats_tables) -> str:
    role = reader_params("stats_guest", ["breast_hetero_host"])
    role["guest"]["0"]["reader_1"] = {"table": {"name": "stats_other", "namespace": "experiment"}}
    role["host"]["0"]["reader_1"] = {"table": {"name": "breast_hetero_host", "namespace": "experiment"}}
    role["guest"]["0"]["data_transform_0"] = {"with_label": True}
    role["host"]["0"]["data_transform_0"] = {"with_label": False}
    role["guest"]["0"]["feature_imputation_0"] = {"col_missing_fill_method": IMPUTE_METHODS, "default_value": 7}
    common = {
        "statistic_0": {"statistics": ["95%", "25%", "variance", "count"]},
        "statistic_1": {"statistics": "summary", "column_indexes": [1, 2], "column_names": ["x5", "nope"],
                        "bias": False, "abnormal_list": [0]},
        "feature_imputation_0": {"missing_fill_method": "mean"},
        "feature_imputation_2": {"missing_fill_method": "min", "missing_impute": [0]},
    }
    job_id, status = run_job(breast_server, STATS_DSL, job_conf(GUEST, [HOST], None, common, role))
    assert status == "success"
    return job_id


def _quantile(x: np.ndarray, q: float) -> float:
    return float(np.quantile(x, q, method="inverted_cdf"))


def _reference(column: np.ndarray, bias: bool = True) -> dict[str, float]:
    x = column[~np.isnan(column)]
    variance = float(np.var(x))
    return {"count": len(x), "sum": x.sum(), "mean": x.mean(), "variance": variance, "stddev": np.sqrt(variance),
            "min": x.min(), "max": x.max(), "median": _quantile(x, 0.5), "95%": _quantile(x, 0.95),
            "25%": _quantile(x, 0.25), "skewness": stats.skew(x, bias=bias),
            "kurtosis": stats.kurtosis(x, bias=bias), "coefficient_of_variance": abs(np.sqrt(variance) / x.mean()),
            "missing_count": int(np.isnan(column).sum()), "missing_ratio": np.isnan(column).mean()}


def test_statistics_equal_numpy_and_scipy(breast_server, stats_tables, stats_job):
    result = summary(breast_server, stats_job, "statistic_0", "guest", GUEST)
    header, values = stats_tables["header"], stats_tables["values"]
    assert list(result) == header
    basic = ["sum", "mean", "stddev", "median", "min", "max", "missing_ratio", "missing_count", "skewness",
             "kurtosis", "coefficient_of_variance", "variance", "count", "95%", "25%"]
    assert all(list(result[column]) == basic for column in header)  # FATE's merge order: basic, asked, percentiles
    assert sum(result[c]["missing_count"] for c in header) == int(np.isnan(values).sum()) > 0
    for index, column in enumerate(header):
        expected = _reference(values[:, index])
        for name in basic:
            assert result[column][name] == pytest.approx(expected[name], rel=1e-9, abs=1e-12), (column, name)
    # the data passes on unchanged; the model holds the same figures as FATE-Board reads them
    assert len(output_rows(breast_server, stats_job, "statistic_0", "guest", GUEST)) == 569
    model = component_call(breast_server, "output/model", stats_job, "statistic_0", "guest", GUEST)["data"]
    results = {r["valueName"]: r for r in model["selfValues"]["results"]}
    assert list(results) == basic and results["mean"]["colNames"] == header
    assert results["mean"]["values"] == [result[c]["mean"] for c in header]


def test_statistics_of_chosen_columns_unbiased_without_abnormal_values(breast_server, stats_job):
    header, rows = _breast("breast_hetero_host.csv")
    values = np.array([[float(v) for v in row[1:]] for row in rows])
    result = summary(breast_server, stats_job, "statistic_1", "host", HOST)
    assert list(result) == ["x1", "x2", "x5"]  # indexes first, then names; an unknown name is skipped
    for column in result:
        column_values = values[:, header[1:].index(column)]
        expected = _reference(np.where(column_values == 0, np.nan, column_values), bias=False)
        for name in ("mean", "stddev", "skewness", "kurtosis", "median", "min"):
            assert result[column][name] == pytest.approx(expected[name], rel=1e-9), (column, name)
        assert result[column]["missing_count"] == 0


def _fill_values(values: np.ndarray, header: list[str]) -> dict[str, float]:
    fill = {}
    for index, column in enumerate(header):
        x = values[:, index][~np.isnan(values[:, index])]
        method = IMPUTE_METHODS.get(column, "mean")
        fill[column] = 7.0 if method == "designated" else float(getattr(np, method)(x))
    return fill


def test_imputation_fills_each_column_by_its_method(breast_server, stats_tables, stats_job):
    header, values = stats_tables["header"], stats_tables["values"]
    fill = _fill_values(values, header)
    expected = np.where(np.isnan(values), np.array([fill[c] for c in header]), values)
    out = output_rows(breast_server, stats_job, "feature_imputation_0", "guest", GUEST)
    ids = [row[0] for row in _breast("breast_hetero_guest.csv")[1]]
    got = _matrix([_by_id(out)[sid] for sid in ids], header)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    info = summary(breast_server, stats_job, "feature_imputation_0", "guest", GUEST)
    assert info["missing_impute_value"] == pytest.approx(fill)
    assert info["missing_impute_rate"] == pytest.approx(dict(zip(header, np.isnan(values).mean(axis=0), strict=True)))
    assert info["skip_cols"] == [] and None in info["missing_value"]  # NaN (and the null texts) by default


def test_imputation_model_applies_the_fitted_values_to_other_data(breast_server, stats_tables, stats_job):
    header = stats_tables["header"]
    fill = _fill_values(stats_tables["values"], header)  # fitted on the training table, not refitted
    other = stats_tables["other"]
    expected = np.where(np.isnan(other), np.array([fill[c] for c in header]), other)
    out = output_rows(breast_server, stats_job, "feature_imputation_1", "guest", GUEST)
    ids = [row[0] for row in _breast("breast_hetero_guest.csv")[1][:60]]
    np.testing.assert_allclose(_matrix([_by_id(out)[sid] for sid in ids], header), expected, rtol=1e-12)


def test_imputation_of_designated_missing_values_leaves_nan(breast_server, stats_tables, stats_job):
    header, values = stats_tables["header"], stats_tables["values"]
    out = output_rows(breast_server, stats_job, "feature_imputation_2", "guest", GUEST)
    ids = [row[0] for row in _breast("breast_hetero_guest.csv")[1]]
    got = _matrix([_by_id(out)[sid] for sid in ids], header)
    valid = np.where((values == 0) | np.isnan(values), np.inf, values)
    expected = np.where(values == 0, valid.min(axis=0), values)  # only 0 is missing: NaN stays
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    info = summary(breast_server, stats_job, "feature_imputation_2", "guest", GUEST)
    assert info["missing_value"] == [0]
    assert info["missing_impute_rate"] == pytest.approx(dict(zip(header, (values == 0).mean(axis=0), strict=True)))


# -- LabelTransform and OneHotEncoder -------------------------------------------------------------------------------
LABELS_DSL = {"components": {
    **_reader(), **_transform("data_transform_0", "reader_0"),
    "label_transform_0": _component("LabelTransform", "data_transform_0.data"),
    "label_transform_1": _component("LabelTransform", "data_transform_0.data"),
    "one_hot_encoder_0": _component("OneHotEncoder", "data_transform_0.data"),
    **_reader("reader_1"), **_transform("data_transform_1", "reader_1", "data_transform_0.model"),
    "one_hot_encoder_1": _component("OneHotEncoder", "data_transform_1.data", "one_hot_encoder_0.model"),
    **_reader("reader_2"),
    "label_transform_2": _component("LabelTransform", "reader_2.data", "label_transform_0.model"),
}}
PREDICTIONS = [("p1", 0, 0, 0.6, {"0": 0.6, "1": 0.3, "2": 0.1}), ("p2", 2, 1, 0.5, {"0": 0.1, "1": 0.5, "2": 0.4}),
               ("p3", 1, 2, 0.7, {"0": 0.2, "1": 0.1, "2": 0.7})]


@pytest.fixture(scope="module")
def category_tables(breast_server, tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("categories")
    rng = np.random.default_rng(1)
    n = 60
    guest = {"y": rng.choice([1, 3, 5], n), "a": rng.choice([0, 1, 2], n), "b": rng.choice([-1, 4, 7, 9], n),
             "c": np.round(rng.random(n), 4)}
    host = {"h1": rng.choice([0, 1], n), "h2": rng.choice([2, 3, 4], n)}
    other = {"y": rng.choice([1, 3], 10), "a": [0, 1, 2, 3, 0, 1, 2, 3, 0, 1], "b": rng.choice([-1, 4, 8], 10),
             "c": np.round(rng.random(10), 4)}
    for name, table, rows in (("cat_guest", guest, n), ("cat_host", host, n), ("cat_other", other, 10)):
        columns = list(table)
        lines = [[f"s{i}", *[table[c][i] for c in columns]] for i in range(rows)]
        upload(breast_server, _write_csv(directory / f"{name}.csv", ["id", *columns], lines), name)
    tsv = directory / "predictions.tsv"
    tsv.write_text("id\tlabel\tpredict_result\tpredict_score\tpredict_detail\ttype\n" + "".join(
        f"{sid}\t{label}\t{result}\t{score}\t{json.dumps(detail)}\ttest\n"
        for sid, label, result, score, detail in PREDICTIONS))
    answer = upload_multipart(breast_server, {"namespace": "experiment", "table_name": "cat_predictions", "head": 1,
                                              "partition": 1, "drop": 1, "id_delimiter": "\t"}, tsv).json()
    assert answer["retcode"] == 0, answer
    assert breast_server.wait_job(answer["jobId"], timeout=120)["f_status"] == "success"
    return {"guest": guest, "host": host, "other": other}


@pytest.fixture(scope="module")
def labels_job(breast_server, category_tables) -> str:
    role = reader_params("cat_guest", ["cat_host"])
    for index, (guest_table, host_table) in enumerate((("cat_other", "cat_host"),
                                                       ("cat_predictions", "cat_predictions")), start=1):
        role["guest"]["0"][f"reader_{index}"] = {"table": {"name": guest_table, "namespace": "experiment"}}
        role["host"]["0"][f"reader_{index}"] = {"table": {"name": host_table, "namespace": "experiment"}}
    role["guest"]["0"]["data_transform_0"] = {"with_label": True}
    role["guest"]["0"]["label_transform_1"] = {"label_encoder": {"1": "one", "3": "three"}, "label_list": [1, 3]}
    role["guest"]["0"]["one_hot_encoder_0"] = {"transform_col_indexes": [], "transform_col_names": ["b", "a"]}
    role["host"]["0"].update({"data_transform_0": {"with_label": False}, "label_transform_0": {"need_run": False},
                              "label_transform_1": {"need_run": False}})
    job_id, status = run_job(breast_server, LABELS_DSL, job_conf(GUEST, [HOST], None, {}, role))
    assert status == "success"
    return job_id


def test_label_transform_codes_sorted_labels_or_the_given_encoder(breast_server, category_tables, labels_job):
    y = category_tables["guest"]["y"]
    rows = _by_id(output_rows(breast_server, labels_job, "label_transform_0", "guest", GUEST))
    assert [int(rows[f"s{i}"]["y"]) for i in range(len(y))] == [{1: 0, 3: 1, 5: 2}[v] for v in y]
    assert float(rows["s0"]["c"]) == category_tables["guest"]["c"][0]  # features untouched
    named = _by_id(output_rows(breast_server, labels_job, "label_transform_1", "guest", GUEST))
    # FATE 1.11.4: a label the encoder lacks keeps its value
    assert [named[f"s{i}"]["y"] for i in range(len(y))] == [{1: "one", 3: "three", 5: "5"}[v] for v in y]
    points, meta = _metric(breast_server, labels_job, "label_transform_0", "train", "label_transform")
    assert points == [["label_transform", 0]]
    assert meta["label_encoder"] == {"1": 0, "3": 1, "5": 2} and meta["metric_type"] == "LABEL_TRANSFORM"


def test_label_transform_model_decodes_prediction_results(breast_server, category_tables, labels_job):
    rows = _preview(breast_server, labels_job, "label_transform_2")
    decode = {0: "1", 1: "3", 2: "5"}
    for sid, label, result, score, detail in PREDICTIONS:
        row = rows[sid]
        assert (row["label"], row["predict_result"]) == (decode[label], decode[result])
        assert float(row["predict_score"]) == score
        assert json.loads(row["predict_detail"]) == {decode[int(k)]: v for k, v in detail.items()}


def _one_hot(column: np.ndarray, values: list[int]) -> np.ndarray:
    return (np.asarray(column)[:, None] == np.asarray(values)[None, :]).astype(float)


def test_one_hot_columns_equal_a_plain_encoding(breast_server, category_tables, labels_job):
    guest = category_tables["guest"]
    out = output_rows(breast_server, labels_job, "one_hot_encoder_0", "guest", GUEST)
    a_values, b_values = sorted(set(guest["a"])), sorted(set(guest["b"]))
    header = [f"a_{v}" for v in a_values] + [f"b_{v}" for v in b_values] + ["c"]
    assert list(out[0]) == ["id", "y", *header]  # each encoded column replaced in place
    rows = _by_id(out)
    got = _matrix([rows[f"s{i}"] for i in range(60)], header)
    expected = np.hstack([_one_hot(guest["a"], a_values), _one_hot(guest["b"], b_values), guest["c"][:, None]])
    np.testing.assert_array_equal(got, expected)
    assert summary(breast_server, labels_job, "one_hot_encoder_0", "guest", GUEST) == {
        "original_dimension": 3, "transferred_dimension": len(header)}
    host = category_tables["host"]  # every column at the host (transform_col_indexes -1)
    host_rows = _by_id(output_rows(breast_server, labels_job, "one_hot_encoder_0", "host", HOST))
    host_header = [f"h1_{v}" for v in sorted(set(host["h1"]))] + [f"h2_{v}" for v in sorted(set(host["h2"]))]
    assert list(host_rows["s0"])[1:] == host_header
    np.testing.assert_array_equal(_matrix([host_rows[f"s{i}"] for i in range(60)], host_header), np.hstack(
        [_one_hot(host["h1"], sorted(set(host["h1"]))), _one_hot(host["h2"], sorted(set(host["h2"])))]))


def test_one_hot_model_encodes_other_data_with_the_fitted_columns(breast_server, category_tables, labels_job):
    guest, other = category_tables["guest"], category_tables["other"]
    a_values, b_values = sorted(set(guest["a"])), sorted(set(guest["b"]))
    header = [f"a_{v}" for v in a_values] + [f"b_{v}" for v in b_values] + ["c"]
    rows = _by_id(output_rows(breast_server, labels_job, "one_hot_encoder_1", "guest", GUEST))
    got = _matrix([rows[f"s{i}"] for i in range(10)], header)
    # a = 3 and b = 8 were not seen at fit: all zeros
    expected = np.hstack([_one_hot(other["a"], a_values), _one_hot(other["b"], b_values), other["c"][:, None]])
    np.testing.assert_array_equal(got, expected)
    assert got[3, :len(a_values)].sum() == 0


def test_one_hot_of_a_non_integer_feature_fails_naming_it(breast_server):
    dsl = {"components": {**_reader(), **_transform("data_transform_0", "reader_0"),
                          "one_hot_encoder_0": _component("OneHotEncoder", "data_transform_0.data")}}
    role = reader_params("breast_hetero_guest", ["breast_hetero_host"])
    role["guest"]["0"]["data_transform_0"] = {"with_label": True}
    role["host"]["0"]["data_transform_0"] = {"with_label": False}
    job_id, status = run_job(breast_server, dsl, job_conf(GUEST, [HOST], None, {}, role))
    assert status == "failed"
    text = "".join(p.read_text() for p in (breast_server.home / "logs" / job_id).rglob("ERROR.log"))
    assert "feature 'x0' holds values that are not integers" in text


# -- FederatedSample ------------------------------------------------------------------------------------------------
SAMPLE_DSL = {"components": {
    **_reader(), **_transform("data_transform_0", "reader_0"),
    **{f"federated_sample_{i}": _component("FederatedSample", "data_transform_0.data", outputs=False)
       for i in range(3)},
    "sample_weight_0": _component("SampleWeight", "data_transform_0.data"),
    "federated_sample_3": _component("FederatedSample", "sample_weight_0.data", outputs=False),
}}


@pytest.fixture(scope="module")
def sample_job(breast_server) -> str:
    role = reader_params("breast_hetero_guest", ["breast_hetero_host"])
    role["guest"]["0"]["data_transform_0"] = {"with_label": True}
    role["host"]["0"]["data_transform_0"] = {"with_label": False}
    role["guest"]["0"]["sample_weight_0"] = {"class_weight": "balanced"}  # the host's passes its data on
    common = {"federated_sample_3": {"mode": "exact_by_weight"},
              "federated_sample_0": {"fractions": 0.3, "random_state": 7},
              "federated_sample_1": {"mode": "stratified", "fractions": [[0, 0.5], [1, 0.2]]},
              "federated_sample_2": {"mode": "stratified", "method": "upsample", "fractions": [[0, 1.5], [1, 2.0]],
                                     "random_state": 3}}
    job_id, status = run_job(breast_server, SAMPLE_DSL, job_conf(GUEST, [HOST], None, common, role))
    assert status == "success"
    return job_id


def _breast_rows(name: str) -> dict[str, list[float]]:
    return {row[0]: [float(v) for v in row[1:]] for row in _breast(name)[1]}


def _values(row: dict) -> list[float]:
    return [float(v) for k, v in row.items() if k != "id"]


def test_random_downsample_size_and_hosts_follow_the_guest(breast_server, sample_job):
    guest = output_rows(breast_server, sample_job, "federated_sample_0", "guest", GUEST)
    host = output_rows(breast_server, sample_job, "federated_sample_0", "host", HOST)
    assert len(guest) == int(0.3 * 569) == len({r["id"] for r in guest})
    assert [r["id"] for r in host] == [r["id"] for r in guest]  # same ids, the input's order
    original_guest, original_host = _breast_rows("breast_hetero_guest.csv"), _breast_rows("breast_hetero_host.csv")
    assert all(_values(r) == original_guest[r["id"]] for r in guest)
    assert all(_values(r) == original_host[r["id"]] for r in host)
    assert summary(breast_server, sample_job, "federated_sample_0", "host", HOST) == {"sample_count": 170}
    assert _metric(breast_server, sample_job, "federated_sample_0", "sample_count", "random")[0] == [["count", 170]]


def test_stratified_downsample_per_label(breast_server, sample_job):
    labels = {sid: int(v[0]) for sid, v in _breast_rows("breast_hetero_guest.csv").items()}
    guest = output_rows(breast_server, sample_job, "federated_sample_1", "guest", GUEST)
    counts = {0: sum(1 for r in guest if int(r["y"]) == 0), 1: sum(1 for r in guest if int(r["y"]) == 1)}
    assert counts == {0: int(0.5 * 212), 1: int(0.2 * 357)}
    assert all(labels[r["id"]] == int(r["y"]) for r in guest)
    host = output_rows(breast_server, sample_job, "federated_sample_1", "host", HOST)
    assert sorted(r["id"] for r in host) == sorted(r["id"] for r in guest)
    assert summary(breast_server, sample_job, "federated_sample_1", "guest", GUEST) == {
        "sample_count": {"0": 106, "1": 71}, "original_count": {"0": 212, "1": 357}}
    points, meta = _metric(breast_server, sample_job, "federated_sample_1", "original_count", "stratified")
    assert points == [["0", 212], ["1", 357]] and meta["metric_type"] == "SAMPLE_TABLE"


def test_stratified_upsample_renumbers_rows_identically_at_the_host(breast_server, sample_job):
    original_guest, original_host = _breast_rows("breast_hetero_guest.csv"), _breast_rows("breast_hetero_host.csv")
    source_of = {tuple(v): sid for sid, v in original_guest.items()}
    assert len(source_of) == 569  # every breast row is distinct: a sampled row tells its source
    guest = output_rows(breast_server, sample_job, "federated_sample_2", "guest", GUEST)
    host = _by_id(output_rows(breast_server, sample_job, "federated_sample_2", "host", HOST))
    assert len(guest) == int(1.5 * 212) + int(2.0 * 357)
    assert sorted(int(r["id"]) for r in guest) == list(range(len(guest))) and sorted(host, key=int) == [
        str(i) for i in range(len(guest))]
    sources = [source_of[tuple(_values(r))] for r in guest]
    assert len(set(sources)) < len(sources)  # drawn with replacement
    assert sum(1 for r in guest if int(r["y"]) == 0) == int(1.5 * 212)
    for row, source in zip(guest, sources, strict=True):
        assert _values(host[row["id"]]) == original_host[source]


def test_exact_by_weight_repeats_each_row_ceil_weight_times(breast_server, sample_job):
    original_guest, original_host = _breast_rows("breast_hetero_guest.csv"), _breast_rows("breast_hetero_host.csv")
    source_of = {tuple(v): sid for sid, v in original_guest.items()}
    guest = output_rows(breast_server, sample_job, "federated_sample_3", "guest", GUEST)
    host = _by_id(output_rows(breast_server, sample_job, "federated_sample_3", "host", HOST))
    # balanced class weights: 569 / (2 * 212) = 1.34 for label 0, 569 / (2 * 357) = 0.80 for label 1
    weights = {0: 569 / (2 * 212), 1: 569 / (2 * 357)}
    sources = [source_of[tuple(float(r[c]) for c in r if c not in ("id", "weight"))] for r in guest]
    counts = {sid: sources.count(sid) for sid in set(sources)}
    assert counts == {sid: int(np.ceil(weights[int(v[0])])) for sid, v in original_guest.items()}
    assert len(guest) == 2 * 212 + 357 == len(host) == len({r["id"] for r in guest})
    for row, source in zip(guest, sources, strict=True):
        assert _values(host[row["id"]]) == original_host[source]
    assert summary(breast_server, sample_job, "federated_sample_3", "host", HOST) == {"sample_count": 781}


# -- refused at submit ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("module", "params", "field"), [
    ("DataStatistics", {"statistics": ["mean", "101%"]}, "statistics"),
    ("DataStatistics", {"column_indexes": 3}, "column_indexes"),
    ("DataStatistics", {"bias": 1}, "bias"),
    ("FeatureImputation", {"missing_fill_method": "median"}, "missing_fill_method"),
    ("FeatureImputation", {"col_missing_fill_method": {"x0": "mode"}}, "col_missing_fill_method"),
    ("LabelTransform", {"label_encoder": {"0": 1, "1": 0}, "label_list": [0]}, "label_list"),
    ("LabelTransform", {"label_encoder": [0, 1]}, "label_encoder"),
    ("OneHotEncoder", {"transform_col_indexes": "all"}, "transform_col_indexes"),
    ("FederatedSample", {"mode": "systematic"}, "mode"),
    ("FederatedSample", {"fractions": 1.5}, "fractions"),
    ("FederatedSample", {"mode": "stratified", "fractions": [[0, 0.5, 1]]}, "fractions"),
])
def test_bad_parameters_refused_at_submit(breast_server, module, params, field):
    dsl = {"components": {**_reader(), "cpn_0": _component(module, "reader_0.data",
                                                           outputs=module != "FederatedSample")}}
    role = reader_params("breast_hetero_guest", ["breast_hetero_host"])
    answer = submit(breast_server, dsl, job_conf(GUEST, [HOST], None, {"cpn_0": params}, role))
    assert answer["retcode"] == 103, answer
    assert "cpn_0" in answer["retmsg"] and field in answer["retmsg"]
