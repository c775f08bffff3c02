"""Jobs on this party: create, query, list, stop, config."""

from __future__ import annotations

import json
from typing import Any

import peewee

from fate_flow import dsl as dsl_parser
from fate_flow.db.models import Job, Task
from fate_flow.entity.status import client_status
from fate_flow.errors import ArgumentError, FindFailedError, NoDataError
from fate_flow.manager.wait_reasons import WaitReasons
from fate_flow.operation import job_tracker
from fate_flow.runtime import Runtime

JOB_FILTERS = ("job_id", "role", "party_id", "status", "initiator_role", "initiator_party_id", "tag",
               "is_initiator", "name")
TASK_FILTERS = ("job_id", "role", "party_id", "component_name", "status", "task_id", "task_version",
                "party_status", "component_module")
BOARD_ROLES = {"guest", "host", "arbiter", "local"}
BOARD_STATUSES = {"success", "running", "waiting", "failed", "canceled", "timeout"}
MAX_LISTED_IDS = 1000  # a job id filter matching more is applied to the rows themselves
ORDER_FIELDS = {"job_id", "task_version", "create_time", "start_time", "end_time", "elapsed"}


def local_job_conf(component: str, module: str, params: dict, party_id: str = "0",
                   job_parameters: dict | None = None) -> tuple[dict, dict]:
    """DSL and conf of a one-component job of role ``local`` (upload, download, writer ...)."""
    dsl = {"components": {component: {"module": module}}}
    conf = {
        "dsl_version": 2,
        "initiator": {"role": "local", "party_id": int(party_id)},
        "role": {"local": [int(party_id)]},
        "job_parameters": {"common": {"task_parallelism": 1, **(job_parameters or {})}},
        "component_parameters": {"role": {"local": {"0": {component: params}}}},
    }
    return dsl, conf


def job_submit_data(rt: Runtime, job_id: str, role: str, party_id: str, model_info: dict | None = None) -> dict:
    """FATE's submit response ``data``."""
    job_dir = rt.paths.job_dir(job_id)
    s = rt.settings
    return {
        "job_id": job_id,
        "code": 0,
        "message": "success",
        "model_info": model_info or {},
        "logs_directory": str(rt.paths.job_log_dir(job_id)),
        "board_url": f"http://{s.fateboard_host}:{s.fateboard_port}/index.html#/dashboard?"
                     f"job_id={job_id}&role={role}&party_id={party_id}",
        "dsl_path": str(job_dir / "job_dsl.json"),
        "runtime_conf_path": str(job_dir / "job_runtime_conf.json"),
        "runtime_conf_on_party_path": str(job_dir / role / str(party_id) / "job_runtime_on_party_conf.json"),
        "train_runtime_conf_path": str(job_dir / "train_runtime_conf.json"),
        "pipeline_dsl_path": str(job_dir / "pipeline_dsl.json"),
    }


def _where(model: type[peewee.Model], body: dict, names: tuple[str, ...]) -> list:
    conditions = []
    for name in names:
        value = body.get(name)
        if value is None or value == "":
            continue
        column = getattr(model, f"f_{name}")
        if isinstance(value, list):
            conditions.append(column.in_([str(v) for v in value]))
        elif isinstance(value, bool):
            conditions.append(column == value)
        else:
            conditions.append(column == str(value))
    return conditions


def _client_job_dict(job: Job, reasons: WaitReasons | None) -> dict:
    row = job.to_dict()
    row["f_status"] = client_status(row["f_status"])
    reason, position = _waiting(job, reasons)
    if reason is not None:  # what `flow job query` shows of a waiting job
        row["f_wait_reason"], row["f_queue_position"] = reason, position
    return row


def query_jobs(body: dict, reasons: WaitReasons | None = None) -> list[dict]:
    """job/query: raw rows (a waiting job's with what it waits for, from ``reasons``); no recognised filter at
    all matches nothing (as FATE)."""
    conditions = _where(Job, body, JOB_FILTERS)
    if not conditions:
        return []
    return [_client_job_dict(job, reasons) for job in Job.select().where(*conditions)]


def _positive_int(body: dict, name: str, default: int) -> int:
    try:
        value = int(body.get(name) or default)
    except (TypeError, ValueError):
        raise ArgumentError(f"{name} must be an integer, got {body.get(name)!r}") from None
    if value < 0:
        raise ArgumentError(f"{name} must not be negative")
    return value


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _order(model: type[peewee.Model], body: dict, default: str, default_desc: bool) -> peewee.Ordering:
    order_by = body.get("order_by") or default
    if order_by not in ORDER_FIELDS or not hasattr(model, f"f_{order_by}"):
        raise ArgumentError(f"order_by must be one of {sorted(ORDER_FIELDS)}, got {order_by!r}", http_status=400)
    order = body.get("order") or ("desc" if default_desc else "asc")
    if order not in ("asc", "desc"):
        raise ArgumentError(f"order must be asc or desc, got {order!r}", http_status=400)
    column = getattr(model, f"f_{order_by}")
    return column.desc() if order == "desc" else column.asc()


