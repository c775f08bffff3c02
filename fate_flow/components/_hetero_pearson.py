"""HeteroPearson's runner (guest and host): local correlation and VIF, and the cross-party correlation.

Local part (each party alone, as FATE 1.11): the chosen columns are standardised with the population mean
and standard deviation; a column of zero deviation is left out and its row/column of every matrix is NaN;
``local_corr = Z^T Z / n`` clipped to [-1, 1]; VIF from the eigenvalues of the correlation matrix and of
its principal minors (FATE's formula, which tolerates a singular matrix).

Cross part (``cross_parties``), FATE's result (guest and host both get the guest x host matrix) without
SPDZ. The party with fewer standardised columns, A, holds the Paillier key (a tie: the host), the other is B:

1. guest -> host: the guest's sample order (the host aligns its rows to it; both hold the same ids after
   Intersection, anything else is refused). Both exchange the anonymous names of their columns and which of
   them have a deviation (FATE sends the same), so each knows the other's shape;
2. A -> B: a fresh 2048-bit public key and ``[[Z_A]]``, A's standardised columns encrypted (fresh randomness
   per value). B sees ciphertexts only: semantic security of Paillier hides ``Z_A``;
3. B computes ``[[Z_A^T Z_B]]`` homomorphically (``rmatmul``: B's plain matrix times A's ciphertexts) and
   rerandomizes them for the key's owner (A knows the randomness of its own columns:
   ``EncryptedVector.rerandomize_uniform``) and
   masks every value with a one-time additive mask uniform in the plaintext ring (``ml.masking.hide``); A
   decrypts the masked values (``reveal``), which are uniform whatever the products are, so A learns
   nothing; B removes the masks (``recover``, which refuses an answer outside the values' bounds);
4. B -> A: the cross correlation ``Z_A^T Z_B / n``, the result both parties keep (as FATE's).

Each party therefore learns its own data, the other's feature count, which of the other's columns are
constant, and the cross correlation matrix (the output); never the other's rows. Threat model: FATE's,
honest-but-curious parties (a key holder that sent crafted ciphertexts instead of its standardised columns
could learn products of B's columns with vectors of its choosing; SPDZ without MACs has the same limit).
``use_mix_rand`` (FATE: how SPDZ draws masks) changes nothing here: every mask comes from the OS CSPRNG.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fate_flow.components._tables import float_matrix, json_number, positions_of
from fate_flow.components.hetero_pearson import PearsonParams
from fate_flow.framework import ComponentError, Context, Table
from fate_flow.framework.federation import PartyHandle
from fate_flow.ml.masking import hide, recover, reveal
from fate_flow.ml.paillier import EncryptedVector, generate_keypair, key_proof, prepare_blinding

KEY_LENGTH = 2048
VIF_THRESHOLD = 1e-8  # FATE's: eigenvalues below it count as zero (a singular correlation matrix)
MAX_REMOTE_FEATURES = 100_000


@dataclass
class Local:
    """This party's chosen columns, standardised."""

    header: list[str]  # every feature of the table
    anonymous: list[str]  # FATE's anonymous name of every feature
    names: list[str]  # the chosen columns (FATE's order: ascending index)
    chosen: list[int]  # their indexes in the header
    kept: list[int]  # positions among ``names`` of the columns with a non-zero deviation
    z: np.ndarray  # rows x len(kept): the standardised kept columns
    rows: int


def run(ctx: Context) -> None:
    """Local correlation (and VIF), then the cross-party correlation when asked; save model and summary."""
    params: PearsonParams = ctx.params
    table = ctx.inputs.first("train_data", "data")
    if params.cross_parties:
        table = _aligned_rows(ctx, table)
    local = _standardised(ctx, table, params)
    local_corr = _embed(np.clip(local.z.T @ local.z / local.rows, -1.0, 1.0), local.kept, local.kept,
                        len(local.names))
    summary: dict[str, Any] = {"num_local_features": len(local.names), "local_corr": _jsonable(local_corr)}
    vif = _embed_vector(vif_from_corr(local_corr[np.ix_(local.kept, local.kept)]), local.kept, len(local.names)) \
        if params.calc_local_vif else None
    me = f"({ctx.role},{ctx.party_id})"
    if params.cross_parties:
        cross, parties, shapes, all_names = _cross(ctx, local)
        summary["num_remote_features"] = shapes[1] if ctx.role == "guest" else shapes[0]
        summary["corr"] = _jsonable(cross)
    else:
        cross, parties, shapes, all_names = None, [me], [len(local.names)], [local.names]
    ctx.models.save(param=_model_param(me, local, local_corr, vif, cross, parties, shapes, all_names),
                    meta={"shapes": shapes, "needRun": True})
    ctx.metrics.table("statistic", "correlation", metric_type="CORRELATION_GRAPH", title="pearson")
    ctx.summary(summary)
    ctx.logger.info("%s: correlation of %d local features%s", ctx.component_name, len(local.names),
                    f" and {summary['num_remote_features']} remote ones" if cross is not None else "")


