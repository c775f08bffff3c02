"""The sending half of the data plane: one object pushed to a party's server as a stream of Packets
(the protocol is described in ``fate_flow.federation.transfer``, which receives them).

Executors send through this module; it needs only gRPC and FATE's proxy messages, nothing of the server.
A push is signed: its first packet carries, in ``header.ext``, a signature over the object's identity
(job, key, source and destination role and party), its size, a timestamp and a nonce (``push_message``),
made fresh for every attempt; the receiver checks it before it stores anything.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import grpc

from fate_flow.proto import proxy_pb2

PUSH_COMMAND = "fate_flow.federation.push"
CHUNK_SIZE = 4 << 20
MAX_OBJECT_SIZE = 1 << 40  # a sanity bound on the announced size, not a quota
# no message size limit: a packet holds one chunk, and chunk_size is the sender's choice
CHANNEL_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
_RETRY_CODES = (grpc.StatusCode.UNAVAILABLE,)


class TransferError(RuntimeError):
    """A push failed (receiver unreachable, refused the object, or the deadline passed)."""


# how a push is signed: with the sending party's Ed25519 key, with the secret it shares with the receiving
# party (hmac mode), or, between two tasks served by one server, with that server's local token
SCHEME_ED25519 = "ed25519"
SCHEME_HMAC = "hmac-sha256"
SCHEME_LOCAL = "local-token"


@dataclass(frozen=True)
class PushAuth:
    """The signature of one push, as its first packet carries it (``header.ext`` JSON, key ``auth``)."""

    scheme: str
    timestamp: str  # milliseconds since the epoch
    nonce: str
    signature: str  # base64

    @classmethod
    def of(cls, value: Any) -> PushAuth:
        """From the decoded ``auth`` object; ValueError when a field is missing or not a string."""
        if not isinstance(value, dict) or not all(isinstance(value.get(f), str) and value.get(f)
                                                  for f in ("scheme", "timestamp", "nonce", "signature")):
            raise ValueError('the push signature (header.ext "auth") needs the strings scheme, timestamp, nonce '
                             "and signature")
        return cls(value["scheme"], value["timestamp"], value["nonce"], value["signature"])


def push_message(job_id: str, key: str, src_role: str, src_party: str, dst_role: str, dst_party: str, size: int,
                 timestamp: str, nonce: str) -> bytes:
    """What a push signature covers: which object goes from whom to whom, its size, when, and once."""
    # a JSON list: no separator inside a field can make two different pushes sign the same bytes
    return json.dumps(["fate-flow-push-v1", job_id, key, src_role, str(src_party), dst_role, str(dst_party), size,
                       timestamp, nonce], separators=(",", ":")).encode()


def object_key(session: str, name: str, tag: str, src: tuple[str, str], dst: tuple[str, str]) -> str:
    """An object's mailbox key: session, name, tag and both (role, party id) as a JSON list, so distinct
    objects never share one, and the receiver can check that the key names the party that signed it."""
    # JSON, not a joined string: no separator inside a name or tag can make two keys equal
    return json.dumps([session, name, tag, src[0], str(src[1]), dst[0], str(dst[1])])


def key_parties(key: str) -> tuple[str, str, str, str] | None:
    """(source role, source party, destination role, destination party) named by an ``object_key``; None
    for a key of another shape."""
    try:
        parts = json.loads(key)
    except ValueError:
        return None
    if not (isinstance(parts, list) and len(parts) == 7 and all(isinstance(p, str) for p in parts)):
        return None
    return parts[3], parts[4], parts[5], parts[6]


# (destination party id, message) -> (scheme, base64 signature) with the sender's key for that destination,
# or None where signing is off
PushSigner = Callable[[str, bytes], "tuple[str, str] | None"]


# the object to send: bytes, or buffers whose concatenation is the object (codec.encode_parts)
Payload = bytes | bytearray | memoryview | Sequence[Any]
_PUSH_METHOD = f"/{proxy_pb2.DESCRIPTOR.services_by_name['DataTransferService'].full_name}/push"
_channels: dict[str, tuple[grpc.Channel, grpc.StreamUnaryMultiCallable]] = {}
_channels_lock = threading.Lock()


def _push_call(target: str) -> grpc.StreamUnaryMultiCallable:
    # one channel per target for the process: HTTP/2 multiplexes parallel pushes over it. Requests go out
    # pre-serialized (push_frames), so the serializer is the identity.
    with _channels_lock:
        entry = _channels.get(target)
        if entry is None:
            channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
            call = channel.stream_unary(_PUSH_METHOD, request_serializer=_identity,
                                        response_deserializer=proxy_pb2.Metadata.FromString)
            entry = _channels[target] = (channel, call)
    return entry[1]


def _identity(frame: bytes) -> bytes:
    return frame


def close_channels() -> None:
    """Close every gRPC channel this process keeps; the next push opens a new one."""
    with _channels_lock:
        entries = list(_channels.values())
        _channels.clear()
    for channel, _call in entries:
        channel.close()


def payload_size(data: Payload) -> int:
    """The object's size in bytes (the sum of its buffers)."""
    return sum(view.nbytes for view in payload_views(data))


