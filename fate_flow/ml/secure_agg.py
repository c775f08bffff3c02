"""Secure aggregation: the arbiter learns the (weighted) sum of the clients' vectors and nothing else.

The clients are the job's guests and hosts, the server is the arbiter (FATE's homo setting). At the start
of a session every client makes a fresh X25519 key pair and sends its public key to the arbiter, which
relays the list to every client (it learns public keys only, so it cannot compute any pair's secret).
Clients i and j agree a secret by Diffie-Hellman, HKDF turns it into a 256-bit seed bound to the session,
and AES-256-CTR expands the seed into one mask per aggregation (the CTR nonce is the aggregation's number,
so every mask is fresh). Client i sends ``encode(x_i) + sum_{j>i} mask_ij - sum_{j<i} mask_ji`` with
``encode`` a fixed-point integer modulo 2^64: each masked vector is uniformly distributed on its own, and
the masks cancel *exactly* in the sum (float masks would leak through rounding, and could not cancel).

FedAvg weights: the clients first sum their sample counts the same way (the arbiter learns the total,
never one count), then each sends its vector already multiplied by ``count / total``, so the sum the
arbiter unmasks is the weighted mean.

The threat model is FATE's: an honest-but-curious arbiter. An arbiter that substituted public keys
could mount a man-in-the-middle attack; with signed party-to-party calls it would still have to be one
of the job's parties to try.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fate_flow.errors import ComponentError
from fate_flow.framework.context import Context
from fate_flow.framework.federation import Parties

FRACTION_BITS = 32  # fixed-point precision: 2^-32 (about 2.3e-10) per client
# |value| bound, so that every client's encoding and the sum of the weighted values fit a signed 64-bit integer
MAX_ABS = float(2 ** (62 - FRACTION_BITS))
KEY_BYTES = 32  # an X25519 public key
SEED_INFO = b"fate_flow secure aggregation v1"
Party = tuple[str, str]


# -- fixed point ------------------------------------------------------------------------------------------------
def encode(values: np.ndarray, fraction_bits: int = FRACTION_BITS) -> np.ndarray:
    """``values`` as fixed-point integers modulo 2^64 (two's complement in ``uint64``); ComponentError when a
    value is not finite or too large to be summed without wrapping."""
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ComponentError("secure aggregation: a value to aggregate is NaN or infinite (the model diverged; "
                             "lower learning_rate)")
    if values.size and float(np.max(np.abs(values))) >= MAX_ABS:
        raise ComponentError(f"secure aggregation: a value to aggregate exceeds {MAX_ABS:g} in magnitude "
                             "(the model diverged; lower learning_rate)")
    return np.rint(values * float(2 ** fraction_bits)).astype(np.int64).view(np.uint64)


def decode(encoded: np.ndarray, fraction_bits: int = FRACTION_BITS) -> np.ndarray:
    """The floats a fixed-point vector (or a sum of them) stands for."""
    return np.asarray(encoded, dtype=np.uint64).view(np.int64).astype(np.float64) / float(2 ** fraction_bits)


def modular_sum(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """The sum of ``uint64`` vectors modulo 2^64 (numpy's unsigned addition wraps, which is what we want)."""
    total = np.zeros_like(np.asarray(vectors[0], dtype=np.uint64))
    for vector in vectors:
        total += np.asarray(vector, dtype=np.uint64)
    return total


# -- pairwise masks ---------------------------------------------------------------------------------------------
def new_private_key() -> X25519PrivateKey:
    """A fresh key pair for one aggregation session (never reused: keys are per job, component and session)."""
    return X25519PrivateKey.generate()


def public_bytes(key: X25519PrivateKey) -> bytes:
    """The 32 raw bytes of ``key``'s public key, as they travel."""
    return key.public_key().public_bytes_raw()


def pair_seed(private_key: X25519PrivateKey, own_public: bytes, peer_public: bytes, session: bytes) -> bytes:
    """The seed two clients share: HKDF-SHA256 of their X25519 secret, bound to both public keys (in a fixed
    order, so both derive the same) and to the session."""
    secret = private_key.exchange(X25519PublicKey.from_public_bytes(peer_public))
    low, high = sorted((own_public, peer_public))
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=session, info=SEED_INFO + low + high).derive(secret)


def expand(seed: bytes, stream: int, size: int) -> np.ndarray:
    """``size`` pseudo-random ``uint64`` from ``seed``: AES-256-CTR keystream with the 128-bit counter block
    starting at ``stream * 2^64``, so streams never overlap (a stream would need 2^64 blocks to run into the
    next one)."""
    if not 0 <= stream < 2 ** 64:
        raise ValueError("stream must be in [0, 2^64)")
    nonce = stream.to_bytes(8, "big") + bytes(8)
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(nonce)).encryptor()
    return np.frombuffer(encryptor.update(bytes(8 * size)) + encryptor.finalize(), dtype="<u8").astype(np.uint64)


@dataclass(frozen=True)
class PairwiseMasks:
    """Client ``index``'s seeds shared with each other client; ``mask`` adds this client's share of masks
    that cancel over all clients: ``+mask`` towards every higher index, ``-mask`` towards every lower one."""

    index: int
    seeds: dict[int, bytes]

    @classmethod
    def agree(cls, index: int, private_key: X25519PrivateKey, public_keys: Sequence[bytes],
              session: bytes) -> PairwiseMasks:
        """The seeds of client ``index`` with every other client of ``public_keys`` (index order)."""
        own = public_keys[index]
        seeds = {peer: pair_seed(private_key, own, key, session)
                 for peer, key in enumerate(public_keys) if peer != index}
        return cls(index, seeds)

    def mask(self, encoded: np.ndarray, stream: int) -> np.ndarray:
        """``encoded`` (fixed point, ``uint64``) plus this client's masks of aggregation ``stream``."""
        masked = np.array(encoded, dtype=np.uint64).reshape(-1)
        for peer, seed in self.seeds.items():
            noise = expand(seed, stream, masked.size)
            if peer > self.index:
                masked += noise
            else:
                masked -= noise
        return masked.reshape(np.shape(encoded))


