"""A client or a stranger on the network cannot read, break or poison a party: each attack of the hardening
review, performed against a real server, is refused with a clear error and leaves nothing behind.

(The attacks a partner party can try with or without a key are in test_security_peers.py and
test_permissions.py; the fuzz of every route in test_fuzz_api.py.)
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import requests

from tests.support import DATA, ServerProcess, upload_multipart

TABLE = {"namespace": "experiment", "table_name": "breast_hetero_guest"}


@pytest.fixture(scope="module")
def party(tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    server = ServerProcess(tmp_path_factory.mktemp("hardening") / "party", {
        "FATE_FLOW_DATABASE__ENGINE": "sqlite", "FATE_FLOW_LIMITS__JSON_BODY_MB": "1",
        "FATE_FLOW_LIMITS__PAGE_SIZE": "50", "FATE_FLOW_LIMITS__HTTP_TIMEOUT_S": "3"}).start()
    answer = upload_multipart(server, {**TABLE, "head": 1, "partition": 1}, DATA / "breast_hetero_guest.csv").json()
    assert server.wait_job(answer["jobId"])["f_status"] == "success"
    yield server
    server.stop()


def _job_count(server: ServerProcess) -> int:
    return server.post("/v1/job/list/job", {})["data"]["count"]


def _local_job(component: str, module: str, params: dict) -> dict:
    return {"job_dsl": {"components": {component: {"module": module}}},
            "job_runtime_conf": {"dsl_version": 2, "initiator": {"role": "local", "party_id": 0},
                                 "role": {"local": [0]},
                                 "component_parameters": {"role": {"local": {"0": {component: params}}}}}}


# -- files ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["fate_flow_sqlite.db", "data/tables/experiment/x.csv", "logs/x.csv",
                                    "jobs/x.csv", ".local_token", "out.csv"])
def test_a_download_never_writes_over_the_servers_own_files(party: ServerProcess, target: str):
    path = party.home / target
    before = path.read_bytes() if path.is_file() else None
    answer = party.post("/v1/data/download", {**TABLE, "output_path": str(path), "overwrite": True})
    assert answer["retcode"] == 101 and "data_access.allowed_dirs" in answer["retmsg"], answer
    assert "FATE_FLOW_DATA_ACCESS__ALLOWED_DIRS" in answer["retmsg"]
    assert (path.read_bytes() if path.is_file() else None) == before


def test_a_download_lands_in_downloads_atomically_and_never_overwrites_unasked(party: ServerProcess):
    before = _job_count(party)
    answer = party.post("/v1/data/download", {**TABLE, "output_path": "guest/copy.csv"})
    assert answer["retcode"] == 0, answer
    assert party.wait_job(answer["jobId"])["f_status"] == "success"
    written = party.home / "downloads" / "guest" / "copy.csv"
    assert written.read_text().splitlines() == (DATA / "breast_hetero_guest.csv").read_text().splitlines()
    assert not list(written.parent.glob(".*.partial"))  # written aside, renamed into place
    again = party.post("/v1/data/download", {**TABLE, "output_path": "guest/copy.csv"})
    assert again["retcode"] == 101 and "overwrite" in again["retmsg"], again
    assert _job_count(party) == before + 1
    forced = party.post("/v1/data/download", {**TABLE, "output_path": "guest/copy.csv", "overwrite": True})
    assert party.wait_job(forced["jobId"])["f_status"] == "success"


def test_a_dsl_upload_cannot_read_any_file_of_the_server(party: ServerProcess):
    before = _job_count(party)
    answer = party.post("/v1/job/submit", _local_job("upload_0", "Upload", {
        "file": "/etc/passwd", "namespace": "stolen", "name": "passwd", "head": 0}))
    assert answer["retcode"] == 103, answer
    assert "upload_0" in answer["retmsg"] and "data_access.allowed_dirs" in answer["retmsg"]
    assert _job_count(party) == before
    token = party.post("/v1/job/submit", _local_job("upload_0", "Upload", {
        "file": str(party.home / ".local_token"), "namespace": "stolen", "name": "token", "head": 0}))
    assert token["retcode"] == 103 and "data_access.allowed_dirs" in token["retmsg"], token
    assert party.post("/v1/table/table_info", {"namespace": "stolen", "table_name": "passwd"})["data"]["exist"] == 0


def test_a_dsl_download_cannot_write_into_the_servers_state(party: ServerProcess):
    database = party.home / "fate_flow_sqlite.db"
    size = database.stat().st_size
    answer = party.post("/v1/job/submit", _local_job("download_0", "Download", {
        "namespace": "experiment", "name": "breast_hetero_guest", "output_path": str(database), "overwrite": True}))
    assert answer["retcode"] == 103 and "output_path" in answer["retmsg"], answer
    assert database.stat().st_size >= size and party.post("/v1/version/get", {})["retcode"] == 0


def test_an_upload_copy_is_removed_when_its_job_ends(party: ServerProcess):
    answer = upload_multipart(party, {"namespace": "experiment", "table_name": "copy_check", "head": 1,
                                      "partition": 1}, DATA / "breast_hetero_guest.csv").json()
    assert party.wait_job(answer["jobId"])["f_status"] == "success"
    deadline = time.time() + 10
    while (party.home / "jobs" / answer["jobId"] / "fate_upload_tmp").exists() and time.time() < deadline:
        time.sleep(0.1)
    assert not (party.home / "jobs" / answer["jobId"] / "fate_upload_tmp").exists()


def test_a_storage_engine_this_server_lacks_is_refused(party: ServerProcess):
    answer = upload_multipart(party, {"namespace": "experiment", "table_name": "hdfs_t", "head": 1,
                                      "storage_engine": "HDFS"}, DATA / "breast_hetero_guest.csv").json()
    assert answer["retcode"] == 101 and "storage_engine" in answer["retmsg"] and "HDFS" in answer["retmsg"], answer
    assert "STANDALONE or LOCALFS" in answer["retmsg"], answer


def test_localfs_names_this_servers_store_too(party: ServerProcess):
    """FATE on Spark uploads with storage_engine LOCALFS: here that is the same store (Parquet on local disk)."""
    answer = upload_multipart(party, {"namespace": "experiment", "table_name": "localfs_t", "head": 1,
                                      "storage_engine": "LOCALFS"}, DATA / "breast_hetero_guest.csv").json()
    assert answer["retcode"] == 0, answer
    assert party.wait_job(answer["jobId"])["f_status"] == "success"
    info = party.post("/v1/table/table_info", {"namespace": "experiment", "table_name": "localfs_t"})["data"]
    assert info["count"] == 569, info


# -- poison and amplification -----------------------------------------------------------------------------------
def test_a_text_progress_is_refused_and_stored_nowhere(party: ServerProcess):
    answer = party.post("/v1/job/submit", _local_job("test_0", "TestModule", {"sleep": 0}))
    job_id = answer["jobId"]
    party.wait_job(job_id)
    path = f"/v1/party/{job_id}/local/0/update"
    stranger = party.post(path, {"progress": "zzz"})  # not even a party: refused before the body is read
    assert stranger["retcode"] == 109, stranger
    # the server's own executors may call it: still, every field is checked before it is stored
    token = {"X-Flow-Local-Token": (party.home / ".local_token").read_text().strip()}
    poisoned = party.post(path, {"progress": "zzz"}, headers=token)
    assert poisoned["retcode"] == 101 and "progress" in poisoned["retmsg"], poisoned
    assert party.post(path, {"progress": 101}, headers=token)["retcode"] == 101
    assert party.post("/v1/job/query", {"job_id": job_id})["data"][0]["f_progress"] == 100


def test_a_list_filter_is_refused_before_it_costs_anything(party: ServerProcess):
    answer = party.post("/v1/job/query", {"job_id": ["1"] * 10_000})
    assert answer["retcode"] == 101 and "job_id" in answer["retmsg"], answer


def test_a_body_over_the_limit_is_refused_with_413(party: ServerProcess):
    body = json.dumps({"job_id": "x", "pad": "a" * (2 << 20)})
    response = requests.post(party.url + "/v1/job/query", data=body, timeout=30,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "limits.json_body_mb" in response.json()["retmsg"], response.text
    assert party.post("/v1/version/get", {})["retcode"] == 0


def test_list_pages_are_capped(party: ServerProcess):
    for _ in range(3):
        party.post("/v1/job/submit", _local_job("test_0", "TestModule", {"sleep": 0}))
    listed = party.post("/v1/job/list/job", {"limit": 1_000_000})["data"]
    assert len(listed["jobs"]) <= 50 < 1_000_000
    assert party.post("/v1/job/list/task", {"limit": 0})["data"]["tasks"].__len__() <= 50


def _cores(party: ServerProcess) -> tuple[int, int]:
    engine = party.post("/v1/resource/query", {})["data"]["computing_engine_resource"]
    return engine["f_remaining_cores"], engine["f_cores"]


def test_a_negative_task_cores_is_refused_at_submit(party: ServerProcess):
    deadline = time.time() + 20
    while _cores(party)[0] != _cores(party)[1] and time.time() < deadline:  # earlier tests' jobs end
        time.sleep(0.1)
    job = _local_job("test_0", "TestModule", {"sleep": 0})
    job["job_runtime_conf"]["job_parameters"] = {"common": {"task_cores": -16}}
    answer = party.post("/v1/job/submit", job)
    assert answer["retcode"] == 103 and "job_parameters.common.task_cores" in answer["retmsg"], answer
    remaining, total = _cores(party)
    assert remaining == total  # no core was added to the pool


@pytest.mark.parametrize(("conf_change", "field"), [
    ({"role": {"local": [0], "hots": [10000]}}, "role.hots"),
    ({"compnent_parameters": {}}, "compnent_parameters"),
])
def test_conf_typos_are_refused_naming_the_key(party: ServerProcess, conf_change: dict, field: str):
    job = _local_job("test_0", "TestModule", {"sleep": 0})
    job["job_runtime_conf"].update(conf_change)
    answer = party.post("/v1/job/submit", job)
    assert answer["retcode"] == 103 and field in answer["retmsg"], answer


def test_parameters_for_a_component_not_in_the_dsl_are_ignored_with_a_warning(party: ServerProcess):
    """FATE's own testsuite confs carry such entries: the job runs, the job's schedule log says what was ignored."""
    job = _local_job("test_0", "TestModule", {"sleep": 0})
    job["job_runtime_conf"]["component_parameters"]["common"] = {"evaluation_0": {"eval_type": "binary"}}
    answer = party.post("/v1/job/submit", job)
    assert answer["retcode"] == 0, answer
    assert party.wait_job(answer["jobId"])["f_status"] == "success"
    log = (party.home / "logs" / answer["jobId"] / "fate_flow_schedule.log").read_text()
    assert "no component 'evaluation_0' in the dsl; ignored" in log


def test_a_route_the_server_does_not_serve_says_so(party: ServerProcess):
    for path in ("/v1/model/archive/packaging", "/v1/table/bind", "/v1/nonsense"):
        response = requests.post(party.url + path, json={}, timeout=10)
        assert response.status_code == 404
        assert response.json() == {"retcode": 404, "retmsg": f"POST {path} is not provided by this server"}


def test_deleting_a_missing_table_answers_fates_message(party: ServerProcess):
    answer = party.post("/v1/table/delete", {"namespace": "nothing", "table_name": "here"})
    assert answer == {"retcode": 101, "retmsg": "no find table"}


# -- slow clients -----------------------------------------------------------------------------------------------
def test_slow_clients_do_not_starve_the_server(party: ServerProcess):
    """40 connections trickling their headers (more than the 32 workers) while others query: the queries are
    answered at once, and the slow connections are cut after the header deadline (limits.http_timeout_s=3)."""
    slow: list[socket.socket] = []
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(1.0):
            for sock in list(slow):
                try:
                    sock.sendall(b"X")
                except OSError:
                    slow.remove(sock)

    for _ in range(40):
        sock = socket.create_connection(("127.0.0.1", party.http_port), timeout=10)
        sock.sendall(b"POST /v1/job/query HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(sock)
    feeder = threading.Thread(target=trickle, daemon=True)
    feeder.start()
    try:
        time.sleep(1.5)
        started = time.monotonic()
        for _ in range(10):
            assert party.post("/v1/version/get", {})["retcode"] == 0
        assert time.monotonic() - started < 5
        time.sleep(5)  # past the header deadline: the server has cut them
        assert len(slow) < 40
    finally:
        stop.set()
        for sock in slow:
            sock.close()


def test_the_openapi_description_is_served(party: ServerProcess):
    document = requests.get(party.url + "/v1/openapi.json", timeout=10).json()
    assert "/v1/data/download" in document["paths"]
    body = document["paths"]["/v1/data/download"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"namespace", "table_name", "output_path", "overwrite"} <= set(body["properties"])


def test_silent_push_streams_do_not_starve_the_grpc_server(party: ServerProcess):
    """40 push streams that never send a packet: scheduling calls over gRPC are still answered at once, and
    the silent streams are cancelled after the idle timeout (limits.http_timeout_s=3)."""
    import grpc

    from fate_flow.proto import proxy_pb2, proxy_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{party.grpc_port}")
    stub = proxy_pb2_grpc.DataTransferServiceStub(channel)
    hold = threading.Event()

    def silence():
        hold.wait(30)
        return
        yield  # a generator that sends nothing

    calls = [stub.push.future(silence()) for _ in range(40)]
    try:
        time.sleep(0.5)
        started = time.monotonic()
        packet = proxy_pb2.Packet(body=proxy_pb2.Data(key="/v1/party/1/guest/9999/clean", value=b"{}"))
        answer = json.loads(stub.unaryCall(packet, timeout=10).body.value)
        assert time.monotonic() - started < 3 and "retcode" in answer
        deadline = time.monotonic() + 10
        while not all(call.done() for call in calls) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert all(call.done() for call in calls), "silent streams were not cut"
        assert {call.exception().code() for call in calls} == {grpc.StatusCode.CANCELLED}
    finally:
        hold.set()
        channel.close()


def test_an_oversized_packet_or_object_is_refused(party: ServerProcess):
    import grpc

    from fate_flow.proto import proxy_pb2, proxy_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{party.grpc_port}",
                                    options=[("grpc.max_send_message_length", -1)])
    stub = proxy_pb2_grpc.DataTransferServiceStub(channel)
    try:
        huge = proxy_pb2.Packet(body=proxy_pb2.Data(key="/v1/party/1/guest/9999/clean", value=b"x" * (20 << 20)))
        with pytest.raises(grpc.RpcError) as caught:
            stub.unaryCall(huge, timeout=30)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # limits.grpc_message_mb (8 MB)
    finally:
        channel.close()


def test_push_objects_and_streams_per_party_are_bounded(tmp_path):
    """An object announced above limits.object_mb is refused before anything is stored; a party may have only
    limits.peer_streams pushes open at once."""
    from concurrent import futures

    import grpc

    from fate_flow.engine import push as sender
    from fate_flow.federation import transfer
    from fate_flow.federation.stream_guard import PushLimits, StreamGuard
    from fate_flow.manager.mailbox import Mailbox
    from fate_flow.proto import proxy_pb2_grpc

    mailbox = Mailbox(tmp_path / "mailbox")
    guard = StreamGuard(PushLimits(max_object_bytes=1 << 20, idle_timeout_s=5, stream_deadline_s=30, peer_streams=2))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=transfer.CHANNEL_OPTIONS)
    proxy_pb2_grpc.add_DataTransferServiceServicer_to_server(transfer.MailboxPushService(mailbox, guard=guard),
                                                             server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    target = f"127.0.0.1:{port}"
    try:
        with pytest.raises(sender.TransferError, match="limits.object_mb"):
            sender.send_object(target, "202601010000000000001", "guest", "9999", "host", "10000", "big",
                               b"x" * (2 << 20), timeout=10)
        assert not list((tmp_path / "mailbox").rglob("*.obj"))
        hold = threading.Event()

        def slow_object(index: int):
            frames = sender.push_frames("202601010000000000001", "guest", "9999", "host", "10000", f"k{index}",
                                        b"y" * 10, chunk_size=4)
            yield next(frames)
            hold.wait(10)
            yield from frames

        channel = grpc.insecure_channel(target)
        call = channel.stream_unary(sender._PUSH_METHOD, request_serializer=lambda b: b,
                                    response_deserializer=lambda b: b)
        open_streams = [call.future(slow_object(i)) for i in range(2)]
        time.sleep(0.5)
        third = call.future(slow_object(2))
        with pytest.raises(grpc.RpcError) as caught:
            third.result(timeout=10)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "limits.peer_streams" in caught.value.details()
        hold.set()
        for stream in open_streams:
            stream.result(timeout=10)  # the first two complete
        channel.close()
    finally:
        server.stop(grace=1).wait(3)
        sender.close_channels()


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_permissions_are_changed_only_from_this_machine(tmp_path):
    """A partner can reach the server's port, but not grant itself anything (client signing off)."""
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to call the server from")
    server = ServerProcess(tmp_path / "party", {"FATE_FLOW_DATABASE__ENGINE": "sqlite",
                                                "FATE_FLOW_FATEFLOW__HOST": "0.0.0.0"}).start()
    try:
        grant = {"party_id": 10000, "dataset": "*"}
        remote = requests.post(f"http://{address}:{server.http_port}/v1/permission/grant", json=grant, timeout=10)
        assert remote.json()["retcode"] == 109 and "this machine" in remote.json()["retmsg"], remote.text
        assert server.post("/v1/permission/query", {"party_id": 10000})["data"]["dataset"] == []
        assert server.post("/v1/permission/grant", grant)["retcode"] == 0  # an operator on this machine
    finally:
        server.stop()


