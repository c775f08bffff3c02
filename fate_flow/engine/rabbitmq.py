"""The RabbitMQ data plane (``default_engines.federation: rabbitmq``): ``remote`` / ``get`` as ``Federation``.

FATE's client mode: a sender connects to the DESTINATION party's broker and publishes there; each party
consumes from its own broker (no federation plugin, no management API).

- Queues: one per job, component and (source, destination) (role, party id) pair (``queue_name``), durable,
  on the destination's broker, declared by the receiving task when it starts (a sender never creates one:
  it waits until its receiver opened it, so nothing recreates a queue the job's end deleted) and deleted by
  the destination's server when the job ends there (``manager.broker``); ``x-expires`` drops one a server
  never deleted. One receiving task consumes a queue (a party playing two roles has one queue per role).
- Objects: encoded once with the typed codec (never pickle), split into messages of at most
  ``max_message_size`` bytes, persistent, published with publisher confirms (a message counts as sent
  once the broker acknowledged it); every message says which object (the object key of ``Federation``:
  session, name, tag, both parties), which transfer (a uuid per send) and which piece it is.
- Signing: the last message of a transfer carries the SHA-256 of the object and the sender's signature
  over (job, key, both parties, size, digest, transfer) made as pushes are signed (``PushKeys``: Ed25519
  site key, HMAC per peer, or this server's local token between its own parties). The receiving executor
  checks the queue's pair, the job's parties, the size limit, the digest and the signature before it
  decodes anything; a failure fails the task, naming why. Messages of an earlier session (a rerun's
  leftovers) are dropped undecoded.
- Delivery: manual acks after a message is held in the receiver's memory; a lost connection is reopened
  (the broker redelivers what was not acked; pieces are de-duplicated), a broker unreachable for
  ``RECONNECT_S`` fails the task with a message saying so; a ``get`` never waits past its timeout.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPChannelError, AMQPConnectionError, NackError, UnroutableError

from fate_flow.engine import codec
from fate_flow.engine import push as transfer
from fate_flow.engine.federation import FederationError, FederationTimeout, PushKeys
from fate_flow.entity.task_config import BrokerAddress, PushSigning, RabbitMQConfig, TaskConfig

Party = tuple[str, str]
logger = logging.getLogger("fate_flow.federation.rabbitmq")
# pika logs every connection opened and closed, and each failed one with its traceback: what went wrong is
# logged here once, in our words
logging.getLogger("pika").setLevel(logging.CRITICAL)

QUEUE_PREFIX = "fate_flow"
# a queue its server never deleted (the server was gone at the job's end) disappears after 3 days unused
QUEUE_ARGUMENTS = {"x-expires": 3 * 24 * 3600 * 1000}
MESSAGE_VERSION = 1
PREFETCH = 32  # unacked messages the broker hands one consumer: bounds what waits in the socket
RECONNECT_S = 60.0  # how long a broker may stay unreachable before the task fails
CONNECT_TIMEOUT_S = 10.0
POLL_S = 1.0  # one wait for deliveries (the deadline is checked between them)
_CONNECTION_ERRORS = (AMQPConnectionError, AMQPChannelError, OSError)


def queue_name(job_id: str, component: str, src: Party, dst: Party) -> str:
    """The queue that carries one component's objects from ``src`` to ``dst`` in one job, on ``dst``'s broker."""
    name = f"{QUEUE_PREFIX}.{job_id}.{component}.{src[0]}-{src[1]}.{dst[0]}-{dst[1]}"
    if len(name.encode()) <= 255:  # AMQP's limit on a queue name
        return name
    return f"{QUEUE_PREFIX}.{job_id}.{hashlib.sha256(name.encode()).hexdigest()}"


def signed_message(job_id: str, key: str, src: Party, dst: Party, size: int, digest: str, transfer_id: str) -> bytes:
    """What a transfer's signature covers: which object, from whom to whom, its size and digest, and which send."""
    # a JSON list: no separator inside a field can make two different transfers sign the same bytes
    return json.dumps(["fate-flow-mq-v1", job_id, key, src[0], str(src[1]), dst[0], str(dst[1]), size, digest,
                       transfer_id], separators=(",", ":")).encode()


