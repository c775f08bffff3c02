"""Intersection's ``join_method`` left_join and ``new_sample_id`` (FATE 1.11.2's intersect_model.py), on a real
standalone server: tables uploaded with ``extend_sid`` (a generated sample id per row, the file's id kept) and
read by DataTransform ``with_match_id``, so the parties intersect the files' ids and key rows by sample ids.

Reference: plain Python sets and dicts of the example CSVs' rows, and the sample ids DataTransform gave each
row (its output, read back).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from fate_flow.components._data_ops import ids_to_wire
from fate_flow.components.intersection import IntersectParams
from fate_flow.components.intersection.loopback import Hub, PartyContext
from fate_flow.components.intersection.runner import _output, fresh_sample_ids, left_join_ids, missing_rows
from fate_flow.engine.standalone import StandaloneComputing
from fate_flow.engine.table import Schema
from fate_flow.errors import ComponentError, ParamError
from tests.algorithms.test_intersection import GUEST, GUEST_HEADER, GUEST_ROWS, HOST, HOST_B, HOST_HEADER, HOST_ROWS
from tests.jobs import FATE_DATA, job_conf, output_rows, run_job, submit, summary, upload
from tests.support import ServerProcess

# the host holds every third of the breast host's rows and 40 ids the guest does not have
HOST_IDS = list(HOST_ROWS)[::3]
OUTSIDERS = {f"9{i:03d}": HOST_ROWS[HOST_IDS[i]][1:] for i in range(40)}  # new ids, features borrowed
HOST_TABLE = {**{i: HOST_ROWS[i][1:] for i in HOST_IDS}, **OUTSIDERS}
INTERSECTION = set(GUEST_ROWS) & set(HOST_TABLE)
FRESH = re.compile(r"[0-9a-f]{32}")

DSL = {"components": {
    "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
    "data_transform_0": {"module": "DataTransform", "input": {"data": {"data": ["reader_0.data"]}},
                         "output": {"data": ["data"], "model": ["model"]}},
    "intersect_0": {"module": "Intersection", "input": {"data": {"data": ["data_transform_0.data"]}},
                    "output": {"data": ["data"]}},
}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    home = tmp_path_factory.mktemp("intersection_joins")
    party = ServerProcess(home / "party", {"FATE_FLOW_DATABASE__ENGINE": "sqlite", "FATE_FLOW_PARTY_ID": GUEST}).start()
    host_csv = home / "host_part.csv"
    host_csv.write_text("\n".join([",".join(HOST_HEADER)] + [",".join([i, *v]) for i, v in HOST_TABLE.items()]))
    upload(party, FATE_DATA / "breast_hetero_guest.csv", "guest_sid", extend_sid=True)
    upload(party, host_csv, "host_sid", extend_sid=True)
    upload(party, FATE_DATA / "breast_hetero_guest.csv", "guest_plain")
    upload(party, host_csv, "host_plain")
    yield party
    party.stop()


def _job(server: ServerProcess, params: dict, match_id: bool = True) -> str:
    """reader -> DataTransform (with_match_id) -> Intersection(params); returns the job id of a finished job."""
    suffix = "sid" if match_id else "plain"
    roles = {"guest": {"0": {"reader_0": {"table": {"name": f"guest_{suffix}", "namespace": "experiment"}},
                             "data_transform_0": {"with_label": True, "with_match_id": match_id}}},
             "host": {"0": {"reader_0": {"table": {"name": f"host_{suffix}", "namespace": "experiment"}},
                            "data_transform_0": {"with_label": False, "with_match_id": match_id}}}}
    job_id, status = run_job(server, DSL, job_conf(GUEST, [HOST], None, {"intersect_0": params}, roles), timeout=120)
    assert status in ("success", "failed"), (job_id, status)
    return job_id


def _status(server: ServerProcess, job_id: str) -> tuple[str, str]:
    job = server.post("/v1/job/query", {"job_id": job_id, "role": "guest", "party_id": GUEST})["data"][0]
    return job["f_status"], job["f_error"] or ""


def _by_sid(rows: list[dict]) -> dict[str, dict]:
    """Rows keyed by their sample id (the first column); every sample id once."""
    sid = next(iter(rows[0]))
    keyed = {row[sid]: row for row in rows}
    assert len(keyed) == len(rows), "repeated sample ids"
    return keyed


def _rows(server: ServerProcess, job_id: str, component: str, role: str) -> dict[str, dict]:
    return _by_sid(output_rows(server, job_id, component, role, GUEST if role == "guest" else HOST))


def _missing(value: str) -> bool:
    return value == "" or math.isnan(float(value))


def _is_padding(row: dict, header: list[str]) -> bool:
    """A row of missing values: no match id, every feature missing."""
    return row["id"] == "" and all(_missing(row[c]) for c in header[1:] if c in row and c != "y")


def _features_of(row: dict, expected: list[str], header: list[str]) -> bool:
    """The row's values of ``header``'s features equal the CSV's (numbers compared as numbers)."""
    return all(math.isclose(float(row[c]), float(v)) for c, v in zip(header[1:], expected, strict=True) if c != "y")


