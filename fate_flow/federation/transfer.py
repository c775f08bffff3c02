"""Task data between parties: a client-streaming ``DataTransferService.push`` into the receiver's Mailbox.

One stream carries one object as a run of Packets:

- every packet: ``body.value`` = the next chunk, ``header.seq`` = its index (0, 1, 2 ...);
- the first packet also names the object: ``header.task.taskId`` = job id, ``header.src`` /
  ``header.dst`` = (role, partyId) of sender and receiver, ``body.key`` = the object key,
  ``header.command.name`` = ``PUSH_COMMAND`` and ``header.ext`` = JSON ``{"size": <total bytes>,
  "auth": {"scheme", "timestamp", "nonce", "signature"}}`` (the signature over ``push.push_message``);
  later packets may repeat these fields but must not change them.

Before anything is stored, the receiver checks who sent the object (``PushVerifier``: the sending
party's signature, or this server's local token for an object from a task it runs itself; a stale
timestamp or a used nonce is refused; UNAUTHENTICATED) and then whether that party may send it
(the authorizer: a running job of this server, a party of that job; PERMISSION_DENIED).
It writes the chunks to a Mailbox temp file and publishes the object when exactly ``size``
bytes arrived; it answers with a Metadata whose ``ack`` is the byte count and ``seq`` the packet count
(src/dst swapped). A malformed stream is refused with INVALID_ARGUMENT and leaves nothing behind.
A resend of the same key replaces the object, so the sender may retry a push that failed midway.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc

from fate_flow.engine.push import (  # noqa: F401 (the sender's names, re-exported for callers of this module)
    CHANNEL_OPTIONS,
    CHUNK_SIZE,
    MAX_OBJECT_SIZE,
    PUSH_COMMAND,
    SCHEME_LOCAL,
    Payload,
    PushAuth,
    TransferError,
    close_channels,
    key_parties,
    payload_size,
    push_frames,
    push_message,
    send_object,
)
from fate_flow.errors import AuthenticationError
from fate_flow.federation.signing import KeyRing, NonceCache, check_time
from fate_flow.federation.stream_guard import StreamGuard, StreamWatch
from fate_flow.log import audit_logger
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
    auth: PushAuth | None = None

    def signed_message(self, auth: PushAuth) -> bytes:
        """The bytes the sender signed for this object (``push.push_message``)."""
        return push_message(self.job_id, self.key, self.src_role, self.src_party, self.dst_role, self.dst_party,
                            self.size, auth.timestamp, auth.nonce)


# an authorization hook: the server may refuse objects for jobs or parties it does not serve
PushAuthorizer = Callable[[PushHeader], bool]


class PushVerifier:
    """Who pushed an object, checked before anything is stored (raises AuthenticationError naming the party).

    An object from a party this server serves comes from one of its own executors: it must carry an HMAC
    with the server's local token (no outsider has it). One from another party must carry that party's
    signature (its Ed25519 key, or in hmac mode the secret shared with it) unless this party turned
    signing off. Signed objects must be fresh and their nonce unused.
    """

    def __init__(self, keys: KeyRing, local_token: str, serves: Callable[[str], bool], nonces: NonceCache):
        self.keys = keys
        self.local_token = local_token
        self.serves = serves
        self.nonces = nonces

    def __call__(self, head: PushHeader) -> None:
        """Accept ``head``'s object as sent by ``head.src_party``, or raise AuthenticationError saying why not."""
        auth, src = head.auth, head.src_party
        what = f"object pushed as {head.src_role} {src} for job {head.job_id}"
        named = key_parties(head.key)
        if named != (head.src_role, src, head.dst_role, head.dst_party):
            # the receiving task finds objects by key: one keyed as another sender's would pass for it
            raise AuthenticationError(f"{what}: its key names {_sender(named)}, not the party that sent it")
        if self.serves(src):
            if auth is None or auth.scheme != SCHEME_LOCAL or not self._local_token_valid(head, auth):
                raise AuthenticationError(f"{what}: party {src} is served by this server, and only its own "
                                          "executors (with its local token) may push as that party")
        elif not self.keys.enabled:
            return  # this party turned party-to-party authentication off (warned at start-up)
        elif auth is None:
            raise AuthenticationError(f"unsigned {what}: this server takes only objects signed by the "
                                      "sending party")
        else:
            self.keys.verify_push_signature(src, auth.scheme, head.signed_message(auth), auth.signature)
        check_time(auth.timestamp, self.keys.max_skew)
        self.nonces.check(auth.nonce, src, what)

    def _local_token_valid(self, head: PushHeader, auth: PushAuth) -> bool:
        expected = hmac.new(self.local_token.encode(), head.signed_message(auth), hashlib.sha256).digest()
        return hmac.compare_digest(base64.b64encode(expected).decode(), auth.signature)


def _sender(named: tuple[str, str, str, str] | None) -> str:
    if named is None:
        return "no sender (not an object key of this data plane)"
    return f"{named[0]} {named[1]} -> {named[2]} {named[3]}"