def _board_job_conditions(body: dict) -> list:
    conditions = []
    if body.get("job_id"):
        conditions.append(_job_id_contains(str(body["job_id"])))
    for name in ("description", "tag"):
        if body.get(name):
            conditions.append(getattr(Job, f"f_{name}").contains(str(body[name])))
    if body.get("party_id") not in (None, ""):
        try:
            int(body["party_id"])
        except (TypeError, ValueError):
            raise ArgumentError(f"party_id must be a number, got {body['party_id']!r}", http_status=400) from None
        conditions.append(Job.f_party_id.contains(str(body["party_id"])))
    if body.get("role"):
        roles = _as_list(body["role"])
        if set(roles) - BOARD_ROLES:
            raise ArgumentError(f"role must be among {sorted(BOARD_ROLES)}, got {roles}", http_status=400)
        conditions.append(Job.f_role.in_(roles))
    if body.get("status"):
        statuses = _as_list(body["status"])
        if set(statuses) - BOARD_STATUSES:
            raise ArgumentError(f"status must be among {sorted(BOARD_STATUSES)}, got {statuses}", http_status=400)
        expanded = set(statuses) | ({"ready"} if "waiting" in statuses else set()) | (
            {"pass"} if "success" in statuses else set())
        conditions.append(Job.f_status.in_(sorted(expanded)))
    return conditions


def _job_id_contains(text: str) -> peewee.Expression:
    """Jobs whose id contains ``text``: matched on the ids' index first (a scan of short keys, not of the rows
    with their DSLs and confs: ~10x faster on 100,000 jobs), unless too many match to list."""
    ids = [row.f_job_id for row in Job.select(Job.f_job_id).where(Job.f_job_id.contains(text)).distinct()
           .limit(MAX_LISTED_IDS + 1)]
    return Job.f_job_id.in_(ids) if len(ids) <= MAX_LISTED_IDS else Job.f_job_id.contains(text)


def _created_between(body: dict) -> list:
    conditions = []
    if body.get("create_time_from") is not None:
        conditions.append(Job.f_create_time >= int(body["create_time_from"]))
    if body.get("create_time_to") is not None:
        conditions.append(Job.f_create_time <= int(body["create_time_to"]))
    return conditions


def _waiting(job: Job, reasons: WaitReasons | None) -> tuple[str | None, int | None]:
    """(what a waiting job waits for, its place in its initiator's queue); (None, None) for another status."""
    if job.f_status not in ("waiting", "ready") or reasons is None:
        return None, None
    if not job.f_is_initiator:
        return f"its initiator ({job.f_initiator_role} {job.f_initiator_party_id}) to start it", None
    ahead = Job.select().where((Job.f_is_initiator == True) & (Job.f_status == "waiting")  # noqa: E712
                               & (Job.f_create_time < job.f_create_time)).count()
    reason = reasons.get(job.f_job_id) or "its turn: the scheduler has not tried to start it yet"
    if ahead:
        reason += f" ({ahead} waiting job{'s' if ahead > 1 else ''} ahead, submitted earlier)"
    return reason, ahead + 1


def _board_job_dict(job: Job, reasons: WaitReasons | None = None) -> dict:
    row = job.to_human_dict()
    row["status"] = client_status(row["status"])
    row["party_id"] = int(row["party_id"]) if str(row["party_id"]).isdigit() else row["party_id"]
    me = str(job.f_party_id)
    row["partners"] = sorted({str(p) for role, ids in (job.f_roles or {}).items()
                              if role in ("guest", "host", "arbiter") for p in ids} - {me})
    row["roles"] = job.f_roles
    row["wait_reason"], row["queue_position"] = _waiting(job, reasons)
    return row


def _page(body: dict, cap: int) -> tuple[int, int]:
    """(limit, page): no limit, or one above ``cap``, is ``cap`` (a list never returns more rows)."""
    limit = _positive_int(body, "limit", 0)
    return min(limit or cap, cap), max(_positive_int(body, "page", 1), 1)


def list_jobs(body: dict, page_cap: int, reasons: WaitReasons | None = None) -> dict:
    """job/list/job as FATE-Board pages it: substring filters, paging (at most ``page_cap`` rows), ordering;
    waiting jobs say what they wait for (``wait_reason``, ``queue_position``)."""
    limit, page = _page(body, page_cap)
    conditions = _board_job_conditions(body) + _created_between(body)
    hidden = Job.f_tag == "submit_failed"  # jobs whose submit failed are not shown (as in FATE)
    # two counts that can use indexes beat one that must read every row's tag
    everything = Job.select().where(*conditions) if conditions else Job.select()
    count = everything.count() - Job.select().where(*conditions, hidden).count()
    query = Job.select().where(*conditions, Job.f_tag != "submit_failed")
    query = query.order_by(_order(Job, body, "create_time", True)).paginate(page, limit)
    return {"jobs": [_board_job_dict(job, reasons) for job in query], "count": count}


