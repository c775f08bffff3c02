from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fate_flow.manager.mailbox import Mailbox, MailboxError
from fate_flow.utils.paths import UnsafePathError

JOB = "202401010000000000001"


@pytest.fixture
def mailbox(tmp_path: Path) -> Mailbox:
    return Mailbox(tmp_path / "mailbox")


def test_wait_after_arrival_returns_at_once(mailbox: Mailbox) -> None:
    path = mailbox.put(JOB, "k", b"hello")
    start = time.monotonic()
    assert mailbox.wait(JOB, "k", timeout=5) == path
    assert time.monotonic() - start < 0.05
    assert path.read_bytes() == b"hello"


def test_wait_before_arrival_wakes_on_commit(mailbox: Mailbox) -> None:
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(mailbox.wait, JOB, "k", 10)
        time.sleep(0.1)
        assert not waiting.done()
        committed = time.monotonic()
        mailbox.put(JOB, "k", b"late")
        path = waiting.result(timeout=5)
        woke = time.monotonic()
    assert path is not None and path.read_bytes() == b"late"
    assert woke - committed < 0.1  # notified, not polled


def test_wait_times_out_with_none(mailbox: Mailbox) -> None:
    start = time.monotonic()
    assert mailbox.wait(JOB, "absent", timeout=0.2) is None
    assert 0.15 < time.monotonic() - start < 2
    assert mailbox.wait(JOB, "absent", timeout=0) is None


def test_many_waiters_each_get_their_own_object(mailbox: Mailbox) -> None:
    keys = [f"key-{i}" for i in range(40)]
    with ThreadPoolExecutor(40) as pool:
        waits = {key: pool.submit(mailbox.wait, JOB, key, 10) for key in keys}
        time.sleep(0.05)
        with ThreadPoolExecutor(8) as senders:
            list(senders.map(lambda key: mailbox.put(JOB, key, key.encode()), keys))
        for key, waiting in waits.items():
            assert waiting.result(timeout=5).read_bytes() == key.encode()


def test_a_partial_object_is_never_visible(mailbox: Mailbox) -> None:
    writer = mailbox.open_incoming(JOB, "big", expected_size=3 * 1000)
    seen = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            path = mailbox.wait(JOB, "big", timeout=0.001)
            if path is not None:
                seen.append(len(path.read_bytes()))
                return

    watcher = threading.Thread(target=watch)
    watcher.start()
    for _ in range(3):
        writer.write(b"x" * 1000)
        time.sleep(0.02)
        assert mailbox.wait(JOB, "big", timeout=0) is None
    writer.commit()
    watcher.join(5)
    stop.set()
    assert seen == [3000]


def test_size_mismatch_is_refused_and_leaves_nothing(mailbox: Mailbox) -> None:
    short = mailbox.open_incoming(JOB, "k", expected_size=10)
    short.write(b"12345")
    with pytest.raises(MailboxError, match="5 bytes received, 10 announced"):
        short.commit()
    long = mailbox.open_incoming(JOB, "k", expected_size=2)
    with pytest.raises(MailboxError, match="more than the announced"):
        long.write(b"123")
    long.abort()
    assert mailbox.wait(JOB, "k", 0) is None
    assert not any(p.is_file() for p in (mailbox.root / JOB).rglob("*"))


def test_context_manager_aborts_on_error(mailbox: Mailbox) -> None:
    with pytest.raises(RuntimeError), mailbox.open_incoming(JOB, "k") as writer:
        writer.write(b"abc")
        raise RuntimeError("sender went away")
    assert mailbox.wait(JOB, "k", 0) is None
    assert not any(p.is_file() for p in (mailbox.root / JOB).rglob("*"))


def test_take_and_remove(mailbox: Mailbox) -> None:
    mailbox.put(JOB, "k", b"v")
    assert mailbox.take(JOB, "k") == b"v"
    assert mailbox.take(JOB, "k") is None
    mailbox.put(JOB, "k", b"v2")
    assert mailbox.remove(JOB, "k") and not mailbox.remove(JOB, "k")


def test_a_resend_replaces_the_object(mailbox: Mailbox) -> None:
    mailbox.put(JOB, "k", b"first")
    mailbox.put(JOB, "k", b"second")
    assert mailbox.take(JOB, "k") == b"second"


def test_clean_removes_the_job_only(mailbox: Mailbox) -> None:
    other = "202401010000000000002"
    mailbox.put(JOB, "a", b"1")
    writer = mailbox.open_incoming(JOB, "b")
    writer.write(b"partial")
    mailbox.put(other, "a", b"2")
    mailbox.clean(JOB)
    assert not (mailbox.root / JOB).exists()
    assert mailbox.wait(JOB, "a", 0) is None
    assert mailbox.take(other, "a") == b"2"
    with pytest.raises(OSError):
        writer.commit()  # the job is gone: its late object is not published
    mailbox.clean("never-seen")


@pytest.mark.parametrize("job_id", ["../x", "a/b", "", "..", "x" * 300])
def test_unsafe_job_ids_are_refused(mailbox: Mailbox, job_id: str) -> None:
    with pytest.raises(UnsafePathError):
        mailbox.put(job_id, "k", b"v")


@pytest.mark.parametrize("key", ["../../etc/passwd", "/abs", "a\0b", "x" * 4000])
def test_any_key_maps_inside_the_job_dir(mailbox: Mailbox, key: str) -> None:
    path = mailbox.put(JOB, key, b"v")
    assert path.parent == (mailbox.root / JOB).resolve()


@pytest.mark.parametrize("key", ["", None, "x" * 5000])
def test_bad_keys_are_refused(mailbox: Mailbox, key: object) -> None:
    with pytest.raises(MailboxError):
        mailbox.wait(JOB, key, 0)  # type: ignore[arg-type]
