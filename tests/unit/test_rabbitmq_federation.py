"""The RabbitMQ data plane in one process against the real broker at 127.0.0.1:5672: two parties' executors
(guest 9999 and host 10000) exchange objects through their queues; what is not signed by the job's party,
does not match its digest, is too large or belongs to an earlier attempt is refused or dropped, never decoded.
Also: the settings section and its errors, queue names, the server's clean-up."""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import pika
import pytest

from fate_flow.engine import codec
from fate_flow.engine import rabbitmq as rabbitmq_engine
from fate_flow.engine.federation import FederationError, FederationTimeout, PushKeys
from fate_flow.engine.rabbitmq import RabbitMQFederation, SignatureCheck, queue_name, signed_message
from fate_flow.entity.task_config import BrokerAddress, PushSigning, RabbitMQConfig
from fate_flow.manager import broker as server_broker
from fate_flow.settings import SettingsError, load_settings

# one broker for the machine: a test here restarts it, so these files never run beside each other (xdist)
pytestmark = pytest.mark.xdist_group("rabbitmq")
BROKER = ("127.0.0.1", 5672)
GUEST, HOST = ("guest", "9999"), ("host", "10000")
ROLES = {"guest": ["9999"], "host": ["10000"]}
logging.getLogger("pika.channel").setLevel(logging.ERROR)  # a passive declare of a missing queue is expected


def broker_reachable() -> bool:
    try:
        with socket.create_connection(BROKER, timeout=1):
            return True
    except OSError:
        return False


def require_rabbitmq() -> None:
    """Skip with a clear message where no broker answers; in CI a missing broker is a failure."""
    if broker_reachable():
        return
    message = (f"RabbitMQ not reachable at {BROKER[0]}:{BROKER[1]} (start it: rabbitmq-server -detached)")
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run the RabbitMQ tests)")
    pytest.skip(message)


@pytest.fixture
def rabbitmq() -> None:
    require_rabbitmq()


@pytest.fixture
def job_id() -> str:
    return f"unit{uuid.uuid4().hex[:12]}"


def _channel() -> tuple[pika.BlockingConnection, pika.adapters.blocking_connection.BlockingChannel]:
    connection = pika.BlockingConnection(pika.ConnectionParameters(*BROKER))
    return connection, connection.channel()