def connection_parameters(broker: BrokerAddress, heartbeat: int = 60) -> pika.ConnectionParameters:
    """How to open a connection to ``broker``: bounded connect and blocked-connection waits, heartbeats."""
    return pika.ConnectionParameters(
        host=broker.host, port=broker.port, credentials=pika.PlainCredentials(broker.user, broker.password),
        heartbeat=heartbeat, connection_attempts=1, socket_timeout=CONNECT_TIMEOUT_S,
        stack_timeout=CONNECT_TIMEOUT_S + 5, blocked_connection_timeout=300,
        client_properties={"connection_name": "fate_flow executor"})


def declare(channel: BlockingChannel, queue: str) -> None:
    """Create ``queue`` unless it exists (the same arguments on every side, or the broker refuses)."""
    channel.queue_declare(queue=queue, durable=True, arguments=QUEUE_ARGUMENTS)


class SignatureCheck:
    """Whether a transfer was signed by the party it says it comes from, as this party's server checks pushes
    (``federation.transfer.PushVerifier``): a party served here with this server's local token, another with
    its Ed25519 key (public key from the route table) or the secret shared with it; nothing is checked
    when this party turned signing off."""

    def __init__(self, signing: PushSigning, local_token: str):
        self.signing = signing
        self.local_token = local_token
        self.local_parties = {str(p) for p in signing.local_parties}

    def __call__(self, src_party: str, scheme: str, signature: str, message: bytes) -> str | None:
        """None when valid, else why not."""
        if src_party in self.local_parties:
            if scheme != transfer.SCHEME_LOCAL or not _hmac_valid(self.local_token, message, signature):
                return f"party {src_party} is served by this party's server and must sign with its local token"
            return None
        mode = self.signing.mode
        if mode == "none":
            return None
        if mode == "hmac":
            secret = self.signing.hmac_keys.get(src_party) or self.signing.hmac_keys.get("default")
            if not secret:
                return f"no key shared with party {src_party} (authentication.site.keys)"
            valid = scheme == transfer.SCHEME_HMAC and _hmac_valid(secret, message, signature)
            return None if valid else f"bad signature (hmac) of party {src_party}"
        public_key = self.signing.public_keys.get(src_party)
        if not public_key:
            return f"no public key of party {src_party} in the route table"
        valid = scheme == transfer.SCHEME_ED25519 and _ed25519_valid(public_key, signature, message)
        return None if valid else f"bad signature (ed25519) of party {src_party}"


def _hmac_valid(secret: str, message: bytes, signature: str) -> bool:
    expected = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, signature)


def _ed25519_valid(public_key: str, signature: str, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key)).verify(base64.b64decode(signature), message)
        return True
    except (InvalidSignature, ValueError):
        return False


def _close_quietly(connection: pika.BlockingConnection) -> None:
    # a connection that broke cannot be closed cleanly: it is dropped, whatever pika says about it
    with contextlib.suppress(Exception):
        connection.close()


# ------------------------------------------------------------------------------------------ sending


class _Publisher:
    """One connection (and confirming channel) to one broker, shared by the task's sends to it, one at a time."""

    def __init__(self, broker: BrokerAddress, heartbeat: int):
        self.broker = broker
        self.heartbeat = heartbeat
        self.lock = threading.Lock()
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def publish(self, queue: str, messages: Sequence[tuple[dict, bytes]], props: dict, deadline: float) -> None:
        """Publish ``messages`` (headers, body) to ``queue``, each confirmed by the broker. The receiving task
        opens its queues when it starts: until then (or after a broken connection, reopened) the whole
        transfer is sent again (the receiver keeps one copy of each piece) until ``deadline``;
        FederationError then, saying why."""
        with self.lock:
            attempt = 0
            while True:
                try:
                    channel = self._open()
                    for headers, body in messages:
                        channel.basic_publish("", queue, body, pika.BasicProperties(
                            delivery_mode=pika.DeliveryMode.Persistent, headers=headers, **props), mandatory=True)
                    return
                except UnroutableError:
                    error, pause = "the receiving task has not opened it (not started, or the job ended there)", 0.5
                except NackError:
                    error, pause = "the broker refused a message (nack)", 1.0
                except _CONNECTION_ERRORS as exc:
                    self.close()
                    error, pause = f"{type(exc).__name__}: {exc}", 1.0
                pause = min(0.05 * 2**attempt, pause)
                attempt += 1
                if time.monotonic() + pause > deadline:
                    raise FederationError(f"cannot publish to queue {queue} on the broker at {self._where()}: {error}")
                logger.debug("publishing to %s at %s: %s; retrying", queue, self._where(), error)
                time.sleep(pause)

    def _open(self) -> BlockingChannel:
        if self._channel is None or not self._channel.is_open:
            self.close()
            self._connection = pika.BlockingConnection(connection_parameters(self.broker, self.heartbeat))
            self._channel = self._connection.channel()
            self._channel.confirm_delivery()
        return self._channel

    def _where(self) -> str:
        return f"{self.broker.host}:{self.broker.port}"

    def close(self) -> None:
        """Close the connection (the next publish opens a new one)."""
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            _close_quietly(connection)


