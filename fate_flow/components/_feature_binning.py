"""HeteroFeatureBinning's runner at the guest and the hosts (FATE 1.11, docs/fate-secureboost-1.11.md §6).

Fit: each party finds the split points of its bin columns (quantile, bucket, optimal, or the manual ones) and
takes the sorted distinct values of its category columns as theirs. The guest counts its labels per bin and
computes WOE/IV (one-vs-rest per label when there are more than two). For the hosts' columns:

1. the guest packs each sample's one-hot label into one integer (label ``l`` in its own bit field, as wide as
   that label's count, so no field can carry into the next), encrypts it with a fresh Paillier key and sends
   the ciphertexts with its sample ids to every host;
2. a host bins its columns and multiplies the ciphertexts of each (column, bin) together (the encrypted sum
   of the packed labels), rerandomises the sums (so the guest cannot tell which of its ciphertexts went into
   which bin) and sends them under its anonymous column names ``host_<party>_x<i>``, never its split points;
3. the guest decrypts, unpacks the per-label counts and computes the host columns' WOE/IV. A host binning
   with ``optimal`` bins with ``init_bin_nums`` quantiles; the guest merges those buckets and sends back which
   bucket bounds to keep (indices, not values).

A stage with a ``model`` input bins other data with the model's split points; labelled data at the guest
gets the statistics again (``transform_*`` in the model), as FATE does.

Output data: the transform columns replaced by their bin index (``bin_num``) or their bin's WOE (``woe``,
guest only), or unchanged (``transform_type`` null).

This module holds the runner and the federated exchange above; the plan, labels and split points are in
``_binning_plan``, the statistics, summary, transform and model tables in ``_binning_model``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fate_flow.components._binning_cipher import encrypt_packed, encrypted_bin_sums, pack, pack_widths, unpack
from fate_flow.components._binning_model import (
    MODEL_NAME,
    HostResult,
    guest_param,
    hosts_of,
    label_results,
    load_plan,
    local_counts,
    merge_summaries,
    model_meta,
    summary_of,
    transform_results,
    transform_table,
    woe_of,
)
from fate_flow.components._binning_plan import (
    Labels,
    Plan,
    fit_points,
    optimal_bucket_indices,
    plan_from_params,
    read_labels,
)
from fate_flow.components._data_ops import ids_from_wire, ids_to_wire
from fate_flow.components._tables import float_matrix, positions_of
from fate_flow.components.feature_binning import FeatureBinningParams
from fate_flow.framework import PREDICT, ComponentError, Context, Table
from fate_flow.ml import binning
from fate_flow.ml.paillier import EncryptedVector, PrivateKey, PublicKey, generate_keypair, key_proof, prepare_blinding

MAX_HOST_BINS = 1 << 20  # bins a host may report in total: far above any real binning, bounds the decryption


# -- the guest -----------------------------------------------------------------------------------------------------
def _guest_federated(ctx: Context, params: FeatureBinningParams, table: Table, labels: Labels,
                     fitting: bool) -> list[HostResult]:
    public, private = generate_keypair(params.encrypt_param.key_length)
    widths = pack_widths(labels.counts)
    bound = (1 << sum(widths)) - 1
    encrypted = encrypt_packed(private, pack(labels.onehot, widths), bound, ctx.cores)
    ctx.hosts.put("encrypted_label", {"public_key": public.to_wire(), "key_proof": key_proof.prove(private),
                                      "labels": encrypted.to_wire(), "sample_ids": ids_to_wire(table.sids())})
    results = []
    host_ids = ctx.roles.get("host", [])
    for index, sent in enumerate(ctx.hosts.get("encrypted_bin_sum")):
        party = str(host_ids[index]) if index < len(host_ids) else str(index)
        counts, category, method, optimal = _host_counts(ctx, sent, public, private, widths, labels, party)
        if fitting and method == binning.OPTIMAL:
            counts = _host_optimal(ctx, params, index, counts, category, optimal, labels)
        results.append(HostResult(party, label_results(counts, labels, params.adjustment_factor, "host", party,
                                                       None)))
    return results


def _host_counts(ctx: Context, sent: Any, public: PublicKey, private: PrivateKey, widths: list[int],
                 labels: Labels, party: str) -> tuple[dict[str, np.ndarray], list[str], str, dict[str, Any]]:
    """A host's per-bin label counts, decrypted; everything it sent checked first."""
    what = f"{ctx.component_name}: host {party} sent"
    if not isinstance(sent, dict) or not {"columns", "bin_nums", "sums", "category_names", "bin_method",
                                          "optimal_params"} <= set(sent):
        raise ComponentError(f"{what} a malformed binning result")
    columns, bin_nums = sent["columns"], sent["bin_nums"]
    if (not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
            or len(set(columns)) != len(columns) or not isinstance(bin_nums, list)
            or len(bin_nums) != len(columns)
            or not all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in bin_nums)
            or sum(bin_nums) > MAX_HOST_BINS):
        raise ComponentError(f"{what} bad column names or bin counts")
    category = sent["category_names"]
    if not isinstance(category, list) or not set(category) <= set(columns):
        raise ComponentError(f"{what} category names that are not among its columns")
    if sent["bin_method"] not in (binning.QUANTILE, binning.BUCKET, binning.OPTIMAL):
        raise ComponentError(f"{what} an unknown binning method")
    try:
        sums = EncryptedVector.from_wire(public, sent["sums"])
    except (ValueError, OverflowError) as exc:
        raise ComponentError(f"{what} bad encrypted sums: {exc}") from None
    if len(sums) != sum(bin_nums) or sums.exponent != 0:
        raise ComponentError(f"{what} {len(sums)} encrypted sums for {sum(bin_nums)} bins")
    plain = private.decrypt_integers(sums.ciphertexts, ctx.cores)
    if any(value >> sum(widths) for value in plain):
        raise ComponentError(f"{what} a sum beyond any count of the labels (a wrong or corrupted ciphertext)")
    counts = unpack(plain, widths)
    out, start = {}, 0
    for name, size in zip(columns, bin_nums, strict=True):
        column = counts[start:start + size]
        start += size
        if not np.array_equal(column.sum(axis=0), labels.counts):
            raise ComponentError(f"{what} bin sums of {name!r} that do not add up to the label counts")
        out[name] = column
    return out, list(category), sent["bin_method"], sent["optimal_params"]


