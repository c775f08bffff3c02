"""The Spark computing engine (``default_engines.computing: spark``): a task's stored tables are Spark
DataFrames on the configured cluster, and its spread-out work runs in Spark's executors.

What runs where:

- in the cluster: reading a stored table (Spark reads its Parquet files in parallel, one task per file),
  counting it, selecting rows by id (a broadcast semi-join), its first rows, writing a table that is still a
  DataFrame, and ``parallel_map`` (the intersection's hashing and ECDH work, shipped to the executors);
- in the task's own process (Spark's driver): numeric work on a table's columns, which are collected once
  through Arrow (``SparkTable.data``) and computed on with numpy as on the standalone engine.

The storage is shared with the standalone engine: a table is a directory of Parquet files read in name
order, so tables pass between the engines (and between parties on different engines) unchanged. Spark's
executors must see the same paths (one machine, or a shared file system).

Spark's own pickling carries ``parallel_map``'s function and items to the executors and their results back;
that is traffic between this task and the executors it started, never data from another party.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import re
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from typing_extensions import override

from fate_flow.engine import codec
from fate_flow.engine.columns import conform, fold, plain_text
from fate_flow.engine.computing import Computing
from fate_flow.engine.parts import PART_NAME, write_parts
from fate_flow.engine.standalone import BATCH_ROWS, ArrowTable, StandaloneComputing, parquet_files, stored_order
from fate_flow.engine.table import BatchMap, BatchReduce, Combine, Schema, Table
from fate_flow.entity.table_meta import TableMeta
from fate_flow.entity.task_config import SparkConfig
from fate_flow.errors import ComponentError

if TYPE_CHECKING:  # pyspark is imported only when a task computes on Spark
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger("fate_flow.engine.spark")
WATCH_INTERVAL_S = 1.0
_LOOPBACK = re.compile(r"^spark://(127\.0\.0\.1|localhost):")


def spark_properties(config: SparkConfig, cores: int, app_name: str) -> dict[str, str]:
    """The Spark properties a task's driver starts with: the cluster's, then the task's cores (``spark.cores.max``,
    what the scheduler granted), its Python and where its executors import this package from."""
    package_root = str(Path(__file__).resolve().parents[2])
    python = config.python or sys.executable
    properties = {
        "spark.app.name": app_name,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # the batches a component's batch function gets (Table.map_batches / aggregate): as big as the
        # standalone engine's, so the per-batch numpy work is not dwarfed by its call (Spark's default is 10,000)
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(BATCH_ROWS),
        "spark.pyspark.python": python,
        "spark.executorEnv.PYTHONPATH": config.python_path or package_root,
        "spark.executor.memory": "1g",
        # a task's driver lives for one task and mostly waits: its JVM's start-up is what costs (-30 % with the
        # client compiler only); the executors keep the full JIT for the work
        "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
        **({"spark.driver.host": "127.0.0.1"} if _LOOPBACK.match(config.master) else {}),
        **config.properties,
        "spark.master": config.master,
        "spark.cores.max": str(cores),
    }
    return properties


class SparkSessionHolder:
    """The task's Spark session, started on first use (a task that never touches a table costs no JVM), and a
    watch that cancels an action when the cluster has had no executor for ``lost_workers_timeout``."""

    def __init__(self, config: SparkConfig, cores: int, app_name: str):
        self.config = config
        self.cores = cores
        self.app_name = app_name
        self._session: SparkSession | None = None

    @property
    def session(self) -> SparkSession:
        """The session (started now if this is its first use)."""
        if self._session is None:
            self._session = self._start()
        return self._session

    def _start(self) -> SparkSession:
        os.environ.setdefault("SPARK_HOME", self.config.home or _pyspark_home())
        os.environ["PYSPARK_PYTHON"] = self.config.python or sys.executable
        from pyspark.sql import SparkSession

        started = time.monotonic()
        builder = SparkSession.builder
        for key, value in spark_properties(self.config, self.cores, self.app_name).items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("WARN")
        logger.info("Spark session on %s with %s cores started in %.1f s", self.config.master, self.cores,
                    time.monotonic() - started)
        return session

    def stop(self) -> None:
        """Stop the session (the executors it holds give their cores back to the cluster)."""
        if self._session is not None:
            self._session.stop()
            self._session = None

    def _executors(self) -> int:
        """Executors alive now (the driver is not one); a local master computes in the driver itself."""
        if not self.config.master.startswith("spark://"):
            return 1
        return int(self.session.sparkContext._jsc.sc().getExecutorMemoryStatus().size()) - 1

    @contextmanager
    def action(self, what: str) -> Iterator[SparkSession]:
        """Run one Spark action (``what`` names it for errors): a failure becomes a ComponentError naming it,
        and an action left with no executor for ``lost_workers_timeout`` seconds is cancelled."""
        session = self.session
        finished, lost = threading.Event(), threading.Event()
        watcher = threading.Thread(target=self._watch, args=(finished, lost), daemon=True, name="spark-watch")
        watcher.start()
        try:
            yield session
        except Exception as exc:
            if lost.is_set():
                raise ComponentError(
                    f"Spark {what} was cancelled: the cluster at {self.config.master} had no executor for "
                    f"{self.config.lost_workers_timeout:.0f} s (its workers were lost, or none has free cores)"
                ) from None
            if isinstance(exc, ComponentError):
                raise
            raise ComponentError(f"Spark {what} failed: {_first_line(exc)}") from exc
        finally:
            finished.set()
            watcher.join()

    def _watch(self, finished: threading.Event, lost: threading.Event) -> None:
        timeout = self.config.lost_workers_timeout
        alone_since: float | None = None
        while not finished.wait(WATCH_INTERVAL_S):
            try:
                alive = self._executors()
            except Exception:  # the session is stopping: the action ends by itself
                return
            if alive > 0:
                alone_since = None
                continue
            alone_since = alone_since or time.monotonic()
            if time.monotonic() - alone_since >= timeout:
                lost.set()
                self.session.sparkContext.cancelAllJobs()
                return


class SparkTable(ArrowTable):
    """A table that is a Spark DataFrame until its rows are needed in the task: counting, selecting by id,
    its first rows and storing it run in the cluster; ``data`` collects it once through Arrow, and every
    numeric method (features, labels, take ...) then works on that, as the standalone engine's tables do."""

    def __init__(self, schema: Schema, spark: SparkSessionHolder, frame: Callable[[], DataFrame],
                 source: TableMeta | None = None, data: pa.Table | None = None):
        super().__init__(schema, data, source)
        self._spark = spark
        self._frame = frame
        self._count: int | None = None

    @property
    def frame(self) -> DataFrame:
        """The rows as a Spark DataFrame (built on first use: only inside ``SparkSessionHolder.action``, since
        reading a stored table's files for its schema is already a Spark job, which must be watched)."""
        return self._frame()

    @property
    def collected(self) -> bool:
        """Whether the rows are held in the task (no longer only in the cluster)."""
        return self._data is not None

    @property
    @override
    def data(self) -> pa.Table:
        if self._data is None:
            with self._spark.action("collecting the table"):
                self._data = _normalised(self.frame.toArrow())
        return self._data

    @override
    def record_batches(self, rows: int = BATCH_ROWS, columns: Sequence[str] | None = None
                       ) -> Iterator[pa.RecordBatch]:
        if self._stored_unchanged:  # streamed from the files, as the standalone engine does
            yield from super().record_batches(rows, columns)
            return
        data = self.data if columns is None else self.data.select(list(columns))
        yield from data.to_batches(max_chunksize=rows)

    @override
    def arrow_schema(self) -> pa.Schema:
        if self._data is None and self._source is not None:
            return super().arrow_schema()  # the first file's schema: no Spark job for it
        if self._data is None:  # the plan's schema (reading a stored table's files for it is a Spark job)
            from pyspark.sql.pandas.types import to_arrow_schema

            with self._spark.action("reading the table's schema"):
                return _plain_text_schema(to_arrow_schema(self.frame.schema))
        return self.data.schema

    @property
    def _stored_unchanged(self) -> bool:
        return self._data is None and self._source is not None

    @override
    def _column(self, name: str) -> pa.ChunkedArray:
        if self._data is not None or self._stored_unchanged:
            return super()._column(name)
        if name not in self._read_columns:  # a plan: Spark computes that one column
            with self._spark.action(f"collecting the column {name!r}"):
                self._read_columns[name] = _normalised(self.frame.select(_quoted(name)).toArrow()).column(0)
        return self._read_columns[name]

    @override
    def count(self) -> int:
        if self._data is not None:
            return self._data.num_rows
        if self._stored_unchanged:  # the files' footers say it: no Spark job (a Reader starts no application)
            return super().count()
        if self._count is None:
            with self._spark.action("counting the table"):
                self._count = int(self.frame.count())
        return self._count

    @override
    def head(self, rows: int) -> list[list[Any]]:
        if self._data is not None:
            return super().head(rows)
        if self._stored_unchanged:  # the first files' first rows: no Spark job
            return super().head(rows)
        with self._spark.action("reading the first rows"):
            first = _normalised(self.frame.limit(rows).toArrow())
        return [list(row.values()) for row in first.to_pylist()]

    @override
    def filter_sids(self, ids: Iterable[str] | np.ndarray) -> Table:
        if self._data is not None:
            return super().filter_sids(ids)
        values = pa.array(ids if isinstance(ids, np.ndarray) else list(ids), type=pa.string())
        sid, source, spark = self.schema.sid, self._frame, self._spark

        def selected() -> DataFrame:
            from pyspark.sql import functions

            frame = source()
            wanted = spark.session.createDataFrame(pa.table({sid: values}))
            key = frame[sid].cast("string")
            # a broadcast semi-join keeps each partition's rows in their order
            return frame.join(functions.broadcast(wanted), key == wanted[sid], "left_semi")

        return SparkTable(self.schema, spark, _once(selected))

    @override
    def with_schema(self, schema: Schema) -> Table:
        table = SparkTable(schema, self._spark, self._frame, self._source, self._data)
        table._count = self._count
        return table

    @override
    def map_batches(self, function: BatchMap, columns: pa.Schema, schema: Schema | None = None) -> Table:
        if self._data is not None:  # the rows are in the task already
            return super().map_batches(function, columns, schema)
        frame = self._frame

        def mapped() -> DataFrame:
            from pyspark.sql.pandas.types import from_arrow_schema

            return frame().mapInArrow(functools.partial(_map_partition, function, columns),
                                      from_arrow_schema(columns))

        return SparkTable(schema or self.schema, self._spark, _once(mapped))

    @override
    def aggregate(self, function: BatchReduce, combine: Combine, columns: Sequence[str] | None = None) -> Any:
        if self._data is not None:
            return super().aggregate(function, combine, columns)
        with self._spark.action(f"aggregating the table ({getattr(function, '__name__', 'a function')})"):
            frame = self.frame if columns is None else self.frame.select(*map(_quoted, columns))
            partials = frame.mapInArrow(functools.partial(_fold_partition, function, combine), "partial binary")
            rows = partials.collect()
        values = [codec.decode(bytearray(row[0])) for row in rows]  # writable arrays: combine may add in place
        return functools.reduce(combine, values) if values else None


