"""Where files named from outside may be read and written: every server-side path that a request, a job
conf or a partner gives goes through ``readable`` or ``writable``, and nowhere else.

- Reads (an upload with ``use_local_data: 0``, the Upload component's ``file``): inside the home or the
  directories of ``data_access.allowed_dirs``, or the job's own upload directory.
- Writes (``data/download``, the Download component's ``output_path``): inside ``<home>/downloads`` (where a
  relative path resolves, as FATE's own download example gives one) or ``data_access.allowed_dirs``.
- Never the server's own state, whatever the allowed directories say: its database, tables, jobs, logs,
  mailboxes, keys and local token.
"""

from __future__ import annotations

from pathlib import Path

from fate_flow.errors import ArgumentError
from fate_flow.settings import Settings
from fate_flow.utils.paths import within_any

SETTING = "data_access.allowed_dirs (environment: FATE_FLOW_DATA_ACCESS__ALLOWED_DIRS)"
DOWNLOADS = "downloads"


class DataAccess:
    def __init__(self, settings: Settings, upload_dir_of_job: Path | None = None):
        home = settings.home
        configured = [Path(p) for p in (settings.raw.get("data_access") or {}).get("allowed_dirs") or []]
        self.downloads = home / DOWNLOADS
        self.read_roots = [home, *configured] + ([upload_dir_of_job] if upload_dir_of_job else [])
        self.write_roots = [self.downloads, *configured]
        db = settings.database.sqlite_path
        self.protected = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"), settings.tables_dir,
                          settings.jobs_dir, settings.logs_dir, home / "mailbox", home / "keys", home / ".local_token",
                          home / "models", settings.model_store_dir]
        self.job_upload_dir = upload_dir_of_job

    def _is_protected(self, path: Path) -> bool:
        if self.job_upload_dir is not None and within_any(path, [self.job_upload_dir]):
            return False  # the job's own copy of a client's upload lives under jobs/
        return within_any(path, self.protected)

    def readable(self, raw: str, field: str = "file") -> Path:
        """The resolved path of a file that may be read; ArgumentError naming the field and the setting."""
        path = Path(str(raw))
        if not path.is_absolute():
            raise ArgumentError(f"{field} {raw} must be an absolute path on this server")
        if not within_any(path, self.read_roots) or self._is_protected(path):
            raise ArgumentError(f"{field} {raw} is not in a directory this server reads from: add its directory "
                                f"to {SETTING}")
        return path.resolve()

    def writable(self, raw: str, field: str = "output_path") -> Path:
        """The resolved path of a file that may be written (a relative one lands in ``<home>/downloads``);
        ArgumentError naming the field and the setting."""
        path = Path(str(raw))
        if not path.is_absolute():
            path = self.downloads / path
        if not within_any(path, self.write_roots) or self._is_protected(path):
            raise ArgumentError(f"{field} {raw} is not in a directory this server writes to: write under "
                                f"{self.downloads} or add a directory to {SETTING}")
        if path.resolve().is_dir():
            raise ArgumentError(f"{field} {raw} is a directory: name the file to write")
        return path.resolve()
