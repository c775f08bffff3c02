"""HomoSecureBoost.

In process (guest, host and arbiter in threads over the in-memory data plane, every message through the codec):
the federated split points are the exact quantiles of the union of the clients' data; the federated trees
equal the trees a plain implementation (written here with ``fate_flow.ml.tree``'s functions) grows on the
union with those split points, with and without missing values, binary, multi-class and regression; the
arbiter receives masked vectors only (no histogram, count or loss in the clear), and a malformed decision from
the arbiter is refused.

On a real standalone server (guest 9999, host 10000, arbiter 10000): a job's trees equal the plain trees on the
union and its AUC on breast_homo_test is comparable to scikit-learn's GradientBoosting; predict stage, warm
start and cross validation run.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from fate_flow.components import _homo_secureboost as runner
from fate_flow.components.homo_secureboost import HomoSecureBoostParams
from fate_flow.entity.keys import TaskKey
from fate_flow.framework.context import Context
from fate_flow.framework.federation import Exchange
from fate_flow.ml import secure_agg
from fate_flow.ml.binning import split_points
from fate_flow.ml.hetero_sbt import choose_features
from fate_flow.ml.homo_sbt import float_keys, key_floats, quantile_ranks
from fate_flow.ml.predict import TEST
from fate_flow.ml.tree import (
    FLOAT_ZERO,
    MISSING,
    Criterion,
    Objective,
    SplitDesc,
    bin_with_missing,
    candidate_layout,
    candidates_from_histograms,
    first_best_of,
    histograms,
    split_gains,
)
from tests.algorithms.conftest import ARBITER, GUEST, HOST, standalone_server
from tests.algorithms.test_homo_lr import MemoryPlane
from tests.jobs import FATE_DATA, component_call, job_conf, output_rows, reader_params, run_job, summary
from tests.support import ServerProcess

ROLES = {"guest": [GUEST], "host": [HOST], "arbiter": [ARBITER]}


# -- the plain reference ----------------------------------------------------------------------------------------
def plain_trees(x: np.ndarray, targets: np.ndarray, params: HomoSecureBoostParams, tree_dim: int,
                points: list[np.ndarray]) -> list[list[tuple]]:
    """Boosted trees on all the data in one place: per tree, (id, is_leaf, fid, threshold, missing_dir, weight,
    left, right) of every node."""
    objective = Objective(params.objective_param.objective or "cross_entropy",
                          (params.objective_param.params or [None])[0])
    tree = params.tree_param
    criterion = Criterion(l2=tree.criterion_params[0], l1=tree.criterion_params[1],
                          min_impurity_split=tree.min_impurity_split, min_leaf_node=tree.min_leaf_node,
                          min_child_weight=tree.min_child_weight, min_sample_split=tree.min_sample_split)
    binned = bin_with_missing(x, points)
    width = max(p.size for p in points)
    rng = np.random.default_rng(params.random_seed)  # the arbiter's feature sampling, replayed
    raw = np.zeros((len(x), tree_dim))
    trees = []
    for _ in range(params.num_trees):
        g_all, h_all = objective.grad_hess(targets, raw)
        for dim in range(tree_dim):
            chosen = choose_features(x.shape[1], params.subsample_feature_rate, rng)
            layout = candidate_layout([points[f].size for f in chosen], params.use_missing_values)
            layout = SplitDesc(chosen[layout.fid], layout.bid, layout.missing_dir)
            nodes, position = _plain_tree(binned, points, g_all[:, dim], h_all[:, dim], criterion, layout, width,
                                          tree.max_depth)
            weights = np.array([n[5] for n in nodes])
            raw[:, dim] += params.learning_rate * weights[position]
            trees.append(nodes)
    return trees


def _plain_tree(binned, points, g, h, criterion, layout, width, max_depth) -> tuple[list[tuple], np.ndarray]:
    position = np.zeros(len(g), dtype=np.int64)
    nodes: dict[int, list] = {}
    layer, next_id = [0], 1
    for depth in range(max_depth + 1):
        if not layer:
            break
        lookup = np.full(next_id, -1)
        lookup[layer] = np.arange(len(layer))
        index = lookup[position]
        here = index >= 0
        sg = np.bincount(index[here], weights=g[here], minlength=len(layer))
        sh = np.bincount(index[here], weights=h[here], minlength=len(layer))
        count = np.bincount(index[here], minlength=len(layer))
        best, choice = np.full(len(layer), -np.inf), np.full(len(layer), -1)
        if depth < max_depth:
            candidates = candidates_from_histograms(*histograms(binned, index, len(layer), g, h, width), layout)
            # (the layout names real features, the histograms cover them all)
            best, choice = first_best_of(split_gains(candidates, sg, sh, count, criterion))
        children = []
        for i, nid in enumerate(layer):
            weight = float(criterion.weight(sg[i], sh[i]))
            if not (np.isfinite(best[i]) and best[i] > criterion.min_impurity_split + FLOAT_ZERO):
                nodes[nid] = [nid, True, -1, -1.0, 1, float(np.round(weight, 10)), -1, -1]
                continue
            fid, bid, direction = (int(a[choice[i]]) for a in (layout.fid, layout.bid, layout.missing_dir))
            nodes[nid] = [nid, False, fid, float(points[fid][bid]), direction, weight, next_id, next_id + 1]
            rows = np.flatnonzero(index == i)
            bins = binned[rows, fid]
            left = np.where(bins == MISSING, direction == -1, bins <= bid)
            position[rows[left]], position[rows[~left]] = next_id, next_id + 1
            children += [next_id, next_id + 1]
            next_id += 2
        layer = children
    return [tuple(nodes[i]) for i in sorted(nodes)], position


def federated_nodes(tree: dict) -> list[tuple]:
    """A saved tree's nodes in the reference's form."""
    return [(n["id"], n["is_leaf"], n["fid"], n["bid"] if not n["is_leaf"] else -1.0,
             n["missing_dir"] if not n["is_leaf"] else 1, n["weight"], n["left_nodeid"], n["right_nodeid"])
            for n in tree["tree_"]]


def assert_same_trees(federated: list[list[tuple]], plain: list[list[tuple]]) -> None:
    """Same structure, features, thresholds and directions; weights equal up to the fixed point of the secure
    sums (2^-32 per client)."""
    assert len(federated) == len(plain)
    for fed, ref in zip(federated, plain, strict=True):
        assert [n[:5] + n[6:] for n in fed] == [n[:5] + n[6:] for n in ref]
        assert np.allclose([n[5] for n in fed], [n[5] for n in ref], rtol=0, atol=1e-7)


# -- in process ------------------------------------------------------------------------------------------------
def read(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Features (NaN for empty cells) and labels of a FATE csv whose label is column 1."""
    rows = [line.split(",") for line in (FATE_DATA / name).read_text().splitlines()[1:]]
    values = np.array([[float(v) if v.strip() else np.nan for v in r[1:]] for r in rows])
    return values[:, 1:], values[:, 0]