def _host_optimal(ctx: Context, params: FeatureBinningParams, index: int, counts: dict[str, np.ndarray],
                  category: list[str], optimal: Any, labels: Labels) -> dict[str, np.ndarray]:
    """Optimal binning of a host's columns from its bucket counts; tells the host which bucket bounds stay."""
    settings = _host_optimal_settings(ctx, optimal)
    if len(labels.values) != 2:
        raise ComponentError(f"{ctx.component_name}: optimal binning needs a binary label")
    kept: dict[str, list[int]] = {}
    merged: dict[str, np.ndarray] = {}
    for name, column in counts.items():
        if name in category:
            merged[name] = column
            continue
        indices = optimal_bucket_indices(params, column[:, 0], column[:, 1], settings)
        kept[name] = indices
        bounds = np.concatenate([[-1], indices])
        merged[name] = np.stack([column[a + 1:b + 1].sum(axis=0) for a, b in zip(bounds[:-1], bounds[1:],
                                                                                   strict=True)])
    ctx.hosts[index].put("bucket_idx", kept)
    return merged


def _host_optimal_settings(ctx: Context, optimal: Any) -> dict[str, Any]:
    """A host's optimal-binning settings, checked."""
    try:
        settings = {"metric_method": str(optimal["metric_method"]).lower().replace("-", "_"),
                    "bin_num": int(optimal["bin_num"]), "mixture": bool(optimal["mixture"]),
                    "min_bin_pct": float(optimal["min_bin_pct"]), "max_bin_pct": float(optimal["max_bin_pct"])}
    except (TypeError, KeyError, ValueError):
        raise ComponentError(f"{ctx.component_name}: a host sent malformed optimal binning settings") from None
    if settings["metric_method"] not in (*binning.MERGE_METRICS, "ks") or settings["bin_num"] < 1:
        raise ComponentError(f"{ctx.component_name}: a host sent unknown optimal binning settings")
    return settings


