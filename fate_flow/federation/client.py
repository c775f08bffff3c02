"""Calls from this server to a party's scheduling API, addressed by (role, party id), never by server.

A party served by this very server is reached by a direct in-process call into the same Flask
application (the same code path as over the network, no socket); other parties go through a
transport chosen by the route table (added by the federation layer). Fan-outs run in parallel,
each call bounded in time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

from werkzeug.test import Client

from fate_flow.errors import RetCode

logger = logging.getLogger("fate_flow.federation")
LOCAL_CALL = "fate_flow.local_call"  # WSGI environ key of in-process calls


@dataclass(frozen=True, eq=False)  # hashed by identity: one entry per call in a fan-out
class PartyCall:
    role: str
    party_id: str
    path: str  # from /v1 on, e.g. /v1/party/<job_id>/<role>/<party_id>/create
    body: dict


class LocalTransport:
    """Into this server's own WSGI application, in-process."""

    def __init__(self, wsgi_app: Any):
        self.client = Client(wsgi_app)

    def send(self, call: PartyCall, timeout: float) -> dict:
        # marked local: a call this server makes to itself needs no signature
        response = self.client.post(call.path, data=json.dumps(call.body), headers={"Content-Type": "application/json"},
                                    environ_overrides={LOCAL_CALL: True})
        try:
            return json.loads(response.get_data() or b"{}")
        except json.JSONDecodeError:
            return {"retcode": int(RetCode.FEDERATED_ERROR), "retmsg": f"HTTP {response.status_code} from {call.path}"}


class FederatedClient:
    def __init__(self, is_local: Callable[[str, str], bool], local: LocalTransport, timeout: float = 30.0,
                 remote: Any = None, max_workers: int = 32):
        self.is_local = is_local
        self.local = local
        self.remote = remote
        self.timeout = timeout
        self.pool = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fanout")

    def call(self, call: PartyCall) -> dict:
        try:
            if self.is_local(call.role, call.party_id):
                return self.local.send(call, self.timeout)
            if self.remote is None:
                return {"retcode": int(RetCode.FEDERATED_ERROR),
                        "retmsg": f"no route to party {call.party_id} (role {call.role})"}
            return self.remote.send(call, self.timeout)
        except Exception as exc:  # noqa: BLE001 (a failed call is an answer, not a crash of the scheduler)
            logger.exception("call %s to %s %s failed", call.path, call.role, call.party_id)
            return {"retcode": int(RetCode.FEDERATED_ERROR),
                    "retmsg": f"call to party {call.party_id} ({call.role}) failed: {exc}"}

    def fan_out(self, calls: Iterable[PartyCall]) -> list[tuple[PartyCall, dict]]:
        """All calls in parallel, each in its own thread (so a nested local call gets its own DB connection)."""
        calls = list(calls)
        pending = {self.pool.submit(self.call, call): call for call in calls}
        results: dict[PartyCall, dict] = {}
        try:
            for future in futures.as_completed(pending, timeout=self.timeout * 3 + 5):
                results[pending[future]] = future.result()
        except futures.TimeoutError:
            logger.error("fan-out timed out waiting for %d of %d calls", len(calls) - len(results), len(calls))
        timed_out = {"retcode": int(RetCode.FEDERATED_ERROR), "retmsg": "no answer in time"}
        return [(call, results.get(call, timed_out)) for call in calls]

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.remote is not None:
            self.remote.close()


def all_succeeded(results: list[tuple[PartyCall, dict]]) -> bool:
    return all(answer.get("retcode") == 0 for _, answer in results)


def failures(results: list[tuple[PartyCall, dict]]) -> str:
    return "; ".join(f"{call.role} {call.party_id}: {answer.get('retmsg')}"
                     for call, answer in results if answer.get("retcode") != 0)
