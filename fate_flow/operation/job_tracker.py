"""What tasks produce: metrics, output data info, summaries, component models (write and read).

Reads keep only the latest task version of each (task, data name), so a rerun replaces what its
previous version produced.
"""

from __future__ import annotations

from typing import Any

import peewee

from fate_flow.db.connection import write_transaction
from fate_flow.db.models import ComponentModel, ComponentSummary, TrackingMetric, TrackingOutputDataInfo
from fate_flow.entity.keys import TaskKey

METRIC_META, METRIC_DATA, JOB_VIEW = 0, 1, 2


def _fields(key: TaskKey) -> dict:
    """The columns naming the task version that produced a row."""
    return {"f_job_id": key.job_id, "f_component_name": key.component_name, "f_task_id": key.task_id,
            "f_task_version": key.task_version, "f_role": key.role, "f_party_id": key.party_id}


def _of(model: type[peewee.Model], job_id: str, component_name: str, role: str, party_id: str) -> peewee.Expression:
    return ((model.f_job_id == job_id) & (model.f_component_name == component_name) & (model.f_role == role)
            & (model.f_party_id == str(party_id)))


def save_metric_data(key: TaskKey, namespace: str, name: str, points: list[list[Any]]) -> None:
    """Append data points ``[key, value]`` to a metric of the task, in order, all or none."""
    common = {**_fields(key), "f_metric_namespace": namespace, "f_metric_name": name, "f_type": METRIC_DATA}
    with write_transaction():
        TrackingMetric.insert_rows([{**common, "f_key": point_key, "f_value": value} for point_key, value in points])


def save_metric_meta(key: TaskKey, namespace: str, name: str, meta: dict) -> None:
    """Add meta to a metric of the task; reads merge every meta row of the latest version."""
    TrackingMetric.insert_row(**_fields(key), f_metric_namespace=namespace, f_metric_name=name, f_key=None,
                              f_value=meta, f_type=METRIC_META).execute()


def _metric_rows(job_id: str, component_name: str, role: str, party_id: str, **filters: str) -> peewee.ModelSelect:
    condition = _of(TrackingMetric, job_id, component_name, role, party_id)
    for name, value in filters.items():
        condition &= getattr(TrackingMetric, f"f_{name}") == value
    latest = (TrackingMetric.select(peewee.fn.MAX(TrackingMetric.f_task_version))
              .where(_of(TrackingMetric, job_id, component_name, role, party_id)))
    return TrackingMetric.select().where(condition & ((TrackingMetric.f_task_version == latest)
                                                      | TrackingMetric.f_task_version.is_null()))


def metric_names(job_id: str, component_name: str, role: str, party_id: str) -> dict[str, list[str]]:
    """Metric names by namespace, of the component's latest task version (the job view excluded)."""
    names: dict[str, list[str]] = {}
    for row in _metric_rows(job_id, component_name, role, party_id).where(TrackingMetric.f_type != JOB_VIEW):
        bucket = names.setdefault(row.f_metric_namespace, [])
        if row.f_metric_name not in bucket:
            bucket.append(row.f_metric_name)
    return names


def metric(job_id: str, component_name: str, role: str, party_id: str, namespace: str,
           name: str) -> tuple[list[list[Any]], dict]:
    """FATE's metric_data: points sorted by key, and the meta."""
    rows = list(_metric_rows(job_id, component_name, role, party_id, metric_namespace=namespace, metric_name=name))
    points = sorted(([r.f_key, r.f_value] for r in rows if r.f_type == METRIC_DATA), key=lambda p: _sort_key(p[0]))
    meta: dict = {}
    for row in rows:
        if row.f_type == METRIC_META:
            meta.update(row.f_value or {})
    return points, meta


def _sort_key(key: Any) -> tuple:
    return (0, key, "") if isinstance(key, (int, float)) else (1, 0, str(key))


def all_metrics(job_id: str, component_name: str, role: str, party_id: str) -> dict:
    """Every metric of the component's latest task version: namespace -> name -> {data, meta}."""
    result: dict = {}
    for namespace, names in metric_names(job_id, component_name, role, party_id).items():
        for name in names:
            data, meta = metric(job_id, component_name, role, party_id, namespace, name)
            result.setdefault(namespace, {})[name] = {"data": data, "meta": meta}
    return result


def delete_metrics(job_id: str) -> int:
    """Delete every metric row of the job (its job views too); returns how many."""
    return TrackingMetric.delete().where(TrackingMetric.f_job_id == job_id).execute()


