from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fate_flow.engine.mailbox_files import LocalMailbox
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


# -- the executors' shortcut (engine.mailbox_files.LocalMailbox) ----------------------------------------------


@pytest.fixture
def local(mailbox: Mailbox) -> LocalMailbox:
    mailbox.prepare(JOB)  # as the server does when it starts the job's tasks
    return LocalMailbox(mailbox.root, ["9999", "10000"])


def test_an_executor_publishes_where_the_server_looks(mailbox: Mailbox, local: LocalMailbox) -> None:
    assert local.serves("10000") and not local.serves("8888")
    assert local.deliver(JOB, "k", [memoryview(b"he"), memoryview(b"llo")])
    assert local.path(JOB, "k") == mailbox.path_of(JOB, "k")
    assert mailbox.wait(JOB, "k", timeout=1).read_bytes() == b"hello"
    assert not any((mailbox.root / JOB / ".incoming").iterdir())  # published by a rename, nothing left over


def test_a_waiting_executor_wakes_when_its_object_is_published(mailbox: Mailbox, local: LocalMailbox) -> None:
    path = local.path(JOB, "late")
    for publish in (lambda: local.deliver(JOB, "late", [memoryview(b"x")]),  # by another executor
                    lambda: mailbox.put(JOB, "late", b"y")):  # by the server (a peer's push)
        path.unlink(missing_ok=True)
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(local.wait, path, time.monotonic() + 10)
            time.sleep(0.1)
            local.deliver(JOB, "other", [memoryview(b"z")])  # another object of the job wakes it, not ends it
            time.sleep(0.1)
            assert not waiting.done()
            published = time.monotonic()
            publish()
            assert waiting.result(timeout=5) is True
            assert time.monotonic() - published < 0.5  # woken by inotify, not by its once-a-second look
    assert local.wait(local.path(JOB, "never"), time.monotonic() + 0.2) is False


def test_the_server_sees_what_an_executor_published_without_it(mailbox: Mailbox, local: LocalMailbox) -> None:
    """A task still waiting the server's way (no inotify) gets an object another task published itself."""
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(mailbox.wait, JOB, "k", 10)
        time.sleep(0.05)
        local.deliver(JOB, "k", [memoryview(b"direct")])
        assert waiting.result(timeout=2).read_bytes() == b"direct"


def test_an_executor_never_brings_back_the_mailbox_of_an_ended_job(mailbox: Mailbox, local: LocalMailbox) -> None:
    local.deliver(JOB, "k", [memoryview(b"x")])
    mailbox.clean(JOB)
    assert sorted(p.name for p in mailbox.root.iterdir()) == []  # renamed away, then removed: nothing left
    assert not local.deliver(JOB, "late", [memoryview(b"x")])  # its caller goes the server's way
    assert not (mailbox.root / JOB).exists()
    assert local.wait(local.path(JOB, "k"), time.monotonic() + 5) is None  # nothing to watch: the server's way


def test_a_wait_whose_directory_goes_hands_over_to_the_server(mailbox: Mailbox, local: LocalMailbox) -> None:
    path = local.path(JOB, "k")
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(local.wait, path, time.monotonic() + 10)
        time.sleep(0.1)
        mailbox.clean(JOB)  # the watch goes with the directory
        assert waiting.result(timeout=2) is None  # at once: the caller goes on waiting the server's way
    mailbox.prepare(JOB)  # a rerun: the next wait watches the new directory
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(local.wait, path, time.monotonic() + 10)
        time.sleep(0.1)
        local.deliver(JOB, "k", [memoryview(b"again")])
        assert waiting.result(timeout=2) is True
    assert path.read_bytes() == b"again"
