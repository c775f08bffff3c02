"""Talking to the same task at the other parties: role handles and tag sub-contexts.

``ctx.hosts.put("gradient", g)`` sends to every host, ``ctx.arbiter.get("model")`` waits for the
arbiter's object, ``ctx.hosts[1].get(...)`` addresses one host. Objects are named; where they are
exchanged is the context's *tag*, derived from its sub-contexts: inside ``with ctx.sub("epoch", 3)``
and then ``.sub("batch", 7)`` the tag is ``epoch.3/batch.7``. Sub-context names are identifiers and
indexes are integers or identifiers, so two different paths can never spell the same tag; and a name
may be sent (or received) only once per tag and party, so a loop that forgets its sub-context fails
at once instead of reading an earlier iteration's object.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from fate_flow.errors import ComponentError

Party = tuple[str, str]
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
ROOT_TAG = "root"


class Transport(Protocol):
    """The data plane (``engine.federation.Federation``)."""

    def remote(self, obj: Any, name: str, tag: str, parties: Sequence[Party]) -> None:
        """Send ``obj`` under ``name`` and ``tag`` to each of ``parties`` ((role, party id) pairs)."""

    def get(self, name: str, tag: str, parties: Sequence[Party]) -> list[Any]:
        """The object each of ``parties`` sent under ``name`` and ``tag``, in their order (waits for them)."""


def derive_tag(path: tuple[tuple[str, str], ...]) -> str:
    """The tag of a sub-context path: ``root`` at the top, else ``name.index/name.index``."""
    return "/".join(f"{name}.{index}" for name, index in path) if path else ROOT_TAG


def sub_path(path: tuple[tuple[str, str], ...], name: str, index: int | str) -> tuple[tuple[str, str], ...]:
    """``path`` extended by one sub-context; refuses names and indexes that could make tags collide."""
    if not IDENTIFIER.match(name):
        raise ComponentError(f"sub-context name {name!r}: use an identifier (letters, digits, '_')")
    if isinstance(index, bool) or not (isinstance(index, int) and index >= 0
                                       or isinstance(index, str) and IDENTIFIER.match(index)):
        raise ComponentError(f"sub-context index {index!r}: use an integer >= 0 or an identifier")
    return (*path, (name, str(index)))


class Exchange:
    """One task's conversation with the others: the transport plus the ledger of what was exchanged at
    which tag (shared by every sub-context of the task)."""

    def __init__(self, transport: Transport | None, me: Party, roles: dict[str, list[str]]):
        self.transport = transport
        self.me = me
        self.roles = {role: [str(p) for p in ids] for role, ids in roles.items()}
        self._used: set[tuple[str, str, str, Party]] = set()
        self._lock = threading.Lock()

    def _claim(self, direction: str, name: str, tag: str, parties: Sequence[Party]) -> None:
        with self._lock:
            keys = [(direction, name, tag, party) for party in parties]
            repeated = [k for k in keys if k in self._used]
            if repeated:
                role, party_id = repeated[0][3]
                verb = "sent to" if direction == "put" else "received from"
                raise ComponentError(f"{name!r} was already {verb} {role} {party_id} at tag {tag}: "
                                     "exchange it in a sub-context (ctx.sub(name, index)) per iteration")
            self._used.update(keys)

    def put(self, name: str, obj: Any, tag: str, parties: Sequence[Party]) -> None:
        """Send ``obj`` under ``name`` at ``tag``; ComponentError if it was already sent to one of these parties
        at this tag."""
        self._check(name, parties)
        self._claim("put", name, tag, parties)
        self.transport.remote(obj, name, tag, list(parties))

    def get(self, name: str, tag: str, parties: Sequence[Party]) -> list[Any]:
        """The objects ``parties`` sent under ``name`` at ``tag``, in their order; ComponentError if one was
        already received from them at this tag."""
        self._check(name, parties)
        self._claim("get", name, tag, parties)
        return self.transport.get(name, tag, list(parties))

    def _check(self, name: str, parties: Sequence[Party]) -> None:
        if self.transport is None:
            raise ComponentError("this task has no other parties to talk to")
        if not IDENTIFIER.match(name):
            raise ComponentError(f"object name {name!r}: use an identifier (letters, digits, '_')")
        if not parties:
            raise ComponentError(f"no party to exchange {name!r} with")


class Parties:
    """Every party of a role (or a chosen few): ``put`` sends to each, ``get`` returns one object per party."""

    def __init__(self, exchange: Exchange, tag: str, parties: Sequence[Party]):
        self._exchange = exchange
        self._tag = tag
        self.parties = list(parties)

    def put(self, name: str, obj: Any) -> None:
        """Send ``obj`` under ``name`` to each of these parties."""
        self._exchange.put(name, obj, self._tag, self.parties)

    def get(self, name: str) -> list[Any]:
        """The object each of these parties sent under ``name``, in their order."""
        return self._exchange.get(name, self._tag, self.parties)

    def __len__(self) -> int:
        return len(self.parties)

    def __iter__(self) -> Iterator[PartyHandle]:
        return (PartyHandle(self._exchange, self._tag, party) for party in self.parties)

    def __getitem__(self, index: int) -> PartyHandle:
        return PartyHandle(self._exchange, self._tag, self.parties[index])

    def __bool__(self) -> bool:
        return bool(self.parties)


class PartyHandle(Parties):
    """One party: ``get`` returns its object itself."""

    def __init__(self, exchange: Exchange, tag: str, party: Party):
        super().__init__(exchange, tag, [party])

    @property
    def role(self) -> str:
        """This party's role (``guest``, ``host`` or ``arbiter``)."""
        return self.parties[0][0]

    @property
    def party_id(self) -> str:
        """This party's id, as a string."""
        return self.parties[0][1]

    def get(self, name: str) -> Any:  # type: ignore[override]
        """The object this party sent under ``name``."""
        return super().get(name)[0]
