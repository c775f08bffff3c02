"""The receiving end of the data plane: objects other parties pushed to this server, per job.

The files' layout is ``engine.mailbox_files``'s (shared with the executors, which publish objects for the
parties this server serves themselves): ``root/<job_id>/<sha256(key)>`` for complete objects,
``root/<job_id>/.incoming/`` for objects still arriving. An object becomes visible only by an atomic rename
once all of its bytes are written, so a reader never sees part of one. Waiters sleep on one condition
variable that every completion here notifies, and look again now and then for what an executor published.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType

from fate_flow.engine.mailbox_files import MailboxKeyError, job_dir, object_name, temp_path

# how soon a waiter here sees an object an executor published without this server (the long poll of a task
# that has no inotify); a waiting thread looks 20 times a second, a few microseconds each
RECHECK_S = 0.05


class MailboxError(ValueError):
    """A bad object key, or an object that arrived incomplete or with more bytes than announced."""


class IncomingObject:
    """A writer for one arriving object: ``write`` chunks, then ``commit`` (or ``abort``).

    As a context manager it commits on a clean exit and aborts on an exception.
    """

    def __init__(self, mailbox: Mailbox, job_id: str, key: str, final: Path, expected_size: int | None):
        self.mailbox, self.job_id, self.key, self.final = mailbox, job_id, key, final
        self.expected_size = expected_size
        self.size = 0
        self.temp = temp_path(final)
        self.temp.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.temp, "wb")  # noqa: SIM115 - closed by commit/abort
        self.done = False

    def write(self, chunk: bytes | memoryview) -> None:
        """Append a chunk to the temp file; MailboxError once more bytes arrived than announced."""
        self.size += len(chunk)
        if self.expected_size is not None and self.size > self.expected_size:
            raise MailboxError(f"object {self.key!r} of job {self.job_id}: more than the announced "
                               f"{self.expected_size} bytes")
        self._file.write(chunk)

    def commit(self) -> Path:
        """Publish the object by an atomic rename and wake its waiters; returns its path. MailboxError (and
        nothing kept) when its size is not the announced one."""
        if self.expected_size is not None and self.size != self.expected_size:
            self.abort()
            raise MailboxError(f"object {self.key!r} of job {self.job_id}: {self.size} bytes received, "
                               f"{self.expected_size} announced")
        self._file.close()
        os.replace(self.temp, self.final)  # atomic: the object appears whole or not at all
        self.done = True
        self.mailbox._notify()
        return self.final

    def abort(self) -> None:
        """Drop the temp file; nothing happens once committed or aborted."""
        if self.done:
            return
        self.done = True
        self._file.close()
        self.temp.unlink(missing_ok=True)

    def __enter__(self) -> IncomingObject:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None and not self.done:
            self.commit()
        else:
            self.abort()


class Mailbox:
    """Thread-safe per-job store of received objects under ``root``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._changed = threading.Condition()

    def path_of(self, job_id: str, key: str) -> Path:
        """Where the complete object ``key`` of ``job_id`` lives (whether or not it has arrived)."""
        try:
            name = object_name(key)  # a hex digest: it names a file right in the job's directory
        except MailboxKeyError as exc:
            raise MailboxError(str(exc)) from None
        return job_dir(self.root, job_id) / name

    def open_incoming(self, job_id: str, key: str, expected_size: int | None = None) -> IncomingObject:
        """A writer for an arriving object; it replaces an earlier object of the same key on commit."""
        return IncomingObject(self, job_id, key, self.path_of(job_id, key), expected_size)

    def put(self, job_id: str, key: str, data: bytes) -> Path:
        """Store a whole object at once (a local delivery)."""
        with self.open_incoming(job_id, key, len(data)) as writer:
            writer.write(data)
        return writer.final

    def wait(self, job_id: str, key: str, timeout: float) -> Path | None:
        """The object's file once it is complete, or None after ``timeout`` seconds."""
        path = self.path_of(job_id, key)
        deadline = time.monotonic() + max(0.0, timeout)
        with self._changed:
            while not path.exists():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(min(remaining, RECHECK_S))
        return path

    def prepare(self, job_id: str) -> None:
        """Make the job's directory, where its executors may publish objects for this server's parties (they
        never make it themselves: after ``clean`` an executor that outlived its job must not bring it back)."""
        job_dir(self.root, job_id).mkdir(parents=True, exist_ok=True)

    def take(self, job_id: str, key: str) -> bytes | None:
        """The object's bytes, removed from the mailbox; None when it is not there."""
        path = self.path_of(job_id, key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        path.unlink(missing_ok=True)
        return data

    def remove(self, job_id: str, key: str) -> bool:
        """Delete a complete object; False when it was not there."""
        path = self.path_of(job_id, key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def clean(self, job_id: str) -> None:
        """Remove every object of the job, received or arriving (job end, stop, rerun clean-up). The directory
        is first renamed away (atomic), so an executor still publishing into it fails and goes the server's
        way, where a push for an ended job is refused, instead of keeping it alive under the removal."""
        trash = self.root / f".removed-{job_id}-{uuid.uuid4().hex}"
        try:
            os.replace(job_dir(self.root, job_id), trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)
        self._notify()

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()
