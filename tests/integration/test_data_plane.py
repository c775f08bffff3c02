"""The data plane end to end in one process: a real gRPC server with the push servicer into a Mailbox,
the mailbox blueprint on a real HTTP server, and two Federation objects (guest 9999, host 10000)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import grpc
import numpy as np
import pytest
from cheroot import wsgi
from flask import Flask

from fate_flow.apps.mailbox_app import mailbox_app
from fate_flow.apps.util import RUNTIME_KEY
from fate_flow.engine import mailbox_files
from fate_flow.engine.federation import Federation, FederationError, FederationTimeout
from fate_flow.engine.mailbox_files import LocalMailbox
from fate_flow.federation import transfer
from fate_flow.manager.mailbox import Mailbox
from fate_flow.proto import proxy_pb2, proxy_pb2_grpc

JOB = "202406010000000000042"
GUEST, HOST = ("guest", "9999"), ("host", "10000")


@dataclass
class Plane:
    mailbox: Mailbox
    grpc_target: str
    http_url: str

    def federation(self, role: str, party_id: str, **kwargs) -> Federation:
        # both parties use this one server: routes send each party's objects to it
        routes = {GUEST[1]: self.grpc_target, HOST[1]: self.grpc_target}
        return Federation(JOB, role, party_id, routes, self.http_url, **kwargs)


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    mailbox = Mailbox(tmp_path_factory.mktemp("dataplane") / "mailbox")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=transfer.CHANNEL_OPTIONS)
    proxy_pb2_grpc.add_DataTransferServiceServicer_to_server(transfer.MailboxPushService(mailbox), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    app = Flask("dataplane-test")
    app.extensions[RUNTIME_KEY] = SimpleNamespace(mailbox=mailbox)  # the only part of a Runtime mailbox_app uses
    app.register_blueprint(mailbox_app)
    http = wsgi.Server(("127.0.0.1", 0), app)  # the server's own HTTP server (it keeps connections alive)
    http.prepare()
    thread = threading.Thread(target=http.serve, daemon=True)
    thread.start()
    yield Plane(mailbox, f"127.0.0.1:{port}", f"http://127.0.0.1:{http.bind_addr[1]}")
    http.stop()
    thread.join(5)
    server.stop(grace=1).wait(3)
    transfer.close_channels()


def test_guest_and_host_exchange_objects_both_ways(plane: Plane) -> None:
    guest, host = plane.federation(*GUEST), plane.federation(*HOST)
    big = 2**2047 + 987654321
    to_host = {"weights": np.arange(12.0).reshape(3, 4), "ciphers": [big, -big], 7: (True, None, "x")}
    to_guest = {"grad": np.asfortranarray(np.ones((5, 2), dtype=np.float32)), "ids": ["a", "b"], "n": -big}
    guest.remote(to_host, "forward", "iter_0", [HOST])
    host.remote(to_guest, "forward", "iter_0", [GUEST])  # same name and tag, other direction: no collision

    (at_host,) = host.get("forward", "iter_0", [GUEST], timeout=5)
    (at_guest,) = guest.get("forward", "iter_0", [HOST], timeout=5)
    assert at_host.keys() == to_host.keys() and at_host["ciphers"] == [big, -big] and at_host[7] == (True, None, "x")
    np.testing.assert_array_equal(at_host["weights"], to_host["weights"])
    assert at_guest["n"] == -big and at_guest["ids"] == ["a", "b"]
    np.testing.assert_array_equal(at_guest["grad"], to_guest["grad"])
    assert at_guest["grad"].flags.writeable  # read into a bytearray: the component may modify it
    assert not any(p.is_file() for p in (plane.mailbox.root / JOB).rglob("*"))  # read objects are removed


def test_get_waits_for_an_object_sent_later(plane: Plane) -> None:
    guest, host = plane.federation(*GUEST), plane.federation(*HOST)
    timer = threading.Timer(0.3, guest.remote, args=(np.arange(3), "late", "t", [HOST]))
    timer.start()
    start = time.monotonic()
    (value,) = host.get("late", "t", [GUEST], timeout=5)
    waited = time.monotonic() - start
    timer.join()
    np.testing.assert_array_equal(value, np.arange(3))
    assert 0.25 < waited < 2


def test_waits_keep_their_connection_and_survive_its_loss(plane: Plane) -> None:
    """A task's waits reuse one connection to its server (a new one per object cost the server more than the
    rest of the object's way); one the server closed meanwhile is replaced, and the object still arrives."""
    guest, host = plane.federation(*GUEST), plane.federation(*HOST)
    guest.remote(1, "kept", "0", [HOST])
    assert host.get("kept", "0", [GUEST], timeout=5) == [1]
    kept = host._local.connection
    guest.remote(2, "kept", "1", [HOST])
    assert host.get("kept", "1", [GUEST], timeout=5) == [2]
    assert host._local.connection is kept
    kept.sock.shutdown(socket.SHUT_RDWR)  # as when the server drops an idle connection
    guest.remote(3, "kept", "2", [HOST])
    started = time.monotonic()
    assert host.get("kept", "2", [GUEST], timeout=5) == [3]
    assert time.monotonic() - started < 0.4  # asked again at once (not after the unreachable server's pause)
    assert host._local.connection is not kept
    host.close()
    assert host._local.connection is None