class SparkComputing(Computing):
    """One task's computing on the Spark cluster of ``config``, with ``cores`` of it."""

    name = "spark"
    min_parallel_s = 1.0  # a Spark job: scheduling, and the function and items pickled to the executors

    def __init__(self, config: SparkConfig, cores: int = 1, app_name: str = "fate_flow"):
        self.cores = max(int(cores), 1)
        self.spark = SparkSessionHolder(config, self.cores, app_name)
        self.partitions = 1  # what a table this task builds is stored as: its widest input's partitions
        self._local = StandaloneComputing(self.cores)

    @override
    def read(self, meta: TableMeta) -> Table:
        files = parquet_files(Path(meta.path))
        if not files:
            raise ComponentError(f"table {meta.ref} has no data at {meta.path}")
        self.partitions = max(self.partitions, int(meta.partitions or 1), len(files))
        columns = pq.ParquetFile(files[0]).schema_arrow.names
        spark = self.spark

        def stored() -> DataFrame:
            # one read per file, in name order: a read of them all would order its partitions by file size
            reads = [spark.session.read.parquet(str(f)) for f in files]
            return functools.reduce(lambda a, b: a.union(b), reads)

        return SparkTable(Schema.from_meta(meta.schema, meta.id_delimiter, columns), spark, _once(stored),
                          source=meta)

    @override
    def write(self, table: Table, directory: Path) -> int:
        if not isinstance(table, ArrowTable):
            raise TypeError(f"the Spark engine cannot store a {type(table).__name__}")
        if isinstance(table, SparkTable) and not table.collected:
            if table.source is not None:  # unchanged stored table: its immutable files are shared
                return self._local.write(table, directory)
            return self._write_frame(table, directory)
        return write_parts(table.data.select(stored_order(table)), directory, self.partitions)

    def _write_frame(self, table: SparkTable, directory: Path) -> int:
        """Spark writes the DataFrame, one file per partition, next to ``directory``; the files move in."""
        staging = directory.parent / f".spark-{uuid.uuid4().hex}"
        with self.spark.action("writing the table"):
            names = table.frame.columns
            chosen = [c for c in table.schema.columns() if c in names]
            frame = table.frame.select(*chosen, *[c for c in names if c not in chosen])
            frame.write.parquet(str(staging), compression="snappy")
        directory.mkdir(parents=True, exist_ok=True)
        written = sorted(staging.glob("part-*.parquet"))
        for index, path in enumerate(written):
            path.rename(directory / PART_NAME.format(index))
        shutil.rmtree(staging, ignore_errors=True)
        return sum(pq.ParquetFile(p).metadata.num_rows for p in parquet_files(directory))

    @override
    def from_numpy(self, schema: Schema, sids: Sequence[str] | np.ndarray, features: np.ndarray,
                   labels: np.ndarray | None = None, weights: np.ndarray | None = None,
                   extra: dict[str, np.ndarray] | None = None) -> Table:
        return self._local.from_numpy(schema, sids, features, labels, weights, extra)

    @override
    def write_csv(self, table: Table, path: Path, delimiter: str = ",", header: bool = True) -> int:
        return self._local.write_csv(table, path, delimiter, header)

    @override
    def parallel_map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        if not items:
            return []
        with self.spark.action(f"running {getattr(function, '__name__', 'a function')}") as session:
            return session.sparkContext.parallelize(list(items), len(items)).map(function).collect()

    @override
    def close(self) -> None:
        self.spark.stop()


