"""FATE's sparse (svmlight) and tag input end to end on a real standalone server: Upload stores rows that are not
a table as id + text (dense files as before), DataTransform turns svmlight and tag rows into the matrix a plain
parser computes here, names the features as FATE does, and its predict stage applies the fitted header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.algorithms.conftest import GUEST, HOST, standalone_server
from tests.jobs import FATE_DATA, output_rows, run_job, summary, upload
from tests.support import ServerProcess, upload_multipart

TABLES = {"svmlight_guest": "svmlight_guest.csv", "svmlight_host": "svmlight_host.csv",
          "tag_value": "tag_value_1000_140.csv", "breast_hetero_guest": "breast_hetero_guest.csv"}

# small files written by the tests: ids, then fields (tags without values, svmlight rows to predict ...)
TAGS = "a1,red,blue\na2,green\na3,blue,blue,yellow\na4\na5,red,green,blue,yellow\n"
SVMLIGHT_PREDICT = "7,1,0:0.5,19:2,25:9\n8,0,3:-1\n9,1,\n"
TAG_VALUE_MISSING = "t1,a:1,b:2\nt2,a:3\nt3,b:na,c:5\nt4,a:5,b:4,c:1\n"
TAG_VALUE_PREDICT = "p1,a:7,zzz:1\np2,c:2\n"
# FATE's breast_hetero_host_tag_value.csv style: "id,tag:value;tag:value" (two fields a line: stored as a table)
TAG_SEMICOLON = "133,x0:0.5;x1:-1.25;x2:0.25\n273,x0:-1.5;x2:2\n175,x1:0.75;x0:3\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("sparse")
    party = standalone_server(home / "party", TABLES)
    for name, text, head in (("tags", TAGS, 0), ("svmlight_predict", SVMLIGHT_PREDICT, 0),
                             ("tag_missing", TAG_VALUE_MISSING, 0), ("tag_predict", TAG_VALUE_PREDICT, 0),
                             ("tag_semicolon", TAG_SEMICOLON, 1)):
        path = home / f"{name}.csv"
        path.write_text(text)
        upload(party, path, name, head=head)
    yield party
    party.stop()


def _info(server: ServerProcess, name: str) -> dict:
    return server.post("/v1/table/table_info", {"namespace": "experiment", "table_name": name})["data"]


def _dsl(predict: bool) -> dict:
    components = {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "data_transform_0": {"module": "DataTransform", "input": {"data": {"data": ["reader_0.data"]}},
                             "output": {"data": ["data"], "model": ["model"]}},
    }
    if predict:
        components["reader_1"] = {"module": "Reader", "output": {"data": ["data"]}}
        components["data_transform_1"] = {"module": "DataTransform",
                                          "input": {"data": {"data": ["reader_1.data"]},
                                                    "model": ["data_transform_0.model"]},
                                          "output": {"data": ["data"], "model": ["model"]}}
    return {"components": components}


def _conf(guest: dict, host: dict | None = None) -> dict:
    """A job conf: ``guest`` / ``host`` map a component to its parameters (a reader to its table name)."""
    def role_params(params: dict) -> dict:
        return {name: {"table": {"name": value, "namespace": "experiment"}} if name.startswith("reader") else value
                for name, value in params.items()}

    roles, role_params_ = {"guest": [GUEST]}, {"guest": {"0": role_params(guest)}}
    if host is not None:
        roles["host"] = [HOST]
        role_params_["host"] = {"0": role_params(host)}
    return {"dsl_version": 2, "initiator": {"role": "guest", "party_id": GUEST}, "role": roles,
            "job_parameters": {"common": {"task_cores": 2}},
            "component_parameters": {"common": {}, "role": role_params_}}


# -- plain parsers: the reference ------------------------------------------------------------------------------------
def _rows(text: str, head: int, delimiter: str = ",") -> list[list[str]]:
    """Each line's fields: the id, then the rest of the line split by ``delimiter``."""
    rows = []
    for line in text.splitlines()[head:]:
        if line.strip():
            sid, _, rest = line.rstrip().partition(",")
            rows.append([sid, *(field for field in rest.split(delimiter) if field)])
    return rows


