"""Upload's conversion: a CSV file becomes a table (Parquet, every value kept as the text the user wrote).

The file is read in blocks by pyarrow's streaming CSV reader and written block by block, so a
multi-GB file never sits in memory. Values stay strings: the table holds exactly what the file
held (no float rounding, no type guessing that a later block could contradict), as FATE's own
storage does; components that compute parse the columns they use.

A file is stored in one of two layouts:

- columns (a table): one column per field, named by the header (``_c0``, ``_c1`` ... without one). This is
  every file whose header names each column once and whose rows all have as many fields as the header.
- id + text, FATE's own key/value storage: the first field of each line is the id and the rest of the line
  (after the first delimiter, trailing blanks removed) one text column ``value``; the schema's ``header`` is
  ``value`` and ``text_header`` keeps FATE's header string (the first line without its id; "" without a
  head). DataTransform's ``sparse`` and ``tag`` formats read it. A file is stored so when its rows are sparse
  or tag data rather than a table, that is when

  1. the upload's ``meta`` says ``input_format`` sparse, svmlight or tag, or
  2. ``head`` is 1 and the header repeats a name (svmlight rows, whose first line is data: ``1,1,0:0.5`` ...), or
  3. the rows' field counts differ and either ``head`` is 0 (no header promises columns) or the first line
     holds a ``key:value`` field after its id (it is a row of sparse or tag data, not column names).

  Every other file keeps the columns layout; a header with an empty name, or rows that do not match a header
  of plain names, is refused as before. Rows whose counts differ are usually found in the first block; when
  one is found later the file is simply read again, in the id + text layout (still streamed).

Either layout is one file, ``data.parquet``. On the Spark stack (the task's computing engine is ``spark``)
an upload whose ``partition`` is above 1 is then split into that many files, ``part-00000.parquet`` ...
(contiguous ranges of rows, in order; see ``partitions``), which Spark reads in parallel.
"""

from __future__ import annotations

import io
import queue
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fate_flow.components.upload import TEXT_HEADER
from fate_flow.components.upload.partitions import split_into_parts
from fate_flow.entity.table_meta import TableMeta
from fate_flow.framework import ComponentError, Context
from fate_flow.utils.growing_file import open_growing

BLOCK_SIZE = 4 << 20
PREVIEW_ROWS = 100
DICTIONARY_SAMPLE_ROWS = 1000
READ_AHEAD_BLOCKS = 2
SID_COLUMN = "sid"
TEXT_COLUMN = "value"
TEXT_FORMATS = ("sparse", "svmlight", "tag")
PAIR_DELIMITER = ":"  # FATE's index:value and (by default) tag:value separator
LINE_SEPARATOR = "\x1f"  # the CSV reader's delimiter when it reads whole lines: no text file holds it
PARTITIONED_ENGINES = ("spark",)  # computing engines whose tables are stored one Parquet file per partition


class _Ragged(Exception):
    """A row's field count differs from the first line's (``line`` 1-based, its ``fields``)."""

    def __init__(self, line: int, fields: int):
        super().__init__(f"line {line} has {fields} fields")
        self.line, self.fields = line, fields


def _open(path: Path, growing: bool) -> BinaryIO:
    """The file, or (while the server still receives it) a reader that waits for it to grow."""
    return open_growing(path) if growing else path.open("rb")


@contextmanager
def _source(path: Path, growing: bool) -> Iterator[Path | BinaryIO]:
    """What the CSV reader reads: the path itself, or a growing file's reader (closed afterwards)."""
    if not growing:
        yield path
        return
    stream = _open(path, growing)
    try:
        yield stream
    finally:
        stream.close()


def _first_line(path: Path, growing: bool = False) -> str:
    with _open(path, growing) as stream:
        first = stream.readline().decode("utf-8-sig").rstrip("\r\n")
    if not first:
        raise ComponentError(f"the uploaded file is empty: {path.name}")
    return first


