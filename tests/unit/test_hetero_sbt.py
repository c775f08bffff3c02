"""Hetero SecureBoost's protocol in process (guest and host in threads, every message through the codec): a
federated tree equals the tree the same algorithm grows on the joined data in the clear, and what crosses to
the host is ciphertexts and positions, never a gradient, a hessian or a label; what crosses to the guest is
never a host feature, bin or threshold."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fate_flow.engine.bigint import BigIntVector
from fate_flow.entity.keys import TaskKey
from fate_flow.errors import ComponentError
from fate_flow.framework.context import Context
from fate_flow.framework.federation import Exchange
from fate_flow.ml.binning import split_points
from fate_flow.ml.goss import goss_sample
from fate_flow.ml.hetero_sbt import GuestGrower, HostGrower, PartyData, guest_walk, host_walk
from fate_flow.ml.paillier import generate_keypair
from fate_flow.ml.tree import (
    Criterion,
    Objective,
    best_splits,
    bin_with_missing,
    candidate_layout,
    candidates_from_histograms,
    histograms,
)
from tests.algorithms.test_homo_lr import MemoryPlane
from tests.jobs import FATE_DATA

GUEST, HOST = "9999", "10000"
ROLES = {"guest": [GUEST], "host": [HOST]}
BIN_NUM = 32


def _context(plane: MemoryPlane, role: str, party_id: str, roles: dict | None = None) -> Context:
    task = TaskKey("202401010000000000003", "hetero_secure_boost_0", "t", 0, role, party_id)
    exchange = Exchange(plane.transport((role, party_id)), (role, party_id), roles or ROLES)
    return Context(task=task, module="HeteroSecureBoost", stage="train", params=None, cores=1, computing=None,
                   inputs=None, outputs=None, models=None, metrics=None, exchange=exchange)


def _breast() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    def read(name: str) -> tuple[list[str], np.ndarray]:
        rows = [line.split(",") for line in (FATE_DATA / name).read_text().splitlines()[1:]]
        return [r[0] for r in rows], np.array([[float(v) for v in r[1:]] for r in rows])

    guest_ids, guest = read("breast_hetero_guest.csv")
    host_ids, host = read("breast_hetero_host.csv")
    position = {sid: i for i, sid in enumerate(host_ids)}
    return guest[:, 0], guest[:, 1:], host[[position[s] for s in guest_ids]]


def _data(x: np.ndarray) -> PartyData:
    points = split_points(x, BIN_NUM)
    return PartyData(bin_with_missing(x, points), points, BIN_NUM)


def _plain_tree(x: np.ndarray, g: np.ndarray, h: np.ndarray, criterion: Criterion, depth: int) -> list[tuple]:
    """The tree on the joined features in the clear: (node id, feature, threshold) of every split, and leaves."""
    data = _data(x)
    layout = candidate_layout([p.size for p in data.points], False)
    position = np.zeros(len(g), dtype=np.int64)
    layer, splits, next_id = [0], [], 1
    for _ in range(depth):
        lookup = np.full(next_id, -1)
        lookup[layer] = np.arange(len(layer))
        node_index = lookup[position]
        sums = [np.bincount(node_index[node_index >= 0], weights=w[node_index >= 0], minlength=len(layer))
                for w in (g, h)]
        counts = np.bincount(node_index[node_index >= 0], minlength=len(layer))
        candidates = candidates_from_histograms(*histograms(data.binned, node_index, len(layer), g, h, BIN_NUM),
                                                layout)
        gain, index = best_splits(candidates, sums[0], sums[1], counts, criterion)
        children = []
        for i, nid in enumerate(layer):
            if not (np.isfinite(gain[i]) and gain[i] > criterion.min_impurity_split + 1e-8):
                continue
            fid, bid = int(layout.fid[index[i]]), int(layout.bid[index[i]])
            splits.append((nid, fid, float(data.points[fid][bid])))
            rows = node_index == i
            left = rows & (data.binned[:, fid] <= bid)
            position[left], position[rows & ~left] = next_id, next_id + 1
            children += [next_id, next_id + 1]
            next_id += 2
        layer = children
    return splits


def _grow_federated(xg: np.ndarray, xh: np.ndarray, g: np.ndarray, h: np.ndarray,
                    bounds: tuple[float, float, float] | None, compress: bool = True):
    """One tree grown by a guest (features ``xg``, gradients) and a host (``xh``) in threads, then the training
    rows walked down it: (grown tree, walked positions, the host's tree, the message plane)."""
    public, private = generate_keypair(1024)
    plane = MemoryPlane()
    guest_data, host_data = _data(xg), _data(xh)

    def guest():
        ctx = _context(plane, "guest", GUEST)
        grower = GuestGrower(guest_data, Criterion(), 3, False, GUEST, private, compress, 1, [HOST])
        grown = grower.grow(ctx, g, h, True, np.arange(xg.shape[1]), bounds)
        return grown, guest_walk(ctx.child("predict", 0), [grown.tree.arrays(f"guest:{GUEST}")], xg)

    def host():
        ctx = _context(plane, "host", HOST)
        tree = HostGrower(host_data, Criterion(), False, HOST, public, 1).grow(ctx, np.arange(xh.shape[1]))
        host_walk(ctx.child("predict", 0), [tree.arrays(f"host:{HOST}")], xh)
        return tree

    with ThreadPoolExecutor(2) as pool:
        guest_future, host_future = pool.submit(guest), pool.submit(host)
        grown, positions = guest_future.result(timeout=120)
        return grown, positions, host_future.result(timeout=120), plane


@pytest.mark.parametrize(("compress", "objective"), [(True, "cross_entropy"), (False, "cross_entropy"),
                                                    (True, "lse")])
def test_a_federated_tree_equals_the_plain_tree_on_joined_data(compress, objective):
    y, strong, weak = _breast()
    xg, xh = weak[:, :4], strong  # the host holds the better features: its splits must win somewhere
    if objective == "lse":  # a regression target made of the host's features
        y = strong @ np.linspace(-1, 1, strong.shape[1])
    raw = np.tile(Objective(objective).init_score(y, 1, None), (len(y), 1))
    g, h = Objective(objective).grad_hess(y, raw)
    g, h = g[:, 0], h[:, 0]
    bounds = (-1.0, 1.0, 1.0) if objective == "cross_entropy" else None
    criterion = Criterion()
    grown, positions, host_tree, plane = _grow_federated(xg, xh, g, h, bounds, compress)
    host_data = _data(xh)

    expected = _plain_tree(np.hstack([xg, xh]), g, h, criterion, 3)
    found = []
    for node in grown.tree.nodes:
        if node.is_leaf:
            continue
        if node.sitename == f"guest:{GUEST}":
            found.append((node.id, node.fid, grown.tree.split_maskdict[node.id]))
        else:
            found.append((node.id, xg.shape[1] + host_tree.nodes[node.id].fid, host_tree.split_maskdict[node.id]))
    assert found == expected
    assert any(s[1] >= xg.shape[1] for s in expected), "the tree uses host features"
    # training positions and the prediction walk agree
    assert np.array_equal(positions[:, 0], grown.leaf_of)

    # what the host received: ciphertexts, sample positions, the tree's shape; no float array of gradients
    to_host = [(name, obj) for _, dst, name, _, obj in plane.log if dst[0] == "host"]
    names = {name for name, _ in to_host}
    assert names == {"tree_start", "layer", "won", "tree", "walk"}
    start = next(obj for name, obj in to_host if name == "tree_start")
    assert all(isinstance(v["ciphertexts"], BigIntVector) for v in start["gh"])
    for name, obj in to_host:
        for value in _leaves(obj):
            assert not (isinstance(value, np.ndarray) and value.dtype.kind == "f"), name
            assert not isinstance(value, float), name
    # what the guest received: packages, counts, decisions, positions; no host threshold or feature index
    host_values = set(np.round(np.concatenate(host_data.points), 6).tolist())
    for _, dst, name, _, obj in plane.log:
        if dst[0] == "guest":
            assert name in {"candidates", "goes_left", "walked"}
            for value in _leaves(obj):
                if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                    assert not set(np.round(value, 6).tolist()) & host_values


def test_goss_trees_are_grown_on_the_sample_and_the_host_cannot_tell_which_rows_it_holds():
    """With GOSS the federated tree equals the plain tree grown with the sample's amplified gradients (zero on
    the other rows); the host gets a ciphertext for every row (the rows left out encrypt zeros), and nothing
    else in what crosses to it differs from a tree without GOSS: it cannot tell which rows were sampled (in
    FATE's protocol it is told, and in a binary job's first round the top share is one class's rows)."""
    y, strong, weak = _breast()
    xg, xh = weak[:, :4], strong
    raw = np.tile(Objective("cross_entropy").init_score(y, 1, None), (len(y), 1))
    g, h = (a[:, 0] for a in Objective("cross_entropy").grad_hess(y, raw))
    goss = goss_sample(g, h, 0.2, 0.1, np.random.default_rng(7))
    assert len(goss.rows) == int(569 * 0.2) + int(569 * 0.1) and goss.amplify == pytest.approx(8.0)
    grown, positions, host_tree, plane = _grow_federated(xg, xh, goss.g, goss.h, (-8.0, 8.0, 8.0))

    found = [(n.id, n.fid if n.sitename == f"guest:{GUEST}" else xg.shape[1] + host_tree.nodes[n.id].fid,
              (grown.tree if n.sitename == f"guest:{GUEST}" else host_tree).split_maskdict[n.id])
             for n in grown.tree.nodes if not n.is_leaf]
    expected = _plain_tree(np.hstack([xg, xh]), goss.g, goss.h, Criterion(), 3)
    assert found == expected and any(s[1] >= xg.shape[1] for s in expected)
    assert found != _plain_tree(np.hstack([xg, xh]), g, h, Criterion(), 3), "the sample changed the tree"
    assert np.array_equal(positions[:, 0], grown.leaf_of)
    start = next(obj for _, dst, name, _, obj in plane.log if dst[0] == "host" and name == "tree_start")
    assert set(start) == {"use_hosts", "packing", "gh"}
    assert [len(v["ciphertexts"]) for v in start["gh"]] == [569]
    # the rows left out are encryptions of zero, indistinguishable to the host; the guest can check they are
    ciphertexts = start["gh"][0]["ciphertexts"]
    left_out = np.setdiff1d(np.arange(569), goss.rows)
    assert len(set(int(ciphertexts[i]) for i in left_out)) == len(left_out)  # fresh randomness each


def test_goss_keeps_the_largest_gradients_and_amplifies_a_random_share_of_the_rest():
    rng = np.random.default_rng(3)
    g, h = rng.normal(size=1000), rng.uniform(0.1, 0.25, size=1000)
    goss = goss_sample(g, h, 0.2, 0.1, np.random.default_rng(5))
    top = np.argsort(-np.abs(g), kind="stable")[:200]
    assert np.isin(top, goss.rows).all() and len(goss.rows) == 300
    assert np.array_equal(goss.g[top], g[top]) and np.array_equal(goss.h[top], h[top])
    rest = np.setdiff1d(goss.rows, top)
    assert np.allclose(goss.g[rest], 8 * g[rest]) and np.allclose(goss.h[rest], 8 * h[rest])
    assert (goss.g[np.setdiff1d(np.arange(1000), goss.rows)] == 0).all()
    # amplified, the sample's hessian sum estimates the whole sum (unbiased: within a few percent here)
    assert goss.h.sum() == pytest.approx(h.sum(), rel=0.05)
    with pytest.raises(ComponentError, match="empty share"):
        goss_sample(g[:5], h[:5], 0.2, 0.1, np.random.default_rng(0))


def _leaves(obj):
    if isinstance(obj, dict):
        for value in obj.values():
            yield from _leaves(value)
    elif isinstance(obj, list | tuple):
        for value in obj:
            yield from _leaves(value)
    else:
        yield obj


def test_the_layered_strategy_splits_on_host_features_first_then_the_guests():
    y, strong, weak = _breast()
    xg, xh = strong[:, :5], weak  # the guest holds the better features, yet the first layer is the host's
    g, h = Objective("cross_entropy").grad_hess(y, np.zeros((len(y), 1)))
    public, private = generate_keypair(1024)
    plane = MemoryPlane()

    def guest():
        grower = GuestGrower(_data(xg), Criterion(), 3, False, GUEST, private, True, 1, [HOST], host_layers=1)
        return grower.grow(_context(plane, "guest", GUEST), g[:, 0], h[:, 0], True, np.arange(xg.shape[1]),
                           (-1.0, 1.0, 1.0))

    def host():
        return HostGrower(_data(xh), Criterion(), False, HOST, public, 1).grow(_context(plane, "host", HOST),
                                                                             np.arange(xh.shape[1]))

    with ThreadPoolExecutor(2) as pool:
        grown, host_tree = (f.result(timeout=120) for f in (pool.submit(guest), pool.submit(host)))
    splits = {n.id: n.sitename for n in grown.tree.nodes if not n.is_leaf}
    assert splits[0] == f"host:{HOST}" and host_tree.nodes[0].fid >= 0
    assert len(splits) > 1 and all(site == f"guest:{GUEST}" for nid, site in splits.items() if nid)
    # the guest-only layers asked nothing of the host
    layers = [tag for _, dst, name, tag, _ in plane.log if dst[0] == "guest" and name == "candidates"]
    assert len(layers) == 1


def test_the_mix_strategy_grows_a_tree_on_one_hosts_features_only():
    """A mix host tree equals the plain tree on that host's features alone; the other host takes no part (it
    gets no gradients and no layer); a mix guest tree equals the plain tree on the guest's features."""
    y, strong, weak = _breast()
    xg, xh1, xh2 = strong[:, :5], weak[:, :10], weak[:, 10:]
    g, h = Objective("cross_entropy").grad_hess(y, np.zeros((len(y), 1)))
    g, h = g[:, 0], h[:, 0]
    public, private = generate_keypair(1024)
    plane = MemoryPlane()
    hosts = ["10000", "10001"]
    roles = {"guest": [GUEST], "host": hosts}

    def guest():
        ctx = _context(plane, "guest", GUEST, roles)
        grower = GuestGrower(_data(xg), Criterion(), 3, False, GUEST, private, True, 1, hosts)
        host_tree = grower.grow(ctx.child("tree", 0), g, h, True, np.arange(xg.shape[1]), (-1.0, 1.0, 1.0),
                                only_host=1)
        guest_tree = grower.grow(ctx.child("tree", 1), g, h, False, np.arange(xg.shape[1]), None)
        return host_tree, guest_tree

    def host(index: int, x: np.ndarray):
        ctx = _context(plane, "host", hosts[index], roles)
        grower = HostGrower(_data(x), Criterion(), False, hosts[index], public, 1)
        return [grower.grow(ctx.child("tree", t), np.arange(x.shape[1])) for t in range(2)]

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(guest), pool.submit(host, 0, xh1), pool.submit(host, 1, xh2)]
        (host_grown, guest_grown), _, second_trees = (f.result(timeout=120) for f in futures)

    second = second_trees[0]
    found = [(n.id, second.nodes[n.id].fid, second.split_maskdict[n.id])
             for n in host_grown.tree.nodes if not n.is_leaf]
    assert all(n.sitename == "host:10001" for n in host_grown.tree.nodes if not n.is_leaf)
    assert found == _plain_tree(xh2, g, h, Criterion(), 3) and found
    guest_splits = [(n.id, n.fid, guest_grown.tree.split_maskdict[n.id]) for n in guest_grown.tree.nodes
                    if not n.is_leaf]
    assert guest_splits == _plain_tree(xg, g, h, Criterion(), 3)
    # the first host was told only that the trees are not its own, then their shape
    to_first = [(name, obj) for _, dst, name, _, obj in plane.log if dst == ("host", "10000")]
    assert [name for name, _ in to_first] == ["tree_start", "tree", "tree_start", "tree"]
    assert all(obj == {"use_hosts": False} for name, obj in to_first if name == "tree_start")


