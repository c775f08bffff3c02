"""Which party's features each boosting round of HeteroSecureBoost splits on (FATE's ``tree_plan``).

- ``std``: every tree on every party's features (the first ``complete_secure`` rounds on the guest's only);
- ``layered``: the same, each tree's first layers on the host's features and the rest on the guest's;
- ``mix`` (``hetero_fast_sbt_mix``): rounds take turns, ``tree_num_per_party`` on the guest's features only,
  then as many on each host's features only, in the order of the hosts, over again until ``num_trees``.
"""

from __future__ import annotations

from dataclasses import dataclass

# FATE's tree types (tree_core/tree_plan.py), as saved in the model's tree_plan ("<type>_<host party id or -1>")
GUEST_ONLY, HOST_ONLY, NORMAL, LAYERED = 0, 1, 2, 3


@dataclass(frozen=True)
class RoundPlan:
    """One boosting round: its tree type, and for a host-only tree the index of that host."""

    kind: int
    host: int | None = None

    @property
    def uses_hosts(self) -> bool:
        """Whether the guest encrypts gradients for this round's trees (some host offers splits)."""
        return self.kind != GUEST_ONLY


def tree_plan(strategy: str, num_trees: int, hosts: int, per_party: int = 1, complete_secure: int = 0
              ) -> list[RoundPlan]:
    """The plan of every round (``num_trees`` of them) for ``hosts`` hosts."""
    if strategy == "mix":
        turn = [RoundPlan(GUEST_ONLY)] * per_party
        for host in range(hosts):
            turn += [RoundPlan(HOST_ONLY, host)] * per_party
        return (turn * (num_trees // len(turn) + 1))[:num_trees]
    kind = LAYERED if strategy == "layered" else NORMAL
    secure = min(complete_secure, num_trees)
    return [RoundPlan(GUEST_ONLY)] * secure + [RoundPlan(kind)] * (num_trees - secure)


def encode(strategy: str, plan: list[RoundPlan], host_ids: list[str]) -> list[str]:
    """FATE's ``tree_plan`` field of the model: ``"<type>_<host party id or -1>"`` per round for its fast
    strategies (mix, layered), empty for ``std``."""
    if strategy not in ("mix", "layered"):
        return []
    return [f"{r.kind}_{host_ids[r.host] if r.host is not None else -1}" for r in plan]
