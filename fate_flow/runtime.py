"""What the layers below the apps share in one server, built once and complete.

``Runtime.build`` is called by the Server after its ports are bound and its WSGI application exists;
every field is set then and never replaced (the dataclass is frozen). Objects that hold state shared
across threads (the scheduler's wake-up, what the initiator knows of its parties' reachability, the
nonce caches) live here exactly once, so a stop over HTTP and the scheduler loop see the same state.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fate_flow.federation.client import FederatedClient, LocalTransport
from fate_flow.federation.grpc_service import install_push_verifier
from fate_flow.federation.keys import KeyFileError
from fate_flow.federation.signing import KeyRing, NonceCache
from fate_flow.federation.transfer import PushVerifier
from fate_flow.federation.transports import RemoteTransport
from fate_flow.framework.registry import Registry, load_registry
from fate_flow.manager.board_sessions import BoardSessions
from fate_flow.manager.job_paths import JobPaths
from fate_flow.manager.mailbox import Mailbox
from fate_flow.manager.model_store import ModelStore
from fate_flow.manager.table_storage import TableStorage
from fate_flow.manager.wait_reasons import WaitReasons
from fate_flow.operation.nonce_store import NonceStore
from fate_flow.operation.party_contact import PartyContact
from fate_flow.settings import KEYS_INIT_HINT, Settings, SettingsError
from fate_flow.worker.launcher import ExecutorLauncher

logger = logging.getLogger("fate_flow.federation")
UNAUTHENTICATED_WARNING = ("party-to-party calls are not authenticated: authentication.site.switch is false, so "
                           "any host that reaches this server can act as any partner of the route table")


def _local_token(home: Path) -> str:
    """A secret that this server's own executors present: kept in the home directory so that executors
    still running across a server restart are still recognised."""
    path = home / ".local_token"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as stream:
            stream.write(secrets.token_hex(32))
    return path.read_text().strip()


def _key_ring(settings: Settings) -> KeyRing:
    """This party's key ring; SettingsError naming the setting when its private key cannot be used."""
    def serves(party_id: str) -> bool:
        return is_local_party(settings, "", party_id)

    try:
        keys = KeyRing.load(settings.federation, settings.party_id, serves)
    except KeyFileError as exc:
        raise SettingsError(f"setting authentication.site.private_key_file: {exc}; {KEYS_INIT_HINT}") from None
    if settings.federation.site_auth_disabled:
        logger.warning(UNAUTHENTICATED_WARNING)
    return keys


class Waker:
    """Wakes a loop for a pass as soon as possible (an executor reported, a job was submitted)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def wake(self) -> None:
        """Make the current or next ``wait`` return at once."""
        self._event.set()

    def wait(self, timeout: float) -> None:
        """Block until woken or ``timeout`` seconds passed, then clear."""
        self._event.wait(timeout)
        self._event.clear()


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    paths: JobPaths
    storage: TableStorage
    models: ModelStore
    mailbox: Mailbox
    launcher: ExecutorLauncher
    registry: Registry
    federation: FederatedClient
    local_token: str
    key_ring: KeyRing
    site_nonces: NonceCache
    client_nonces: NonceCache
    scheduler_waker: Waker
    party_contact: PartyContact
    board_sessions: BoardSessions
    wait_reasons: WaitReasons

    @classmethod
    def build(cls, settings: Settings, wsgi_app: Any, mailbox: Mailbox) -> Runtime:
        """Everything one server shares, for ``settings`` whose ports are final; ``wsgi_app`` serves the
        calls to parties that this very server plays (and gets the verifier of data-plane pushes).
        SettingsError when this party's private key is needed and cannot be used."""
        registry = load_registry(tuple(settings.component_modules))
        skew = settings.federation.max_clock_skew
        key_ring = _key_ring(settings)
        local_token = _local_token(settings.home)
        # nonces are kept as long as their call could pass the timestamp check (skew either way), in the database
        site_nonces = NonceCache(2 * skew, NonceStore("site"))

        def is_local(role: str, party_id: str | int) -> bool:
            return is_local_party(settings, role, party_id)

        install_push_verifier(wsgi_app, PushVerifier(key_ring, local_token, key_ring.serves,
                                                     NonceCache(2 * skew, NonceStore("push"))))
        federation = FederatedClient(is_local, LocalTransport(wsgi_app), timeout=settings.job.remote_request_timeout
                                     / 1000, remote=RemoteTransport(settings.federation, settings.party_id,
                                                                    settings.host, settings.grpc_port, key_ring))
        return cls(
            settings=settings,
            paths=JobPaths(settings.jobs_dir, settings.logs_dir),
            storage=TableStorage(settings.tables_dir),
            models=ModelStore(settings.model_store_dir),
            mailbox=mailbox,
            launcher=ExecutorLauncher(settings.executor_fork_server, _preload(settings, registry)),
            registry=registry,
            federation=federation,
            local_token=local_token,
            key_ring=key_ring,
            site_nonces=site_nonces,
            client_nonces=NonceCache(2 * skew, NonceStore("client")),
            scheduler_waker=Waker(),
            party_contact=PartyContact(),
            board_sessions=BoardSessions(settings.board.session_hours * 3600),
            wait_reasons=WaitReasons(),
        )

    def wake_scheduler(self) -> None:
        """Ask the scheduler for a pass now."""
        self.scheduler_waker.wake()

    def is_local_party(self, role: str, party_id: str | int) -> bool:
        """Is this (role, party) served by this very server? Standalone federation: every party is."""
        return is_local_party(self.settings, role, party_id)

    @property
    def data_access_dirs(self) -> list[Path]:
        """Directories from which server-side files may be uploaded and to which downloads may write."""
        configured = self.settings.raw.get("data_access", {}).get("allowed_dirs") or []
        return [self.settings.home, *[Path(p) for p in configured]]


def _preload(settings: Settings, registry: Registry) -> list[str]:
    """What the fork server imports ahead: the components' modules, and the data plane's client when objects go
    through RabbitMQ (pika), so no task pays for that import."""
    modules = list(registry.preload_modules())
    if settings.federation_engine == "rabbitmq":
        modules.append("fate_flow.engine.rabbitmq")
    return modules


def is_local_party(settings: Settings, role: str, party_id: str | int) -> bool:
    """Party 0, this server's party id, and every party in standalone federation are served here."""
    if str(party_id) == "0" or str(party_id) == settings.party_id:
        return True
    return settings.federation_engine == "standalone"
