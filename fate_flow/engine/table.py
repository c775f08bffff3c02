"""A component's tables: rows keyed by a sample id, with a schema saying which columns are what.

``Table`` is what components compute on, whatever the computing engine: the standalone engine
(``engine.standalone``) holds Arrow data in the executor; the Spark engine (``engine.spark``) implements the
same methods over its DataFrames. Components never see files, partitions or the engine behind a table.

Two kinds of methods:

- *where the table lives*: ``map_batches`` and ``aggregate`` run a component's function over the rows batch
  by batch where they are (Spark's executors, or this process on the standalone engine), so a component's
  row-wise work and its column statistics scale with the cluster; so do ``count``, ``filter_sids``, ``head``
  and storing the table;
- *in the task*: ``features``, ``labels``, ``sids``, ``column``, ``take`` and ``batches`` hand the rows to
  the task as numpy arrays (collected once, through Arrow, on Spark), for the algorithms whose protocol steps
  work on the whole matrix.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa

from fate_flow.entity.table_meta import TableMeta


@dataclass(frozen=True)
class Schema:
    """Which columns are the sample id, the label, the weight, and the features (in order).

    ``extra`` keeps whatever else FATE's schema dict holds (``meta``, anonymous headers ...) so it is
    passed on unchanged.
    """

    sid: str
    header: tuple[str, ...]
    label: str | None = None
    weight: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_meta(cls, schema: dict[str, Any], delimiter: str = ",", columns: Sequence[str] = ()) -> Schema:
        """From FATE's schema dict (``header`` a delimited string or a list; ``sid``; ``label_name``;
        ``weight_name``). ``columns``, the stored column names, fill in what an old meta lacks."""
        header = schema.get("header", "")
        names = [h for h in (header.split(delimiter) if isinstance(header, str) else list(header)) if h]
        sid = str(schema.get("sid") or schema.get("sid_name") or (columns[0] if columns else ""))
        if not names and columns:
            names = [c for c in columns if c != sid]
        label = schema.get("label_name") or None
        weight = schema.get("weight_name") or None
        names = [n for n in names if n not in (label, weight)]
        extra = {k: v for k, v in schema.items() if k not in ("header", "sid", "sid_name", "label_name",
                                                              "weight_name")}
        return cls(sid=sid, header=tuple(names), label=label, weight=weight, extra=extra)

    def to_meta(self) -> dict[str, Any]:
        """FATE's schema dict, as the table meta and FATE-Board carry it."""
        meta: dict[str, Any] = {**self.extra, "sid": self.sid, "header": list(self.header)}
        if self.label:
            meta["label_name"] = self.label
        if self.weight:
            meta["weight_name"] = self.weight
        return meta

    def columns(self) -> list[str]:
        """Stored column order: id, label, weight, then the features."""
        return [c for c in (self.sid, self.label, self.weight) if c] + list(self.header)

    def with_header(self, header: Iterable[str]) -> Schema:
        """A copy whose feature columns are ``header``; id, label and weight stay."""
        return replace(self, header=tuple(header))


BatchMap = Callable[[pa.RecordBatch], pa.RecordBatch]
BatchReduce = Callable[[pa.RecordBatch], Any]
Combine = Callable[[Any, Any], Any]


class Table(ABC):
    """An immutable table of samples. Methods that return a table return a new one."""

    schema: Schema

    @abstractmethod
    def count(self) -> int:
        """Number of rows."""

    @abstractmethod
    def sids(self) -> np.ndarray:
        """The sample ids, in row order (strings)."""

    @abstractmethod
    def features(self, dtype: Any = np.float64) -> np.ndarray:
        """The feature columns (``schema.header``) as a rows x features matrix; text columns are parsed
        (a value that is not a number raises ComponentError naming the column)."""

    @abstractmethod
    def floats(self, name: str, missing: Sequence[str] = ()) -> np.ndarray:
        """One column as float64, with NaN where it is empty or holds one of the ``missing`` texts (a value
        that is not a number raises ComponentError naming the column)."""

    @abstractmethod
    def labels(self, dtype: Any = np.float64) -> np.ndarray:
        """The label column as numbers (ComponentError if the table has none)."""

    @abstractmethod
    def weights(self) -> np.ndarray | None:
        """The sample weights, or None when the table has no weight column."""

    @abstractmethod
    def column(self, name: str) -> np.ndarray:
        """One stored column as it is (text or numbers)."""

    @abstractmethod
    def take(self, rows: np.ndarray) -> Table:
        """The rows at these positions (or where a boolean mask is true), in that order."""

    @abstractmethod
    def filter_sids(self, ids: Iterable[str] | np.ndarray) -> Table:
        """The rows whose id is among ``ids``, in this table's order."""

    @abstractmethod
    def with_schema(self, schema: Schema) -> Table:
        """The same rows read through another schema (e.g. one column becomes the label)."""

    @abstractmethod
    def batches(self, rows: int) -> Iterator[Table]:
        """Consecutive slices of at most ``rows`` rows."""

    @abstractmethod
    def head(self, rows: int) -> list[list[Any]]:
        """The first rows as lists of values, stored column order."""

    @abstractmethod
    def arrow_schema(self) -> pa.Schema:
        """The stored columns' names and Arrow types (without reading the rows where the engine can)."""

    @abstractmethod
    def map_batches(self, function: BatchMap, columns: pa.Schema, schema: Schema | None = None) -> Table:
        """A table whose rows are ``function(batch)`` of this one's batches, computed where the table lives
        (lazily on Spark: when the result is used or stored).

        ``function`` must be picklable (a module-level function, or ``functools.partial`` of one with plain
        arguments) and pure; it gets each batch's columns as stored and returns a batch of ``columns`` (its
        rows in order; it may drop rows). The result is read through ``schema`` (default: this one's).
        """

    @abstractmethod
    def aggregate(self, function: BatchReduce, combine: Combine, columns: Sequence[str] | None = None) -> Any:
        """``function`` of every batch, computed where the table lives, folded with ``combine`` (associative:
        the partial results of a partition meet first, then the partitions' in the task); None when the table
        has no batch. The batches hold ``columns`` only (default: all; fewer is less to read and to ship). The
        partial results are plain values the typed codec carries (numbers, numeric arrays, lists and dicts of
        them), never pickled.
        """

    def meta_schema(self) -> dict[str, Any]:
        """FATE's schema dict to store with this table (an engine may keep a stored table's own)."""
        return self.schema.to_meta()

    @property
    def source(self) -> TableMeta | None:
        """The stored table this one is, unchanged; None once it is derived (a writer may then link files)."""
        return None
