"""HeteroSecureBoost at a host: answer the guest's trees with encrypted histograms and split decisions
(``fate_flow.ml.hetero_sbt``), keep its own thresholds, walk samples at predict, cross-validate."""

from __future__ import annotations

import numpy as np

from fate_flow.components._sbt_common import aligned, criterion_of, leaf_ids, model_name, party_data
from fate_flow.framework import ComponentError, Context
from fate_flow.ml.hetero_sbt import HostGrower, PartyData, choose_features, host_walk
from fate_flow.ml.paillier import key_proof, prepare_blinding
from fate_flow.ml.sbt_eini import host_eini
from fate_flow.ml.tree import Tree


def _host_fit(ctx: Context, x: np.ndarray, warm: list[Tree] | None, validate_x: np.ndarray | None
              ) -> tuple[list[Tree], PartyData]:
    setup = ctx.guest.get("setup")
    if not isinstance(setup, dict) or set(setup) != {"public_key", "key_proof", "tree_dim"}:
        raise ComponentError("the guest sent a malformed setup")
    try:  # the histograms go back under this key: its proof shows gcd(n, phi(n)) = 1 (ml.paillier.key_proof)
        public = key_proof.verified_key(setup["public_key"], setup["key_proof"])
    except ValueError as exc:
        raise ComponentError(f"the guest sent a bad public key: {exc}") from exc
    tree_dim = setup["tree_dim"]
    if isinstance(tree_dim, bool) or not isinstance(tree_dim, int) or not 1 <= tree_dim <= 1000:
        raise ComponentError("the guest sent a bad tree_dim")
    prepare_blinding(public, ctx.cores)  # what the histograms go back with, made while the guest encrypts
    params = ctx.params
    data = party_data(ctx, x)
    grower = HostGrower(data, criterion_of(params), params.use_missing_values, ctx.party_id, public, ctx.cores)
    trees = list(warm or [])
    own = f"host:{ctx.party_id}"
    if warm is not None:
        host_walk(ctx.child("warm", 0), [t.arrays(own) for t in trees], x)
    rng = np.random.default_rng(params.random_seed)
    seen = 0
    for epoch in range(len(trees) // tree_dim, 1 << 20):
        round_ctx = ctx.child("round", epoch)
        message = round_ctx.guest.get("round")
        if not isinstance(message, dict) or not isinstance(message.get("go"), bool):
            raise ComponentError("the guest sent a malformed round")
        if not message["go"]:
            break
        for dim in range(tree_dim):
            chosen = choose_features(data.features, params.subsample_feature_rate, rng)
            trees.append(grower.grow(round_ctx.child("dim", dim), chosen))
        if message.get("validate"):
            if validate_x is None:
                raise ComponentError("the guest validates on data this host was not given")
            host_walk(round_ctx.child("validate", 0), [t.arrays(own) for t in trees[seen:]], validate_x)
            seen = len(trees)
    ctx.child("round", "end").guest.put("importance", _host_importance_of(ctx, trees, data.features))
    grower.timings.log(ctx, "host")
    ctx.logger.info("secureboost histograms (host): %d rows summed from ciphertexts for layers of %d rows "
                    "(the rest by histogram subtraction)", grower.summed_rows, grower.layer_rows)
    return trees, data


def _host_importance_of(ctx: Context, trees: list[Tree], features: int) -> dict[str, int]:
    """Splits per feature of this host, under its anonymous names (what the guest may learn)."""
    counts = np.zeros(features, dtype=np.int64)
    own = f"host:{ctx.party_id}"
    for tree in trees:
        for node in tree.nodes:
            if node.sitename == own and node.fid >= 0:
                counts[node.fid] += 1
    return {_anonymous(ctx, i): int(c) for i, c in enumerate(counts) if c}


def _anonymous(ctx: Context, index: int) -> str:
    return f"host_{ctx.party_id}_x{index}"


def host_train(ctx: Context) -> None:
    """Train: answer the guest for every tree, save the trees with this host's thresholds."""
    train = ctx.inputs.first("train_data", "data")
    x = aligned(ctx, "train_order", train)
    validate_x = None
    if ctx.guest.get("has_validate"):
        validate = ctx.inputs.get("validate_data")
        validate_x = aligned(ctx, "validate_order", validate if validate is not None else train)
    warm = _load_host_trees(ctx) if ctx.models.available() else None
    trees, _ = _host_fit(ctx, x, warm, validate_x)
    header = list(train.schema.header)
    importance = _host_importance_of(ctx, trees, len(header))
    own = f"host:{ctx.party_id}"
    host_walk(ctx.child("predict", "train"), [t.arrays(own) for t in trees], x)
    if validate_x is not None:
        host_walk(ctx.child("predict", "validate"), [t.arrays(own) for t in trees], validate_x)
    counts = {header[int(k.rsplit("x", 1)[1])]: v for k, v in importance.items()}
    ctx.models.save(param={
        "tree_num": len(trees), "trees_": [t.to_dict() for t in trees], "model_name": model_name(ctx.params),
        "feature_name_fid_mapping": {str(i): name for i, name in enumerate(header)},
        "anonymous_name_mapping": {_anonymous(ctx, i): name for i, name in enumerate(header)},
        "feature_importances": [{"sitename": "hostLocal", "fid": header.index(name), "fullname": name,
                                 "importance": v, "importance2": 0.0, "main": "split"}
                                for name, v in sorted(counts.items(), key=lambda kv: -kv[1])],
        "header": header, "best_iteration": -1, "tree_plan": []},
        meta={"module": ctx.module, "params": ctx.params.model_dump(mode="json")})
    ctx.summary({"best_iteration": -1, "feature_importance": counts})


def _load_host_trees(ctx: Context) -> list[Tree]:
    try:
        return [Tree.from_dict(t) for t in ctx.models.load().param["trees_"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ComponentError(f"the model is not a HeteroSecureBoost host model: {exc}") from exc


def host_predict(ctx: Context) -> None:
    """Predict: move the guest's samples through this host's nodes (or EINI's encrypted leaves)."""
    trees = _load_host_trees(ctx)
    table = ctx.inputs.first("test_data", "data", "validate_data")
    x = aligned(ctx, "predict_order", table)
    arrays = [t.arrays(f"host:{ctx.party_id}") for t in trees]
    params = ctx.params
    if params.EINI_inference:
        host_eini(ctx.child("predict", "eini"), arrays, [leaf_ids(t) for t in trees], x, params.EINI_random_mask,
                  params.EINI_complexity_check, ctx.cores)
    else:
        host_walk(ctx.child("predict", "test"), arrays, x)


def host_cv(ctx: Context) -> None:
    """Cross-validation: a fit per fold the guest names, then the held-out rows walked."""
    table = ctx.inputs.first("train_data", "data")
    x_all = aligned(ctx, "cv_order", table)
    parts = ctx.guest.get("folds")
    if not isinstance(parts, list):
        raise ComponentError("the guest sent bad folds")
    for index, held_out in enumerate(parts):
        held_out = np.asarray(held_out, dtype=np.int64)
        if held_out.ndim != 1 or (held_out < 0).any() or (held_out >= len(x_all)).any():
            raise ComponentError("the guest sent bad folds")
        kept = np.setdiff1d(np.arange(len(x_all)), held_out)
        fold_ctx = ctx.child("fold", index)
        trees, _ = _host_fit(fold_ctx, x_all[kept], None, None)
        host_walk(fold_ctx.child("predict", "test"), [t.arrays(f"host:{ctx.party_id}") for t in trees],
                  x_all[held_out])
