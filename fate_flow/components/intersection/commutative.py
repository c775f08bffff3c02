"""The dh and ecdh protocols (FATE's DhIntersection / EcdhIntersection), over a commutative cipher E.

    guest                                   host i
    Eg = E_a(H(g))         -- Eg -->        EEg = E_b(Eg), in the order received
                           <-- Eh_i --      Eh_i = E_b(H(h)), in a secret order
                           <-- EEg --
    EEh_i = E_a(Eh_i); intersection: rows of EEg equal to some EEh_i, over every host
                           -- positions of the intersection in Eh_i -->   (sync_intersect_ids)

Only ciphertexts cross; a party never sees the other's ids or hashes. In cardinality-only mode a single
host returns EEg shuffled, so the guest learns the count and nothing about which of its ids matched
(several hosts keep the order, as FATE does, since the guest needs it to intersect over hosts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fate_flow.components.intersection.hashing import check_positions, check_rows, match, permutation
from fate_flow.errors import ComponentError


@dataclass
class Outcome:
    """What one party learnt: the intersected ``ids`` when it learns them, the intersection's size
    (``count``) when it learns it; with ``run_cache``, the ``cache`` to keep (JSON param, arrays)."""

    ids: np.ndarray | None = None
    count: int | None = None
    cache: tuple[dict[str, Any], dict[str, np.ndarray]] | None = None

    def __post_init__(self) -> None:
        if self.ids is not None and self.count is None:
            self.count = int(len(self.ids))


def common_rows(per_host: list[np.ndarray]) -> np.ndarray:
    """The guest rows every host matched."""
    common = per_host[0]
    for rows in per_host[1:]:
        common = np.intersect1d(common, rows, assume_unique=True)
    return np.sort(common)


def send_positions(ctx: Any, common: np.ndarray, matches: list[tuple[np.ndarray, np.ndarray]], count: int) -> None:
    """Tell each host which of its rows are in the intersection over all hosts (``sync_intersect_ids``)."""
    for host, (guest_rows, host_rows) in zip(ctx.hosts, matches, strict=True):
        position = np.full(count, -1, dtype=np.int64)
        position[guest_rows] = host_rows
        host.put("intersect_positions", position[common])


def guest(ctx: Any, cipher: Any, ids: np.ndarray, *, sync: bool, cardinality: bool, sync_cardinality: bool,
          cached_twice: list[np.ndarray] | None = None) -> Outcome:
    """The guest's side; ``ids`` are unique. ``cached_twice``: each host's doubly encrypted ids from a cache."""
    mine = cipher.encrypt_ids(ctx.computing, ids)
    ctx.hosts.put("guest_ciphertexts", mine)
    theirs_twice = cached_twice if cached_twice is not None else host_ciphertexts_twice(ctx, cipher)
    mine_twice = ctx.hosts.get("guest_ciphertexts_twice")
    matches = [match(check_rows("guest_ciphertexts_twice", m, cipher.width, len(ids)), t)
               for m, t in zip(mine_twice, theirs_twice, strict=True)]
    common = common_rows([guest_rows for guest_rows, _ in matches])
    if cardinality:
        if sync_cardinality:
            ctx.hosts.put("cardinality", int(common.size))
        return Outcome(count=int(common.size))
    if sync:
        send_positions(ctx, common, matches, len(ids))
    return Outcome(ids=ids[common])


def host_ciphertexts_twice(ctx: Any, cipher: Any) -> list[np.ndarray]:
    """The guest encrypts what each host sent (E_a(E_b(H(h))))."""
    return [cipher.reencrypt(ctx.computing, "host_ciphertexts", t) for t in ctx.hosts.get("host_ciphertexts")]


def send_own(ctx: Any, cipher: Any, ids: np.ndarray) -> np.ndarray:
    """A host sends its encrypted ids in a secret order; returns its ids in that order."""
    shuffled = ids[permutation(len(ids))]
    ctx.guest.put("host_ciphertexts", cipher.encrypt_ids(ctx.computing, shuffled))
    return shuffled


def host(ctx: Any, cipher: Any, ids: np.ndarray, *, sync: bool, cardinality: bool, sync_cardinality: bool,
         hosts: int, cached_ids: np.ndarray | None = None) -> Outcome:
    """One host's side; ``ids`` are unique, ``hosts`` the number of hosts in the job. ``cached_ids``: the ids
    a cache sent earlier, in the order sent (nothing is sent again)."""
    sent = cached_ids if cached_ids is not None else send_own(ctx, cipher, ids)
    twice = cipher.reencrypt(ctx.computing, "guest_ciphertexts", ctx.guest.get("guest_ciphertexts"))
    if cardinality and hosts == 1:
        twice = twice[permutation(len(twice))]
    ctx.guest.put("guest_ciphertexts_twice", twice)
    if cardinality:
        return Outcome(count=received_count(ctx) if sync_cardinality else None)
    return received_ids(ctx, sent) if sync else Outcome()


def received_ids(ctx: Any, sent: np.ndarray) -> Outcome:
    """A host's intersection: the guest names positions in the list the host sent (``sync_intersect_ids``)."""
    positions = check_positions("intersect_positions", ctx.guest.get("intersect_positions"), len(sent))
    return Outcome(ids=sent[np.sort(positions)])


def received_count(ctx: Any) -> int:
    """The intersection's size the guest shares (``sync_cardinality``), checked."""
    count = ctx.guest.get("cardinality")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ComponentError("the guest sent a cardinality that is not a count")
    return count