def _context(plane: MemoryPlane, role: str, party_id: str, params: HomoSecureBoostParams) -> Context:
    task = TaskKey("202401010000000000009", "homo_secureboost_0", "t", 0, role, party_id)
    exchange = Exchange(plane.transport((role, party_id)), (role, party_id), ROLES)
    metrics = SimpleNamespace(loss=lambda *args, **kwargs: None)
    return Context(task=task, module="HomoSecureBoost", stage="train", params=params, cores=1, computing=None,
                   inputs=None, outputs=None, models=None, metrics=metrics, exchange=exchange)


def run_in_process(params: HomoSecureBoostParams, clients: list[tuple[np.ndarray, np.ndarray]]
                   ) -> tuple[list[runner.Booster], dict, MemoryPlane]:
    """Train with a guest and a host in threads, the arbiter in a third: the boosters, the arbiter's summary."""
    plane = MemoryPlane()
    parties = [("guest", GUEST), ("host", HOST)]

    def client(index: int) -> runner.Booster:
        ctx = _context(plane, *parties[index], params)
        x, y = clients[index]
        return runner._fit(ctx, params, x, y, None, [f"x{i}" for i in range(x.shape[1])])

    def arbiter() -> dict:
        return runner._arbitrate(_context(plane, "arbiter", ARBITER, params), params, "loss")

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(client, 0), pool.submit(client, 1), pool.submit(arbiter)]
        results = [f.result(timeout=300) for f in futures]
    return results[:2], results[2], plane


