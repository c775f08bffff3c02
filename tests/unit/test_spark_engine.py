"""The Spark computing engine on a real Spark (``local[2]``, the pyspark package's own JVM): tables read from
the shared storage layout, the operations that run in Spark equal the standalone engine's, tables are
stored one file per partition in row order, and ``parallel_map`` runs in Spark's Python workers.

The settings: ``fate_on_spark.spark`` is checked, and a job's ``spark_run`` becomes Spark properties."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fate_flow.engine.parts import write_parts
from fate_flow.engine.spark import SparkTable, spark_properties
from fate_flow.engine.standalone import StandaloneComputing
from fate_flow.entity.table_meta import TableMeta
from fate_flow.entity.task_config import SparkConfig
from fate_flow.errors import ComponentError
from fate_flow.settings import SettingsError, load_settings
from tests.spark_support import local_spark  # noqa: F401  (the module fixture `spark`)

ROWS = 1000


def _stored(directory: Path, parts: int) -> TableMeta:
    data = pa.table({"id": [f"s{i}" for i in range(ROWS)], "y": np.arange(ROWS) % 2,
                     "x0": np.arange(ROWS) * 0.5, "x1": np.sin(np.arange(ROWS))})
    write_parts(data, directory, parts)
    return TableMeta(namespace="ns", name="t", path=str(directory), count=ROWS, partitions=parts,
                     schema={"sid": "id", "header": ["x0", "x1"], "label_name": "y"})


def _square(value: int) -> tuple[int, int]:
    return value * value, os.getpid()


def test_write_parts_keeps_the_row_order_across_files(tmp_path):
    data = pa.table({"id": [str(i) for i in range(10)]})
    assert write_parts(data, tmp_path / "t", 3) == 10
    files = sorted((tmp_path / "t").glob("*.parquet"))
    assert [pq.read_table(f).num_rows for f in files] == [4, 3, 3]
    assert pa.concat_tables(pq.read_table(f) for f in files).column("id").to_pylist() == data.column("id").to_pylist()
    write_parts(data.slice(0, 2), tmp_path / "few", 8)
    assert len(list((tmp_path / "few").glob("*.parquet"))) == 2  # never an empty file for a partition


def test_a_stored_table_on_spark_reads_and_selects_as_on_standalone(spark, tmp_path):
    meta = _stored(tmp_path / "t", 4)
    table = spark.read(meta)
    local = StandaloneComputing().read(meta)
    assert isinstance(table, SparkTable) and not table.collected
    assert table.count() == ROWS and not table.collected  # from the files' footers, no Spark job
    assert table.head(300) == local.head(300)  # across the first two files
    wanted = [f"s{i}" for i in range(0, ROWS, 7)][::-1]  # order of the ids asked for does not matter
    chosen = table.filter_sids(wanted)
    assert chosen.count() == len(wanted)
    np.testing.assert_array_equal(chosen.sids(), local.filter_sids(wanted).sids())  # the table's order
    np.testing.assert_array_equal(chosen.features(), local.filter_sids(wanted).features())
    np.testing.assert_array_equal(table.labels(), local.labels())


def test_spark_stores_a_table_as_one_file_per_partition_in_row_order(spark, tmp_path):
    meta = _stored(tmp_path / "t", 4)
    chosen = spark.read(meta).filter_sids([f"s{i}" for i in range(500)])
    assert spark.write(chosen, tmp_path / "out") == 500  # written by Spark, a DataFrame still
    files = sorted((tmp_path / "out").glob("*.parquet"))
    assert files and all(f.name.startswith("part-") for f in files)
    back = StandaloneComputing().read(TableMeta(namespace="ns", name="o", path=str(tmp_path / "out"), count=500,
                                                schema=meta.schema))
    assert back.sids().tolist() == [f"s{i}" for i in range(500)]
    # a table built in the task is stored as the widest input's partitions, rows in order
    built = spark.from_numpy(back.schema, back.sids(), back.features(), labels=back.labels())
    assert spark.write(built, tmp_path / "built") == 500
    assert len(list((tmp_path / "built").glob("*.parquet"))) == 4
    # an unchanged stored table shares its files
    assert spark.write(spark.read(meta), tmp_path / "same") == ROWS
    assert os.path.samefile(sorted((tmp_path / "same").glob("*"))[0], sorted((tmp_path / "t").glob("*"))[0])


def test_parallel_map_runs_in_spark_python_workers(spark):
    results = spark.parallel_map(_square, list(range(8)))
    assert [value for value, _ in results] == [i * i for i in range(8)]
    assert os.getpid() not in {pid for _, pid in results}


def test_a_failing_spark_action_is_a_component_error_naming_it(spark, tmp_path):
    meta = _stored(tmp_path / "t", 2)
    chosen = spark.read(meta).filter_sids(["s1", "s2"])
    for path in (tmp_path / "t").glob("*.parquet"):
        path.unlink()  # the files vanish under the plan
    with pytest.raises(ComponentError, match="Spark counting the table failed"):
        chosen.count()


def test_the_task_properties_give_spark_the_granted_cores_and_this_python():
    config = SparkConfig(master="spark://127.0.0.1:7077", properties={"spark.executor.memory": "2g",
                                                                     "spark.cores.max": "99"})
    properties = spark_properties(config, cores=3, app_name="job_x")
    assert properties["spark.cores.max"] == "3"  # the scheduler's grant wins over any setting
    assert properties["spark.executor.memory"] == "2g"
    assert properties["spark.driver.host"] == "127.0.0.1"
    assert Path(properties["spark.executorEnv.PYTHONPATH"], "fate_flow").is_dir()


def _settings(tmp_path: Path, spark: dict) -> object:
    config = tmp_path / "service_conf.yaml"
    import yaml

    config.write_text(yaml.safe_dump({"default_engines": {"computing": "spark"}, "fate_on_spark": {"spark": spark}}))
    return load_settings(config, tmp_path / "home", environ={})


def test_the_spark_settings_are_checked(tmp_path):
    settings = _settings(tmp_path, {"master": "spark://10.0.0.1:7077", "cores_per_node": 8, "nodes": 3,
                                    "web_ui": "http://10.0.0.1:8080/"})
    assert settings.total_cores == 24 and settings.spark.config.master == "spark://10.0.0.1:7077"
    assert settings.spark.web_ui == "http://10.0.0.1:8080"
    for bad, field in (({"master": "yarn"}, "master"), ({"master": "local[2]", "nodes": 0}, "nodes"),
                       ({"master": "local[2]", "properties": {"executor.memory": "1g"}}, "properties"),
                       ({"master": "local[2]", "cores": 2}, "cores"),
                       ({"master": "local[2]", "web_ui": "10.0.0.1:8080"}, "web_ui")):
        with pytest.raises(SettingsError, match=field):
            _settings(tmp_path, bad)


def test_the_paillier_work_spread_over_processes_runs_in_spark_when_it_is_big_enough(spark, monkeypatch):
    """``spread_over``: above REMOTE_MIN_ELEMENTS the ciphertext arithmetic goes to Spark's executors (and
    equals the forked computation); below it stays with forked processes."""
    from fate_flow.ml.paillier import generate_keypair, parallel

    public, private = generate_keypair(1024)
    values = np.linspace(-3, 3, 64)
    matrix = np.arange(64 * 3).reshape(64, 3) / 7.0
    encrypted = public.encrypt(values, cores=2)
    monkeypatch.setattr(parallel, "_MIN_FORK_MULTIPLICATIONS", 1)  # spread even this little work
    monkeypatch.setattr(parallel, "_MIN_PROCESS_WORK", 1)
    forked = private.decrypt(encrypted.rmatmul(matrix, cores=2))
    sent: list[int] = []

    def remote(function, items):
        sent.append(len(items))
        return spark.parallel_map(function, items)

    parallel.spread_over(remote)
    try:
        monkeypatch.setattr(parallel, "REMOTE_MIN_ELEMENTS", 10_000)
        encrypted.rmatmul(matrix, cores=2)
        assert not sent  # 64 elements: forked, not worth a Spark job
        monkeypatch.setattr(parallel, "REMOTE_MIN_ELEMENTS", 1)
        on_spark = private.decrypt(encrypted.rmatmul(matrix, cores=2))
    finally:
        parallel.spread_over(None)
    assert sent and sent[0] >= 2
    np.testing.assert_allclose(on_spark, forked, rtol=0, atol=1e-9)
    np.testing.assert_allclose(on_spark, matrix.T @ values, rtol=0, atol=1e-6)


def _doubled(factor: float, batch: pa.RecordBatch) -> pa.RecordBatch:
    """A batch function: the id, the label, x0 times ``factor``, and the executor's pid (where it ran)."""
    x0 = batch.column("x0").to_numpy() * factor
    return pa.RecordBatch.from_arrays([batch.column("id"), batch.column("y"), pa.array(x0),
                                       pa.array(np.full(batch.num_rows, os.getpid()))],
                                      names=["id", "y", "x0", "pid"])


