"""Identifiers in FATE's formats."""

from __future__ import annotations

import datetime
import itertools
import threading

_lock = threading.Lock()
_last = {"stamp": "", "counter": itertools.count()}


def new_job_id() -> str:
    """``%Y%m%d%H%M%S%f`` plus a counter digit run, unique within this process.

    Ids sort by creation time, as FATE's do (the Board and the date shards rely on the prefix).
    """
    with _lock:
        stamp = datetime.datetime.now().strftime("%Y%m%d%H%M%S%f")
        if stamp != _last["stamp"]:
            _last["stamp"], _last["counter"] = stamp, itertools.count()
        return f"{stamp}{next(_last['counter'])}"


def task_id(job_id: str, component_name: str) -> str:
    """FATE's task id ``<job_id>_<component_name>``: the same at every party and task version."""
    return f"{job_id}_{component_name}"


def model_id(roles: dict[str, list]) -> str:
    """FATE's model id: ``role-<sorted ids>`` per role, sorted by role, joined by '#', plus '#model'."""
    parts = [f"{role}-{'_'.join(sorted({str(p) for p in ids}))}" for role, ids in sorted(roles.items())]
    return "#".join(parts) + "#model"