def save_job_view(job_id: str, role: str, party_id: str, view: dict) -> None:
    """Record a party's view of the job (FATE-Board's); the newest one saved is the one read."""
    TrackingMetric.insert_row(f_job_id=job_id, f_component_name="pipeline", f_role=role, f_party_id=str(party_id),
                              f_metric_namespace="job", f_metric_name="job_view", f_key=None, f_value=view,
                              f_type=JOB_VIEW).execute()


def job_view(job_id: str, role: str, party_id: str) -> dict | None:
    """The newest job view saved for the party, or None."""
    row = (TrackingMetric.select().where(_of(TrackingMetric, job_id, "pipeline", role, party_id)
                                         & (TrackingMetric.f_type == JOB_VIEW))
           .order_by(TrackingMetric.f_id.desc()).first())
    return row.f_value if row else None


def save_output_data_info(key: TaskKey, data_name: str, table_namespace: str, table_name: str) -> None:
    """Record a table as the task version's output ``data_name``, replacing what that name recorded before."""
    TrackingOutputDataInfo.insert_row(**_fields(key), f_data_name=data_name, f_table_namespace=table_namespace,
                                      f_table_name=table_name).on_conflict_replace().execute()


def output_data_infos(job_id: str, component_name: str, role: str, party_id: str) -> list[TrackingOutputDataInfo]:
    """The output tables of the component's latest task version, in the order they were saved."""
    rows = list(TrackingOutputDataInfo.select().where(_of(TrackingOutputDataInfo, job_id, component_name, role,
                                                          party_id)).order_by(TrackingOutputDataInfo.f_create_time))
    if not rows:
        return []
    latest = max(r.f_task_version for r in rows)
    return [r for r in rows if r.f_task_version == latest]


def job_output_data_infos(job_id: str, **filters: Any) -> list[TrackingOutputDataInfo]:
    """The job's output data infos of every task version, narrowed by the non-empty ``filters``
    (column names without ``f_``)."""
    condition = TrackingOutputDataInfo.f_job_id == job_id
    for name, value in filters.items():
        if value not in (None, ""):
            condition &= getattr(TrackingOutputDataInfo, f"f_{name}") == str(value)
    return list(TrackingOutputDataInfo.select().where(condition))


def save_summary(key: TaskKey, summary: dict) -> None:
    """Set the task version's summary, replacing the one it saved before."""
    with write_transaction():
        ComponentSummary.delete().where(_of(ComponentSummary, key.job_id, key.component_name, key.role, key.party_id)
                                        & (ComponentSummary.f_task_version == key.task_version)).execute()
        ComponentSummary.insert_row(**_fields(key), f_summary=summary).execute()


def summary(job_id: str, component_name: str, role: str, party_id: str) -> dict | None:
    """The summary of the component's newest task version that saved one, or None."""
    row = (ComponentSummary.select().where(_of(ComponentSummary, job_id, component_name, role, party_id))
           .order_by(ComponentSummary.f_task_version.desc()).first())
    return row.f_summary if row else None


def register_model(key: TaskKey, alias: str, module_name: str, directory: str, manifest: dict) -> None:
    """Record the model ``alias`` a task wrote into ``directory`` (a rerun's version replaces nothing of the
    earlier one's; reads take the latest version)."""
    with write_transaction():
        ComponentModel.delete().where(_of(ComponentModel, key.job_id, key.component_name, key.role, key.party_id)
                                      & (ComponentModel.f_task_version == key.task_version)
                                      & (ComponentModel.f_model_alias == alias)).execute()
        ComponentModel.insert_row(**_fields(key), f_model_alias=alias, f_module_name=module_name,
                                  f_directory=directory, f_manifest=manifest, f_param={}, f_meta={}).execute()


def model(job_id: str, component_name: str, role: str, party_id: str) -> ComponentModel | None:
    """The latest task version's model of a component (the first registered alias)."""
    return (ComponentModel.select().where(_of(ComponentModel, job_id, component_name, role, party_id))
            .order_by(ComponentModel.f_task_version.desc(), ComponentModel.f_id.desc()).first())


def models(job_id: str, component_name: str, role: str, party_id: str) -> list[ComponentModel]:
    """Every model (alias) of the latest task version of a component that registered any."""
    rows = list(ComponentModel.select().where(_of(ComponentModel, job_id, component_name, role, party_id))
                .order_by(ComponentModel.f_id))
    if not rows:
        return []
    latest = max(r.f_task_version for r in rows)
    return [r for r in rows if r.f_task_version == latest]
