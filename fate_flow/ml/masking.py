"""Having the key holder decrypt a vector without learning it: a one-time additive mask in the plaintext ring.

The owner of an encrypted vector multiplies each ciphertext by ``g^R = 1 + R n (mod n^2)`` with ``R``
uniform in ``[0, n)`` from the OS CSPRNG: the plaintext becomes ``m + R mod n``, uniformly distributed
whatever ``m`` is, so the key holder that decrypts it (the arbiter, or the other party under the parties' own
keys) learns nothing (perfect hiding, not a statistical mask on floats). The owner subtracts ``R`` from what
comes back, exactly, and decodes the fixed-point value (or hands ``R`` to a third party that alone is to learn
the value: ``secret_to_wire``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gmpy2 import mpz

from fate_flow.engine.bigint import BigIntVector
from fate_flow.ml.paillier import MAX_EXPONENT, EncryptedVector, PrivateKey, PublicKey

MASKED_KEYS = frozenset({"key", "ciphertexts"})
MAX_LENGTH = 20_000_000


@dataclass(frozen=True)
class Secret:
    """What only the vector's owner keeps: the masks, and how to decode the unmasked integers."""

    masks: list[mpz]
    exponent: int
    bound: int


def hide(public: PublicKey, vector: EncryptedVector) -> tuple[dict, Secret]:
    """The masked vector (wire form, for the key holder) and the secret that removes the mask."""
    n, n2 = public.n, public.nsquare
    masks = public.random_units(len(vector))
    masked = [c * (r * n + 1) % n2 for c, r in zip(vector.ciphertexts, masks, strict=True)]
    width = public.ciphertext_bytes
    wire = {"key": public.fingerprint,
            "ciphertexts": BigIntVector(b"".join(int(c).to_bytes(width, "little") for c in masked), width, len(masked))}
    return wire, Secret(masks, vector.exponent, vector.bound)


def reveal(private: PrivateKey, wire: Any, cores: int = 1) -> BigIntVector:
    """At the key holder: the masked plaintexts (uniform in ``[0, n)``), for the owner to unmask."""
    public = private.public
    ciphertexts = _ciphertexts(public, wire)
    plain = private.decrypt_integers(ciphertexts, cores)
    width = (public.key_length + 7) // 8
    return BigIntVector(b"".join(int(m).to_bytes(width, "little") for m in plain), width, len(plain))


def recover(public: PublicKey, secret: Secret, answer: Any) -> np.ndarray:
    """The owner's plain vector from the key holder's answer; refuses an answer of the wrong shape or values
    outside the vector's bound (a key holder that lies is caught, not believed)."""
    if not isinstance(answer, BigIntVector) or len(answer) != len(secret.masks) or len(answer) > MAX_LENGTH:
        raise ValueError("the key holder's answer is not the decryption of the masked vector")
    n, max_int = int(public.n), int(public.max_int)
    values = []
    for masked, mask in zip(answer.ints(), secret.masks, strict=True):
        if not 0 <= masked < n:
            raise ValueError("the key holder's answer holds a value outside the plaintext ring")
        m = (masked - int(mask)) % n
        signed = m if m <= max_int else m - n
        if abs(signed) > secret.bound:
            raise ValueError("the key holder's answer does not decode to a value of the vector's range")
        values.append(signed)
    scale = 1 << secret.exponent
    try:
        return np.array([v / scale for v in values], dtype=np.float64)
    except OverflowError:
        raise ValueError("the key holder's answer does not decode to a float") from None


def secret_to_wire(secret: Secret) -> dict:
    """A secret handed to a third party, which then recovers the value from the key holder's answer (the
    hetero linear models' loss: the guest masks it, the host decrypts, the arbiter alone learns it)."""
    return {"masks": BigIntVector.from_ints(int(m) for m in secret.masks), "exponent": secret.exponent,
            "bound": secret.bound}


def secret_from_wire(public: PublicKey, wire: Any, length: int) -> Secret:
    """A secret of ``length`` masks a party sent (``secret_to_wire``), checked before anything is decoded: masks
    in the plaintext ring of ``public``, an exponent and a bound an encrypted vector of that key can have."""
    if not isinstance(wire, dict) or set(wire) != {"masks", "exponent", "bound"}:
        raise ValueError("a mask secret is a dict of masks, exponent and bound")
    masks, exponent, bound = wire["masks"], wire["exponent"], wire["bound"]
    if not isinstance(masks, BigIntVector) or len(masks) != length:
        raise ValueError(f"the secret's masks must be one BigIntVector of {length} values")
    values = [mpz(m) for m in masks.ints()]
    if any(not 0 <= m < public.n for m in values):
        raise ValueError("a mask lies outside the plaintext ring")
    if isinstance(exponent, bool) or not isinstance(exponent, int) or not 0 <= exponent <= MAX_EXPONENT:
        raise ValueError(f"the secret's exponent must be an int in [0, {MAX_EXPONENT}]")
    if isinstance(bound, bool) or not isinstance(bound, int) or not 0 <= bound <= public.max_int:
        raise ValueError("the secret's bound must be an int in [0, n/2]")
    return Secret(values, exponent, bound)


def decrypt_scalar(private: PrivateKey, wire: Any) -> float:
    """At the key holder: a one-value encrypted vector (the loss) in the clear, as FATE's arbiter sees it."""
    vector = EncryptedVector.from_wire(private.public, wire)
    if len(vector) != 1:
        raise ValueError(f"expected one encrypted value, got {len(vector)}")
    return float(private.decrypt(vector)[0])


def _ciphertexts(public: PublicKey, wire: Any) -> list[mpz]:
    if not isinstance(wire, dict) or set(wire) != MASKED_KEYS or wire["key"] != public.fingerprint:
        raise ValueError("a masked vector is a dict with this key's fingerprint and its ciphertexts")
    packed = wire["ciphertexts"]
    if not isinstance(packed, BigIntVector) or len(packed) > MAX_LENGTH:
        raise ValueError("the masked ciphertexts must be one BigIntVector")
    n2 = public.nsquare
    values = [mpz(c) for c in packed.ints()]
    if any(not 0 < c < n2 for c in values):
        raise ValueError("a masked ciphertext lies outside (0, n^2)")
    return values