def _normalised(data: pa.Table) -> pa.Table:
    """Spark hands text back as large_string; the engines agree on plain string."""
    fields = [pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) else f for f in data.schema]
    return data.cast(pa.schema(fields)) if fields != list(data.schema) else data


def _map_partition(function: BatchMap, columns: pa.Schema, batches: Iterable[pa.RecordBatch]
                   ) -> Iterator[pa.RecordBatch]:
    """In an executor: ``function`` of each of a partition's batches, as ``columns`` declares them."""
    for batch in batches:
        yield conform(function(plain_text(batch)), columns)


def _fold_partition(function: BatchReduce, combine: Combine, batches: Iterable[pa.RecordBatch]
                    ) -> Iterator[pa.RecordBatch]:
    """In an executor: a partition's batches folded into one partial result, sent back through the codec
    (nothing for a partition without a batch)."""
    batches = iter(batches)
    first = next(batches, None)
    if first is None:
        return
    result = fold(itertools.chain([first], batches), function, combine)
    yield pa.RecordBatch.from_arrays([pa.array([codec.encode(result)], pa.binary())], names=["partial"])


def _quoted(name: str) -> str:
    """A column name as Spark SQL reads it literally (a header may hold dots or spaces)."""
    return "`" + name.replace("`", "``") + "`"