def _column_names(fields: list[str], has_head: bool) -> list[str]:
    """The columns layout's names: the header's, or ``_c0`` ... without one."""
    if not has_head:
        return [f"_c{i}" for i in range(len(fields))]
    if any(not f for f in fields):
        raise ComponentError("the header has an empty column name")
    return fields


def _text_reason(fields: list[str], has_head: bool, meta: dict) -> str | None:
    """Why the file is stored as id + text before reading its rows (rules 1 and 2), or None."""
    if str(meta.get("input_format", "")).lower() in TEXT_FORMATS:
        return f"the upload's meta says input_format {meta['input_format']}"
    duplicated = sorted(name for name, count in Counter(fields).items() if count > 1) if has_head else []
    if duplicated:
        return f"the header repeats {', '.join(duplicated[:5])}: its first line is data"
    return None


def _holds_pairs(fields: list[str], meta: dict) -> bool:
    """Whether a line's fields after its id include a key:value pair (sparse or tag-value data)."""
    pair = str(meta.get("tag_value_delimiter") or PAIR_DELIMITER)
    return any(pair in field for field in fields[1:])


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


def _line_reader(source: Path | BinaryIO, skip: int) -> pacsv.CSVStreamingReader:
    """Whole lines, one string each: no delimiter, no quoting (FATE splits lines itself, quotes and all)."""
    return pacsv.open_csv(
        source,
        read_options=pacsv.ReadOptions(column_names=["line"], skip_rows=skip, block_size=BLOCK_SIZE,
                                       use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter=LINE_SEPARATOR, quote_char=False, escape_char=False),
        convert_options=pacsv.ConvertOptions(column_types={"line": pa.string()}, strings_can_be_null=False),
    )


def _text_rows(lines: Iterable[pa.RecordBatch], delimiter: str, names: tuple[str, str] | None
               ) -> Iterator[pa.RecordBatch]:
    """Lines as (id, rest of the line) rows, or as the whole line when ``names`` is None (extend_sid)."""
    split = f"^(?P<id>[^{re.escape(delimiter)}]*)(?:{re.escape(delimiter)}(?P<value>.*))?$"
    for batch in lines:
        text = pc.utf8_rtrim_whitespace(batch.column(0))
        text = text.filter(pc.not_equal(text, ""))  # blank lines are no rows
        if names is None:
            yield pa.RecordBatch.from_arrays([text], names=[TEXT_COLUMN])
            continue
        parts = pc.extract_regex(text, split)
        value = pc.fill_null(parts.field("value"), "")  # a line that is only an id
        yield pa.RecordBatch.from_arrays([parts.field("id"), value], names=list(names))


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
        index = pc.binary_join_element_wise(prefix, index, "")
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