# ------------------------------------------------------------------------------------------ receiving


@dataclass
class _Assembly:
    """The pieces of one transfer received so far."""

    src: Party
    size: int
    count: int
    pieces: dict[int, bytes] = field(default_factory=dict)
    received: int = 0
    last: dict | None = None  # the headers of the last piece (digest and signature)


class _Consumer:
    """This task's consumer on its own broker: one connection, one channel, a consumer per queue it waits on.

    Objects are assembled per (key, transfer) as their pieces arrive (whatever the queue they are read
    for), checked when complete, and kept until ``take`` asks for their key."""

    def __init__(self, broker: BrokerAddress, heartbeat: int, accept: Callable[[str, dict, bytes], None]):
        self.broker = broker
        self.heartbeat = heartbeat
        self.accept = accept  # (queue, headers, body); raises FederationError to fail the task
        self.lock = threading.Lock()
        self.queues: list[str] = []
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._tags: dict[str, str] = {}  # consumer tag -> queue
        self._error: FederationError | None = None

    def start(self, queues: list[str]) -> None:
        """Declare ``queues`` (senders publish only into a queue its receiver opened) and consume them."""
        with self.lock:
            self.queues = list(queues)
            try:
                self._open()
            except _CONNECTION_ERRORS as exc:
                self.close()
                raise FederationError(f"cannot open this party's queues on its RabbitMQ broker at {self.broker.host}:"
                                      f"{self.broker.port}: {type(exc).__name__}: {exc}") from exc

    def pump(self, done: Callable[[], bool], deadline: float) -> bool:
        """Consume until ``done()`` or ``deadline`` (False then); reconnects within ``RECONNECT_S``."""
        with self.lock:
            lost_since: float | None = None
            while not done():
                if self._error is not None:
                    raise self._error
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                try:
                    self._open()
                    self._connection.process_data_events(time_limit=min(remaining, POLL_S))
                    lost_since = None
                except _CONNECTION_ERRORS as exc:
                    self.close()
                    lost_since = lost_since or time.monotonic()
                    if time.monotonic() - lost_since > RECONNECT_S:
                        raise FederationError(f"lost this party's RabbitMQ broker at {self.broker.host}:"
                                              f"{self.broker.port} for over {RECONNECT_S:.0f} s: "
                                              f"{type(exc).__name__} {exc}".rstrip()) from exc
                    logger.warning("the connection to the broker broke (%s %s): reconnecting", type(exc).__name__, exc)
                    time.sleep(min(1.0, max(remaining, 0)))
            if self._error is not None:
                raise self._error
            return True

    def _open(self) -> None:
        if self._channel is not None and self._channel.is_open:
            return
        self.close()
        self._connection = pika.BlockingConnection(connection_parameters(self.broker, self.heartbeat))
        self._channel = self._connection.channel()
        self._channel.basic_qos(prefetch_count=PREFETCH)
        self._tags.clear()
        for queue in self.queues:
            self._consume(queue)

    def _consume(self, queue: str) -> None:
        declare(self._channel, queue)
        tag = self._channel.basic_consume(queue, self._on_message, auto_ack=False)
        self._tags[tag] = queue

    def _on_message(self, channel: BlockingChannel, method: Any, properties: Any, body: bytes) -> None:
        # pika calls this from process_data_events: an error is kept and raised by pump, not thrown through pika
        try:
            self.accept(self._tags.get(method.consumer_tag, ""), dict(properties.headers or {}), body)
        except FederationError as exc:
            self._error = self._error or exc
        channel.basic_ack(method.delivery_tag)  # held (or refused): the broker need not keep it

    def close(self) -> None:
        """Close the connection; messages not acked go back to their queues."""
        connection, self._connection, self._channel = self._connection, None, None
        self._tags.clear()
        if connection is not None and connection.is_open:
            _close_quietly(connection)


