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


@dataclass(frozen=True)
class PartyAnswer:
    """What a party answered (FATE's envelope), or what its failure to answer amounts to (retcode 104)."""

    retcode: int
    message: str = ""
    data: Any = None

    @property
    def ok(self) -> bool:
        """Whether the party answered retcode 0."""
        return self.retcode == 0

    @classmethod
    def of(cls, envelope: Any) -> PartyAnswer:
        """From a decoded response body; anything that is not FATE's envelope is a federated error."""
        if not isinstance(envelope, dict) or not isinstance(envelope.get("retcode"), int):
            return cls(int(RetCode.FEDERATED_ERROR), f"not a FATE answer: {str(envelope)[:200]}")
        return cls(envelope["retcode"], str(envelope.get("retmsg") or ""), envelope.get("data"))

    @classmethod
    def failed(cls, message: str) -> PartyAnswer:
        """The answer of a party that could not be reached or gave no usable answer (retcode 104)."""
        return cls(int(RetCode.FEDERATED_ERROR), message)


class LocalTransport:
    """Into this server's own WSGI application, in-process."""

    def __init__(self, wsgi_app: Any):
        self.client = Client(wsgi_app)

    def send(self, call: PartyCall, timeout: float) -> dict:
        """The call's answer envelope (``timeout`` does not apply: it runs in this thread)."""
        # marked local: a call this server makes to itself needs no signature
        response = self.client.post(call.path, data=json.dumps(call.body), headers={"Content-Type": "application/json"},
                                    environ_overrides={LOCAL_CALL: True})
        try:
            return json.loads(response.get_data() or b"{}")
        except json.JSONDecodeError:
            return {"retcode": int(RetCode.FEDERATED_ERROR), "retmsg": f"HTTP {response.status_code} from {call.path}"}


class FederatedClient:
    """Calls to parties by (role, party id): local ones in-process, the others through ``remote``."""

    def __init__(self, is_local: Callable[[str, str], bool], local: LocalTransport, timeout: float = 30.0,
                 remote: Any = None, max_workers: int = 32):
        self.is_local = is_local
        self.local = local
        self.remote = remote
        self.timeout = timeout
        self.pool = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fanout")

    def call(self, call: PartyCall) -> PartyAnswer:
        """One call; a party that cannot be reached answers retcode 104 with the reason."""
        try:
            if self.is_local(call.role, call.party_id):
                return PartyAnswer.of(self.local.send(call, self.timeout))
            if self.remote is None:
                return PartyAnswer.failed(f"no route to party {call.party_id} (role {call.role})")
            return PartyAnswer.of(self.remote.send(call, self.timeout))
        except Exception as exc:  # noqa: BLE001 (a failed call is an answer, not a crash of the scheduler)
            logger.exception("call %s to %s %s failed", call.path, call.role, call.party_id)
            return PartyAnswer.failed(f"call to party {call.party_id} ({call.role}) failed: {exc}")

    def fan_out(self, calls: Iterable[PartyCall]) -> list[tuple[PartyCall, PartyAnswer]]:
        """All calls in parallel, each in its own thread (so a nested local call gets its own DB connection)."""
        calls = list(calls)
        pending = {self.pool.submit(self.call, call): call for call in calls}
        results: dict[PartyCall, PartyAnswer] = {}
        try:
            for future in futures.as_completed(pending, timeout=self.timeout * 3 + 5):
                results[pending[future]] = future.result()
        except futures.TimeoutError:
            logger.error("fan-out timed out waiting for %d of %d calls", len(calls) - len(results), len(calls))
        timed_out = PartyAnswer.failed("no answer in time")
        return [(call, results.get(call, timed_out)) for call in calls]

    def close(self) -> None:
        """Stop the fan-out threads and the remote transport's connections."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.remote is not None:
            self.remote.close()


Answers = list[tuple[PartyCall, PartyAnswer]]


def all_succeeded(results: Answers) -> bool:
    """Every party answered retcode 0."""
    return all(answer.ok for _, answer in results)


def failures(results: Answers) -> str:
    """The parties that did not answer 0, and what they said."""
    return "; ".join(f"{call.role} {call.party_id}: {answer.message}" for call, answer in results if not answer.ok)


def succeeded(results: Answers) -> list[tuple[str, str]]:
    """(role, party id) of the parties that answered 0."""
    return [(call.role, call.party_id) for call, answer in results if answer.ok]
