"""HomoFeatureBinning, against a plain computation on the union of the clients' data.

In process (guest, two hosts and the arbiter in threads over the in-memory data plane of test_homo_lr): the
recursive query finds exactly ``binning.quantile_points`` of the union (missing values and ties included),
virtual summary FATE's interpolation over the union's counts; the arbiter receives the settings, public keys,
convergence flags and masked vectors only, never a client's counts; clients that bin differently are refused.

On a real standalone server (guest 9999, host 10000, arbiter 10000, FATE's breast_homo tables): split points
of both methods, the bin transform, each client's IV from its own labels, and a second component binning with
the first's model.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from fate_flow.components import _homo_feature_binning as hfb
from fate_flow.components._binning_plan import Plan
from fate_flow.components.homo_feature_binning import HomoFeatureBinningParams
from fate_flow.entity.keys import TaskKey
from fate_flow.errors import ComponentError, ParamError
from fate_flow.framework.context import Context
from fate_flow.framework.federation import Exchange
from fate_flow.ml import binning, secure_agg
from tests.algorithms.conftest import ARBITER, GUEST, HOST, standalone_server
from tests.algorithms.test_feature_binning import plain_bins, plain_quantiles, plain_woe_iv
from tests.algorithms.test_homo_lr import MemoryPlane
from tests.jobs import FATE_DATA, job_conf, output_rows, reader_params, run_job, summary
from tests.support import ServerProcess

HOMO_TABLES = {"breast_homo_guest": "breast_homo_guest.csv", "breast_homo_host": "breast_homo_host.csv"}
ROLES = {"guest": ["9999"], "host": ["10000", "10001"], "arbiter": ["10000"]}
CLIENTS = [("guest", "9999"), ("host", "10000"), ("host", "10001")]
COLUMNS = ["a", "b", "c"]


def params_of(**given: Any) -> HomoFeatureBinningParams:
    return HomoFeatureBinningParams.parse("HomoFeatureBinning", given)


# -- plain references --------------------------------------------------------------------------------------------
def plain_virtual_summary(column: np.ndarray, bin_num: int, sample_bins: int) -> np.ndarray:
    """FATE's virtual summary over one column's values: counts at an even grid from min to max, the value at
    rank int(i / bin_num * n) interpolated between the grid values whose counts surround it."""
    values = column[~np.isnan(column)]
    grid = np.linspace(values.min(), values.max(), sample_bins)
    ranks = [int(np.sum(values <= g)) for g in grid]
    n = len(values)
    points = set()
    for rank in [int(i / bin_num * n) for i in range(1, bin_num)] + [n]:
        at = next((k for k, r in enumerate(ranks) if r >= rank), len(ranks))
        if at >= len(ranks) - 1:
            points.add(float(grid[-1]))
        elif grid[at + 1] - grid[at] < 1e-8 or ranks[at + 1] - ranks[at] < 1e-8:
            points.add(float(grid[at]))
        else:
            points.add(float(grid[at] + (grid[at + 1] - grid[at]) * (rank - ranks[at]) / (ranks[at + 1] - ranks[at])))
    return np.array(sorted(points))


# -- in process ----------------------------------------------------------------------------------------------------
def _context(plane: MemoryPlane, role: str, party_id: str) -> Context:
    task = TaskKey("202401010000000000001", "homo_binning_0", "t", 0, role, party_id)
    exchange = Exchange(plane.transport((role, party_id)), (role, party_id), ROLES)
    return Context(task=task, module="HomoFeatureBinning", stage="train", params=None, cores=1, computing=None,
                   inputs=None, outputs=None, models=None, metrics=None, exchange=exchange)


def _client_data() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    data = [rng.normal(size=(n, 3)) for n in (60, 90, 41)]
    data[1][:7, 0] = np.nan  # missing values at one client
    for part in data:
        part[:, 2] = np.round(part[:, 2] * 2)  # many ties
    data[2][:, 1] *= -1e6
    return data


def _fit_in_process(params: HomoFeatureBinningParams, data: list[np.ndarray],
                    columns: list[list[str]] | None = None) -> dict[str, Any]:
    """Every client's split points and what it summed locally, the arbiter's summary, the data plane."""
    plane = MemoryPlane()
    local: list[list[tuple[str, np.ndarray, np.ndarray]]] = [[] for _ in CLIENTS]

    class Recording(hfb.SumClient):
        def sum(self, ctx: Context, name: str, values: np.ndarray) -> np.ndarray:
            total = super().sum(ctx, name, values)
            local[CLIENTS.index((ctx.role, ctx.party_id))].append((name, np.asarray(values, np.float64), total))
            return total

    def client(index: int) -> list[np.ndarray]:
        names = (columns or [COLUMNS] * len(CLIENTS))[index]
        plan = Plan(names, [], list(names), [], [], None)
        return hfb.fit_split_points(_context(plane, *CLIENTS[index]), plan, data[index], params)

    original = hfb.SumClient
    hfb.SumClient = Recording
    try:
        with ThreadPoolExecutor(len(CLIENTS) + 1) as pool:
            clients = [pool.submit(client, i) for i in range(len(CLIENTS))]
            arbiter = pool.submit(hfb.arbitrate, _context(plane, "arbiter", "10000"))
            outcome = {"points": [c.result(timeout=60) for c in clients], "arbiter": arbiter.result(timeout=60)}
    finally:
        hfb.SumClient = original
    return {**outcome, "plane": plane, "local": local}


@pytest.fixture(scope="module")
def recursive() -> dict[str, Any]:
    return _fit_in_process(params_of(method="recursive_query", bin_num=8), _client_data())


def test_recursive_query_finds_the_exact_quantiles_of_the_union(recursive):
    union = np.vstack(_client_data())
    for points in recursive["points"]:  # every client gets the same points
        for j in range(3):
            assert points[j].tolist() == binning.quantile_points(union[:, j], 8).tolist()
            assert points[j].tolist() == plain_quantiles(union[~np.isnan(union[:, j]), j], 8).tolist()
    assert recursive["arbiter"] == {"method": "recursive_query", "columns": 3, "rounds": 64}


def test_virtual_summary_interpolates_the_union_counts():
    data = _client_data()
    outcome = _fit_in_process(params_of(bin_num=6, sample_bins=40), data)
    union = np.vstack(data)
    for points in outcome["points"]:
        for j in range(3):
            assert points[j] == pytest.approx(plain_virtual_summary(union[:, j], 6, 40), rel=1e-12, abs=1e-12)


def test_the_arbiter_receives_only_masked_vectors_never_a_clients_counts(recursive):
    received = [(src, name, obj) for src, dst, name, _, obj in recursive["plane"].log if dst[0] == "arbiter"]
    assert {name for _, name, _ in received} == {"settings", "public_key", "sample_count", "missing_count", "rank",
                                                 "converged"}
    assert all(src == ("guest", "9999") for src, name, _ in received if name == "converged")  # one flag a round
    masked = [(src, name, obj) for src, name, obj in received if name in ("sample_count", "missing_count", "rank")]
    assert len(masked) == 3 * (2 + 64)
    for index, client in enumerate(CLIENTS):
        arrived = [obj for src, name, obj in masked if src == client and name != "sample_count"]
        own = [values for _, values, _ in recursive["local"][index]]
        assert len(arrived) == len(own)
        for obj, mine in zip(arrived, own, strict=True):
            assert isinstance(obj, np.ndarray) and obj.dtype == np.uint64 and obj.shape == mine.shape
            # the client's vector never travels in the clear: each value is off by a mask far above any count
            # (a uniform 64-bit mask lands within 1e3 of the value with probability 5e-7)
            assert np.count_nonzero(np.abs(secure_agg.decode(obj) - mine) < 1e3) <= 1
    counts = [secure_agg.decode(obj)[0] for _, name, obj in masked if name == "sample_count"]
    assert not {round(c) for c in counts} & {60, 90, 41}
    # yet every client gets back the plain sum of the clients' vectors
    steps = [list(zip(*(recursive["local"][i][k] for i in range(3)), strict=True))
             for k in range(len(recursive["local"][0]))]
    assert len(steps) == 1 + 64
    for names, values, totals in steps:
        assert len(set(names)) == 1
        assert all(np.array_equal(t, np.sum(values, axis=0)) for t in totals)


def test_clients_that_bin_different_columns_are_refused():
    with pytest.raises(ComponentError, match="columns differ"):
        _fit_in_process(params_of(method="recursive_query"), _client_data(), [COLUMNS, COLUMNS, ["a", "b", "d"]])


def test_aggregated_counts_out_of_range_are_refused():
    class Ctx:
        component_name = "homo_binning_0"

    for bad in (np.array([1.5, 2.0]), np.array([-1.0, 2.0]), np.array([11.0, 0.0]), np.array([np.nan, 0.0]),
                np.array([1.0])):
        with pytest.raises(ComponentError, match="not counts"):
            hfb._counts(Ctx(), bad, np.array([10, 10]), "ranks")


def test_params_follow_fate_checks():
    assert params_of().method == "virtual_summary" and params_of().sample_bins == 100
    assert params_of(method="Recursive_Query").method == "recursive_query"
    for bad in ({"method": "quantile"}, {"max_iter": 101}, {"sample_bins": 0}):
        with pytest.raises(ParamError):
            params_of(**bad)


def test_float_keys_keep_the_order_of_floats():
    values = np.array([-np.inf, -1e300, -2.5, -1e-300, -0.0, 0.0, 1e-300, 3.0, 1e300, np.inf])
    keys = binning.float_keys(values)
    assert np.all(np.diff(keys) > 0)
    assert binning.key_floats(keys).tolist() == values.tolist()
    low, high = np.array([binning.KEY_LOW, -5]), np.array([binning.KEY_HIGH, 8])
    assert binning.key_midpoints(low, high).tolist() == [-1, 1]


# -- on a server -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    party = standalone_server(tmp_path_factory.mktemp("homo_binning") / "party", HOMO_TABLES)
    yield party
    party.stop()


def read(name: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(ids, labels, features) of one of FATE's homo tables."""
    rows = [line.split(",") for line in (FATE_DATA / name).read_text().splitlines()[1:]]
    values = np.array([[float(v) for v in r[1:]] for r in rows])
    return [r[0] for r in rows], values[:, 0], values[:, 1:]


