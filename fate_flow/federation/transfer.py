"""Task data between parties: a client-streaming ``DataTransferService.push`` into the receiver's Mailbox.

One stream carries one object as a run of Packets:

- every packet: ``body.value`` = the next chunk, ``header.seq`` = its index (0, 1, 2 ...);
- the first packet also names the object: ``header.task.taskId`` = job id, ``header.src`` /
  ``header.dst`` = (role, partyId) of sender and receiver, ``body.key`` = the object key,
  ``header.command.name`` = ``PUSH_COMMAND`` and ``header.ext`` = JSON ``{"size": <total bytes>}``;
  later packets may repeat these fields but must not change them.

The receiver writes the chunks to a Mailbox temp file and publishes the object when exactly ``size``
bytes arrived; it answers with a Metadata whose ``ack`` is the byte count and ``seq`` the packet count
(src/dst swapped). A malformed stream is refused with INVALID_ARGUMENT and leaves nothing behind.
A resend of the same key replaces the object, so the sender may retry a push that failed midway.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from fate_flow.federation.proto import proxy_pb2, proxy_pb2_grpc
from fate_flow.manager.mailbox import Mailbox, MailboxError
from fate_flow.utils.paths import UnsafePathError

PUSH_COMMAND = "fate_flow.federation.push"
CHUNK_SIZE = 4 << 20
MAX_OBJECT_SIZE = 1 << 40  # a sanity bound on the announced size, not a quota
# no message size limit: a packet holds one chunk, and chunk_size is the sender's choice
CHANNEL_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
_RETRY_CODES = (grpc.StatusCode.UNAVAILABLE,)


class TransferError(RuntimeError):
    """A push failed (receiver unreachable, refused the object, or the deadline passed)."""


@dataclass(frozen=True)
class PushHeader:
    """Who sends which object to whom, as announced by a stream's first packet."""

    job_id: str
    key: str
    src_role: str
    src_party: str
    dst_role: str
    dst_party: str
    size: int


# an authorization hook: the server may refuse objects for jobs or parties it does not serve
PushAuthorizer = Callable[[PushHeader], bool]


# ------------------------------------------------------------------------------------------- receiver


def receive_push(mailbox: Mailbox, request_iterator: Iterator[proxy_pb2.Packet], context: grpc.ServicerContext,
                 authorize: PushAuthorizer | None = None) -> proxy_pb2.Metadata:
    """Serve one push stream: store its object in ``mailbox`` and acknowledge it."""
    first = next(request_iterator, None)
    if first is None:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "empty push stream")
    try:
        head = _read_header(first)
    except ValueError as exc:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    if authorize is not None and not authorize(head):
        context.abort(grpc.StatusCode.PERMISSION_DENIED,
                      f"this server takes no objects for job {head.job_id} party {head.dst_role}/{head.dst_party}")
    try:
        writer = mailbox.open_incoming(head.job_id, head.key, head.size)
    except (MailboxError, UnsafePathError) as exc:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    try:
        packets = _store_packets(writer, first, request_iterator, head)
        writer.commit()
    except (MailboxError, ValueError) as exc:
        writer.abort()
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    finally:
        writer.abort()  # a no-op once committed; drops the temp file if the sender went away midway
    return proxy_pb2.Metadata(
        task=first.header.task, src=first.header.dst, dst=first.header.src, command=first.header.command,
        seq=packets, ack=head.size, ext=json.dumps({"size": head.size}).encode(),
    )


def _store_packets(writer, first: proxy_pb2.Packet, rest: Iterator[proxy_pb2.Packet], head: PushHeader) -> int:
    writer.write(first.body.value)
    count = 1
    for packet in rest:
        if packet.header.seq != count:
            raise ValueError(f"packet {packet.header.seq} arrived where packet {count} was expected")
        _check_same_object(packet, first)
        writer.write(packet.body.value)
        count += 1
    return count


