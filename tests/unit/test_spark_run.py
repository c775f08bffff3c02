"""A job's ``spark_run`` (FATE's spark-submit options, or Spark properties) on top of the party's cluster:
what a job may set, and what it may not (the master, the cores: this party's)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from fate_flow.controller.task_controller import TaskSetupError, _spark_config
from fate_flow.entity.task_config import SparkConfig
from fate_flow.settings import SparkSettings


def _rt(spark: SparkSettings | None) -> SimpleNamespace:
    return SimpleNamespace(settings=SimpleNamespace(spark=spark))


CLUSTER = SparkSettings(SparkConfig(master="spark://10.0.0.1:7077", properties={"spark.executor.memory": "1g"}), 4, 2)


def test_fates_spark_submit_options_become_spark_properties():
    config = _spark_config(_rt(CLUSTER), {"spark_run": {"num-executors": 2, "executor-memory": "2G",
                                                        "spark.sql.shuffle.partitions": 8, "spark.x": True}})
    assert config.master == "spark://10.0.0.1:7077"
    assert config.properties == {"spark.executor.memory": "2G", "spark.executor.instances": "2",
                                 "spark.sql.shuffle.partitions": "8", "spark.x": "true"}


@pytest.mark.parametrize("spark_run, named", [
    ({"spark.master": "local[64]"}, "spark.master"), ({"spark.cores.max": 64}, "spark.cores.max"),
    ({"queue": "a"}, "queue"), ({"spark.x": {"a": 1}}, "spark.x"), ("num-executors=2", "spark_run"),
])
def test_a_job_cannot_take_the_master_or_the_cores_or_set_anything_else(spark_run, named):
    with pytest.raises(TaskSetupError, match=named):
        _spark_config(_rt(CLUSTER), {"spark_run": spark_run})


def test_a_party_without_a_cluster_refuses_spark():
    with pytest.raises(TaskSetupError, match="not provided"):
        _spark_config(_rt(None), {})


def test_the_cluster_state_says_why_it_is_unknown():
    from fate_flow.manager.spark_state import cluster_state
    from tests.support import free_port

    unset = cluster_state(CLUSTER)
    assert not unset["reachable"] and "web_ui is not set" in unset["error"] and unset["cores_scheduled"] == 8
    silent = SparkSettings(CLUSTER.config, 4, 2, web_ui=f"http://127.0.0.1:{free_port()}")
    state = cluster_state(silent)
    assert not state["reachable"] and "ConnectionError" in state["error"], state