def sign_push(signer: PushSigner, job_id: str, src_role: str, src_party: str, dst_role: str, dst_party: str,
              key: str, size: int) -> PushAuth | None:
    """A fresh signature (new timestamp and nonce) for one attempt at pushing an object; None unsigned."""
    timestamp, nonce = str(int(time.time() * 1000)), uuid.uuid4().hex
    message = push_message(job_id, key, src_role, str(src_party), dst_role, str(dst_party), size, timestamp, nonce)
    signed = signer(str(dst_party), message)
    return PushAuth(signed[0], timestamp, nonce, signed[1]) if signed else None


def push_frames(job_id: str, src_role: str, src_party: str, dst_role: str, dst_party: str, key: str,
                data: Payload, chunk_size: int = CHUNK_SIZE, auth: PushAuth | None = None) -> Iterator[bytes]:
    """The serialized Packets of one object, as ``send_object`` streams them (``auth`` in the first one).

    Built by hand (protobuf wire format of Packet{header=1, body=2{key=1, value=2}}) so that each byte of
    the object is copied once, into its frame, instead of into a message and again into its serialization.
    """
    views = payload_views(data)
    size = sum(view.nbytes for view in views)
    for seq, pieces in enumerate(_chunks(views, chunk_size)):
        length = sum(piece.nbytes for piece in pieces)
        if seq == 0:
            header = proxy_pb2.Metadata(
                task=proxy_pb2.Task(taskId=job_id), src=proxy_pb2.Topic(role=src_role, partyId=str(src_party)),
                dst=proxy_pb2.Topic(role=dst_role, partyId=str(dst_party)),
                command=proxy_pb2.Command(name=PUSH_COMMAND),
                ext=json.dumps({"size": size, **({"auth": asdict(auth)} if auth else {})}).encode())
            key_bytes = key.encode()
            body_head = _field(1, len(key_bytes)) + key_bytes + _field(2, length)
        else:
            header = proxy_pb2.Metadata(seq=seq)
            body_head = _field(2, length)
        header_bytes = header.SerializeToString()
        yield b"".join([_field(1, len(header_bytes)), header_bytes, _field(2, len(body_head) + length), body_head,
                        *pieces])


def payload_views(data: Payload) -> list[memoryview]:
    """The object's bytes as flat byte views, in order (no copy)."""
    parts = [data] if isinstance(data, bytes | bytearray | memoryview) else data
    return [memoryview(part).cast("B") for part in parts]


def _chunks(views: list[memoryview], chunk_size: int) -> Iterator[list[memoryview]]:
    """Slices of ``views`` grouped into chunks of ``chunk_size`` bytes (the last may be shorter; at least
    one chunk, empty for an empty object)."""
    current: list[memoryview] = []
    room = chunk_size
    emitted = False
    for view in views:
        while view.nbytes:
            piece, view = view[:room], view[room:]
            current.append(piece)
            room -= piece.nbytes
            if room == 0:
                yield current
                current, room, emitted = [], chunk_size, True
    if current or not emitted:
        yield current


def _field(number: int, length: int) -> bytes:
    """A length-delimited field's key and length (protobuf varints)."""
    return _varint(number << 3 | 2) + _varint(length)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def send_object(grpc_target: str, job_id: str, src_role: str, src_party: str, dst_role: str, dst_party: str,
                key: str, data: Payload, timeout: float, chunk_size: int = CHUNK_SIZE,
                signer: PushSigner | None = None) -> proxy_pb2.Metadata:
    """Push ``data`` as object ``key`` to the party served at ``grpc_target``; returns the receiver's ack.

    Signed by ``signer`` (unsigned without one: only a receiver that authenticates nobody takes it).
    Retries while the receiver is unavailable (starting, restarting) until ``timeout`` seconds have passed.
    """
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    size = payload_size(data)
    deadline = time.monotonic() + timeout
    push = _push_call(grpc_target)
    what = f"object {key!r} of job {job_id} to {dst_role} {dst_party} at {grpc_target}"
    for attempt in range(1_000_000):
        remaining = deadline - time.monotonic()
        # signed again for every attempt: the receiver may have spent the nonce of a push that broke off
        auth = sign_push(signer, job_id, src_role, src_party, dst_role, dst_party, key, size) if signer else None
        frames = push_frames(job_id, src_role, src_party, dst_role, dst_party, key, data, chunk_size, auth)
        try:
            ack = push(frames, timeout=max(remaining, 0.001))
            break
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            pause = min(0.05 * 2**attempt, 1.0)
            if code not in _RETRY_CODES or deadline - time.monotonic() <= pause:
                raise TransferError(f"cannot send {what}: {code.name if code else 'error'}: "
                                    f"{exc.details() if isinstance(exc, grpc.Call) else exc}") from exc
            time.sleep(pause)
    if ack.ack != size:
        raise TransferError(f"{what}: the receiver acknowledged {ack.ack} of {size} bytes")
    return ack
