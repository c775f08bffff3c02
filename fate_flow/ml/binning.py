"""Feature binning shared by SecureBoost and the binning components: split points per column and the bin
each value falls in, vectorised over whole columns.

FATE's rules (docs/fate-secureboost-1.11.md §2.1, §6.1):

- quantile: the value at rank ``ceil(q * n)`` of the sorted non-missing values for ``q = i / bin_num``
  (``i = 1 .. bin_num - 1``), then the maximum, duplicates dropped: at most ``bin_num`` points. FATE reads
  these ranks off a Greenwald-Khanna summary with relative error 1e-4; here they are exact.
- bucket: equal widths ``min + k (max - min) / bin_num`` (``k = 1 .. bin_num - 1``), then the maximum.
- a value's bin is the first split point it does not exceed (values above the second-to-last point land
  in the last bin); a missing value (NaN) gets bin ``len(split_points)``, one past the last.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

QUANTILE, BUCKET = "quantile", "bucket"


def quantile_points(column: np.ndarray, bin_num: int) -> np.ndarray:
    """FATE's quantile split points of one column (NaN = missing, left out)."""
    values = np.sort(column[~np.isnan(column)])
    if values.size == 0:
        return np.empty(0)
    n = values.size
    ranks = [max(1, math.ceil(i / bin_num * n)) for i in range(1, bin_num)]
    points = np.append(values[np.asarray(ranks, dtype=np.int64) - 1], values[-1])
    return _distinct(points)


def bucket_points(column: np.ndarray, bin_num: int) -> np.ndarray:
    """FATE's equal-width split points of one column (NaN = missing, left out)."""
    values = column[~np.isnan(column)]
    if values.size == 0:
        return np.empty(0)
    low, high = float(values.min()), float(values.max())
    width = (high - low) / bin_num
    points = np.append(low + width * np.arange(1, bin_num), high)
    return _distinct(points)


def _distinct(points: np.ndarray) -> np.ndarray:
    """Sorted points without repeats (keeps the first of equal neighbours, as FATE's de-duplication)."""
    keep = np.ones(points.size, dtype=bool)
    keep[1:] = np.diff(points) > 0
    return points[keep]


def split_points(matrix: np.ndarray, bin_num: int, method: str = QUANTILE) -> list[np.ndarray]:
    """The split points of every column of ``matrix`` (rows x columns)."""
    find = quantile_points if method == QUANTILE else bucket_points
    return [find(matrix[:, j], bin_num) for j in range(matrix.shape[1])]


