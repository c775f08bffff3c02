"""The standalone computing engine: a table is Arrow data in the executor, stored as Parquet files.

Everything is vectorised: id lookups are Arrow kernels, features become one numpy matrix per table
(parsed once and kept), and ``parallel_map`` spreads CPU-bound work (Paillier, hashing) over the
task's cores with worker processes forked from the executor.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from typing_extensions import override

from fate_flow.engine import columns
from fate_flow.engine.columns import conform, fold
from fate_flow.engine.computing import Computing
from fate_flow.engine.table import BatchMap, BatchReduce, Combine, Schema, Table
from fate_flow.entity.table_meta import TableMeta
from fate_flow.errors import ComponentError

DATA_FILE = "data.parquet"
BATCH_ROWS = 65536


def parquet_files(directory: Path) -> list[Path]:
    """A stored table's Parquet files, in partition order."""
    return sorted(p for p in directory.glob("*.parquet") if p.is_file())


class ArrowTable(Table):
    """A table held as a ``pyarrow.Table`` (loaded from its files on first use)."""

    def __init__(self, schema: Schema, data: pa.Table | None = None, source: TableMeta | None = None):
        self.schema = schema
        self._data = data
        self._source = source
        self._features: dict[str, np.ndarray] = {}
        self._read_columns: dict[str, pa.ChunkedArray] = {}  # columns read alone while the rows are not loaded

    # -- storage ----------------------------------------------------------------------------------------------
    @property
    @override
    def source(self) -> TableMeta | None:
        return self._source

    @property
    def data(self) -> pa.Table:
        """The rows as Arrow data (read from the table's files the first time)."""
        if self._data is None:
            files = parquet_files(Path(self._source.path)) if self._source else []
            if self._source is not None and not files:
                raise ComponentError(f"table {self._source.ref} has no data at {self._source.path}")
            self._data = pa.concat_tables([pq.read_table(f) for f in files]) if len(files) != 1 else pq.read_table(
                files[0])
        return self._data

    def record_batches(self, rows: int = BATCH_ROWS, columns: Sequence[str] | None = None
                       ) -> Iterator[pa.RecordBatch]:
        """The rows in Arrow batches (of ``columns`` only, when given); a stored table is streamed from its
        files, never loaded whole."""
        if self._data is None and self._source is not None:
            for path in parquet_files(Path(self._source.path)):
                yield from pq.ParquetFile(path).iter_batches(batch_size=rows, columns=columns)
            return
        data = self.data if columns is None else self.data.select(list(columns))
        yield from data.to_batches(max_chunksize=rows)

    def arrow_schema(self) -> pa.Schema:
        """The stored columns as an Arrow schema; a table not loaded yet reads it from its first file, not its rows."""
        if self._data is None and self._source is not None:
            files = parquet_files(Path(self._source.path))
            if files:
                return pq.ParquetFile(files[0]).schema_arrow
        return self.data.schema

    @override
    def meta_schema(self) -> dict[str, Any]:
        """FATE's schema dict: the stored one when this is the stored table read as it was written."""
        if self._source is not None:
            stored = Schema.from_meta(self._source.schema, self._source.id_delimiter, self.arrow_schema().names)
            if stored == self.schema:
                return dict(self._source.schema)
        return self.schema.to_meta()

    # -- reading ----------------------------------------------------------------------------------------------
    @override
    def count(self) -> int:
        if self._data is None and self._source is not None:
            return sum(pq.ParquetFile(p).metadata.num_rows for p in parquet_files(Path(self._source.path)))
        return self.data.num_rows

    def _column(self, name: str) -> pa.ChunkedArray:
        if self._data is None and self._source is not None:
            return self._stored_column(name)
        if name not in self.data.column_names:
            raise ComponentError(f"the table has no column {name!r} (columns: {', '.join(self.data.column_names)})")
        return self.data.column(name)

    def _stored_column(self, name: str) -> pa.ChunkedArray:
        """One column of a table not loaded: read alone from its files (a column store reads only that), and kept."""
        if name not in self._read_columns:
            names = self.arrow_schema().names
            if name not in names:
                raise ComponentError(f"the table has no column {name!r} (columns: {', '.join(names)})")
            files = parquet_files(Path(self._source.path))
            self._read_columns[name] = pa.chunked_array(
                [chunk for f in files for chunk in pq.read_table(f, columns=[name]).column(0).chunks],
                type=self.arrow_schema().field(name).type)
        return self._read_columns[name]

    @override
    def column(self, name: str) -> np.ndarray:
        return self._column(name).to_numpy()

    def _numbers(self, name: str, dtype: Any) -> np.ndarray:
        return columns.numbers(self._column(name), name, dtype)

    @override
    def floats(self, name: str, missing: Sequence[str] = ()) -> np.ndarray:
        return columns.floats(self._column(name), name, missing)

    @override
    def sids(self) -> np.ndarray:
        return self._column(self.schema.sid).to_numpy(zero_copy_only=False)

    @override
    def features(self, dtype: Any = np.float64) -> np.ndarray:
        key = np.dtype(dtype).str
        if key not in self._features:
            rows, header = self.data.num_rows, self.schema.header
            matrix = np.empty((rows, len(header)), dtype=dtype)
            for index, name in enumerate(header):
                matrix[:, index] = self._numbers(name, dtype)
            self._features[key] = matrix
        return self._features[key]

    @override
    def labels(self, dtype: Any = np.float64) -> np.ndarray:
        if not self.schema.label:
            raise ComponentError("the table has no label column (give with_label / label_name to DataTransform)")
        return self._numbers(self.schema.label, dtype)

    @override
    def weights(self) -> np.ndarray | None:
        return self._numbers(self.schema.weight, np.float64) if self.schema.weight else None

    @override
    def head(self, rows: int) -> list[list[Any]]:
        first: list[dict] = []
        for batch in self.record_batches(rows):  # a file may hold fewer rows than asked
            first.extend(batch.slice(0, rows - len(first)).to_pylist())
            if len(first) >= rows:
                break
        return [list(row.values()) for row in first]

    # -- deriving ---------------------------------------------------------------------------------------------
    @override
    def take(self, rows: np.ndarray) -> Table:
        rows = np.asarray(rows)
        data = self.data.filter(pa.array(rows)) if rows.dtype == bool else self.data.take(pa.array(rows))
        return ArrowTable(self.schema, data)

    @override
    def filter_sids(self, ids: Iterable[str] | np.ndarray) -> Table:
        values = pa.array(ids if isinstance(ids, np.ndarray) else list(ids), type=pa.string())
        mask = pc.is_in(self._column(self.schema.sid), value_set=values)
        return ArrowTable(self.schema, self.data.filter(mask))

    @override
    def with_schema(self, schema: Schema) -> Table:
        return ArrowTable(schema, self._data, self._source)

    @override
    def batches(self, rows: int) -> Iterator[Table]:
        for start in range(0, self.count(), rows):
            yield ArrowTable(self.schema, self.data.slice(start, rows))

    @override
    def map_batches(self, function: BatchMap, columns: pa.Schema, schema: Schema | None = None) -> Table:
        mapped = [conform(function(batch), columns) for batch in self.record_batches()]
        return ArrowTable(schema or self.schema, pa.Table.from_batches(mapped, schema=columns))

    @override
    def aggregate(self, function: BatchReduce, combine: Combine, columns: Sequence[str] | None = None) -> Any:
        return fold(self.record_batches(columns=columns), function, combine)