# -- left join, on a real server -------------------------------------------------------------------------------------
def test_guest_generated_left_join_keeps_every_guest_row_and_pads_the_host(server):
    job_id = _job(server, {"intersect_method": "ecdh", "join_method": "left_join"})
    assert _status(server, job_id)[0] == "success", _status(server, job_id)
    guest_in = _rows(server, job_id, "data_transform_0", "guest")
    guest, host = _rows(server, job_id, "intersect_0", "guest"), _rows(server, job_id, "intersect_0", "host")
    # the guest: its whole input, unchanged; the host: a row under each of the guest's sample ids
    assert guest == guest_in and len(guest) == len(GUEST_ROWS) == 569
    assert set(host) == set(guest)
    for sid, row in guest.items():
        match = row["id"]
        if match in INTERSECTION:  # the host's own row of the same match id
            assert host[sid]["id"] == match and _features_of(host[sid], HOST_TABLE[match], HOST_HEADER), sid
        else:
            assert _is_padding(host[sid], HOST_HEADER), host[sid]
    assert sum(row["id"] != "" for row in host.values()) == len(INTERSECTION) == 190
    # FATE's summary counts the intersection, not the joined rows
    assert summary(server, job_id, "intersect_0", "guest", GUEST)["intersect_num"] == 190
    assert summary(server, job_id, "intersect_0", "host", HOST) == {
        "intersect_num": 190, "intersect_rate": 190 / len(HOST_TABLE), "cardinality_only": False,
        "unique_id_num": len(HOST_TABLE)}


def test_new_sample_ids_key_the_generators_other_rows_alike_at_every_party(server):
    job_id = _job(server, {"intersect_method": "rsa", "rsa_params": {"key_length": 1024},
                           "join_method": "left_join", "new_sample_id": True})
    assert _status(server, job_id)[0] == "success", _status(server, job_id)
    guest_in = _rows(server, job_id, "data_transform_0", "guest")
    guest, host = _rows(server, job_id, "intersect_0", "guest"), _rows(server, job_id, "intersect_0", "host")
    old = {sid for sid, row in guest_in.items() if row["id"] in INTERSECTION}  # intersected: their ids kept
    new = set(guest) - set(guest_in)
    assert set(guest) == old | new and len(old) == 190 and len(new) == 569 - 190
    assert all(FRESH.fullmatch(sid) for sid in new)
    assert set(host) == set(guest)  # the same new id at both parties
    # every guest row is there once with its own label and features, under its old or its new id
    assert sorted(row["id"] for row in guest.values()) == sorted(GUEST_ROWS)
    for sid, row in guest.items():
        source = GUEST_ROWS[row["id"]]
        assert float(row["y"]) == float(source[1]) and _features_of(row, source[1:], GUEST_HEADER), sid
        assert (sid in new) == (row["id"] not in INTERSECTION)
        assert _is_padding(host[sid], HOST_HEADER) == (sid in new)
    # a second run draws other ids
    again = _rows(server, _job(server, {"intersect_method": "ecdh", "join_method": "left_join",
                                        "new_sample_id": True}), "intersect_0", "guest")
    assert len(again) == 569 and not (set(again) - old) & new


