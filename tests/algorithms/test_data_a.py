"""FeatureScale, Union, HeteroDataSplit / HomoDataSplit, ColumnExpand and SampleWeight on a real standalone server,
each against a plain computation on the same CSV (numpy, scikit-learn)."""

from __future__ import annotations

import csv
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import requests
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

from tests.algorithms.conftest import GUEST, HOST
from tests.jobs import FATE_DATA, component_call, job_conf, output_rows, run_job, submit, summary, upload

GUEST_CSV = FATE_DATA / "breast_hetero_guest.csv"
HOST_CSV = FATE_DATA / "breast_hetero_host.csv"


# -- helpers ------------------------------------------------------------------------------------------------------
def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """A CSV file's header and rows (text)."""
    lines = path.read_text().splitlines()
    return lines[0].split(","), [line.split(",") for line in lines[1:]]


def features(path: Path, skip: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """ids, feature names and the float matrix of a CSV (its first ``skip`` columns are id and label)."""
    header, rows = read_csv(path)
    return np.array([r[0] for r in rows]), header[skip:], np.array([[float(v) for v in r[skip:]] for r in rows])


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.write_text("\n".join(",".join(map(str, row)) for row in [header, *rows]) + "\n")
    return path


def outputs(server, job_id: str, component: str, role: str, party_id: str) -> dict[str, list[dict]]:
    """Every output table of a component (data name -> rows as dicts)."""
    response = requests.post(f"{server.url}/v1/tracking/component/output/data/download",
                             json={"job_id": job_id, "component_name": component, "role": role,
                                   "party_id": party_id}, timeout=60)
    assert response.status_code == 200, response.text
    tables = {}
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        for member in tar.getmembers():
            if member.name.endswith(".csv"):
                text = tar.extractfile(member).read().decode()
                tables[member.name[:-4]] = list(csv.DictReader(io.StringIO(text)))
    return tables


def rows_of(server, job_id: str, component: str, role: str = "guest", party_id: str = GUEST) -> list[dict]:
    """The (single) output table of a component."""
    tables = outputs(server, job_id, component, role, party_id)
    assert len(tables) == 1, list(tables)
    return next(iter(tables.values()))


def matrix(rows: list[dict], columns: list[str], ids: np.ndarray) -> np.ndarray:
    """``columns`` of ``rows`` as floats, in the order of ``ids``."""
    by_id = {r["id"]: r for r in rows}
    return np.array([[float(by_id[i][c]) for c in columns] for i in ids])


def metric(server, job_id: str, component_name: str, name: str) -> tuple[list, dict]:
    """A guest metric's points and meta (namespace ``train``), as ``/tracking/component/metric_data`` gives them."""
    body = component_call(server, "metric_data", job_id, component_name, "guest", GUEST, metric_namespace="train",
                          metric_name=name)
    return body.get("data") or [], body.get("meta") or {}


def reader(table: str) -> dict:
    return {"table": {"name": table, "namespace": "experiment"}}


def component(module: str, data: dict | None = None, model: list[str] | None = None,
              output_data: list[str] | None = None, with_model: bool = True) -> dict:
    """A DSL component: ``data`` maps input keys to upstream outputs."""
    spec: dict = {"module": module, "output": {"data": output_data or ["data"]}}
    if with_model:
        spec["output"]["model"] = ["model"]
    inputs: dict = {}
    if data:
        inputs["data"] = data
    if model:
        inputs["model"] = model
    if inputs:
        spec["input"] = inputs
    return spec


READER = {"module": "Reader", "output": {"data": ["data"]}}


def guest_only_conf(params: dict, role_params: dict) -> dict:
    return {"dsl_version": 2, "initiator": {"role": "guest", "party_id": GUEST}, "role": {"guest": [GUEST]},
            "job_parameters": {"common": {"task_cores": 2}},
            "component_parameters": {"common": params, "role": {"guest": {"0": role_params}}}}


def ok(server, dsl: dict, conf: dict) -> str:
    job_id, status = run_job(server, dsl, conf)
    if status != "success":
        logs = "".join(p.read_text() for p in (server.home / "logs" / job_id).rglob("ERROR.log"))
        pytest.fail(f"job {job_id} {status}:\n{logs[-4000:]}")
    return job_id


@pytest.fixture(scope="module")
def tables(breast_server, tmp_path_factory) -> dict[str, Path]:
    """Derived tables the jobs read besides breast (uploaded once)."""
    folder = tmp_path_factory.mktemp("data_a")
    header, rows = read_csv(GUEST_CSV)
    derived = {
        # other data for the fitted scalings: 100 rows, stretched beyond the training range
        "scale_other_guest": write_csv(folder / "other.csv", header,
                                       [[r[0], r[1], *(float(v) * 1.5 for v in r[2:])] for r in rows[:100]]),
        # for Union: 100 ids shared with breast (x0 changed) and 20 new ids
        "union_part_guest": write_csv(folder / "part.csv", header,
                                      [[r[0], r[1], float(r[2]) + 1000, *r[3:]] for r in rows[:100]]
                                      + [[f"new{i}", *r[1:]] for i, r in enumerate(rows[100:120])]),
        # for SampleWeight's weight column: a positive column "w"
        "weighted_guest": write_csv(folder / "weighted.csv", [*header[:4], "w"],
                                    [[*r[:4], 1 + i % 3] for i, r in enumerate(rows)]),
    }
    for name, path in derived.items():
        upload(breast_server, path, name)
    return derived


# -- FeatureScale -------------------------------------------------------------------------------------------------
def test_feature_scale_equals_sklearn_and_model_applies_to_other_data(breast_server, tables):
    dt = {"data": ["data_transform_0.data"]}
    dsl = {"components": {
        "reader_0": READER, "reader_1": READER,
        "data_transform_0": component("DataTransform", {"data": ["reader_0.data"]}),
        "data_transform_1": component("DataTransform", {"data": ["reader_1.data"]}, ["data_transform_0.model"]),
        "feature_scale_0": component("FeatureScale", dt),
        "feature_scale_1": component("FeatureScale", dt),
        "feature_scale_2": component("FeatureScale", dt),
        "feature_scale_3": component("FeatureScale", dt),
        "feature_scale_4": component("FeatureScale", {"data": ["data_transform_1.data"]}, ["feature_scale_0.model"]),
        "feature_scale_5": component("FeatureScale", {"data": ["data_transform_1.data"]}, ["feature_scale_1.model"]),
    }}
    common = {"feature_scale_0": {"method": "min_max_scale"},
              "feature_scale_1": {"method": "standard_scale"},
              "feature_scale_2": {"method": "min_max_scale", "mode": "cap", "feat_upper": 0.9, "feat_lower": 0.1},
              "feature_scale_3": {"method": "min_max_scale", "feat_upper": 0.5, "feat_lower": -0.5}}
    role = {"guest": {"0": {"reader_0": reader("breast_hetero_guest"), "reader_1": reader("scale_other_guest"),
                            "data_transform_0": {"with_label": True},
                            "feature_scale_1": {"scale_col_indexes": [0, 2], "scale_names": ["x5", "nope"]}}},
            "host": {"0": {"reader_0": reader("breast_hetero_host"), "reader_1": reader("breast_hetero_host"),
                           "data_transform_0": {"with_label": False},
                           "feature_scale_1": {"with_mean": False}}}}
    job_id = ok(breast_server, dsl, job_conf(GUEST, [HOST], None, common, role))

    ids, names, x = features(GUEST_CSV, 2)

    def scaled(name: str, role_: str = "guest", party: str = GUEST, order: np.ndarray = ids) -> np.ndarray:
        return matrix(rows_of(breast_server, job_id, name, role_, party), names_of[role_], order)

    host_ids, host_names, host_x = features(HOST_CSV, 1)
    names_of = {"guest": names, "host": host_names}
    # min-max over every column, at each party on its own columns
    assert np.allclose(scaled("feature_scale_0"), MinMaxScaler().fit_transform(x), atol=1e-9)
    assert np.allclose(scaled("feature_scale_0", "host", HOST, host_ids), MinMaxScaler().fit_transform(host_x),
                       atol=1e-9)
    # standard on the chosen columns only (indexes 0 and 2 and the column named x5; an unknown name is ignored)
    chosen = [0, 2, 5]
    expected = x.copy()
    expected[:, chosen] = StandardScaler().fit_transform(x[:, chosen])
    assert np.allclose(scaled("feature_scale_1"), expected, atol=1e-9)
    assert np.allclose(scaled("feature_scale_1", "host", HOST, host_ids),
                       StandardScaler(with_mean=False).fit_transform(host_x), atol=1e-9)
    # cap mode: the range is the 0.1 and 0.9 quantiles (the values of rank ceil(q * n))
    low = np.quantile(x, 0.1, axis=0, method="inverted_cdf")
    high = np.quantile(x, 0.9, axis=0, method="inverted_cdf")
    assert np.allclose(scaled("feature_scale_2"), (np.clip(x, low, high) - low) / (high - low), atol=1e-9)
    # normal mode with bounds: values capped into [-0.5, 0.5] before the min-max
    assert np.allclose(scaled("feature_scale_3"), MinMaxScaler().fit_transform(np.clip(x, -0.5, 0.5)), atol=1e-9)

    # the fitted models applied to other data (stretched beyond the training range: clipped into it, as FATE)
    other_ids, _, other = features(tables["scale_other_guest"], 2)
    assert np.allclose(scaled("feature_scale_4", order=other_ids),
                       MinMaxScaler(clip=True).fit(x).transform(other), atol=1e-9)
    standard = StandardScaler().fit(x[:, chosen])
    expected = other.copy()
    expected[:, chosen] = standard.transform(np.clip(other[:, chosen], x[:, chosen].min(0), x[:, chosen].max(0)))
    assert np.allclose(scaled("feature_scale_5", order=other_ids), expected, atol=1e-9)

    # FATE's summary: per scaled column its range (and mean / std for standard)
    fitted = summary(breast_server, job_id, "feature_scale_1", "guest", GUEST)
    assert sorted(fitted) == ["x0", "x2", "x5"]
    assert fitted["x5"]["mean"] == pytest.approx(x[:, 5].mean(), abs=1e-9)
    assert fitted["x5"]["std"] == pytest.approx(x[:, 5].std(), rel=1e-9)
    assert fitted["x5"]["column_upper"] == pytest.approx(x[:, 5].max())
    assert summary(breast_server, job_id, "feature_scale_0", "guest", GUEST)["x9"]["column_lower"] == pytest.approx(
        x[:, 9].min())
    points, meta = metric(breast_server, job_id, "feature_scale_2", "scale")  # FATE's metric: a meta, no points
    assert points == [] and meta["metric_type"] == "SCALE" and meta["method"] == "min_max_scale"


# -- Union --------------------------------------------------------------------------------------------------------
def test_union_counts_first_row_wins_and_keep_duplicate(breast_server, tables):
    dsl = {"components": {
        "reader_0": READER, "reader_1": READER,
        "data_transform_0": component("DataTransform", {"data": ["reader_0.data"]}),
        "data_transform_1": component("DataTransform", {"data": ["reader_1.data"]}, ["data_transform_0.model"]),
        "union_0": component("Union", {"data": ["data_transform_0.data", "data_transform_1.data"]},
                             with_model=False),
        "union_1": component("Union", {"data": ["reader_0.data", "reader_1.data"]}, with_model=False),
        "data_transform_2": component("DataTransform", {"data": ["union_1.data"]}),
    }}
    conf = guest_only_conf({"union_1": {"keep_duplicate": True}},
                           {"reader_0": reader("breast_hetero_guest"), "reader_1": reader("union_part_guest"),
                            "data_transform_0": {"with_label": True}, "data_transform_2": {"with_label": True}})
    job_id = ok(breast_server, dsl, conf)
    _, rows = read_csv(GUEST_CSV)
    breast = {r[0]: r for r in rows}

    # typed tables, duplicates dropped: the first table's row of a shared id wins
    union = {r["id"]: r for r in rows_of(breast_server, job_id, "union_0")}
    assert len(union) == 569 + 20 and {f"new{i}" for i in range(20)} <= set(union)
    for sid, source in list(breast.items())[:100]:
        assert float(union[sid]["x0"]) == pytest.approx(float(source[2]))  # not the second table's +1000
    counts = {"data_transform_0.data.0": 569, "data_transform_1.data.0": 120, "Total": 589}
    assert summary(breast_server, job_id, "union_0", "guest", GUEST) == counts
    points, meta = metric(breast_server, job_id, "union_0", "union")
    assert dict(map(tuple, points)) == counts and meta["metric_type"] == "UNION"

    # a Reader's text tables with keep_duplicate: every row kept, each id suffixed with its table's key
    kept = rows_of(breast_server, job_id, "union_1")
    assert len(kept) == 569 + 120
    expected_ids = {f"{sid}_reader_0.data.0" for sid in breast} | {f"{r[0]}_reader_1.data.0" for r in rows[:100]} | {
        f"new{i}_reader_1.data.0" for i in range(20)}
    assert {r["id"] for r in kept} == expected_ids
    assert summary(breast_server, job_id, "union_1", "guest", GUEST)["Total"] == 689
    # ... which DataTransform reads like any uploaded table
    assert len(rows_of(breast_server, job_id, "data_transform_2")) == 689


def test_union_of_tables_with_different_headers_fails_naming_them(breast_server, tables):
    dsl = {"components": {"reader_0": READER, "reader_1": READER,
                          "union_0": component("Union", {"data": ["reader_0.data", "reader_1.data"]},
                                               with_model=False)}}
    conf = guest_only_conf({}, {"reader_0": reader("breast_hetero_guest"), "reader_1": reader("breast_hetero_host")})
    job_id, status = run_job(breast_server, dsl, conf)
    assert status == "failed"
    logs = "".join(p.read_text() for p in (breast_server.home / "logs" / job_id).rglob("ERROR.log"))
    assert "union_0: the headers of reader_0.data.0 and reader_1.data.0 do not match" in logs


# -- data split ---------------------------------------------------------------------------------------------------
def fate_split(ids: np.ndarray, labels: np.ndarray, train, validate, test, seed: int | None,
               stratified: bool) -> list[np.ndarray]:
    """FATE's split, plainly: the sorted ids, scikit-learn's train_test_split twice (train | the rest, then
    validate | test), a fractional first part of round(fraction * n) rows."""
    order = np.argsort(ids)
    ids, labels = ids[order], labels[order]

    def two_way(part_ids, part_labels, first, rest):
        if rest <= 1e-8:
            return part_ids, part_ids[:0], part_labels, part_labels[:0]
        if first <= 1e-8:
            return part_ids[:0], part_ids, part_labels[:0], part_labels
        if not isinstance(rest, int):
            first = round(first * len(part_ids))
            rest = len(part_ids) - first
        return train_test_split(part_ids, part_labels, train_size=first, test_size=rest, random_state=seed,
                                stratify=part_labels if stratified else None)

    train_ids, rest_ids, _, rest_labels = two_way(ids, labels, train, test + validate)
    if not (isinstance(validate, int) and isinstance(test, int)):
        validate, test = validate / (validate + test), test / (validate + test)
    validate_ids, test_ids, _, _ = two_way(rest_ids, rest_labels, validate, test)
    return [train_ids, validate_ids, test_ids]


def test_data_split_hetero_follows_guest_and_homo_splits_each_party(breast_server, tables):
    split_outputs = ["train_data", "validate_data", "test_data"]
    dsl = {"components": {
        "reader_0": READER,
        "data_transform_0": component("DataTransform", {"data": ["reader_0.data"]}),
        "hetero_data_split_0": component("HeteroDataSplit", {"data": ["data_transform_0.data"]},
                                         output_data=split_outputs, with_model=False),
        "homo_data_split_0": component("HomoDataSplit", {"data": ["data_transform_0.data"]},
                                       output_data=split_outputs, with_model=False),
    }}
    common = {"hetero_data_split_0": {"test_size": 0.3, "validate_size": 0.2, "stratified": True,
                                      "random_state": 42}}
    role = {"guest": {"0": {"reader_0": reader("breast_hetero_guest"), "data_transform_0": {"with_label": True},
                            "homo_data_split_0": {"validate_size": 50, "test_size": 30, "random_state": 7}}},
            "host": {"0": {"reader_0": reader("breast_hetero_host"), "data_transform_0": {"with_label": False},
                           "homo_data_split_0": {"validate_size": 0.2, "random_state": 3}}}}
    job_id = ok(breast_server, dsl, job_conf(GUEST, [HOST], None, common, role))
    names = ("train_data", "validate_data", "test_data")

    def parts(name: str, role_: str, party: str) -> list[list[dict]]:
        tables_ = outputs(breast_server, job_id, name, role_, party)
        return [tables_[n] for n in names]

    def ids_and_labels(path: Path) -> tuple[np.ndarray, np.ndarray]:
        _, rows = read_csv(path)
        return np.array([r[0] for r in rows]), np.array([int(r[1]) for r in rows])

    # hetero: the guest's parts are FATE's split (stratified by y), the host's hold the same ids
    ids, labels = ids_and_labels(GUEST_CSV)
    expected = fate_split(ids, labels, 0.5, 0.2, 0.3, 42, stratified=True)
    guest = parts("hetero_data_split_0", "guest", GUEST)
    host = parts("hetero_data_split_0", "host", HOST)
    for got, want, at_host in zip(guest, expected, host, strict=True):
        assert sorted(r["id"] for r in got) == sorted(want)
        assert sorted(r["id"] for r in at_host) == sorted(want)
        assert "y" not in at_host[0] and len(at_host[0]) == 21  # the host's own columns
    assert [len(p) for p in guest] == [284, 114, 171]  # round(0.5 * 569); 285 * 0.4 rounded; the rest
    share = labels.mean()
    for part in guest:  # stratified: each part's positive share is the whole's, within one sample
        assert abs(sum(int(r["y"]) for r in part) - share * len(part)) <= 1
    info = summary(breast_server, job_id, "hetero_data_split_0", "guest", GUEST)
    assert info["data_split_count_info"] == {"train": 284, "validate": 114, "test": 171, "original": 569}
    assert info["data_split_ratio_info"] == {"train": 0.499, "validate": 0.2, "test": 0.301}
    assert info["stratified"] is True
    label_info = info["data_split_label_info"]
    assert label_info["original"] == {"0": 212, "1": 357} and label_info["label_names"] == [0, 1]
    assert label_info["train"]["1"] == sum(int(r["y"]) for r in guest[0])
    assert summary(breast_server, job_id, "hetero_data_split_0", "host", HOST)["data_split_count_info"] == \
        info["data_split_count_info"]

    # homo: each party splits its own rows with its own parameters (row counts at the guest)
    expected = fate_split(ids, labels, len(ids) - 80, 50, 30, 7, stratified=False)
    for got, want in zip(parts("homo_data_split_0", "guest", GUEST), expected, strict=True):
        assert sorted(r["id"] for r in got) == sorted(want)
    expected = fate_split(ids, labels, 0.8, 0.2, 0, 3, stratified=False)
    host_parts = parts("homo_data_split_0", "host", HOST)
    assert [len(p) for p in host_parts] == [455, 114, 0]
    for got, want in zip(host_parts, expected, strict=True):
        assert sorted(r["id"] for r in got) == sorted(want)


# -- ColumnExpand -------------------------------------------------------------------------------------------------
def test_column_expand_appends_text_columns_before_data_transform(breast_server):
    dsl = {"components": {
        "reader_0": READER,
        "column_expand_0": component("ColumnExpand", {"data": ["reader_0.data"]}),
        "data_transform_0": component("DataTransform", {"data": ["column_expand_0.data"]}),
        "column_expand_1": component("ColumnExpand", {"data": ["reader_0.data"]}, ["column_expand_0.model"]),
    }}
    appended = ["x_0", "x_1", "x_2", "x_3"]
    conf = guest_only_conf({}, {"reader_0": reader("breast_hetero_guest"), "data_transform_0": {"with_label": True},
                                "column_expand_0": {"append_header": appended, "method": "manual",
                                                    "fill_value": [0, 0.2, 0.5, 1]}})
    job_id = ok(breast_server, dsl, conf)
    header, rows = read_csv(GUEST_CSV)
    expanded = rows_of(breast_server, job_id, "column_expand_0")
    assert list(expanded[0]) == [*header, *appended]
    by_id = {r["id"]: r for r in expanded}
    for row in rows:  # the original text untouched, the new columns hold the fill values as FATE writes them
        got = by_id[row[0]]
        assert [got[h] for h in header] == row
        assert [got[a] for a in appended] == ["0", "0.2", "0.5", "1"]
    typed = rows_of(breast_server, job_id, "data_transform_0")
    assert len(typed) == 569 and [float(typed[0][a]) for a in appended] == [0.0, 0.2, 0.5, 1.0]
    # the model appends the same columns in a predict stage
    assert rows_of(breast_server, job_id, "column_expand_1") == expanded


# -- SampleWeight -------------------------------------------------------------------------------------------------
def test_sample_weight_balanced_dict_and_column(breast_server, tables):
    dt = {"data": ["data_transform_0.data"]}
    dsl = {"components": {
        "reader_0": READER, "reader_1": READER,
        "data_transform_0": component("DataTransform", {"data": ["reader_0.data"]}),
        "data_transform_1": component("DataTransform", {"data": ["reader_1.data"]}),
        "sample_weight_0": component("SampleWeight", dt),
        "sample_weight_1": component("SampleWeight", dt),
        "sample_weight_2": component("SampleWeight", {"data": ["data_transform_1.data"]}),
        "sample_weight_3": component("SampleWeight", dt, ["sample_weight_0.model"]),
    }}
    off = {"need_run": False}
    role = {"guest": {"0": {"reader_0": reader("breast_hetero_guest"), "reader_1": reader("weighted_guest"),
                            "data_transform_0": {"with_label": True}, "data_transform_1": {"with_label": True},
                            "sample_weight_0": {"class_weight": "balanced"},
                            "sample_weight_1": {"class_weight": {"0": 1, "1": 2}},
                            "sample_weight_2": {"sample_weight_name": "w", "normalize": True}}},
            "host": {"0": {"reader_0": reader("breast_hetero_host"), "reader_1": reader("breast_hetero_host"),
                           "data_transform_0": {"with_label": False}, "data_transform_1": {"with_label": False},
                           "sample_weight_0": off, "sample_weight_1": off, "sample_weight_2": off}}}
    job_id = ok(breast_server, dsl, job_conf(GUEST, [HOST], None, {}, role))
    _, rows = read_csv(GUEST_CSV)
    ids = np.array([r[0] for r in rows])
    labels = np.array([int(r[1]) for r in rows])

    def weights(name: str, order: np.ndarray = ids) -> np.ndarray:
        return matrix(rows_of(breast_server, job_id, name), ["weight"], order)[:, 0]

    balanced = weights("sample_weight_0")
    assert np.allclose(balanced, compute_sample_weight("balanced", labels))  # n / (classes * n_class)
    assert balanced[labels == 1][0] == pytest.approx(569 / (2 * 357))
    assert np.array_equal(weights("sample_weight_1"), np.where(labels == 1, 2.0, 1.0))
    assert np.allclose(weights("sample_weight_3"), balanced)  # the fitted weights applied by the model
    # a column's values as weights, normalised by their mean; the column leaves the features
    by_column = rows_of(breast_server, job_id, "sample_weight_2")
    assert "w" not in by_column[0] and "weight" in by_column[0]
    w = np.array([1 + i % 3 for i in range(len(rows))], dtype=float)
    assert np.allclose(weights("sample_weight_2"), w / w.mean())
    points, meta = metric(breast_server, job_id, "sample_weight_0", "sample_weight")
    assert points == [["sample_weight", 0]] and meta["weight_mode"] == "class weight"
    assert meta["classes"] == ["0", "1"] and meta["class_weight"]["1"] == pytest.approx(569 / (2 * 357))
    # the host does not run what it was told not to (nor the predict that follows sample_weight_0): as in FATE,
    # its input data is passed on unchanged, without weights
    for name in ("sample_weight_0", "sample_weight_3"):
        passed_on = output_rows(breast_server, job_id, name, "host", HOST)
        assert len(passed_on) == 569 and "weight" not in passed_on[0]


# -- bad parameters -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("module", "params", "field"), [
    ("FeatureScale", {"method": "robust_scale"}, "method"),
    ("FeatureScale", {"scale_col_indexes": 3}, "scale_col_indexes"),
    ("FeatureScale", {"mode": "cap", "feat_upper": 2}, "feat_upper"),
    ("Union", {"keep_duplicate": 1}, "keep_duplicate"),
    ("HeteroDataSplit", {"test_size": 0.7, "validate_size": 0.5}, "must add up to 1.0"),
    ("HomoDataSplit", {"test_size": -3}, "test_size"),
    ("ColumnExpand", {"append_header": ["a", "b"], "fill_value": [1]}, "fill_value"),
    ("ColumnExpand", {"method": "auto"}, "method"),
    ("SampleWeight", {"class_weight": "auto"}, "class_weight"),
])
def test_bad_parameters_refused_at_submit(breast_server, module, params, field):
    dsl = {"components": {"reader_0": READER, "the_component_0": component(
        module, {"data": ["reader_0.data"]}, with_model=module in ("FeatureScale", "ColumnExpand", "SampleWeight"))}}
    conf = job_conf(GUEST, [HOST], None, {"the_component_0": params}, {
        "guest": {"0": {"reader_0": reader("breast_hetero_guest")}},
        "host": {"0": {"reader_0": reader("breast_hetero_host")}}})
    answer = submit(breast_server, dsl, conf)
    assert answer["retcode"] == 103, answer
    assert "the_component_0" in answer["retmsg"] and field in answer["retmsg"], answer["retmsg"]

