"""What the layers below the apps share in one server: settings, paths, storage, the wake-ups.

Built once by the Server and handed down explicitly (no module-level state besides the DB proxy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fate_flow.manager.job_paths import JobPaths
from fate_flow.manager.table_storage import TableStorage
from fate_flow.settings import Settings
from fate_flow.worker.launcher import ExecutorLauncher


@dataclass
class Runtime:
    settings: Settings
    wake_scheduler: Callable[[], None] = field(default=lambda: None)

    def __post_init__(self) -> None:
        self.paths = JobPaths(self.settings.jobs_dir, self.settings.logs_dir)
        self.storage = TableStorage(self.settings.tables_dir)
        self.launcher = ExecutorLauncher(use_fork_server=self.settings.executor_fork_server)

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
