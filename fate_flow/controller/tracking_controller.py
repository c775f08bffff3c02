"""What the tracking APIs show: a component's metrics, parameters, models and output data."""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fate_flow.controller import model_controller
from fate_flow.db.models import Job, Task
from fate_flow.engine.model_files import ModelFileError, read_param_and_meta
from fate_flow.entity.keys import JobKey
from fate_flow.errors import ArgumentError, DataError, FindFailedError, NoDataError, require
from fate_flow.manager.model_store import ModelStore
from fate_flow.manager.table_storage import TableStorage
from fate_flow.operation import job_tracker

PREVIEW_ROWS = 100


def locate(body: dict, need_component: bool = True) -> tuple[str, str, str, str]:
    """(job_id, component, role, party_id); role and party default to the job's initiator, as in FATE."""
    require(body, "job_id", *(["component_name"] if need_component else []))
    job_id = str(body["job_id"])
    role, party_id = body.get("role"), body.get("party_id")
    if not role or party_id in (None, ""):
        job = Job.get_or_none(Job.f_job_id == job_id)
        if job is None:
            raise FindFailedError(f"no job {job_id} on this party")
        role, party_id = job.f_initiator_role, job.f_initiator_party_id
    return job_id, str(body.get("component_name") or ""), str(role), str(party_id)


def component_list(job_id: str) -> list[str]:
    """The component names of the job's DSL; FindFailedError when this party holds no such job."""
    job = Job.get_or_none(Job.f_job_id == job_id)
    if job is None:
        raise FindFailedError(f"no job {job_id} on this party")
    return list((job.f_dsl or {}).get("components", {}))


def parameters(job_id: str, component: str, role: str, party_id: str) -> dict:
    """The newest task version's component parameters as FATE-Board reads them (``module`` and
    ``<module>Param``); FindFailedError when the party has no such task."""
    task = (Task.select().where((Task.f_job_id == job_id) & (Task.f_component_name == component)
                                & (Task.f_role == role) & (Task.f_party_id == party_id))
            .order_by(Task.f_task_version.desc()).first())
    if task is None:
        raise FindFailedError(f"no task of component {component} for {role} {party_id} in job {job_id}")
    module = task.f_component_module
    return {"module": module, f"{module}Param": task.f_component_parameters.get("ComponentParam", {})}


def output_model(job_id: str, component: str, role: str, party_id: str,
                 store: ModelStore | None = None) -> tuple[dict, dict]:
    """A component's model as FATE-Board reads it: its parameters, and {meta_data, module_name, model_alias}.
    In a predict job, the deployed model the component loaded."""
    model = job_tracker.model(job_id, component, role, party_id)
    if model is None:
        return _deployed_model(job_id, component, role, party_id, store) if store else ({}, {})
    if model.f_directory:
        try:
            param, meta = read_param_and_meta(Path(model.f_directory))
        except ModelFileError as exc:
            raise DataError(f"the model of {component} cannot be read: {exc}") from None
    else:  # registered before schema 5, as JSON
        param, meta = model.f_param, model.f_meta
    return param, {"meta_data": meta, "module_name": model.f_module_name, "model_alias": model.f_model_alias}


def _deployed_model(job_id: str, component: str, role: str, party_id: str, store: ModelStore) -> tuple[dict, dict]:
    """The deployed model a predict job's component loaded (its first alias), as ``output_model`` answers."""
    job = Job.find(JobKey(job_id, role, party_id))
    params = ((job.f_runtime_conf_on_party or {}).get("job_parameters") or {}) if job else {}
    if params.get("job_type") != "predict":
        return {}, {}
    module, aliases = model_controller.deployed_models(store, role, party_id, params).get(component, ("", {}))
    if not aliases:
        return {}, {}
    alias, directory = next(iter(aliases.items()))
    try:
        param, meta = read_param_and_meta(Path(directory))
    except ModelFileError as exc:
        raise DataError(f"the deployed model of {component} cannot be read: {exc}") from None
    return param, {"meta_data": meta, "module_name": module, "model_alias": alias}


def _tables(storage: TableStorage, job_id: str, component: str, role: str, party_id: str) -> list[tuple[str, Any]]:
    found = []
    for info in job_tracker.output_data_infos(job_id, component, role, party_id):
        meta = storage.get_meta(info.f_table_namespace, info.f_table_name)
        if meta is not None:
            found.append((info.f_data_name, meta))
    return found


def output_tables(job_id: str, component: str, role: str, party_id: str) -> list[dict]:
    """The name, namespace and data name of each output table of the component's latest task version
    (whether or not the table still exists)."""
    infos = job_tracker.output_data_infos(job_id, component, role, party_id)
    return [{"table_name": i.f_table_name, "table_namespace": i.f_table_namespace, "data_name": i.f_data_name}
            for i in infos]


