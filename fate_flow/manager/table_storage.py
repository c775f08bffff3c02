"""Tables: a meta row in the database plus Parquet files under ``<home>/data/tables``.

Each write goes to a fresh version directory ``<namespace>/<name>/<version>/``; the meta row is
switched to it only once the data is complete, so a failed upload (with or without drop) never
damages the table it would have replaced. The previous version's files are removed after the switch.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import replace as copy_with
from pathlib import Path

import pyarrow.parquet as pq

from fate_flow.db.connection import write_transaction
from fate_flow.db.models import StorageTableMeta
from fate_flow.entity.table_meta import TableMeta
from fate_flow.errors import AlreadyExistsError, FindFailedError
from fate_flow.utils.paths import UnsafePathError, check_name, confine, within_any
from fate_flow.utils.timeutil import now_ms

STORAGE_ENGINE = "STANDALONE"
STORE_TYPE = "PARQUET"


class TableStorage:
    """This party's tables: meta rows, and the Parquet files under ``tables_dir``."""

    def __init__(self, tables_dir: Path):
        self.tables_dir = tables_dir

    def version_dir(self, namespace: str, name: str, version: str) -> Path:
        """Where version ``version`` (a job id) of a table is written, every part checked."""
        parts = (check_name("namespace", namespace), check_name("table_name", name), check_name("version", version))
        return confine(self.tables_dir, *parts)

    @staticmethod
    def get_meta(namespace: str, name: str) -> StorageTableMeta | None:
        """The table's meta row, or None."""
        return StorageTableMeta.get_or_none(
            (StorageTableMeta.f_namespace == namespace) & (StorageTableMeta.f_name == name)
        )

    def exists(self, namespace: str, name: str) -> bool:
        """Whether the table exists."""
        return self.get_meta(namespace, name) is not None

    def publish(self, meta: TableMeta, job_id: str | None, replace: bool) -> None:
        """Make a completely written version the table's current one (create or replace)."""
        meta = copy_with(meta, job_id=job_id or meta.job_id)
        namespace, name = meta.namespace, meta.name
        new_path = Path(meta.path)
        if not within_any(new_path, [self.tables_dir]) or new_path.resolve() == self.tables_dir.resolve():
            raise UnsafePathError(f"table {namespace}.{name}: its files must be under {self.tables_dir}")
        row = {
            "f_address": {"path": meta.path},
            "f_engine": STORAGE_ENGINE,
            "f_store_type": STORE_TYPE,
            "f_partitions": meta.partitions,
            "f_id_delimiter": meta.id_delimiter,
            "f_have_head": meta.have_head,
            "f_extend_sid": meta.extend_sid,
            "f_auto_increasing_sid": meta.auto_increasing_sid,
            "f_schema": meta.schema,
            "f_count": meta.count,
            "f_part_of_data": meta.part_of_data,
            "f_origin": meta.origin,
            "f_job_id": meta.job_id,
            "f_in_serialized": True,
            "f_update_time": now_ms(),
        }
        with write_transaction():
            old = self.get_meta(namespace, name)
            if old is not None and not replace:
                raise AlreadyExistsError(
                    f"The data table already exists, table_name: {name}, namespace: {namespace}. "
                    "If you still want to continue uploading, please add the parameter --drop"
                )
            old_path = Path(old.f_address.get("path", "")) if old is not None else None
            if old is None:
                StorageTableMeta.insert_row(f_namespace=namespace, f_name=name, **row).execute()
            else:
                StorageTableMeta.update(row).where(
                    (StorageTableMeta.f_namespace == namespace) & (StorageTableMeta.f_name == name)
                ).execute()
        if old_path and old_path != new_path:
            self._remove_dir(old_path)

    def delete(self, namespace: str, name: str) -> StorageTableMeta:
        """Remove a table (row and files); FindFailedError when there is none."""
        meta = self.get_meta(namespace, name)
        if meta is None:
            raise FindFailedError(f"no table found: namespace {namespace}, table_name {name}")
        StorageTableMeta.delete().where(
            (StorageTableMeta.f_namespace == namespace) & (StorageTableMeta.f_name == name)
        ).execute()
        self._remove_dir(Path(meta.f_address.get("path", "")))
        return meta

    def discard_version(self, namespace: str, name: str, version: str) -> None:
        """Remove an unpublished version directory (the current one is never touched)."""
        path = self.version_dir(namespace, name, version)
        meta = self.get_meta(namespace, name)
        if meta is None or Path(meta.f_address.get("path", "")) != path:
            self._remove_dir(path)

    def _remove_dir(self, path: Path) -> None:
        """Remove a version directory, but only ever inside the tables directory."""
        if not str(path) or not path.exists():
            return
        root = self.tables_dir.resolve()
        if root in path.resolve().parents:
            shutil.rmtree(path, ignore_errors=True)
            table_dir = path.parent
            if table_dir != root and table_dir.exists() and not any(table_dir.iterdir()):
                table_dir.rmdir()

    @staticmethod
    def list_tables(namespace: str | None, name: str | None, page: int, limit: int) -> dict:
        """One page of the tables (newest first), filtered by substrings of namespace and name:
        ``{count, tables: [{namespace, table_name, count, partitions, schema, origin, create_time, ...}]}``."""
        query = StorageTableMeta.select()
        if namespace:
            query = query.where(StorageTableMeta.f_namespace.contains(namespace))
        if name:
            query = query.where(StorageTableMeta.f_name.contains(name))
        rows = query.order_by(StorageTableMeta.f_create_time.desc()).paginate(page, limit)
        return {"count": query.count(), "tables": [
            {"namespace": m.f_namespace, "table_name": m.f_name, "count": m.f_count, "partitions": m.f_partitions,
             "schema": m.f_schema, "origin": m.f_origin, "job_id": m.f_job_id, "create_time": m.f_create_time,
             "update_time": m.f_update_time} for m in rows]}

    def preview(self, meta: StorageTableMeta, limit: int) -> dict:
        """The table's first ``limit`` rows as stored: ``{header, rows, count}`` (floats that JSON cannot carry,
        NaN and the infinities, as their names)."""
        directory = Path(str(meta.f_address.get("path", "")))
        if not within_any(directory, [self.tables_dir]):
            raise UnsafePathError(f"table {meta.f_namespace}.{meta.f_name} is not stored under this server's tables")
        files = sorted(p for p in directory.glob("*.parquet") if p.is_file())
        header: list[str] = []
        rows: list[list] = []
        for path in files:
            parquet = pq.ParquetFile(path)
            header = header or parquet.schema_arrow.names
            for batch in parquet.iter_batches(batch_size=max(limit - len(rows), 1)):
                rows.extend([_json_safe(v) for v in row.values()] for row in batch.to_pylist()[:limit - len(rows)])
                break
            if len(rows) >= limit:
                break
        return {"header": header, "rows": rows, "count": meta.f_count}

    @staticmethod
    def table_info(meta: StorageTableMeta | None, namespace: str, name: str) -> dict:
        """FATE's table/table_info data."""
        if meta is None:
            return {"table_name": name, "namespace": namespace, "exist": 0}
        return {
            "table_name": meta.f_name,
            "namespace": meta.f_namespace,
            "exist": 1,
            "count": meta.f_count,
            "partition": meta.f_partitions,
            "schema": meta.f_schema,
            "enable": not meta.f_disable,
            "origin": meta.f_origin,
            "extend_sid": meta.f_extend_sid,
            "address": meta.f_address,
        }


def _json_safe(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf", "-inf"
    return value
