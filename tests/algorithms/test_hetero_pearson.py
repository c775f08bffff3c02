"""HeteroPearson.

On a real standalone server (guest 9999, host 10000): the local and the cross correlation equal numpy's
``corrcoef`` of the joined breast data at both parties, VIF the diagonal of the inverse correlation matrix,
the host's columns are anonymous to the guest (and the guest's to the host); chosen columns and a constant
column (NaN row and column); ``cross_parties false`` with the guest not running; what submit refuses.

In process (guest and host in threads over an in-memory plane through the real codec): the protocol gives
the plain cross correlation, and no message carries a party's features in the clear; what the other party
sends is validated.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest

from fate_flow.components import _hetero_pearson as pearson
from fate_flow.components.hetero_pearson import PearsonParams
from fate_flow.engine.bigint import BigIntVector
from fate_flow.entity.keys import TaskKey
from fate_flow.errors import ComponentError, ParamError
from fate_flow.framework.context import Context
from fate_flow.framework.federation import Exchange
from fate_flow.ml.paillier import EncryptedVector
from tests.algorithms.conftest import GUEST, HOST
from tests.algorithms.test_data_a import features, ok, write_csv
from tests.algorithms.test_homo_lr import MemoryPlane
from tests.jobs import FATE_DATA, component_call, job_conf, submit, summary, upload

DSL = {"components": {
    "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
    "data_transform_0": {"module": "DataTransform", "input": {"data": {"data": ["reader_0.data"]}},
                         "output": {"data": ["data"], "model": ["model"]}},
    "intersection_0": {"module": "Intersection", "input": {"data": {"data": ["data_transform_0.data"]}},
                       "output": {"data": ["data"]}},
    "hetero_pearson_0": {"module": "HeteroPearson", "input": {"data": {"train_data": ["intersection_0.data"]}},
                         "output": {"data": ["data"], "model": ["model"]}}}}


def _conf(params: dict, guest_table: str = "breast_hetero_guest", guest_params: dict | None = None,
          host_params: dict | None = None) -> dict:
    role = {"guest": {"0": {"reader_0": {"table": {"name": guest_table, "namespace": "experiment"}},
                            "data_transform_0": {"with_label": True, "output_format": "dense"},
                            **({"hetero_pearson_0": guest_params} if guest_params else {})}},
            "host": {"0": {"reader_0": {"table": {"name": "breast_hetero_host", "namespace": "experiment"}},
                           "data_transform_0": {"with_label": False},
                           **({"hetero_pearson_0": host_params} if host_params else {})}}}
    return job_conf(GUEST, [HOST], None, {"hetero_pearson_0": params}, role)


def _joined() -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """Guest and host features of the breast data, rows joined on the id."""
    g_ids, g_names, g = features(FATE_DATA / "breast_hetero_guest.csv", 2)
    h_ids, h_names, h = features(FATE_DATA / "breast_hetero_host.csv", 1)
    h_rows = {i: row for i, row in zip(h_ids, h, strict=True)}
    return g_names, g, h_names, np.array([h_rows[i] for i in g_ids])


def _model(server, job_id: str, role: str, party_id: str) -> dict:
    return component_call(server, "output/model", job_id, "hetero_pearson_0", role, party_id)["data"]


def _matrix(flat: list, rows: int) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in flat], dtype=float).reshape(rows, -1)


@pytest.fixture(scope="module")
def default_job(breast_server) -> str:
    return ok(breast_server, DSL, _conf({"column_indexes": -1}))


def test_local_and_cross_correlation_equal_numpy_at_both_parties(breast_server, default_job):
    g_names, g, h_names, h = _joined()
    full = np.corrcoef(np.hstack([g, h]), rowvar=False)
    p = len(g_names)
    guest, host = _model(breast_server, default_job, "guest", GUEST), _model(breast_server, default_job, "host", HOST)
    assert np.allclose(_matrix(guest["localCorr"], p), full[:p, :p], atol=1e-9)
    assert np.allclose(_matrix(host["localCorr"], len(h_names)), full[p:, p:], atol=1e-9)
    for model in (guest, host):  # both parties learn the guest x host matrix, as in FATE
        assert np.allclose(_matrix(model["corr"], p), full[:p, p:], atol=1e-9)
        assert model["shapes"] == [p, len(h_names)] and model["parties"] == [f"(guest,{GUEST})", f"(host,{HOST})"]
    # names: own in the clear, the other's anonymous
    assert guest["allNames"] == [{"names": g_names}, {"names": [f"host_{HOST}_x{i}" for i in range(len(h_names))]}]
    assert host["allNames"] == [{"names": [f"guest_{GUEST}_x{i}" for i in range(p)]}, {"names": h_names}]
    assert guest["names"] == g_names and guest["party"] == f"(guest,{GUEST})" and guest["shape"] == p
    # VIF of a regular correlation matrix: the diagonal of its inverse
    assert np.allclose(guest["localVif"], np.diag(np.linalg.inv(full[:p, :p])), rtol=1e-6)
    result = summary(breast_server, default_job, "hetero_pearson_0", "guest", GUEST)
    assert result["num_local_features"] == p and result["num_remote_features"] == len(h_names)
    assert np.allclose(np.array(result["corr"]), full[:p, p:], atol=1e-9)


@pytest.fixture(scope="module")
def constant_table(breast_server, tmp_path_factory) -> str:
    """The guest breast table with a constant feature ``c`` appended."""
    lines = (FATE_DATA / "breast_hetero_guest.csv").read_text().splitlines()
    rows = [line.split(",") + ["7"] for line in lines[1:]]
    path = write_csv(tmp_path_factory.mktemp("pearson") / "constant.csv", lines[0].split(",") + ["c"], rows)
    upload(breast_server, path, "breast_constant")
    return "breast_constant"


def test_chosen_columns_and_a_constant_one(breast_server, constant_table):
    job = ok(breast_server, DSL, _conf({"cross_parties": True, "calc_local_vif": True}, guest_table=constant_table,
                                       guest_params={"column_names": ["c", "x3"], "column_indexes": [1]},
                                       host_params={"column_indexes": [0, 4, 2]}))
    g_names, g, h_names, h = _joined()
    guest = _model(breast_server, job, "guest", GUEST)
    # FATE's order: ascending index; the constant column's row and column are NaN, its VIF too
    assert guest["allNames"][0]["names"] == ["x1", "x3", "c"]
    assert guest["allNames"][1]["names"] == [f"host_{HOST}_x{i}" for i in (0, 2, 4)]
    gi, hi = [1, 3], [0, 2, 4]
    expected = np.corrcoef(np.hstack([g[:, gi], h[:, hi]]), rowvar=False)
    local, cross = _matrix(guest["localCorr"], 3), _matrix(guest["corr"], 3)
    assert np.allclose(local[:2, :2], expected[:2, :2], atol=1e-9)
    assert np.isnan(local[2]).all() and np.isnan(local[:, 2]).all()
    assert np.allclose(cross[:2], expected[:2, 2:], atol=1e-9) and np.isnan(cross[2]).all()
    assert guest["localVif"][2] is None and guest["localVif"][0] == pytest.approx(1 / (1 - expected[0, 1] ** 2))
    host = _model(breast_server, job, "host", HOST)
    assert np.allclose(_matrix(host["corr"], 3), cross, equal_nan=True)


def test_host_only_without_cross_parties(breast_server):
    job = ok(breast_server, DSL, _conf({"column_indexes": -1, "cross_parties": False},
                                       guest_params={"need_run": False}))
    _, _, h_names, h = _joined()
    host = _model(breast_server, job, "host", HOST)
    assert host["corr"] == [] and host["parties"] == [f"(host,{HOST})"] and host["allNames"] == [{"names": h_names}]
    assert np.allclose(_matrix(host["localCorr"], len(h_names)), np.corrcoef(h, rowvar=False), atol=1e-9)
    assert "corr" not in summary(breast_server, job, "hetero_pearson_0", "host", HOST)


@pytest.mark.parametrize(("params", "field"), [
    ({"column_indexes": 3}, "column_indexes"),
    ({"column_indexes": []}, "at least one column"),
    ({"column_indexes": -1, "use_mix_rand": "yes"}, "use_mix_rand"),
])
def test_submit_refuses_bad_parameters(breast_server, params, field):
    answer = submit(breast_server, DSL, _conf(params))
    assert answer["retcode"] == 103 and field in answer["retmsg"], answer


# -- the protocol in process ------------------------------------------------------------------------------------
ROLES = {"guest": [GUEST], "host": [HOST]}


def _context(plane: MemoryPlane, role: str, party_id: str) -> Context:
    task = TaskKey("202401010000000000002", "hetero_pearson_0", "t", 0, role, party_id)
    exchange = Exchange(plane.transport((role, party_id)), (role, party_id), ROLES)
    return Context(task=task, module="HeteroPearson", stage="train", params=None, cores=1, computing=None,
                   inputs=None, outputs=None, models=None, metrics=None, exchange=exchange)


def _local(x: np.ndarray, role: str, party_id: str) -> pearson.Local:
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    names = [f"f{i}" for i in range(x.shape[1])]
    return pearson.Local(names, [f"{role}_{party_id}_x{i}" for i in range(len(names))], names,
                         list(range(len(names))), list(range(len(names))), z, len(x))


@pytest.mark.parametrize("guest_columns", [2, 5])  # the guest holds the key, then the host does
def test_protocol_gives_the_cross_correlation_and_sends_no_features(guest_columns):
    rng = np.random.default_rng(guest_columns)
    rows = 60
    g = rng.normal(size=(rows, guest_columns))
    h = np.hstack([g[:, :1] * 0.5 + rng.normal(size=(rows, 1)), rng.normal(size=(rows, 2))])
    plane = MemoryPlane()

    def party(role: str, party_id: str, x: np.ndarray) -> np.ndarray:
        return pearson._cross(_context(plane, role, party_id), _local(x, role, party_id))[0]

    blinded = []
    real = EncryptedVector.rerandomize_uniform

    def spy(vector: EncryptedVector, cores: int = 1) -> EncryptedVector:
        blinded.append(len(vector))
        return real(vector, cores)

    with mock.patch.object(EncryptedVector, "rerandomize_uniform", spy), ThreadPoolExecutor(2) as pool:
        results = [pool.submit(party, "guest", GUEST, g), pool.submit(party, "host", HOST, h)]
        guest_cross, host_cross = (r.result(timeout=60) for r in results)
    # the products of the key holder's own ciphertexts go back to it under randomness it cannot read
    assert blinded == [guest_columns * 3]
    expected = np.corrcoef(np.hstack([g, h]), rowvar=False)[:guest_columns, guest_columns:]
    assert np.allclose(guest_cross, expected, atol=1e-9) and np.array_equal(guest_cross, host_cross)
    received = {(dst[0], name): obj for _, dst, name, _, obj in plane.log}
    holder = "guest" if guest_columns < 3 else "host"
    other = "host" if holder == "guest" else "guest"
    assert {name for role, name in received if role == holder} == {"anonymous", "masked_products", "corr"}
    assert {name for role, name in received if role == other} == {"anonymous", "public_key", "key_proof", "columns",
                                                                   "unmasked"}
    # what crosses is ciphertexts, masked values, and the result: never a float array of rows
    assert isinstance(received[(other, "columns")]["ciphertexts"], BigIntVector)
    assert isinstance(received[(holder, "masked_products")]["ciphertexts"], BigIntVector)
    for obj in (o for (_, name), o in received.items() if name != "corr"):
        assert not isinstance(obj, np.ndarray)
    # the key holder decrypts masked values: uniform in [0, n), unrelated to the products
    n = received[(other, "public_key")]["n"]
    unmasked = received[(other, "unmasked")].ints()
    assert all(0 <= v < n for v in unmasked) and max(unmasked) > n // 1000


def test_cross_parties_needs_need_run():
    # FATE's check (at submit the server skips a component no party runs, so it is checked here directly)
    with pytest.raises(ParamError, match="need_run"):
        PearsonParams.parse("HeteroPearson", {"column_indexes": -1, "need_run": False})
    assert not PearsonParams.parse("HeteroPearson", {"column_indexes": -1, "need_run": False,
                                                     "cross_parties": False}).need_run


def test_what_the_other_party_sends_is_validated():
    ctx = SimpleNamespace(component_name="hetero_pearson_0")
    good = {"names": ["host_1_x0", "host_1_x1"], "kept": [0, 1], "rows": 10}
    assert pearson._check_names(ctx, good) == (good["names"], [0, 1], 10)
    for bad in ({**good, "kept": [1, 0]}, {**good, "kept": [0, 2]}, {**good, "names": "x"}, {**good, "rows": "10"},
                {**good, "extra": 1}, {**good, "names": []}, [1, 2]):
        with pytest.raises(ComponentError):
            pearson._check_names(ctx, bad)


def test_vif_of_a_singular_matrix_follows_fate():
    corr = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    vif = pearson.vif_from_corr(corr)
    # one eigenvalue is 0: left out of every product; the independent column's VIF is 1
    assert vif[2] == pytest.approx(1.0) and np.all(np.isfinite(vif))
    regular = np.array([[1.0, 0.5], [0.5, 1.0]])
    assert np.allclose(pearson.vif_from_corr(regular), np.diag(np.linalg.inv(regular)))
