"""A host's encrypted histograms of one tree, layer by layer, with histogram subtraction (FATE's too): below
the root, of two siblings only the one with fewer rows is summed from the samples' ciphertexts; the other is
its parent's histogram times the inverse of its sibling's, bin by bin. That is exactly the product over its
own rows (the same ciphertexts as summing it directly), for a few multiplications per bin instead of one per
row and feature: about half of a tree's products below the root."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gmpy2 import mpz

from fate_flow.ml.gh_packing import feature_histograms
from fate_flow.ml.paillier.arith import batch_invert


@dataclass
class _Layer:
    """What the next layer derives from: each counted row's node id here (-1: none) and, per ciphertext
    column, each node's histogram (features x width sums, flat)."""

    row_node: np.ndarray
    histograms: list[dict[int, list[mpz]]]


class TreeHistograms:
    """One tree's histograms at a host: ``layer`` per layer it offers candidates at, ``skip`` for one it
    does not (the next layer then sums every node)."""

    def __init__(self) -> None:
        self._previous: _Layer | None = None
        self.summed_rows = 0  # rows summed from ciphertexts (each over every feature)
        self.layer_rows = 0  # rows of the layers' nodes: what summing every node would take

    def skip(self) -> None:
        """A layer without histograms: nothing to derive the next one from."""
        self._previous = None

    def layer(self, gh: list[list[mpz]], bins: np.ndarray, counted: np.ndarray, ids: np.ndarray, width: int,
              n2: mpz, cores: int) -> list[list[mpz]]:
        """Per ciphertext column of ``gh``, the encrypted sums per (node, feature, bin), flat in the order
        ``(node * features + f) * width + bin``; ``counted`` is each row's index in ``ids`` (-1: none)."""
        nodes, size = len(ids), bins.shape[1] * width
        derived = self._derivable(counted, ids)
        summed = np.asarray([i for i in range(nodes) if i not in derived], dtype=np.int64)
        remap = np.full(nodes + 1, -1)  # index -1 (rows on no node) reads the last entry: -1
        remap[summed] = np.arange(len(summed))
        summed_index = remap[counted]
        self.summed_rows += int((summed_index >= 0).sum())
        self.layer_rows += int((counted >= 0).sum())
        out, kept = [], []
        for column, ciphertexts in enumerate(gh):
            flat = feature_histograms(ciphertexts, bins, summed_index, len(summed), width, n2, cores)
            per_node: list[list[mpz]] = [[] for _ in range(nodes)]
            for k, i in enumerate(summed.tolist()):
                per_node[i] = flat[k * size:(k + 1) * size]
            if derived:
                siblings = [c for _, sibling in derived.values() for c in per_node[sibling]]
                inverses = batch_invert(siblings, n2)
                parents = self._previous.histograms[column]
                for k, (i, (parent, _)) in enumerate(derived.items()):
                    per_node[i] = [p * v % n2 for p, v in zip(parents[parent], inverses[k * size:(k + 1) * size],
                                                              strict=True)]
            out.append([c for histogram in per_node for c in histogram])
            kept.append({int(ids[i]): per_node[i] for i in range(nodes)})
        self._previous = _Layer(np.where(counted >= 0, ids[counted], -1), kept)
        return out

    def _derivable(self, counted: np.ndarray, ids: np.ndarray) -> dict[int, tuple[int, int]]:
        """Node index -> (its parent's id, its sibling's index) for the larger of each pair of siblings whose
        rows are exactly their parent's (checked: the layer's node assignment comes from the guest)."""
        if self._previous is None:
            return {}
        rows = counted >= 0
        previous, here = self._previous.row_node[rows], counted[rows]
        pairs = np.unique(np.stack([here, previous]), axis=1)  # the distinct (node, parent) of the rows
        if (previous < 0).any() or not np.array_equal(pairs[0], np.arange(len(ids))):
            return {}  # a node with no rows, or with rows of two parents: sum every node
        parent_of = dict(zip(pairs[0].tolist(), pairs[1].tolist(), strict=True))
        node_rows = np.bincount(here, minlength=len(ids))
        parent_ids, parent_rows = np.unique(self._previous.row_node[self._previous.row_node >= 0], return_counts=True)
        rows_of_parent = dict(zip(parent_ids.tolist(), parent_rows.tolist(), strict=True))
        children: dict[int, list[int]] = {}
        for i, parent in parent_of.items():
            children.setdefault(parent, []).append(i)
        derived = {}
        for parent, pair in children.items():
            if (len(pair) != 2 or parent not in self._previous.histograms[0]
                    or node_rows[pair].sum() != rows_of_parent.get(parent)):
                continue
            small, large = sorted(pair, key=lambda i: (node_rows[i], i))
            derived[large] = (parent, small)
        return derived
