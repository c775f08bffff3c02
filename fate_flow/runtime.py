"""What the layers below the apps share in one server: settings, paths, storage, the wake-ups.

Built once by the Server and handed down explicitly (no module-level state besides the DB proxy).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fate_flow.federation.signing import NonceCache
from fate_flow.manager.job_paths import JobPaths
from fate_flow.manager.mailbox import Mailbox
from fate_flow.manager.table_storage import TableStorage
from fate_flow.settings import Settings
from fate_flow.worker.launcher import ExecutorLauncher


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


@dataclass
class Runtime:
    settings: Settings
    wake_scheduler: Callable[[], None] = field(default=lambda: None)

    def __post_init__(self) -> None:
        self.paths = JobPaths(self.settings.jobs_dir, self.settings.logs_dir)
        self.storage = TableStorage(self.settings.tables_dir)
        self.launcher = ExecutorLauncher(use_fork_server=self.settings.executor_fork_server)
        self.local_token = _local_token(self.settings.home)
        self.mailbox = Mailbox(self.settings.home / "mailbox")
        skew = self.settings.federation.max_clock_skew
        self.site_nonces, self.client_nonces = NonceCache(2 * skew), NonceCache(2 * skew)

    federation: Any = None  # FederatedClient, set by the Server once the app exists
    # DAGScheduler.submit(dsl, conf, job_id) -> submit data; set by the Server (controllers submit through it)
    submit_job: Callable[..., dict] = field(default=lambda *a, **k: {})

    def is_local_party(self, role: str, party_id: str | int) -> bool:
        """Is this (role, party) served by this very server? Standalone federation: every party is."""
        if str(party_id) == "0" or str(party_id) == self.settings.party_id:
            return True
        return self.settings.federation_engine == "standalone"

    @property
    def data_access_dirs(self) -> list[Path]:
        """Directories from which server-side files may be uploaded and to which downloads may write."""
        configured = self.settings.raw.get("data_access", {}).get("allowed_dirs") or []
        return [self.settings.home, *[Path(p) for p in configured]]
