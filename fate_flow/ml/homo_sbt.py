"""Homo SecureBoost's protocol: clients (the guest and the hosts) hold the same features of different samples,
the arbiter grows every tree from the sum of the clients' histograms without seeing any one of them.

Secure sums (``SumClient`` / ``SumServer``): the pairwise masks of ``fate_flow.ml.secure_agg`` (X25519 +
AES-CTR, fixed point modulo 2^64), but the sum stays at the arbiter: unlike FedAvg's aggregation it is not
sent back, since with two clients the sum minus one's own histogram would be the other's.

Federated binning (``client_binning`` / ``arbiter_binning``), in place of FATE's recursive quantile query:
every float maps to an order-preserving 64-bit key; the arbiter searches the key of each quantile rank
(``ceil(i / bin_num * n)``, then ``n`` for the maximum, over the union of the clients' non-missing values)
eight bits a round: the clients send masked counts of their values at or below 256 candidate keys per rank,
the arbiter keeps the first sub-interval whose summed count reaches the rank. After eight rounds it holds
the exact union quantiles (FATE's points on the union, without the summary's error) and broadcasts them.
The arbiter learns the union's counts below those keys and the split points (which are the model's),
never a client's count, a row, or which client holds a value; the clients learn the points only.

Trees (``ClientGrower`` / ``ArbiterGrower``): per tree the arbiter samples the features
(``subsample_feature_rate``); per layer the clients send masked node sums ``[g, h, count]`` and per (node,
feature, bin) histograms; the arbiter sums them, scores every candidate with ``fate_flow.ml.tree``'s
criterion, and broadcasts per node the weight and the split (feature, bin, missing direction); every client
routes its own samples. Node ids, the candidate order and ties are ``fate_flow.ml.tree``'s (root 0, children
numbered as created; the first best candidate wins), so a federated tree is the tree grown on the union.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fate_flow.errors import ComponentError
from fate_flow.framework.context import Context
from fate_flow.framework.federation import Parties
from fate_flow.ml.secure_agg import (
    PairwiseMasks,
    check_public_keys,
    client_parties,
    decode,
    encode,
    modular_sum,
    new_private_key,
    public_bytes,
)
from fate_flow.ml.tree import (
    FLOAT_ZERO,
    LEFT,
    MISSING,
    RIGHT,
    Criterion,
    Node,
    Tree,
    TreeArrays,
    candidate_layout,
    candidates_from_histograms,
    first_best_of,
    histograms,
    split_gains,
)

SEARCH_BITS = 8  # key bits the binning search settles per round
SIGN = np.uint64(1 << 63)


# -- secure sums that only the arbiter learns -------------------------------------------------------------------
def _salt(ctx: Context) -> bytes:
    return f"{ctx.job_id}/{ctx.component_name}/{ctx.tag}/homo_sbt".encode()


class SumClient:
    """A client's side of one secure-sum session opened at ``ctx``: ``send`` masks a vector for the arbiter."""

    def __init__(self, ctx: Context):
        clients = client_parties(ctx.roles)
        me = (ctx.role, ctx.party_id)
        if me not in clients:
            raise ComponentError(f"secure aggregation runs at the guest and hosts, not at {ctx.role}")
        if len(clients) < 2:
            raise ComponentError("HomoSecureBoost needs at least two clients (a guest and a host)")
        setup = ctx.child("secure_sum", "setup")
        key = new_private_key()
        own = public_bytes(key)
        setup.arbiter.put("public_key", own)
        keys = check_public_keys(setup.arbiter.get("public_keys"), len(clients))
        index = clients.index(me)
        if keys[index] != own:
            raise ComponentError("secure aggregation: the arbiter relayed another key in this client's place")
        self._masks = PairwiseMasks.agree(index, key, keys, _salt(ctx))
        self._stream = 0

    def send(self, ctx: Context, name: str, values: np.ndarray) -> None:
        """Send ``values`` (floats) masked: only the sum over all clients can be read."""
        masked = self._masks.mask(encode(np.asarray(values, dtype=np.float64)), self._stream)
        self._stream += 1
        ctx.arbiter.put(name, masked)


