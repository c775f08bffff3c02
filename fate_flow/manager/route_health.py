"""Whether the servers of the route table can be reached now: a TCP connect to the port party-to-party calls
use, all parties at once, each within a second (what an operator asks first when a job waits or fails)."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

from fate_flow.settings import Route

CONNECT_TIMEOUT_S = 1.0


def _probe(party_id: str, route: Route, protocol: str) -> dict:
    port = route.grpc_port if protocol == "grpc" else route.http_port
    started = time.perf_counter()
    row = {"party_id": party_id, "host": route.host, "http_port": route.http_port, "grpc_port": route.grpc_port,
           "port_checked": port, "reachable": False, "latency_ms": None, "error": None}
    try:
        with socket.create_connection((route.host, port), timeout=CONNECT_TIMEOUT_S):
            row["reachable"] = True
            row["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    except OSError as exc:
        row["error"] = exc.strerror or type(exc).__name__
    return row


def probe_routes(routes: dict[str, Route], protocol: str) -> list[dict]:
    """One row per route (party id or ``default``): where it points, and whether a connection opened."""
    if not routes:
        return []
    with ThreadPoolExecutor(max_workers=min(len(routes), 16)) as pool:
        return list(pool.map(lambda item: _probe(item[0], item[1], protocol), sorted(routes.items())))
