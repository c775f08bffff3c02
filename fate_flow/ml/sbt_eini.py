"""FATE's EINI inference for hetero SecureBoost: prediction without the guest learning which leaf a sample
reaches. The guest sends each leaf's contribution encrypted under a fresh key; each host keeps those of the
leaves its own splits allow; the last host sums them per sample, so exactly one leaf per tree survives."""

from __future__ import annotations

import secrets

import numpy as np

from fate_flow.errors import ComponentError
from fate_flow.ml.paillier import EncryptedVector, PublicKey, generate_keypair, key_proof, prepare_blinding
from fate_flow.ml.tree import FLOAT_ZERO, LEFT, TreeArrays

EINI_COMPLEXITY = 10 ** 9  # FATE's EINI_TREE_COMPLEXITY: the least number of leaf combinations a host accepts


def reachable_leaves(tree: TreeArrays, leaves: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Rows x leaves: the leaves each sample can reach when this party follows its own splits and takes both
    branches at the other parties' (node ids grow downwards, so one pass over the ids settles every node)."""
    reach = np.zeros((len(x), len(tree.is_leaf)), dtype=bool)
    reach[:, 0] = True
    for nid in range(len(tree.is_leaf)):
        here = reach[:, nid]
        if tree.is_leaf[nid] or tree.left[nid] < 0 or not here.any():
            continue
        if tree.own[nid]:
            values = x[:, tree.fid[nid]]
            left = np.where(np.isnan(values), tree.missing_dir[nid] == LEFT,
                            values <= tree.threshold[nid] + FLOAT_ZERO)
        else:
            left = np.ones(len(x), dtype=bool)
        reach[:, tree.left[nid]] |= here & left
        reach[:, tree.right[nid]] |= here & (~left if tree.own[nid] else True)
    return reach[:, leaves]


def guest_eini(ctx, trees: list[TreeArrays], leaves: list[np.ndarray], values: list[np.ndarray],
               dims: list[int], tree_dim: int, x: np.ndarray, key_length: int, cores: int) -> np.ndarray:
    """FATE's EINI inference at the guest: each leaf's contribution (``values``, 0 where the guest's own splits
    rule the leaf out) goes encrypted under a fresh key to the first host; the last host returns, per sample
    and class dimension, the encrypted sum over the leaves its splits allow; exactly one leaf per tree
    survives both, so the decrypted sums are the raw scores (rows x tree_dim)."""
    public, private = generate_keypair(key_length)
    contributions = np.hstack([reachable_leaves(t, ids, x) * v[None, :] for t, ids, v in
                               zip(trees, leaves, values, strict=True)])
    encrypted = private.encrypt(contributions.ravel(), cores)
    first, last = ctx.hosts[0], ctx.hosts[len(ctx.hosts) - 1]
    first.put("eini_leaves", {"public_key": public.to_wire(), "key_proof": key_proof.prove(private),
                              "dims": np.asarray(dims, dtype=np.int64), "tree_dim": tree_dim,
                              "values": encrypted.to_wire()})
    try:
        merged = EncryptedVector.from_wire(public, last.get("eini_merged"))
    except ValueError as exc:
        raise ComponentError(f"the last host sent a bad EINI result: {exc}") from exc
    if len(merged) != len(x) * tree_dim:
        raise ComponentError("the last host's EINI result has the wrong length")
    return private.decrypt(merged, cores).reshape(len(x), tree_dim)


def host_eini(ctx, trees: list[TreeArrays], leaves: list[np.ndarray], x: np.ndarray, random_mask: bool,
              complexity_check: bool, cores: int) -> None:
    """A host's part of EINI: keep the encrypted contributions of the leaves its own splits allow (fresh
    encryptions of 0 elsewhere, everything rerandomised) and pass them on; the last host sums them per sample
    and class dimension (times a random factor in [1, 2) with ``EINI_random_mask``, as FATE) for the guest."""
    hosts = ctx.roles.get("host", [])
    index = hosts.index(ctx.party_id)
    if complexity_check and _eini_complexity(trees) < EINI_COMPLEXITY:
        raise ComponentError("EINI_complexity_check: the model's trees are too simple for EINI to hide the "
                             "host's splits (fewer than 1e9 leaf combinations)")
    source = ctx.guest if index == 0 else ctx.parties("host")[index - 1]
    message = source.get("eini_leaves")
    public, encrypted, dims, tree_dim = _eini_message(message, x, leaves)
    prepare_blinding(public, cores)  # keep() and the merged sums are rerandomized uniformly
    reach = np.hstack([reachable_leaves(t, ids, x) for t, ids in zip(trees, leaves, strict=True)]).ravel()
    kept = encrypted.keep(reach, cores)
    if index < len(hosts) - 1:
        ctx.parties("host")[index + 1].put("eini_leaves", {**message, "values": kept.to_wire()})
        return
    width = sum(len(ids) for ids in leaves)
    columns = [np.concatenate([np.arange(len(ids)) + sum(len(i) for i in leaves[:t])
                               for t, ids in enumerate(leaves) if dims[t] == d] or [np.empty(0, np.int64)])
               for d in range(tree_dim)]
    groups = [row * width + columns[d][reach[row * width + columns[d]]] for row in range(len(x))
              for d in range(tree_dim)]
    merged = kept.group_sums(groups)
    if random_mask:
        merged = merged * float(1 + secrets.randbelow(1 << 30) / (1 << 30))
    ctx.guest.put("eini_merged", merged.rerandomize_uniform(cores).to_wire())


def _eini_message(message: object, x: np.ndarray, leaves: list[np.ndarray]
                  ) -> tuple[PublicKey, EncryptedVector, list[int], int]:
    if not isinstance(message, dict) or set(message) != {"public_key", "key_proof", "dims", "tree_dim", "values"}:
        raise ComponentError("a malformed EINI message")
    try:  # the merged sums go back under this key: its proof shows gcd(n, phi(n)) = 1 (ml.paillier.key_proof)
        public = key_proof.verified_key(message["public_key"], message["key_proof"])
        encrypted = EncryptedVector.from_wire(public, message["values"])
    except ValueError as exc:
        raise ComponentError(f"a bad EINI message: {exc}") from exc
    dims, tree_dim = message["dims"], message["tree_dim"]
    if (not isinstance(dims, np.ndarray) or dims.shape != (len(leaves),) or dims.dtype.kind != "i"
            or isinstance(tree_dim, bool) or not isinstance(tree_dim, int) or not 1 <= tree_dim <= 1000
            or (len(dims) and (dims.min() < 0 or dims.max() >= tree_dim))
            or len(encrypted) != len(x) * sum(len(ids) for ids in leaves)):
        raise ComponentError("an EINI message that does not fit the model and the data")
    return public, encrypted, dims.tolist(), tree_dim


def _eini_complexity(trees: list[TreeArrays]) -> int:
    """FATE's measure: over the trees with a split of this host, the product of the leaves under its splits."""
    total = 1
    for tree in trees:
        under = np.zeros(len(tree.is_leaf), dtype=bool)
        for nid in range(len(tree.is_leaf)):
            if not tree.is_leaf[nid] and tree.left[nid] >= 0 and (tree.own[nid] or under[nid]):
                under[tree.left[nid]] = under[tree.right[nid]] = True
        count = int((under & tree.is_leaf).sum())
        if tree.own.any():
            total *= max(count, 1)
    return total