def binning_dsl(second: bool = False) -> dict:
    components = {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "data_transform_0": {"module": "DataTransform", "input": {"data": {"data": ["reader_0.data"]}},
                             "output": {"data": ["data"], "model": ["model"]}},
        "binning_0": {"module": "HomoFeatureBinning", "input": {"data": {"data": ["data_transform_0.data"]}},
                      "output": {"data": ["data"], "model": ["model"]}}}
    if second:
        components["binning_1"] = {"module": "HomoFeatureBinning", "input": {
            "data": {"data": ["data_transform_0.data"]}, "model": ["binning_0.model"]},
            "output": {"data": ["data"], "model": ["model"]}}
    return {"components": components}


def binning_conf(params: dict) -> dict:
    role = reader_params("breast_homo_guest", ["breast_homo_host"])
    common = {"data_transform_0": {"with_label": True, "output_format": "dense"}, "binning_0": params}
    return job_conf(GUEST, [HOST], ARBITER, common, role)


@pytest.fixture(scope="module")
def recursive_job(server: ServerProcess) -> str:
    job_id, status = run_job(server, binning_dsl(second=True), binning_conf({"method": "recursive_query"}))
    assert status == "success", job_id
    return job_id


def test_split_points_bins_and_each_clients_iv_equal_the_plain_computation(server, recursive_job):
    parties = {"guest": (GUEST, read("breast_homo_guest.csv")), "host": (HOST, read("breast_homo_host.csv"))}
    union = np.vstack([features for _, (_, (_, _, features)) in parties.items()])
    for role, (party, (ids, y, x)) in parties.items():
        result = summary(server, recursive_job, "binning_0", role, party)
        ivs = dict(result["result"]["iv"])
        rows = {r["id"]: r for r in output_rows(server, recursive_job, "binning_0", role, party)}
        for j in range(30):
            points = plain_quantiles(union[:, j], 10)
            assert result["split_points"][f"x{j}"] == points.tolist()
            bins = plain_bins(x[:, j], points)
            assert [float(rows[i][f"x{j}"]) for i in ids] == bins.tolist()
            woe, iv = plain_woe_iv(bins, y, len(points))  # from this client's own labels
            assert ivs[f"x{j}"] == pytest.approx(iv, rel=1e-12)
            assert result["result"]["woe"][f"x{j}"] == pytest.approx(woe, rel=1e-12)
    assert summary(server, recursive_job, "binning_0", "arbiter", ARBITER)["rounds"] == 64