def _svmlight(rows: list[list[str]], with_label: bool, width: int | None = None
              ) -> tuple[list[str], dict[str, tuple[int | None, np.ndarray]]]:
    """Header x0 .. x<max index> (or ``width`` features) and each id's label and feature vector."""
    parsed = {}
    for fields in rows:
        label = int(fields[1]) if with_label else None
        pairs = [f.split(":") for f in fields[2 if with_label else 1:] if f]
        parsed[fields[0]] = (label, {int(i): float(v) for i, v in pairs})
    width = width if width is not None else 1 + max(i for _, pairs in parsed.values() for i in pairs)
    vectors = {}
    for sid, (label, pairs) in parsed.items():
        vector = np.zeros(width)
        for i, v in pairs.items():
            if i < width:
                vector[i] = v
        vectors[sid] = (label, vector)
    return [f"x{i}" for i in range(width)], vectors


def _tags(rows: list[list[str]], with_value: bool, header: list[str] | None = None
          ) -> tuple[list[str], dict[str, np.ndarray]]:
    """Header: the sorted tags; each id's vector (a tag given twice keeps its last value)."""
    parsed = {}
    for fields in rows:
        values: dict[str, float] = {}
        for field in fields[1:]:
            tag, value = field.split(":") if with_value else (field, "1")
            values[tag] = float(value)
        parsed[fields[0]] = values
    header = header or sorted({tag for values in parsed.values() for tag in values})
    return header, {sid: np.array([values.get(tag, 0.0) for tag in header]) for sid, values in parsed.items()}


def _matrix(rows: list[dict], header: list[str]) -> dict[str, np.ndarray]:
    return {row[next(iter(row))]: np.array([float(row[h]) for h in header]) for row in rows}


# -- upload ----------------------------------------------------------------------------------------------------------
def test_upload_stores_rows_that_are_not_a_table_as_id_and_text(server):
    guest = _info(server, "svmlight_guest")  # its first line "1,1,0:..." repeats "1": it is data, FATE's header
    first_line = (FATE_DATA / "svmlight_guest.csv").read_text().splitlines()[0]
    assert guest["count"] == 999
    assert guest["schema"] == {"header": "value", "sid": "1", "text_header": first_line.split(",", 1)[1]}
    tags = _info(server, "tags")  # field counts differ and no head: id + text
    assert tags["count"] == 5 and tags["schema"]["header"] == "value" and tags["schema"]["text_header"] == ""
    # rows as long as the first line stay a table, as before
    host = _info(server, "svmlight_host")
    assert host["count"] == 999 and "text_header" not in host["schema"]
    assert host["schema"]["header"].split(",")[0] == "0:-0.00949557"
    breast = _info(server, "breast_hetero_guest")
    assert breast["count"] == 569
    assert breast["schema"] == {"header": (FATE_DATA / "breast_hetero_guest.csv").read_text().splitlines()[0]
                                .split(",", 1)[1], "sid": "id"}


def test_upload_of_ragged_rows_after_a_sparse_first_line_and_with_meta(server, tmp_path: Path):
    ragged = tmp_path / "ragged_pairs.csv"
    ragged.write_text("1,0:1,2:3\n2,1:5\n3,0:2,1:1,3:4\n")
    upload(server, ragged, "ragged_pairs", head=1)  # the first line holds index:value pairs: data, not names
    info = _info(server, "ragged_pairs")
    assert info["count"] == 2 and info["schema"]["text_header"] == "0:1,2:3" and info["schema"]["sid"] == "1"
    consistent = tmp_path / "declared.csv"
    consistent.write_text("id,tags\n1,a;b\n2,c\n")
    conf = {"namespace": "experiment", "table_name": "declared", "head": 1, "partition": 1, "drop": 1,
            "with_meta": True, "meta": {"input_format": "tag", "delimiter": ";"}}
    answer = upload_multipart(server, conf, consistent).json()
    assert server.wait_job(answer["jobId"])["f_status"] == "success"
    info = _info(server, "declared")
    assert info["schema"]["header"] == "value" and info["schema"]["text_header"] == "tags"
    assert info["schema"]["meta"]["input_format"] == "tag"


