"""Intel's multi-buffer cryptography: eight X25519 multiplications, RSA operations or modular exponentiations
in one call on AVX-512 IFMA (``crypto_mb`` of Intel's Cryptography Primitives Library, the ``ipp-crypto``
wheel; it needs the Intel compiler runtime of ``intel-cmplr-lib-rt``).

One core here (``bench/intersect_1m.py`` and ``bench/paillier_ops.py`` print both):

- X25519 multiplication: ~9-14 us against OpenSSL's 39-67 us (the ecdh intersection);
- RSA CRT signature: ~20-28 us at 1024 bits, ~110-170 us at 2048, against gmpy2's 174-235 and 904-1,255 us
  (the rsa intersection's key holder), and ``x^65537`` for the guest's blinds;
- exponentiation modulo a number of up to 1024 bits with a 512-bit exponent: ~37 us against gmpy2's 286 us
  (the Paillier key owner's obfuscators at 1024 bits, ``ml.paillier.obfuscation``).

The results are the same numbers as OpenSSL's and gmpy2's (``tests/unit/test_multibuffer.py``), so two parties
interoperate whichever of them has the library. Each function returns ``None`` where the library cannot run
(not installed, as on other platforms; a CPU without IFMA, which ``mbx_is_crypto_mb_applicable`` tells;
``FLOW_MULTIBUFFER=0`` in the environment, to compare), and the caller does the work one value at a time.
"""

from __future__ import annotations

import ctypes
import os
import sysconfig
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np

LANES = 8
RSA_BITS = (1024, 2048, 3072, 4096)
EXP_BITS = (1024, 2048, 3072, 4096)  # the moduli sizes of crypto_mb's exponentiations (a modulus up to that size)
X25519_WIDTH = 32
# the compiler runtime crypto_mb links against, loaded first (the wheels set no RPATH)
_RUNTIME = ("libintlc.so.5", "libirng.so", "libimf.so", "libsvml.so")


@cache
def library() -> ctypes.CDLL | None:
    """crypto_mb, loaded once per process, or ``None`` where it cannot run (module doc)."""
    if os.environ.get("FLOW_MULTIBUFFER", "1") == "0":
        return None
    directory = Path(sysconfig.get_path("data")) / "lib"
    try:
        for name in _RUNTIME:
            ctypes.CDLL(str(directory / name), mode=ctypes.RTLD_GLOBAL)
        lib = ctypes.CDLL(str(directory / "libcrypto_mb.so"))
    except OSError:
        return None
    lib.mbx_is_crypto_mb_applicable.argtypes = [ctypes.c_uint64]
    if not lib.mbx_is_crypto_mb_applicable(0):  # 0: this CPU's features
        return None
    lib.mbx_x25519_mb8.argtypes = [ctypes.c_void_p] * 3
    lib.mbx_x25519_mb8.restype = ctypes.c_uint32
    lib.mbx_rsa_private_crt_mb8.argtypes = [ctypes.c_void_p] * 7 + [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    lib.mbx_rsa_private_crt_mb8.restype = ctypes.c_uint32
    lib.mbx_rsa_public_mb8.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    lib.mbx_rsa_public_mb8.restype = ctypes.c_uint32
    lib.mbx_exp_BufferSize.argtypes = [ctypes.c_int]
    for bits in EXP_BITS:
        function = getattr(lib, f"mbx_exp{bits}_mb8")
        function.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                                     ctypes.c_int]
        function.restype = ctypes.c_uint32
    return lib


