"""A real Spark standalone cluster from the pyspark package on loopback (fate_flow.utils.spark_cluster): the
session fixture's master and worker, workers joining, a worker's machine lost (SIGKILL of its process group),
and a stop that leaves no process behind."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from fate_flow.utils.spark_cluster import LocalSparkCluster, spark_home
from tests.spark_support import require_spark, spark_cluster  # noqa: F401


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_session_cluster_has_one_alive_two_core_worker(spark_cluster: LocalSparkCluster) -> None:  # noqa: F811
    status = spark_cluster.status()
    assert status["status"] == "ALIVE"
    assert status["url"] == spark_cluster.master_url
    assert spark_cluster.master_url.startswith("spark://127.0.0.1:")
    assert spark_cluster.web_ui.startswith("http://127.0.0.1:")
    assert status["aliveworkers"] == 1
    assert status["cores"] == 2 and status["coresused"] == 0
    [worker] = status["workers"]
    assert worker["state"] == "ALIVE" and worker["cores"] == 2 and worker["memory"] == 2048
    assert worker["id"] == spark_cluster.workers[0].worker_id
    assert (spark_home() / "bin" / "spark-class").is_file()


def test_workers_join_a_lost_one_is_marked_dead_and_stop_leaves_nothing(tmp_path: Path) -> None:
    require_spark()
    with LocalSparkCluster(tmp_path / "spark") as cluster:
        cluster.start_master(worker_timeout_s=5)
        first = cluster.start_worker(cores=2, memory="2g")
        assert cluster.status()["aliveworkers"] == 1
        second = cluster.start_worker(cores=1, memory="1g")
        status = cluster.status()
        assert status["aliveworkers"] == 2 and status["cores"] == 3
        assert first.work_dir != second.work_dir and first.webui_port != second.webui_port
        assert {w["id"] for w in status["workers"]} == {first.worker_id, second.worker_id}

        # a lost machine: the worker's JVM (and anything it spawned) is SIGKILLed
        started = time.monotonic()
        cluster.kill_worker(second)
        assert not group_alive(second.pid)
        status = cluster.wait_workers(1, timeout=90)
        states = {w["id"]: w["state"] for w in status["workers"]}
        assert states.get(first.worker_id) == "ALIVE"
        assert states.get(second.worker_id, "DEAD") == "DEAD"  # marked dead, or already dropped
        assert status["cores"] == 2
        assert time.monotonic() - started < 90

        pids = cluster.pids()
        assert len(pids) == 3
    # leaving the block stopped the cluster: no process of any of its groups is left
    assert all(not group_alive(pid) for pid in pids)
    assert cluster.master is None
    with pytest.raises(OSError):
        cluster.status(timeout=2)


def test_start_worker_needs_a_master(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="no master"):
        LocalSparkCluster(tmp_path).start_worker(cores=1)