def latest_tasks(conditions: list) -> list[Task]:
    """Only the newest version of each (task, role, party) (reruns add versions)."""
    tasks = Task.select().where(*conditions).order_by(Task.f_task_version.desc())
    latest: dict[tuple, Task] = {}
    for task in tasks:
        latest.setdefault((task.f_task_id, task.f_role, task.f_party_id), task)
    return sorted(latest.values(), key=lambda t: (t.f_create_time or 0, t.f_task_id))


def query_tasks(body: dict) -> list[dict]:
    """task/query: raw rows of the newest version of each matching task; FindFailedError when no filter
    is given or nothing matches."""
    conditions = _where(Task, body, TASK_FILTERS)
    if not conditions:
        raise FindFailedError("find task failed: give at least one of " + ", ".join(TASK_FILTERS))
    tasks = latest_tasks(conditions)
    if not tasks:
        raise FindFailedError("find task failed")
    rows = []
    for task in tasks:
        row = task.to_dict()
        row["f_status"], row["f_party_status"] = client_status(row["f_status"]), client_status(row["f_party_status"])
        rows.append(row)
    return rows


def list_tasks(body: dict, page_cap: int) -> dict:
    """job/list/task as FATE-Board pages it: exact filters, paging (at most ``page_cap`` rows), ordering;
    every task version is a row."""
    limit, page = _page(body, page_cap)
    query = Task.select().where(*(_where(Task, body, ("job_id", "role", "party_id", "component_name")) or [True]))
    count = query.count()
    query = query.order_by(_order(Task, body, "create_time", False)).paginate(page, limit)
    rows = []
    for task in query:
        row = task.to_human_dict()
        row["status"], row["party_status"] = client_status(row["status"]), client_status(row["party_status"])
        rows.append(row)
    return {"tasks": rows, "count": count}


def find_jobs(job_id: str, role: str | None = None, party_id: str | None = None) -> list[Job]:
    """The job's rows on this server (one per role and party it serves), narrowed to ``role`` and
    ``party_id`` when given."""
    conditions = [Job.f_job_id == job_id]
    if role:
        conditions.append(Job.f_role == role)
    if party_id not in (None, ""):
        conditions.append(Job.f_party_id == str(party_id))
    return list(Job.select().where(*conditions))


def job_config(job_id: str, role: str | None = None, party_id: str | None = None) -> dict:
    """job/config: the job's DSL, confs and model id/version (from its first row here); FindFailedError
    when this party holds no such job."""
    jobs = find_jobs(job_id, role, party_id)
    if not jobs:
        raise FindFailedError(f"find job failed: no job {job_id!r} on this party")
    job = jobs[0]
    conf = job.f_runtime_conf_on_party or {}
    params = conf.get("job_parameters", {})
    return {
        "job_id": job.f_job_id,
        "dsl": job.f_dsl,
        "runtime_conf": job.f_runtime_conf,
        "train_runtime_conf": job.f_train_runtime_conf,
        "model_info": {"model_id": params.get("model_id", ""), "model_version": params.get("model_version", "")},
    }


def predict_dsl(train_dsl: Any, cpn_str: Any) -> dict:
    """job/dsl/generate: the train DSL arrives as JSON text (CLI) or an object; cpn_str as a list or "a,b"."""
    if isinstance(train_dsl, str):
        try:
            train_dsl = json.loads(train_dsl)
        except json.JSONDecodeError as exc:
            raise ArgumentError(f"train_dsl is not valid JSON: {exc}") from None
    try:
        return dsl_parser.generate_predict_dsl(train_dsl, dsl_parser.component_names(cpn_str) or [])
    except dsl_parser.DSLError as exc:
        raise NoDataError(f"cannot generate the predict dsl: {exc}") from None


def output_data_rows(job_id: str, role: str | None = None, party_id: str | None = None,
                     component_name: str | None = None) -> list[dict]:
    """job/data/view/query: the job's output data infos (every task version), narrowed by role, party
    and component when given."""
    infos = job_tracker.job_output_data_infos(job_id, role=role, party_id=party_id, component_name=component_name)
    return [info.to_dict() for info in infos]


def waiting_initiated_jobs() -> list[str]:
    """Ids of the jobs this server initiated that are still waiting."""
    return [job.f_job_id for job in Job.select(Job.f_job_id).where(
        (Job.f_is_initiator == True) & (Job.f_status == "waiting"))]  # noqa: E712
