"""Hetero LR and LinR with one host and no sample weights: each party encrypts under its own Paillier key.

Why: under the arbiter's key (``ml.hetero_linear``), the host encrypts its ``wx_h`` and the guest rerandomizes
the residual, row by row and batch by batch, with obfuscators made from a public key. A key's owner makes the
same obfuscators by CRT over its factors at well under half the cost (``ml.paillier.obfuscation``), so here
the guest and the host each make a fresh key pair per fit and encrypt under their own key only. The residual
is additive, ``d = host_factor * wx_h + e`` with ``e = guest_part(wx_g, y)``, and so is the loss:
``guest_loss + sum e * wx_h + host_loss_factor * sum wx_h^2`` summed over the batch (``ml.glm``).

Per batch, in the batch's sub-context:

- host -> guest ``forward``: ``[[wx_h]]_H`` (the host's key, fresh CRT obfuscators);
- guest -> host ``residual_part`` ``[[e]]_G`` and ``loss_part`` ``[[guest_loss]]_G`` (the guest's key, fresh
  CRT obfuscators); both parties encrypt at once;
- the guest's gradient: ``(host_factor X_g^T [[wx_h]]_H + X_g^T e) / n`` under the host's key;
- the host's: ``E = X_h^T [[e]]_G``, then ``(E + host_factor X_h^T wx_h) / n`` under the guest's key, and
  the loss ``(w_h . E + [[guest_loss]] + host_loss_factor sum wx_h^2) / n`` from the same ``E``
  (``w_h . E = sum e * wx_h``: no product over the rows of its own);
- each party rerandomizes what it computed with textbook ``r^n`` (``rerandomize_textbook``: its multipliers
  are its data, and the other party made the ciphertexts AND the key) and hides it under a one-time mask
  uniform in the plaintext ring (``ml.masking``); the other party decrypts the masked values
  (``masked_gradient`` -> ``revealed``) and the owner removes the mask;
- the loss: the host sends the masked loss to the guest and its mask alone to the arbiter (``loss_mask``); the
  guest sends its decryption to the arbiter (``revealed_loss``), which removes the mask.

The keys: each party proves ``gcd(n, phi(n)) = 1`` for its modulus (``ml.paillier.key_proof``) and checks the
other's proof. Without it a key owner could pick a modulus with a character that no rerandomization touches,
tag its ciphertexts with it and read the other party's features off the gradient it gets back to decrypt (a
review demonstrated it). With it, a uniform n-th residue makes what goes back depend on the masked plaintext
alone; received ciphertexts are checked to be units (``EncryptedVector.from_wire``).

Who learns what is what the arbiter-key protocol gives: each party its own gradient (a party knowing its
gradient and its own term learns ``X_h^T e`` or ``X_g^T wx_h``, as there), the arbiter the loss, penalties and
step norms, and nobody a value of the other party's in the clear: every ciphertext a party receives is under
the other's key, and every value it decrypts is masked uniformly. The arbiter holds no key and decrypts
nothing. Not closed, as under the arbiter's key (where the arbiter decrypts whatever a party sends it): a
party that deviates can hand the other ciphertexts of its choosing to decrypt instead of its gradient, and the
host decides the loss the arbiter records; closing that takes proofs of correct computation.
Multi-host fits (a host's gradient would need the other hosts' ``wx``), sample weights (the host's term would
need them), Poisson (multiplicative) and sqn keep the arbiter's key (``applies``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fate_flow.errors import ComponentError
from fate_flow.framework.context import Context
from fate_flow.framework.federation import PartyHandle
from fate_flow.ml import masking
from fate_flow.ml.glm import Family
from fate_flow.ml.paillier import EncryptedVector, ObfuscatorPool, PrivateKey, PublicKey, generate_keypair, key_proof
from fate_flow.ml.paillier.residues import ResidueReserve
from fate_flow.ml.timings import Timings

PARTY_KEYS, ARBITER_KEY = "party_keys", "arbiter_key"  # what the guest announces as "protocol"


def applies(family: Family, hosts: int, weighted: bool, optimizer: str) -> bool:
    """Whether a fit runs with the parties' own keys (module doc) rather than the arbiter's."""
    return family.name in ("logistic", "linear") and hosts == 1 and not weighted and optimizer != "sqn"


def checked_protocol(announced: Any, allowed: bool) -> str:
    """The protocol the guest announced, refused when unknown or when this party's own view rules it out."""
    if announced not in (PARTY_KEYS, ARBITER_KEY):
        raise ComponentError(f"the guest announced an unknown protocol: {announced!r}")
    if announced == PARTY_KEYS and not allowed:
        raise ComponentError("the guest announced the party-keys protocol, which this fit cannot run "
                             "(several hosts, sample weights, Poisson or sqn)")
    return announced


