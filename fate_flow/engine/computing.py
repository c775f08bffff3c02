"""The computing engine a task's tables live in: how they are read, built, written, and how work is
spread over the cores the task was granted: ``standalone`` (pyarrow and numpy in the executor,
``engine.standalone``) or ``spark`` (a Spark cluster, ``engine.spark``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fate_flow.engine.table import Schema, Table
from fate_flow.entity.table_meta import TableMeta
from fate_flow.entity.task_config import SparkConfig
from fate_flow.errors import ComponentError


class Computing(ABC):
    """One task's computing session."""

    name: str
    cores: int
    # work (seconds on one core) below which ``parallel_map`` costs more than it saves: forking the workers of
    # a large executor and collecting their results takes some 35 ms (measured: four maps of a breast job's
    # RSA intersection, 569 ids, took 0.14 s); a Spark job costs more (``SparkComputing``)
    min_parallel_s: float = 0.1

    @abstractmethod
    def read(self, meta: TableMeta) -> Table:
        """A stored table (read lazily: nothing is loaded until the rows are used)."""

    @abstractmethod
    def write(self, table: Table, directory: Path) -> int:
        """Store ``table`` in ``directory`` (which must not hold a table yet); returns the row count."""

    @abstractmethod
    def from_numpy(self, schema: Schema, sids: Sequence[str] | np.ndarray, features: np.ndarray,
                   labels: np.ndarray | None = None, weights: np.ndarray | None = None,
                   extra: dict[str, np.ndarray] | None = None) -> Table:
        """A table from arrays: ``features`` is rows x len(schema.header); ``extra`` holds columns that are
        neither id, label, weight nor feature (e.g. a match id), stored after the label."""

    @abstractmethod
    def write_csv(self, table: Table, path: Path, delimiter: str = ",", header: bool = True) -> int:
        """Write the table as CSV text at ``path`` (stored column order); returns the row count."""

    @abstractmethod
    def parallel_map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """``[function(item) for item in items]`` over the task's cores; ``function`` must be a
        module-level function (it runs in other processes: this executor's workers, or Spark's executors)."""

    def close(self) -> None:
        """Release what the session holds (a Spark session and its executors); the task ends after this."""
        return  # the standalone engine holds nothing between calls


def open_computing(name: str, cores: int, spark: SparkConfig | None = None, app_name: str = "fate_flow") -> Computing:
    """The computing session for engine ``name`` (the job's ``computing_engine``); ``spark`` is the cluster
    when it is ``spark``."""
    engine = name.lower()
    if engine in ("standalone", "eggroll"):
        from fate_flow.engine.standalone import StandaloneComputing

        return StandaloneComputing(cores)
    if engine == "spark" and spark is not None:
        from fate_flow.engine.spark import SparkComputing

        return SparkComputing(spark, cores, app_name)
    raise ComponentError(f"computing engine {name!r} is not provided by this server (it computes on "
                         f"{'standalone or spark' if spark else 'standalone'})")
