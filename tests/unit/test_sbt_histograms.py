"""Histogram subtraction at a SecureBoost host: a derived sibling's histogram is exactly the one summed from
its rows' ciphertexts (the same integers), only the smaller sibling is summed, and a layer whose node
assignment does not split its parents cleanly (the guest sends it; it is not trusted) is summed whole."""

from __future__ import annotations

import numpy as np
import pytest

from fate_flow.ml.gh_packing import feature_histograms
from fate_flow.ml.paillier import generate_keypair
from fate_flow.ml.sbt_histograms import TreeHistograms

ROWS, FEATURES, WIDTH = 300, 4, 6


@pytest.fixture(scope="module")
def setting():
    public, private = generate_keypair(1024)
    rng = np.random.default_rng(11)
    columns = [public.encrypt_integers([int(v) for v in rng.integers(0, 1000, ROWS)]).ciphertexts
               for _ in range(2)]
    bins = rng.integers(0, WIDTH, (ROWS, FEATURES))
    return columns, bins, public.nsquare, private, rng


def _direct(columns, bins, counted, nodes, n2):
    return [feature_histograms(c, bins, counted, nodes, WIDTH, n2, 1) for c in columns]


def test_a_derived_sibling_is_the_histogram_summed_from_its_rows(setting):
    columns, bins, n2, private, rng = setting
    sums = TreeHistograms()
    root = np.zeros(ROWS, dtype=np.int64)
    root[:10] = -1  # rows out of the tree (GOSS): on no node at any layer
    assert sums.layer(columns, bins, root, np.array([0]), WIDTH, n2, 1) == _direct(columns, bins, root, 1, n2)
    left = rng.random(ROWS) < 0.3
    layer = np.where(root < 0, -1, np.where(left, 0, 1))
    found = sums.layer(columns, bins, layer, np.array([1, 2]), WIDTH, n2, 1)
    assert found == _direct(columns, bins, layer, 2, n2)
    # the root summed 290 rows; then only the smaller child (node 1, ~30 %) was summed
    assert sums.layer_rows == 2 * 290 and sums.summed_rows == 290 + int(((layer == 0)).sum())
    # a deeper layer under node 2 only (node 1 became a leaf): its two children, the larger derived again
    deeper = np.where(layer == 1, np.where(rng.random(ROWS) < 0.6, 0, 1), -1)
    before = sums.summed_rows
    assert sums.layer(columns, bins, deeper, np.array([3, 4]), WIDTH, n2, 1) == _direct(columns, bins, deeper, 2, n2)
    assert sums.summed_rows - before == min((deeper == 0).sum(), (deeper == 1).sum())
    # and the integers decrypt to the plain sums (one bin checked)
    plain = private.decrypt_integers([found[0][1 * FEATURES * WIDTH + 2 * WIDTH + 3]])[0]
    assert plain == sum(int(v) for v in private.decrypt_integers(
        [columns[0][i] for i in np.flatnonzero((layer == 1) & (bins[:, 2] == 3))]))


def test_a_layer_that_does_not_split_its_parents_cleanly_is_summed_whole(setting):
    columns, bins, n2, _, rng = setting
    sums = TreeHistograms()
    sums.layer(columns, bins, np.zeros(ROWS, dtype=np.int64), np.array([0]), WIDTH, n2, 1)
    # three children under one parent (not a split): no derivation, the right sums all the same
    three = rng.integers(0, 3, ROWS)
    before = sums.summed_rows
    assert sums.layer(columns, bins, three, np.array([1, 2, 3]), WIDTH, n2, 1) == _direct(columns, bins, three, 3, n2)
    assert sums.summed_rows - before == ROWS
    # two children that leave some of the parent's rows out: their sum is not the parent's
    partial = np.where(three == 0, 0, np.where(three == 1, 1, -1))
    before = sums.summed_rows
    assert sums.layer(columns, bins, partial, np.array([4, 5]), WIDTH, n2, 1) == _direct(columns, bins, partial, 2,
                                                                                           n2)
    assert sums.summed_rows - before == (partial >= 0).sum()


def test_after_a_skipped_layer_every_node_is_summed(setting):
    columns, bins, n2, _, rng = setting
    sums = TreeHistograms()
    sums.layer(columns, bins, np.zeros(ROWS, dtype=np.int64), np.array([0]), WIDTH, n2, 1)
    sums.skip()  # the host offered no candidates at a layer (FATE's layered strategy)
    layer = (rng.random(ROWS) < 0.5).astype(np.int64)
    assert sums.layer(columns, bins, layer, np.array([1, 2]), WIDTH, n2, 1) == _direct(columns, bins, layer, 2, n2)
    assert sums.summed_rows == 2 * ROWS
