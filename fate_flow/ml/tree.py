"""Gradient-boosted decision trees as FATE's SecureBoost grows them, without any party boundary: objectives,
histograms, the split criterion, trees and their prediction, vectorised with numpy.

The federated protocols (``fate_flow.ml.hetero_sbt``) and the plain reference the tests build trees with
share this module: a split is chosen by ``best_splits`` from per-candidate left sums, whoever computed them.

Facts from FATE 1.11.2 (docs/fate-secureboost-1.11.md §2): the XGBoost criterion with FATE's truncation of
gains and weights to 10 decimals; no 1/2 factor and no gamma; ``[l2, l1]`` in ``criterion_params``; node ids
numbered as nodes are created (root 0, children ``n + 1``, ``n + 2``); a value goes left when its bin is at
most the split's bin (``value <= threshold`` at predict time), a missing value to the node's missing
direction (1 right, -1 left).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FLOAT_ZERO = 1e-8
MISSING = -1  # the bin index of a missing value in a binned matrix (see ``bin_with_missing``)
TREE_DECIMAL_ROUND = 10
LEFT, RIGHT = -1, 1


def truncate(values: np.ndarray | float) -> np.ndarray:
    """FATE's ``floor(x * 1e10) / 1e10``."""
    return np.floor(np.asarray(values, dtype=np.float64) * 10 ** TREE_DECIMAL_ROUND) / 10 ** TREE_DECIMAL_ROUND


