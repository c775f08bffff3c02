"""Intersection caches (FATE's ``run_cache`` and a ``cache`` input): the half of a protocol that depends
only on the host's ids is done once and kept, and later intersections with the same host reuse it.

``run_cache`` (rsa, dh, ecdh), per host, as FATE:
- the host makes its key, sends a fresh cache id and what the protocol has it send about its own ids (dh,
  ecdh: E_b(H(h)); rsa: its public key and F(sign(H(h)))), and keeps its key and its ids in that order;
- the guest keeps the cache id and what it derives from them (dh, ecdh: its key and E_a(E_b(H(h))); rsa:
  the host's public key and signed ids).
A later task given that cache checks the cache ids match, takes the method's settings (hash, salt, keys)
from it, and runs only the guest's half. The caches hold secret keys (as FATE's do): they are written with
the task's model files.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from fate_flow.components.intersection import commutative, rsa
from fate_flow.components.intersection.ciphers import ModpCipher, X25519Cipher
from fate_flow.components.intersection.commutative import Outcome
from fate_flow.errors import ComponentError

Cache = tuple[dict[str, Any], dict[str, np.ndarray]]


def pack_texts(values: np.ndarray) -> dict[str, np.ndarray]:
    """Texts as numeric arrays (model files hold numbers): UTF-8 bytes and end offsets."""
    encoded = [str(v).encode("utf-8") for v in values]
    return {"ids_utf8": np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(),
            "ids_end": np.cumsum([len(e) for e in encoded], dtype=np.int64)}


def unpack_texts(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The texts ``pack_texts`` packed."""
    blob, ends = arrays["ids_utf8"].tobytes(), arrays["ids_end"].tolist()
    starts = [0, *ends[:-1]]
    return np.array([blob[a:b].decode("utf-8") for a, b in zip(starts, ends, strict=True)], dtype=object)


def method_meta(params: Any) -> dict[str, Any]:
    """FATE's intersect_meta: the method and the settings both halves must share."""
    method = params.intersect_method
    if method == "rsa":
        p = params.rsa_params
        return {"intersect_method": "rsa", "hash_method": p.hash_method, "final_hash_method": p.final_hash_method,
                "salt": p.salt, "random_bit": p.random_bit}
    if method == "dh":
        p = params.dh_params
        return {"intersect_method": "dh", "hash_method": p.hash_method, "salt": p.salt, "key_length": p.key_length}
    p = params.ecdh_params
    return {"intersect_method": "ecdh", "hash_method": p.hash_method, "salt": p.salt, "curve": p.curve}


def _cipher(meta: dict[str, Any], key: str | None = None) -> Any:
    if meta["intersect_method"] == "dh":
        return ModpCipher(meta["key_length"], meta["hash_method"], meta["salt"],
                          exponent=int(key) if key is not None else None)
    return X25519Cipher(meta["hash_method"], meta["salt"], scalar=bytes.fromhex(key) if key is not None else None)


# -- making a cache -----------------------------------------------------------------------------------------------
def generate(ctx: Any, params: Any, ids: np.ndarray) -> Cache:
    """This party's half of a cache (``run_cache``)."""
    meta = method_meta(params)
    method = meta["intersect_method"]
    if ctx.role == "host":
        cache_id = str(uuid.uuid4())
        ctx.guest.put("cache_id", cache_id)
        if method == "rsa":
            key = rsa.PrivateKey.generate(params.rsa_params.key_length)
            sent = rsa.send_key_and_signed_ids(ctx, params.rsa_params, ids, key)
            secret = {name: str(value) for name, value in key.to_json().items()}
        else:
            cipher = _cipher(meta)
            sent = commutative.send_own(ctx, cipher, ids)
            secret = {"key": cipher.key_text()}
        return {"cache_id": cache_id, "intersect_meta": meta, "intersect_key": secret}, pack_texts(sent)
    hosts = ctx.roles.get("host", [])
    cache_ids = dict(zip(hosts, ctx.hosts.get("cache_id"), strict=True))
    if method == "rsa":
        keys = rsa.host_keys(ctx)
        signed = rsa.host_signed_ids(ctx, rsa.digest_width(params.rsa_params.final_hash_method))
        secret = {party: {"e": str(k.e), "n": str(k.n)} for party, k in zip(hosts, keys, strict=True)}
    else:
        cipher = _cipher(meta)
        signed = commutative.host_ciphertexts_twice(ctx, cipher)
        secret = {"key": cipher.key_text()}
    arrays = {f"host_{party}": rows for party, rows in zip(hosts, signed, strict=True)}
    return {"cache_ids": cache_ids, "intersect_meta": meta, "intersect_key": secret}, arrays