# -- local ------------------------------------------------------------------------------------------------------
def _chosen(ctx: Context, header: list[str], params: PearsonParams) -> list[int]:
    """FATE's choice of columns: -1 all, else the named and the indexed ones, ascending; an unknown name or an
    index out of range is an error (as FATE's HeteroPearson, unlike the encoders)."""
    if params.column_indexes == -1:
        return list(range(len(header)))
    position = {name: index for index, name in enumerate(header)}
    chosen: set[int] = set()
    for name in params.column_names or []:
        if name not in position:
            raise ComponentError(f"{ctx.component_name}: feature name {name!r} is not in the data's header")
        chosen.add(position[name])
    for index in params.column_indexes or []:
        if not 0 <= index < len(header):
            raise ComponentError(f"{ctx.component_name}: column index {index} is out of the header's range "
                                 f"[0, {len(header)})")
        chosen.add(index)
    return sorted(chosen)


def _anonymous(ctx: Context, table: Table, header: list[str]) -> list[str]:
    """The schema's anonymous header when it has one of the right length, else FATE's ``<role>_<party>_x<i>``."""
    given = table.schema.extra.get("anonymous_header")
    if isinstance(given, list) and len(given) == len(header) and all(isinstance(a, str) for a in given):
        return list(given)
    return [f"{ctx.role}_{ctx.party_id}_x{index}" for index in range(len(header))]


def _standardised(ctx: Context, table: Table, params: PearsonParams) -> Local:
    header = list(table.schema.header)
    chosen = _chosen(ctx, header, params)
    if not chosen:
        raise ComponentError(f"{ctx.component_name}: no feature column to correlate")
    names = [header[i] for i in chosen]
    x = float_matrix(table, names)
    rows = len(x)
    if rows < 2:
        raise ComponentError(f"{ctx.component_name}: correlation needs at least 2 samples, the data has {rows}")
    if np.isnan(x).any():
        column = names[int(np.argmax(np.isnan(x).any(axis=0)))]
        raise ComponentError(f"{ctx.component_name}: feature {column!r} has missing values; fill them first "
                             "(DataTransform missing_fill or FeatureImputation)")
    mean = x.mean(axis=0)
    # FATE's population deviation from the raw moments; a tiny negative variance from rounding counts as zero
    sigma = np.sqrt(np.maximum((x * x).mean(axis=0) - mean ** 2, 0.0))
    kept = [int(i) for i in np.flatnonzero(sigma > 0)]
    if len(kept) < len(names):
        ctx.logger.warning("%s: zero standard deviation, left out (NaN correlation): %s", ctx.component_name,
                           [names[i] for i in range(len(names)) if i not in kept])
    z = (x[:, kept] - mean[kept]) / sigma[kept]
    return Local(header, _anonymous(ctx, table, header), names, chosen, kept, z, rows)


def vif_from_corr(corr: np.ndarray, threshold: float = VIF_THRESHOLD) -> np.ndarray:
    """FATE's VIF of each column from a correlation matrix: the product of the eigenvalues (absolute, the
    ``k`` below ``threshold`` of the whole matrix left out) of the matrix without the column, over that of the
    whole matrix; for a regular matrix the diagonal of its inverse."""
    size = corr.shape[0]
    if size == 0:
        return np.empty(0)
    if size == 1:
        return np.ones(1)
    eig = np.sort(np.abs(np.linalg.eigvalsh(corr)))
    drop = int(np.sum(eig < threshold))
    whole = np.prod(eig[drop:])
    vif = np.empty(size)
    for i in range(size):
        keep = np.arange(size) != i
        minor = np.sort(np.abs(np.linalg.eigvalsh(corr[np.ix_(keep, keep)])))
        vif[i] = np.prod(minor[drop:]) / whole
    return vif


def _embed(values: np.ndarray, rows: list[int], columns: list[int], shape0: int, shape1: int | None = None
           ) -> np.ndarray:
    """``values`` placed at ``rows`` x ``columns`` of a NaN matrix (the columns without deviation stay NaN)."""
    full = np.full((shape0, shape0 if shape1 is None else shape1), np.nan)
    full[np.ix_(rows, columns)] = values
    return full


