"""Every party of an intersection in one process, talking through an in-memory data plane: for benchmarks
and protocol tests. Objects cross as the real data plane carries them (encoded by the codec, decoded on
the other side) and every encoded message is kept, so a test can inspect what each party received."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fate_flow.components.intersection import IntersectParams
from fate_flow.components.intersection.commutative import Outcome
from fate_flow.engine.codec import decode, encode
from fate_flow.engine.model_files import Model
from fate_flow.engine.standalone import StandaloneComputing
from fate_flow.framework.federation import ROOT_TAG, Exchange, Parties, Party, PartyHandle


@dataclass
class Message:
    sender: Party
    receiver: Party
    name: str
    data: bytes


@dataclass
class Hub:
    """The in-memory data plane: one queue per (sender, receiver, name, tag)."""

    messages: list[Message] = field(default_factory=list)
    timeout: float = 600.0

    def __post_init__(self) -> None:
        self._queues: dict[tuple, queue.Queue] = {}
        self._lock = threading.Lock()

    def _queue(self, key: tuple) -> queue.Queue:
        with self._lock:
            return self._queues.setdefault(key, queue.Queue())

    def transport(self, me: Party) -> Transport:
        """The data plane as party ``me`` sees it."""
        return Transport(self, me)


@dataclass
class Transport:
    hub: Hub
    me: Party

    def remote(self, obj: Any, name: str, tag: str, parties: Sequence[Party]) -> None:
        """Encode ``obj`` once and queue it for each of ``parties`` (kept in the hub's log)."""
        data = encode(obj)
        for party in parties:
            with self.hub._lock:
                self.hub.messages.append(Message(self.me, party, name, data))
            self.hub._queue((self.me, party, name, tag)).put(data)

    def get(self, name: str, tag: str, parties: Sequence[Party]) -> list[Any]:
        """Wait for and decode what each of ``parties`` sent."""
        return [decode(self.hub._queue((party, self.me, name, tag)).get(timeout=self.hub.timeout))
                for party in parties]


class PartyContext:
    """What the protocols use of a task's context: its role, the role handles, the computing session."""

    def __init__(self, me: Party, roles: dict[str, list[str]], hub: Hub, cores: int):
        self.role, self.party_id = me
        self.roles = roles
        self.exchange = Exchange(hub.transport(me), me, roles)
        self.computing = StandaloneComputing(cores)
        self.logger = logging.getLogger("fate_flow.component")

    @property
    def hosts(self) -> Parties:
        """Every host."""
        return Parties(self.exchange, ROOT_TAG, [("host", p) for p in self.roles.get("host", [])])

    @property
    def guest(self) -> PartyHandle:
        """The guest."""
        return PartyHandle(self.exchange, ROOT_TAG, ("guest", self.roles["guest"][0]))


def run_parties(params: IntersectParams, guest_ids: np.ndarray, host_ids: list[np.ndarray], cores: int = 1,
                hub: Hub | None = None, caches: list[Outcome] | None = None) -> tuple[Outcome, list[Outcome], Hub]:
    """Run the guest and every host (threads; their crypto in worker processes over ``cores`` each) on
    unique id arrays; returns what each party learnt (guest first) and the hub with every message exchanged.
    ``caches``: each party's outcome of an earlier ``run_cache`` run, used as its cache input."""
    from fate_flow.components.intersection.runner import intersect_ids

    hub = hub or Hub()
    roles = {"guest": ["9999"], "host": [str(10000 + i) for i in range(len(host_ids))]}
    parties = [(("guest", "9999"), guest_ids)] + [(("host", p), ids) for p, ids in zip(roles["host"], host_ids,
                                                                                       strict=True)]
    results: dict[Party, Any] = {}

    def play(me: Party, ids: np.ndarray, cache: Any) -> None:
        try:
            results[me] = intersect_ids(PartyContext(me, roles, hub, cores), params, ids, cache)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            results[me] = exc

    models = [None] * len(parties) if caches is None else [
        Model("Intersection", "cache", outcome.cache[0], {}, outcome.cache[1]) if outcome.cache else None
        for outcome in caches]
    threads = [threading.Thread(target=play, args=(*party, model), daemon=True)
               for party, model in zip(parties, models, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for me, _ in parties:
        if isinstance(results.get(me), BaseException):
            raise results[me]
    return results[parties[0][0]], [results[me] for me, _ in parties[1:]], hub
