"""The mailbox's files, and the shortcut they give the executors of one server.

Layout (one place, for the server's ``manager.mailbox`` and its executors): ``root/<job_id>/<sha256(key)>``
holds a complete object, published by an atomic rename from ``root/<job_id>/.incoming/``, so a reader never
sees part of one. Keys are hashed to file names, so no key can name a path; job ids are checked like every
other name from outside.

The shortcut: every executor runs on its server's machine, as its user. An object for a party this same
server serves needs no trip through the server: the executor publishes it in the mailbox itself
(``LocalMailbox.deliver``), and a receiving executor waits for its object's file through inotify
(``LocalMailbox.wait``) instead of a long poll, whoever published it (a peer's object still arrives through
the server's gRPC push, checked there). Each object then costs the server nothing, and a hop between two
tasks takes a rename and a wake-up instead of a gRPC call, a database check and an HTTP answer. Where the
shortcut cannot be taken (no inotify, the job's directory not prepared by the server, or removed because
the job ended), the executor goes the server's way, as before.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fate_flow.utils.paths import check_name, confine

try:  # Linux only: elsewhere executors wait through the server
    from inotify_simple import INotify, flags
except ImportError:  # pragma: no cover - the package is a dependency; a platform without inotify lacks it
    INotify = flags = None

INCOMING_DIR = ".incoming"
MAX_KEY_LENGTH = 4096
RECHECK_S = 1.0  # a waiter looks at its file at least this often, whatever inotify says


class MailboxKeyError(ValueError):
    """An object key that is empty, not text, or too long."""


def object_name(key: str) -> str:
    """The file name of object ``key`` in its job's directory (a hex digest)."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise MailboxKeyError(f"object key must be a non-empty string of at most {MAX_KEY_LENGTH} characters")
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@functools.lru_cache(maxsize=1024)
def job_dir(root: Path, job_id: str) -> Path:
    """The directory of ``job_id``'s objects under ``root``, confined to it; remembered, since every object
    asks twice (when it is published and when its task waits) and resolving a path costs a system call per
    component (a refused job id raises, and is not remembered)."""
    return confine(root, check_name("job_id", job_id))


def temp_path(final: Path) -> Path:
    """A fresh file in the job's incoming directory to write ``final``'s object into before publishing it
    (unique: two writers of one key never write into each other's file)."""
    return final.parent / INCOMING_DIR / f"{final.name}.{uuid.uuid4().hex}.part"


class LocalMailbox:
    """An executor's view of its server's mailbox: publish objects for the parties this server serves, and
    wait for the task's own objects through inotify (an instance per waiting thread, kept: closing one makes
    the kernel wait for a grace period, milliseconds a wait should not pay)."""

    def __init__(self, root: Path, local_parties: Iterable[str]):
        self.root = Path(root)
        self.local_parties = {str(p) for p in local_parties}
        self._local = threading.local()

    def serves(self, party_id: str) -> bool:
        """Whether objects for ``party_id`` may be published here directly."""
        return str(party_id) in self.local_parties

    def path(self, job_id: str, key: str) -> Path:
        """Where object ``key`` of ``job_id`` appears when complete."""
        return job_dir(self.root, job_id) / object_name(key)

    def deliver(self, job_id: str, key: str, views: list[memoryview]) -> bool:
        """Publish an object for a local party; False (nothing written) when the job's directory is not there
        (the server prepares it when it starts the job's tasks and removes it when the job ends: an executor
        that outlives its job must not bring it back)."""
        final = self.path(job_id, key)
        if not final.parent.is_dir():
            return False
        temp = temp_path(final)
        try:
            temp.parent.mkdir(exist_ok=True)
            with open(temp, "wb") as file:
                for view in views:
                    file.write(view)
            os.replace(temp, final)  # atomic: the object appears whole or not at all
        except (FileNotFoundError, FileExistsError, NotADirectoryError):  # the job ended: its directory went
            temp.unlink(missing_ok=True)
            return False
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return True

    def wait(self, path: Path, deadline: float) -> bool | None:
        """Wait for ``path`` until ``deadline`` (``time.monotonic``): True once it exists, False at the
        deadline, None when inotify cannot watch its directory (then wait the server's way)."""
        if path.exists():
            return True
        watch = self._watch(path.parent)
        if watch is None:
            return None
        while not path.exists():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            # any event (another object of the job, even) means look again; so does a quiet second, in case
            # the directory was replaced and the watch went with it
            events = watch.read(timeout=max(1, int(min(remaining, RECHECK_S) * 1000)))
            if any(event.mask & flags.IGNORED for event in events):  # the directory went: watch it anew, if back
                self.close()
                watch = self._watch(path.parent)
                if watch is None:
                    return None
        return True

    def close(self) -> None:
        """Close this thread's watch (a later ``wait`` makes a new one)."""
        watch, self._local.watch = getattr(self._local, "watch", None), None
        if watch is not None:
            watch.close()

    def _watch(self, directory: Path) -> Any:
        if getattr(self._local, "watch", None) is not None and self._local.directory == directory:
            return self._local.watch
        self.close()
        self._local.watch, self._local.directory = _watch(directory), directory
        return self._local.watch


def _watch(directory: Path) -> Any:
    """An inotify instance watching ``directory`` for files moved or written into it; None when there is no
    inotify (not Linux, the package missing, the user's instance limit reached) or no such directory."""
    if INotify is None:
        return None
    try:
        watch = INotify()
    except OSError:
        return None
    try:
        watch.add_watch(str(directory), flags.MOVED_TO | flags.CLOSE_WRITE)
    except OSError:
        watch.close()
        return None
    return watch
