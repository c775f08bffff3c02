"""The Spark cluster this party computes on, as its master's web UI reports it (``/json/``): whether it
answers, its live workers, cores and memory in use. The server's routes page and the board show it next to
the cores this party schedules against (``fate_on_spark.spark``: cores_per_node x nodes)."""

from __future__ import annotations

import requests

from fate_flow.settings import SparkSettings

PROBE_TIMEOUT_S = 2.0


def cluster_state(spark: SparkSettings) -> dict:
    """What the master reports now; ``reachable`` false (with ``error``) when its web UI does not answer or
    ``web_ui`` is not set."""
    state: dict = {"master": spark.config.master, "web_ui": spark.web_ui, "cores_scheduled": spark.cores}
    if not spark.web_ui:
        return {**state, "reachable": False, "error": "fate_on_spark.spark.web_ui is not set"}
    try:
        response = requests.get(f"{spark.web_ui}/json/", timeout=PROBE_TIMEOUT_S)
        response.raise_for_status()
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        return {**state, "reachable": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {**state, "reachable": True, "status": str(body.get("status", "")),
            "alive_workers": int(body.get("aliveworkers", 0)), "cores": int(body.get("cores", 0)),
            "cores_used": int(body.get("coresused", 0)), "memory_mb": int(body.get("memory", 0)),
            "memory_used_mb": int(body.get("memoryused", 0)), "active_apps": len(body.get("activeapps") or [])}
