"""Job logs for log/size and log/cat (FATE-Board's log viewer), read in Python, never by a shell.

A sparse index per file (byte offset and line count at every 1 MB) is kept and extended as the
file grows, so the Board's repeated size polls and line-range reads cost only the new bytes and
one chunk, even on a 1 GB log.
"""

from __future__ import annotations

import bisect
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from fate_flow.utils.paths import check_name, confine

CHUNK = 1 << 20
MAX_LINES_PER_READ = 100_000
IPV4 = re.compile(rb"\b(?:\d{1,3}\.){3}\d{1,3}\b")

# FATE-Board log type -> path parts under logs/<job_id>/ ("{role}" etc. filled from the request)
LOG_TYPES: dict[str, tuple[str, ...]] = {
    "jobSchedule": ("fate_flow_schedule.log",),
    "jobScheduleError": ("fate_flow_schedule_error.log",),
    "partyError": ("{role}", "{party_id}", "ERROR.log"),
    "partyWarning": ("{role}", "{party_id}", "WARNING.log"),
    "partyInfo": ("{role}", "{party_id}", "INFO.log"),
    "partyDebug": ("{role}", "{party_id}", "DEBUG.log"),
    "componentInfo": ("{role}", "{party_id}", "{component_name}", "INFO.log"),
}


class LogRequestError(ValueError):
    """The log request names an unknown type or lacks a field the type needs."""


def log_path(logs_dir: Path, job_id: str, log_type: str, role: str | None = None,
             party_id: str | None = None, component_name: str | None = None) -> Path:
    """The file behind a Board log type, confined to the job's log directory."""
    if log_type not in LOG_TYPES:
        raise LogRequestError(f"log_type {log_type!r} is not one of {', '.join(LOG_TYPES)}")
    values = {"role": role, "party_id": party_id, "component_name": component_name}
    parts = []
    for part in LOG_TYPES[log_type]:
        if part.startswith("{"):
            key = part[1:-1]
            if values[key] in (None, ""):
                raise LogRequestError(f"log_type {log_type} needs {key}")
            part = check_name(key, values[key])
        parts.append(part)
    job_dir = confine(logs_dir, check_name("job_id", job_id))
    return confine(job_dir, *parts)


@dataclass
class _Index:
    inode: int = -1
    scanned: int = 0  # bytes indexed so far
    newlines: int = 0  # newlines in the indexed bytes
    offsets: list[int] = field(default_factory=lambda: [0])  # byte offsets of line starts, ~CHUNK apart
    lines_before: list[int] = field(default_factory=lambda: [0])  # lines before each of those offsets
    last_byte_newline: bool = True


class LogReader:
    def __init__(self, max_files: int = 256):
        self._indexes: dict[Path, _Index] = {}
        self._lock = threading.Lock()
        self.max_files = max_files

    def _index(self, path: Path) -> _Index:
        stat = path.stat()
        with self._lock:
            index = self._indexes.get(path)
            if index is None or index.inode != stat.st_ino or stat.st_size < index.scanned:
                if len(self._indexes) >= self.max_files:
                    self._indexes.pop(next(iter(self._indexes)))
                index = self._indexes[path] = _Index(inode=stat.st_ino)
            if stat.st_size > index.scanned:
                self._extend(path, index, stat.st_size)
            return index

    @staticmethod
    def _extend(path: Path, index: _Index, size: int) -> None:
        with path.open("rb") as stream:
            stream.seek(index.scanned)
            position = index.scanned
            while position < size:
                data = stream.read(min(CHUNK, size - position))
                if not data:
                    break
                first_newline = data.find(b"\n")
                if position - index.offsets[-1] >= CHUNK and first_newline >= 0:
                    # checkpoints sit at line starts: just after the first newline of this block
                    index.offsets.append(position + first_newline + 1)
                    index.lines_before.append(index.newlines + 1)
                index.newlines += data.count(b"\n")
                position += len(data)
                index.last_byte_newline = data.endswith(b"\n")
            index.scanned = position

    def size(self, path: Path) -> int:
        """Number of lines (a last line without a newline counts)."""
        if not path.is_file():
            return 0
        index = self._index(path)
        return index.newlines + (0 if index.last_byte_newline or index.scanned == 0 else 1)

    def complete_lines(self, path: Path) -> int:
        """Number of lines ended by a newline (a line still being written is not counted)."""
        return self._index(path).newlines if path.is_file() else 0

    def cat(self, path: Path, begin: int | None = None, end: int | None = None) -> list[dict]:
        """Lines ``begin..end`` (1-based, inclusive) as ``[{line_num, content}]``, IPv4s masked."""
        if not path.is_file():
            return []
        total = self.size(path)
        first = max(int(begin or 1), 1)
        last = min(int(end) if end else total, total, first + MAX_LINES_PER_READ - 1)
        if last < first:
            return []
        index = self._index(path)
        chunk = bisect.bisect_right(index.lines_before, first - 1) - 1
        with path.open("rb") as stream:
            stream.seek(index.offsets[chunk])
            skip = first - 1 - index.lines_before[chunk]
            for _ in range(skip):
                stream.readline()
            lines = []
            for number in range(first, last + 1):
                raw = stream.readline()
                if not raw:
                    break
                content = IPV4.sub(b"xxx.xxx.xxx.xxx", raw.rstrip(b"\r\n"))
                lines.append({"line_num": number, "content": content.decode("utf-8", "replace")})
        return lines
