"""HeteroFeatureSelection on a real standalone server: the columns each party keeps equal a plain computation
(numpy IVs of the joined data ranked or thresholded, numpy means, value frequencies), and a model input keeps
the same columns of other data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.algorithms.conftest import GUEST, HOST
from tests.algorithms.test_feature_binning import joined, plain_bins, plain_quantiles, plain_woe_iv
from tests.jobs import component_call, job_conf, output_rows, reader_params, run_job, summary

FEATURES_G = [f"x{j}" for j in range(10)]
FEATURES_H = [f"x{j}" for j in range(20)]


def selection_dsl(with_statistics: bool = False, second: bool = False) -> dict:
    components = {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "data_transform_0": {"module": "DataTransform", "input": {"data": {"data": ["reader_0.data"]}},
                             "output": {"data": ["data"], "model": ["model"]}},
        "intersection_0": {"module": "Intersection", "input": {"data": {"data": ["data_transform_0.data"]}},
                           "output": {"data": ["data"]}},
        "binning_0": {"module": "HeteroFeatureBinning", "input": {"data": {"data": ["intersection_0.data"]}},
                      "output": {"data": ["data"], "model": ["model"]}},
        "selection_0": {"module": "HeteroFeatureSelection", "input": {
            "data": {"data": ["intersection_0.data"]}, "isometric_model": ["binning_0.model"]},
            "output": {"data": ["data"], "model": ["model"]}},
    }
    if with_statistics:
        components["statistic_0"] = {"module": "DataStatistics", "input": {"data": {"data": ["intersection_0.data"]}},
                                     "output": {"data": ["data"], "model": ["model"]}}
        components["selection_0"]["input"]["isometric_model"].append("statistic_0.model")
    if second:
        components["selection_1"] = {"module": "HeteroFeatureSelection", "input": {
            "data": {"data": ["binning_0.data"]}, "model": ["selection_0.model"]},
            "output": {"data": ["data"], "model": ["model"]}}
    return {"components": components}


def selection_conf(selection: dict, role_selection: dict | None = None) -> dict:
    role = reader_params("breast_hetero_guest", ["breast_hetero_host"])
    role["guest"]["0"]["data_transform_0"] = {"with_label": True}
    role["host"]["0"]["data_transform_0"] = {"with_label": False}
    for side, params in (role_selection or {}).items():
        role[side]["0"]["selection_0"] = params
    return job_conf(GUEST, [HOST], None, {"binning_0": {"bin_num": 10, "encrypt_param": {"key_length": 1024}},
                                          "statistic_0": {"statistics": ["mean", "max"]},
                                          "selection_0": selection}, role)


def plain_ivs() -> tuple[dict[str, float], dict[str, float]]:
    """IV of every guest column and every host column (by its anonymous name) on the joined data."""
    _, y, xg, xh = joined("breast_hetero_guest.csv", "breast_hetero_host.csv")

    def iv(column: np.ndarray) -> float:
        points = plain_quantiles(column, 10)
        return plain_woe_iv(plain_bins(column, points), y, len(points))[1]

    return ({f"x{j}": iv(xg[:, j]) for j in range(10)},
            {f"host_{HOST}_x{j}": iv(xh[:, j]) for j in range(20)})


def left(server, job_id: str, role: str, party: str, key: str = "all") -> list[str]:
    return summary(server, job_id, "selection_0", role, party)[key]["left_col_names"]


@pytest.fixture(scope="module")
def server(breast_server):
    return breast_server


def test_iv_threshold_with_host_thresholds_then_top_k_ranked_across_parties(server):
    iv_param = {"metrics": ["iv", "iv"], "filter_type": ["threshold", "top_k"], "threshold": [1.0, 12],
                "host_thresholds": [[0.5], None]}
    job_id, status = run_job(server, selection_dsl(), selection_conf({"filter_methods": ["iv_filter"],
                                                                      "iv_param": iv_param}))
    assert status == "success", job_id
    guest_iv, host_iv = plain_ivs()
    guest_kept = [c for c in FEATURES_G if guest_iv[c] >= 1.0]
    host_kept = [a for a in host_iv if host_iv[a] >= 0.5]
    assert 0 < len(guest_kept) < 10 and 0 < len(host_kept) < 20  # the thresholds really select
    assert left(server, job_id, "guest", GUEST, "iv_threshold") == guest_kept
    assert left(server, job_id, "host", HOST, "iv_threshold") == [f"x{a.rsplit('x', 1)[1]}" for a in host_kept]
    # top 12 of the survivors of both parties, ranked together by IV
    pool = {**{c: guest_iv[c] for c in guest_kept}, **{a: host_iv[a] for a in host_kept}}
    best = set(sorted(pool, key=pool.get, reverse=True)[:12])
    assert left(server, job_id, "guest", GUEST) == [c for c in guest_kept if c in best]
    assert left(server, job_id, "host", HOST) == [f"x{a.rsplit('x', 1)[1]}" for a in host_kept if a in best]
    # the output data has the surviving columns only; the model records them and the host's anonymous view
    rows = output_rows(server, job_id, "selection_0", "guest", GUEST)
    assert [c for c in rows[0] if c.startswith("x")] == [c for c in guest_kept if c in best]
    model = component_call(server, "output/model", job_id, "selection_0", "guest", GUEST)["data"]
    assert [r["filterName"] for r in model["results"]] == ["iv_threshold", "iv_top_k"]
    assert model["results"][0]["hostFeatureValues"][0]["featureValues"] == pytest.approx(host_iv, rel=1e-9)


def test_manually_statistic_and_percentage_value_equal_numpy(server):
    _, _, xg, xh = joined("breast_hetero_guest.csv", "breast_hetero_host.csv")
    params = {"filter_methods": ["manually", "statistic_filter", "percentage_value"],
              "manually_param": {"filter_out_indexes": [0]},
              "statistic_param": {"metrics": "max", "threshold": 5.0, "take_high": False},
              "percentage_value_param": {"upper_pct": 0.5}}
    job_id, status = run_job(server, selection_dsl(with_statistics=True), selection_conf(params))
    assert status == "success", job_id
    for role, party, x, names in (("guest", GUEST, xg, FEATURES_G), ("host", HOST, xh, FEATURES_H)):
        survivors = [c for c in names[1:] if x[:, names.index(c)].max() <= 5.0]
        assert 0 < len(survivors) < len(names) - 1
        assert left(server, job_id, role, party, "max") == survivors

        def top_count(column: np.ndarray) -> int:
            return int(np.unique(np.round(column, 8), return_counts=True)[1].max())

        expected = [c for c in survivors if top_count(x[:, names.index(c)]) <= math.ceil(0.5 * len(x))]
        assert left(server, job_id, role, party) == expected


def test_a_model_input_keeps_the_same_columns(server):
    params = {"filter_methods": ["iv_filter"], "iv_param": {"filter_type": "top_percentile", "threshold": 0.3}}
    job_id, status = run_job(server, selection_dsl(second=True), selection_conf(params))
    assert status == "success", job_id
    guest_iv, host_iv = plain_ivs()
    pool = {**guest_iv, **host_iv}
    best = set(sorted(pool, key=pool.get, reverse=True)[:math.ceil(0.3 * 30)])
    for role, party, names in (("guest", GUEST, FEATURES_G), ("host", HOST, FEATURES_H)):
        expected = [c for c in names if (c if role == "guest" else f"host_{HOST}_{c}") in best]
        assert left(server, job_id, role, party) == expected
        rows = output_rows(server, job_id, "selection_1", role, party)
        assert [c for c in rows[0] if c.startswith("x")] == expected
        # selection_1 read the binned data: its values are bin indices
        assert all(float(rows[0][c]).is_integer() for c in expected)


def test_deprecated_spellings_and_anonymous_names(server):
    params = {"filter_methods": ["manually", "iv_value_thres", "iv_top_k"],
              "iv_value_param": {"value_threshold": 0.2}, "iv_top_k_param": {"k": 5}}
    host = {"use_anonymous": True, "manually_param": {"filter_out_names": [f"host_{HOST}_x3"]}}
    job_id, status = run_job(server, selection_dsl(), selection_conf(params, {"host": host}))
    assert status == "success", job_id
    guest_iv, host_iv = plain_ivs()
    del host_iv[f"host_{HOST}_x3"]
    assert "x3" not in left(server, job_id, "host", HOST, "manually")
    pool = {k: v for k, v in {**guest_iv, **host_iv}.items() if v >= 0.2}
    best = set(sorted(pool, key=pool.get, reverse=True)[:5])
    assert left(server, job_id, "guest", GUEST) == [c for c in FEATURES_G if c in best]
    assert left(server, job_id, "host", HOST) == [c for c in FEATURES_H if f"host_{HOST}_{c}" in best]