def test_objects_for_this_servers_parties_skip_the_server(plane: Plane, free_port: int) -> None:
    """With the server's mailbox at hand, an executor publishes objects for the parties its server serves
    itself (the route to the server is not even used) and waits for its own through inotify; an object for
    another party's server still goes by gRPC, and arrives the same."""
    plane.mailbox.prepare(JOB)
    local = LocalMailbox(plane.mailbox.root, [HOST[1]])  # the host is served here; the guest elsewhere
    dead = f"127.0.0.1:{free_port}"  # nothing listens: a push to it, or a long poll there, would fail
    guest = Federation(JOB, *GUEST, {HOST[1]: dead, GUEST[1]: plane.grpc_target}, f"http://{dead}",
                       local_mailbox=local)
    host = Federation(JOB, *HOST, {HOST[1]: dead, GUEST[1]: plane.grpc_target}, f"http://{dead}",
                      local_mailbox=local)
    guest.remote(np.arange(4.0), "direct", "0", [HOST])
    (value,) = host.get("direct", "0", [GUEST], timeout=5)
    np.testing.assert_array_equal(value, np.arange(4.0))
    host.remote("by grpc", "pushed", "0", [GUEST])
    assert guest.get("pushed", "0", [HOST], timeout=5) == ["by grpc"]
    timer = threading.Timer(0.2, guest.remote, args=({"late": True}, "later", "0", [HOST]))
    timer.start()
    assert host.get("later", "0", [GUEST], timeout=5) == [{"late": True}]
    timer.join()
    host.close()
    guest.close()