class _StoredFiles:
    """A stored table's Parquet files (one, or one per partition) read as one, in name order."""

    def __init__(self, directory: Path):
        import pyarrow.parquet as pq  # imported when output data is read, not by every server at start

        files = sorted(p for p in directory.glob("*.parquet") if p.is_file())
        if not files:
            raise NoDataError(f"the table at {directory} has no data files")
        self._files = [pq.ParquetFile(f) for f in files]
        self.schema_arrow = self._files[0].schema_arrow

    def iter_batches(self, batch_size: int) -> Iterator[Any]:
        for file in self._files:
            yield from file.iter_batches(batch_size=batch_size)


def _parquet(meta: Any) -> _StoredFiles:
    return _StoredFiles(Path(meta.f_address["path"]))


def output_data_preview(storage: TableStorage, job_id: str, component: str, role: str,
                        party_id: str) -> tuple[list, dict]:
    """At most 100 rows of each output table, and FATE's meta {header, total, names}."""
    rows, headers, totals, names = [], [], [], []
    for data_name, meta in _tables(storage, job_id, component, role, party_id):
        parquet = _parquet(meta)
        batch = next(parquet.iter_batches(batch_size=PREVIEW_ROWS), None)
        rows.append([list(row.values()) for row in batch.to_pylist()] if batch is not None else [])
        headers.append(parquet.schema_arrow.names)
        totals.append(meta.f_count)
        names.append(data_name)
    return rows, {"header": headers, "total": totals, "names": names}


def output_data_tar(storage: TableStorage, job_id: str, component: str, role: str, party_id: str,
                    limit: int) -> tuple[Any, str]:
    """A tar.gz with ``<data_name>.csv`` (header line first) and ``<data_name>.meta`` per output table."""
    tables = _tables(storage, job_id, component, role, party_id)
    if not tables:
        raise NoDataError(f"no output data for component {component} of {role} {party_id} in job {job_id}")
    import pyarrow.csv as pacsv

    from fate_flow.engine.standalone import csv_quoting

    archive = tempfile.SpooledTemporaryFile(max_size=32 << 20)  # noqa: SIM115 (returned, closed by the sender)
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for data_name, meta in tables:
            parquet = _parquet(meta)
            csv_bytes = io.BytesIO()
            written = 0
            quoting = csv_quoting(parquet.iter_batches(batch_size=65536))
            with pacsv.CSVWriter(csv_bytes, parquet.schema_arrow, write_options=pacsv.WriteOptions(
                    include_header=True, quoting_style=quoting, quoting_header="none")) as writer:
                for batch in parquet.iter_batches(batch_size=65536):
                    if 0 <= limit <= written:
                        break
                    if limit >= 0:
                        batch = batch.slice(0, limit - written)
                    writer.write_batch(batch)
                    written += batch.num_rows
            _add(tar, f"{data_name}.csv", csv_bytes.getvalue())
            _add(tar, f"{data_name}.meta", json.dumps({"header": parquet.schema_arrow.names}).encode())
    archive.seek(0)
    return archive, f"job_{job_id}_{component}_{role}_{party_id}_output_data.tar.gz"


def _add(tar: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    tar.addfile(info, io.BytesIO(content))


def job_data_view(job_id: str, role: str, party_id: str) -> dict:
    """FATE-Board's job data view: the roles, this party's partners and the table each party's components
    read by name; FindFailedError when this party holds no such job."""
    job = Job.get_or_none((Job.f_job_id == job_id) & (Job.f_role == role) & (Job.f_party_id == party_id))
    if job is None:
        raise FindFailedError(f"no job {job_id} for {role} {party_id} on this party")
    roles = {r: [int(p) if str(p).isdigit() else p for p in ids] for r, ids in (job.f_roles or {}).items()}
    partner = {r: [p for p in ids if not (r == role and str(p) == party_id)] for r, ids in roles.items()}
    dataset: dict = {}
    conf = job.f_runtime_conf or {}
    for cpn_role, by_index in (conf.get("component_parameters", {}).get("role", {}) or {}).items():
        for index, params in (by_index or {}).items():
            for component, values in (params or {}).items():
                table = (values or {}).get("table") if isinstance(values, dict) else None
                if table and index.isdigit() and int(index) < len(roles.get(cpn_role, [])):
                    party = str(roles[cpn_role][int(index)])
                    dataset.setdefault(cpn_role, {}).setdefault(party, {})[component] = (
                        f"{table.get('namespace')}.{table.get('name')}")
    return {"partner": partner, "dataset": dataset, "roles": roles, "model_summary": {}}


def limit_of(body: dict) -> int:
    """The body's ``limit`` as an int (-1, no limit, when absent); ArgumentError when it is not a number."""
    try:
        return int(body.get("limit", -1))
    except (TypeError, ValueError):
        raise ArgumentError(f"limit must be an integer, got {body.get('limit')!r}") from None