def _lanes(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the rows padded to a multiple of ``LANES`` by repeating row 0, the address of each padded row)."""
    padding = -len(matrix) % LANES
    if padding:
        matrix = np.concatenate([matrix, np.repeat(matrix[:1], padding, axis=0)])
    matrix = np.ascontiguousarray(matrix, dtype=np.uint8)
    return matrix, _addresses(matrix)


def _addresses(matrix: np.ndarray) -> np.ndarray:
    return (matrix.ctypes.data + np.arange(len(matrix), dtype=np.uint64) * matrix.shape[1]).astype(np.uint64)


def _same_address(buffer: np.ndarray) -> np.ndarray:
    """The pointer array of one value shared by every lane (a key)."""
    return np.full(LANES, buffer.ctypes.data, dtype=np.uint64)


def _failed(status: int, lanes: int) -> bool:
    """Whether one of the first ``lanes`` lanes failed (crypto_mb's status: 4 bits a lane)."""
    return any((status >> (4 * lane)) & 0xF for lane in range(min(lanes, LANES)))


def x25519(scalar: bytes, points: np.ndarray) -> np.ndarray | None:
    """RFC 7748's X25519(scalar, u) for each 32-byte row u (the scalar clamped, as OpenSSL does), as rows; or
    ``None`` where crypto_mb cannot run. A point of low order (an all-zero result) raises ``ValueError``, as
    OpenSSL refuses it."""
    lib = library()
    if lib is None:
        return None
    if len(scalar) != X25519_WIDTH or points.ndim != 2 or points.shape[1] != X25519_WIDTH:
        raise ValueError("X25519 takes a 32-byte scalar and 32-byte rows")
    count = len(points)
    points, point_at = _lanes(points)
    out = np.empty_like(points)
    out_at = _addresses(out)
    key = np.frombuffer(scalar, dtype=np.uint8).copy()
    key_at = _same_address(key)
    for start in range(0, len(points), LANES):
        status = lib.mbx_x25519_mb8(out_at[start:].ctypes.data, key_at.ctypes.data, point_at[start:].ctypes.data)
        if status and _failed(status, count - start):
            raise ValueError("a point of low order (an all-zero X25519 result)")
    return out[:count]


def _limbs(value: int, size: int) -> np.ndarray:
    """``value`` as the little-endian 64-bit limbs crypto_mb reads, in ``size`` bytes."""
    return np.frombuffer(value.to_bytes(size, "little"), dtype=np.uint8).copy()


def rsa_crt(crt: tuple[int, int, int, int, int], n: int, values: np.ndarray) -> np.ndarray | None:
    """``x^d mod n`` for each little-endian row x, every x in [0, n) (the caller checks), by the CRT numbers
    ``(p, q, d mod p-1, d mod q-1, q^-1 mod p)``, as little-endian rows of n's width; or ``None`` where
    crypto_mb cannot run or has no method for the key (1024, 2048, 3072 and 4096 bits, balanced primes)."""
    lib = library()
    bits = n.bit_length()
    p, q = crt[0], crt[1]
    if lib is None or bits not in RSA_BITS or max(p.bit_length(), q.bit_length()) > bits // 2:
        return None
    width, half = bits // 8, bits // 16
    if values.ndim != 2 or values.shape[1] != width:
        raise ValueError(f"RSA-{bits} takes rows of {width} bytes")
    numbers = [_limbs(v, half) for v in crt]
    number_at = [_same_address(v) for v in numbers]
    return _rsa_rows(values, bits, lambda value_at, out_at: lib.mbx_rsa_private_crt_mb8(
        value_at, out_at, *(a.ctypes.data for a in number_at), bits, None, None))


def rsa_public(n: int, values: np.ndarray) -> np.ndarray | None:
    """``x^65537 mod n`` for each little-endian row x in [0, n) (the caller checks), as little-endian rows of n's
    width; or ``None`` where crypto_mb cannot run or has no method for n's size (1024 ... 4096 bits)."""
    lib = library()
    bits = n.bit_length()
    if lib is None or bits not in RSA_BITS:
        return None
    if values.ndim != 2 or values.shape[1] != bits // 8:
        raise ValueError(f"RSA-{bits} takes rows of {bits // 8} bytes")
    modulus = _limbs(n, bits // 8)  # a local: alive while crypto_mb reads it through modulus_at
    modulus_at = _same_address(modulus)
    return _rsa_rows(values, bits, lambda value_at, out_at: lib.mbx_rsa_public_mb8(
        value_at, out_at, modulus_at.ctypes.data, bits, None, None))


def _rsa_rows(values: np.ndarray, bits: int, call: Callable[[int, int], int]) -> np.ndarray:
    """Little-endian rows through crypto_mb's big-endian RSA calls, eight at a time (``call(in_at, out_at)``
    takes the addresses of eight row pointers and returns the status)."""
    count = len(values)
    big_endian, value_at = _lanes(values[:, ::-1])
    out = np.empty_like(big_endian)
    out_at = _addresses(out)
    for start in range(0, len(big_endian), LANES):
        status = call(value_at[start:].ctypes.data, out_at[start:].ctypes.data)
        if status and _failed(status, count - start):
            raise ValueError(f"crypto_mb refused an RSA-{bits} operation (status {status:#x})")
    return np.ascontiguousarray(out[:count, ::-1])


def powers(base: int, exponents: list[int], modulus: int) -> list[int] | None:
    """``base^e mod modulus`` for each exponent e in [0, modulus) (the caller checks), base in [0, modulus), an
    odd modulus of at most 4096 bits; or ``None`` where crypto_mb cannot run. Whether it pays depends on the
    sizes: the caller decides (``ml.paillier.obfuscation``)."""
    lib = library()
    bits = next((b for b in EXP_BITS if modulus.bit_length() <= b), None)
    if lib is None or bits is None:
        return None
    if not exponents:
        return []
    width = bits // 8
    exponent_bits = max(1, max(exponents).bit_length())
    base_row, modulus_row = _limbs(base, width), _limbs(modulus, width)
    base_at, modulus_at = _same_address(base_row), _same_address(modulus_row)
    rows, exponent_at = _lanes(np.frombuffer(b"".join(int(e).to_bytes(width, "little") for e in exponents),
                                             dtype=np.uint8).reshape(len(exponents), width))
    out = np.empty_like(rows)
    out_at = _addresses(out)
    size = lib.mbx_exp_BufferSize(bits)
    scratch = ctypes.create_string_buffer(size)
    function = getattr(lib, f"mbx_exp{bits}_mb8")
    for start in range(0, len(rows), LANES):
        status = function(out_at[start:].ctypes.data, base_at.ctypes.data, exponent_at[start:].ctypes.data,
                          exponent_bits, modulus_at.ctypes.data, modulus.bit_length(), scratch, size)
        if status and _failed(status, len(exponents) - start):
            raise ValueError(f"crypto_mb refused a {bits}-bit exponentiation (status {status:#x})")
    raw = out[:len(exponents)].tobytes()
    return [int.from_bytes(raw[i:i + width], "little") for i in range(0, len(raw), width)]