def queue_exists(name: str) -> bool:
    connection, channel = _channel()
    try:
        channel.queue_declare(queue=name, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        if connection.is_open:
            connection.close()


def _config(max_message_size: int = 1 << 20, max_object_bytes: int = 64 << 20) -> RabbitMQConfig:
    broker = BrokerAddress(*BROKER, "guest", "guest")
    return RabbitMQConfig(brokers={"9999": broker, "10000": broker}, max_message_size=max_message_size,
                          max_object_bytes=max_object_bytes)


SECRETS = {"9999": "secret-shared-by-9999-and-10000"}  # hmac: each side keys the other's id
PEER = {"9999": "10000", "10000": "9999"}


def _party(job_id: str, me: tuple[str, str], version: int = 0, **config) -> RabbitMQFederation:
    signing = PushSigning(mode="hmac", hmac_keys={PEER[me[1]]: SECRETS["9999"]})
    return RabbitMQFederation(job_id, "comp_0", me[0], me[1], f"{job_id}_comp_0_{version}", ROLES,
                              _config(**config), PushKeys(signing, "local-token"),
                              SignatureCheck(signing, "local-token"), send_timeout=10, get_timeout=10)


def _cleanup(job_id: str) -> None:
    server_broker.delete_queues(_settings_broker(), server_broker.job_queues(job_id, ["comp_0"], ROLES, [GUEST, HOST]))


def _settings_broker():
    env = {"FATE_FLOW_DEFAULT_ENGINES__FEDERATION": "rabbitmq", "FATE_FLOW_FATE_ON_SPARK__RABBITMQ__HOST": BROKER[0],
           "FATE_FLOW_FATE_ON_SPARK__RABBITMQ__PORT": str(BROKER[1]),
           "FATE_FLOW_FATE_ON_SPARK__RABBITMQ__USER": "guest", "FATE_FLOW_FATE_ON_SPARK__RABBITMQ__PASSWORD": "guest"}
    return load_settings(environ=env).rabbitmq


# ------------------------------------------------------------------------------------------ exchanges


def test_objects_cross_in_pieces_and_equal_what_was_sent(rabbitmq, job_id: str):
    guest, host = _party(job_id, GUEST, max_message_size=4096), _party(job_id, HOST, max_message_size=4096)
    try:
        array = np.arange(50_000, dtype=np.float64)  # 400 kB: about 100 messages
        guest.remote({"w": array, "n": 3}, "weights", "epoch.0", [HOST])
        guest.remote("second", "note", "root", [HOST])
        host.remote([1, 2.5, "x"], "answer", "root", [GUEST])
        # taken out of order: the first object waits in the receiver while the second is read
        assert host.get("note", "root", [GUEST]) == ["second"]
        received = host.get("weights", "epoch.0", [GUEST])[0]
        assert received["n"] == 3 and np.array_equal(received["w"], array)
        assert guest.get("answer", "root", [HOST]) == [[1, 2.5, "x"]]
        assert queue_exists(queue_name(job_id, "comp_0", GUEST, HOST))
    finally:
        guest.close()
        host.close()
        _cleanup(job_id)
    assert not queue_exists(queue_name(job_id, "comp_0", GUEST, HOST))


def test_get_times_out_as_over_grpc(rabbitmq, job_id: str):
    host = _party(job_id, HOST)
    try:
        with pytest.raises(FederationTimeout, match=r"timed out waiting for 'x' tag 'root' from guest 9999"):
            host.get("x", "root", [GUEST], timeout=0.5)
    finally:
        host.close()
        _cleanup(job_id)


def test_a_sender_waits_for_its_receiver_to_open_its_queue(rabbitmq, job_id: str):
    """Only a receiving task creates its queues: what is sent earlier is published once they exist; a
    receiver that never comes (or whose job ended) makes the send fail at its timeout, saying so."""
    import threading

    guest = _party(job_id, GUEST)
    guest.send_timeout = 1.0
    try:
        with pytest.raises(FederationError, match="the receiving task has not opened it"):
            guest.remote("early", "x", "root", [HOST])
        guest.send_timeout = 10.0
        sent = threading.Thread(target=guest.remote, args=("early", "y", "root", [HOST]))
        sent.start()
        time.sleep(0.5)
        host = _party(job_id, HOST)
        sent.join()
        assert host.get("y", "root", [GUEST]) == ["early"]
        host.close()
    finally:
        guest.close()
        _cleanup(job_id)


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


def test_a_broker_restart_loses_nothing_and_a_broker_gone_fails_the_get(rabbitmq, job_id: str, monkeypatch):
    """Queues are durable and messages persistent: what was confirmed before a restart is received after it.
    A broker that stays away fails a waiting task after RECONNECT_S, not at the (long) get timeout."""
    if not shutil.which("rabbitmqctl"):
        message = "rabbitmqctl not found: cannot restart the broker"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    guest, host = _party(job_id, GUEST), _party(job_id, HOST)
    guest.send_timeout = 60
    try:
        guest.remote("before", "a", "root", [HOST])
        _rabbitmqctl("stop_app")
        _rabbitmqctl("start_app")
        assert host.get("a", "root", [GUEST], timeout=60) == ["before"]
        guest.remote("after", "b", "root", [HOST])
        assert host.get("b", "root", [GUEST], timeout=60) == ["after"]
        monkeypatch.setattr(rabbitmq_engine, "RECONNECT_S", 2.0)
        _rabbitmqctl("stop_app")
        started = time.monotonic()
        with pytest.raises(FederationError, match="lost this party's RabbitMQ broker at 127.0.0.1:5672 for over 2 s"):
            host.get("c", "root", [GUEST], timeout=600)
        assert time.monotonic() - started < 10
    finally:
        _rabbitmqctl("start_app")
        guest.close()
        host.close()
        _cleanup(job_id)


def test_an_earlier_attempts_objects_are_not_read(rabbitmq, job_id: str):
    """A rerun is a new session: what the first attempt sent stays unread (dropped undecoded)."""
    old, guest, host = _party(job_id, GUEST, version=0), _party(job_id, GUEST, version=1), _party(job_id, HOST, 1)
    try:
        old.remote("from attempt 0", "x", "root", [HOST])
        guest.remote("from attempt 1", "x", "root", [HOST])
        assert host.get("x", "root", [GUEST]) == ["from attempt 1"]
    finally:
        for party in (old, guest, host):
            party.close()
        _cleanup(job_id)


def _publish(job_id: str, headers: dict, body: bytes) -> None:
    connection, channel = _channel()
    queue = queue_name(job_id, "comp_0", GUEST, HOST)
    channel.queue_declare(queue=queue, durable=True, arguments={"x-expires": 3 * 24 * 3600 * 1000})
    channel.basic_publish("", queue, body, pika.BasicProperties(headers=headers))
    connection.close()


def _forged(job_id: str, host: RabbitMQFederation, body: bytes, **changes) -> dict:
    import hashlib

    key = host.object_key("x", "root", GUEST, HOST)
    headers = {"v": 1, "job": job_id, "key": key, "transfer": "t1", "size": len(body), "count": 1, "seq": 0,
               "digest": hashlib.sha256(body).hexdigest(), "scheme": "hmac-sha256",
               "signature": base64.b64encode(b"not a signature").decode()}
    headers.update(changes)
    return headers


@pytest.mark.parametrize("case", ["bad signature", "unsigned", "digest", "not in the job", "oversize", "garbage"])
def test_a_forged_message_fails_the_task_undecoded(rabbitmq, job_id: str, monkeypatch, case: str):
    host = _party(job_id, HOST, max_object_bytes=1 << 20)
    decoded = []
    monkeypatch.setattr(codec, "decode", lambda data: decoded.append(data))
    body = codec.encode("forged")
    headers = _forged(job_id, host, body)
    if case == "unsigned":
        headers.update(scheme="", signature="")
    elif case == "digest":
        headers.update(digest="0" * 64)
    elif case == "not in the job":
        headers["key"] = json.dumps([host.session_id, "x", "root", "guest", "8888", "host", "10000"])
    elif case == "oversize":
        headers["size"] = 2 << 20
    elif case == "garbage":
        headers = {"anything": "else"}
    _publish(job_id, headers, body)
    expected = {"bad signature": "bad signature", "unsigned": "bad signature", "digest": "does not match its digest",
                "not in the job": "guest 8888 is not a party of the job", "oversize": "limits.object_mb",
                "garbage": "not an object of this data plane"}[case]
    try:
        with pytest.raises(FederationError, match=expected):
            host.get("x", "root", [GUEST], timeout=5)
        assert decoded == []
    finally:
        host.close()
        _cleanup(job_id)


def test_a_signature_by_another_party_is_refused(rabbitmq, job_id: str):
    """Signed with a key the receiver does not share with the claimed sender: refused."""
    guest = _party(job_id, GUEST)
    guest.signer = PushKeys(PushSigning(mode="hmac", hmac_keys={"10000": "someone else's secret"}), "")
    host = _party(job_id, HOST)
    try:
        guest.remote("x", "x", "root", [HOST])
        with pytest.raises(FederationError, match="bad signature"):
            host.get("x", "root", [GUEST], timeout=5)
    finally:
        guest.close()
        host.close()
        _cleanup(job_id)


def test_ed25519_signatures_check_against_the_route_tables_public_key(tmp_path: Path):
    from fate_flow.federation.keys import create_key_pair, public_key_text

    key_file = tmp_path / "site.key"
    public = public_key_text(create_key_pair(key_file).public_key())
    sign = PushKeys(PushSigning(mode="ed25519", private_key_file=str(key_file)), "")
    check = SignatureCheck(PushSigning(mode="ed25519", public_keys={"9999": public}), "")
    message = signed_message("j", "k", GUEST, HOST, 3, "d" * 64, "t")
    scheme, signature = sign("10000", message)
    assert check("9999", scheme, signature, message) is None
    assert "bad signature" in check("9999", scheme, signature, message + b"x")
    assert "no public key of party 8888" in check("8888", scheme, signature, message)


def test_a_sender_refuses_an_object_over_the_limit(rabbitmq, job_id: str):
    guest = _party(job_id, GUEST, max_object_bytes=1000)
    try:
        with pytest.raises(FederationError, match="limits.object_mb"):
            guest.remote(np.zeros(1000), "big", "root", [HOST])
    finally:
        guest.close()
        _cleanup(job_id)


# ------------------------------------------------------------------------------------------ settings and names


def test_queue_names_are_per_job_component_and_party_pair():
    assert queue_name("202401", "lr_0", GUEST, HOST) == "fate_flow.202401.lr_0.guest-9999.host-10000"
    assert queue_name("202401", "lr_0", HOST, GUEST) != queue_name("202401", "lr_0", GUEST, HOST)
    long = queue_name("202401", "c" * 300, GUEST, HOST)
    assert len(long) <= 255 and long.startswith("fate_flow.202401.")


def _load(tmp_path: Path, section: str, engine: str = "rabbitmq"):
    conf = tmp_path / "conf" / "service_conf.yaml"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(f"party_id: 9999\ndefault_engines: {{federation: {engine}}}\nfate_on_spark:\n{section}")
    return load_settings(conf, tmp_path / "home", environ={})


def test_fates_rabbitmq_section_and_route_table_file(tmp_path: Path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "rabbitmq_route_table.yaml").write_text(
        "9999: {host: 10.0.0.1, port: 5672}\n10000: {host: 10.0.0.2, port: 5673, user: u, password: p}\n")
    settings = _load(tmp_path, "  rabbitmq: {host: 127.0.0.1, mng_port: 15672, port: 5672, user: fate, "
                               "password: fate, route_table: , mode: client, max_message_size: 1048576}\n")
    mq = settings.rabbitmq
    assert (mq.own.host, mq.own.port, mq.own.user, mq.mng_port) == ("127.0.0.1", 5672, "fate", 15672)
    assert mq.broker("9999", "9999") == mq.own  # a party consumes from its own broker
    assert (mq.broker("10000", "9999").host, mq.broker("10000", "9999").user) == ("10.0.0.2", "u")
    assert mq.broker("10000", "9999").password == "p" and mq.route_table["9999"].user == "fate"
    assert "password" not in repr(mq)


@pytest.mark.parametrize(("section", "message"), [
    ("  rabbitmq: {host: h, port: 5672, mode: replication}\n", "mode 'replication' is not supported"),
    ("  rabbitmq: {host: h, port: 99999}\n", "fate_on_spark.rabbitmq.port must be a TCP port"),
    ("  rabbitmq: {host: h, port: x}\n", "fate_on_spark.rabbitmq.port must be int"),
    ("  rabbitmq: {host: h, port: 5672, max_message_size: 10}\n", "fate_on_spark.rabbitmq.max_message_size"),
    ("  rabbitmq: {host: h, port: 5672, route_table: {10000: {host: h}}}\n",
     "fate_on_spark.rabbitmq.route_table.10000.port is missing"),
    ("  rabbitmq: {host: h, port: 5672, route_table: {10000: {host: h, port: 1, vhost: v}}}\n",
     "unknown setting fate_on_spark.rabbitmq.route_table.10000.vhost"),
    ("  rabbitmq: {host: h, port: 5672, route_table: missing.yaml}\n", "route_table: no file missing.yaml"),
    ("  rabbitmq: {host: h, prot: 5672}\n", "unknown setting fate_on_spark.rabbitmq.prot"),
    ("  spark: {home: ''}\n", "setting fate_on_spark.rabbitmq is missing"),
])
def test_a_bad_rabbitmq_setting_is_named(tmp_path: Path, section: str, message: str):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        _load(tmp_path, section)


def test_the_section_is_not_checked_on_another_engine(tmp_path: Path):
    """FATE's service_conf.yaml carries placeholders (replication mode, no route table file): they load."""
    settings = _load(tmp_path, "  rabbitmq: {host: 192.168.0.4, mng_port: 12345, port: 5672, user: fate, "
                               "password: fate, route_table: , mode: replication, max_message_size: 1048576}\n",
                     engine="standalone")
    assert settings.rabbitmq is None


def test_the_server_deletes_each_queue_of_the_job_it_received_on():
    queues = server_broker.job_queues("j1", ["reader_0", "lr_0"], {"guest": [9999], "host": [10000], "arbiter": [
        10000]}, [("host", "10000"), ("arbiter", "10000")])
    assert "fate_flow.j1.lr_0.guest-9999.host-10000" in queues
    assert "fate_flow.j1.lr_0.host-10000.arbiter-10000" in queues
    assert not any(q.endswith("guest-9999") for q in queues) and len(queues) == 2 * 3 * 2