def check_public_keys(keys: object, count: int) -> list[bytes]:
    """The relayed public keys, checked: ``count`` distinct 32-byte strings."""
    if not isinstance(keys, list | tuple) or len(keys) != count:
        raise ComponentError(f"secure aggregation: expected {count} public keys")
    keys = [bytes(k) if isinstance(k, bytes | bytearray | memoryview) else k for k in keys]
    if any(not isinstance(k, bytes) or len(k) != KEY_BYTES for k in keys):
        raise ComponentError("secure aggregation: a public key is not 32 bytes")
    if len(set(keys)) != count:
        raise ComponentError("secure aggregation: two clients sent the same public key")
    return keys


# -- the protocol over a task's context -------------------------------------------------------------------------
def client_parties(roles: dict[str, list[str]]) -> list[Party]:
    """The clients, in the order every party derives alike: the guests, then the hosts, as the job lists them."""
    return [(role, str(party_id)) for role in ("guest", "host") for party_id in roles.get(role, [])]


def _session_salt(ctx: Context) -> bytes:
    return f"{ctx.job_id}/{ctx.component_name}/{ctx.tag}".encode()


class AggregationClient:
    """A client's side of one session (opened at ``ctx``, its own sub-context): ``mean`` returns the weighted
    mean over all clients of the vectors they pass, weighted by their ``sample_count``."""

    def __init__(self, ctx: Context, sample_count: float):
        clients = client_parties(ctx.roles)
        me = (ctx.role, ctx.party_id)
        if me not in clients:
            raise ComponentError(f"secure aggregation runs at the guest and hosts, not at {ctx.role}")
        if len(clients) < 2:
            raise ComponentError("secure aggregation needs at least two clients (a guest and a host): "
                                 "with one, the aggregate is that client's own model")
        self._ctx = ctx
        self._stream = 0
        setup = ctx.child("secure_agg", "setup")
        key = new_private_key()
        own = public_bytes(key)
        setup.arbiter.put("public_key", own)
        keys = check_public_keys(setup.arbiter.get("public_keys"), len(clients))
        index = clients.index(me)
        if keys[index] != own:
            raise ComponentError("secure aggregation: the arbiter relayed another key in this client's place")
        self._masks = PairwiseMasks.agree(index, key, keys, _session_salt(ctx))
        self.total_count = float(self._sum(setup, "sample_count", np.array([float(sample_count)]))[0])
        if self.total_count <= 0:
            raise ComponentError("secure aggregation: the clients hold no samples")
        self.fraction = float(sample_count) / self.total_count

    def mean(self, ctx: Context, name: str, values: np.ndarray) -> np.ndarray:
        """The weighted mean of every client's ``values`` under ``name`` at ``ctx`` (all clients call it in
        the same order with vectors of one shape)."""
        return self._sum(ctx, name, np.asarray(values, dtype=np.float64) * self.fraction)

    def _sum(self, ctx: Context, name: str, values: np.ndarray) -> np.ndarray:
        stream = self._stream
        self._stream += 1
        ctx.arbiter.put(name, self._masks.mask(encode(values), stream))
        total = np.asarray(ctx.arbiter.get(f"{name}_sum"), dtype=np.float64)
        if total.shape != np.shape(values):
            raise ComponentError(f"secure aggregation: the arbiter returned {name} of shape {total.shape}")
        return total


class AggregationServer:
    """The arbiter's side of one session (opened at ``ctx``): ``sum`` unmasks the sum of what the clients sent,
    returns it and sends it back to them. It never holds one client's vector in the clear."""

    def __init__(self, ctx: Context):
        self._clients = client_parties(ctx.roles)
        if len(self._clients) < 2:
            raise ComponentError("secure aggregation needs at least two clients (a guest and a host)")
        setup = ctx.child("secure_agg", "setup")
        keys = check_public_keys(self._at(setup).get("public_key"), len(self._clients))
        self._at(setup).put("public_keys", keys)
        self.total_count = float(self.sum(setup, "sample_count")[0])

    def _at(self, ctx: Context) -> Parties:
        return Parties(ctx.exchange, ctx.tag, self._clients)

    def broadcast(self, ctx: Context, name: str, value: object) -> None:
        """Send ``value`` (a decision, such as whether training converged) to every client at ``ctx``."""
        self._at(ctx).put(name, value)

    def sum(self, ctx: Context, name: str) -> np.ndarray:
        """The sum of the clients' vectors ``name`` at ``ctx`` (their weighted mean, as clients pre-weight)."""
        parties = self._at(ctx)
        masked = parties.get(name)
        shapes = {np.shape(m) for m in masked}
        if len(shapes) != 1 or any(not isinstance(m, np.ndarray) or m.dtype != np.uint64 for m in masked):
            raise ComponentError(f"secure aggregation: the clients sent {name} of different shapes or types "
                                 f"({sorted(shapes)}): do they have the same features?")
        total = decode(modular_sum(masked))
        parties.put(f"{name}_sum", total)
        return total
