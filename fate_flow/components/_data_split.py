"""The data splits' runner: which samples go to train, validate and test, as FATE 1.11 decides it.

FATE sorts the ids, then splits twice with scikit-learn's ``train_test_split``: all ids into train and
"the rest" (test + validate sizes), then the rest into validate and test (their sizes made relative to each
other). A fractional split keeps ``round(train fraction * n)`` rows for its first part. The draws here are
the same as scikit-learn's for the same ``random_state`` (a seeded ``RandomState``: one permutation, or per
class an apportionment by largest remainder, ties broken at random, then a permutation of each class and of
each part), so a FATE user gets the very split FATE gave; without ``random_state`` the split is fresh each run.
Stratification uses the label, or with ``split_points`` the label's bin (``bisect_left`` over the sorted
points; a missing label in the last bin).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from fate_flow.components._data_ops import ids_from_wire, ids_to_wire
from fate_flow.components.data_split import FLOAT_ZERO, DataSplitParams
from fate_flow.framework import ComponentError, Context, Table

PARTS = ("train", "validate", "test")
ROUND = 3


@dataclass
class Part:
    """One part of the split: positions into the sorted ids, and their strata (labels or bins) if any."""

    rows: np.ndarray
    strata: np.ndarray | None


# -- runners ------------------------------------------------------------------------------------------------------
def run_hetero(ctx: Context) -> None:
    """Guest: split and send each part's ids to the hosts. Host: split its rows by the guest's ids."""
    table = ctx.inputs.first("data")
    if ctx.role == "guest":
        parts, strata_info = _split_table(ctx, table)
        for name, ids in zip(PARTS, parts, strict=True):
            ctx.hosts.put(f"id_{name}", ids_to_wire(ids))
        _finish(ctx, table, parts, strata_info)
        return
    parts = [ids_from_wire(ctx.guest.get(f"id_{name}"), f"{name} ids") for name in PARTS]
    _finish(ctx, table, parts, None)


def run_homo(ctx: Context) -> None:
    """Every party splits its own rows."""
    table = ctx.inputs.first("data")
    parts, strata_info = _split_table(ctx, table)
    _finish(ctx, table, parts, strata_info)


def _finish(ctx: Context, table: Table, parts: list[np.ndarray], label_info: dict[str, Any] | None) -> None:
    """Write the parts (each in the table's row order), the metric and the summary."""
    outputs = ctx.outputs
    for index, ids in enumerate(parts[:len(outputs.names)]):
        outputs[index].write(table.filter_sids(ids))
    counts = {name: len(ids) for name, ids in zip(PARTS, parts, strict=True)}
    summary = count_info(counts, ctx.params.stratified)
    if label_info is not None:
        summary["data_split_label_info"] = label_info
    ctx.metrics.scalars("train", "data_split", {"data_split": 0}, metric_type="DATA_SPLIT", **summary)
    ctx.summary(summary)
    ctx.logger.info("%s: %s", ctx.component_name, counts)


def count_info(counts: dict[str, int], stratified: bool) -> dict[str, Any]:
    """FATE's count and ratio info (ratios rounded to 3 places)."""
    original = sum(counts.values())
    ratios = {name: round(count / original, ROUND) if original else 0.0 for name, count in counts.items()}
    return {"data_split_count_info": {**counts, "original": original}, "data_split_ratio_info": ratios,
            "stratified": stratified}


# -- the split ----------------------------------------------------------------------------------------------------
def _split_table(ctx: Context, table: Table) -> tuple[list[np.ndarray], dict[str, Any] | None]:
    """The ids of each part, and the label info FATE reports when stratified."""
    params: DataSplitParams = ctx.params
    sids = np.asarray(table.sids()).astype(str)
    ids = np.sort(sids)
    strata = _strata(ctx, table, sids, params) if params.stratified else None
    try:
        train, validate, test = split(len(ids), strata, params)
    except ValueError as exc:
        raise ComponentError(f"{ctx.component_name}: {exc}") from None
    parts = [ids[part.rows] for part in (train, validate, test)]
    info = label_info([train.strata, validate.strata, test.strata], params.split_points) if strata is not None else None
    return parts, info


def _strata(ctx: Context, table: Table, sids: np.ndarray, params: DataSplitParams) -> np.ndarray:
    """The stratum of each id in sorted-id order: its label, or its label's bin with ``split_points``."""
    if not table.schema.label:
        raise ComponentError(f"{ctx.component_name}: stratified needs a label column (DataTransform with_label)")
    labels = np.asarray(table.column(table.schema.label))[np.argsort(sids, kind="stable")]
    if params.split_points:
        values = labels.astype(np.float64)
        bins = np.searchsorted(np.sort(np.asarray(params.split_points, dtype=np.float64)), values, side="left")
        return np.where(np.isnan(values), len(params.split_points) + 1, bins)
    return labels


def split(count: int, strata: np.ndarray | None, params: DataSplitParams) -> tuple[Part, Part, Part]:
    """Train, validate and test positions among ``count`` sorted ids (ValueError for sizes that cannot be met)."""
    train_size, validate_size, test_size = params.resolved_sizes(count)
    everything = Part(np.arange(count), strata)
    train, rest = _two_way(everything, rest_size=test_size + validate_size, first_size=train_size, params=params)
    validate_share, test_share = _relative(validate_size, test_size)
    validate, test = _two_way(rest, rest_size=test_share, first_size=validate_share, params=params)
    return train, validate, test


def _relative(first: int | float, second: int | float) -> tuple[int | float, int | float]:
    """Two sizes relative to their sum (kept as they are when both are row counts)."""
    if isinstance(first, int) and isinstance(second, int):
        return first, second
    total = first + second

    def share(size: float) -> float:
        return min(size / total, 1.0) if total > FLOAT_ZERO else 0.0

    return share(first), share(second)


def _two_way(whole: Part, rest_size: int | float, first_size: int | float,
             params: DataSplitParams) -> tuple[Part, Part]:
    """``whole`` into a first part and the rest, as FATE calls ``train_test_split``."""
    empty = Part(whole.rows[:0], None if whole.strata is None else whole.strata[:0])
    if rest_size <= FLOAT_ZERO:
        return whole, empty
    if first_size <= FLOAT_ZERO:
        return empty, whole
    count = len(whole.rows)
    if isinstance(rest_size, int):
        n_rest = rest_size
        n_first = first_size if isinstance(first_size, int) else math.floor(first_size * count)
    else:
        n_first = round(first_size * count)
        n_rest = count - n_first
    _check_counts(count, n_first, n_rest)
    first, rest = draw(count, n_first, n_rest, params.shuffle, params.random_state,
                       whole.strata if params.stratified else None)
    return _take(whole, first), _take(whole, rest)


def _take(part: Part, positions: np.ndarray) -> Part:
    return Part(part.rows[positions], None if part.strata is None else part.strata[positions])


def _check_counts(count: int, n_first: int, n_rest: int) -> None:
    for name, n in (("the first part", n_first), ("the second part", n_rest)):
        if not 0 < n < count:
            raise ValueError(f"cannot split {count} rows with {name} of {n} rows (check train_size, validate_size "
                             "and test_size against the data's size)")
    if n_first + n_rest > count:
        raise ValueError(f"the parts ({n_first} + {n_rest} rows) exceed the data's {count} rows")


def draw(count: int, n_first: int, n_rest: int, shuffle: bool, seed: int | None,
         strata: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the first part and of the rest, drawn as scikit-learn's train_test_split draws them."""
    if not shuffle:
        if strata is not None:
            raise ValueError("a stratified split needs shuffle (set shuffle true or stratified false)")
        return np.arange(n_first), np.arange(n_first, n_first + n_rest)
    random = np.random.RandomState(seed)
    if strata is None:
        order = random.permutation(count)
        return order[n_rest:n_rest + n_first], order[:n_rest]
    return _stratified(strata, n_first, n_rest, random)


def _stratified(strata: np.ndarray, n_first: int, n_rest: int,
                random: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    classes, inverse, sizes = np.unique(strata, return_inverse=True, return_counts=True)
    if sizes.min() < 2:
        raise ValueError(f"stratified: the classes {classes[sizes < 2].tolist()} have a single sample (at least "
                         "2 per class are needed)")
    for name, n in (("first", n_first), ("second", n_rest)):
        if n < len(classes):
            raise ValueError(f"stratified: the {name} part's {n} rows cannot hold the {len(classes)} classes")
    members = np.split(np.argsort(inverse.reshape(-1), kind="stable"), np.cumsum(sizes)[:-1])
    first_per_class = _apportion(sizes, n_first, random)
    rest_per_class = _apportion(sizes - first_per_class, n_rest, random)
    firsts, rests = [], []
    for index, rows in enumerate(members):
        shuffled = rows[random.permutation(sizes[index])]
        taken = first_per_class[index]
        firsts.append(shuffled[:taken])
        rests.append(shuffled[taken:taken + rest_per_class[index]])
    return random.permutation(np.concatenate(firsts)), random.permutation(np.concatenate(rests))


def _apportion(sizes: np.ndarray, draws: int, random: np.random.RandomState) -> np.ndarray:
    """``draws`` shared among the classes in proportion to ``sizes``: floors first, then one more for the
    largest remainders (ties broken at random)."""
    shares = sizes / sizes.sum() * draws
    taken = np.floor(shares)
    missing = int(draws - taken.sum())
    if missing > 0:
        remainders = shares - taken
        for value in np.sort(np.unique(remainders))[::-1]:
            (candidates,) = np.where(remainders == value)
            now = min(len(candidates), missing)
            taken[random.choice(candidates, size=now, replace=False)] += 1
            missing -= now
            if missing == 0:
                break
    return taken.astype(int)


# -- what FATE reports ----------------------------------------------------------------------------------------------
def label_info(strata: list[np.ndarray | None], split_points: list[float] | None) -> dict[str, Any]:
    """Each part's class (or bin) frequencies, every class listed (0 when absent), as FATE's label info."""
    values = [[_plain(v) for v in (s if s is not None else [])] for s in strata]
    continuous = bool(split_points)
    every = list(range(len(split_points) + 1)) if continuous else sorted(set().union(*map(set, values)), key=_order)

    def frequencies(part: list[Any]) -> dict[str, int]:
        counted = Counter(part)
        return {str(k): int(counted.get(k, 0)) for k in sorted(set(every) | set(counted), key=_order)}

    info: dict[str, Any] = {"original": frequencies([v for part in values for v in part])}
    info.update({name: frequencies(part) for name, part in zip(PARTS, values, strict=True)})
    if continuous:
        info.update(split_points=sorted(split_points), continuous_label=True)
    else:
        info.update(label_names=every, continuous_label=False)
    return info


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _order(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))