def test_host_generated_left_join_with_only_output_key(server):
    job_id = _job(server, {"intersect_method": "dh", "dh_params": {"key_length": 1024}, "join_method": "left_join",
                           "sample_id_generator": "host", "new_sample_id": True, "only_output_key": True})
    assert _status(server, job_id)[0] == "success", _status(server, job_id)
    host_in = _rows(server, job_id, "data_transform_0", "host")
    guest_rows = output_rows(server, job_id, "intersect_0", "guest", GUEST)
    host_rows = output_rows(server, job_id, "intersect_0", "host", HOST)
    assert len(guest_rows[0]) == len(host_rows[0]) == 1  # only_output_key: the sample ids alone
    guest, host = set(_by_sid(guest_rows)), set(_by_sid(host_rows))
    kept = {sid for sid, row in host_in.items() if row["id"] in INTERSECTION}
    assert len(host) == len(HOST_TABLE) and host == guest  # every host row, the same keys at the guest
    assert kept <= host and len(host - kept) == len(OUTSIDERS) and all(FRESH.fullmatch(s) for s in host - kept)


def test_inner_join_ignores_new_sample_id(server):
    """FATE 1.11 generates new ids only for a left join's padded rows."""
    job_id = _job(server, {"intersect_method": "ecdh", "new_sample_id": True})
    assert _status(server, job_id)[0] == "success", _status(server, job_id)
    guest_in = _rows(server, job_id, "data_transform_0", "guest")
    guest, host = _rows(server, job_id, "intersect_0", "guest"), _rows(server, job_id, "intersect_0", "host")
    assert set(guest) == set(host) == {sid for sid, row in guest_in.items() if row["id"] in INTERSECTION}


def test_left_join_without_match_ids_fails_the_task(server):
    job_id = _job(server, {"intersect_method": "ecdh", "join_method": "left_join"}, match_id=False)
    status, error = _status(server, job_id)
    assert status == "failed" and "intersect_0" in error and "left_join needs data with match ids" in error, error


def test_left_join_without_sync_is_refused_at_submit(server):
    conf = job_conf(GUEST, [HOST], None, {"intersect_0": {"join_method": "left_join", "sync_intersect_ids": False}},
                    {"guest": {"0": {"reader_0": {"table": {"name": "guest_sid", "namespace": "experiment"}}}},
                     "host": {"0": {"reader_0": {"table": {"name": "host_sid", "namespace": "experiment"}}}}})
    answer = submit(server, DSL, conf)
    assert answer["retcode"] == 103 and "intersect_0" in answer["retmsg"] and "join_method" in answer["retmsg"]


def test_a_host_generator_needs_a_single_host(server):
    conf = job_conf(GUEST, [HOST, HOST_B], None, {"intersect_0": {"intersect_method": "ecdh",
                                                                  "sample_id_generator": "host"}},
                    {"guest": {"0": {"reader_0": {"table": {"name": "guest_sid", "namespace": "experiment"}},
                                     "data_transform_0": {"with_label": True, "with_match_id": True}}},
                     "host": {str(i): {"reader_0": {"table": {"name": "host_sid", "namespace": "experiment"}},
                                       "data_transform_0": {"with_label": False, "with_match_id": True}}
                              for i in range(2)}})
    job_id, status = run_job(server, DSL, conf, timeout=120)
    error = _status(server, job_id)[1]
    assert status == "failed" and "sample_id_generator host takes exactly one host" in error, error


def test_without_sync_the_guest_generates_the_sample_ids(server):
    """FATE: without sync_intersect_ids only the guest learns the intersection, so it is the generator whatever
    sample_id_generator says; the host outputs nothing."""
    job_id = _job(server, {"intersect_method": "ecdh", "sync_intersect_ids": False, "sample_id_generator": "host"})
    assert _status(server, job_id)[0] == "success", _status(server, job_id)
    guest_in = _rows(server, job_id, "data_transform_0", "guest")
    guest = _rows(server, job_id, "intersect_0", "guest")
    assert guest == {sid: row for sid, row in guest_in.items() if row["id"] in INTERSECTION}
    assert summary(server, job_id, "intersect_0", "host", HOST)["intersect_num"] == -1