class RabbitMQFederation:
    """The data plane of one task version over RabbitMQ; the interface of ``engine.federation.Federation``."""

    def __init__(self, job_id: str, component: str, role: str, party_id: str, session_id: str,
                 roles: dict[str, list[str]], config: RabbitMQConfig, signer: transfer.PushSigner,
                 check: SignatureCheck, send_timeout: float = 600.0, get_timeout: float = 3600.0,
                 max_workers: int = 8):
        self.job_id = job_id
        self.component = component
        self.me: Party = (role, str(party_id))
        self.session_id = session_id
        self.parties = {(r, str(p)) for r, ids in roles.items() for p in ids}
        self.config = config
        self.signer = signer
        self.check = check
        self.send_timeout = send_timeout
        self.get_timeout = get_timeout
        self.max_workers = max_workers
        self._publishers: dict[tuple[str, int, str], _Publisher] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        own = config.brokers.get(self.me[1])
        if own is None:
            raise FederationError(f"no RabbitMQ broker for this party {self.me[1]} (fate_on_spark.rabbitmq)")
        self._consumer = _Consumer(own, config.heartbeat, self._accept)
        self._assemblies: dict[tuple[str, str], _Assembly] = {}
        self._ready: dict[str, bytes] = {}
        self._taken: set[str] = set()
        # every party of the job may send to this task: its queues exist from now on, until the job ends here
        self._consumer.start(sorted({self.queue(src, self.me) for src in self.parties if src != self.me}))

    @classmethod
    def for_task(cls, config: TaskConfig) -> RabbitMQFederation:
        """The data plane of one task version (its session: task id + version) from its task config."""
        task, federation = config.task, config.federation
        if federation.rabbitmq is None:
            raise FederationError("the task config names the rabbitmq data plane but no brokers")
        return cls(task.job_id, task.component_name, task.role, task.party_id,
                   f"{task.task_id}_{task.task_version}", config.roles, federation.rabbitmq,
                   PushKeys(federation.signing, config.local_token),
                   SignatureCheck(federation.signing, config.local_token),
                   send_timeout=federation.send_timeout, get_timeout=federation.get_timeout)

    def object_key(self, name: str, tag: str, src: Party, dst: Party) -> str:
        """The object's key (``push.object_key``: session, name, tag and both parties), as over gRPC."""
        return transfer.object_key(self.session_id, name, tag, src, dst)

    def queue(self, src: Party, dst: Party) -> str:
        """The queue of this task's component from ``src`` to ``dst``."""
        return queue_name(self.job_id, self.component, src, dst)

    # ------------------------------------------------------------------------------------------ remote

    def remote(self, obj: Any, name: str, tag: str, parties: Sequence[Party]) -> None:
        """Send ``obj`` to every party of ``parties`` ((role, party_id) pairs), in parallel."""
        parts = codec.encode_parts(obj)
        views = transfer.payload_views(parts)
        size = sum(view.nbytes for view in views)
        if size > self.config.max_object_bytes:
            raise FederationError(f"{name!r} tag {tag!r} is {size} bytes, more than parties take "
                                  f"({self.config.max_object_bytes} bytes, limits.object_mb)")
        digest = hashlib.sha256()
        for view in views:
            digest.update(view)
        # one body per message, shared by every destination (the headers differ)
        bodies = [b"".join(pieces) for pieces in transfer._chunks(views, self.config.max_message_size)]
        hexdigest = digest.hexdigest()

        def send(party: Party) -> None:
            self._send(bodies, size, hexdigest, name, tag, (party[0], str(party[1])))

        if len(parties) == 1:
            send(parties[0])
            return
        futures = [(party, self._executor().submit(send, party)) for party in parties]
        errors = []
        for party, future in futures:
            try:
                future.result()
            except FederationError as exc:
                errors.append(f"{party[0]} {party[1]}: {exc}")
        if errors:
            raise FederationError(f"remote {name!r} tag {tag!r} failed for " + "; ".join(errors))

    def _send(self, bodies: list[bytes], size: int, digest: str, name: str, tag: str, dst: Party) -> None:
        broker = self.config.brokers.get(dst[1])
        if broker is None:
            raise FederationError(f"no RabbitMQ broker for party {dst[1]} (role {dst[0]}) for {name!r} tag {tag!r}: "
                                  "add it to fate_on_spark.rabbitmq.route_table")
        key = self.object_key(name, tag, self.me, dst)
        transfer_id = uuid.uuid4().hex
        signed = self.signer(dst[1], signed_message(self.job_id, key, self.me, dst, size, digest, transfer_id))
        head = {"v": MESSAGE_VERSION, "job": self.job_id, "key": key, "transfer": transfer_id, "size": size,
                "count": len(bodies)}
        messages = []
        for seq, body in enumerate(bodies):
            headers = {**head, "seq": seq}
            if seq == len(bodies) - 1:
                headers.update(digest=digest, scheme=signed[0] if signed else "", signature=signed[1] if signed else "")
            messages.append((headers, body))
        props = {"message_id": name, "correlation_id": tag, "app_id": "fate_flow"}  # FATE's fields, for a reader
        self._publisher(broker).publish(self.queue(self.me, dst), messages, props,
                                        time.monotonic() + self.send_timeout)

    def _publisher(self, broker: BrokerAddress) -> _Publisher:
        with self._lock:
            key = (broker.host, broker.port, broker.user)
            if key not in self._publishers:
                self._publishers[key] = _Publisher(broker, self.config.heartbeat)
            return self._publishers[key]

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="federation")
            return self._pool

    # ------------------------------------------------------------------------------------------ get

    def get(self, name: str, tag: str, parties: Sequence[Party], timeout: float | None = None) -> list[Any]:
        """One object from each of ``parties``, in their order; waits at most ``timeout`` seconds in all
        (``get_timeout`` by default). FederationTimeout when one does not arrive in time, FederationError
        when one is refused."""
        deadline = time.monotonic() + (self.get_timeout if timeout is None else timeout)
        sources = [(party[0], str(party[1])) for party in parties]
        keys = [self.object_key(name, tag, src, self.me) for src in sources]
        for index, (src, key) in enumerate(zip(sources, keys, strict=True)):
            if not self._consumer.pump(lambda key=key: key in self._ready, deadline):
                missing = [src] + [s for s, k in zip(sources[index + 1:], keys[index + 1:], strict=True)
                                   if k not in self._ready]
                who = ", ".join(f"{role} {party_id}" for role, party_id in missing)
                raise FederationTimeout(f"timed out waiting for {name!r} tag {tag!r} from {who} "
                                        f"(job {self.job_id}, {self.me[0]} {self.me[1]}, RabbitMQ)")
        objects = []
        for src, key in zip(sources, keys, strict=True):
            data = self._ready.pop(key)
            self._taken.add(key)
            try:
                objects.append(codec.decode(data))
            except codec.CodecError as exc:
                raise FederationError(f"{name!r} tag {tag!r} from {src[0]} {src[1]}: {exc}") from exc
        return objects

    def _accept(self, queue: str, headers: dict, body: bytes) -> None:
        """One message of ``queue``: held as a piece of its transfer; a complete transfer is checked and its
        object kept for ``get``. FederationError (failing the task) for anything not sent by the job's party."""
        where = f"queue {queue} (job {self.job_id}, {self.me[0]} {self.me[1]})"
        head = _header(headers, where)
        src, key = head.src, head.key
        if src not in self.parties:
            raise FederationError(f"refused a message on {where}: {src[0]} {src[1]} is not a party of the job")
        if head.job != self.job_id or head.dst != self.me or queue != self.queue(src, self.me):
            raise FederationError(f"refused a message on {where}: it names job {head.job}, {src[0]} {src[1]} -> "
                                  f"{head.dst[0]} {head.dst[1]}, which is not what this queue carries")
        if head.session != self.session_id or key in self._taken:
            # an earlier attempt's object (a rerun reads only its own session) or a piece received again
            logger.info("dropped a message of %s on %s (session %s)", key, queue, head.session)
            return
        if head.size > self.config.max_object_bytes:
            raise FederationError(f"refused {key} on {where}: {head.size} bytes is more than this party takes "
                                  f"({self.config.max_object_bytes} bytes, limits.object_mb)")
        if key in self._ready:
            return  # a second transfer of an object already received (a retried send)
        assembly = self._assemblies.setdefault((key, head.transfer), _Assembly(src, head.size, head.count))
        if (assembly.size, assembly.count) != (head.size, head.count) or head.seq in assembly.pieces:
            if head.seq in assembly.pieces:
                return  # redelivered after a reconnect
            raise FederationError(f"refused {key} on {where}: its pieces disagree on the object's size")
        if assembly.received + len(body) > assembly.size:
            raise FederationError(f"refused {key} on {where}: more bytes than the {assembly.size} announced")
        assembly.pieces[head.seq] = body
        assembly.received += len(body)
        if head.seq == head.count - 1:
            assembly.last = headers
        if len(assembly.pieces) == assembly.count:
            del self._assemblies[(key, head.transfer)]
            self._ready[key] = self._verified(assembly, key, head.transfer, where)

    def _verified(self, assembly: _Assembly, key: str, transfer_id: str, where: str) -> bytes:
        """The object of a complete transfer, once its size, digest and signature are checked."""
        data = b"".join(assembly.pieces[i] for i in range(assembly.count))
        last = assembly.last or {}
        if len(data) != assembly.size:
            raise FederationError(f"refused {key} on {where}: {len(data)} bytes, not the {assembly.size} announced")
        digest = hashlib.sha256(data).hexdigest()
        if not hmac.compare_digest(digest, str(last.get("digest") or "")):
            raise FederationError(f"refused {key} on {where}: its content does not match its digest")
        message = signed_message(self.job_id, key, assembly.src, self.me, assembly.size, digest, transfer_id)
        why = self.check(assembly.src[1], str(last.get("scheme") or ""), str(last.get("signature") or ""), message)
        if why is not None:
            raise FederationError(f"refused {key} on {where}: {why}; the object was not decoded")
        return data

    def close(self) -> None:
        """Close the task's connections and its send pool."""
        with self._lock:
            publishers, self._publishers = list(self._publishers.values()), {}
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)
        for publisher in publishers:
            with publisher.lock:
                publisher.close()
        with self._consumer.lock:
            self._consumer.close()