def _store(batches: Iterable[pa.RecordBatch], target: Path, columns: list[str], extend_sid: bool,
           sid_prefix: str | None) -> tuple[int, list[list[Any]]]:
    """Write the rows to ``target`` (an empty table with ``columns`` when there are none): count and preview."""
    count, preview, writer = 0, [], None
    try:
        for batch in batches:
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
    finally:
        if writer is not None:
            writer.close()
    if writer is None:  # header only: an empty table still has its columns
        names = [SID_COLUMN, *columns] if extend_sid else columns
        pq.write_table(pa.table({n: pa.array([], pa.string()) for n in names}), target)
    return count, [list(row.values()) for row in preview]


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
    delimiter, has_head = params.id_delimiter, params.head == 1
    first = _first_line(path, growing)
    fields = [f.strip() for f in first.split(delimiter)]
    sid_prefix = None if params.auto_increasing_sid else uuid.uuid4().hex[:16] + "_"
    out_dir = ctx.named_table.directory
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "data.parquet"
    reason = _text_reason(fields, has_head, params.meta)
    if reason is None:
        names = _column_names(fields, has_head)
        try:
            count, preview = _store_columns(params, path, growing, names, target, sid_prefix)
            schema = _schema([SID_COLUMN, *names] if params.extend_sid else names, delimiter,
                             has_head or params.extend_sid, params.meta)
        except _Ragged as ragged:
            if has_head and not _holds_pairs(fields, params.meta):
                raise ComponentError(
                    f"line {ragged.line} of {path.name} has {ragged.fields} fields but the header has {len(names)} "
                    "(rows of sparse or tag data are stored as id + text with head 0, or with meta input_format)"
                ) from None
            reason = f"{ragged}, the first line {len(fields)}"
    if reason is not None:
        ctx.logger.info("upload of %s: stored as id + text (%s)", path.name, reason)
        count, preview, schema = _store_text(params, path, growing, first, target, sid_prefix)
    if ctx.computing.name.lower() in PARTITIONED_ENGINES and params.partition > 1:
        files = split_into_parts(target, out_dir, params.partition, read_ahead=_read_ahead)
        ctx.logger.info("upload of %s: %s rows into %s files in %s", path.name, count, len(files), out_dir)
    else:
        ctx.logger.info("upload of %s: %s rows into %s", path.name, count, target)
    ctx.named_table.publish(TableMeta(
        namespace=params.namespace, name=params.name, path=str(out_dir), count=count, schema=schema,
        partitions=params.partition, id_delimiter=delimiter, have_head=has_head, extend_sid=params.extend_sid,
        auto_increasing_sid=params.auto_increasing_sid, part_of_data=preview, origin="upload",
    ), replace_existing=params.destroy)


def _store_columns(params: Any, path: Path, growing: bool, names: list[str], target: Path,
                   sid_prefix: str | None) -> tuple[int, list[list[Any]]]:
    """The columns layout; raises _Ragged when a row's field count differs from the first line's."""
    delimiter = params.id_delimiter
    try:
        with _source(path, growing) as source:
            batches = _read_ahead(_reader(source, names, delimiter, 1 if params.head == 1 else 0))
            return _store(batches, target, names, params.extend_sid, sid_prefix)
    except pa.ArrowInvalid as exc:
        line, fields = _first_ragged_line(path, delimiter, len(names), growing)
        if line:
            raise _Ragged(line, fields) from exc
        raise ComponentError(f"{path.name} is not a valid CSV file: {exc}") from exc


def _store_text(params: Any, path: Path, growing: bool, first: str, target: Path,
                sid_prefix: str | None) -> tuple[int, list[list[Any]], dict[str, Any]]:
    """The id + text layout: count, preview and schema (FATE's header string under ``text_header``)."""
    delimiter, has_head = params.id_delimiter, params.head == 1
    head_id, _, head_rest = first.partition(delimiter)
    if params.extend_sid:  # the generated id is the key; the whole line is the value, as in FATE
        id_name, value_name, names = SID_COLUMN, TEXT_COLUMN, None
        header_text = first.strip() if has_head else ""
    else:
        id_name = (head_id.strip() or SID_COLUMN) if has_head else "_c0"
        value_name = TEXT_COLUMN if id_name != TEXT_COLUMN else f"_{TEXT_COLUMN}"
        names = (id_name, value_name)
        header_text = head_rest.strip() if has_head else ""
    try:
        with _source(path, growing) as source:
            lines = _line_reader(source, 1 if has_head else 0)
            count, preview = _store(_read_ahead(_text_rows(lines, delimiter, names)), target,
                                    list(names or (value_name,)), params.extend_sid, sid_prefix)
    except pa.ArrowInvalid as exc:
        raise ComponentError(f"{path.name} is not a text file of rows: {exc}") from exc
    schema: dict[str, Any] = {"header": value_name, "sid": id_name, TEXT_HEADER: header_text}
    if params.meta:
        schema["meta"] = params.meta
    return count, preview, schema