def test_goss_samples_once_per_round_on_the_sum_over_classes():
    """Multi-class: one sample for every class's tree of a round, ranked by |g| summed over the classes (FATE's
    order). Ranked per class at the initial score, each class's top share would be exactly its rows, and the
    hosts, told the sample, would learn the labels."""
    labels = np.random.default_rng(4).permutation(np.repeat([0.0, 1.0, 2.0], 200))
    objective = Objective("cross_entropy")
    raw = np.tile(objective.init_score(labels, 3, None), (len(labels), 1))
    g, h = objective.grad_hess(labels, raw)
    goss = goss_sample(g, h, 0.2, 0.1, np.random.default_rng(1))
    assert goss.g.shape == g.shape and len(goss.rows) == 180
    kept = np.zeros(len(labels), dtype=bool)
    kept[goss.rows] = True
    assert np.array_equal(goss.g[~kept], np.zeros((len(labels) - 180, 3)))
    # every row has the same sum of |g| here: the sample says nothing of the classes
    shares = np.bincount(labels[goss.rows].astype(int), minlength=3) / 180
    assert shares.max() < 0.45, shares
    per_class_top = np.argsort(-np.abs(g[:, 1]), kind="stable")[:120]
    assert set(labels[per_class_top]) == {1.0}, "ranking one class would pick exactly that class's rows"


def test_a_layer_with_repeated_node_ids_is_refused_by_the_host():
    """The host keeps a layer's histograms by node id for the next layer's subtraction: a guest naming two
    nodes alike could make it derive wrong sums, so such a layer is refused."""
    grower = HostGrower(_data(np.arange(12.0).reshape(6, 2)), Criterion(), False, HOST, generate_keypair(1024)[0], 1)
    good = {"ids": np.array([1, 2]), "node_index": np.array([0, 0, 1, 1, -1, 0], dtype=np.int32), "offer": True}
    assert grower._layer(good)[0].tolist() == [1, 2]
    with pytest.raises(ComponentError, match="malformed layer"):
        grower._layer({**good, "ids": np.array([7, 7])})