# -- objectives --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Objective:
    """A loss: its initial score, gradient and hessian on raw scores, the loss, and raw score -> prediction."""

    name: str
    param: float | None = None

    def init_score(self, y: np.ndarray, dims: int, weights: np.ndarray | None) -> np.ndarray:
        """The starting raw score (one per dimension)."""
        if self.name in ("cross_entropy", "tweedie"):
            return np.zeros(dims)
        if self.name == "lae":
            return np.array([float(np.median(y))])
        return np.array([float(np.average(y, weights=weights))])

    def grad_hess(self, y: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample gradient and hessian, each rows x dims."""
        if self.name == "cross_entropy":
            if raw.shape[1] == 1:
                p = _sigmoid(raw[:, 0])
                return (p - y)[:, None], (p * (1 - p))[:, None]
            p = _softmax(raw)
            onehot = np.zeros_like(p)
            onehot[np.arange(len(y)), y.astype(np.int64)] = 1.0
            return p - onehot, 2 * p * (1 - p)
        d = raw[:, 0] - y
        if self.name == "lse":
            g, h = 2 * d, np.full_like(d, 2.0)
        elif self.name == "lae":
            g = np.where(d > FLOAT_ZERO, 1.0, -1.0)
            h = np.ones_like(d)
        elif self.name == "huber":
            delta = self.param
            scale = 1 + (d / delta) ** 2
            g, h = d / np.sqrt(scale), scale ** -1.5
        elif self.name == "fair":
            c = self.param
            g, h = c * d / (np.abs(d) + c), c ** 2 / (np.abs(d) + c) ** 2
        elif self.name == "log_cosh":
            g = np.tanh(d)
            h = 1 - g ** 2
        elif self.name == "tweedie":
            rho, f = self.param, raw[:, 0]
            g = -y * np.exp((1 - rho) * f) + np.exp((2 - rho) * f)
            h = -y * (1 - rho) * np.exp((1 - rho) * f) + (2 - rho) * np.exp((2 - rho) * f)
        else:
            raise ValueError(f"unknown objective {self.name}")
        return g[:, None], h[:, None]

    def predict(self, raw: np.ndarray) -> np.ndarray:
        """Raw scores (rows x dims) -> predictions: probability of class 1, class probabilities, or values."""
        if self.name == "cross_entropy":
            return _sigmoid(raw[:, 0]) if raw.shape[1] == 1 else _softmax(raw)
        if self.name == "tweedie":
            return np.exp(raw[:, 0])
        return raw[:, 0]

    def loss(self, y: np.ndarray, raw: np.ndarray, weights: np.ndarray | None) -> float:
        """The (weighted) mean loss FATE logs per round."""
        if self.name == "cross_entropy":
            if raw.shape[1] == 1:
                p = np.clip(_sigmoid(raw[:, 0]), 1e-15, 1 - 1e-15)
                losses = -(y * np.log(p) + (1 - y) * np.log(1 - p))
            else:
                p = np.clip(_softmax(raw)[np.arange(len(y)), y.astype(np.int64)], 1e-15, 1)
                losses = -np.log(p)
            return float(np.average(losses, weights=weights))
        d = raw[:, 0] - y
        if self.name == "lse":
            losses = d ** 2
        elif self.name == "lae":
            losses = np.abs(d)
        elif self.name == "huber":
            delta = self.param
            losses = delta ** 2 * (np.sqrt(1 + (d / delta) ** 2) - 1)
        elif self.name == "fair":
            c = self.param
            losses = c * np.abs(d) - c ** 2 * np.log(np.abs(d) / c + 1)
        elif self.name == "log_cosh":
            losses = np.log(np.cosh(d))
        else:  # tweedie, on mu = e^f
            rho = self.param
            mu = np.maximum(np.exp(raw[:, 0]), 1e-10)
            losses = -y * mu ** (1 - rho) / (1 - rho) + mu ** (2 - rho) / (2 - rho)
        return float(np.average(losses, weights=weights))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x: np.ndarray) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


# -- the criterion -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Criterion:
    """XGBoost's split criterion with FATE's truncation: ``l2`` (lambda), ``l1`` (alpha) and the split rules."""

    l2: float = 0.1
    l1: float = 0.0
    min_impurity_split: float = 1e-3
    min_leaf_node: int = 1
    min_child_weight: float = 0.0
    min_sample_split: int = 2

    def _soft(self, g: np.ndarray) -> np.ndarray:
        a = self.l1
        return np.where(g < -a, g + a, np.where(g > a, g - a, 0.0))

    def score(self, g: np.ndarray, h: np.ndarray) -> np.ndarray:
        """A node's score ``S(G)^2 / (H + l2)``, truncated."""
        return truncate(self._soft(truncate(g)) ** 2 / (truncate(h) + self.l2))

    def gain(self, gl: np.ndarray, hl: np.ndarray, g: np.ndarray, h: np.ndarray) -> np.ndarray:
        """The gain of splitting a node of sums ``(g, h)`` into a left child ``(gl, hl)`` and the rest."""
        return truncate(self.score(gl, hl) + self.score(g - gl, h - hl) - self.score(g, h))

    def weight(self, g: np.ndarray | float, h: np.ndarray | float) -> np.ndarray:
        """A node's weight ``-S(G) / (H + l2)``, truncated."""
        return truncate(-self._soft(np.asarray(g, dtype=np.float64)) / (np.asarray(h, dtype=np.float64) + self.l2))


@dataclass
class Candidates:
    """Split candidates of a batch of nodes, each with its left sums: arrays nodes x candidates (padded with
    ``count = -1`` where a node has fewer)."""

    gl: np.ndarray
    hl: np.ndarray
    count: np.ndarray


def split_gains(c: Candidates, g: np.ndarray, h: np.ndarray, count: np.ndarray, criterion: Criterion) -> np.ndarray:
    """Every candidate's gain (nodes x candidates), ``-inf`` where it is not a valid split: both children need
    ``min_leaf_node`` samples and ``min_child_weight`` of hessian, the node ``min_sample_split`` samples, and
    the gain must exceed ``min_impurity_split``."""
    g, h, count = g[:, None], h[:, None], count[:, None]
    gains = criterion.gain(c.gl, c.hl, g, h)
    valid = ((c.count >= criterion.min_leaf_node) & (count - c.count >= criterion.min_leaf_node)
             & (c.hl >= criterion.min_child_weight) & (h - c.hl >= criterion.min_child_weight)
             & (gains > criterion.min_impurity_split) & (count >= criterion.min_sample_split))
    return np.where(valid, gains, -np.inf)


def best_of(gains: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per node (row): the best gain and the first candidate that has it (-inf and -1 when none is valid)."""
    if gains.shape[1] == 0:
        return np.full(len(gains), -np.inf), np.full(len(gains), -1)
    index = gains.argmax(axis=1)
    best = gains[np.arange(len(index)), index]
    return best, np.where(np.isfinite(best), index, -1)


def first_best_of(gains: np.ndarray, slack: float = FLOAT_ZERO) -> tuple[np.ndarray, np.ndarray]:
    """Per node (row): FATE's splitter scan over the candidates in order, taking a candidate only when its
    gain beats the best so far by more than ``slack`` (1e-8): of gains equal within the slack the first wins.
    Where sums are aggregated in fixed point (homo), equal splits differ in the last digits, and this rule
    still picks the one the exact sums pick. Returns the best gain and its index (-inf and -1: none valid)."""
    best = np.full(len(gains), -np.inf)
    index = np.full(len(gains), -1)
    for column in range(gains.shape[1]):  # candidates in scan order; vectorised over the nodes
        better = gains[:, column] > best + slack
        best = np.where(better, gains[:, column], best)
        index = np.where(better, column, index)
    return best, index


def best_splits(c: Candidates, g: np.ndarray, h: np.ndarray, count: np.ndarray,
                criterion: Criterion) -> tuple[np.ndarray, np.ndarray]:
    """Per node: the best valid candidate's gain and index (ties go to the first candidate)."""
    return best_of(split_gains(c, g, h, count, criterion))


# -- histograms ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SplitDesc:
    """What a candidate index means: the feature, the bin (left: bins <= bid) and where missing values go."""

    fid: np.ndarray
    bid: np.ndarray
    missing_dir: np.ndarray


def candidate_layout(bins_per_feature: list[int], use_missing: bool) -> SplitDesc:
    """Every candidate of a party's features, in scan order: per feature, per bid ``0 .. n_bins - 2``, missing
    values right, then (with ``use_missing``) the same bid with missing values left."""
    fid, bid, direction = [], [], []
    for f, n_bins in enumerate(bins_per_feature):
        for b in range(max(0, n_bins - 1)):
            fid.append(f)
            bid.append(b)
            direction.append(RIGHT)
            if use_missing:
                fid.append(f)
                bid.append(b)
                direction.append(LEFT)
    return SplitDesc(np.asarray(fid, dtype=np.int64), np.asarray(bid, dtype=np.int64),
                     np.asarray(direction, dtype=np.int64))


def histograms(binned: np.ndarray, node_of: np.ndarray, nodes: int, g: np.ndarray, h: np.ndarray,
               bin_num: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (node, feature, bin) sums of g, h and counts, arrays nodes x features x (bin_num + 1); the last bin
    is the missing one. ``node_of`` gives each sample's node index in ``0 .. nodes - 1`` (or -1: not here)."""
    active = node_of >= 0
    rows = binned[active]
    features = rows.shape[1]
    width = bin_num + 1
    bins = np.where(rows == MISSING, bin_num, rows)  # the missing slot is the last
    keys = (node_of[active][:, None] * features + np.arange(features)[None, :]) * width + bins
    size = nodes * features * width
    flat = keys.ravel()
    shape = (nodes, features, width)
    sum_g = np.bincount(flat, weights=np.repeat(g[active], features), minlength=size).reshape(shape)
    sum_h = np.bincount(flat, weights=np.repeat(h[active], features), minlength=size).reshape(shape)
    counts = np.bincount(flat, minlength=size).reshape(shape)
    return sum_g, sum_h, counts


def bin_with_missing(matrix: np.ndarray, points: list[np.ndarray]) -> np.ndarray:
    """Bin indices of ``matrix`` with ``MISSING`` (-1) for NaN, whatever the feature's number of points."""
    out = np.empty(matrix.shape, dtype=np.int32)
    for j, column_points in enumerate(points):
        column = matrix[:, j]
        if column_points.size == 0:
            out[:, j] = 0
        else:
            out[:, j] = np.searchsorted(column_points[:-1], column, side="left")
        out[np.isnan(column), j] = MISSING
    return out


def candidates_from_histograms(sum_g: np.ndarray, sum_h: np.ndarray, counts: np.ndarray, layout: SplitDesc,
                               ) -> Candidates:
    """Left sums of every candidate of ``layout`` from per-bin histograms (nodes x features x (bins + 1)).

    A candidate whose bin holds no sample of the node gives the same split as the bid before it: it is
    dropped (count -1) so the first of equal splits wins, whoever computes the candidates."""
    cum_g, cum_h, cum_c = (np.cumsum(a[:, :, :-1], axis=2) for a in (sum_g, sum_h, counts))
    f, b = layout.fid, layout.bid
    gl, hl, cl = cum_g[:, f, b], cum_h[:, f, b], cum_c[:, f, b].astype(np.int64)
    left_missing = layout.missing_dir == LEFT
    if left_missing.any():
        gl = gl + np.where(left_missing, sum_g[:, f, -1], 0.0)
        hl = hl + np.where(left_missing, sum_h[:, f, -1], 0.0)
        cl = cl + np.where(left_missing, counts[:, f, -1], 0)
        # missing-left is a new split only when the node has missing values in that feature
        cl = np.where(left_missing & (counts[:, f, -1] == 0), -1, cl)
    empty = (counts[:, f, b] == 0) & (b > 0)
    cl = np.where(empty, -1, cl)
    return Candidates(gl, hl, cl)


# -- trees -------------------------------------------------------------------------------------------------------
@dataclass
class Node:
    """FATE's NodeParam: ``sitename`` is the party that owns the split (``guest:9999``, ``host:10000``)."""

    id: int
    sitename: str
    fid: int = -1
    bid: float = -1.0
    weight: float = 0.0
    is_leaf: bool = False
    left_nodeid: int = -1
    right_nodeid: int = -1
    missing_dir: int = RIGHT

    def to_dict(self) -> dict:
        """FATE's NodeParam fields."""
        return {"id": self.id, "sitename": self.sitename, "fid": self.fid, "bid": self.bid, "weight": self.weight,
                "is_leaf": self.is_leaf, "left_nodeid": self.left_nodeid, "right_nodeid": self.right_nodeid,
                "missing_dir": self.missing_dir}


@dataclass
class Tree:
    """One tree as a party keeps it: every node, and this party's split thresholds and missing directions
    (FATE's ``split_maskdict`` / ``missing_dir_maskdict``) for the nodes it owns."""

    nodes: list[Node] = field(default_factory=list)
    split_maskdict: dict[int, float] = field(default_factory=dict)
    missing_dir_maskdict: dict[int, int] = field(default_factory=dict)
    leaf_count: dict[int, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """FATE's DecisionTreeModelParam."""
        return {"tree_": [n.to_dict() for n in self.nodes],
                "split_maskdict": {str(k): v for k, v in self.split_maskdict.items()},
                "missing_dir_maskdict": {str(k): v for k, v in self.missing_dir_maskdict.items()},
                "leaf_count": {str(k): v for k, v in self.leaf_count.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> Tree:
        """A tree from its saved form (as ``to_dict`` wrote it)."""
        nodes = [Node(int(n["id"]), str(n["sitename"]), int(n["fid"]), float(n["bid"]), float(n["weight"]),
                      bool(n["is_leaf"]), int(n["left_nodeid"]), int(n["right_nodeid"]), int(n["missing_dir"]))
                 for n in data["tree_"]]
        return cls(nodes, {int(k): float(v) for k, v in data.get("split_maskdict", {}).items()},
                   {int(k): int(v) for k, v in data.get("missing_dir_maskdict", {}).items()},
                   {int(k): int(v) for k, v in data.get("leaf_count", {}).items()})

    def arrays(self, own: str) -> TreeArrays:
        """The tree as arrays indexed by node id, ``own`` marking the nodes whose split this party knows."""
        size = max(n.id for n in self.nodes) + 1
        arrays = TreeArrays(np.full(size, -1), np.zeros(size), np.full(size, -1), np.full(size, -1),
                            np.ones(size, dtype=bool), np.zeros(size, dtype=bool), np.full(size, RIGHT),
                            np.zeros(size))
        for n in self.nodes:
            arrays.is_leaf[n.id] = n.is_leaf
            arrays.left[n.id], arrays.right[n.id] = n.left_nodeid, n.right_nodeid
            arrays.weight[n.id] = n.weight
            if not n.is_leaf and n.sitename == own and n.id in self.split_maskdict:
                arrays.own[n.id] = True
                arrays.fid[n.id] = n.fid
                arrays.threshold[n.id] = self.split_maskdict[n.id]
                arrays.missing_dir[n.id] = self.missing_dir_maskdict.get(n.id, RIGHT)
        return arrays


@dataclass
class TreeArrays:
    """A tree's nodes as numpy arrays indexed by node id (for vectorised traversal)."""

    fid: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    is_leaf: np.ndarray
    own: np.ndarray
    missing_dir: np.ndarray
    weight: np.ndarray

    def advance(self, x: np.ndarray, position: np.ndarray) -> np.ndarray:
        """Move every sample down through the nodes this party owns until it reaches a leaf or a node of
        another party: FATE's ``value <= threshold + 1e-8`` goes left, a missing value to ``missing_dir``."""
        position = position.copy()
        rows = np.arange(len(position))
        while True:
            movable = self.own[position] & ~self.is_leaf[position]
            if not movable.any():
                return position
            at = position[movable]
            values = x[rows[movable], self.fid[at]]
            go_left = np.where(np.isnan(values), self.missing_dir[at] == LEFT,
                               values <= self.threshold[at] + FLOAT_ZERO)
            position[movable] = np.where(go_left, self.left[at], self.right[at])