def _read_header(packet: proxy_pb2.Packet) -> PushHeader:
    header = packet.header
    if header.seq != 0:
        raise ValueError(f"a push stream must start with packet 0, not {header.seq}")
    if header.command.name != PUSH_COMMAND:
        raise ValueError(f"command {header.command.name!r} is not {PUSH_COMMAND!r}")
    fields = {"job id (header.task.taskId)": header.task.taskId, "object key (body.key)": packet.body.key,
              "header.src.role": header.src.role, "header.src.partyId": header.src.partyId,
              "header.dst.role": header.dst.role, "header.dst.partyId": header.dst.partyId}
    missing = [name for name, value in fields.items() if not value]
    if missing:
        raise ValueError(f"push stream without {', '.join(missing)}")
    try:
        size = json.loads(header.ext)["size"]
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError('the first packet\'s header.ext must be JSON {"size": <total bytes>}') from exc
    if type(size) is not int or not 0 <= size <= MAX_OBJECT_SIZE:
        raise ValueError(f"announced size {size!r} is not a byte count")
    return PushHeader(header.task.taskId, packet.body.key, header.src.role, header.src.partyId,
                      header.dst.role, header.dst.partyId, size)


def _check_same_object(packet: proxy_pb2.Packet, first: proxy_pb2.Packet) -> None:
    """Later packets may leave the identifying fields empty, but not point at another object."""
    pairs = [(packet.header.task.taskId, first.header.task.taskId), (packet.body.key, first.body.key),
             (packet.header.src.partyId, first.header.src.partyId), (packet.header.src.role, first.header.src.role),
             (packet.header.dst.partyId, first.header.dst.partyId), (packet.header.dst.role, first.header.dst.role)]
    if any(value and value != expected for value, expected in pairs):
        raise ValueError(f"packet {packet.header.seq} belongs to another object than packet 0")


class MailboxPushMixin:
    """Adds ``push`` to a DataTransferService servicer; the class sets ``mailbox`` (and may set
    ``authorize_push``)."""

    mailbox: Mailbox
    authorize_push: PushAuthorizer | None = None

    def push(self, request_iterator: Iterator[proxy_pb2.Packet],
             context: grpc.ServicerContext) -> proxy_pb2.Metadata:
        return receive_push(self.mailbox, request_iterator, context, self.authorize_push)


class MailboxPushService(MailboxPushMixin, proxy_pb2_grpc.DataTransferServiceServicer):
    """A servicer with only ``push`` (tests, or a dedicated data-plane server)."""

    def __init__(self, mailbox: Mailbox, authorize: PushAuthorizer | None = None):
        self.mailbox = mailbox
        self.authorize_push = authorize


# ------------------------------------------------------------------------------------------- sender

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
    with _channels_lock:
        entries = list(_channels.values())
        _channels.clear()
    for channel, _call in entries:
        channel.close()


def payload_size(data: Payload) -> int:
    return sum(view.nbytes for view in _views(data))


def push_frames(job_id: str, src_role: str, src_party: str, dst_role: str, dst_party: str, key: str,
                data: Payload, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The serialized Packets of one object, as ``send_object`` streams them.

    Built by hand (protobuf wire format of Packet{header=1, body=2{key=1, value=2}}) so that each byte of
    the object is copied once, into its frame, instead of into a message and again into its serialization.
    """
    views = _views(data)
    size = sum(view.nbytes for view in views)
    for seq, pieces in enumerate(_chunks(views, chunk_size)):
        length = sum(piece.nbytes for piece in pieces)
        if seq == 0:
            header = proxy_pb2.Metadata(
                task=proxy_pb2.Task(taskId=job_id), src=proxy_pb2.Topic(role=src_role, partyId=str(src_party)),
                dst=proxy_pb2.Topic(role=dst_role, partyId=str(dst_party)),
                command=proxy_pb2.Command(name=PUSH_COMMAND), ext=json.dumps({"size": size}).encode())
            key_bytes = key.encode()
            body_head = _field(1, len(key_bytes)) + key_bytes + _field(2, length)
        else:
            header = proxy_pb2.Metadata(seq=seq)
            body_head = _field(2, length)
        header_bytes = header.SerializeToString()
        yield b"".join([_field(1, len(header_bytes)), header_bytes, _field(2, len(body_head) + length), body_head,
                        *pieces])


def _views(data: Payload) -> list[memoryview]:
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
                key: str, data: Payload, timeout: float, chunk_size: int = CHUNK_SIZE) -> proxy_pb2.Metadata:
    """Push ``data`` as object ``key`` to the party served at ``grpc_target``; returns the receiver's ack.

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
        frames = push_frames(job_id, src_role, src_party, dst_role, dst_party, key, data, chunk_size)
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