def test_without_inotify_a_task_waits_through_the_server(plane: Plane, monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """No inotify (or no job directory): the long poll, which still sees objects other tasks published
    themselves within the server's re-check; said once in the task's log."""
    monkeypatch.setattr(mailbox_files, "_watch", lambda directory: None)
    plane.mailbox.prepare(JOB)
    local = LocalMailbox(plane.mailbox.root, [GUEST[1], HOST[1]])
    guest, host = (plane.federation(*party, local_mailbox=local) for party in (GUEST, HOST))
    for number in range(3):
        timer = threading.Timer(0.1, guest.remote, args=(number, "polled", str(number), [HOST]))
        timer.start()
        started = time.monotonic()
        assert host.get("polled", str(number), [GUEST], timeout=5) == [number]
        assert time.monotonic() - started < 0.9  # the server's re-check, not the end of its 20 s long poll
        timer.join()
    assert len([r for r in caplog.records if "cannot watch the mailbox" in r.message]) == 1


def test_one_party_sends_to_several_and_gets_from_several(plane: Plane) -> None:
    arbiter = plane.federation("arbiter", HOST[1])  # FATE's examples put host and arbiter on one party
    guest, host = plane.federation(*GUEST), plane.federation(*HOST)
    arbiter.remote({"key": 1}, "pubkey", "0", [GUEST, HOST])
    assert guest.get("pubkey", "0", [("arbiter", HOST[1])], timeout=5) == [{"key": 1}]
    assert host.get("pubkey", "0", [("arbiter", HOST[1])], timeout=5) == [{"key": 1}]
    guest.remote("from guest", "loss", "0", [("arbiter", HOST[1])])
    host.remote("from host", "loss", "0", [("arbiter", HOST[1])])
    assert arbiter.get("loss", "0", [HOST, GUEST], timeout=5) == ["from host", "from guest"]


def test_sessions_keep_reruns_apart(plane: Plane) -> None:
    old = plane.federation(*GUEST, session_id="task_0")
    old.remote("stale", "x", "0", [HOST])
    new_guest = plane.federation(*GUEST, session_id="task_1")
    new_host = plane.federation(*HOST, session_id="task_1")
    new_guest.remote("fresh", "x", "0", [HOST])
    assert new_host.get("x", "0", [GUEST], timeout=5) == ["fresh"]
    plane.mailbox.clean(JOB)


def test_get_timeout_names_the_parties_name_and_tag(plane: Plane) -> None:
    host = plane.federation(*HOST)
    plane.federation("arbiter", "10000").remote(1, "gradient", "epoch_3", [HOST])
    start = time.monotonic()
    with pytest.raises(FederationTimeout) as caught:
        host.get("gradient", "epoch_3", [GUEST, ("guest", "9998"), ("arbiter", "10000")], timeout=0.5)
    assert time.monotonic() - start < 3
    message = str(caught.value)
    print("\n" + message)
    assert "'gradient'" in message and "'epoch_3'" in message
    assert "guest 9999" in message and "guest 9998" in message and "arbiter" not in message.split("from")[1]
    plane.mailbox.clean(JOB)


def test_remote_to_an_unknown_or_dead_party_fails_clearly(plane: Plane) -> None:
    guest = plane.federation(*GUEST, send_timeout=0.5)
    with pytest.raises(FederationError, match="no route to party 777"):
        guest.remote(1, "a", "b", [("host", "777")])
    guest.routes["10000"] = "127.0.0.1:1"  # nothing listens there
    start = time.monotonic()
    with pytest.raises(FederationError, match=r"'a' tag 'b' to host 10000.*UNAVAILABLE"):
        guest.remote(1, "a", "b", [HOST])
    assert time.monotonic() - start < 3


def _packet(seq: int, value: bytes, ext: bytes | None = None, key: str = "k", job: str = JOB) -> proxy_pb2.Packet:
    header = proxy_pb2.Metadata(seq=seq)
    if ext is not None:
        header = proxy_pb2.Metadata(
            task=proxy_pb2.Task(taskId=job), src=proxy_pb2.Topic(role="guest", partyId="9999"),
            dst=proxy_pb2.Topic(role="host", partyId="10000"), command=proxy_pb2.Command(name=transfer.PUSH_COMMAND),
            seq=seq, ext=ext)
    return proxy_pb2.Packet(header=header, body=proxy_pb2.Data(key=key if ext is not None else "", value=value))


BAD_STREAMS = {
    "empty": [],
    "no size": [_packet(0, b"ab", ext=b"")],
    "size not JSON int": [_packet(0, b"ab", ext=b'{"size": "2"}')],
    "short": [_packet(0, b"ab", ext=b'{"size": 5}')],
    "long": [_packet(0, b"ab", ext=b'{"size": 3}'), _packet(1, b"cd")],
    "out of order": [_packet(0, b"ab", ext=b'{"size": 4}'), _packet(2, b"cd")],
    "other object": [_packet(0, b"ab", ext=b'{"size": 4}'), _packet(1, b"cd", ext=b"", key="other")],
    "unsafe job id": [_packet(0, b"ab", ext=b'{"size": 2}', job="../../etc")],
    "no key": [_packet(0, b"ab", ext=b'{"size": 2}', key="")],
}


@pytest.mark.parametrize("name", list(BAD_STREAMS))
def test_malformed_push_streams_are_refused(plane: Plane, name: str) -> None:
    channel = grpc.insecure_channel(plane.grpc_target)
    stub = proxy_pb2_grpc.DataTransferServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.push(iter(BAD_STREAMS[name]), timeout=5)
    channel.close()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert plane.mailbox.wait(JOB, "k", 0) is None
    assert not any(p.is_file() for p in plane.mailbox.root.rglob("*"))


def test_push_ack(plane: Plane) -> None:
    ack = transfer.send_object(plane.grpc_target, JOB, "guest", "9999", "host", "10000", "raw", b"x" * 10,
                               timeout=5, chunk_size=3)
    assert (ack.ack, ack.seq, ack.src.partyId, ack.dst.partyId) == (10, 4, "10000", "9999")
    assert json.loads(ack.ext) == {"size": 10}
    assert plane.mailbox.take(JOB, "raw") == b"x" * 10


@pytest.mark.parametrize("sizes", [[0], [10], [3, 4, 0, 9], [1, 1, 1], [20]])
def test_push_frames_are_packets_that_reassemble_the_object(sizes: list[int]) -> None:
    parts = [bytes([i]) * n for i, n in enumerate(sizes)]
    frames = list(transfer.push_frames(JOB, "guest", "9999", "host", "10000", "key", parts, chunk_size=4))
    packets = [proxy_pb2.Packet.FromString(frame) for frame in frames]
    assert b"".join(p.body.value for p in packets) == b"".join(parts)
    assert [p.header.seq for p in packets] == list(range(len(packets)))
    assert all(len(p.body.value) == 4 for p in packets[:-1])
    head = packets[0]
    assert (head.header.task.taskId, head.body.key, head.header.src.role, head.header.src.partyId,
            head.header.dst.role, head.header.dst.partyId) == (JOB, "key", "guest", "9999", "host", "10000")
    assert json.loads(head.header.ext) == {"size": sum(sizes)}
    assert head.header.command.name == transfer.PUSH_COMMAND


def test_100mb_array_throughput(plane: Plane) -> None:
    guest, host = plane.federation(*GUEST), plane.federation(*HOST)
    arr = np.random.default_rng(0).random(100 * 2**20 // 8)
    start = time.perf_counter()
    guest.remote(arr, "big", "0", [HOST])
    sent = time.perf_counter()
    (out,) = host.get("big", "0", [GUEST], timeout=30)
    total = float(out.sum())  # get() maps the file: count the receiver reading every byte too
    done = time.perf_counter()
    mb_per_s = arr.nbytes / 2**20 / (done - start)
    print(f"\n100 MB array: remote {sent - start:.3f} s, get + read {done - sent:.3f} s, "
          f"{mb_per_s:.0f} MB/s end to end")
    assert np.array_equal(out, arr) and total == float(arr.sum())
    assert mb_per_s >= 100


def test_mailbox_wait_endpoint(plane: Plane, tmp_path: Path) -> None:
    import urllib.request

    def call(job_id: str, payload: dict) -> dict:
        request = urllib.request.Request(f"{plane.http_url}/v1/mailbox/{job_id}/wait", method="POST",
                                         data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    assert call(JOB, {"key": "nothing", "timeout": 0.1})["retcode"] == 106
    assert call(JOB, {"key": "nothing", "timeout": "bad"})["retcode"] == 106
    assert call(JOB, {"timeout": 0})["retcode"] == 101
    assert call("..", {"key": "k", "timeout": 0})["retcode"] in (101, 404)
    path = plane.mailbox.put(JOB, "here", b"v")
    assert call(JOB, {"key": "here", "timeout": 1}) == {"retcode": 0, "retmsg": "success", "data": {"path": str(path)}}
    plane.mailbox.clean(JOB)
