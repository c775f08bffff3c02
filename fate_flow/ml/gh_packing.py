"""SecureBoost's encrypted gradients: the guest's packing of (g, h) into integers, the host's encrypted
histograms and split-candidate packages, and the guest's decoding of what comes back.

Packing (FATE's GHPacker, docs/fate-secureboost-1.11.md §3.2): with precision ``P = 2^52``, ``g`` becomes
``round((g + g_offset) P) >= 0`` and ``h`` ``round(h P)``; both ranges are sized for a sum over every sample,
so a histogram bin never carries into its neighbour. With ``cipher_compress`` one ciphertext holds
``g_int << h_bits | h_int`` and the host packs ``capacity`` split candidates into one ciphertext
(``c_1^(2^pad) * c_2 ...``): one decryption for many candidates. Without it g and h travel as two
ciphertexts and every candidate is decrypted on its own.

What the host sends back is rerandomized for the key's owner (a fresh obfuscator and a blinding per package,
``EncryptedVector.rerandomize_uniform``): products of the guest's
ciphertexts carry randomness the guest could recover and test subsets of samples against.
"""

from __future__ import annotations

from dataclasses import dataclass

import gmpy2
import numpy as np
from gmpy2 import mpz

from fate_flow.ml.paillier import EncryptedVector, ObfuscatorPool, PrivateKey, PublicKey, in_processes

PRECISION_BITS = 52
_ONE = mpz(1)
_MIN_FORK_PRODUCTS = 20_000  # ciphertext multiplications below which forking costs more than it saves


@dataclass(frozen=True)
class Packing:
    """The public layout of one tree's encrypted (g, h): sent to the hosts with the ciphertexts."""

    g_offset: float
    g_bits: int
    h_bits: int
    compress: bool
    capacity: int  # candidates per package (1 without compression)

    @property
    def pad(self) -> int:
        """Bits one packed candidate takes."""
        return self.g_bits + self.h_bits

    @property
    def columns(self) -> int:
        """Ciphertexts per sample: one packed, or g and h apart."""
        return 1 if self.compress else 2

    def to_wire(self) -> dict:
        """What the hosts need to pack candidates (bit widths, capacity); not ``g_offset``, which would tell
        them the smallest gradient."""
        return {"g_bits": self.g_bits, "h_bits": self.h_bits, "compress": self.compress, "capacity": self.capacity}

    @classmethod
    def from_wire(cls, obj: object, key_bits: int) -> Packing:
        """The layout the guest sent, checked against the key (a package must fit below n/2)."""
        if not isinstance(obj, dict) or set(obj) != {"g_bits", "h_bits", "compress", "capacity"}:
            raise ValueError("a packing is a dict of g_bits, h_bits, compress, capacity")
        ints = [obj["g_bits"], obj["h_bits"], obj["capacity"]]
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in ints):
            raise ValueError("g_bits, h_bits and capacity must be positive ints")
        if not isinstance(obj["compress"], bool):
            raise ValueError("compress must be a bool")
        packing = cls(0.0, *ints[:2], obj["compress"], ints[2])
        if packing.pad * packing.capacity > key_bits - 2 or (not packing.compress and packing.capacity != 1):
            raise ValueError("the packing does not fit the key")
        return packing