def _moments(batch: pa.RecordBatch) -> dict:
    values = np.column_stack([batch.column("x0").to_numpy(), batch.column("x1").to_numpy()])
    return {"n": batch.num_rows, "sum": values.sum(axis=0), "max": values.max(axis=0),
            "pids": np.array([os.getpid()])}


def _add_moments(a: dict, b: dict) -> dict:
    return {"n": a["n"] + b["n"], "sum": a["sum"] + b["sum"], "max": np.maximum(a["max"], b["max"]),
            "pids": np.union1d(a["pids"], b["pids"])}


MAPPED = pa.schema([("id", pa.string()), ("y", pa.int64()), ("x0", pa.float64()), ("pid", pa.int64())])


def test_map_batches_and_aggregate_run_in_the_executors_and_equal_the_standalone_engine(spark, tmp_path):
    import functools

    meta = _stored(tmp_path / "t", 4)
    table, local = spark.read(meta), StandaloneComputing().read(meta)
    mapped = table.map_batches(functools.partial(_doubled, 3.0), MAPPED)
    assert isinstance(mapped, SparkTable) and not mapped.collected  # a plan until it is used
    assert mapped.arrow_schema() == MAPPED and not mapped.collected
    expected = local.map_batches(functools.partial(_doubled, 3.0), MAPPED)
    np.testing.assert_array_equal(mapped.sids(), expected.sids())  # the rows' order is kept
    np.testing.assert_array_equal(mapped.column("x0"), np.arange(ROWS) * 1.5)
    assert os.getpid() not in set(mapped.column("pid").tolist())  # computed in Spark's Python workers
    assert set(expected.column("pid").tolist()) == {os.getpid()}

    stats = table.aggregate(_moments, _add_moments)
    plain = local.aggregate(_moments, _add_moments)
    assert stats["n"] == plain["n"] == ROWS
    np.testing.assert_allclose(stats["sum"], plain["sum"], rtol=1e-12)
    np.testing.assert_array_equal(stats["max"], plain["max"])
    assert os.getpid() not in set(stats["pids"].tolist())
    # a table with no row: no partial at all
    assert table.filter_sids(["none"]).aggregate(_moments, _add_moments) is None
    # stored by Spark as it is still a plan: the files hold the mapped rows
    assert spark.write(mapped.filter_sids(["s3", "s4"]), tmp_path / "out") == 2


def test_a_batch_function_that_fails_in_an_executor_is_a_component_error(spark, tmp_path):
    table = spark.read(_stored(tmp_path / "t", 2))
    with pytest.raises(ComponentError, match=r"aggregating the table \(_add_moments\) failed: TypeError"):
        table.aggregate(_add_moments, _add_moments)  # given a batch, not two partials
