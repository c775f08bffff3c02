"""HeteroFeatureBinning on a real standalone server, against a plain computation on the joined data: split
points are the plain quantiles / equal widths, WOE and IV of guest and host columns equal numpy's from the
guest's label and each party's bins, and what the host receives is ciphertexts, never a label.

This module is also a component module (``HeteroFeatureBinningSpy``, loaded by the test server through the
``components.modules`` setting): the real binning whose host records every object it receives."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fate_flow.components.feature_binning import SPEC as BINNING
from fate_flow.components.feature_binning import FeatureBinningParams
from fate_flow.framework import ComponentSpec, Context
from tests.algorithms.conftest import GUEST, HOST, standalone_server
from tests.jobs import FATE_DATA, component_call, job_conf, output_rows, reader_params, run_job, summary
from tests.support import ServerProcess

SPY_DIR_ENV = "FEATURE_BINNING_SPY_DIR"
RUNNER = "fate_flow.components._feature_binning:run"


# -- the spy component (runs inside the server's executors) ------------------------------------------------------
def run_host_spy(ctx: Context) -> None:
    """The binning's host, recording what it receives into ``$FEATURE_BINNING_SPY_DIR/<job>.ffc``."""
    from fate_flow.components._feature_binning import run
    from fate_flow.engine import codec

    inner = ctx.exchange.transport
    received: list[list[Any]] = []

    class Recording:
        def remote(self, obj: Any, name: str, tag: str, parties: list) -> None:
            inner.remote(obj, name, tag, parties)

        def get(self, name: str, tag: str, parties: list) -> list[Any]:
            objects = inner.get(name, tag, parties)
            received.extend([name, obj] for obj in objects)
            return objects

        def __getattr__(self, name: str) -> Any:
            return getattr(inner, name)

    ctx.exchange.transport = Recording()
    try:
        run(ctx)
    finally:
        ctx.exchange.transport = inner
        Path(os.environ[SPY_DIR_ENV], f"{ctx.job_id}.ffc").write_bytes(codec.encode(received))


SPEC = ComponentSpec(module="HeteroFeatureBinningSpy", params=FeatureBinningParams,
                     runners={"guest": RUNNER, "host": f"{__name__}:run_host_spy"},
                     inputs=BINNING.inputs, outputs=BINNING.outputs, stages=BINNING.stages,
                     description="HeteroFeatureBinning whose host records what it receives (tests)")