@dataclass(frozen=True)
class Keys:
    """This party's own key pair (fresh per fit), the other party's public key, and textbook residues of it
    made ahead for what goes back (``ResidueReserve``)."""

    private: PrivateKey
    peer: PublicKey
    reserve: ResidueReserve


def exchange_keys(peer: PartyHandle, key_length: int) -> Keys:
    """A fresh key pair of ``key_length`` bits, its public half and its proof (``key_proof``) sent to ``peer``,
    and ``peer``'s key, refused unless a Paillier modulus of the same length (a shorter one would weaken what
    this party sends under it) with a valid proof (else the owner could read back this party's data)."""
    public, private = generate_keypair(key_length)
    peer.put("public_key", public.to_wire())
    peer.put("key_proof", key_proof.prove(private))
    other = peer_public_key(peer, key_length)
    try:
        key_proof.verify(other, peer.get("key_proof"))
    except ValueError as exc:
        raise ComponentError(f"the {peer.role}'s public key is refused: {exc}") from None
    return Keys(private, other, ResidueReserve(other))


def peer_public_key(peer: PartyHandle, key_length: int) -> PublicKey:
    """The public key ``peer`` sent, refused unless a plausible Paillier modulus of exactly ``key_length`` bits
    (its proof is checked apart, where values go back under it)."""
    try:
        key = PublicKey.from_wire(peer.get("public_key"))
    except ValueError as exc:
        raise ComponentError(f"the {peer.role} sent a bad public key: {exc}") from None
    if key.key_length != key_length:
        raise ComponentError(f"the {peer.role}'s public key has {key.key_length} bits, "
                             f"encrypt_param.key_length is {key_length}")
    return key


def guest_batch(ctx: Context, family: Family, keys: Keys, design: np.ndarray, y: np.ndarray, w: np.ndarray,
                timings: Timings, pool: ObfuscatorPool) -> np.ndarray:
    """The guest's part of a batch: its plain gradient (and the loss decrypted, masked, for the arbiter)."""
    host, rows = ctx.hosts[0], len(y)
    wx_g = design @ w
    e = family.guest_part(wx_g, y)
    with timings.phase("encrypt"):
        host.put("residual_part", keys.private.encrypt(e, ctx.cores, pool=pool).to_wire())
        host.put("loss_part", keys.private.encrypt(np.array([family.guest_loss(wx_g, y)]), pool=pool).to_wire())
    with timings.phase("waiting"):
        forward = checked_vector(keys.peer, host.get("forward"), rows, "forward", "the host")
    with timings.phase("gradient"):
        encrypted = forward.rmatmul(design, cores=ctx.cores) * (family.host_factor / rows) + design.T @ e / rows
    with timings.phase("waiting"):
        gradient = _swap_decryptions(ctx, host, keys, encrypted)
        host_loss = host.get("masked_loss")
    ctx.arbiter.put("revealed_loss", _reveal(keys.private, host_loss, "masked loss", ctx.cores, length=1))
    return gradient