@dataclass(frozen=True)
class _Head:
    job: str
    key: str
    session: str
    src: Party
    dst: Party
    transfer: str
    size: int
    count: int
    seq: int


def _header(headers: dict, where: str) -> _Head:
    """The message's typed headers; FederationError when they are not this data plane's."""
    def text(name: str) -> str:
        value = headers.get(name)
        value = value.decode() if isinstance(value, bytes) else value
        if not isinstance(value, str) or not value:
            raise FederationError(f"refused a message on {where}: header {name!r} missing (not an object of "
                                  "this data plane)")
        return value

    def number(name: str) -> int:
        value = headers.get(name)
        if type(value) is not int or value < 0:
            raise FederationError(f"refused a message on {where}: header {name!r} is not a count")
        return value

    if headers.get("v") != MESSAGE_VERSION:
        raise FederationError(f"refused a message on {where}: not an object of this data plane (version "
                              f"{headers.get('v')!r})")
    key = text("key")
    try:
        parts = json.loads(key)
    except ValueError:
        parts = None
    if not (isinstance(parts, list) and len(parts) == 7 and all(isinstance(p, str) for p in parts)):
        raise FederationError(f"refused a message on {where}: {key!r} is not an object key")
    count, seq = number("count"), number("seq")
    if not 0 <= seq < count or count > number("size") + 1:
        raise FederationError(f"refused a message on {where}: piece {seq} of {count}")
    return _Head(text("job"), key, parts[0], (parts[3], parts[4]), (parts[5], parts[6]), text("transfer"),
                 number("size"), count, seq)