def make_packing(g: np.ndarray, h: np.ndarray, rows: int, compress: bool, key_bits: int,
                 bounds: tuple[float, float, float] | None = None) -> Packing:
    """The layout for gradients ``g`` and hessians ``h`` of ``rows`` samples: ``bounds`` (g_min, g_max, h_max)
    as FATE fixes them for classification, else the observed ones."""
    g_min, g_max, h_max = bounds if bounds is not None else (float(g.min()), float(g.max()), float(h.max()))
    g_offset = abs(min(g_min, 0.0))
    scale = 1 << PRECISION_BITS
    g_bits = (int((g_offset + max(g_max, 0.0)) * rows * scale) + 1).bit_length()
    h_bits = (int(max(h_max, 0.0) * rows * scale) + 1).bit_length()
    capacity = max(1, (key_bits - 2) // (g_bits + h_bits)) if compress else 1
    return Packing(g_offset, g_bits, h_bits, compress, capacity)


def encrypt_gh(key: PrivateKey | PublicKey, packing: Packing, g: np.ndarray, h: np.ndarray, cores: int,
               pool: ObfuscatorPool | None = None) -> list[EncryptedVector]:
    """The guest's ciphertexts of (g, h): one vector per column of the packing (the guest owns the key, and
    its ``PrivateKey`` encrypts by CRT)."""
    scale = float(1 << PRECISION_BITS)
    g_int = [int(v) for v in np.rint((g + packing.g_offset) * scale)]
    h_int = [int(v) for v in np.rint(h * scale)]
    if packing.compress:
        shift = packing.h_bits
        return [key.encrypt_integers([(a << shift) | b for a, b in zip(g_int, h_int, strict=True)], cores, pool)]
    return [key.encrypt_integers(g_int, cores, pool), key.encrypt_integers(h_int, cores, pool)]


# -- host ------------------------------------------------------------------------------------------------------
def bin_products(ciphertexts: list[mpz], keys: np.ndarray, size: int, n2: mpz) -> list[mpz]:
    """Per key in ``0 .. size - 1``: the product of the ciphertexts whose key it is (an encrypted sum; 1, the
    sum of nothing, where no sample has that key). ``keys`` is -1 for samples left out."""
    out = [_ONE] * size
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    start = int(np.searchsorted(ordered, 0))
    boundaries = np.flatnonzero(np.diff(ordered[start:])) + start + 1
    edges = [start, *boundaries.tolist(), len(ordered)]
    index = order.tolist()
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if a == b:
            continue
        acc = ciphertexts[index[a]]
        for i in index[a + 1:b]:
            acc = acc * ciphertexts[i] % n2
        out[int(ordered[a])] = acc
    return out


def feature_histograms(ciphertexts: list[mpz], bins: np.ndarray, node_index: np.ndarray, nodes: int, width: int,
                       n2: mpz, cores: int) -> list[mpz]:
    """Encrypted sums per (node, feature, bin), flat in the order ``(node * features + f) * width + bin``:
    ``bins`` is samples x features (the missing bin is ``width - 1``), ``node_index`` -1 for samples on no node.
    Features are spread over ``cores`` processes when the multiplications pay for the fork."""
    features = bins.shape[1]
    active = int((node_index >= 0).sum())
    workers = cores if active * features >= _MIN_FORK_PRODUCTS else 1
    state = (ciphertexts, bins, node_index, nodes, width, n2)
    per_feature = in_processes(_histogram_span, state, features, workers,
                               lambda parts: [column for part in parts for column in part])
    flat = [_ONE] * (nodes * features * width)
    for f, column in enumerate(per_feature):
        for node in range(nodes):
            base = (node * features + f) * width
            flat[base:base + width] = column[node * width:(node + 1) * width]
    return flat


def _histogram_span(state: tuple, start: int, stop: int) -> list[list[mpz]]:
    ciphertexts, bins, node_index, nodes, width, n2 = state
    keys_base = np.where(node_index >= 0, node_index * width, -1)
    out = []
    for f in range(start, stop):
        keys = np.where(keys_base >= 0, keys_base + bins[:, f], -1)
        out.append(bin_products(ciphertexts, keys, nodes * width, n2))
    return out


def candidate_sums(bin_sums: list[mpz], counts: np.ndarray, layout_fid: np.ndarray, layout_bid: np.ndarray,
                   left_missing: np.ndarray, chosen: list[np.ndarray], features: int, width: int, n2: mpz,
                   ) -> list[list[mpz]]:
    """Per node, the encrypted left sums of its ``chosen`` candidates (indices into the layout): cumulative
    products over bins, the missing bin (last) multiplied in for missing-left candidates."""
    per_node = []
    for node, indices in enumerate(chosen):
        cumulative: dict[int, list[mpz]] = {}
        sums = []
        for i in indices.tolist():
            f, b = int(layout_fid[i]), int(layout_bid[i])
            if f not in cumulative:
                base = (node * features + f) * width
                running, acc = [], _ONE
                for k in range(width - 1):
                    if counts[node, f, k]:
                        acc = acc * bin_sums[base + k] % n2
                    running.append(acc)
                running.append(bin_sums[base + width - 1])
                cumulative[f] = running
            column = cumulative[f]
            sums.append(column[b] * column[-1] % n2 if left_missing[i] else column[b])
        per_node.append(sums)
    return per_node


def compress(ciphertexts: list[mpz], packing: Packing, n2: mpz, cores: int = 1) -> list[mpz]:
    """Candidates packed ``capacity`` to a ciphertext, the first most significant: ``c_1^(2^pad) c_2 ...``
    (``pad`` squarings per candidate: the host's main cost, spread over ``cores`` processes)."""
    if packing.capacity == 1:
        return list(ciphertexts)
    capacity = packing.capacity
    packages = -(-len(ciphertexts) // capacity)
    workers = cores if len(ciphertexts) * packing.pad >= _MIN_FORK_PRODUCTS else 1
    spans = [(a * capacity, min(b * capacity, len(ciphertexts)))
             for a, b in _package_spans(packages, workers)]
    state = (ciphertexts, capacity, mpz(1) << packing.pad, n2)
    return in_processes(_compress_span, state, len(ciphertexts), workers,
                        lambda parts: [c for part in parts for c in part], spans)


def _package_spans(packages: int, parts: int) -> list[tuple[int, int]]:
    parts = max(1, min(parts, packages))
    bounds = [packages * i // parts for i in range(parts + 1)]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a] or [(0, 0)]


def _compress_span(state: tuple, start: int, stop: int) -> list[mpz]:
    ciphertexts, capacity, shift, n2 = state
    packages = []
    for first in range(start, stop, capacity):
        acc = ciphertexts[first]
        for c in ciphertexts[first + 1:min(first + capacity, stop)]:
            acc = gmpy2.powmod(acc, shift, n2) * c % n2
        packages.append(acc)
    return packages


# -- guest -----------------------------------------------------------------------------------------------------
def decode(private: PrivateKey, packing: Packing, packages: list[list[mpz]], counts: np.ndarray,
           cores: int) -> tuple[np.ndarray, np.ndarray]:
    """Left sums (g, h) of ``len(counts)`` candidates from the packages of each column; ``counts`` are the
    candidates' left sample counts (to take ``g_offset`` back out)."""
    total = len(counts)
    scale = float(1 << PRECISION_BITS)
    if packing.compress:
        plain = private.decrypt_integers(packages[0], cores)
        g_int, h_int = _unpack(plain, packing, total)
    else:
        g_int, h_int = (private.decrypt_integers(column, cores) for column in packages)
    g = np.array([int(v) / scale for v in g_int], dtype=np.float64) - packing.g_offset * counts
    h = np.array([int(v) / scale for v in h_int], dtype=np.float64)
    return g, h


def _unpack(plain: list[mpz], packing: Packing, total: int) -> tuple[list[int], list[int]]:
    pad, h_bits, capacity = packing.pad, packing.h_bits, packing.capacity
    pad_mask, h_mask = (1 << pad) - 1, (1 << h_bits) - 1
    g_int, h_int = [], []
    for index, value in enumerate(plain):
        inside = min(capacity, total - index * capacity)
        value = int(value)
        for k in range(inside):
            chunk = (value >> (pad * (inside - 1 - k))) & pad_mask
            g_int.append(chunk >> h_bits)
            h_int.append(chunk & h_mask)
    if len(g_int) != total:
        raise ValueError("the packages hold fewer candidates than announced")
    return g_int, h_int
