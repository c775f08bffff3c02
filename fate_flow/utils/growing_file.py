"""A file that is still being written by another process: read it as it grows.

The server streams an uploaded CSV into a file while the upload's executor already converts it;
the writer ends with a marker beside the file: ``<file>.complete`` or ``<file>.failed`` (holding the
reason). The reader blocks for more data until one of them appears.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

POLL_S = 0.005
STALL_TIMEOUT_S = 120.0  # no new byte and no marker for this long: the writer is gone


class UploadInterrupted(IOError):
    """The writer gave up (or vanished) before the file was complete."""


def complete_marker(path: Path) -> Path:
    """``<file>.complete``: the writer's mark that the file is whole."""
    return path.with_name(path.name + ".complete")


def failed_marker(path: Path) -> Path:
    """``<file>.failed``: the writer's mark that it gave up; it holds the reason."""
    return path.with_name(path.name + ".failed")


def mark_complete(path: Path) -> None:
    """Tell readers the file is whole: they read what is left, then reach its end."""
    complete_marker(path).touch()


def mark_failed(path: Path, reason: str) -> None:
    """Tell readers the file will not be completed: they raise UploadInterrupted with ``reason``."""
    failed_marker(path).write_text(reason)


class GrowingFile(io.RawIOBase):
    def __init__(self, path: Path, stall_timeout: float = STALL_TIMEOUT_S):
        self.path = path
        self.stall_timeout = stall_timeout
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 (closed in close())

    def readable(self) -> bool:
        """True: this stream is for reading only."""
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001 (a writable buffer)
        """Read what is there into ``buffer``, waiting for more until a marker appears (0 only at the
        complete end); UploadInterrupted on a failed marker or ``stall_timeout`` seconds without data."""
        waited_since = time.monotonic()
        while True:
            count = self._file.readinto(buffer)
            if count:
                return count
            if complete_marker(self.path).exists():
                return self._file.readinto(buffer) or 0  # what was written just before the marker
            failed = failed_marker(self.path)
            if failed.exists():
                raise UploadInterrupted(failed.read_text() or "the upload was interrupted")
            if time.monotonic() - waited_since > self.stall_timeout:
                raise UploadInterrupted(f"no data arrived for {self.stall_timeout:.0f} s: the upload stopped")
            time.sleep(POLL_S)

    def close(self) -> None:
        """Close the file (the writer is unaffected)."""
        self._file.close()
        super().close()


def open_growing(path: Path, buffer_size: int = 1 << 20) -> io.BufferedReader:
    """A buffered reader of a file still being written: it ends only at the complete marker."""
    return io.BufferedReader(GrowingFile(path), buffer_size=buffer_size)