# -- DataTransform: sparse ---------------------------------------------------------------------------------------------
def test_svmlight_rows_become_the_parsed_matrix_and_predict_keeps_the_header(server):
    job_id, status = run_job(server, _dsl(predict=True), _conf(
        {"reader_0": "svmlight_guest", "reader_1": "svmlight_predict",
         "data_transform_0": {"input_format": "sparse", "with_label": True}},
        {"reader_0": "svmlight_host", "reader_1": "svmlight_host",
         "data_transform_0": {"input_format": "sparse", "with_label": False}}))
    assert status == "success"
    header, expected = _svmlight(_rows((FATE_DATA / "svmlight_guest.csv").read_text(), 1), with_label=True)
    out = output_rows(server, job_id, "data_transform_0", "guest", GUEST)
    assert list(out[0]) == ["1", "label", *header]  # FATE's names: the file's sid, "label", x0 .. x19
    assert len(out) == len(expected) == 999
    matrix = _matrix(out, header)
    for row in out:
        label, vector = expected[row["1"]]
        assert int(row["label"]) == label
        assert np.allclose(matrix[row["1"]], vector)
    host_header, host_expected = _svmlight(_rows((FATE_DATA / "svmlight_host.csv").read_text(), 1), False)
    host = output_rows(server, job_id, "data_transform_0", "host", HOST)
    assert list(host[0])[1:] == host_header and len(host) == 999
    host_matrix = _matrix(host, host_header)
    assert all(np.allclose(host_matrix[sid], vector) for sid, (_, vector) in host_expected.items())
    # predict: the fitted 20 features, whatever this data holds (index 25 dropped, absent ones 0)
    predicted = output_rows(server, job_id, "data_transform_1", "guest", GUEST)
    _, reference = _svmlight(_rows(SVMLIGHT_PREDICT, 0), with_label=True, width=len(header))
    assert list(predicted[0]) == ["_c0", "label", *header]
    got = _matrix(predicted, header)
    assert {r["_c0"]: int(r["label"]) for r in predicted} == {sid: label for sid, (label, _) in reference.items()}
    assert all(np.allclose(got[sid], vector) for sid, (_, vector) in reference.items())


# -- DataTransform: tag ------------------------------------------------------------------------------------------------
def test_tag_values_become_the_parsed_matrix_with_sorted_tags(server):
    job_id, status = run_job(server, _dsl(predict=False), _conf(
        {"reader_0": "tag_value", "data_transform_0": {"input_format": "tag", "tag_with_value": True}}))
    assert status == "success"
    header, expected = _tags(_rows((FATE_DATA / "tag_value_1000_140.csv").read_text(), 1), with_value=True)
    out = output_rows(server, job_id, "data_transform_0", "guest", GUEST)
    assert list(out[0])[1:] == header and len(out) == 999
    sid = next(iter(out[0]))
    matrix = _matrix(out, header)
    assert all(np.allclose(matrix[row[sid]], expected[row[sid]]) for row in out)


def test_tag_values_split_by_another_delimitor(server):
    job_id, status = run_job(server, _dsl(predict=False), _conf(
        {"reader_0": "tag_semicolon", "data_transform_0": {"input_format": "tag", "tag_with_value": True,
                                                           "delimitor": ";"}}))
    assert status == "success"
    header, expected = _tags(_rows(TAG_SEMICOLON, 1, ";"), with_value=True)
    out = output_rows(server, job_id, "data_transform_0", "guest", GUEST)
    assert header == ["x0", "x1", "x2"] and list(out[0]) == ["133", *header] and len(out) == 2
    assert {k: list(v) for k, v in _matrix(out, header).items()} == {k: list(v) for k, v in expected.items()}