class StandaloneComputing(Computing):
    name = "standalone"

    def __init__(self, cores: int = 1):
        self.cores = max(int(cores), 1)

    @override
    def read(self, meta: TableMeta) -> Table:
        files = parquet_files(Path(meta.path))
        columns = pq.ParquetFile(files[0]).schema_arrow.names if files else []
        return ArrowTable(Schema.from_meta(meta.schema, meta.id_delimiter, columns), source=meta)

    @override
    def write(self, table: Table, directory: Path) -> int:
        arrow = _arrow(table)
        directory.mkdir(parents=True, exist_ok=True)
        if arrow.source is not None and arrow._data is None:
            # unchanged stored table: share its immutable files instead of rewriting them
            for path in parquet_files(Path(arrow.source.path)):
                _link_or_copy(path, directory / path.name)
            return arrow.count()
        pq.write_table(arrow.data.select(stored_order(arrow)), directory / DATA_FILE, compression="snappy",
                       write_statistics=False)
        return arrow.data.num_rows

    @override
    def from_numpy(self, schema: Schema, sids: Sequence[str] | np.ndarray, features: np.ndarray,
                   labels: np.ndarray | None = None, weights: np.ndarray | None = None,
                   extra: dict[str, np.ndarray] | None = None) -> Table:
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] != len(schema.header):
            raise ComponentError(f"features must be rows x {len(schema.header)} columns, got {features.shape}")
        columns: dict[str, Any] = {schema.sid: pa.array(np.asarray(sids).astype(str), type=pa.string())}
        if schema.label:
            columns[schema.label] = pa.array(np.asarray(labels))
        if schema.weight:
            columns[schema.weight] = pa.array(np.asarray(weights))
        for name, values in (extra or {}).items():
            columns[name] = pa.array(np.asarray(values))
        for index, name in enumerate(schema.header):
            columns[name] = pa.array(features[:, index])
        return ArrowTable(schema, pa.table(columns))

    @override
    def write_csv(self, table: Table, path: Path, delimiter: str = ",", header: bool = True) -> int:
        arrow = _arrow(table)
        options = pacsv.WriteOptions(include_header=header, delimiter=delimiter,
                                     quoting_style=csv_quoting(arrow.record_batches(), delimiter),
                                     quoting_header="none")
        count = 0
        with pacsv.CSVWriter(path, arrow.arrow_schema(), write_options=options) as writer:
            for batch in arrow.record_batches():
                writer.write_batch(batch)
                count += batch.num_rows
        return count

    @override
    def parallel_map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        workers = min(self.cores, len(items), os.cpu_count() or 1)
        if workers <= 1:
            return [function(item) for item in items]
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
            return list(pool.map(function, items))


def stored_order(table: ArrowTable) -> list[str]:
    """The order a table's columns are stored in: id, label, weight, the features, then any other column."""
    stored = table.data.column_names  # a property that builds a new list: read it once
    present = set(stored)
    columns = [c for c in table.schema.columns() if c in present]
    chosen = set(columns)
    return columns + [c for c in stored if c not in chosen]


def csv_quoting(batches: Iterable[pa.RecordBatch], delimiter: str = ",") -> str:
    """``none`` (values written as stored, as FATE writes them) unless some text value holds the delimiter, a
    quote or a line break (a prediction's JSON detail): then ``needed``, so the CSV still parses."""
    pattern = "[" + "".join("\\" + c if c in "]\\^-" else c for c in delimiter) + '"\r\n]'
    for batch in batches:
        for column in batch.columns:
            if (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)) and pc.any(
                    pc.match_substring_regex(column, pattern)).as_py():
                return "needed"
    return "none"


def _arrow(table: Table) -> ArrowTable:
    if not isinstance(table, ArrowTable):
        raise TypeError(f"the standalone engine cannot store a {type(table).__name__}")
    return table


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        import shutil

        shutil.copyfile(source, target)