def test_a_model_input_bins_with_the_fitted_points(server, recursive_job):
    for role, party, name in (("guest", GUEST, "breast_homo_guest.csv"), ("host", HOST, "breast_homo_host.csv")):
        first = {r["id"]: r for r in output_rows(server, recursive_job, "binning_0", role, party)}
        second = {r["id"]: r for r in output_rows(server, recursive_job, "binning_1", role, party)}
        assert first == second and len(first) == len(read(name)[0])


def test_virtual_summary_job_and_column_choice(server):
    params = {"bin_indexes": [0, 2], "bin_names": ["x5"], "sample_bins": 200, "bin_num": 5,
              "transform_param": {"transform_type": "woe"}}
    job_id, status = run_job(server, binning_dsl(), binning_conf(params))
    assert status == "success", job_id
    _, _, xg = read("breast_homo_guest.csv")
    union = np.vstack([xg, read("breast_homo_host.csv")[2]])
    result = summary(server, job_id, "binning_0", "host", HOST)
    assert sorted(result["split_points"]) == ["x0", "x2", "x5"]
    for j in (0, 2, 5):
        expected = plain_virtual_summary(union[:, j], 5, 200)
        assert result["split_points"][f"x{j}"] == pytest.approx(expected.tolist(), rel=1e-12)
        # the virtual summary's points sit within a grid cell's count of the exact quantile ranks
        targets = np.array([int(i / 5 * len(union)) for i in range(1, 5)])
        cell = max(np.bincount(np.searchsorted(np.linspace(union[:, j].min(), union[:, j].max(), 200), union[:, j])))
        assert all(np.abs(np.sum(union[:, j] <= p) - targets).min() <= cell for p in expected[:-1])
    rows = output_rows(server, job_id, "binning_0", "guest", GUEST)
    assert [float(r["x1"]) for r in rows] == pytest.approx(xg[:, 1].tolist())  # not binned, unchanged
    # a host transforms to WOE too: its own, from its own labels
    ids, y, xh = read("breast_homo_host.csv")
    rows = {r["id"]: r for r in output_rows(server, job_id, "binning_0", "host", HOST)}
    points = np.asarray(result["split_points"]["x2"])
    woe, _ = plain_woe_iv(plain_bins(xh[:, 2], points), y, len(points))
    assert [float(rows[i]["x2"]) for i in ids] == pytest.approx(np.asarray(woe)[plain_bins(xh[:, 2], points)])
    assert math.isfinite(dict(summary(server, job_id, "binning_0", "guest", GUEST)["result"]["iv"])["x0"])