def bin_column(column: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The bin of each value: index of the first point ``>= value`` among all but the last point (so the
    maximum and anything above fall in the last bin); NaN gets ``len(points)``."""
    if points.size == 0:
        return np.zeros(column.shape, dtype=np.int32)
    bins = np.searchsorted(points[:-1], column, side="left").astype(np.int32)
    bins[np.isnan(column)] = points.size
    return bins


def bin_matrix(matrix: np.ndarray, points: list[np.ndarray]) -> np.ndarray:
    """``bin_column`` over every column: an int32 matrix of bin indices, same shape as ``matrix``."""
    out = np.empty(matrix.shape, dtype=np.int32)
    for j, column_points in enumerate(points):
        out[:, j] = bin_column(matrix[:, j], column_points)
    return out


def woe_iv(event: np.ndarray, non_event: np.ndarray, adjustment_factor: float = 0.5) -> dict[str, object]:
    """FATE's WOE and IV of one column from its per-bin event and non-event counts (§6.3): a bin with no
    events or no non-events gets ``adjustment_factor`` added to both before the rates are taken."""
    event = np.asarray(event, dtype=np.float64)
    non_event = np.asarray(non_event, dtype=np.float64)
    total_event = event.sum() or 1.0
    total_non_event = non_event.sum() or 1.0
    adjust = (event == 0) | (non_event == 0)
    event_rate = np.where(adjust, (event + adjustment_factor) / total_event, event / total_event)
    non_event_rate = np.where(adjust, (non_event + adjustment_factor) / total_non_event,
                              non_event / total_non_event)
    woe = np.log(event_rate / non_event_rate)
    iv_array = (event_rate - non_event_rate) * woe
    return {"woe_array": woe.tolist(), "iv_array": iv_array.tolist(), "iv": float(iv_array.sum()),
            "event_count_array": event.astype(int).tolist(), "non_event_count_array": non_event.astype(int).tolist(),
            "event_rate_array": event_rate.tolist(), "non_event_rate_array": non_event_rate.tolist(),
            "is_woe_monotonic": bool(np.all(np.diff(woe) >= 0) or np.all(np.diff(woe) <= 0))}


# -- additions for the binning components (HeteroFeatureBinning, HomoFeatureBinning) ------------------------------
OPTIMAL = "optimal"
MERGE_METRICS = ("iv", "gini", "chi_square")


def category_points(column: np.ndarray) -> np.ndarray:
    """A categorical column's split points: its sorted distinct values (NaN left out), so ``bin_column``
    gives each value the index of its category."""
    return np.unique(column[~np.isnan(column)])


def bin_label_counts(bins: np.ndarray, onehot: np.ndarray, n_bins: int) -> np.ndarray:
    """Per-bin label counts of one column: ``(n_bins, labels)``, row ``b`` the sum of the one-hot labels of
    the samples in bin ``b`` (``bins`` as ``bin_column`` gives them)."""
    counts = np.zeros((n_bins, onehot.shape[1]), dtype=np.int64)
    np.add.at(counts, bins, onehot.astype(np.int64))
    return counts


def _bucket_iv(event: np.ndarray, non_event: np.ndarray, event_total: float, non_event_total: float,
               adjustment_factor: float) -> np.ndarray:
    """FATE's per-bucket IV term (the same adjusted rates as ``woe_iv``), vectorised over buckets."""
    adjust = (event == 0) | (non_event == 0)
    er = np.where(adjust, event + adjustment_factor, event) / max(event_total, 1.0)
    nr = np.where(adjust, non_event + adjustment_factor, non_event) / max(non_event_total, 1.0)
    return (er - nr) * np.log(er / nr)


def _bucket_gini(event: np.ndarray, non_event: np.ndarray) -> np.ndarray:
    total = event + non_event
    with np.errstate(divide="ignore", invalid="ignore"):
        gini = 1.0 - (event / total) ** 2 - (non_event / total) ** 2
    return np.where(total > 0, gini, 0.0)


def _merge_scores(event: np.ndarray, non_event: np.ndarray, metric: str, event_total: float,
                  non_event_total: float, adjustment_factor: float) -> np.ndarray:
    """The score of merging each adjacent pair (i, i+1): the pair with the lowest score merges first (FATE's
    heap nodes): iv, the IV lost; gini, the impurity gained; chi_square, the pair's chi-square statistic."""
    le, re_ = event[:-1], event[1:]
    ln, rn = non_event[:-1], non_event[1:]
    me, mn = le + re_, ln + rn
    total = me + mn
    if metric == "iv":
        ivs = _bucket_iv(event, non_event, event_total, non_event_total, adjustment_factor)
        merged = _bucket_iv(me, mn, event_total, non_event_total, adjustment_factor)
        score = ivs[:-1] + ivs[1:] - merged
    elif metric == "gini":
        ginis = _bucket_gini(event, non_event)
        score = _bucket_gini(me, mn) - ginis[:-1] - ginis[1:]
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            lt, rt = (le + ln) / total, (re_ + rn) / total
            chi = ((le - lt * me) ** 2 / (lt * me) + (ln - lt * mn) ** 2 / (lt * mn)
                   + (re_ - rt * me) ** 2 / (rt * me) + (rn - rt * mn) ** 2 / (rt * mn))
        score = np.where((me == 0) | (mn == 0), -np.inf, np.nan_to_num(chi, nan=0.0))
    return np.where(total == 0, -np.inf, score)


def optimal_merge(event: np.ndarray, non_event: np.ndarray, bin_num: int, metric: str, mixture: bool = True,
                  min_bin_pct: float = 0.05, max_bin_pct: float = 1.0, adjustment_factor: float = 0.5) -> list[int]:
    """Optimal binning by bottom-up merging (FATE's iv / gini / chi_square): adjacent initial buckets (given by
    their event and non-event counts) merge, lowest merge score first, in FATE's stages: while a bucket lacks
    one of the classes (``mixture``), while a bucket is under ``min_bin_pct`` of the samples, then until at
    most ``bin_num`` remain; no merge makes a bucket above ``max_bin_pct`` of the samples (except the last
    stage, which must reach ``bin_num``). Returns the indices of the initial buckets whose right bound is kept
    as a split point (the last bucket's always)."""
    event = np.asarray(event, dtype=np.float64)
    non_event = np.asarray(non_event, dtype=np.float64)
    if event.size == 0:
        return []
    count = float(event.sum() + non_event.sum())
    event_total, non_event_total = float(event.sum()), float(non_event.sum())
    max_items = math.floor(max_bin_pct * count)
    min_items = math.ceil(min_bin_pct * count)
    right = np.arange(event.size)  # each current bucket's rightmost initial bucket

    def merge_while(allowed: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray], enough: Callable[[], bool],
                    capped: bool = True) -> None:
        nonlocal event, non_event, right
        while event.size > 1 and not enough():
            totals = event + non_event
            score = _merge_scores(event, non_event, metric, event_total, non_event_total, adjustment_factor)
            ok = allowed(event, non_event, totals)
            if capped:
                ok &= (totals[:-1] + totals[1:]) <= max_items
            if not ok.any():
                return
            pair = int(np.argmin(np.where(ok, score, np.inf)))
            event = np.concatenate([event[:pair], [event[pair] + event[pair + 1]], event[pair + 2:]])
            non_event = np.concatenate([non_event[:pair], [non_event[pair] + non_event[pair + 1]],
                                        non_event[pair + 2:]])
            right = np.delete(right, pair)

    def unmixed(e: np.ndarray, n: np.ndarray) -> np.ndarray:
        return (e == 0) | (n == 0)

    if mixture:
        merge_while(lambda e, n, t: unmixed(e, n)[:-1] & unmixed(e, n)[1:], lambda: not unmixed(event, non_event).any())
        merge_while(lambda e, n, t: unmixed(e, n)[:-1] | unmixed(e, n)[1:], lambda: not unmixed(event, non_event).any())
    def small(totals: np.ndarray) -> np.ndarray:
        return totals < min_items

    merge_while(lambda e, n, t: small(t)[:-1] & small(t)[1:], lambda: not small(event + non_event).any())
    merge_while(lambda e, n, t: small(t)[:-1] | small(t)[1:], lambda: not small(event + non_event).any())
    merge_while(lambda e, n, t: np.ones(t.size - 1, dtype=bool), lambda: event.size <= bin_num)
    return [int(r) for r in right]