# -- runner --------------------------------------------------------------------------------------------------------
def run(ctx: Context) -> None:
    """Fit or load the binning, compute the statistics, transform, write data, model and summary."""
    params: FeatureBinningParams = ctx.params
    table = ctx.inputs.first("data", "train_data", "test_data")
    if ctx.stage == PREDICT:
        plan, meta, param = load_plan(ctx, table)
        skip_static, local_only = bool(meta.get("skipStatic")), bool(meta.get("localOnly"))
    else:
        plan, meta, param = plan_from_params(ctx, table, params), None, None
        skip_static, local_only = params.skip_static, params.local_only
    if ctx.role == "guest":
        _guest(ctx, params, table, plan, skip_static, local_only, meta, param)
    else:
        _host(ctx, params, table, plan, meta, param)


def _guest(ctx: Context, params: FeatureBinningParams, table: Table, plan: Plan, skip_static: bool,
           local_only: bool, meta: dict[str, Any] | None, param: dict[str, Any] | None) -> None:
    fitting = meta is None
    x = float_matrix(table, plan.header)
    has_label = bool(table.schema.label)
    known = None if fitting else list(param["multiClassResult"]["labels"])
    stats = not skip_static and has_label
    labels = read_labels(ctx, table, known) if stats or (fitting and params.method == binning.OPTIMAL) else None
    if fitting:
        fit_points(ctx, plan, x, params, labels)
    federated = stats and not local_only and bool(ctx.roles.get("host"))
    ctx.hosts.put("plan", {"federated": federated})
    results: list[dict[str, Any]] = []
    hosts: list[HostResult] = []
    if stats:
        adjustment = params.adjustment_factor if fitting else float(meta.get("adjustmentFactor", 0.5))
        results = label_results(local_counts(plan, x, labels), labels, adjustment, "guest", ctx.party_id,
                                plan.points)
        if federated:
            hosts = _guest_federated(ctx, params, table, labels, fitting)
    label_values = labels.values if labels is not None else (known or [])
    if fitting:
        model_results, model_hosts = results, hosts
    else:
        model_results = param["multiClassResult"]["results"]
        model_hosts = hosts_of(param)
    woe = woe_of(model_results)
    ctx.outputs[0].write(transform_table(ctx, table, plan, x, woe))
    extra = {} if fitting else transform_results(results, hosts, label_values, ctx)
    ctx.models.save(param=guest_param(plan, model_results, model_hosts, label_values, ctx) | extra,
                    meta=model_meta(plan, params, meta))
    if results:
        summary = summary_of(results, label_values, None)
        for host in hosts:
            summary = merge_summaries(summary, summary_of(host.results, label_values, None))
        ctx.summary(summary)
    ctx.logger.info("%s: %d columns binned, %d hosts", ctx.component_name, len(plan.binned), len(hosts))


def _host(ctx: Context, params: FeatureBinningParams, table: Table, plan: Plan, meta: dict[str, Any] | None,
          param: dict[str, Any] | None) -> None:
    fitting = meta is None
    x = float_matrix(table, plan.header)
    if fitting:
        fit_points(ctx, plan, x, params, None)
    request = ctx.guest.get("plan")
    if not isinstance(request, dict) or not isinstance(request.get("federated"), bool):
        raise ComponentError(f"{ctx.component_name}: the guest sent a malformed binning plan")
    if request["federated"]:
        method = params.method if fitting else meta.get("method", binning.QUANTILE)
        _host_federated(ctx, params, table, plan, x, method, fitting)
    ctx.outputs[0].write(transform_table(ctx, table, plan, x, {}))
    results = [{"binningResult": {c: {"splitPoints": [float(p) for p in plan.points[c]],
                                      "binNums": len(plan.points[c])} for c in plan.binned},
                "role": "host", "partyId": str(ctx.party_id)}]
    ctx.models.save(param={"binningResult": results[0], "hostResults": [], "header": plan.header,
                           "headerAnonymous": plan.anonymous, "modelName": MODEL_NAME,
                           "multiClassResult": {"results": results, "labels": [], "hostResults": [],
                                                "hostPartyIds": [], "hasHostResult": False}},
                    meta=model_meta(plan, params, meta))
    ctx.summary({c: [float(p) for p in plan.points[c]] for c in plan.binned})