TABLES = {"breast_hetero_guest": "breast_hetero_guest.csv", "breast_hetero_host": "breast_hetero_host.csv",
          "vehicle_scale_hetero_guest": "vehicle_scale_hetero_guest.csv",
          "vehicle_scale_hetero_host": "vehicle_scale_hetero_host.csv"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A standalone server with the breast and vehicle tables and the recording binning."""
    spy_dir = tmp_path_factory.mktemp("spy")
    party = standalone_server(tmp_path_factory.mktemp("binning") / "party", TABLES,
                              {"FATE_FLOW_COMPONENTS__MODULES": f'["{__name__}"]', SPY_DIR_ENV: str(spy_dir)})
    party.spy_dir = spy_dir
    yield party
    party.stop()


# -- plain references --------------------------------------------------------------------------------------------
def joined(guest: str, host: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ids, y, guest features, host features aligned to the guest's rows) from the CSVs."""
    def read(name: str) -> tuple[list[str], np.ndarray]:
        rows = [line.split(",") for line in (FATE_DATA / name).read_text().splitlines()[1:]]
        return [r[0] for r in rows], np.array([[float(v) for v in r[1:]] for r in rows])

    guest_ids, guest_values = read(guest)
    host_ids, host_values = read(host)
    position = {sid: i for i, sid in enumerate(host_ids)}
    return np.array(guest_ids), guest_values[:, 0], guest_values[:, 1:], host_values[[position[s] for s in guest_ids]]


def plain_quantiles(column: np.ndarray, bin_num: int) -> np.ndarray:
    """The value of rank ceil(i/bin_num * n), i = 1..bin_num-1, then the maximum, without repeats."""
    ordered = np.sort(column)
    points = [ordered[max(math.ceil(i / bin_num * len(ordered)), 1) - 1] for i in range(1, bin_num)] + [ordered[-1]]
    return np.array(sorted(set(points)))


def plain_buckets(column: np.ndarray, bin_num: int) -> np.ndarray:
    low, high = column.min(), column.max()
    return np.array(sorted(set([low + k * (high - low) / bin_num for k in range(1, bin_num)] + [high])))


def plain_bins(column: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bin i holds the values in (p[i-1], p[i]]; everything above the second-to-last point is in the last bin."""
    return np.array([next((i for i, p in enumerate(points[:-1]) if v <= p), len(points) - 1) for v in column])


def plain_woe_iv(bins: np.ndarray, event: np.ndarray, n_bins: int, factor: float = 0.5) -> tuple[list, float]:
    """WOE per bin and IV, FATE's formula (adjusted rates where a bin lacks events or non-events)."""
    e = np.array([np.sum(event[bins == b]) for b in range(n_bins)], dtype=float)
    n = np.array([np.sum(1 - event[bins == b]) for b in range(n_bins)], dtype=float)
    woes, iv = [], 0.0
    for eb, nb in zip(e, n, strict=True):
        add = factor if eb == 0 or nb == 0 else 0.0
        er, nr = (eb + add) / e.sum(), (nb + add) / n.sum()
        woes.append(math.log(er / nr))
        iv += (er - nr) * math.log(er / nr)
    return woes, iv


# -- jobs ----------------------------------------------------------------------------------------------------------
def binning_dsl(module: str = "HeteroFeatureBinning") -> dict:
    return {"components": {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "data_transform_0": {"module": "DataTransform", "input": {"data": {"data": ["reader_0.data"]}},
                             "output": {"data": ["data"], "model": ["model"]}},
        "intersection_0": {"module": "Intersection", "input": {"data": {"data": ["data_transform_0.data"]}},
                           "output": {"data": ["data"]}},
        "binning_0": {"module": module, "input": {"data": {"data": ["intersection_0.data"]}},
                      "output": {"data": ["data"], "model": ["model"]}},
    }}


def binning_conf(params: dict, guest: str = "breast_hetero_guest", host: str = "breast_hetero_host",
                 host_params: dict | None = None) -> dict:
    role = reader_params(guest, [host])
    role["guest"]["0"]["data_transform_0"] = {"with_label": True, "output_format": "dense"}
    role["host"]["0"]["data_transform_0"] = {"with_label": False}
    if host_params:
        role["host"]["0"]["binning_0"] = host_params
    return job_conf(GUEST, [HOST], None, {"binning_0": {"encrypt_param": {"key_length": 1024}, **params}}, role)


def model_of(server: ServerProcess, job_id: str, role: str, party: str, component: str = "binning_0") -> dict:
    return component_call(server, "output/model", job_id, component, role, party)["data"]


@pytest.fixture(scope="module")
def quantile_job(server: ServerProcess) -> str:
    job_id, status = run_job(server, binning_dsl("HeteroFeatureBinningSpy"), binning_conf({"bin_num": 10}))
    assert status == "success", job_id
    return job_id


def test_split_points_woe_and_iv_equal_the_plain_computation(server, quantile_job):
    ids, y, xg, xh = joined("breast_hetero_guest.csv", "breast_hetero_host.csv")
    result = summary(server, quantile_job, "binning_0", "guest", GUEST)["result"]
    ivs = dict((name, value) for name, value in result["iv"])
    assert len(ivs) == 10 + 20
    assert [v for _, v in result["iv"]] == sorted(ivs.values(), reverse=True)  # FATE's order: IV descending
    for j in range(10):
        points = plain_quantiles(xg[:, j], 10)
        assert result["split_points"][f"x{j}"] == pytest.approx(points.tolist(), abs=0)
        woe, iv = plain_woe_iv(plain_bins(xg[:, j], points), y, len(points))
        assert result["woe"][f"x{j}"] == pytest.approx(woe, rel=1e-12)
        assert ivs[f"x{j}"] == pytest.approx(iv, rel=1e-12)
    host_summary = summary(server, quantile_job, "binning_0", "host", HOST)
    for j in range(20):
        points = plain_quantiles(xh[:, j], 10)
        assert host_summary[f"x{j}"] == pytest.approx(points.tolist(), abs=0)
        # the host's columns reach the guest under anonymous names, with their WOE and IV and no split points
        woe, iv = plain_woe_iv(plain_bins(xh[:, j], points), y, len(points))
        assert ivs[f"host_{HOST}_x{j}"] == pytest.approx(iv, rel=1e-12)
        assert result["woe"][f"host_{HOST}_x{j}"] == pytest.approx(woe, rel=1e-12)
        assert result["split_points"][f"host_{HOST}_x{j}"] == []
    # the output data: each value replaced by its bin index
    rows = {r["id"]: r for r in output_rows(server, quantile_job, "binning_0", "guest", GUEST)}
    for j in (0, 5, 9):
        bins = plain_bins(xg[:, j], plain_quantiles(xg[:, j], 10))
        assert [float(rows[i][f"x{j}"]) for i in ids] == bins.tolist()


def test_model_holds_fate_fields_and_the_host_keeps_its_points(server, quantile_job):
    guest = model_of(server, quantile_job, "guest", GUEST)
    assert guest["modelName"] == "binning_model"
    assert guest["multiClassResult"]["labels"] == ["1", "0"]  # descending: the event label first
    assert guest["multiClassResult"]["hostPartyIds"] == [HOST]
    x0 = guest["binningResult"]["binningResult"]["x0"]
    assert set(x0) >= {"woeArray", "ivArray", "eventCountArray", "nonEventCountArray", "splitPoints", "iv",
                       "isWoeMonotonic", "binNums"}
    assert sum(x0["eventCountArray"]) == 357 and sum(x0["nonEventCountArray"]) == 212
    host_cols = guest["hostResults"][0]["binningResult"]
    assert sorted(host_cols) == sorted(f"host_{HOST}_x{j}" for j in range(20))
    assert all(not value["splitPoints"] for value in host_cols.values())
    host = model_of(server, quantile_job, "host", HOST)
    assert host["headerAnonymous"] == [f"host_{HOST}_x{j}" for j in range(20)]
    assert not host["multiClassResult"]["labels"]  # the host never learns the labels


def test_the_host_receives_ciphertexts_never_a_label(server, quantile_job):
    from fate_flow.engine import codec
    from fate_flow.engine.codec import BigIntVector

    received = codec.decode((server.spy_dir / f"{quantile_job}.ffc").read_bytes())
    assert [name for name, _ in received] == ["plan", "encrypted_label"]
    sent = received[1][1]
    assert set(sent) == {"public_key", "key_proof", "labels", "sample_ids"}
    vector = sent["labels"]["ciphertexts"]
    assert isinstance(vector, BigIntVector) and len(vector) == 569
    width = vector.width
    values = [int.from_bytes(vector.buffer[i * width:(i + 1) * width], "little") for i in range(len(vector))]
    # 1024-bit key: ciphertexts modulo n^2, all different although only two labels exist
    assert len(set(values)) == 569 and min(values).bit_length() > 1900


def test_bucket_binning_and_category_columns(server):
    params = {"method": "bucket", "bin_num": 5, "category_indexes": [1]}
    job_id, status = run_job(server, binning_dsl(), binning_conf(params, host_params={"category_indexes": [0]}))
    assert status == "success", job_id
    _, y, xg, xh = joined("breast_hetero_guest.csv", "breast_hetero_host.csv")
    result = summary(server, job_id, "binning_0", "guest", GUEST)["result"]
    points = plain_buckets(xg[:, 0], 5)
    assert result["split_points"]["x0"] == pytest.approx(points.tolist(), rel=1e-12)
    categories = np.unique(xg[:, 1])
    assert result["split_points"]["x1"] == pytest.approx(categories.tolist(), abs=0)
    woe, iv = plain_woe_iv(np.searchsorted(categories, xg[:, 1]), y, len(categories))
    assert dict(result["iv"])["x1"] == pytest.approx(iv, rel=1e-12)
    host_categories = np.unique(xh[:, 0])
    _, iv = plain_woe_iv(np.searchsorted(host_categories, xh[:, 0]), y, len(host_categories))
    assert dict(result["iv"])[f"host_{HOST}_x0"] == pytest.approx(iv, rel=1e-12)
    assert summary(server, job_id, "binning_0", "host", HOST)["x1"] == pytest.approx(plain_buckets(xh[:, 1], 5)
                                                                                     .tolist(), rel=1e-12)


def test_multiclass_iv_is_one_vs_rest_per_label(server):
    job_id, status = run_job(server, binning_dsl(), binning_conf({"bin_num": 6}, "vehicle_scale_hetero_guest",
                                                                 "vehicle_scale_hetero_host"))
    assert status == "success", job_id
    _, y, xg, xh = joined("vehicle_scale_hetero_guest.csv", "vehicle_scale_hetero_host.csv")
    result = summary(server, job_id, "binning_0", "guest", GUEST)
    labels = sorted({int(v) for v in y}, reverse=True)
    assert list(result) == [str(v) for v in labels]
    for label in labels:
        ivs = dict(result[str(label)]["iv"])
        event = (y == label).astype(float)
        for j in (0, 3):
            _, iv = plain_woe_iv(plain_bins(xg[:, j], plain_quantiles(xg[:, j], 6)), event,
                                 len(plain_quantiles(xg[:, j], 6)))
            assert ivs[f"x{j}"] == pytest.approx(iv, rel=1e-12)
            _, iv = plain_woe_iv(plain_bins(xh[:, j], plain_quantiles(xh[:, j], 6)), event,
                                 len(plain_quantiles(xh[:, j], 6)))
            assert ivs[f"host_{HOST}_x{j}"] == pytest.approx(iv, rel=1e-12)


def test_optimal_binning_merges_to_at_most_bin_num_mixed_bins(server):
    params = {"method": "optimal", "bin_num": 4, "optimal_binning_param": {
        "metric_method": "iv", "init_bin_nums": 40, "min_bin_pct": 0.05, "max_bin_pct": 0.8, "mixture": True}}
    job_id, status = run_job(server, binning_dsl(), binning_conf(params))
    assert status == "success", job_id
    _, y, xg, xh = joined("breast_hetero_guest.csv", "breast_hetero_host.csv")
    guest = model_of(server, job_id, "guest", GUEST)
    for name, value in guest["binningResult"]["binningResult"].items():
        points = np.asarray(value["splitPoints"])
        assert 1 <= len(points) <= 4
        # every kept point is one of the initial quantiles, and the counts are those of the final bins
        column = xg[:, int(name[1:])]
        assert set(points.tolist()) <= set(plain_quantiles(column, 40).tolist())
        bins = plain_bins(column, points)
        assert value["eventCountArray"] == [int(np.sum(y[bins == b])) for b in range(len(points))]
        assert all(e > 0 and n > 0 for e, n in zip(value["eventCountArray"], value["nonEventCountArray"],
                                                   strict=True))
        assert min(np.bincount(bins)) >= math.ceil(0.05 * len(y))
    # the host kept some of its 40 initial quantiles, as the guest chose; the guest's view agrees
    host_points = summary(server, job_id, "binning_0", "host", HOST)
    host_results = guest["hostResults"][0]["binningResult"]
    for j in range(20):
        points = np.asarray(host_points[f"x{j}"])
        assert 1 <= len(points) <= 4 and set(points.tolist()) <= set(plain_quantiles(xh[:, j], 40).tolist())
        bins = plain_bins(xh[:, j], points)
        assert host_results[f"host_{HOST}_x{j}"]["eventCountArray"] == [int(np.sum(y[bins == b]))
                                                                        for b in range(len(points))]


def test_a_model_input_bins_other_data_the_same_way(server, quantile_job):
    dsl = binning_dsl()
    components = dsl["components"]
    components["binning_1"] = {"module": "HeteroFeatureBinning", "input": {
        "data": {"data": ["intersection_0.data"]}, "model": ["binning_0.model"]}, "output": {"data": ["data"],
                                                                                            "model": ["model"]}}
    conf = binning_conf({"bin_num": 5, "transform_param": {"transform_cols": [0, 2]}})
    job_id, status = run_job(server, dsl, conf)
    assert status == "success", job_id
    ids, _, xg, _ = joined("breast_hetero_guest.csv", "breast_hetero_host.csv")
    rows = {r["id"]: r for r in output_rows(server, job_id, "binning_1", "guest", GUEST)}
    points = plain_quantiles(xg[:, 2], 5)
    assert [float(rows[i]["x2"]) for i in ids] == plain_bins(xg[:, 2], points).tolist()
    assert [float(rows[i]["x1"]) for i in ids] == pytest.approx(xg[:, 1].tolist())  # not a transform column
    fitted = model_of(server, job_id, "guest", GUEST, "binning_1")
    assert fitted["transformBinningResult"]["binningResult"]["x2"]["iv"] == pytest.approx(
        fitted["binningResult"]["binningResult"]["x2"]["iv"])


def test_malformed_host_sums_are_refused():
    from fate_flow.components._binning_cipher import pack, pack_widths, unpack
    from fate_flow.components._feature_binning import _host_counts
    from fate_flow.errors import ComponentError
    from fate_flow.ml.paillier import generate_keypair

    onehot = np.array([[1, 0], [0, 1], [1, 0]])
    widths = pack_widths(onehot.sum(axis=0))
    assert unpack(pack(onehot, widths), widths).tolist() == onehot.tolist()

    class Ctx:
        component_name, cores = "binning_0", 1

    public, private = generate_keypair(1024)
    labels = type("L", (), {"counts": onehot.sum(axis=0)})()
    for bad in ({}, {"columns": ["a"], "bin_nums": [1, 2], "sums": None, "category_names": [], "bin_method":
                     "quantile", "optimal_params": {}},
                {"columns": ["a"], "bin_nums": [1], "sums": {"key": "x"}, "category_names": [], "bin_method":
                 "quantile", "optimal_params": {}}):
        with pytest.raises(ComponentError):
            _host_counts(Ctx(), bad, public, private, widths, labels, HOST)
