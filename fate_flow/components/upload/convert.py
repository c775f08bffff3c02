"""Upload's conversion: a CSV file becomes a table (Parquet, every column kept as the text the user wrote).

The file is read in blocks by pyarrow's streaming CSV reader and written block by block, so a
multi-GB file never sits in memory. Values stay strings: the table holds exactly what the file
held (no float rounding, no type guessing that a later block could contradict), as FATE's own
storage does; components that compute parse the columns they use.
"""

from __future__ import annotations

import io
import queue
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fate_flow.entity.table_meta import TableMeta
from fate_flow.framework import ComponentError, Context
from fate_flow.utils.growing_file import open_growing

BLOCK_SIZE = 4 << 20
PREVIEW_ROWS = 100
DICTIONARY_SAMPLE_ROWS = 1000
READ_AHEAD_BLOCKS = 2
SID_COLUMN = "sid"


def _open(path: Path, growing: bool) -> BinaryIO:
    """The file, or (while the server still receives it) a reader that waits for it to grow."""
    return open_growing(path) if growing else path.open("rb")


def _header(path: Path, delimiter: str, has_head: bool, growing: bool = False) -> list[str]:
    with _open(path, growing) as stream:
        first = stream.readline().decode("utf-8-sig").rstrip("\r\n")
    if not first:
        raise ComponentError(f"the uploaded file is empty: {path.name}")
    fields = [f.strip() for f in first.split(delimiter)]
    if not has_head:
        return [f"_c{i}" for i in range(len(fields))]
    duplicated = sorted({f for f in fields if fields.count(f) > 1})
    if duplicated:
        raise ComponentError(f"the header repeats column names: {', '.join(duplicated)}")
    if any(not f for f in fields):
        raise ComponentError("the header has an empty column name")
    return fields


def _first_ragged_line(path: Path, delimiter: str, expected: int, growing: bool = False) -> tuple[int, int]:
    """Line number and field count of the first row whose field count differs (error path only)."""
    with io.TextIOWrapper(_open(path, growing), encoding="utf-8-sig", newline="") as stream:
        for number, line in enumerate(stream, start=1):
            stripped = line.rstrip("\r\n")
            if stripped and stripped.count(delimiter) + 1 != expected:
                return number, stripped.count(delimiter) + 1
    return 0, 0