def ks_split(event: np.ndarray, non_event: np.ndarray, bin_num: int, min_bin_pct: float = 0.05) -> list[int]:
    """Optimal binning by KS (FATE's top-down splitting): starting from one bin over all initial buckets,
    repeatedly split the bin whose best cut (between initial buckets) has the largest KS, where both sides keep
    at least ``min_bin_pct`` of the samples, until ``bin_num`` bins. Returns the kept right-bound indices."""
    event = np.asarray(event, dtype=np.float64)
    non_event = np.asarray(non_event, dtype=np.float64)
    if event.size == 0:
        return []
    total = event + non_event
    min_items = math.ceil(min_bin_pct * total.sum())
    cum_e, cum_n, cum_t = np.cumsum(event), np.cumsum(non_event), np.cumsum(total)
    event_total, non_event_total = max(cum_e[-1], 1.0), max(cum_n[-1], 1.0)
    cuts: list[int] = [event.size - 1]
    segments = [(0, event.size - 1)]
    while len(cuts) < bin_num:
        best: tuple[float, int, int] | None = None
        for index, (lo, hi) in enumerate(segments):
            if hi <= lo:
                continue
            base_e = cum_e[lo - 1] if lo else 0.0
            base_n = cum_n[lo - 1] if lo else 0.0
            base_t = cum_t[lo - 1] if lo else 0.0
            points = np.arange(lo, hi)
            left_t = cum_t[points] - base_t
            right_t = cum_t[hi] - cum_t[points]
            ks = np.abs((cum_e[points] - base_e) / event_total - (cum_n[points] - base_n) / non_event_total)
            ks = np.where((left_t >= min_items) & (right_t >= min_items), ks, -1.0)
            at = int(np.argmax(ks))
            if ks[at] > 0 and (best is None or ks[at] > best[0]):
                best = (float(ks[at]), index, int(points[at]))
        if best is None:
            break
        _, index, cut = best
        lo, hi = segments.pop(index)
        segments[index:index] = [(lo, cut), (cut + 1, hi)]
        cuts.append(cut)
    return sorted(cuts)


