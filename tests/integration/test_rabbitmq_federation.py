"""Two parties on separate servers federating over RabbitMQ (``default_engines.federation: rabbitmq``, FATE's
client mode, the real broker at 127.0.0.1:5672): the toy job's sum, a hetero LR equal to the same job over
the default gRPC data plane, the job's queues there during the job and gone after it, and a forged message
refused by the receiving task."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pika
import pytest

from fate_flow.components.toy.shares import draw
from fate_flow.engine import codec
from fate_flow.engine.rabbitmq import QUEUE_ARGUMENTS, queue_name
from tests.jobs import FATE_DATA, job_conf, metric_data, reader_params, submit, summary, upload
from tests.support import REPO, ServerProcess, database_env, start_parties
from tests.unit.test_rabbitmq_federation import BROKER, queue_exists, require_rabbitmq

GUEST, HOST = "9999", "10000"
# one broker for the machine: a test here restarts it, so these files never run beside each other (xdist)
pytestmark = pytest.mark.xdist_group("rabbitmq")
ENDED = ("success", "failed", "canceled", "timeout")
RABBITMQ_ENV = {
    "FATE_FLOW_DEFAULT_ENGINES__FEDERATION": "rabbitmq",
    "FATE_FLOW_FATE_ON_SPARK__RABBITMQ__HOST": BROKER[0], "FATE_FLOW_FATE_ON_SPARK__RABBITMQ__PORT": str(BROKER[1]),
    "FATE_FLOW_FATE_ON_SPARK__RABBITMQ__USER": "guest", "FATE_FLOW_FATE_ON_SPARK__RABBITMQ__PASSWORD": "guest",
    # small messages: the LR's objects cross in many pieces
    "FATE_FLOW_FATE_ON_SPARK__RABBITMQ__MAX_MESSAGE_SIZE": "65536",
    "FATE_FLOW_FATE_ON_SPARK__RABBITMQ__ROUTE_TABLE": json.dumps({p: {"host": BROKER[0], "port": BROKER[1]}
                                                                  for p in (GUEST, HOST)}),
}
LR_DSL = {"components": {
    "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
    "data_transform_0": {"module": "DataTransform", "input": {"data": {"data": ["reader_0.data"]}},
                         "output": {"data": ["data"], "model": ["model"]}},
    "lr_0": {"module": "HeteroLR", "input": {"data": {"train_data": ["data_transform_0.data"]}},
             "output": {"data": ["data"], "model": ["model"]}},
}}


class _Factory:
    """start_parties' server factory for the module (tests.conftest's is per test)."""

    def __init__(self, root: Path):
        self.root = root
        self.started: list[ServerProcess] = []

    def __call__(self, engine: str = "sqlite", name: str = "party", env: dict | None = None, **ports: int):
        server = ServerProcess(self.root / name, {**database_env(engine), **(env or {})}, **ports).start()
        self.started.append(server)
        return server


def _with_breast(servers: dict[str, ServerProcess]) -> dict[str, ServerProcess]:
    upload(servers[GUEST], FATE_DATA / "breast_hetero_guest.csv", "breast_hetero_guest")
    upload(servers[HOST], FATE_DATA / "breast_hetero_host.csv", "breast_hetero_host")
    grant = {"party_id": int(GUEST), "dataset": [{"namespace": "experiment", "name": "breast_hetero_host"}]}
    assert servers[HOST].post("/v1/permission/grant", grant)["retcode"] == 0
    return servers


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Factory]:
    require_rabbitmq()
    made = _Factory(tmp_path_factory.mktemp("rabbitmq"))
    yield made
    for server in made.started:
        server.stop()


@pytest.fixture(scope="module")
def mq_parties(factory: _Factory) -> dict[str, ServerProcess]:
    return _with_breast(start_parties(_prefixed(factory, "mq"), [GUEST, HOST], env=RABBITMQ_ENV))


@pytest.fixture(scope="module")
def grpc_parties(factory: _Factory) -> dict[str, ServerProcess]:
    return _with_breast(start_parties(_prefixed(factory, "grpc"), [GUEST, HOST], protocol="grpc"))


def _prefixed(factory: _Factory, prefix: str):
    """The factory with server homes under ``<root>/<prefix>`` (each pair makes its own keys)."""
    def start(engine: str = "sqlite", name: str = "party", env: dict | None = None, **ports: int):
        return factory(engine, f"{prefix}/{name}", env, **ports)

    start.root = factory.root / prefix
    return start


def _run(guest: ServerProcess, host: ServerProcess, dsl: dict, conf: dict, timeout: float = 120) -> str:
    answer = submit(guest, dsl, conf)
    assert answer["retcode"] == 0, answer
    job_id = answer["jobId"]
    assert guest.wait_job(job_id, ENDED, timeout)["f_status"] == "success", _errors(guest, host, job_id)
    assert host.wait_job(job_id, ENDED, 30)["f_status"] == "success", _errors(guest, host, job_id)
    _ended_everywhere(job_id, guest, host)
    return job_id


def _status(server: ServerProcess, job_id: str) -> str:
    rows = server.post("/v1/job/query", {"job_id": job_id}).get("data") or []
    return rows[0]["f_status"] if rows else ""


def _ended_everywhere(job_id: str, *servers: ServerProcess, timeout: float = 30) -> None:
    """Every row of the job at each server ended (a server may hold several: host and arbiter here); its
    queues are deleted once the last of them ended."""
    deadline = time.time() + timeout
    for server in servers:
        while True:
            rows = server.post("/v1/job/query", {"job_id": job_id}).get("data") or []
            if rows and all(row["f_status"] in ENDED for row in rows):
                break
            assert time.time() < deadline, rows
            time.sleep(0.1)


def _errors(guest: ServerProcess, host: ServerProcess, job_id: str) -> list:
    return [(t["f_role"], t["f_component_name"], t["f_status"], t.get("f_error"))
            for server in (guest, host) for t in server.post("/v1/job/task/query", {"job_id": job_id})["data"]]


def _lr_conf() -> dict:
    # full batch, zeros: deterministic, whatever carries the objects
    params = {"penalty": "L2", "alpha": 0.01, "optimizer": "sgd", "learning_rate": 0.15, "max_iter": 3,
              "batch_size": -1, "init_param": {"init_method": "zeros"}, "early_stop": "diff", "tol": 1e-12,
              "encrypt_param": {"key_length": 1024}}
    role = reader_params("breast_hetero_guest", ["breast_hetero_host"])
    role["guest"]["0"]["data_transform_0"] = {"with_label": True, "label_name": "y", "label_type": "int"}
    role["host"]["0"]["data_transform_0"] = {"with_label": False}
    return job_conf(GUEST, [HOST], HOST, {"lr_0": params}, role)


def _weights(parties: dict[str, ServerProcess], job_id: str) -> np.ndarray:
    host_summary = summary(parties[HOST], job_id, "lr_0", "host", HOST)
    guest_summary = summary(parties[GUEST], job_id, "lr_0", "guest", GUEST)
    return np.array([*guest_summary["coef"].values(), guest_summary["intercept"], *host_summary["coef"].values()])


def _job_queues(job_id: str, components: list[str]) -> list[str]:
    pairs = [(("guest", GUEST), ("host", HOST)), (("host", HOST), ("guest", GUEST)),
             (("guest", GUEST), ("arbiter", HOST)), (("arbiter", HOST), ("guest", GUEST)),
             (("host", HOST), ("arbiter", HOST)), (("arbiter", HOST), ("host", HOST))]
    return [queue_name(job_id, c, src, dst) for c in components for src, dst in pairs]


def test_the_toy_job_adds_up_over_rabbitmq(mq_parties):
    guest, host = mq_parties[GUEST], mq_parties[HOST]
    conf = json.loads((REPO / "tests/data/fate-flow/toy/toy_example_conf.json").read_text())
    conf["component_parameters"]["role"]["host"] = {"0": {"secure_add_example_0": {"seed": 321}}}
    dsl = json.loads((REPO / "tests/data/fate-flow/toy/toy_example_dsl.json").read_text())
    job_id = _run(guest, host, dsl, conf)
    # the standalone sum: both parties' numbers, drawn from their seeds
    expected = float(np.sum(draw(123, 1000))) + float(np.sum(draw(321, 1000)))
    points = metric_data(guest, job_id, "secure_add_example_0", "guest", GUEST, "secure_add", "secure_sum")
    assert points and abs(float(points[0][1]) - expected) < 1e-6 * max(1.0, abs(expected)), points
    # the job ended at both parties: its queues went with it
    assert not any(queue_exists(q) for q in _job_queues(job_id, ["secure_add_example_0"]))
    # the server's route check shows the brokers too
    brokers = guest.post("/v1/server/routes")["data"]["rabbitmq"]
    assert [(b["party_id"], b["own"], b["reachable"]) for b in brokers] == [
        (GUEST, True, True), ("10000", False, True), (GUEST, False, True)]


def test_hetero_lr_over_rabbitmq_equals_grpc_and_its_queues_live_as_long_as_the_job(mq_parties, grpc_parties):
    guest, host = mq_parties[GUEST], mq_parties[HOST]
    answer = submit(guest, LR_DSL, _lr_conf())
    assert answer["retcode"] == 0, answer
    job_id = answer["jobId"]
    lr_queue = queue_name(job_id, "lr_0", ("guest", GUEST), ("arbiter", HOST))
    seen = False
    deadline = time.time() + 120
    while time.time() < deadline and not seen:
        seen = queue_exists(lr_queue)
        if not seen and _status(guest, job_id) in ENDED:
            break
        time.sleep(0.05)
    assert guest.wait_job(job_id, ENDED, 120)["f_status"] == "success", _errors(guest, host, job_id)
    assert host.wait_job(job_id, ENDED, 30)["f_status"] == "success"
    _ended_everywhere(job_id, guest, host)
    assert seen, "the guest -> arbiter queue of lr_0 never existed during the job"
    assert not any(queue_exists(q) for q in _job_queues(job_id, list(LR_DSL["components"])))
    over_grpc = _run(grpc_parties[GUEST], grpc_parties[HOST], LR_DSL, _lr_conf())
    weights = _weights(mq_parties, job_id)
    assert weights.size == 30 + 1 and np.abs(weights).sum() > 0
    np.testing.assert_allclose(weights, _weights(grpc_parties, over_grpc), rtol=0, atol=1e-12)


def test_a_forged_message_fails_the_receiving_task_undecoded(mq_parties):
    """Published straight into the host's queue, claiming to come from the guest, unsigned by the guest."""
    guest, host = mq_parties[GUEST], mq_parties[HOST]
    answer = submit(guest, LR_DSL, _lr_conf())
    assert answer["retcode"] == 0, answer
    job_id = answer["jobId"]
    body = codec.encode("forged")
    key = json.dumps([f"{job_id}_lr_0_0", "forged", "root", "guest", GUEST, "host", HOST])
    queue = queue_name(job_id, "lr_0", ("guest", GUEST), ("host", HOST))
    connection = pika.BlockingConnection(pika.ConnectionParameters(*BROKER))
    channel = connection.channel()
    channel.queue_declare(queue=queue, durable=True, arguments=QUEUE_ARGUMENTS)
    headers = {"v": 1, "job": job_id, "key": key, "transfer": "forged", "size": len(body), "count": 1, "seq": 0,
               "digest": hashlib.sha256(body).hexdigest(), "scheme": "ed25519",
               "signature": base64.b64encode(bytes(64)).decode()}
    channel.basic_publish("", queue, body, pika.BasicProperties(headers=headers))
    connection.close()
    job = guest.wait_job(job_id, ENDED, 120)
    assert job["f_status"] == "failed", _errors(guest, host, job_id)
    tasks = host.post("/v1/job/task/query", {"job_id": job_id, "role": "host", "component_name": "lr_0"})["data"]
    error = " ".join(str(t.get("f_error") or "") for t in tasks) + " " + str(job.get("f_error"))
    assert "bad signature (ed25519) of party 9999" in error and "not decoded" in error, error
    _ended_everywhere(job_id, guest, host)
    assert not queue_exists(queue)
