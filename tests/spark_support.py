"""Spark for the tests: ``require_spark()`` skips (fails in CI) without pyspark or Java, and the session fixture
``spark_cluster`` is a real standalone cluster on loopback (a master and one 2-core, 2g worker, free ports).

A test module uses the fixture by importing it::

    from tests.spark_support import spark_cluster  # noqa: F401
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

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