class SumServer:
    """The arbiter's side: ``sum`` unmasks the sum of the clients' vectors (and keeps it)."""

    def __init__(self, ctx: Context):
        self.clients = client_parties(ctx.roles)
        if len(self.clients) < 2:
            raise ComponentError("HomoSecureBoost needs at least two clients (a guest and a host)")
        setup = ctx.child("secure_sum", "setup")
        keys = check_public_keys(self.at(setup).get("public_key"), len(self.clients))
        self.at(setup).put("public_keys", keys)

    def at(self, ctx: Context) -> Parties:
        """Every client, at ``ctx``'s tag."""
        return Parties(ctx.exchange, ctx.tag, self.clients)

    def sum(self, ctx: Context, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The sum of the clients' ``name`` at ``ctx``; each must be a ``uint64`` array of ``shape``."""
        masked = self.at(ctx).get(name)
        for vector in masked:
            if not isinstance(vector, np.ndarray) or vector.dtype != np.uint64 or vector.shape != shape:
                raise ComponentError(f"a client sent {name} that is not a masked array of shape {shape}: do the "
                                     "clients have the same features?")
        return decode(modular_sum(masked))


def counts_of(values: np.ndarray, limit: float) -> np.ndarray:
    """Summed counts decoded from fixed point, checked to be whole numbers in ``[0, limit]``."""
    counts = np.rint(values)
    if np.any(np.abs(values - counts) > 1e-3) or np.any(counts < 0) or np.any(counts > limit):
        raise ComponentError("the clients' summed counts are not whole numbers in range")
    return counts.astype(np.int64)


# -- federated binning ------------------------------------------------------------------------------------------
def float_keys(values: np.ndarray) -> np.ndarray:
    """Order-preserving ``uint64`` keys of floats (no NaN): ``a < b`` exactly when ``key(a) < key(b)``."""
    bits = (np.asarray(values, dtype=np.float64) + 0.0).view(np.uint64)  # + 0.0 turns -0.0 into 0.0
    return np.where(bits & SIGN, ~bits, bits | SIGN)


def key_floats(keys: np.ndarray) -> np.ndarray:
    """The floats of ``float_keys``."""
    keys = np.asarray(keys, dtype=np.uint64)
    return np.where(keys & SIGN, keys ^ SIGN, ~keys).view(np.float64)


def _candidates(lows: np.ndarray, shift: int) -> np.ndarray:
    """The last key of each of the 256 sub-intervals of width ``2^shift`` starting at ``lows`` (uint64
    arithmetic wraps, which the first round's last key ``2^64 - 1`` relies on)."""
    steps = np.arange(1, (1 << SEARCH_BITS) + 1, dtype=np.uint64) << np.uint64(shift)
    return lows[..., None] + steps - np.uint64(1)


def client_binning(ctx: Context, agg: SumClient, x: np.ndarray) -> list[np.ndarray]:
    """A client's side of the federated quantile search over ``x`` (NaN = missing); the split points."""
    columns = [np.sort(float_keys(x[~np.isnan(x[:, j]), j])) for j in range(x.shape[1])]
    agg.send(ctx.child("binning", "n"), "count", np.array([c.size for c in columns], dtype=np.float64))
    for step in range(64 // SEARCH_BITS):
        round_ctx = ctx.child("binning", step)
        lows = round_ctx.arbiter.get("lows")
        if not isinstance(lows, np.ndarray) or lows.dtype != np.uint64 or lows.ndim != 2 \
                or lows.shape[0] != x.shape[1]:
            raise ComponentError("the arbiter sent malformed binning bounds")
        keys = _candidates(lows, 64 - SEARCH_BITS * (step + 1))
        counts = np.stack([np.searchsorted(column, keys[j].ravel(), side="right").reshape(keys[j].shape)
                           for j, column in enumerate(columns)])
        agg.send(round_ctx, "counts", counts.astype(np.float64))
    return _points(ctx.child("binning", "end").arbiter.get("points"), x.shape[1])


def _points(message: object, features: int) -> list[np.ndarray]:
    if not isinstance(message, list) or len(message) != features:
        raise ComponentError("the arbiter sent malformed split points")
    points = []
    for column in message:
        column = np.asarray(column, dtype=np.float64) if isinstance(column, list | np.ndarray) else None
        if column is None or column.ndim != 1 or not np.all(np.isfinite(column)) or np.any(np.diff(column) <= 0):
            raise ComponentError("the arbiter sent split points that are not increasing finite numbers")
        points.append(column)
    return points


def quantile_ranks(n: np.ndarray, bin_num: int) -> np.ndarray:
    """Per feature the ranks (1-based) of ``fate_flow.ml.binning.quantile_points``: ``ceil(i / bin_num * n)``
    for ``i = 1 .. bin_num - 1``, then ``n`` (the maximum)."""
    ranks = [[max(1, math.ceil(i / bin_num * count)) for i in range(1, bin_num)] + [count] for count in n]
    return np.asarray(ranks, dtype=np.int64).reshape(len(n), bin_num)


def arbiter_binning(ctx: Context, agg: SumServer, features: int, bin_num: int, total: int) -> list[np.ndarray]:
    """The arbiter's side: the search for the union's quantile keys; broadcasts and returns the points."""
    n = counts_of(agg.sum(ctx.child("binning", "n"), "count", (features,)), total)
    ranks = quantile_ranks(n, bin_num)
    lows = np.zeros(ranks.shape, dtype=np.uint64)
    for step in range(64 // SEARCH_BITS):
        round_ctx = ctx.child("binning", step)
        agg.at(round_ctx).put("lows", lows)
        shift = 64 - SEARCH_BITS * (step + 1)
        counts = counts_of(agg.sum(round_ctx, "counts", (*ranks.shape, 1 << SEARCH_BITS)), total)
        # the first sub-interval whose count reaches the rank holds the ranked value
        reached = np.argmax(counts >= ranks[..., None], axis=2).astype(np.uint64)
        lows = lows + (reached << np.uint64(shift))
    values = key_floats(lows)
    points = [np.unique(values[j]) if n[j] else np.empty(0) for j in range(features)]
    agg.at(ctx.child("binning", "end")).put("points", [p.tolist() for p in points])
    return points


# -- trees ------------------------------------------------------------------------------------------------------
@dataclass
class Grown:
    """A client's tree and the leaf each of its samples reached."""

    tree: Tree
    leaf_of: np.ndarray
    gains: list[tuple[int, float]] = field(default_factory=list)  # (feature, gain) of every split


def _node_index(layer: list[int], position: np.ndarray) -> np.ndarray:
    """Each sample's index in ``layer`` (-1: its node is a leaf above this layer)."""
    lookup = np.full(max(int(position.max(initial=0)), max(layer)) + 1, -1)
    lookup[layer] = np.arange(len(layer))
    return lookup[position]


def node_sums(node_index: np.ndarray, nodes: int, g: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Per node ``[g sum, h sum, count]`` (nodes x 3) of the samples whose ``node_index`` is the node."""
    here = node_index >= 0
    index = node_index[here]
    return np.stack([np.bincount(index, weights=g[here], minlength=nodes),
                     np.bincount(index, weights=h[here], minlength=nodes),
                     np.bincount(index, minlength=nodes).astype(np.float64)], axis=1)


class ClientGrower:
    """A client's side of growing trees on its binned features (bins as ``tree.bin_with_missing`` gives)."""

    def __init__(self, agg: SumClient, binned: np.ndarray, points: list[np.ndarray], bin_num: int,
                 max_depth: int, sitename: str):
        self.agg, self.binned, self.points, self.bin_num = agg, binned, points, bin_num
        self.max_depth, self.sitename = max_depth, sitename

    def grow(self, ctx: Context, g: np.ndarray, h: np.ndarray) -> Grown:
        """One tree on gradients ``g`` and hessians ``h`` (1-D); ``ctx`` is the tree's sub-context."""
        chosen = _chosen(ctx.arbiter.get("valid_features"), self.binned.shape[1])
        binned = self.binned[:, chosen]
        grown = Grown(Tree(), np.zeros(len(g), dtype=np.int64))
        tree = grown.tree
        tree.nodes.append(Node(0, self.sitename))
        position, layer = grown.leaf_of, [0]
        for depth in range(self.max_depth + 1):
            if not layer:
                break
            step = ctx.child("layer", depth)
            node_index = _node_index(layer, position)
            message = [node_sums(node_index, len(layer), g, h).ravel()]
            if depth < self.max_depth:
                message.append(np.stack(histograms(binned, node_index, len(layer), g, h, self.bin_num),
                                        axis=-1).ravel())
            self.agg.send(step, "histograms", np.concatenate(message))
            decisions = _decisions(step.arbiter.get("splits"), len(layer), chosen, self.points)
            layer = self._apply(tree, layer, node_index, position, decisions, grown)
        for node in tree.nodes:
            if node.is_leaf:  # FATE rounds leaf weights once the tree is built
                node.weight = float(np.round(node.weight, 10))
        return grown

    def _apply(self, tree: Tree, layer: list[int], node_index: np.ndarray, position: np.ndarray,
               decisions: dict[str, np.ndarray], grown: Grown) -> list[int]:
        children = []
        for i, nid in enumerate(layer):
            node = tree.nodes[nid]
            node.weight = float(decisions["weight"][i])
            tree.leaf_count[nid] = int(decisions["count"][i])
            if not decisions["split"][i]:
                node.is_leaf = True
                continue
            del tree.leaf_count[nid]
            fid, bid, direction = (int(decisions[k][i]) for k in ("fid", "bid", "missing_dir"))
            node.fid, node.bid, node.missing_dir = fid, float(self.points[fid][bid]), direction
            rows = np.flatnonzero(node_index == i)
            bins = self.binned[rows, fid]
            left = np.where(bins == MISSING, direction == LEFT, bins <= bid)
            node.left_nodeid, node.right_nodeid = len(tree.nodes), len(tree.nodes) + 1
            tree.nodes += [Node(node.left_nodeid, self.sitename), Node(node.right_nodeid, self.sitename)]
            position[rows[left]], position[rows[~left]] = node.left_nodeid, node.right_nodeid
            children += [node.left_nodeid, node.right_nodeid]
            grown.gains.append((fid, float(decisions["gain"][i])))
        return children


def _chosen(message: object, features: int) -> np.ndarray:
    chosen = np.asarray(message) if isinstance(message, list | np.ndarray) else np.empty(0)
    if chosen.ndim != 1 or chosen.size == 0 or chosen.dtype.kind not in "iu" or np.any(chosen < 0) \
            or np.any(chosen >= features) or np.any(np.diff(chosen) <= 0):
        raise ComponentError("the arbiter sent malformed valid features")
    return chosen.astype(np.int64)


DECISION_KEYS = ("split", "fid", "bid", "missing_dir", "weight", "count", "gain")


def _decisions(message: object, nodes: int, chosen: np.ndarray, points: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The arbiter's per-node decisions, checked: shapes, a chosen feature, a bin with a split point after it,
    a missing direction of -1 or 1, finite weights."""
    if not isinstance(message, dict) or set(message) != set(DECISION_KEYS):
        raise ComponentError("the arbiter sent malformed split decisions")
    arrays = {k: np.asarray(message[k]) for k in DECISION_KEYS}
    if any(a.shape != (nodes,) for a in arrays.values()):
        raise ComponentError("the arbiter's split decisions do not match the layer's nodes")
    split = arrays["split"].astype(bool)
    fid, bid = arrays["fid"].astype(np.int64), arrays["bid"].astype(np.int64)
    for i in np.flatnonzero(split):
        if fid[i] not in chosen or not 0 <= bid[i] < len(points[fid[i]]) - 1 \
                or arrays["missing_dir"][i] not in (LEFT, RIGHT):
            raise ComponentError("the arbiter sent a split on a feature, bin or direction that does not exist")
    try:
        numbers = [arrays[k].astype(np.float64) for k in ("weight", "gain", "count")]
    except (TypeError, ValueError) as exc:
        raise ComponentError("the arbiter sent node weights, gains or counts that are not numbers") from exc
    if not all(np.all(np.isfinite(a)) for a in numbers) or np.any(numbers[2] < 0) \
            or np.any(numbers[2] != np.round(numbers[2])):
        raise ComponentError("the arbiter sent non-finite node weights or gains, or bad counts")
    arrays["split"], arrays["fid"], arrays["bid"] = split, fid, bid
    return arrays


class ArbiterGrower:
    """The arbiter's side: sums the clients' histograms and decides every split."""

    def __init__(self, agg: SumServer, bins_per_feature: list[int], bin_num: int, max_depth: int,
                 criterion: Criterion, use_missing: bool, total: int):
        self.agg, self.bins, self.bin_num, self.max_depth = agg, bins_per_feature, bin_num, max_depth
        self.criterion, self.use_missing, self.total = criterion, use_missing, total

    def grow(self, ctx: Context, chosen: np.ndarray) -> list[tuple[int, float]]:
        """One tree over the features ``chosen``; the (feature, gain) of its splits."""
        self.agg.at(ctx).put("valid_features", chosen.tolist())
        layout = candidate_layout([self.bins[f] for f in chosen], self.use_missing)
        width = self.bin_num + 1
        nodes, splits = 1, []
        for depth in range(self.max_depth + 1):
            if not nodes:
                break
            step = ctx.child("layer", depth)
            size = nodes * 3 + (nodes * len(chosen) * width * 3 if depth < self.max_depth else 0)
            summed = self.agg.sum(step, "histograms", (size,))
            sums = summed[:nodes * 3].reshape(nodes, 3)
            counts = counts_of(sums[:, 2], self.total)
            decisions = {"split": np.zeros(nodes, dtype=bool), "fid": np.full(nodes, -1),
                         "bid": np.full(nodes, -1), "missing_dir": np.full(nodes, RIGHT),
                         "weight": self.criterion.weight(sums[:, 0], sums[:, 1]), "count": counts,
                         "gain": np.zeros(nodes)}
            if depth < self.max_depth and layout.fid.size:
                hist = summed[nodes * 3:].reshape(nodes, len(chosen), width, 3)
                self._choose(hist, sums, counts, layout, chosen, decisions)
            self.agg.at(step).put("splits", {k: v.tolist() for k, v in decisions.items()})
            splits += [(int(f), float(gn)) for s, f, gn in zip(decisions["split"], decisions["fid"],
                                                               decisions["gain"], strict=True) if s]
            nodes = 2 * int(decisions["split"].sum())
        return splits

    def _choose(self, hist: np.ndarray, sums: np.ndarray, counts: np.ndarray, layout, chosen: np.ndarray,
                decisions: dict[str, np.ndarray]) -> None:
        bin_counts = counts_of(hist[..., 2], self.total)
        candidates = candidates_from_histograms(hist[..., 0], hist[..., 1], bin_counts, layout)
        gains = split_gains(candidates, sums[:, 0], sums[:, 1], counts, self.criterion)
        best, index = first_best_of(gains)
        split = np.isfinite(best) & (best > self.criterion.min_impurity_split + FLOAT_ZERO)
        decisions["split"] = split
        decisions["fid"] = np.where(split, chosen[layout.fid[index]], -1)
        decisions["bid"] = np.where(split, layout.bid[index], -1)
        decisions["missing_dir"] = np.where(split, layout.missing_dir[index], RIGHT)
        decisions["gain"] = np.where(split, best, 0.0)


# -- prediction -------------------------------------------------------------------------------------------------
def tree_arrays(tree: Tree) -> TreeArrays:
    """A homo tree (every split's feature and threshold in its nodes) as arrays for ``TreeArrays.advance``."""
    size = max(n.id for n in tree.nodes) + 1
    arrays = TreeArrays(np.full(size, -1), np.zeros(size), np.full(size, -1), np.full(size, -1),
                        np.ones(size, dtype=bool), np.zeros(size, dtype=bool), np.full(size, RIGHT), np.zeros(size))
    for n in tree.nodes:
        arrays.is_leaf[n.id], arrays.own[n.id] = n.is_leaf, not n.is_leaf
        arrays.left[n.id], arrays.right[n.id], arrays.weight[n.id] = n.left_nodeid, n.right_nodeid, n.weight
        arrays.fid[n.id], arrays.threshold[n.id], arrays.missing_dir[n.id] = n.fid, n.bid, n.missing_dir
    return arrays


def raw_scores(trees: list[Tree], x: np.ndarray, init_score: np.ndarray, learning_rate: float,
               tree_dim: int) -> np.ndarray:
    """The raw scores (rows x tree_dim) of ``x`` (NaN = missing): the init score plus every tree's leaf weight
    times the learning rate, trees round-major (tree ``t`` adds to dimension ``t % tree_dim``)."""
    raw = np.tile(np.asarray(init_score, dtype=np.float64), (len(x), 1))
    for t, tree in enumerate(trees):
        arrays = tree_arrays(tree)
        leaves = arrays.advance(x, np.zeros(len(x), dtype=np.int64))
        raw[:, t % tree_dim] += learning_rate * arrays.weight[leaves]
    return raw