# -- the pieces, on their own ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("params", "field"), [
    ({"join_method": "left_join", "sync_intersect_ids": False}, "join_method"),
    ({"join_method": "outer_join"}, "join_method"),
    ({"new_sample_id": "true"}, "new_sample_id"),
    ({"sample_id_generator": "arbiter"}, "sample_id_generator"),
])
def test_bad_combinations_name_the_field(params, field):
    with pytest.raises(ParamError) as error:
        IntersectParams.parse("Intersection", params)
    assert error.value.field == field


def test_fate_spellings_are_accepted():
    params = IntersectParams.parse("Intersection", {"join_method": "LEFT_JOIN", "sample_id_generator": "Host",
                                                    "new_sample_id": True})
    assert (params.join_method, params.sample_id_generator, params.new_sample_id) == ("left_join", "host", True)


def test_fresh_sample_ids_are_distinct_and_random():
    first, second = fresh_sample_ids(1000), fresh_sample_ids(1000)
    assert all(FRESH.fullmatch(s) for s in first) and len(set(first) | set(second)) == 2000
    assert fresh_sample_ids(0).size == 0


def test_what_the_generator_sends_is_checked():
    intersected = np.array(["a", "b"])
    assert left_join_ids(ids_to_wire(["c", "d"]), intersected).tolist() == ["c", "d"]
    assert left_join_ids(ids_to_wire([]), intersected).size == 0
    for bad, message in [
        ({"offsets": np.array([0, 5]), "data": np.zeros(2, np.uint8)}, "malformed left join sample ids"),
        (["c", "d"], "malformed left join sample ids"),
        (ids_to_wire(["c", "c"]), "repeated"),
        (ids_to_wire(["c", ""]), "empty"),
        (ids_to_wire(["c", "b"]), "1 left join sample ids that are already in the intersection"),
    ]:
        with pytest.raises(ComponentError, match=message):
            left_join_ids(bad, intersected)


def test_padding_rows_have_the_tables_columns_and_nothing_else():
    schema = Schema(sid="sid", header=("x0", "x1"), label="y", extra={"match_id_name": "id"})
    table = StandaloneComputing(1).from_numpy(schema, ["s1"], np.array([[1.0, 2.0]]), labels=np.array([1]),
                                              extra={"id": np.array(["m1"])})
    padded = missing_rows(table, np.array(["n1", "n2"]))
    assert padded.arrow_schema() == table.arrow_schema() and padded.schema == table.schema
    assert padded.sids().tolist() == ["n1", "n2"] and np.isnan(padded.features()).all()
    assert padded.column("y").tolist() == [None, None] or np.isnan(padded.column("y").astype(float)).all()
    assert [v is None for v in padded.column("id").tolist()] == [True, True]


def test_the_test_data_is_what_the_tests_assume():
    """The host table overlaps the guest's in 190 ids and holds 40 the guest lacks."""
    assert len(HOST_IDS) == 190 and set(HOST_IDS) == INTERSECTION and not set(OUTSIDERS) & set(GUEST_ROWS)


def test_without_sync_nothing_of_the_intersection_crosses():
    """The guest keys its rows itself and sends the hosts nothing (neither match ids nor sample ids)."""
    hub = Hub(timeout=5)
    ctx = PartyContext(("guest", GUEST), {"guest": [GUEST], "host": [HOST]}, hub, 1)
    schema = Schema(sid="sid", header=("x0",), extra={"match_id_name": "id"})
    table = ctx.computing.from_numpy(schema, ["s1", "s2"], np.array([[1.0], [2.0]]), extra={"id": np.array(["a", "b"])})
    params = IntersectParams.parse("Intersection", {"sync_intersect_ids": False, "sample_id_generator": "host"})
    output = _output(ctx, params, table, "id", np.array(["b"]))
    assert output.sids().tolist() == ["s2"] and output.features().tolist() == [[2.0]]
    assert hub.messages == []
