"""Obfuscators ahead of need: :class:`ObfuscatorPool`, a worker process forked from a party that makes its
obfuscators (:mod:`~fate_flow.ml.paillier.obfuscation`) at idle priority while the party waits for the others,
and hands each out once through a pipe."""

from __future__ import annotations

import array
import contextlib
import fcntl
import multiprocessing
import os
import select
import signal
import termios
import time
import weakref
from typing import TYPE_CHECKING, Any

from gmpy2 import mpz

from fate_flow.ml.paillier.obfuscation import _obfuscation

if TYPE_CHECKING:  # annotations only: the keys module imports this one
    from fate_flow.ml.paillier.keys import PrivateKey, PublicKey

POOL_CAPACITY = 2048  # obfuscators an ObfuscatorPool holds ready unless told otherwise
POOL_MAX_BYTES = 64 << 20  # the most one pool holds ready (a pipe's worth, the rest in its worker's memory)
_POOL_BLOCK = 32  # obfuscators a pool's worker makes and writes at a time
_POOL_REFILL_WAIT = 0.05  # seconds a pool's owner waits for its worker to move more into the pipe
_POOL_IDLE_POLL = 0.02  # seconds a full pool's worker sleeps before it looks whether some were taken



class ObfuscatorPool:
    """Fresh obfuscators for one public key, made ahead of need by a worker process (forked from this one).

    A party's protocol runs one step after another and waits for the others in between; the worker makes
    obfuscators meanwhile at idle priority (the CPU nothing else wants), so that an encryption or a
    rerandomization costs one multiplication per value. The obfuscators are exactly those
    ``PublicKey.obfuscators`` makes (``hs^a``, full-length fresh ``a`` from the worker's OS CSPRNG; a pool
    made with a ``PrivateKey`` makes them as ``PrivateKey.obfuscators`` does, by CRT); they go
    through a pipe whose reads consume them, so each is handed out once, and only in this process (a pool
    cannot be pickled, and refuses to serve a forked child). The worker stops making once ``capacity`` values
    are ready (capped at ``POOL_MAX_BYTES``): what the pipe holds, the rest in the worker's memory, moved into
    the pipe as it is read. A party sizes its pool to what it needs per round, so that all of it can be made
    while it waits.

    ``take`` hands out what is ready and makes the rest as its key's ``obfuscators`` does. The worker ends
    when ``close`` is called (or ``with`` ends), when this process exits (it is a daemon) and when this
    process dies (its next write finds the pipe without a reader).
    """

    def __init__(self, key: PublicKey | PrivateKey, capacity: int = POOL_CAPACITY, expected: int | None = None):
        from fate_flow.ml.paillier.keys import PrivateKey  # at run time: the keys module imports this one

        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a positive int, not {capacity!r}")
        public = key.public if isinstance(key, PrivateKey) else key
        self.public = public
        # the key owner's pool makes its obfuscators by CRT (the factors stay in this process and its worker)
        self._factors = (key.p, key.q) if isinstance(key, PrivateKey) else None
        self.taken = 0  # obfuscators handed out from the worker
        self.made_here = 0  # obfuscators take() had to make itself
        self._width = public.ciphertext_bytes
        self._owner = os.getpid()
        self._partial = b""  # the first bytes of an obfuscator the worker is still writing
        self.capacity = min(capacity, POOL_MAX_BYTES // self._width)
        self._stocked = multiprocessing.RawValue("q", 0)  # made, in the worker's memory, not yet in the pipe
        # what this process will still take (-1: unknown), see ``expect``
        self._expected = multiprocessing.RawValue("q", -1 if expected is None else max(0, int(expected)))
        read_fd, write_fd = os.pipe()
        try:
            _grow_pipe(write_fd, self.capacity * self._width)
            os.set_blocking(read_fd, False)
            self._worker = multiprocessing.get_context("fork").Process(
                target=_pool_worker,
                args=(public, self._factors, read_fd, write_fd, self.capacity, self._stocked, self._expected),
                daemon=True,
                name=f"paillier-obfuscators-{public.fingerprint[:8]}")
            self._worker.start()
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)  # the worker's copy alone: the pipe ends when the worker does
        self._fd: int | None = read_fd
        self._finalizer = weakref.finalize(self, _stop_pool_worker, self._worker, read_fd, self._owner)

    def __repr__(self) -> str:
        return (f"ObfuscatorPool({self.public!r}, capacity {self.capacity}, taken {self.taken}, "
                f"made here {self.made_here})")

    def __reduce__(self) -> Any:
        raise TypeError("an ObfuscatorPool belongs to the process that made it: it cannot be pickled")

    def __enter__(self) -> ObfuscatorPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def worker_pid(self) -> int | None:
        """The worker's process id (None once closed)."""
        return self._worker.pid if self._fd is not None else None

    @property
    def ready(self) -> int:
        """How many obfuscators the worker has made that no one has taken yet."""
        if self._fd is None:
            return 0
        return (_pipe_bytes(self._fd) + len(self._partial)) // self._width + self._stocked.value

    def expect(self, count: int) -> None:
        """Tell the pool that this process will take at most ``count`` more obfuscators: its worker makes no
        more than that (none are left over, made for nothing, when a fit ends)."""
        self._expected.value = max(0, int(count))

    def take(self, count: int, cores: int = 1) -> list[mpz]:
        """``count`` obfuscators never handed out before: what the worker has ready, the rest made here over
        ``cores`` (so a pool never makes a party wait longer than it would without one)."""
        if os.getpid() != self._owner:
            raise RuntimeError("an ObfuscatorPool serves only the process that made it")
        out = self._ready(count) if count > 0 else []
        if self._expected.value >= 0:
            self._expected.value = max(0, self._expected.value - count)
        self.taken += len(out)
        missing = count - len(out)
        if missing > 0:
            out.extend(_obfuscation(self.public, self._factors).obfuscators(missing, cores))
            self.made_here += missing
        return out

    def close(self) -> None:
        """Stop the worker and drop what it made (idempotent)."""
        self._fd = None
        self._finalizer()

    def _ready(self, wanted: int) -> list[mpz]:
        """Up to ``wanted`` obfuscators the worker has made: what the pipe holds, then, while the worker holds
        more, what it moves into the pipe (this process waits for it: an idle-priority worker runs when its
        owner does not)."""
        out = self._read(wanted)
        while self._fd is not None and len(out) < wanted and self._stocked.value > 0:
            if not select.select([self._fd], [], [], _POOL_REFILL_WAIT)[0]:
                break  # the worker gets no CPU: the caller makes the rest
            out += self._read(wanted - len(out))
        return out

    def _read(self, wanted: int) -> list[mpz]:
        """Up to ``wanted`` obfuscators from the pipe as it is (none if it is empty, or the worker has ended)."""
        if self._fd is None:
            return []
        width = self._width
        try:
            data = os.read(self._fd, wanted * width - len(self._partial))
        except BlockingIOError:
            return []
        if not data:  # end of file: the worker is gone (it never stops on its own: it failed)
            self.close()
            return []
        data = self._partial + data
        whole = len(data) - len(data) % width
        self._partial = data[whole:]
        return [mpz.from_bytes(data[i:i + width], "little") for i in range(0, whole, width)]