# ------------------------------------------------------------------------------------------- receiver


def receive_push(mailbox: Mailbox, request_iterator: Iterator[proxy_pb2.Packet], context: grpc.ServicerContext,
                 authorize: PushAuthorizer | None = None, verify: PushVerifier | None = None,
                 guard: StreamGuard | None = None) -> proxy_pb2.Metadata:
    """Serve one push stream: check who sent it (``verify``) and that they may (``authorize``), within the
    limits of ``guard`` (idle and total deadlines, object size, streams per party), then store its object in
    ``mailbox`` and acknowledge it."""
    with guard.watch(context) if guard else contextlib.nullcontext() as watch:
        first = next(request_iterator, None)
        if first is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "empty push stream")
        try:
            head = _read_header(first)
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if verify is not None:
            try:
                verify(head)
            except AuthenticationError as exc:
                audit_logger("").warning("refused a push from %s: %s", context.peer(), exc.message)
                context.abort(grpc.StatusCode.UNAUTHENTICATED, exc.message)
        if authorize is not None and not authorize(head):
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"this server takes no objects for job {head.job_id} party {head.dst_role}/{head.dst_party}")
        if guard is not None and head.size > guard.limits.max_object_bytes:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"an object of {head.size} bytes is larger than this server takes "
                          f"({guard.limits.max_object_bytes} bytes, limits.object_mb)")
        with guard.peer_slot(head.src_party) if guard else contextlib.nullcontext(True) as slot:
            if not slot:
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                              f"party {head.src_party} has {guard.limits.peer_streams} pushes open already "
                              "(limits.peer_streams): retry later")
            return _store(mailbox, first, request_iterator, head, context, watch)


def _store(mailbox: Mailbox, first: proxy_pb2.Packet, rest: Iterator[proxy_pb2.Packet], head: PushHeader,
           context: grpc.ServicerContext, watch: StreamWatch | None) -> proxy_pb2.Metadata:
    try:
        writer = mailbox.open_incoming(head.job_id, head.key, head.size)
    except (MailboxError, UnsafePathError) as exc:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    try:
        packets = _store_packets(writer, first, rest, head, watch)
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


def _store_packets(writer, first: proxy_pb2.Packet, rest: Iterator[proxy_pb2.Packet], head: PushHeader,
                   watch: StreamWatch | None = None) -> int:
    writer.write(first.body.value)
    count = 1
    for packet in rest:
        if watch is not None:
            watch.packet()
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
        ext = json.loads(header.ext)
        size = ext["size"]
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError('the first packet\'s header.ext must be JSON {"size": <total bytes>}') from exc
    if type(size) is not int or not 0 <= size <= MAX_OBJECT_SIZE:
        raise ValueError(f"announced size {size!r} is not a byte count")
    auth = PushAuth.of(ext["auth"]) if "auth" in ext else None
    return PushHeader(header.task.taskId, packet.body.key, header.src.role, header.src.partyId,
                      header.dst.role, header.dst.partyId, size, auth)


def _check_same_object(packet: proxy_pb2.Packet, first: proxy_pb2.Packet) -> None:
    """Later packets may leave the identifying fields empty, but not point at another object."""
    pairs = [(packet.header.task.taskId, first.header.task.taskId), (packet.body.key, first.body.key),
             (packet.header.src.partyId, first.header.src.partyId), (packet.header.src.role, first.header.src.role),
             (packet.header.dst.partyId, first.header.dst.partyId), (packet.header.dst.role, first.header.dst.role)]
    if any(value and value != expected for value, expected in pairs):
        raise ValueError(f"packet {packet.header.seq} belongs to another object than packet 0")


class MailboxPushMixin:
    """Adds ``push`` to a DataTransferService servicer; the class sets ``mailbox`` (and may set
    ``authorize_push`` and ``verify_push``)."""

    mailbox: Mailbox
    authorize_push: PushAuthorizer | None = None
    verify_push: PushVerifier | None = None
    push_guard: StreamGuard | None = None

    def push(self, request_iterator: Iterator[proxy_pb2.Packet],
             context: grpc.ServicerContext) -> proxy_pb2.Metadata:
        """The gRPC ``push`` method: store one object's stream in ``mailbox`` and acknowledge it (``receive_push``)."""
        return receive_push(self.mailbox, request_iterator, context, self.authorize_push,
                            self.push_verifier(context), self.push_guard)

    def push_verifier(self, context: grpc.ServicerContext) -> PushVerifier | None:
        """Who checks the senders of objects (None: nobody, for a servicer that trusts its callers)."""
        return self.verify_push


class MailboxPushService(MailboxPushMixin, proxy_pb2_grpc.DataTransferServiceServicer):
    """A servicer with only ``push`` (tests, or a dedicated data-plane server)."""

    def __init__(self, mailbox: Mailbox, authorize: PushAuthorizer | None = None,
                 verify: PushVerifier | None = None, guard: StreamGuard | None = None):
        self.mailbox = mailbox
        self.authorize_push = authorize
        self.verify_push = verify
        self.push_guard = guard
