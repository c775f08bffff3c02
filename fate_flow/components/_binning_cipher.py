"""HeteroFeatureBinning's Paillier arithmetic: the guest's one-hot labels packed into one integer per sample
and encrypted; a host's encrypted sum of them per bin; the guest's unpacking of the decrypted sums.

Label ``l`` sits in its own bit field, as wide as that label's total count, so no bin sum can carry from one
field into the next."""

from __future__ import annotations

from typing import Any

import gmpy2
import numpy as np

from fate_flow.ml.paillier import EncryptedVector, PrivateKey


def pack_widths(counts: np.ndarray) -> list[int]:
    """Each label's bit field width: enough for its total count, the most any bin sum can reach."""
    return [max(int(c).bit_length(), 1) for c in counts]


def pack(onehot: np.ndarray, widths: list[int]) -> list[int]:
    """One integer per sample: label ``l``'s 0/1 at bit offset ``sum(widths[:l])``."""
    offsets = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64)
    return [sum(1 << int(offsets[j]) for j in np.flatnonzero(row)) for row in onehot]


def unpack(values: list[int], widths: list[int]) -> np.ndarray:
    """The per-label counts packed in each integer: ``(len(values), labels)``."""
    out = np.zeros((len(values), len(widths)), dtype=np.int64)
    for i, value in enumerate(values):
        shift = 0
        for j, width in enumerate(widths):
            out[i, j] = (int(value) >> shift) & ((1 << width) - 1)
            shift += width
    return out


def encrypt_packed(private: PrivateKey, packed: list[int], bound: int, cores: int) -> EncryptedVector:
    """Paillier ciphertexts of the packed label counts as raw integers (exponent 0), each with fresh randomness
    (the key's owner encrypts, by CRT), under the public ``bound`` every packing stays below."""
    vector = private.encrypt_integers(packed, cores)
    return EncryptedVector(private.public, vector.ciphertexts, 0, bound)


def encrypted_bin_sums(labels: EncryptedVector, bins: np.ndarray, n_bins: int) -> list[Any]:
    """The product of the ciphertexts of the rows in each bin (their encrypted sum); an empty bin gets 1,
    an encryption of 0 that the rerandomisation before sending hides."""
    n2 = labels.public.nsquare
    ciphertexts = labels.ciphertexts
    order = np.argsort(bins, kind="stable")
    sizes = np.bincount(bins, minlength=n_bins)
    sums, start = [], 0
    for size in sizes.tolist():
        total = gmpy2.mpz(1)
        for row in order[start:start + size].tolist():
            total = total * ciphertexts[row] % n2
        sums.append(total)
        start += size
    return sums
