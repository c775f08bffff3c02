"""PSI on a real standalone server against a plain computation: FATE's psi example (breast_homo guest as the
expected table, host as the actual one) and a case with missing values and a dense_missing_val; what PSI
refuses (different features, parameters)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.algorithms.conftest import GUEST
from tests.algorithms.test_data_a import component, guest_only_conf, ok, read_csv, reader, write_csv
from tests.jobs import FATE_DATA, component_call, run_job, submit, summary, upload

EXPECT, ACTUAL = FATE_DATA / "breast_homo_guest.csv", FATE_DATA / "breast_homo_host.csv"

DSL = {"components": {
    "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
    "reader_1": {"module": "Reader", "output": {"data": ["data"]}},
    "data_transform_0": component("DataTransform", {"data": ["reader_0.data"]}),
    "data_transform_1": component("DataTransform", {"data": ["reader_1.data"]}, model=["data_transform_0.model"]),
    "psi_0": component("PSI", {"train_data": ["data_transform_0.data"], "validate_data": ["data_transform_1.data"]}),
}}


def _conf(expect: str, actual: str, params: dict) -> dict:
    return guest_only_conf({"psi_0": params, "data_transform_0": {"with_label": False, "output_format": "dense"}},
                           {"reader_0": reader(expect), "reader_1": reader(actual)})


def _matrix(path) -> tuple[list[str], np.ndarray]:
    """Every column but the id (the label too: DataTransform reads it as a feature), NaN where empty."""
    header, rows = read_csv(path)
    return header[1:], np.array([[float(v) if v else np.nan for v in row[1:]] for row in rows])


def reference(expect: np.ndarray, actual: np.ndarray, bins: int) -> tuple[float, list[float], list[float]]:
    """One feature's PSI in plain Python: split points at ranks ceil(i/bins * n) of the expected values and their
    maximum; a value's bin is the first point >= it (the last bin above); NaN in an extra bin; empty shares 1e-6."""
    known = sorted(v for v in expect if not math.isnan(v))
    points = sorted({known[max(1, math.ceil(i / bins * len(known))) - 1] for i in range(1, bins)} | {known[-1]})

    def shares(values: np.ndarray) -> list[float]:
        counts = [0] * (len(points) + 1)
        for v in values:
            if math.isnan(v):
                counts[-1] += 1
            else:
                counts[next((b for b, p in enumerate(points[:-1]) if v <= p), len(points) - 1)] += 1
        return [c / len(values) for c in counts]

    e, a = shares(expect), shares(actual)
    floored = [(max(x, 1e-6), max(y, 1e-6)) for x, y in zip(e, a, strict=True)]
    total = sum((y - x) * math.log(y / x) for x, y in floored)
    return total, e, a


@pytest.fixture(scope="module")
def psi_server(breast_server, tmp_path_factory):
    """The breast server with FATE's psi tables and an actual table with holes and -1 marks."""
    upload(breast_server, EXPECT, "expect")
    upload(breast_server, ACTUAL, "actual")
    header, rows = read_csv(ACTUAL)
    holed = [[("" if i % 7 == 0 and j == 3 else "-1" if i % 5 == 0 and j == 4 else v) for j, v in enumerate(row)]
             for i, row in enumerate(rows)]
    upload(breast_server, write_csv(tmp_path_factory.mktemp("psi") / "holed.csv", header, holed), "actual_holed")
    return breast_server


def test_fate_psi_example_equals_the_plain_formula(psi_server):
    job = ok(psi_server, DSL, _conf("expect", "actual", {"max_bin_num": 20}))
    names, expect = _matrix(EXPECT)
    _, actual = _matrix(ACTUAL)
    scores = summary(psi_server, job, "psi_0", "guest", GUEST)["psi_scores"]
    assert list(scores) == names and len(names) == 31  # y is a feature here (with_label false)
    model = component_call(psi_server, "output/model", job, "psi_0", "guest", GUEST)["data"]
    assert model["modelName"] == "PSI" and model["totalScore"] == scores
    for j, name in enumerate(names):
        total, e, a = reference(expect[:, j], actual[:, j], 20)
        assert scores[name] == pytest.approx(total, rel=1e-9, abs=1e-12), name
        feature = model["featurePsi"][j]
        assert feature["featureName"] == name and feature["interval"][-1] == "missing"
        assert feature["expectPerc"] == pytest.approx([round(v, 6) for v in e], abs=1e-12)
        assert feature["actualPerc"] == pytest.approx([round(v, 6) for v in a], abs=1e-12)
        assert len(feature["psi"]) == len(feature["interval"]) == len(e)
    assert sum(scores.values()) > 0  # two different samples: not every feature is stable
    first = model["featurePsi"][1]["interval"]  # x0: "x0<=p0", "p0<x0<=p1", ..., "pk<x0", "missing"
    assert first[0].startswith("x0<=") and "<x0<=" in first[1] and first[-2].endswith("<x0")


def test_missing_values_and_dense_missing_val(psi_server):
    job = ok(psi_server, DSL, _conf("expect", "actual_holed", {"max_bin_num": 8, "dense_missing_val": -1}))
    names, expect = _matrix(EXPECT)
    header, rows = read_csv(ACTUAL)
    actual = np.array([[float(v) if v not in ("", "-1") else np.nan for v in row[1:]] for row in
                       [[("" if i % 7 == 0 and j == 3 else "-1" if i % 5 == 0 and j == 4 else v)
                         for j, v in enumerate(row)] for i, row in enumerate(rows)]])
    scores = summary(psi_server, job, "psi_0", "guest", GUEST)["psi_scores"]
    for j, name in enumerate(names):
        assert scores[name] == pytest.approx(reference(expect[:, j], actual[:, j], 8)[0], rel=1e-9), name
    model = component_call(psi_server, "output/model", job, "psi_0", "guest", GUEST)["data"]
    holed = model["featurePsi"][2]  # header[3]: every 7th row empty -> the missing bin
    assert holed["actualPerc"][-1] == pytest.approx(round(len(range(0, len(rows), 7)) / len(rows), 6))
    assert holed["expectPerc"][-1] == 0


def test_tables_of_different_features_fail(psi_server, tmp_path_factory):
    header, rows = read_csv(ACTUAL)
    path = write_csv(tmp_path_factory.mktemp("psi_bad") / "fewer.csv", header[:-1], [r[:-1] for r in rows])
    upload(psi_server, path, "actual_fewer")
    _, status = run_job(psi_server, DSL, _conf("expect", "actual_fewer", {}))
    assert status == "failed"


@pytest.mark.parametrize("params", [{"max_bin_num": 0}, {"max_bin_num": 2.5}, {"binning_error": 2},
                                    {"dense_missing_val": [1]}, {"bins": 3}])
def test_submit_refuses_bad_parameters(psi_server, params):
    answer = submit(psi_server, DSL, _conf("expect", "actual", params))
    assert answer["retcode"] == 103 and "psi_0" in answer["retmsg"], answer
