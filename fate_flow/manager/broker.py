"""This party's RabbitMQ broker, as the server sees it (``default_engines.federation: rabbitmq``): the queues
of a job that ended here are deleted, and the brokers of the route table can be probed.

The receiving executors create the queues (``engine.rabbitmq``): on this party's broker, those that carry
objects to this party's roles. When the job ends at one of its rows here, this server deletes that row's:
every component of the job's DSL, from every party of the job to that role (a queue never used does not
exist, and deleting it is a no-op).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterable

import pika
from pika.exceptions import AMQPChannelError, AMQPConnectionError

from fate_flow.engine.rabbitmq import connection_parameters, queue_name
from fate_flow.settings import Broker, RabbitMQSettings

logger = logging.getLogger("fate_flow.broker")
# pika logs every connection opened and closed, and each failed one with its traceback: what went wrong is
# logged here once, in our words
logging.getLogger("pika").setLevel(logging.CRITICAL)
CONNECT_TIMEOUT_S = 3.0
PROBE_TIMEOUT_S = 1.0

Party = tuple[str, str]


def job_queues(job_id: str, components: Iterable[str], roles: dict[str, list], receivers: Iterable[Party]) -> list[str]:
    """The queues a job may have on this party's broker: per component, from each party of the job to each of
    ``receivers`` (rows of the job at this server)."""
    senders = [(role, str(p)) for role, ids in roles.items() for p in ids]
    return sorted({queue_name(job_id, component, src, (dst[0], str(dst[1])))
                   for component in components for src in senders for dst in receivers})


def delete_queues(settings: RabbitMQSettings, queues: list[str]) -> int:
    """Delete ``queues`` (and the messages left in them) on this party's broker; how many were deleted.
    A broker that cannot be reached is logged, not raised: the queues then expire on their own."""
    if not queues:
        return 0
    own = settings.own
    try:
        params = connection_parameters(own, heartbeat=30)
        params.socket_timeout = CONNECT_TIMEOUT_S
        params.stack_timeout = CONNECT_TIMEOUT_S
        connection = pika.BlockingConnection(params)
    except (AMQPConnectionError, OSError) as exc:
        logger.warning("cannot reach this party's RabbitMQ broker at %s:%s to delete %d queues: %s", own.host,
                       own.port, len(queues), exc)
        return 0
    deleted = 0
    try:
        channel = connection.channel()
        for queue in queues:
            # RabbitMQ answers delete-ok for a queue that does not exist: no passive check first
            channel.queue_delete(queue=queue)
            deleted += 1
    except (AMQPConnectionError, AMQPChannelError, OSError) as exc:
        logger.warning("deleting the job's queues on %s:%s stopped after %d: %s", own.host, own.port, deleted, exc)
    finally:
        with contextlib.suppress(Exception):  # a broken connection cannot be closed cleanly
            connection.close()
    return deleted


def probe_brokers(settings: RabbitMQSettings, party_id: str) -> list[dict]:
    """One row per broker (this party's own, then the route table's): where, and whether a TCP connection
    opened within a second."""
    rows = [_probe(str(party_id), settings.own, own=True)]
    rows.extend(_probe(p, broker) for p, broker in sorted(settings.route_table.items()))
    return rows


def _probe(party_id: str, broker: Broker, own: bool = False) -> dict:
    started = time.perf_counter()
    row = {"party_id": party_id, "host": broker.host, "port": broker.port, "own": own, "reachable": False,
           "latency_ms": None, "error": None}
    try:
        with socket.create_connection((broker.host, broker.port), timeout=PROBE_TIMEOUT_S):
            row["reachable"] = True
            row["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    except OSError as exc:
        row["error"] = exc.strerror or type(exc).__name__
    return row