# -- additions for HomoFeatureBinning: federated order statistics on counts ---------------------------------------
_LOW_BITS = np.int64(0x7FFFFFFFFFFFFFFF)
KEY_LOW, KEY_HIGH = np.iinfo(np.int64).min, np.iinfo(np.int64).max  # keys of NaNs only: below/above every value


def float_keys(values: np.ndarray) -> np.ndarray:
    """Order-preserving int64 keys of float64 values: ``a < b`` iff ``key(a) < key(b)`` (finite values; -0.0
    sorts just below 0.0). A negative float's bits other than the sign are flipped, so that a larger
    magnitude gives a smaller key."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.int64)
    return np.where(bits < 0, bits ^ _LOW_BITS, bits)


def key_floats(keys: np.ndarray) -> np.ndarray:
    """The float64 values of ``float_keys`` keys (its inverse)."""
    keys = np.ascontiguousarray(keys, dtype=np.int64)
    return np.where(keys < 0, keys ^ _LOW_BITS, keys).view(np.float64)


def key_midpoints(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``floor((low + high) / 2)`` of int64 keys without overflow."""
    return (low >> 1) + (high >> 1) + (low & high & 1)


def quantile_ranks(count: int, bin_num: int) -> np.ndarray:
    """The ranks (1-based) ``quantile_points`` reads off ``count`` sorted values: ``ceil(i / bin_num * count)``
    for ``i = 1 .. bin_num - 1`` (at least 1), then ``count``; none for no values."""
    if count <= 0:
        return np.empty(0, dtype=np.int64)
    ranks = [max(1, math.ceil(i / bin_num * count)) for i in range(1, bin_num)] + [count]
    return np.asarray(ranks, dtype=np.int64)


def virtual_summary_points(grid: np.ndarray, ranks: np.ndarray, count: int, bin_num: int,
                           float_zero: float = 1e-8) -> np.ndarray:
    """FATE's virtual-summary split points of one column: ``grid`` are query values (ascending), ``ranks``
    how many values are ``<=`` each; the value at rank ``int(q * count)`` for ``q = 1/bin_num .. 1`` is
    interpolated linearly between the grid values around it (the last grid value past the end), distinct."""
    targets = [int(i / bin_num * count) for i in range(1, bin_num)] + [count]
    points = []
    for rank in targets:
        at = int(np.searchsorted(ranks, rank, side="left"))
        if at >= len(ranks) - 1:
            points.append(float(grid[-1]))
        elif abs(grid[at + 1] - grid[at]) < float_zero or abs(ranks[at + 1] - ranks[at]) < float_zero:
            points.append(float(grid[at]))
        else:
            share = (rank - ranks[at]) / (ranks[at + 1] - ranks[at])
            points.append(float(grid[at] + (grid[at + 1] - grid[at]) * share))
    return np.asarray(sorted(set(points)), dtype=np.float64)