def _host_federated(ctx: Context, params: FeatureBinningParams, table: Table, plan: Plan, x: np.ndarray,
                    method: str, fitting: bool) -> None:
    """Sum the guest's encrypted labels per (column, bin); for optimal, keep the bounds the guest chose."""
    sent = ctx.guest.get("encrypted_label")
    if not isinstance(sent, dict) or set(sent) != {"public_key", "key_proof", "labels", "sample_ids"}:
        raise ComponentError(f"{ctx.component_name}: the guest sent malformed encrypted labels")
    try:  # the sums go back under this key: its proof shows gcd(n, phi(n)) = 1 (ml.paillier.key_proof)
        public = key_proof.verified_key(sent["public_key"], sent["key_proof"])
        labels = EncryptedVector.from_wire(public, sent["labels"])
        prepare_blinding(public, ctx.cores)  # what the sums go back with, made while they are summed
    except (ValueError, OverflowError) as exc:
        raise ComponentError(f"{ctx.component_name}: the guest sent bad encrypted labels: {exc}") from None
    order = ids_from_wire(sent["sample_ids"], "sample ids")
    if len(order) != len(labels) or labels.exponent != 0:
        raise ComponentError(f"{ctx.component_name}: the guest sent {len(labels)} encrypted labels for "
                             f"{len(order)} samples")
    rows = positions_of(table.sids(), order, f"{ctx.component_name}: the guest's samples")
    aligned = x[rows]
    columns, bin_nums, sums = [], [], []
    for column in plan.binned:
        n_points = len(plan.points[column])
        bins = plan.bins(aligned, plan.header, column)
        n_bins = n_points + 1 if (bins == n_points).any() and n_points else max(n_points, 1)
        columns.append(plan.anonymous_of(column))
        bin_nums.append(n_bins)
        sums.extend(encrypted_bin_sums(labels, bins, n_bins))
    try:
        vector = EncryptedVector(public, sums, 0, labels.bound * max(len(labels), 1)).rerandomize_uniform(
            ctx.cores)
    except OverflowError as exc:
        raise ComponentError(f"{ctx.component_name}: {exc}") from None
    optimal = params.optimal_binning_param
    ctx.guest.put("encrypted_bin_sum", {
        "columns": columns, "bin_nums": bin_nums, "sums": vector.to_wire(),
        "category_names": [plan.anonymous_of(c) for c in plan.category_cols], "bin_method": method,
        "optimal_params": {"metric_method": optimal.metric_method, "bin_num": params.bin_num,
                           "mixture": optimal.mixture, "max_bin_pct": optimal.max_bin_pct,
                           "min_bin_pct": optimal.min_bin_pct}})
    if fitting and method == binning.OPTIMAL:
        _keep_buckets(ctx, plan, ctx.guest.get("bucket_idx"))


def _keep_buckets(ctx: Context, plan: Plan, kept: Any) -> None:
    by_anonymous = {plan.anonymous_of(c): c for c in plan.bin_cols}
    if not isinstance(kept, dict) or not set(kept) <= set(by_anonymous):
        raise ComponentError(f"{ctx.component_name}: the guest sent bucket indices of unknown columns")
    for name, indices in kept.items():
        column = by_anonymous[name]
        points = plan.points[column]
        if (not isinstance(indices, list) or not indices
                or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(points) for i in indices)
                or indices != sorted(set(indices))):
            raise ComponentError(f"{ctx.component_name}: the guest sent bad bucket indices for {name}")
        plan.points[column] = points[indices]