def _embed_vector(values: np.ndarray, kept: list[int], size: int) -> np.ndarray:
    full = np.full(size, np.nan)
    full[kept] = values
    return full


# -- cross ------------------------------------------------------------------------------------------------------
def _peer(ctx: Context) -> PartyHandle:
    hosts = ctx.roles.get("host", [])
    if len(hosts) != 1 or len(ctx.roles.get("guest", [])) != 1:
        raise ComponentError(f"{ctx.component_name}: cross_parties needs exactly one guest and one host "
                             f"(the job has {len(hosts)} hosts); set cross_parties false otherwise")
    return ctx.hosts[0] if ctx.role == "guest" else ctx.guest


def _aligned_rows(ctx: Context, table: Table) -> Table:
    """Guest: sends its sample order. Host: its rows in that order (the same ids, or an error)."""
    peer = _peer(ctx)
    if ctx.role == "guest":
        peer.put("sample_order", [str(s) for s in table.sids()])
        return table
    order = peer.get("sample_order")
    if not isinstance(order, list) or not all(isinstance(s, str) for s in order):
        raise ComponentError(f"{ctx.component_name}: the guest's sample order is not a list of ids")
    if len(order) != table.count() or len(set(order)) != len(order):
        raise ComponentError(f"{ctx.component_name}: the guest has {len(order)} samples (distinct: "
                             f"{len(set(order))}), this host {table.count()}: put an Intersection in front")
    return table.take(positions_of(table.sids(), np.asarray(order), ctx.component_name))


def _check_names(ctx: Context, received: Any) -> tuple[list[str], list[int], int]:
    """The peer's anonymous names, kept positions and sample count, validated."""
    if not isinstance(received, dict) or set(received) != {"names", "kept", "rows"}:
        raise ComponentError(f"{ctx.component_name}: the other party sent malformed feature names")
    names, kept, rows = received["names"], received["kept"], received["rows"]
    if not isinstance(names, list) or not 0 < len(names) <= MAX_REMOTE_FEATURES \
            or not all(isinstance(n, str) for n in names):
        raise ComponentError(f"{ctx.component_name}: the other party's feature names are not a list of texts")
    if not isinstance(kept, list) or not all(isinstance(k, int) and not isinstance(k, bool) for k in kept) \
            or kept != sorted(set(kept)) or (kept and not 0 <= kept[0] <= kept[-1] < len(names)):
        raise ComponentError(f"{ctx.component_name}: the other party's kept columns are not ascending indexes "
                             f"of its {len(names)} features")
    if not isinstance(rows, int) or isinstance(rows, bool):
        raise ComponentError(f"{ctx.component_name}: the other party's sample count is not an int")
    return names, kept, rows


def _cross(ctx: Context, local: Local) -> tuple[np.ndarray, list[str], list[int], list[list[str]]]:
    """The guest x host correlation (NaN where a column has no deviation), parties, shapes, names."""
    _peer(ctx)  # exactly one guest and one host
    with ctx.sub("pearson", "names") as sub:
        handle = sub.hosts[0] if ctx.role == "guest" else sub.guest
        handle.put("anonymous", {"names": [local.anonymous[i] for i in local.chosen], "kept": local.kept,
                                 "rows": local.rows})
        remote_names, remote_kept, remote_rows = _check_names(ctx, handle.get("anonymous"))
    if remote_rows != local.rows:
        raise ComponentError(f"{ctx.component_name}: the other party holds {remote_rows} samples, this one "
                             f"{local.rows}")
    mine, theirs = len(local.kept), len(remote_kept)
    # the party with fewer columns encrypts them (fewer encryptions); a tie: the host
    i_hold_key = mine < theirs or (mine == theirs and ctx.role == "host")
    if mine == 0 or theirs == 0:
        product = np.empty((mine, theirs))  # nothing to correlate: every value NaN
    else:
        with ctx.sub("pearson", "product") as sub:
            handle = sub.hosts[0] if ctx.role == "guest" else sub.guest
            product = (_key_holder(ctx, handle, local.z, theirs) if i_hold_key
                       else _computer(ctx, handle, local.z, theirs).T)
    # ``product`` is mine x theirs; the model keeps guest rows x host columns
    if ctx.role == "guest":
        cross = _embed(product, local.kept, remote_kept, len(local.names), len(remote_names))
        all_names = [local.names, remote_names]
        shapes = [len(local.names), len(remote_names)]
    else:
        cross = _embed(product.T, remote_kept, local.kept, len(remote_names), len(local.names))
        all_names = [remote_names, local.names]
        shapes = [len(remote_names), len(local.names)]
    roles = ctx.roles
    parties = [f"(guest,{roles['guest'][0]})", f"(host,{roles['host'][0]})"]
    return cross, parties, shapes, all_names