def host_batch(ctx: Context, family: Family, keys: Keys, part: np.ndarray, w: np.ndarray, timings: Timings,
               pool: ObfuscatorPool) -> np.ndarray:
    """The host's part of a batch: its plain gradient (the batch's loss goes to the arbiter, masked)."""
    guest, rows = ctx.guest, len(part)
    wx = part @ w
    with timings.phase("encrypt"):
        guest.put("forward", keys.private.encrypt(wx, ctx.cores, pool=pool).to_wire())
    with timings.phase("waiting"):
        e = checked_vector(keys.peer, guest.get("residual_part"), rows, "residual part")
        guest_loss = checked_vector(keys.peer, guest.get("loss_part"), 1, "loss part")
    with timings.phase("gradient"):
        products = e.rmatmul(part, cores=ctx.cores)  # X_h^T [[e]]
        encrypted = products * (1.0 / rows) + family.host_factor * (part.T @ wx) / rows
        loss = (products.rmatmul(w.reshape(-1, 1)) + guest_loss + family.host_loss_factor * float(wx @ wx)) \
            * (1.0 / rows)
    masked_loss, secret = masking.hide(keys.peer, loss.rerandomize_textbook(reserve=keys.reserve))
    guest.put("masked_loss", masked_loss)
    ctx.arbiter.put("loss_mask", masking.secret_to_wire(secret))
    with timings.phase("waiting"):
        return _swap_decryptions(ctx, guest, keys, encrypted)


def arbiter_loss(ctx: Context, guest_key: PublicKey) -> float:
    """The batch's loss: the guest's decryption of the host's masked loss less the host's mask."""
    try:
        secret = masking.secret_from_wire(guest_key, ctx.hosts[0].get("loss_mask"), 1)
        values = masking.recover(guest_key, secret, ctx.guest.get("revealed_loss"))
    except ValueError as exc:
        raise ComponentError(f"the batch's loss cannot be recovered: {exc}") from None
    if len(values) != 1:
        raise ComponentError(f"the batch's loss holds {len(values)} values, one expected")
    return float(values[0])


def _swap_decryptions(ctx: Context, peer: PartyHandle, keys: Keys, encrypted: EncryptedVector) -> np.ndarray:
    """This party's plain ``encrypted`` (under the peer's key), decrypted by the peer under a mask and textbook
    fresh randomness (uniform over the n-th residues of the peer's proven key); the peer's masked vector
    decrypted for it in turn. Both send before they wait."""
    masked, secret = masking.hide(keys.peer, encrypted.rerandomize_textbook(ctx.cores, keys.reserve))
    peer.put("masked_gradient", masked)
    # the next batch's residues (and the host's for its loss), made while this party waits for the other
    keys.reserve.refill(len(encrypted) + (peer.role == "guest"))
    peer.put("revealed", _reveal(keys.private, peer.get("masked_gradient"), "masked gradient", ctx.cores))
    try:
        return masking.recover(keys.peer, secret, peer.get("revealed"))
    except ValueError as exc:
        raise ComponentError(f"the {peer.role}'s decryption of the masked gradient is wrong: {exc}") from None


def _reveal(private: PrivateKey, wire: Any, what: str, cores: int, length: int | None = None) -> Any:
    """The decryption of the other party's masked vector (``length`` values when known), for it to unmask."""
    try:
        revealed = masking.reveal(private, wire, cores)
    except ValueError as exc:
        raise ComponentError(f"the other party sent a bad {what}: {exc}") from None
    if length is not None and len(revealed) != length:
        raise ComponentError(f"the other party's {what} holds {len(revealed)} values, {length} expected")
    return revealed


def checked_vector(public: PublicKey, wire: Any, rows: int, what: str, sender: str = "the guest") -> EncryptedVector:
    """An encrypted vector ``sender`` sent under ``public`` (``what``: its name in errors), checked to have
    ``rows`` rows."""
    try:
        vector = EncryptedVector.from_wire(public, wire)
    except ValueError as exc:
        raise ComponentError(f"{sender} sent a bad {what}: {exc}") from None
    if len(vector) != rows:
        raise ComponentError(f"{sender}'s {what} has {len(vector)} rows, {rows} expected")
    return vector
