"""HomoOneHotEncoder on a real standalone server (guest 9999, host 10000, arbiter 10000), against a plain one-hot
encoding with the union of both clients' values: text columns (FATE's mock_string data, each client missing
a value the other has), integer columns (FATE's heart data), the model applied to other data (an unseen value
encodes as zeros), a column that is not integer fails; in process: what the arbiter receives is validated."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from fate_flow.components import _homo_onehot as onehot
from fate_flow.errors import ComponentError
from tests.algorithms.conftest import ARBITER, GUEST, HOST
from tests.algorithms.test_data_a import component, ok, read_csv, write_csv
from tests.jobs import FATE_DATA, component_call, job_conf, output_rows, run_job, submit, summary, upload

STRING_CSV = FATE_DATA / "mocked_string_data.csv"
HEART_GUEST = FATE_DATA / "unified_dataset_noniid_1_1000.csv"
HEART_HOST = FATE_DATA / "unified_dataset_noniid_2_1000_mani.csv"

DSL = {"components": {
    "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
    "reader_1": {"module": "Reader", "output": {"data": ["data"]}},
    "data_transform_0": component("DataTransform", {"data": ["reader_0.data"]}),
    "data_transform_1": component("DataTransform", {"data": ["reader_1.data"]}, model=["data_transform_0.model"]),
    "homo_onehot_0": component("HomoOneHotEncoder", {"data": ["data_transform_0.data"]}),
    "homo_onehot_1": component("HomoOneHotEncoder", {"data": ["data_transform_1.data"]}, model=["homo_onehot_0.model"]),
}}


def _conf(tables: dict[str, tuple[str, str]], params: dict, transform: dict) -> dict:
    """``tables``: role -> (train table, other table)."""
    role = {r: {"0": {"reader_0": {"table": {"name": t[0], "namespace": "experiment"}},
                      "reader_1": {"table": {"name": t[1], "namespace": "experiment"}}}} for r, t in tables.items()}
    return job_conf(GUEST, [HOST], ARBITER, {"homo_onehot_0": params, "data_transform_0": transform}, role)


def _rows(header: list[str], rows: list[list[str]], column: str, old: str, new: str) -> list[list[str]]:
    index = header.index(column)
    return [[new if j == index and v == old else v for j, v in enumerate(row)] for row in rows]


@pytest.fixture(scope="module")
def string_tables(breast_server, tmp_path_factory) -> dict[str, list[list[str]]]:
    """Guest: 300 rows without x0 = E; host: 300 other rows with x1 = Z for A; other: 50 rows with x2 = Q."""
    folder = tmp_path_factory.mktemp("onehot")
    header, rows = read_csv(STRING_CSV)
    tables = {"oh_guest": _rows(header, rows[:300], "x0", "E", "D"),
              "oh_host": _rows(header, rows[300:600], "x1", "A", "Z"),
              "oh_other": _rows(header, rows[600:650], "x2", "C", "Q")}
    for name, table in tables.items():
        upload(breast_server, write_csv(folder / f"{name}.csv", header, table), name)
    return {"header": header, **tables}


def _plain_onehot(column: np.ndarray, values: list[str]) -> np.ndarray:
    return (column[:, None] == np.array(values)[None, :]).astype(float)


def test_text_columns_encode_with_the_union_of_both_clients_values(breast_server, string_tables):
    conf = _conf({"guest": ("oh_guest", "oh_other"), "host": ("oh_host", "oh_other")},
                 {"transform_col_indexes": [0, 2], "transform_col_names": ["x1", "nope"], "need_alignment": True},
                 {"data_type": "str", "with_label": True, "label_name": "y", "output_format": "dense"})
    job = ok(breast_server, DSL, conf)
    header = string_tables["header"]
    union = {c: sorted({r[header.index(c)] for t in ("oh_guest", "oh_host") for r in string_tables[t]})
             for c in ("x0", "x1", "x2")}
    assert union["x0"] == ["A", "B", "C", "D", "E"] and "Z" in union["x1"]  # E only at the host, Z only there
    features = header[2:]
    expected_header = [h for c in features for h in ([f"{c}_{v}" for v in union[c]] if c in union else [c])]
    for role, party, table in (("guest", GUEST, "oh_guest"), ("host", HOST, "oh_host")):
        rows = output_rows(breast_server, job, "homo_onehot_0", role, party)
        assert [k for k in rows[0] if k not in ("id", "y")] == expected_header
        source = {r[0]: r for r in string_tables[table]}
        ids = [r["id"] for r in rows]
        for column in union:
            plain = _plain_onehot(np.array([source[i][header.index(column)] for i in ids]), union[column])
            got = np.array([[float(r[f"{column}_{v}"]) for v in union[column]] for r in rows])
            assert np.array_equal(got, plain), (role, column)
        assert all(r["x3"] == source[r["id"]][header.index("x3")] for r in rows)  # untouched columns stay text
        assert summary(breast_server, job, "homo_onehot_0", role, party) == {
            "original_dimension": 20, "transferred_dimension": len(expected_header)}
    model = component_call(breast_server, "output/model", job, "homo_onehot_0", "guest", GUEST)["data"]
    assert model["colMap"]["x1"]["values"] == union["x1"] and model["resultHeader"] == expected_header
    # the model encodes other data: Q was never seen, so those rows are all zeros in x2
    other = output_rows(breast_server, job, "homo_onehot_1", "guest", GUEST)
    assert [k for k in other[0] if k not in ("id", "y")] == expected_header
    source = {r[0]: r for r in string_tables["oh_other"]}
    unseen = [r for r in other if source[r["id"]][header.index("x2")] == "Q"]
    assert unseen and all(float(r[f"x2_{v}"]) == 0 for r in unseen for v in union["x2"])


@pytest.fixture(scope="module")
def heart_tables(breast_server, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("heart")
    g_header, g_rows = read_csv(HEART_GUEST)
    h_header, h_rows = read_csv(HEART_HOST)
    h_rows = _rows(h_header, h_rows, "thal", "7", "9")  # a value only the host has
    upload(breast_server, HEART_GUEST, "oh_heart_guest")
    upload(breast_server, write_csv(folder / "heart_host.csv", h_header, h_rows), "oh_heart_host")
    return {"header": g_header, "guest": g_rows, "host": h_rows}


def test_integer_columns_union_and_a_column_that_is_not_integer_fails(breast_server, heart_tables):
    tables = {"guest": ("oh_heart_guest", "oh_heart_guest"), "host": ("oh_heart_host", "oh_heart_host")}
    transform = {"with_label": True, "label_name": "target", "output_format": "dense"}
    job = ok(breast_server, DSL, _conf(tables, {"transform_col_indexes": [], "transform_col_names": ["thal", "cp"]},
                                       transform))
    header = heart_tables["header"]
    union = {c: sorted({int(float(r[header.index(c)])) for t in ("guest", "host") for r in heart_tables[t]})
             for c in ("cp", "thal")}
    assert union["thal"] == [3, 6, 7, 9]
    for role, party in (("guest", GUEST), ("host", HOST)):
        rows = output_rows(breast_server, job, "homo_onehot_0", role, party)
        source = {r[0]: r for r in heart_tables[role]}
        for column, values in union.items():
            assert [k for k in rows[0] if k.startswith(f"{column}_")] == [f"{column}_{v}" for v in values]
            plain = _plain_onehot(np.array([int(float(source[r["id"]][header.index(column)])) for r in rows]), values)
            got = np.array([[float(r[f"{column}_{v}"]) for v in values] for r in rows])
            assert np.array_equal(got, plain), (role, column)
        assert "age" in rows[0] and "thal" not in rows[0]
    _, status = run_job(breast_server, DSL, _conf(tables, {"transform_col_names": ["oldpeak"],
                                                           "transform_col_indexes": []}, transform))
    assert status == "failed"  # oldpeak holds 0.4, 2.5 ...: not categories


@pytest.mark.parametrize("params", [{"transform_col_indexes": 3}, {"need_alignment": "yes"},
                                    {"transform_col_indexes": [-2]}, {"unknown": 1}])
def test_submit_refuses_bad_parameters(breast_server, params):
    conf = _conf({"guest": ("oh_guest", "oh_other"), "host": ("oh_host", "oh_other")}, params, {"data_type": "str"})
    answer = submit(breast_server, DSL, conf)
    assert answer["retcode"] == 103 and "homo_onehot_0" in answer["retmsg"], answer


def test_what_a_party_sends_is_validated():
    ctx = SimpleNamespace(component_name="homo_onehot_0")
    assert onehot.check_columns(ctx, {"x0": ["A", "B"]}, "client 0") == {"x0": ["A", "B"]}
    for bad in ([["A"]], {"x0": "AB"}, {"x0": ["A", "A"]}, {"x0": [1, 2]}, {3: ["A"]},
                {"x0": [str(i) for i in range(onehot.ONE_HOT_LIMIT + 1)]}, {"x0": ["A" * 5000]}):
        with pytest.raises(ComponentError):
            onehot.check_columns(ctx, bad, "client 0")
    assert onehot.sort_values(["10", "B", "2", "A", "2"]) == ["2", "10", "A", "B"]