@pytest.mark.parametrize(("env", "home", "sentence"), [
    ({"FATE_FLOW_FATEFLOW__HTTP_PORT": "BUSY"}, None, "(settings fateflow.host, fateflow.http_port)"),
    ({"FATE_FLOW_DATABASE__ENGINE": "mysql", "FATE_FLOW_DATABASE__USER": "nobody", "FATE_FLOW_DATABASE__PASSWD": "x"},
     None, "cannot be opened (settings database.*)"),
    ({}, "/proc/no_home_here", "cannot be used (--home, FATE_FLOW_HOME)"),
])
def test_a_server_that_cannot_start_says_why_in_one_sentence(tmp_path, env: dict, home: str | None, sentence: str):
    import os
    import subprocess
    import sys

    from tests.support import REPO

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    env = {key: str(busy.getsockname()[1]) if value == "BUSY" else value for key, value in env.items()}
    completed = subprocess.run([sys.executable, "-m", "fate_flow", "server", "--home", home or str(tmp_path / "h")],
                               cwd=REPO, env={**os.environ, "FATE_FLOW_FATEFLOW__GRPC_PORT": "0", **env},
                               capture_output=True, text=True, timeout=60)
    busy.close()
    assert completed.returncode != 0
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and sentence in lines[0], completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_killed_download_leaves_nothing_at_its_output_path(tmp_path):
    server = ServerProcess(tmp_path / "party", {"FATE_FLOW_DATABASE__ENGINE": "sqlite"}).start()
    try:
        big = tmp_path / "big.csv"
        row = ",".join(f"{i * 0.001:.6f}" for i in range(20))
        with big.open("w") as out:
            out.write("id," + ",".join(f"x{i}" for i in range(20)) + "\n")
            out.writelines(f"{i},{row}\n" for i in range(800_000))
        answer = upload_multipart(server, {"namespace": "experiment", "table_name": "big", "head": 1}, big).json()
        assert server.wait_job(answer["jobId"], timeout=120)["f_status"] == "success"
        downloads = server.home / "downloads"
        job_id = server.post("/v1/data/download", {"namespace": "experiment", "table_name": "big",
                                                   "output_path": "big.csv"})["jobId"]
        deadline = time.time() + 30
        while not list(downloads.glob(".big.csv.*.partial")) and time.time() < deadline:
            time.sleep(0.01)
        assert list(downloads.glob(".big.csv.*.partial")), "the download never started writing"
        assert server.post("/v1/job/stop", {"job_id": job_id})["retcode"] == 0
        assert server.wait_job(job_id)["f_status"] == "canceled"
        assert not (downloads / "big.csv").exists()
        assert not list(downloads.glob(".big.csv.*.partial"))
    finally:
        server.stop()
