"""Hetero SecureBoost's protocol: growing one tree layer by layer between the guest (label, gradients, its own
features) and the hosts (features only), and walking samples down trees whose splits the parties share.

Per tree (docs/fate-secureboost-1.11.md §3): the guest encrypts the packed (g, h) of every sample and sends
them with the packing; per layer it sends the node of every sample; each host sums the ciphertexts per
(node, feature, bin), takes cumulative sums, keeps the candidates whose sample counts allow a split, shuffles
them per node (so their order says nothing of features or bins), packs and rerandomizes them, and sends them
with their left counts; the guest decrypts, scores them with the same criterion as its own candidates, and
tells each host only which of its candidates won at which node; the winning host then says which of the
node's samples go left. The guest never sees a host's feature, bin or threshold; the hosts never see a
gradient, a hessian, a gain or a weight.

Prediction (``walk``): the guest moves samples through its own nodes, the hosts through theirs, in rounds,
until every sample sits on a leaf; node ids grow downwards, so the guest merges the hosts' answers by the
element-wise maximum.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fate_flow.errors import ComponentError
from fate_flow.ml import gh_packing as packing_ops
from fate_flow.ml.paillier import EncryptedVector, ObfuscatorPool, PrivateKey, PublicKey
from fate_flow.ml.sbt_histograms import TreeHistograms
from fate_flow.ml.timings import Timings
from fate_flow.ml.tree import (
    FLOAT_ZERO,
    LEFT,
    MISSING,
    Candidates,
    Criterion,
    Node,
    SplitDesc,
    Tree,
    TreeArrays,
    best_of,
    best_splits,
    candidate_layout,
    candidates_from_histograms,
    histograms,
    split_gains,
)

MAX_LAYER_NODES = 1 << 16


@dataclass
class PartyData:
    """One party's binned training features: bins (rows x features, ``MISSING`` for a missing value) and the
    split points they came from."""

    binned: np.ndarray
    points: list[np.ndarray]
    bin_num: int

    @property
    def features(self) -> int:
        """How many features this party holds."""
        return self.binned.shape[1]

    def layout(self, chosen: np.ndarray, use_missing: bool) -> SplitDesc:
        """The candidates of the ``chosen`` features, with the real feature indices."""
        layout = candidate_layout([self.points[f].size for f in chosen], use_missing)
        return SplitDesc(chosen[layout.fid], layout.bid, layout.missing_dir)


def choose_features(features: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """FATE's per-tree feature subsample: ``max(1, int(rate * n))`` features without replacement, in order."""
    if rate >= 1:
        return np.arange(features)
    keep = max(1, int(rate * features))
    return np.sort(rng.choice(features, size=keep, replace=False))


def goes_left(data: PartyData, rows: np.ndarray, fid: int, bid: int, missing_dir: int) -> np.ndarray:
    """Whether each of ``rows`` goes left at a split on ``(fid, bid)``: its bin is at most ``bid``, or it is
    missing and missing values go left."""
    bins = data.binned[rows, fid]
    return np.where(bins == MISSING, missing_dir == LEFT, bins <= bid)


# -- guest -----------------------------------------------------------------------------------------------------
@dataclass
class GrownTree:
    """A tree as the guest grew it, and the leaf each training sample ended on."""

    tree: Tree
    leaf_of: np.ndarray
    gains: list[tuple[str, int, float]] = field(default_factory=list)  # (sitename, fid, gain) per split