def _plain_text_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) else f for f in schema])


def _once(build: Callable[[], DataFrame]) -> Callable[[], DataFrame]:
    """``build`` called on first use only (a DataFrame is a plan: building it twice is harmless but slow)."""
    built: list[DataFrame] = []

    def frame() -> DataFrame:
        if not built:
            built.append(build())
        return built[0]

    return frame


def _pyspark_home() -> str:
    import pyspark

    return str(Path(pyspark.__file__).resolve().parent)


_PYTHON_ERROR = re.compile(r"^\s*([A-Za-z_.]*(Error|Exception)): (.+)$")
_SPARK_ABORT = re.compile(r"(Job aborted due to stage failure: .+?)(?: most recent failure|$)")


def _first_line(exc: BaseException) -> str:
    """What went wrong, in one line: the executors' Python error when Spark carries one (Py4J's message
    wraps it in a Java stack), else the job's abort reason, else the message's first line."""
    text = str(exc).strip() or type(exc).__name__
    lines = text.splitlines()
    for line in lines:
        found = _PYTHON_ERROR.match(line)
        if found and not found.group(1).startswith(("py4j", "org.", "java.")):
            return f"{found.group(1)}: {found.group(3)}"[:500]
    for line in lines:
        found = _SPARK_ABORT.search(line)
        if found:
            return found.group(1)[:500]
    return lines[0][:500]
