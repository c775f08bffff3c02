"""Spark for the tests: ``require_spark()`` skips (fails in CI) without pyspark or Java; the session fixture
``spark_cluster`` is a real standalone cluster on loopback (a master and one 2-core, 2g worker, free ports),
and the module fixture ``spark`` (``local_spark``) a task's Spark computing on ``local[2]``.

A test module uses a fixture by importing it::

    from tests.spark_support import spark_cluster  # noqa: F401
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from fate_flow.engine.spark import SparkComputing
from fate_flow.entity.task_config import SparkConfig
from fate_flow.utils.spark_cluster import LocalSparkCluster, java_available, pyspark_available


def require_spark() -> None:
    """Skip with a clear message where pyspark or Java is missing; in CI that is a failure."""
    missing = [name for name, ok in (("pyspark", pyspark_available()), ("Java", java_available())) if not ok]
    if not missing:
        return
    message = (f"{' and '.join(missing)} not found: the Spark tests need pyspark (make spark) and Java 17 "
               "(apt-get install openjdk-17-jre-headless)")
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run the Spark tests)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSparkCluster]:
    """A Spark standalone master and one worker (2 cores, 2g) on 127.0.0.1, shared by the session's tests."""
    require_spark()
    cluster = LocalSparkCluster(tmp_path_factory.mktemp("spark"))
    try:
        cluster.start_master()
        cluster.start_worker(cores=2, memory="2g")
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module", name="spark")
def local_spark() -> Iterator[SparkComputing]:
    """``spark``: a task's Spark computing on ``local[2]`` (the pyspark package's own JVM), for one test module."""
    require_spark()
    computing = SparkComputing(SparkConfig(master="local[2]", lost_workers_timeout=30), cores=2, app_name="unit")
    try:
        yield computing
    finally:
        computing.close()
