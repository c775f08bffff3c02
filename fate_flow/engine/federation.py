"""What a component talks to other parties through: ``remote(obj, name, tag, parties)`` / ``get(...)``.

The default backend: ``remote`` encodes the object once (typed codec, never pickle) and pushes it over
gRPC to every destination party's server in parallel, into that server's per-job Mailbox. ``get`` waits
for each source party's object through this party's own server (``POST /v1/mailbox/<job_id>/wait``,
long poll), then maps the file the server names (same machine), removes it and decodes it. Objects for a
party this very server serves skip the server: the executor publishes them in the mailbox itself, and
waits for its own objects' files through inotify (``engine.mailbox_files``; the server's way where that
cannot be done).

An object is keyed by (session, name, tag, source role, source party, destination role, destination
party) inside its job's mailbox, so two parties sending the same name and tag never collide, and a
task rerun (a new session: task id + version) never reads what an earlier attempt left behind.

``default_engines.federation: rabbitmq`` puts ``engine.rabbitmq.RabbitMQFederation`` in its place (same
interface, same keys, same errors; ``for_task`` chooses).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import mmap
import os
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fate_flow.engine import codec
from fate_flow.engine import push as transfer
from fate_flow.engine.mailbox_files import LocalMailbox
from fate_flow.entity.task_config import PushSigning, TaskConfig

if TYPE_CHECKING:
    from fate_flow.engine.rabbitmq import RabbitMQFederation

logger = logging.getLogger(__name__)
Party = tuple[str, str | int]
POLL_SECONDS = 20.0  # one long poll; the server caps it too (apps.mailbox_app.MAX_WAIT)
RETCODE_NOT_YET = 106
LOCAL_TOKEN_HEADER = "X-Flow-Local-Token"


class FederationError(RuntimeError):
    """An object could not be sent or received."""


class FederationTimeout(FederationError, TimeoutError):
    """An awaited object did not arrive in time."""


class PushKeys:
    """The executor's keys for signing its pushes (``transfer.PushSigner``): the server's local token for
    parties served by that server, else this party's key for the other parties' servers. The private key
    file is read at the first push to another server (a task that sends nothing never reads it)."""

    def __init__(self, signing: PushSigning, local_token: str):
        self.signing = signing
        self.local_token = local_token
        self.local_parties = {str(p) for p in signing.local_parties}
        self._private_key: Any = None
        self._lock = threading.Lock()

    def __call__(self, dst_party: str, message: bytes) -> tuple[str, str] | None:
        """(scheme, base64 signature) of ``message`` for ``dst_party``; None where signing is off."""
        if dst_party in self.local_parties:
            return transfer.SCHEME_LOCAL, _hmac(self.local_token, message)
        if self.signing.mode == "ed25519":
            return transfer.SCHEME_ED25519, base64.b64encode(self._key().sign(message)).decode()
        if self.signing.mode == "hmac":
            secret = self.signing.hmac_keys.get(dst_party) or self.signing.hmac_keys.get("default")
            if not secret:
                raise FederationError(f"no key to sign objects for party {dst_party}: add it to "
                                      "authentication.site.keys")
            return transfer.SCHEME_HMAC, _hmac(secret, message)
        return None

    def _key(self) -> Any:
        with self._lock:
            if self._private_key is None:
                self._private_key = _load_private_key(self.signing.private_key_file)
            return self._private_key


def _hmac(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def _load_private_key(path: str) -> Any:
    # imported here: cryptography is needed only by a task that sends to another party's server
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise FederationError(f"cannot read this party's private key {path} to sign objects: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise FederationError(f"{path} is not an Ed25519 private key: objects cannot be signed")
    return key


class Federation:
    def __init__(self, job_id: str, role: str, party_id: str | int, routes: Mapping[str | int, str],
                 server_url: str, session_id: str | None = None, send_timeout: float = 600.0,
                 get_timeout: float = 3600.0, local_token: str = "", chunk_size: int = transfer.CHUNK_SIZE,
                 max_workers: int = 8, signer: transfer.PushSigner | None = None,
                 local_mailbox: LocalMailbox | None = None):
        self.job_id = job_id
        self.role = role
        self.party_id = str(party_id)
        self.routes = {str(party): target for party, target in routes.items()}
        self.server_url = server_url.rstrip("/")
        self.session_id = session_id or job_id
        self.send_timeout = send_timeout
        self.get_timeout = get_timeout
        self.local_token = local_token
        self.chunk_size = chunk_size
        self.max_workers = max_workers
        self.signer = signer
        self.local_mailbox = local_mailbox
        self._warned_no_watch = False
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._local = threading.local()  # each thread's kept connection for mailbox waits
        self._server_path = urllib.parse.urlsplit(self.server_url).path.rstrip("/")

    @classmethod
    def for_task(cls, config: TaskConfig) -> Federation | RabbitMQFederation:
        """The data plane of one task version (its session: task id + version) from its task config: over
        gRPC into the parties' servers, or over RabbitMQ when the config says so (``federation.engine``)."""
        task = config.task
        if config.federation.engine == "rabbitmq":
            # imported here: pika is loaded only by the tasks of a party that federates over RabbitMQ
            from fate_flow.engine.rabbitmq import RabbitMQFederation

            return RabbitMQFederation.for_task(config)
        federation = config.federation
        local = LocalMailbox(Path(federation.mailbox_dir), federation.signing.local_parties) \
            if federation.mailbox_dir else None
        return cls(task.job_id, task.role, task.party_id, federation.routes, config.server_url,
                   session_id=f"{task.task_id}_{task.task_version}", send_timeout=federation.send_timeout,
                   get_timeout=federation.get_timeout, local_token=config.local_token,
                   signer=PushKeys(federation.signing, config.local_token), local_mailbox=local)

    def object_key(self, name: str, tag: str, src: Party, dst: Party) -> str:
        """The object's mailbox key (``push.object_key``: session, name, tag and both parties)."""
        return transfer.object_key(self.session_id, name, tag, src, dst)

    # ------------------------------------------------------------------------------------------ remote

    def remote(self, obj: Any, name: str, tag: str, parties: Sequence[Party]) -> None:
        """Send ``obj`` to every party of ``parties`` ((role, party_id) pairs), in parallel."""
        data = codec.encode_parts(obj)  # encoded once; array data is streamed from the arrays, not copied
        if len(parties) == 1:
            self._send(data, name, tag, parties[0])
            return
        futures = [(party, self._executor().submit(self._send, data, name, tag, party)) for party in parties]
        errors = []
        for party, future in futures:
            try:
                future.result()
            except FederationError as exc:
                errors.append(f"{party[0]} {party[1]}: {exc}")
        if errors:
            raise FederationError(f"remote {name!r} tag {tag!r} failed for " + "; ".join(errors))

    def _send(self, data: transfer.Payload, name: str, tag: str, party: Party) -> None:
        role, party_id = party[0], str(party[1])
        target = self.routes.get(party_id)
        if target is None:
            raise FederationError(f"no route to party {party_id} (role {role}) for {name!r} tag {tag!r}")
        key = self.object_key(name, tag, (self.role, self.party_id), (role, party_id))
        if self.local_mailbox is not None and self.local_mailbox.serves(party_id):
            try:
                if self.local_mailbox.deliver(self.job_id, key, transfer.payload_views(data)):
                    return
            except (OSError, ValueError) as exc:
                raise FederationError(f"cannot publish {name!r} tag {tag!r} for {role} {party_id}: {exc}") from exc
        try:
            transfer.send_object(target, self.job_id, self.role, self.party_id, role, party_id, key, data,
                                 timeout=self.send_timeout, chunk_size=self.chunk_size, signer=self.signer)
        except transfer.TransferError as exc:
            raise FederationError(f"cannot send {name!r} tag {tag!r} to {role} {party_id}: {exc}") from exc

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="federation")
            return self._pool

    # ------------------------------------------------------------------------------------------ get

    def get(self, name: str, tag: str, parties: Sequence[Party], timeout: float | None = None) -> list[Any]:
        """One object from each of ``parties``, in their order; waits at most ``timeout`` seconds in all
        (``get_timeout`` by default). Waits one party at a time: one server thread per waiting task."""
        deadline = time.monotonic() + (self.get_timeout if timeout is None else timeout)
        me = (self.role, self.party_id)
        keys = [self.object_key(name, tag, (party[0], str(party[1])), me) for party in parties]
        paths: list[str] = []
        for index, key in enumerate(keys):
            path = self._wait(key, deadline)
            if path is None:
                missing = [parties[index]] + [p for p, k in zip(parties[index + 1:], keys[index + 1:], strict=True)
                                              if self._wait(k, time.monotonic()) is None]
                who = ", ".join(f"{role} {party_id}" for role, party_id in missing)
                raise FederationTimeout(f"timed out waiting for {name!r} tag {tag!r} from {who} "
                                        f"(job {self.job_id}, {self.role} {self.party_id})")
            paths.append(path)
        return [self._read(path, name, tag, party) for path, party in zip(paths, parties, strict=True)]

    def _wait(self, key: str, deadline: float) -> str | None:
        """The object's file path (watched for here, or named by this party's server), or None at the
        deadline."""
        if self.local_mailbox is not None:
            try:
                path = self.local_mailbox.path(self.job_id, key)
            except ValueError as exc:
                raise FederationError(f"mailbox wait failed: {exc}") from exc
            arrived = self.local_mailbox.wait(path, deadline)
            if arrived is not None:
                return str(path) if arrived else None
            if not self._warned_no_watch:  # once per task: every wait of it goes this way
                self._warned_no_watch = True
                logger.warning("cannot watch the mailbox of job %s (no inotify, or its directory is not there): "
                               "waiting through the server, a little slower", self.job_id)
        while True:
            remaining = deadline - time.monotonic()
            answer = self._call_wait(key, max(0.0, min(remaining, POLL_SECONDS)))
            if answer is not None and answer.get("retcode") == 0:
                return answer["data"]["path"]
            if answer is not None and answer.get("retcode") != RETCODE_NOT_YET:
                raise FederationError(f"mailbox wait failed: {answer.get('retmsg')}")
            if remaining <= 0:
                if answer is None:
                    raise FederationError(f"cannot reach this party's server at {self.server_url}")
                return None
            if answer is None:
                time.sleep(min(0.5, max(remaining, 0)))  # the server is unreachable (restarting?)

    def _call_wait(self, key: str, seconds: float) -> dict | None:
        """The server's answer to one long poll, or None when it cannot be reached. The connection is kept
        for the next wait (a new one per object cost the server more than the rest of the object's way)."""
        body = json.dumps({"key": key, "timeout": seconds}).encode()
        headers = {"Content-Type": "application/json", LOCAL_TOKEN_HEADER: self.local_token}
        for attempt in range(2):  # a kept connection the server has closed meanwhile fails once
            connection = self._wait_connection(seconds + 30)
            try:
                connection.request("POST", f"{self._server_path}/v1/mailbox/{self.job_id}/wait", body, headers)
                response = connection.getresponse()
                payload = response.read()
                if response.will_close:
                    self._drop_wait_connection()
                return json.loads(payload or b"{}")
            except (http.client.HTTPException, OSError, json.JSONDecodeError):
                self._drop_wait_connection()
                if attempt:
                    return None
        return None

    def _wait_connection(self, timeout: float) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            url = urllib.parse.urlsplit(self.server_url)
            kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
            connection = self._local.connection = kind(url.hostname or "127.0.0.1", url.port, timeout=timeout)
        connection.timeout = timeout
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        return connection

    def _drop_wait_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()

    @staticmethod
    def _read(path: str, name: str, tag: str, party: Party) -> Any:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            # a private copy-on-write mapping: decoded arrays use the page cache directly (no read copy)
            # and stay writable without touching the file; the mapping outlives the unlink below
            data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_COPY) if size else b""
        Path(path).unlink(missing_ok=True)
        try:
            return codec.decode(data)
        except codec.CodecError as exc:
            raise FederationError(f"{name!r} tag {tag!r} from {party[0]} {party[1]}: {exc}") from exc

    def close(self) -> None:
        """Shut down the send pool (pushes under way still finish); a later ``remote`` starts a new one."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False)
                self._pool = None
        self._drop_wait_connection()
        if self.local_mailbox is not None:
            self.local_mailbox.close()
