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
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc

from fate_flow.engine.push import (  # noqa: F401 (the sender's names, re-exported for callers of this module)
    CHANNEL_OPTIONS,
    CHUNK_SIZE,
    MAX_OBJECT_SIZE,
    PUSH_COMMAND,
    Payload,
    TransferError,
    close_channels,
    payload_size,
    push_frames,
    send_object,
)
from fate_flow.manager.mailbox import Mailbox, MailboxError
from fate_flow.proto import proxy_pb2, proxy_pb2_grpc
from fate_flow.utils.paths import UnsafePathError


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
        """The gRPC ``push`` method: store one object's stream in ``mailbox`` and acknowledge it (``receive_push``)."""
        return receive_push(self.mailbox, request_iterator, context, self.authorize_push)


class MailboxPushService(MailboxPushMixin, proxy_pb2_grpc.DataTransferServiceServicer):
    """A servicer with only ``push`` (tests, or a dedicated data-plane server)."""

    def __init__(self, mailbox: Mailbox, authorize: PushAuthorizer | None = None):
        self.mailbox = mailbox
        self.authorize_push = authorize
