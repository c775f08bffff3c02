"""A typed, non-executable codec for the objects tasks exchange with other parties.

Peers are not trusted: decoding only ever builds plain values (None, bool, int, float, complex, str,
bytes, list, tuple, set, frozenset, dict, numeric numpy arrays and scalars, and ``BigIntVector``: many
big integers of one width in one buffer) from tagged, length-prefixed fields. There is no pickle, no
``np.load(allow_pickle=True)``, no class lookup by name; anything malformed raises :class:`CodecError`.

Layout: ``MAGIC`` then one value. A value is a one-byte tag followed by its payload (integers are
little-endian). Array data is written raw, padded so that it starts at a multiple of ``ALIGN`` bytes
from the start of the buffer, and decoded with ``np.frombuffer``: big arrays cost one copy to encode
(the final join) and none to decode. Decoded arrays share the input buffer, so they are writable only
when the input is (pass a ``bytearray`` to get writable arrays).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from fate_flow.engine.bigint import BigIntVector

MAGIC = b"FFC\x01"
ALIGN = 16
MAX_DEPTH = 200
# numeric and bool dtypes only: never object ("O"), void/structured ("V"), strings or datetimes
_DTYPE_TEXT = re.compile(r"^[<>|=][biufc][0-9]{1,2}$")
_ALLOWED_KINDS = frozenset("biufc")
_MAX_NDIM = 64

_U8 = struct.Struct("<B")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")
_C128 = struct.Struct("<dd")

T_NONE, T_TRUE, T_FALSE = b"N", b"T", b"F"
T_INT, T_FLOAT, T_COMPLEX, T_STR, T_BYTES = b"i", b"f", b"c", b"s", b"b"
T_LIST, T_TUPLE, T_SET, T_FROZENSET, T_DICT = b"l", b"t", b"S", b"Z", b"d"
T_ARRAY, T_NPSCALAR, T_BIGVEC = b"a", b"g", b"V"
MAX_BIGINT_WIDTH = 1 << 16  # bytes per integer: far beyond any key length


class CodecError(ValueError):
    """The object cannot be encoded, or the bytes are not a valid encoding."""


def encode(obj: Any) -> bytes:
    """Encode ``obj`` (see the module doc for the supported types)."""
    return b"".join(encode_parts(obj))


def encode_parts(obj: Any) -> list[bytes | memoryview | np.ndarray]:
    """The encoding of ``obj`` as buffers whose concatenation is ``encode(obj)``.

    Array data is not copied: the parts reference the arrays, which must not change until the parts are
    consumed (a sender streams them without building one big bytes object).
    """
    encoder = _Encoder()
    encoder.value(obj, 0)
    return encoder.parts


def decode(data: bytes | bytearray | memoryview) -> Any:
    """Decode bytes made by :func:`encode`; raises :class:`CodecError` on anything else."""
    try:
        view = memoryview(data).cast("B")
    except TypeError as exc:
        raise CodecError(f"cannot decode a {type(data).__name__}: not a bytes-like object") from exc
    if view.nbytes < len(MAGIC) or view[: len(MAGIC)] != MAGIC:
        raise CodecError("not an encoded object (bad magic)")
    decoder = _Decoder(view)
    try:
        obj = decoder.value(0)
    except CodecError:
        raise
    # crafted input may still trip numpy or Python on a combination we did not foresee: report it as malformed
    except (ValueError, TypeError, OverflowError, MemoryError, RecursionError) as exc:
        raise CodecError(f"malformed encoding at byte {decoder.pos}: {exc}") from exc
    if decoder.pos != view.nbytes:
        raise CodecError(f"{view.nbytes - decoder.pos} trailing bytes after the object")
    return obj


# ---------------------------------------------------------------------------------------------- encoding


class _Encoder:
    def __init__(self) -> None:
        self.parts: list[Any] = [MAGIC]
        self.size = len(MAGIC)  # tracked so array data can be aligned relative to the buffer start

    def put(self, part: Any, nbytes: int | None = None) -> None:
        self.parts.append(part)
        self.size += len(part) if nbytes is None else nbytes

    def value(self, obj: Any, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise CodecError(f"object nests deeper than {MAX_DEPTH} levels (or contains itself)")
        # numpy first: np.float64 is a float subclass and must keep its dtype
        if isinstance(obj, np.ndarray):
            self.array(obj)
        elif isinstance(obj, np.generic):
            self.np_scalar(obj)
        elif isinstance(obj, BigIntVector):
            self.bigint_vector(obj)
        elif obj is None:
            self.put(T_NONE)
        elif obj is True or obj is False:
            self.put(T_TRUE if obj else T_FALSE)
        elif isinstance(obj, int):
            self.integer(obj)
        elif isinstance(obj, float):
            self.put(T_FLOAT + _F64.pack(obj))
        elif isinstance(obj, complex):
            self.put(T_COMPLEX + _C128.pack(obj.real, obj.imag))
        elif isinstance(obj, str):
            self.text(obj)
        elif isinstance(obj, bytes | bytearray | memoryview):
            self.blob(obj)
        elif isinstance(obj, dict):
            self.mapping(obj, depth)
        else:
            tag = _SEQUENCE_TAGS.get(type(obj)) or _sequence_tag(obj)
            self.put(tag + _U64.pack(len(obj)))
            for item in obj:
                self.value(item, depth + 1)

    def integer(self, n: int) -> None:
        raw = int(n).to_bytes((n.bit_length() + 8) // 8, "little", signed=True)  # +8: room for the sign bit
        self.put(T_INT + _U32.pack(len(raw)) + raw)

    def text(self, s: str) -> None:
        try:
            raw = s.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise CodecError(f"string is not valid unicode: {exc}") from exc
        self.put(T_STR + _U64.pack(len(raw)))
        self.put(raw)

    def blob(self, b: bytes | bytearray | memoryview) -> None:
        view = memoryview(b).cast("B") if isinstance(b, memoryview) else b
        self.put(T_BYTES + _U64.pack(len(view)))
        self.put(view)

    def mapping(self, d: dict, depth: int) -> None:
        self.put(T_DICT + _U64.pack(len(d)))
        for key, item in d.items():
            self.value(key, depth + 1)
            self.value(item, depth + 1)

    def array(self, arr: np.ndarray) -> None:
        if type(arr) is not np.ndarray:
            # a masked array or matrix would silently lose its mask or kind: make the caller choose
            raise CodecError(f"cannot encode ndarray subclass {type(arr).__name__}; pass np.asarray(x)")
        dtype_text = _dtype_text(arr.dtype)
        if arr.flags.f_contiguous and not arr.flags.c_contiguous:
            order, raw = b"F", arr.T  # the transpose of an F-ordered array is C-ordered: no copy
        else:
            order, raw = b"C", np.ascontiguousarray(arr)  # copies only a non-contiguous view
        head = [T_ARRAY, _U8.pack(len(dtype_text)), dtype_text, order, _U8.pack(arr.ndim)]
        head += [_U64.pack(dim) for dim in arr.shape]
        head.append(_U64.pack(arr.nbytes))
        self.put(b"".join(head))
        self.put(b"\0" * (-self.size % ALIGN))
        if arr.nbytes:
            self.put(raw.reshape(-1).view(np.uint8), arr.nbytes)

    def bigint_vector(self, vector: BigIntVector) -> None:
        self.put(T_BIGVEC + _U32.pack(vector.width) + _U64.pack(len(vector)))
        self.put(b"\0" * (-self.size % ALIGN))
        self.put(vector.buffer)

    def np_scalar(self, value: np.generic) -> None:
        dtype_text = _dtype_text(value.dtype)
        self.put(T_NPSCALAR + _U8.pack(len(dtype_text)) + dtype_text + value.tobytes())


_SEQUENCE_TAGS = {list: T_LIST, tuple: T_TUPLE, set: T_SET, frozenset: T_FROZENSET}


def _sequence_tag(obj: Any) -> bytes:
    for kind, tag in _SEQUENCE_TAGS.items():
        if isinstance(obj, kind):
            return tag
    raise CodecError(f"cannot encode objects of type {type(obj).__module__}.{type(obj).__qualname__}")


def _dtype_text(dtype: np.dtype) -> bytes:
    if dtype.kind not in _ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise CodecError(f"cannot encode arrays of dtype {dtype} (numeric and bool dtypes only)")
    return dtype.str.encode("ascii")


# ---------------------------------------------------------------------------------------------- decoding


class _Decoder:
    def __init__(self, view: memoryview) -> None:
        self.view = view
        self.pos = len(MAGIC)

    def take(self, n: int) -> memoryview:
        end = self.pos + n
        if n < 0 or end > self.view.nbytes:
            raise CodecError(f"truncated: {n} bytes needed at byte {self.pos}, {self.view.nbytes - self.pos} left")
        chunk = self.view[self.pos:end]
        self.pos = end
        return chunk

    def unpack(self, fmt: struct.Struct) -> Any:
        return fmt.unpack(self.take(fmt.size))[0]

    def count(self, min_item_bytes: int) -> int:
        """A length field, refused when the rest of the buffer cannot hold that many items."""
        n = self.unpack(_U64)
        if n * min_item_bytes > self.view.nbytes - self.pos:
            raise CodecError(f"length {n} at byte {self.pos - 8} exceeds the remaining data")
        return n

    def value(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise CodecError(f"nesting deeper than {MAX_DEPTH} levels")
        tag = bytes(self.take(1))
        reader = _READERS.get(tag)
        if reader is None:
            raise CodecError(f"unknown tag {tag!r} at byte {self.pos - 1}")
        return reader(self, depth)

    def integer(self, _depth: int) -> int:
        n = self.unpack(_U32)
        return int.from_bytes(self.take(n), "little", signed=True)

    def text(self, _depth: int) -> str:
        raw = self.take(self.count(1))
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError as exc:
            raise CodecError(f"invalid utf-8 in a string: {exc}") from exc

    def blob(self, _depth: int) -> bytes:
        return bytes(self.take(self.count(1)))

    def items(self, depth: int) -> list:
        n = self.count(1)  # every value takes at least its tag byte
        return [self.value(depth + 1) for _ in range(n)]

    def mapping(self, depth: int) -> dict:
        n = self.count(2)
        out = {}
        for _ in range(n):
            key = self.value(depth + 1)
            try:
                out[key] = self.value(depth + 1)
            except TypeError as exc:
                raise CodecError(f"unhashable dict key of type {type(key).__name__}") from exc
        return out

    def dtype(self) -> np.dtype:
        text = bytes(self.take(self.unpack(_U8))).decode("ascii", "replace")
        if not _DTYPE_TEXT.match(text):
            raise CodecError(f"dtype {text!r} is not allowed (numeric and bool dtypes only)")
        try:
            dtype = np.dtype(text)
        except TypeError as exc:
            raise CodecError(f"unknown dtype {text!r}") from exc
        # the regex admits e.g. "<i3"; only the canonical spelling of a real numeric dtype passes
        if dtype.kind not in _ALLOWED_KINDS or dtype.str != text.replace("=", dtype.str[0]):
            raise CodecError(f"dtype {text!r} is not allowed (numeric and bool dtypes only)")
        return dtype

    def array(self, _depth: int) -> np.ndarray:
        dtype = self.dtype()
        order = bytes(self.take(1))
        if order not in (b"C", b"F"):
            raise CodecError(f"unknown array order {order!r}")
        ndim = self.unpack(_U8)
        if ndim > _MAX_NDIM:
            raise CodecError(f"array has {ndim} dimensions (at most {_MAX_NDIM})")
        shape = tuple(self.unpack(_U64) for _ in range(ndim))
        nbytes = self.unpack(_U64)
        size = 1
        for dim in shape:
            size *= dim
        if size * dtype.itemsize != nbytes:
            raise CodecError(f"array of shape {shape} and dtype {dtype} cannot hold {nbytes} bytes")
        self.take(-self.pos % ALIGN)
        start = self.pos
        self.take(nbytes)
        if size == 0:
            return np.empty(shape, dtype=dtype, order=order.decode())
        flat = np.frombuffer(self.view, dtype=dtype, count=size, offset=start)
        if not flat.flags.aligned:
            flat = flat.copy()  # numpy works on unaligned data, but slowly: pay one copy instead
        return flat.reshape(shape) if order == b"C" else flat.reshape(shape[::-1]).T

    def bigint_vector(self, _depth: int) -> BigIntVector:
        width = self.unpack(_U32)
        if not 0 < width <= MAX_BIGINT_WIDTH:
            raise CodecError(f"big integer width {width} out of range (1..{MAX_BIGINT_WIDTH} bytes)")
        count = self.unpack(_U64)
        self.take(-self.pos % ALIGN)
        return BigIntVector(self.take(count * width), width, count)

    def np_scalar(self, _depth: int) -> np.generic:
        dtype = self.dtype()
        return np.frombuffer(bytes(self.take(dtype.itemsize)), dtype=dtype, count=1)[0]


def _const(value: Any) -> Callable[[_Decoder, int], Any]:
    return lambda _decoder, _depth: value


_READERS: dict[bytes, Callable[[_Decoder, int], Any]] = {
    T_NONE: _const(None),
    T_TRUE: _const(True),
    T_FALSE: _const(False),
    T_INT: _Decoder.integer,
    T_FLOAT: lambda d, _depth: d.unpack(_F64),
    T_COMPLEX: lambda d, _depth: complex(*_C128.unpack(d.take(_C128.size))),
    T_STR: _Decoder.text,
    T_BYTES: _Decoder.blob,
    T_LIST: _Decoder.items,
    T_TUPLE: lambda d, depth: tuple(d.items(depth)),
    T_SET: lambda d, depth: set(d.items(depth)),
    T_FROZENSET: lambda d, depth: frozenset(d.items(depth)),
    T_DICT: _Decoder.mapping,
    T_ARRAY: _Decoder.array,
    T_NPSCALAR: _Decoder.np_scalar,
    T_BIGVEC: _Decoder.bigint_vector,
}