def _union_targets(clients, classification: bool) -> tuple[np.ndarray, np.ndarray, int]:
    x = np.vstack([c[0] for c in clients])
    y = np.concatenate([c[1] for c in clients])
    if not classification:
        return x, y, 1
    classes = np.unique(y)
    return x, np.searchsorted(classes, y).astype(float), 1 if len(classes) == 2 else len(classes)


CASES = {
    "binary": ({"num_trees": 3, "bin_num": 32}, ["breast_homo_guest.csv", "breast_homo_host.csv"]),
    "missing": ({"num_trees": 2, "bin_num": 16, "use_missing": True, "tree_param": {"max_depth": 4}},
                ["ionosphere_scale_hetero_guest.csv", "ionosphere_scale_hetero_guest.csv"]),
    "multi": ({"num_trees": 2, "bin_num": 20, "subsample_feature_rate": 0.5},
              ["vehicle_scale_homo_guest.csv", "vehicle_scale_homo_host.csv"]),
    "regression": ({"num_trees": 3, "task_type": "regression", "objective_param": {"objective": "lse"},
                    "learning_rate": 0.1}, ["breast_homo_guest.csv", "breast_homo_host.csv"]),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def trained(request) -> dict[str, Any]:
    conf, files = CASES[request.param]
    params = HomoSecureBoostParams.model_validate({**conf, "n_iter_no_change": False})
    clients = [read(f) for f in files]
    if request.param == "missing":  # blank out some cells, differently at each client
        for i, (x, _) in enumerate(clients):
            x[np.random.default_rng(i).random(x.shape) < 0.1] = np.nan
    boosters, arbiter, plane = run_in_process(params, clients)
    return {"name": request.param, "params": params, "clients": clients, "boosters": boosters,
            "arbiter": arbiter, "plane": plane}


def test_split_points_are_the_exact_quantiles_of_the_union(trained):
    x, _, _ = _union_targets(trained["clients"], True)
    expected = split_points(x, trained["params"].bin_num)
    for booster in trained["boosters"]:
        assert len(booster.points) == len(expected)
        for got, want in zip(booster.points, expected, strict=True):
            assert np.array_equal(got, want)


def test_federated_trees_equal_the_plain_trees_on_the_union(trained):
    params = trained["params"]
    classification = params.task_type == "classification"
    x, targets, tree_dim = _union_targets(trained["clients"], classification)
    guest = trained["boosters"][0]
    plain = plain_trees(x, targets, params, tree_dim, guest.points)
    assert_same_trees([federated_nodes(t.to_dict()) for t in guest.trees], plain)
    assert any(not n[1] for t in plain for n in t)  # the trees do split


def test_every_client_holds_the_same_trees_and_the_arbiter_logs_the_global_loss(trained):
    guest, host = trained["boosters"]
    assert [federated_nodes(t.to_dict()) for t in guest.trees] == [federated_nodes(t.to_dict()) for t in host.trees]
    counts = [len(c[1]) for c in trained["clients"]]
    expected = [(a * counts[0] + b * counts[1]) / sum(counts) for a, b in zip(guest.losses, host.losses, strict=True)]
    assert np.allclose(trained["arbiter"]["loss_history"], expected, rtol=0, atol=1e-6)
    assert trained["arbiter"]["loss_history"][-1] < trained["arbiter"]["loss_history"][0]


def test_the_arbiter_receives_only_masked_vectors(trained):
    received = [(src, name, obj) for src, dst, name, _, obj in trained["plane"].log if dst[0] == "arbiter"]
    masked = [(src, name, obj) for src, name, obj in received if name in ("histograms", "counts", "count", "loss",
                                                                          "rows")]
    assert {name for _, name, _ in masked} >= {"histograms", "counts", "count", "loss", "rows"}
    plain_names = {name for _, name, _ in received} - {name for _, name, _ in masked}
    assert plain_names == {"public_key", "setup", "bins"}  # no gradient, histogram or row in these
    for _, _, obj in masked:
        assert isinstance(obj, np.ndarray) and obj.dtype == np.uint64
    words = np.concatenate([obj.ravel() for _, name, obj in masked if name == "histograms"])
    bits = np.unpackbits(words.view(np.uint8)).reshape(-1, 64).mean(axis=0)
    assert np.all((bits > 0.4) & (bits < 0.6)), bits  # uniformly distributed: nothing readable
    # the root's [g, h, count] of one client in the clear never appears among the decoded words
    x, y = trained["clients"][0]
    rows = float(len(y))
    first = [secure_agg.decode(obj[:3]) for src, name, obj in masked if name == "histograms" and src[0] == "guest"]
    assert all(abs(v[2] - rows) > 1e3 for v in first)


def test_float_keys_preserve_order_and_round_trip():
    values = np.array([-np.inf, -1e300, -2.5, -1e-300, -0.0, 0.0, 1e-300, 3.0, 1e300, np.inf])
    keys = float_keys(values)
    assert np.all(np.diff(keys.astype(object)) >= 0)
    assert np.array_equal(key_floats(keys), values + 0.0)
    assert quantile_ranks(np.array([10]), 4).tolist() == [[3, 5, 8, 10]]


def test_a_decision_on_a_missing_bin_is_refused():
    from fate_flow.ml.homo_sbt import _decisions

    points = [np.array([1.0, 2.0, 3.0])]
    good = {"split": [True], "fid": [0], "bid": [1], "missing_dir": [1], "weight": [0.1], "count": [3],
            "gain": [1.0]}
    assert _decisions(good, 1, np.array([0]), points)["split"].tolist() == [True]
    for key, value in (("bid", [2]), ("fid", [1]), ("missing_dir", [0]), ("weight", [np.nan]), ("count", [-1]),
                       ("gain", ["x"])):
        with pytest.raises(Exception, match="arbiter"):
            _decisions({**good, key: value}, 1, np.array([0]), points)
    with pytest.raises(Exception, match="arbiter"):
        _decisions({**good, "split": [True, False]}, 1, np.array([0]), points)


# -- on a standalone server ------------------------------------------------------------------------------------
TABLES = {"breast_homo_guest": "breast_homo_guest.csv", "breast_homo_host": "breast_homo_host.csv",
          "breast_homo_test": "breast_homo_test.csv"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A standalone server with the breast homo tables."""
    server = standalone_server(tmp_path_factory.mktemp("homo_sbt") / "party", TABLES)
    yield server
    server.stop()


def _dsl(with_model: bool = False) -> dict:
    components = {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "reader_1": {"module": "Reader", "output": {"data": ["data"]}},
        "data_transform_0": {"module": "DataTransform", "input": {"data": {"data": ["reader_0.data"]}},
                             "output": {"data": ["data"], "model": ["model"]}},
        "data_transform_1": {"module": "DataTransform", "input": {"data": {"data": ["reader_1.data"]},
                                                                  "model": ["data_transform_0.model"]},
                             "output": {"data": ["data"], "model": ["model"]}},
        "sbt_0": {"module": "HomoSecureBoost", "input": {"data": {"train_data": ["data_transform_0.data"],
                                                                  "validate_data": ["data_transform_1.data"]}},
                  "output": {"data": ["data"], "model": ["model"]}},
    }
    if with_model:
        components["sbt_1"] = {"module": "HomoSecureboost", "input": {"data": {"test_data": ["data_transform_1.data"]},
                                                                      "model": ["sbt_0.model"]},
                               "output": {"data": ["data"]}}
        components["sbt_2"] = {"module": "HomoSecureBoost", "input": {"data": {"train_data": ["data_transform_0.data"]},
                                                                      "model": ["sbt_0.model"]},
                               "output": {"data": ["data"], "model": ["model"]}}
    return {"components": components}


def _conf(params: dict, extra: dict | None = None) -> dict:
    role = reader_params("breast_homo_guest", ["breast_homo_host"])
    test = reader_params("breast_homo_test", ["breast_homo_test"], component="reader_1")
    for side in ("guest", "host"):
        role[side]["0"].update(test[side]["0"])
    common = {"data_transform_0": {"with_label": True}, "sbt_0": params, **(extra or {})}
    return job_conf(GUEST, [HOST], ARBITER, common, role)


SERVER_PARAMS = {"num_trees": 3, "bin_num": 32, "learning_rate": 0.3, "n_iter_no_change": False,
                 "validation_freqs": 1, "tree_param": {"max_depth": 3}}


@pytest.fixture(scope="module")
def job(server: ServerProcess) -> str:
    job_id, status = run_job(server, _dsl(with_model=True),
                             _conf(SERVER_PARAMS, {"sbt_2": {**SERVER_PARAMS, "num_trees": 5}}))
    assert status == "success", job_id
    return job_id


def _model(server: ServerProcess, job_id: str, component: str, role: str, party: str) -> dict:
    data = component_call(server, "output/model", job_id, component, role, party)["data"]
    return next(v for v in data.values() if isinstance(v, dict) and "trees_" in v) if "trees_" not in data else data


def test_the_job_grows_the_plain_trees_of_the_union(server, job):
    clients = [read("breast_homo_guest.csv"), read("breast_homo_host.csv")]
    x, targets, _ = _union_targets(clients, True)
    params = HomoSecureBoostParams.model_validate(SERVER_PARAMS)
    points = split_points(x, params.bin_num)
    plain = plain_trees(x, targets, params, 1, points)
    for role, party in (("guest", GUEST), ("host", HOST)):
        model = _model(server, job, "sbt_0", role, party)
        assert model["model_name"] == "homo_sbt" and model["tree_dim"] == 1 and model["classes_"] == ["0", "1"]
        assert_same_trees([federated_nodes(t) for t in model["trees_"]], plain)


def test_auc_is_comparable_to_sklearn_gradient_boosting(server, job):
    train_x, train_y = _union_targets([read("breast_homo_guest.csv"), read("breast_homo_host.csv")], True)[:2]
    test_x, test_y = read("breast_homo_test.csv")
    sklearn = GradientBoostingClassifier(n_estimators=3, max_depth=3, learning_rate=0.3, random_state=0)
    reference = roc_auc_score(test_y, sklearn.fit(train_x, train_y).predict_proba(test_x)[:, 1])
    rows = [r for r in output_rows(server, job, "sbt_0", "guest", GUEST) if r["type"] == "validate"]
    auc = roc_auc_score([float(r["label"]) for r in rows], [float(r["predict_score"]) for r in rows])
    assert auc >= reference - 0.03 and auc > 0.95
    loss = summary(server, job, "sbt_0", "arbiter", ARBITER)["loss_history"]
    assert len(loss) == 3 and loss[-1] < loss[0]
    assert "validate" in summary(server, job, "sbt_0", "guest", GUEST)["validation_metrics"]


def test_predict_and_warm_start(server, job):
    test_rows = output_rows(server, job, "sbt_1", "host", HOST)
    validate_rows = [r for r in output_rows(server, job, "sbt_0", "host", HOST) if r["type"] == "validate"]
    assert {r["type"] for r in test_rows} == {TEST}
    by_id = {r["id"]: r["predict_score"] for r in validate_rows}
    assert all(float(r["predict_score"]) == pytest.approx(float(by_id[r["id"]])) for r in test_rows)
    warm = _model(server, job, "sbt_2", "guest", GUEST)
    first = _model(server, job, "sbt_0", "guest", GUEST)
    assert len(warm["trees_"]) == 5 and warm["trees_"][:3] == first["trees_"]
    assert len(summary(server, job, "sbt_2", "arbiter", ARBITER)["loss_history"]) == 2


def test_cross_validation(server):
    params = {"num_trees": 2, "cv_param": {"need_cv": True, "n_splits": 3, "shuffle": False}}
    job_id, status = run_job(server, _dsl(), _conf(params))
    assert status == "success", job_id
    arbiter = summary(server, job_id, "sbt_0", "arbiter", ARBITER)
    assert arbiter["fold_num"] == 3 and len(arbiter["fold_0"]["loss_history"]) == 2
    scores = summary(server, job_id, "sbt_0", "guest", GUEST)["cv_scores"]
    assert len(scores["auc"]) == 3 and min(scores["auc"]) > 0.9