# -- using one -----------------------------------------------------------------------------------------------------
def _checked_meta(ctx: Any, params: Any, cache: Any) -> dict[str, Any]:
    meta = dict(cache.param.get("intersect_meta") or {})
    if meta.get("intersect_method") != params.intersect_method:
        raise ComponentError(f"{ctx.component_name}: intersect_method {params.intersect_method!r} must match the "
                             f"cache's {meta.get('intersect_method')!r}")
    return meta


def _exchange_cache_ids(ctx: Any, cache: Any) -> None:
    """Both sides show the cache id they hold; a mismatch (caches of different runs) fails the task."""
    if ctx.role == "host":
        mine = cache.param.get("cache_id")
        ctx.guest.put("cache_id", mine)
        theirs = [ctx.guest.get("cache_id")]
        expected = [mine]
    else:
        ids = cache.param.get("cache_ids") or {}
        expected = [ids.get(party) for party in ctx.roles.get("host", [])]
        for host, cache_id in zip(ctx.hosts, expected, strict=True):
            host.put("cache_id", cache_id)
        theirs = ctx.hosts.get("cache_id")
    if any(e is None or e != t for e, t in zip(expected, theirs, strict=True)):
        raise ComponentError(f"{ctx.component_name}: the cache ids of guest and host do not match "
                             "(the caches come from different runs)")


def run_with(ctx: Any, params: Any, ids: np.ndarray, cache: Any) -> Outcome:
    """The intersection using a cache made earlier (only the guest's half of the protocol runs)."""
    meta = _checked_meta(ctx, params, cache)
    _exchange_cache_ids(ctx, cache)
    secret, method = cache.param.get("intersect_key") or {}, meta["intersect_method"]
    options = {"sync": params.sync_intersect_ids, "cardinality": False, "sync_cardinality": False}
    try:
        if ctx.role == "host":
            sent = unpack_texts(cache.arrays)
            if method == "rsa":
                key = rsa.PrivateKey.from_json({name: int(value) for name, value in secret.items()})
                return rsa.host(ctx, _rsa_params(params, meta), ids, preprocess=None, cached=(key, sent), **options)
            return commutative.host(ctx, _cipher(meta, secret["key"]), ids, hosts=len(ctx.roles.get("host", [])),
                                    cached_ids=sent, **options)
        hosts = ctx.roles.get("host", [])
        lists = [cache.arrays[f"host_{party}"] for party in hosts]
        if method == "rsa":
            keys = [rsa.PublicKey.from_wire({"e": int(secret[p]["e"]), "n": int(secret[p]["n"])}) for p in hosts]
            return rsa.guest(ctx, _rsa_params(params, meta), ids, preprocess=None, cached=(keys, lists), **options)
        return commutative.guest(ctx, _cipher(meta, secret["key"]), ids, cached_twice=lists, **options)
    except (KeyError, TypeError, ValueError) as exc:
        raise ComponentError(f"{ctx.component_name}: the cache is incomplete for this job's parties: {exc}") from None


def _rsa_params(params: Any, meta: dict[str, Any]) -> Any:
    """rsa_params with the cache's hash settings (FATE's load_intersect_meta)."""
    return params.rsa_params.model_copy(update={k: meta[k] for k in ("hash_method", "final_hash_method", "salt",
                                                                       "random_bit")})