def _reader(source: Path | BinaryIO, names: list[str], delimiter: str, skip: int) -> pacsv.CSVStreamingReader:
    return pacsv.open_csv(
        source,
        # single-threaded parsing: the read-ahead thread already overlaps it with writing, and Arrow's
        # own parsing threads only added memory (and time, on 2 cores)
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=skip, block_size=BLOCK_SIZE, use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter=delimiter),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _read_ahead(batches: Iterable[pa.RecordBatch], depth: int = READ_AHEAD_BLOCKS) -> Iterator[pa.RecordBatch]:
    """``batches``, parsed by a thread while the caller writes the previous ones.

    CSV parsing and Parquet encoding both release the GIL, so on two cores they overlap (1M rows x
    11 columns: 0.9 s instead of 1.3 s). At most ``depth`` parsed blocks wait, so memory stays
    bounded; the reader's errors are raised here, in the caller's thread.
    """
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
        except BaseException as exc:  # noqa: BLE001 (handed to the consumer)
            put(exc)
            return
        put(end)

    thread = threading.Thread(target=produce, name="upload-csv-reader", daemon=True)
    thread.start()
    try:
        while (item := slots.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _with_sid(batch: pa.RecordBatch, offset: int, prefix: str | None) -> pa.RecordBatch:
    index = pa.array(range(offset, offset + batch.num_rows), type=pa.int64()).cast(pa.string())
    if prefix:
        index = pa.compute.binary_join_element_wise(prefix, index, "")
    return pa.RecordBatch.from_arrays([index, *batch.columns], names=[SID_COLUMN, *batch.schema.names])


def _dictionary_columns(batch: pa.RecordBatch) -> list[str]:
    """Columns worth Parquet dictionary encoding: those whose values repeat in the first rows.

    A column of (nearly) unique values, such as float features, fills the dictionary page and then
    falls back to plain encoding anyway: encoding it twice made the write take twice as long, for a
    bigger file. Labels, categories and other repetitive columns keep the dictionary. (A Python set
    over a sample, not pyarrow.compute, whose import alone costs every upload ~70 ms.)
    """
    sample = batch.slice(0, DICTIONARY_SAMPLE_ROWS)
    return [name for name, column in zip(sample.schema.names, sample.columns, strict=True)
            if len(set(column.to_pylist())) <= len(column) // 2]


def _schema(names: list[str], delimiter: str, has_head: bool, meta: dict) -> dict:
    if not has_head:
        schema: dict[str, Any] = {"header": "", "sid": ""}
    else:
        schema = {"header": delimiter.join(names[1:]), "sid": names[0]}
    if meta:
        schema["meta"] = meta
    return schema


def run(ctx: Context) -> None:
    """Convert the CSV file into the table the parameters name, publishing it once complete."""
    params = ctx.params
    path = Path(ctx.server_files.read or params.file)
    if not path.is_file():
        raise ComponentError(f"the file to upload does not exist: {path}")
    try:
        _convert(ctx, path, params.file_in_progress)
    except OSError as exc:  # UploadInterrupted, also when pyarrow hands it back as its own IO error
        raise ComponentError(f"the upload of the file did not complete: {exc}") from exc


def _convert(ctx: Context, path: Path, growing: bool) -> None:
    params = ctx.params
    delimiter, has_head, extend_sid = params.id_delimiter, params.head == 1, params.extend_sid
    auto_increasing = params.auto_increasing_sid
    names = _header(path, delimiter, has_head, growing)
    sid_prefix = None if auto_increasing else uuid.uuid4().hex[:16] + "_"
    out_dir = ctx.named_table.directory
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "data.parquet"
    count, preview, writer = 0, [], None
    source = _open(path, growing) if growing else path
    try:
        for batch in _read_ahead(_reader(source, names, delimiter, 1 if has_head else 0)):
            if extend_sid:
                batch = _with_sid(batch, count, sid_prefix)
            if writer is None:
                # no column statistics: min/max of text columns cost ~20 % of the write, and nothing here
                # filters row groups by them (components read whole tables)
                writer = pq.ParquetWriter(target, batch.schema, compression="snappy",
                                          use_dictionary=_dictionary_columns(batch), write_statistics=False)
            writer.write_batch(batch)
            if len(preview) < PREVIEW_ROWS:
                preview.extend(batch.slice(0, PREVIEW_ROWS - len(preview)).to_pylist())
            count += batch.num_rows
    except pa.ArrowInvalid as exc:
        line, fields = _first_ragged_line(path, delimiter, len(names), growing)
        if line:
            raise ComponentError(
                f"line {line} of {path.name} has {fields} fields but the header has {len(names)}"
            ) from exc
        raise ComponentError(f"{path.name} is not a valid CSV file: {exc}") from exc
    finally:
        if writer is not None:
            writer.close()
        if source is not path:
            source.close()
    if writer is None:  # header only: an empty table still has its columns
        columns = [SID_COLUMN, *names] if extend_sid else names
        pq.write_table(pa.table({n: pa.array([], pa.string()) for n in columns}), target)
    stored_names = [SID_COLUMN, *names] if extend_sid else names
    ctx.logger.info("upload of %s: %s rows into %s", path.name, count, target)
    ctx.named_table.publish(TableMeta(
        namespace=params.namespace, name=params.name, path=str(out_dir), count=count,
        schema=_schema(stored_names, delimiter, has_head or extend_sid, params.meta),
        partitions=params.partition, id_delimiter=delimiter, have_head=has_head, extend_sid=extend_sid,
        auto_increasing_sid=auto_increasing, part_of_data=[list(row.values()) for row in preview], origin="upload",
    ), replace_existing=params.destroy)