def _key_holder(ctx: Context, peer: PartyHandle, z: np.ndarray, theirs: int) -> np.ndarray:
    """A: encrypt my columns, decrypt the masked products for B, receive the correlation (mine x theirs)."""
    public, private = generate_keypair(KEY_LENGTH)
    peer.put("public_key", public.to_wire())
    peer.put("key_proof", key_proof.prove(private))  # B sends products back under this key: gcd(n, phi(n)) = 1
    peer.put("columns", private.encrypt(z.T.reshape(-1), ctx.cores).to_wire())
    try:
        peer.put("unmasked", reveal(private, peer.get("masked_products"), ctx.cores))
    except ValueError as exc:
        raise ComponentError(f"{ctx.component_name}: the other party's masked products: {exc}") from exc
    corr = peer.get("corr")
    if not isinstance(corr, np.ndarray) or corr.dtype != np.float64 or corr.shape != (z.shape[1], theirs) \
            or not np.all(np.isfinite(corr)) or np.any(np.abs(corr) > 1.0):
        raise ComponentError(f"{ctx.component_name}: the other party sent no {z.shape[1]} x {theirs} "
                             "correlation matrix of values in [-1, 1]")
    return corr


def _computer(ctx: Context, peer: PartyHandle, z: np.ndarray, theirs: int) -> np.ndarray:
    """B: multiply A's encrypted columns by mine, have A decrypt them masked, unmask; send and return the
    correlation (theirs x mine)."""
    rows = len(z)
    try:
        public = key_proof.verified_key(peer.get("public_key"), peer.get("key_proof"))
        columns = EncryptedVector.from_wire(public, peer.get("columns"))
        prepare_blinding(public, ctx.cores)  # what the products go back with, made while they are computed
    except ValueError as exc:
        raise ComponentError(f"{ctx.component_name}: the other party's encrypted columns: {exc}") from exc
    if len(columns) != rows * theirs:
        raise ComponentError(f"{ctx.component_name}: the other party encrypted {len(columns)} values, not "
                             f"{theirs} columns of {rows} samples")
    products = EncryptedVector.concat([
        columns.take(np.arange(j * rows, (j + 1) * rows)).rmatmul(z, ctx.cores) for j in range(theirs)])
    # A made the columns and knows their randomness: without fresh randomness it could read residues of my
    # data in the products' randomness (ml.paillier.blinding)
    wire, secret = hide(public, products.rerandomize_uniform(ctx.cores))
    peer.put("masked_products", wire)
    try:
        plain = recover(public, secret, peer.get("unmasked"))
    except ValueError as exc:
        raise ComponentError(f"{ctx.component_name}: the other party's decryption: {exc}") from exc
    corr = np.clip(plain.reshape(theirs, z.shape[1]) / rows, -1.0, 1.0)
    peer.put("corr", corr)
    return corr


# -- model ------------------------------------------------------------------------------------------------------
def _jsonable(matrix: np.ndarray) -> list:
    """A matrix (or vector) as nested lists, NaN as None."""
    if matrix.ndim == 1:
        return [json_number(v) for v in matrix]
    return [[json_number(v) for v in row] for row in matrix]


def _model_param(me: str, local: Local, local_corr: np.ndarray, vif: np.ndarray | None, cross: np.ndarray | None,
                 parties: list[str], shapes: list[int], all_names: list[list[str]]) -> dict[str, Any]:
    """FATE's PearsonModelParam as JSON (camelCase, matrices flattened row-major, NaN as None)."""
    param: dict[str, Any] = {
        "party": me, "parties": parties, "shape": len(local.names), "shapes": shapes,
        "names": local.header, "localCorr": _jsonable(local_corr.reshape(-1)),
        "allNames": [{"names": list(names)} for names in all_names],
        "anonymousMap": [{"name": n, "anonymous": a} for n, a in zip(local.header, local.anonymous, strict=True)],
        "modelName": "HeteroPearson", "corr": [] if cross is None else _jsonable(cross.reshape(-1)),
        "localVif": [] if vif is None else _jsonable(vif)}
    return param
