"""A table stored as several Parquet files, one per partition: ``part-00000.parquet``, ``part-00001.parquet``
... of consecutive rows, so that reading a directory's ``*.parquet`` files in name order (as every engine does)
gives the rows in order, and Spark reads the files in parallel. The upload (``components.upload.partitions``)
and the Spark engine store tables this way."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PART_NAME = "part-{:05d}.parquet"


def part_sizes(count: int, parts: int) -> list[int]:
    """The rows of each file: ``min(parts, count)`` files (at least one), sizes differing by at most one row.

    The first ``count % files`` files hold one row more (10 rows into 3: 4, 3, 3). Unlike ``ceil(count /
    parts)`` rows each, this always writes ``parts`` files when there are enough rows (5 rows into 4 would
    otherwise be 2, 2, 1: three files), so the ``partition`` asked for is the parallelism Spark gets.
    """
    if parts < 1:
        raise ValueError(f"parts must be at least 1, not {parts}")
    files = max(1, min(parts, count))
    base, extra = divmod(count, files)
    return [base + (1 if i < extra else 0) for i in range(files)]


def write_parts(data: pa.Table, directory: Path, parts: int) -> int:
    """Store ``data`` (held in memory) as ``parts`` files of consecutive rows (``part_sizes``); returns the row
    count."""
    directory.mkdir(parents=True, exist_ok=True)
    offset = 0
    for index, size in enumerate(part_sizes(data.num_rows, max(1, int(parts)))):
        pq.write_table(data.slice(offset, size), directory / PART_NAME.format(index), compression="snappy",
                       write_statistics=False)
        offset += size
    return data.num_rows
