"""An upload on the Spark stack is stored as one Parquet file per partition, rows in order."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fate_flow.components.upload import UploadParams, convert
from fate_flow.components.upload.partitions import part_sizes, split_into_parts
from fate_flow.engine.standalone import StandaloneComputing, parquet_files
from fate_flow.entity.keys import TaskKey
from fate_flow.entity.table_meta import TableMeta
from fate_flow.entity.task_config import ServerFiles
from fate_flow.framework import Context


def _source(directory: Path, rows: int, row_group: int | None = None) -> Path:
    """``data.parquet`` as the upload writes it: text columns, snappy, a dictionary only where values repeat."""
    directory.mkdir(parents=True, exist_ok=True)
    table = pa.table({"id": pa.array([str(i) for i in range(rows)], pa.string()),
                      "y": pa.array([str(i % 2) for i in range(rows)], pa.string()),
                      "x0": pa.array([f"{i * 0.37:.6f}" for i in range(rows)], pa.string())})
    path = directory / "data.parquet"
    pq.write_table(table, path, compression="snappy", use_dictionary=["y"], write_statistics=False,
                   row_group_size=row_group)
    return path


def _rows(paths: list[Path]) -> list[dict]:
    return [row for path in paths for row in pq.read_table(path).to_pylist()]


def test_part_sizes_are_balanced_and_never_empty():
    assert part_sizes(10, 3) == [4, 3, 3]
    assert part_sizes(5, 4) == [2, 1, 1, 1]  # ceil(5 / 4) = 2 each would have made three files
    assert part_sizes(2, 4) == [1, 1]
    assert part_sizes(0, 4) == [0]
    assert part_sizes(7, 1) == [7]
    with pytest.raises(ValueError):
        part_sizes(3, 0)


def test_ten_rows_into_three_parts(tmp_path: Path):
    source = _source(tmp_path, 10)
    original = pq.read_table(source).to_pylist()
    paths = split_into_parts(source, tmp_path, 3)
    assert [p.name for p in paths] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert parquet_files(tmp_path) == paths and not source.exists()
    assert [pq.ParquetFile(p).metadata.num_rows for p in paths] == [4, 3, 3]
    assert _rows(paths) == original


def test_the_parts_keep_the_upload_s_write_options(tmp_path: Path):
    paths = split_into_parts(_source(tmp_path, 10), tmp_path, 2)
    for path in paths:
        group = pq.ParquetFile(path).metadata.row_group(0)
        columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
        assert {c.compression for c in columns.values()} == {"SNAPPY"}
        assert [name for name, c in columns.items() if c.has_dictionary_page] == ["y"]
        assert all(not c.is_stats_set for c in columns.values())


def test_fewer_rows_than_parts_gives_fewer_files(tmp_path: Path):
    paths = split_into_parts(_source(tmp_path, 2), tmp_path, 4)
    assert [p.name for p in paths] == ["part-00000.parquet", "part-00001.parquet"]
    assert parquet_files(tmp_path) == paths
    assert _rows(paths) == [{"id": "0", "y": "0", "x0": "0.000000"}, {"id": "1", "y": "1", "x0": "0.370000"}]


def test_an_empty_table_is_one_empty_file_with_its_columns(tmp_path: Path):
    paths = split_into_parts(_source(tmp_path, 0), tmp_path, 4)
    assert parquet_files(tmp_path) == paths == [tmp_path / "part-00000.parquet"]
    table = pq.read_table(paths[0])
    assert table.num_rows == 0 and table.column_names == ["id", "y", "x0"]


@pytest.mark.parametrize("read_ahead", [None, convert._read_ahead])
def test_a_large_table_keeps_its_order_across_row_groups(tmp_path: Path, read_ahead):
    source = _source(tmp_path, 200_000, row_group=30_000)
    assert pq.ParquetFile(source).metadata.num_row_groups == 7
    paths = split_into_parts(source, tmp_path, 7, read_ahead=read_ahead)
    # 200,000 = 7 x 28,571 + 3: the first three files hold one row more
    assert [pq.ParquetFile(p).metadata.num_rows for p in paths] == [28_572] * 3 + [28_571] * 4
    ids = [int(i) for p in paths for i in pq.read_table(p, columns=["id"]).column("id").to_pylist()]
    assert ids == list(range(200_000))


# -- through the component ------------------------------------------------------------------------------------

class _NamedTable:
    """The upload's output: a fresh directory, and the meta it publishes."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.published: TableMeta | None = None

    def publish(self, meta: TableMeta, replace_existing: bool) -> None:
        self.published = meta


def _upload(tmp_path: Path, engine: str, csv: str, **conf) -> tuple[_NamedTable, TableMeta]:
    path = tmp_path / "input.csv"
    path.write_text(csv)
    params = UploadParams(file=str(path), namespace="experiment", name="t", **conf)
    table = _NamedTable(tmp_path / "tables" / engine)
    ctx = Context(task=TaskKey("job", "upload_0", "job_upload_0", 0, "local", "0"), module="Upload", stage="train",
                  params=params, cores=1, computing=SimpleNamespace(name=engine), inputs=None, outputs=None,
                  models=None, metrics=None, exchange=None, named_table=table, server_files=ServerFiles(),
                  logger=logging.getLogger("test.upload"))
    convert.run(ctx)
    assert table.published is not None
    return table, table.published


CSV = "id,y,x0\n" + "".join(f"{i},{i % 2},{i * 0.5}\n" for i in range(10))


@pytest.mark.parametrize("engine, files", [("spark", ["part-00000.parquet", "part-00001.parquet",
                                                       "part-00002.parquet"]),
                                           ("standalone", ["data.parquet"])])
def test_upload_stores_one_file_per_partition_on_spark_only(tmp_path: Path, engine: str, files: list[str]):
    table, meta = _upload(tmp_path, engine, CSV, partition=3)
    assert [p.name for p in parquet_files(table.directory)] == files
    assert meta.count == 10 and meta.partitions == 3 and meta.part_of_data[0] == ["0", "0", "0.0"]
    rows = StandaloneComputing(1).read(meta)
    assert rows.count() == 10
    assert rows.data.column("id").to_pylist() == [str(i) for i in range(10)]


def test_an_id_and_text_upload_is_split_too(tmp_path: Path):
    csv = "".join(f"{i},{i % 2}" + ",1:0.5" * (i % 3) + "\n" for i in range(5))  # sparse rows: counts differ
    table, meta = _upload(tmp_path, "spark", csv, partition=2, head=0)
    paths = parquet_files(table.directory)
    assert [pq.ParquetFile(p).metadata.num_rows for p in paths] == [3, 2]
    assert meta.count == 5 and "text_header" in meta.schema
    assert [r["_c0"] for r in _rows(paths)] == ["0", "1", "2", "3", "4"]
    assert _rows(paths)[2] == {"_c0": "2", "value": "0,1:0.5,1:0.5"}


def test_partition_one_on_spark_keeps_one_file(tmp_path: Path):
    table, _ = _upload(tmp_path, "spark", CSV, partition=1)
    assert [p.name for p in parquet_files(table.directory)] == ["data.parquet"]
