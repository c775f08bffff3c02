"""What the guest's and the hosts' HeteroSecureBoost runners share: the model names, the features as the
trees read them, the binning, the criterion, the guest's sample order and the round plan."""

from __future__ import annotations

import numpy as np

from fate_flow.framework import ComponentError, Context, Table
from fate_flow.ml.binning import split_points
from fate_flow.ml.hetero_sbt import PartyData
from fate_flow.ml.tree import Criterion, Tree, bin_with_missing
from fate_flow.ml.tree_plan import RoundPlan, tree_plan

MODEL_NAME = "hetero_sbt"


def features_of(ctx: Context, table: Table) -> np.ndarray:
    """The table's features as floats, zeros as missing (NaN) with ``zero_as_missing``."""
    x = table.features().astype(np.float64, copy=True)
    if ctx.params.zeros_are_missing:
        x[x == 0] = np.nan
    return x


def party_data(ctx: Context, x: np.ndarray, points: list[np.ndarray] | None = None) -> PartyData:
    """``x`` binned on ``points`` (by default its own ``bin_num`` quantile split points)."""
    points = points if points is not None else split_points(x, ctx.params.bin_num)
    return PartyData(bin_with_missing(x, points), points, ctx.params.bin_num)


def criterion_of(params) -> Criterion:
    """The split criterion of ``tree_param``."""
    tree = params.tree_param
    l2, l1 = tree.criterion_params
    return Criterion(l2=l2, l1=l1, min_impurity_split=tree.min_impurity_split, min_leaf_node=tree.min_leaf_node,
                     min_child_weight=tree.min_child_weight, min_sample_split=tree.min_sample_split)


def send_order(ctx: Context, name: str, table: Table) -> None:
    """The guest tells the hosts its sample order for ``name``."""
    ctx.hosts.put(name, [str(s) for s in table.sids()])


def aligned(ctx: Context, name: str, table: Table) -> np.ndarray:
    """This host's features in the guest's sample order."""
    order = ctx.guest.get(name)
    if not isinstance(order, list) or not all(isinstance(s, str) for s in order):
        raise ComponentError("the guest sent a bad sample order")
    position = {sid: i for i, sid in enumerate(table.sids().astype(str))}
    missing = [s for s in order if s not in position]
    if missing:
        raise ComponentError(f"{ctx.component_name}: {len(missing)} samples of the guest are not in this host's "
                             f"data (e.g. {missing[0]!r}); put an Intersection in front")
    rows = np.fromiter((position[s] for s in order), dtype=np.int64, count=len(order))
    return features_of(ctx, table.take(rows))


def max_depth(params) -> int:
    """FATE's layered strategy grows ``host_depth`` host layers then ``guest_depth`` guest layers."""
    return params.host_depth + params.guest_depth if params.strategy == "layered" else params.tree_param.max_depth


def model_name(params) -> str:
    """FATE's ``model_name`` for the boosting strategy."""
    return {"layered": "hetero_fast_sbt_layered", "mix": "hetero_fast_sbt_mix"}.get(params.strategy, MODEL_NAME)


def round_plan(ctx: Context) -> list[RoundPlan]:
    """Per round, whose features its trees use (the strategy's plan)."""
    params = ctx.params
    return tree_plan(params.strategy, params.num_trees, len(ctx.hosts.parties), params.tree_num_per_party,
                     params.complete_secure_trees)


def leaf_ids(tree: Tree) -> np.ndarray:
    """The ids of the tree's leaves, in node order."""
    return np.asarray([n.id for n in tree.nodes if n.is_leaf], dtype=np.int64)