def test_tags_without_values_and_the_fitted_tags_at_predict(server):
    job_id, status = run_job(server, _dsl(predict=True), _conf(
        {"reader_0": "tags", "reader_1": "tag_predict", "data_transform_0": {"input_format": "tag"}}))
    assert status == "success"
    header, expected = _tags(_rows(TAGS, 0), with_value=False)
    assert header == ["blue", "green", "red", "yellow"]
    out = output_rows(server, job_id, "data_transform_0", "guest", GUEST)
    assert list(out[0]) == ["_c0", *header]
    assert {k: list(v) for k, v in _matrix(out, header).items()} == {k: list(v) for k, v in expected.items()}
    # the predict data's tags "a", "c", "zzz" are none of the fitted ones: the same four columns, all 0
    predicted = output_rows(server, job_id, "data_transform_1", "guest", GUEST)
    assert list(predicted[0]) == ["_c0", *header]
    assert all(float(row[h]) == 0.0 for row in predicted for h in header)


def test_tag_missing_fill_mean_summary_and_predict(server):
    job_id, status = run_job(server, _dsl(predict=True), _conf(
        {"reader_0": "tag_missing", "reader_1": "tag_predict",
         "data_transform_0": {"input_format": "tag", "tag_with_value": True, "missing_fill": True,
                              "missing_fill_method": "mean"}}))
    assert status == "success"
    header = ["a", "b", "c"]
    # a: 1, 3, 5 present -> mean 3; b: 2, na (missing), 4 -> mean 3; c: 5, 1 -> mean 3
    means = {"a": 3.0, "b": 3.0, "c": 3.0}
    expected = {"t1": [1, 2, 3], "t2": [3, 3, 3], "t3": [3, 3, 5], "t4": [5, 4, 1]}
    out = _matrix(output_rows(server, job_id, "data_transform_0", "guest", GUEST), header)
    assert {k: list(v) for k, v in out.items()} == expected
    info = summary(server, job_id, "data_transform_0", "guest", GUEST)["missing_fill_info"]
    assert info["missing_impute_value"] == means
    assert info["missing_impute_rate"] == {"a": 0.25, "b": 0.5, "c": 0.5}
    predicted = _matrix(output_rows(server, job_id, "data_transform_1", "guest", GUEST), header)
    assert {k: list(v) for k, v in predicted.items()} == {"p1": [7, 3, 3], "p2": [3, 3, 2]}


def test_missing_fill_without_method_fails_as_fate_would(server):
    job_id, status = run_job(server, _dsl(predict=False), _conf(
        {"reader_0": "tag_missing", "data_transform_0": {"input_format": "tag", "tag_with_value": True,
                                                         "missing_fill": True}}))
    assert status == "failed"
    text = "".join(p.read_text() for p in (server.home / "logs" / job_id).rglob("ERROR.log"))
    assert "missing_fill_method" in text


def test_dense_read_of_a_text_table_names_the_formats(server):
    job_id, status = run_job(server, _dsl(predict=False), _conf(
        {"reader_0": "svmlight_guest", "data_transform_0": {"with_label": True, "label_name": "y"}}))
    assert status == "failed"
    text = "".join(p.read_text() for p in (server.home / "logs" / job_id).rglob("ERROR.log"))
    assert "uploaded as id + text" in text and "input_format sparse or tag" in text


def test_dense_output_format_sparse_matches_dense(server):
    job_id, status = run_job(server, _dsl(predict=False), _conf(
        {"reader_0": "breast_hetero_guest", "data_transform_0": {"with_label": True, "output_format": "sparse"}}))
    assert status == "success"
    lines = (FATE_DATA / "breast_hetero_guest.csv").read_text().splitlines()
    header = lines[0].split(",")[2:]
    reference = {f[0]: np.array([float(v) for v in f[2:]]) for f in (line.split(",") for line in lines[1:])}
    out = _matrix(output_rows(server, job_id, "data_transform_0", "guest", GUEST), header)
    assert all(np.allclose(out[sid], vector) for sid, vector in reference.items())
