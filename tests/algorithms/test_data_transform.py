"""DataTransform on a real standalone server: typed output equal to the CSV, missing values filled as asked
(with FATE's summary), the fitted transform applied unchanged to other data, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.algorithms.conftest import GUEST, HOST
from tests.jobs import FATE_DATA, job_conf, output_rows, reader_params, run_job, submit, summary, upload

DSL = {"components": {
    "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
    "data_transform_0": {"module": "DataTransform", "input": {"data": {"data": ["reader_0.data"]}},
                         "output": {"data": ["data"], "model": ["model"]}},
    "data_transform_1": {"module": "DataIO", "input": {"data": {"data": ["reader_0.data"]},
                                                       "model": ["data_transform_0.model"]},
                         "output": {"data": ["data"], "model": ["model"]}},
}}


def _conf(guest_table: str, host_table: str, guest_params: dict, host_params: dict | None = None) -> dict:
    role = reader_params(guest_table, [host_table])
    role["guest"]["0"]["data_transform_0"] = guest_params
    role["host"]["0"]["data_transform_0"] = host_params or {"with_label": False}
    return job_conf(GUEST, [HOST], None, {}, role)


def _csv(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = path.read_text().splitlines()
    return lines[0].split(","), [line.split(",") for line in lines[1:]]


def test_dense_with_and_without_label(breast_server):
    job_id, status = run_job(breast_server, DSL, _conf("breast_hetero_guest", "breast_hetero_host",
                                                       {"with_label": True, "label_name": "y"}))
    assert status == "success"
    header, rows = _csv(FATE_DATA / "breast_hetero_guest.csv")
    by_id = {row[0]: row for row in rows}
    out = output_rows(breast_server, job_id, "data_transform_0", "guest", GUEST)
    assert len(out) == len(rows) == 569
    assert list(out[0])[:2] == ["id", "y"]
    for row in out[:50]:
        source = by_id[row["id"]]
        assert int(row["y"]) == int(source[1])
        assert np.allclose([float(row[h]) for h in header[2:]], [float(v) for v in source[2:]])
    host = output_rows(breast_server, job_id, "data_transform_0", "host", HOST)
    assert len(host) == 569 and "y" not in host[0]
    # the transform applied through the model (DataIO alias, predict stage) gives the same rows
    again = output_rows(breast_server, job_id, "data_transform_1", "guest", GUEST)
    assert again == out


def test_missing_fill_mean_and_summary(breast_server, tmp_path: Path):
    data = tmp_path / "missing.csv"
    data.write_text("id,y,a,b\n1,0,1.0,\n2,1,,4\n3,0,3.0,NA\n4,1,5.0,8\n")
    upload(breast_server, data, "missing_guest")
    job_id, status = run_job(breast_server, DSL, _conf("missing_guest", "breast_hetero_host", {
        "with_label": True, "missing_fill": True, "missing_fill_method": "mean"}))
    assert status == "success"
    rows = {r["id"]: r for r in output_rows(breast_server, job_id, "data_transform_0", "guest", GUEST)}
    assert float(rows["2"]["a"]) == pytest.approx(3.0)  # mean of 1, 3, 5
    assert float(rows["1"]["b"]) == pytest.approx(6.0) and float(rows["3"]["b"]) == pytest.approx(6.0)
    info = summary(breast_server, job_id, "data_transform_0", "guest", GUEST)["missing_fill_info"]
    assert info["missing_impute_value"] == {"a": 3.0, "b": 6.0}
    assert info["missing_impute_rate"] == {"a": 0.25, "b": 0.5}


def test_label_that_does_not_exist_fails_naming_it(breast_server):
    job_id, status = run_job(breast_server, DSL, _conf("breast_hetero_guest", "breast_hetero_host",
                                                       {"with_label": True, "label_name": "target"}))
    assert status == "failed"
    logs = list((breast_server.home / "logs" / job_id).rglob("ERROR.log"))
    text = "".join(p.read_text() for p in logs)
    assert "label_name 'target' is not a column" in text


def test_bad_label_type_refused_at_submit(breast_server):
    answer = submit(breast_server, DSL, _conf("breast_hetero_guest", "breast_hetero_host",
                                              {"with_label": True, "label_type": "complex"}))
    assert answer["retcode"] == 103
    assert "data_transform_0" in answer["retmsg"] and "label_type" in answer["retmsg"]