def _grow_pipe(fd: int, size: int) -> int:
    """Ask the kernel for a pipe of ``size`` bytes (Linux: at most ``pipe-max-size``); what it holds now."""
    if not hasattr(fcntl, "F_GETPIPE_SZ"):
        return 16384  # what a pipe holds at least where its size cannot be asked (macOS)
    with contextlib.suppress(OSError, ValueError), open("/proc/sys/fs/pipe-max-size") as limit:
        size = min(size, int(limit.read()))
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
    return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)


def _pipe_bytes(fd: int) -> int:
    """How many bytes the pipe of ``fd`` (either end) holds."""
    waiting = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, waiting)
    return waiting[0]


def _pool_worker(public: PublicKey, factors: tuple[mpz, mpz] | None, read_fd: int, write_fd: int, capacity: int,
                 stocked: Any, expected: Any) -> None:
    """In the worker: obfuscators a block at a time while fewer than ``capacity`` (and than the owner
    ``expected`` to take) are ready, moved into the pipe as it has room (``stocked`` tells the owner how many
    wait here), until no one reads the pipe or the owner is gone (a full pipe is rechecked every second: other
    processes forked from the owner may hold its read end)."""
    owner = os.getppid()
    os.close(read_fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the owner decides when the worker stops
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the executor's handlers
    _idle_priority()
    fixed = _obfuscation(public, factors).table_for_pool()
    width = public.ciphertext_bytes
    os.set_blocking(write_fd, False)
    stock = bytearray()  # whole obfuscators not yet in the pipe
    with contextlib.suppress(BrokenPipeError):
        while os.getppid() == owner:
            held = (_pipe_bytes(write_fd) + len(stock)) // width
            room = capacity - held if expected.value < 0 else min(capacity, expected.value) - held
            if room > 0:
                stock += b"".join(r.to_bytes(width, "little") for r in fixed.random_powers(min(room, _POOL_BLOCK)))
            if stock:
                try:
                    del stock[:os.write(write_fd, stock)]
                except BlockingIOError:  # the pipe is full
                    if room <= 0:
                        select.select([], [write_fd], [], 1.0)
            elif room <= 0:  # all it made is in the pipe: wait for the owner to take some
                time.sleep(_POOL_IDLE_POLL)
            stocked.value = len(stock) // width


def _idle_priority() -> None:
    """Run this process only when its owner does not: SCHED_IDLE (else nice 19). With Linux's autogroup
    scheduling that orders it behind the processes of its session (the owner's), while the session as a whole
    keeps its fair share of the machine: the worker takes what its party leaves while waiting for the others."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):
        with contextlib.suppress(OSError):
            os.nice(19)


def _stop_pool_worker(worker: multiprocessing.Process, read_fd: int, owner: int) -> None:
    """Close the pool's end of the pipe and end its worker (only in the process that started it)."""
    if os.getpid() != owner:
        return
    with contextlib.suppress(OSError):
        os.close(read_fd)
    if worker.is_alive():
        worker.terminate()
        worker.join(5)
        if worker.is_alive():
            worker.kill()
    worker.join()
