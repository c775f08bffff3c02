"""An uploaded table as several Parquet files, one per partition (the Spark stack's layout).

Spark reads a table with ``spark.read.parquet(directory)`` and works on its files in parallel; every
engine reads a table as the directory's ``*.parquet`` files sorted by name, in that order. So the rows
are cut into contiguous ranges, in the file's order, one file each: ``part-00000.parquet``,
``part-00001.parquet`` ... Reading them by name gives the rows in upload order.

The row count is known only once the whole CSV has been read, so the upload writes one file first and
this splits it afterwards, streamed (a batch at a time, never the whole table in memory).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fate_flow.engine.parts import PART_NAME, part_sizes

READ_ROWS = 65536


def _writer_options(source: pq.ParquetFile) -> dict:
    """The source's own write options: its compression, its dictionary-encoded columns, no statistics."""
    metadata = source.metadata
    if metadata.num_row_groups == 0:
        return {"compression": "snappy", "use_dictionary": False, "write_statistics": False}
    first = metadata.row_group(0)
    columns = [first.column(i) for i in range(first.num_columns)]
    compression = columns[0].compression.lower() if columns else "snappy"
    dictionary = [c.path_in_schema for c in columns if c.has_dictionary_page]
    return {"compression": "none" if compression == "uncompressed" else compression,
            "use_dictionary": dictionary, "write_statistics": False}


def _slices(batches: Iterable[pa.RecordBatch], sizes: list[int]) -> Iterator[tuple[int, pa.RecordBatch]]:
    """``(part, rows)`` in the file's order: the source's batches cut where a part ends."""
    part, room = 0, sizes[0]
    for batch in batches:
        offset = 0
        while offset < batch.num_rows:
            while room == 0:  # the next part (every size is at least 1 when there are rows)
                part += 1
                room = sizes[part]
            take = min(room, batch.num_rows - offset)
            yield part, batch.slice(offset, take)
            offset += take
            room -= take


def split_into_parts(source: Path, directory: Path, parts: int,
                     read_ahead: Callable[[Iterator[pa.RecordBatch]], Iterable[pa.RecordBatch]] | None = None
                     ) -> list[Path]:
    """Store the table in ``source`` (one Parquet file) as ``parts`` files in ``directory``; remove ``source``.

    The files are ``part-00000.parquet`` ... each holding a contiguous range of the rows in order, sizes
    as :func:`part_sizes` gives them: fewer files when there are fewer rows than ``parts``, and one file
    (holding no rows, but the columns) for an empty table. They are written with the source's compression
    and dictionary-encoded columns, without statistics, as the upload wrote the source. ``read_ahead``
    wraps the source's batches (the upload's reads them in a thread while the parts are encoded: 1M rows x
    11 columns in ~0.55 s instead of ~0.75 s on 2 cores). Returns the files in order.
    """
    parquet = pq.ParquetFile(source)
    sizes = part_sizes(parquet.metadata.num_rows, parts)
    paths = [directory / PART_NAME.format(i) for i in range(len(sizes))]
    if len(sizes) == 1:  # one file already: only its name changes
        parquet.close()
        source.replace(paths[0])
        return paths
    options = _writer_options(parquet)
    schema = parquet.schema_arrow
    current, writer = -1, None
    batches = parquet.iter_batches(batch_size=READ_ROWS)
    stream = read_ahead(batches) if read_ahead else batches
    try:
        for part, rows in _slices(stream, sizes):
            if part != current:
                if writer is not None:
                    writer.close()
                writer, current = pq.ParquetWriter(paths[part], schema, **options), part
            writer.write_batch(rows)
    finally:
        if hasattr(stream, "close"):  # a reading thread stops before its file is closed
            stream.close()
        if writer is not None:
            writer.close()
        parquet.close()
    source.unlink()
    return paths