@dataclass
class GuestGrower:
    """The guest's side of growing trees (one instance per fit)."""

    data: PartyData
    criterion: Criterion
    max_depth: int
    use_missing: bool
    party_id: str
    private: PrivateKey
    compress: bool
    cores: int
    host_ids: Sequence[str]
    timings: Timings = field(default_factory=lambda: Timings("secureboost"))
    pool: ObfuscatorPool | None = None  # obfuscators made ahead while the guest waits for the hosts
    host_layers: int | None = None  # FATE's layered strategy: the first layers split on host features only
    _only_host: int | None = field(default=None, init=False, repr=False)  # the tree being grown: mix's host

    def _taking_part(self, ctx, use_hosts: bool) -> list[tuple[int, object]]:
        """(index, handle) of the hosts that offer splits in this tree."""
        if not use_hosts:
            return []
        return [(i, handle) for i, handle in enumerate(ctx.hosts) if self._only_host in (None, i)]

    @staticmethod
    def _left_out(ctx, taking_part: list[tuple[int, object]]) -> list[tuple[int, object]]:
        part = {index for index, _ in taking_part}
        return [(i, handle) for i, handle in enumerate(ctx.hosts) if i not in part]

    def _plan(self, depth: int, use_hosts: bool) -> tuple[bool, bool]:
        """Whether the hosts offer candidates at ``depth``, and whether the guest may split there."""
        if not use_hosts:
            return False, True
        if self._only_host is not None:
            return True, False
        if self.host_layers is None:
            return True, True
        return depth < self.host_layers, depth >= self.host_layers

    def grow(self, ctx, g: np.ndarray, h: np.ndarray, use_hosts: bool, chosen: np.ndarray,
             bounds: tuple[float, float, float] | None, only_host: int | None = None) -> GrownTree:
        """One tree on gradients ``g`` and hessians ``h`` (1-D); ``use_hosts`` False grows it on the guest's
        features only (FATE's ``complete_secure`` trees and the mix strategy's guest trees), ``only_host`` on
        that host's features only (the mix strategy's host trees: the other hosts take no part). ``ctx`` is
        this tree's sub-context. With GOSS, ``g`` and ``h`` are zero on the rows left out (encrypted all the
        same: the hosts cannot tell which rows the sample holds)."""
        rows = len(g)
        self._only_host = only_host
        taking_part = self._taking_part(ctx, use_hosts)
        start = {"use_hosts": use_hosts}
        packing = None
        if use_hosts:
            public = self.private.public
            packing = packing_ops.make_packing(g, h, rows, self.compress, public.key_length, bounds)
            with self.timings.phase("encrypt"):
                vectors = packing_ops.encrypt_gh(self.private, packing, g, h, self.cores, self.pool)
            start.update(packing=packing.to_wire(), gh=[v.to_wire() for v in vectors])
        for _, handle in taking_part:
            handle.put("tree_start", start)
        for _, handle in self._left_out(ctx, taking_part):
            handle.put("tree_start", {"use_hosts": False})
        tree = Tree()
        root = Node(0, f"guest:{self.party_id}", weight=float(self.criterion.weight(g.sum(), h.sum())))
        tree.nodes.append(root)
        position = np.zeros(rows, dtype=np.int64)
        layer = [0]
        layout = self.data.layout(chosen, self.use_missing)
        gains: list[tuple[str, int, float]] = []
        for depth in range(self.max_depth):
            step = ctx.child("layer", depth)
            offer, guest_splits = self._plan(depth, use_hosts)
            for index, _ in taking_part:
                step.hosts[index].put("layer", _layer_message(layer, position, offer))
            if not layer:
                break
            layer = self._split_layer(step, tree, layer, position, g, h, layout, packing, (offer, guest_splits),
                                      gains)
        if layer:  # every layer was split: tell the hosts the tree is done
            for index, _ in taking_part:
                ctx.child("layer", self.max_depth).hosts[index].put("layer", _layer_message([], position, False))
        for nid in layer:
            tree.nodes[nid].is_leaf = True
        for node in tree.nodes:
            if node.is_leaf:
                node.weight = float(np.round(node.weight, 10))
        leaves, counts = np.unique(position, return_counts=True)
        tree.leaf_count = {int(a): int(b) for a, b in zip(leaves, counts, strict=True)}
        ctx.hosts.put("tree", [_public_node(n) for n in tree.nodes])
        return GrownTree(tree, position, gains)

    def _split_layer(self, ctx, tree: Tree, layer: list[int], position: np.ndarray, g: np.ndarray,
                     h: np.ndarray, layout: SplitDesc, packing, plan: tuple[bool, bool],
                     gains: list[tuple[str, int, float]]) -> list[int]:
        use_hosts, guest_splits = plan
        node_index = _node_index(layer, position)
        nodes = len(layer)
        sums_g = np.bincount(node_index[node_index >= 0], weights=g[node_index >= 0], minlength=nodes)
        sums_h = np.bincount(node_index[node_index >= 0], weights=h[node_index >= 0], minlength=nodes)
        counts = np.bincount(node_index[node_index >= 0], minlength=nodes)
        best_gain, best_index = np.full(nodes, -np.inf), np.zeros(nodes, dtype=np.int64)
        if guest_splits:
            with self.timings.phase("guest splits"):
                hist = histograms(self.data.binned, node_index, nodes, g, h, self.data.bin_num)
                own = candidates_from_histograms(*hist, layout)
                best_gain, best_index = best_splits(own, sums_g, sums_h, counts, self.criterion)
        owner = np.full(nodes, -1)  # -1 guest, else the host's index
        host_gains: dict[int, np.ndarray] = {}
        taking_part = self._taking_part(ctx, use_hosts)
        if taking_part:
            with self.timings.phase("wait for hosts"):
                messages = [(host, handle.get("candidates")) for host, handle in taking_part]
            for host, message in messages:
                candidates = self._host_candidates(message, packing, counts)
                host_gains[host] = split_gains(candidates, sums_g, sums_h, counts, self.criterion)
                gain, index = best_of(host_gains[host])
                better = gain > np.where(owner == -1, best_gain + FLOAT_ZERO, best_gain)
                better &= np.isfinite(gain)
                # FATE: the guest keeps ties (within 1e-8); among hosts the first with the highest gain wins
                owner = np.where(better, host, owner)
                best_gain = np.where(better, gain, best_gain)
                best_index = np.where(better, index, best_index)
        split = np.isfinite(best_gain) & (best_gain > self.criterion.min_impurity_split + FLOAT_ZERO)
        go_left = np.zeros(len(position), dtype=bool)
        if taking_part:
            self._host_decisions(taking_part, node_index, split, owner, best_gain, host_gains, go_left)
        children = []
        for i, nid in enumerate(layer):
            node = tree.nodes[nid]
            if not split[i]:
                node.is_leaf = True
                continue
            if owner[i] == -1:
                c = int(best_index[i])
                fid, bid, direction = int(layout.fid[c]), int(layout.bid[c]), int(layout.missing_dir[c])
                node.fid = fid
                tree.split_maskdict[nid] = float(self.data.points[fid][bid])
                tree.missing_dir_maskdict[nid] = direction
                rows = np.flatnonzero(node_index == i)
                go_left[rows] = goes_left(self.data, rows, fid, bid, direction)
                gains.append((node.sitename, fid, float(best_gain[i])))
            else:
                node.sitename = f"host:{self.host_ids[owner[i]]}"
                gains.append((node.sitename, -1, float(best_gain[i])))
            rows = node_index == i
            left_rows, right_rows = rows & go_left, rows & ~go_left
            left = Node(len(tree.nodes), f"guest:{self.party_id}",
                        weight=float(self.criterion.weight(g[left_rows].sum(), h[left_rows].sum())))
            right = Node(len(tree.nodes) + 1, f"guest:{self.party_id}",
                         weight=float(self.criterion.weight(g[right_rows].sum(), h[right_rows].sum())))
            tree.nodes += [left, right]
            node.left_nodeid, node.right_nodeid = left.id, right.id
            position[left_rows], position[right_rows] = left.id, right.id
            children += [left.id, right.id]
        return children

    def _host_candidates(self, message: object, packing, counts: np.ndarray) -> Candidates:
        """A host's candidates decoded into left sums, padded per node; checked for shape and range."""
        public = self.private.public
        if not isinstance(message, dict) or set(message) != {"packages", "counts", "per_node"}:
            raise ComponentError("a host sent malformed split candidates")
        per_node = _int_array(message["per_node"], "per_node")
        left_counts = _int_array(message["counts"], "counts")
        if per_node.shape != counts.shape or per_node.sum() != left_counts.size or (per_node < 0).any():
            raise ComponentError("a host's candidates do not match the layer's nodes")
        owners = np.repeat(np.arange(len(counts)), per_node)
        if (left_counts < 1).any() or (left_counts >= counts[owners]).any():
            raise ComponentError("a host's candidate counts are out of range")
        columns = message["packages"]
        if not isinstance(columns, list) or len(columns) != packing.columns:
            raise ComponentError("a host sent the wrong number of package columns")
        expected = -(-left_counts.size // packing.capacity)
        packages = []
        for column in columns:
            try:
                vector = EncryptedVector.from_wire(public, column)
            except ValueError as exc:
                raise ComponentError(f"a host sent bad packages: {exc}") from exc
            if len(vector) != expected:
                raise ComponentError("a host sent the wrong number of packages")
            packages.append(vector.ciphertexts)
        with self.timings.phase("decrypt"):
            gl, hl = packing_ops.decode(self.private, packing, packages, left_counts, self.cores)
        width = int(per_node.max(initial=0))
        shape = (len(counts), width)
        padded = [np.zeros(shape), np.zeros(shape), np.full(shape, -1, dtype=np.int64)]
        column_of = np.arange(left_counts.size) - np.repeat(np.cumsum(per_node) - per_node, per_node)
        for array, values in zip(padded, (gl, hl, left_counts), strict=True):
            array[owners, column_of] = values
        return Candidates(*padded)

    def _host_decisions(self, taking_part: list[tuple[int, object]], node_index: np.ndarray, split: np.ndarray,
                        owner: np.ndarray, best_gain: np.ndarray, host_gains: dict[int, np.ndarray],
                        go_left: np.ndarray) -> None:
        """Tell each host which of its candidates won where; the winners say which samples go left.

        Candidates of equal gain (the same partition through different features or bins) are all named: the
        host takes the first in its own feature order, so the tree does not depend on its shuffle."""
        for host, handle in taking_part:
            won = np.flatnonzero(split & (owner == host))
            ties = [np.flatnonzero(host_gains[host][i] == best_gain[i]) for i in won]
            handle.put("won", {"nodes": won.astype(np.int64), "ties": np.asarray([len(t) for t in ties], np.int64),
                               "choice": np.concatenate(ties or [np.empty(0)]).astype(np.int64)})
        for host, handle in taking_part:
            won = np.flatnonzero(split & (owner == host))
            rows = np.flatnonzero(np.isin(node_index, won))
            answer = handle.get("goes_left")
            if not isinstance(answer, np.ndarray) or answer.dtype != np.bool_ or answer.shape != rows.shape:
                raise ComponentError("a host sent a bad split decision")
            go_left[rows] = answer


def _layer_message(layer: list[int], position: np.ndarray, offer: bool) -> dict:
    """A layer's nodes, each sample's node, and whether the hosts offer split candidates at it."""
    return {"ids": np.asarray(layer, dtype=np.int64), "node_index": _node_index(layer, position).astype(np.int32),
            "offer": offer}


def _node_index(layer: list[int], position: np.ndarray) -> np.ndarray:
    """Each sample's index in ``layer`` (-1 for samples on nodes not in it)."""
    if not layer:
        return np.full(len(position), -1)
    lookup = np.full(int(max(position.max(), max(layer))) + 1, -1)
    lookup[np.asarray(layer)] = np.arange(len(layer))
    return lookup[position]


def _public_node(node: Node) -> dict:
    """What hosts learn of a node: its id, owner, children (no weight, feature or threshold)."""
    return {"id": node.id, "sitename": node.sitename, "is_leaf": node.is_leaf,
            "left_nodeid": node.left_nodeid, "right_nodeid": node.right_nodeid}


def _int_array(value: object, what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iu" or value.ndim != 1:
        raise ComponentError(f"a host's {what} must be a 1-D integer array")
    return value.astype(np.int64)


# -- host ------------------------------------------------------------------------------------------------------
@dataclass
class HostGrower:
    """A host's side of growing trees (one instance per fit)."""

    data: PartyData
    criterion: Criterion
    use_missing: bool
    party_id: str
    public: PublicKey
    cores: int
    timings: Timings = field(default_factory=lambda: Timings("secureboost"))
    summed_rows: int = field(default=0, init=False)  # rows summed into histograms, over all trees and layers
    layer_rows: int = field(default=0, init=False)  # the rows of those layers (summed without subtraction)

    def grow(self, ctx, chosen: np.ndarray) -> Tree:
        """Answer the guest for one tree; returns the tree with this host's splits."""
        start = ctx.guest.get("tree_start")
        if not isinstance(start, dict) or not isinstance(start.get("use_hosts"), bool):
            raise ComponentError("the guest sent a malformed tree start")
        splits: dict[int, tuple[int, int, int]] = {}
        if start["use_hosts"]:
            packing, gh = self._encrypted_gh(start)
            layout = self.data.layout(chosen, self.use_missing)
            sums = TreeHistograms()
            for depth in range(MAX_LAYER_NODES):
                step = ctx.child("layer", depth)
                with self.timings.phase("wait for guest"):
                    message = step.guest.get("layer")
                ids, node_index, offer = self._layer(message)
                if not len(ids):
                    break
                if offer:
                    self._answer_layer(step, ids, node_index, gh, packing, layout, splits, sums)
                else:
                    sums.skip()
            self.summed_rows += sums.summed_rows
            self.layer_rows += sums.layer_rows
        return self._tree(ctx.guest.get("tree"), splits)

    def _encrypted_gh(self, start: dict) -> tuple[packing_ops.Packing, list[list]]:
        try:
            packing = packing_ops.Packing.from_wire(start.get("packing"), self.public.key_length)
            vectors = [EncryptedVector.from_wire(self.public, v) for v in start.get("gh") or []]
        except ValueError as exc:
            raise ComponentError(f"the guest sent bad encrypted gradients: {exc}") from exc
        if len(vectors) != packing.columns or any(len(v) != len(self.data.binned) for v in vectors):
            raise ComponentError("the guest's encrypted gradients do not match the samples")
        return packing, [v.ciphertexts for v in vectors]

    def _layer(self, message: object) -> tuple[np.ndarray, np.ndarray, bool]:
        if (not isinstance(message, dict) or set(message) != {"ids", "node_index", "offer"}
                or not isinstance(message["offer"], bool)):
            raise ComponentError("the guest sent a malformed layer")
        ids, node_index = message["ids"], message["node_index"]
        if (not isinstance(ids, np.ndarray) or ids.dtype.kind != "i" or ids.ndim != 1 or len(ids) > MAX_LAYER_NODES
                or not isinstance(node_index, np.ndarray) or node_index.dtype.kind != "i"
                or node_index.shape != (len(self.data.binned),)
                or (len(node_index) and (node_index.min() < -1 or node_index.max() >= len(ids)))
                or np.unique(ids).size != ids.size):  # distinct: the histograms of a layer are kept by node id
            raise ComponentError("the guest sent a malformed layer")
        return ids.astype(np.int64), node_index.astype(np.int64), message["offer"]

    def _answer_layer(self, ctx, ids: np.ndarray, node_index: np.ndarray, gh: list[list], packing,
                      layout: SplitDesc, splits: dict[int, tuple[int, int, int]], sums: TreeHistograms) -> None:
        nodes, data, n2 = len(ids), self.data, self.public.nsquare
        features, width = data.features, data.bin_num + 1
        zeros = np.zeros(len(node_index))
        _, _, counts = histograms(data.binned, node_index, nodes, zeros, zeros, data.bin_num)
        node_counts = np.bincount(node_index[node_index >= 0], minlength=nodes)
        candidates = candidates_from_histograms(counts.astype(np.float64), counts.astype(np.float64), counts, layout)
        chosen = self._chosen(candidates.count, node_counts)
        bins = np.where(data.binned == MISSING, width - 1, data.binned)
        with self.timings.phase("histograms"):
            all_sums = sums.layer(gh, bins, node_index, ids, width, n2, self.cores)
        columns = []
        for bin_sums in all_sums:
            with self.timings.phase("histograms"):
                per_node = packing_ops.candidate_sums(bin_sums, counts, layout.fid, layout.bid,
                                                      layout.missing_dir == LEFT, chosen, features, width, n2)
            with self.timings.phase("pack and rerandomize"):
                flat = [c for sums in per_node for c in sums]
                packages = packing_ops.compress(flat, packing, n2, self.cores)
                bound = (1 << (packing.pad * packing.capacity)) - 1
                vector = EncryptedVector(self.public, packages, 0, bound).rerandomize_uniform(self.cores)
            columns.append(vector.to_wire())
        left_counts = np.concatenate([candidates.count[i, c] for i, c in enumerate(chosen)] or [np.empty(0)])
        ctx.guest.put("candidates", {"packages": columns, "counts": left_counts.astype(np.int64),
                                     "per_node": np.asarray([len(c) for c in chosen], dtype=np.int64)})
        won = ctx.guest.get("won")
        self._record_wins(won, ids, chosen, layout, splits)
        won_nodes = np.asarray(won["nodes"])
        rows = np.flatnonzero(np.isin(node_index, won_nodes))
        answer = np.zeros(len(rows), dtype=bool)
        for node in won_nodes.tolist():
            fid, bid, direction = splits[int(ids[node])]
            at = node_index[rows] == node
            answer[at] = goes_left(data, rows[at], fid, bid, direction)
        ctx.guest.put("goes_left", answer)

    def _chosen(self, left: np.ndarray, node_counts: np.ndarray) -> list[np.ndarray]:
        """Per node, the candidates worth sending (both children big enough), in a fresh random order."""
        rng = np.random.default_rng(secrets.randbits(128))
        chosen = []
        for i, total in enumerate(node_counts.tolist()):
            valid = np.flatnonzero((left[i] >= self.criterion.min_leaf_node) & (left[i] >= 1)
                                   & (total - left[i] >= self.criterion.min_leaf_node)
                                   & (total >= self.criterion.min_sample_split))
            chosen.append(valid[rng.permutation(valid.size)])
        return chosen

    def _record_wins(self, won: object, ids: np.ndarray, chosen: list[np.ndarray], layout: SplitDesc,
                     splits: dict[int, tuple[int, int, int]]) -> None:
        if not isinstance(won, dict) or set(won) != {"nodes", "ties", "choice"}:
            raise ComponentError("the guest sent a malformed split choice")
        nodes, ties, choice = won["nodes"], won["ties"], won["choice"]
        arrays = (nodes, ties, choice)
        if (not all(isinstance(a, np.ndarray) and a.ndim == 1 and a.dtype.kind == "i" for a in arrays)
                or nodes.shape != ties.shape or ties.sum() != choice.size or (ties < 1).any()):
            raise ComponentError("the guest sent a malformed split choice")
        groups = np.split(choice, np.cumsum(ties)[:-1]) if len(nodes) else []
        for node, picks in zip(nodes.tolist(), groups, strict=True):
            if not 0 <= node < len(ids) or (picks < 0).any() or (picks >= len(chosen[node])).any():
                raise ComponentError("the guest chose a split this host did not offer")
            index = int(chosen[node][picks].min())  # the first of equal splits in this host's feature order
            splits[int(ids[node])] = (int(layout.fid[index]), int(layout.bid[index]), int(layout.missing_dir[index]))

    def _tree(self, nodes: object, splits: dict[int, tuple[int, int, int]]) -> Tree:
        if not isinstance(nodes, list) or not nodes or not all(isinstance(n, dict) for n in nodes):
            raise ComponentError("the guest sent a malformed tree")
        tree = Tree()
        own = f"host:{self.party_id}"
        for raw in nodes:
            try:
                node = Node(int(raw["id"]), str(raw["sitename"]), is_leaf=bool(raw["is_leaf"]),
                            left_nodeid=int(raw["left_nodeid"]), right_nodeid=int(raw["right_nodeid"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise ComponentError(f"the guest sent a malformed tree node: {exc}") from exc
            if node.sitename == own and node.id in splits:
                fid, bid, direction = splits[node.id]
                node.fid = fid
                tree.split_maskdict[node.id] = float(self.data.points[fid][bid])
                tree.missing_dir_maskdict[node.id] = direction
            tree.nodes.append(node)
        return tree


# -- prediction ------------------------------------------------------------------------------------------------
def guest_walk(ctx, trees: list[TreeArrays], x: np.ndarray) -> np.ndarray:
    """The leaf every sample reaches in every tree (rows x trees), the hosts moving samples through their nodes.

    Each round the guest moves samples through its own nodes, then (unless all sit on leaves) sends the
    positions to the hosts, which move them through theirs; node ids grow downwards, so the guest takes the
    element-wise maximum of the answers."""
    position = np.zeros((len(x), len(trees)), dtype=np.int64)
    for step in range(MAX_LAYER_NODES):
        for t, tree in enumerate(trees):
            position[:, t] = tree.advance(x, position[:, t])
        done = all(tree.is_leaf[position[:, t]].all() for t, tree in enumerate(trees))
        round_ctx = ctx.child("walk", step)
        if not ctx.hosts:
            if done:
                return position
            raise ComponentError("the model has splits of hosts this job does not have")
        round_ctx.hosts.put("walk", None if done else position)
        if done:
            return position
        moved = position.copy()
        for answer in round_ctx.hosts.get("walked"):
            if (not isinstance(answer, np.ndarray) or answer.shape != position.shape or answer.dtype.kind != "i"
                    or (answer < position).any()):
                raise ComponentError("a host sent bad tree positions")
            moved = np.maximum(moved, answer)
        for t, tree in enumerate(trees):
            if moved[:, t].max(initial=0) >= len(tree.is_leaf):
                raise ComponentError("a host sent a node the tree does not have")
        if (moved == position).all():
            raise ComponentError("no party could move the samples further: the model's parties do not match")
        position = moved
    raise ComponentError("the trees are deeper than any model could be")


def host_walk(ctx, trees: list[TreeArrays], x: np.ndarray) -> None:
    """The host's side of ``guest_walk``: move the positions the guest sends through this host's nodes."""
    for step in range(MAX_LAYER_NODES):
        round_ctx = ctx.child("walk", step)
        position = round_ctx.guest.get("walk")
        if position is None:
            return
        if (not isinstance(position, np.ndarray) or position.shape != (len(x), len(trees))
                or position.dtype.kind != "i" or (position < 0).any()):
            raise ComponentError("the guest sent bad tree positions")
        moved = position.astype(np.int64)
        for t, tree in enumerate(trees):
            if moved[:, t].max(initial=0) >= len(tree.is_leaf):
                raise ComponentError("the guest sent a node the tree does not have")
            moved[:, t] = tree.advance(x, moved[:, t])
        round_ctx.guest.put("walked", moved)
