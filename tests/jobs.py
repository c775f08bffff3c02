"""Running DSL jobs against a real server in tests: upload, submit, wait, read what a component recorded.

The algorithm tests use these so that each reads as "this job, on these tables, learns this".
"""

from __future__ import annotations

import csv
import io
import json
import tarfile
import time
from pathlib import Path
from typing import Any

import requests

from tests.support import ServerProcess, upload_multipart

REPO = Path(__file__).resolve().parent.parent
FATE_DATA = REPO / "tests" / "data" / "fate-data"  # FATE's example tables the tests use (copied from FATE 1.11.2)
FINAL = ("success", "failed", "canceled", "timeout")


# reader -> data_transform -> intersection -> hetero_lr -> evaluation (FATE's hetero_lr_normal DSL)
HETERO_LR_DSL = {"components": {
    "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
    "data_transform_0": {"module": "DataTransform", "input": {"data": {"data": ["reader_0.data"]}},
                         "output": {"data": ["data"], "model": ["model"]}},
    "intersection_0": {"module": "Intersection", "input": {"data": {"data": ["data_transform_0.data"]}},
                       "output": {"data": ["data"]}},
    "hetero_lr_0": {"module": "HeteroLR", "input": {"data": {"train_data": ["intersection_0.data"]}},
                    "output": {"data": ["data"], "model": ["model"]}},
    "evaluation_0": {"module": "Evaluation", "input": {"data": {"data": ["hetero_lr_0.data"]}},
                     "output": {"data": ["data"]}},
}}


def upload(server: ServerProcess, csv_path: Path, name: str, namespace: str = "experiment", head: int = 1,
           partition: int = 4, extend_sid: bool = False) -> None:
    """Upload ``csv_path`` as ``namespace.name`` (replacing it) and wait until it is stored."""
    conf = {"namespace": namespace, "table_name": name, "head": head, "partition": partition, "drop": 1,
            "extend_sid": extend_sid}
    answer = upload_multipart(server, conf, csv_path).json()
    assert answer["retcode"] == 0, answer
    assert server.wait_job(answer["jobId"], timeout=120)["f_status"] == "success"


def submit(server: ServerProcess, dsl: dict, conf: dict) -> dict:
    """``job/submit``'s whole answer (retcode 0 or the refusal)."""
    return server.post("/v1/job/submit", {"job_dsl": dsl, "job_runtime_conf": conf})


def run_job(server: ServerProcess, dsl: dict, conf: dict, timeout: float = 300) -> tuple[str, str]:
    """Submit and wait; returns (job id, final status). Fails the test when the submit is refused."""
    answer = submit(server, dsl, conf)
    assert answer["retcode"] == 0, answer
    job_id = answer["jobId"]
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = server.post("/v1/job/query", {"job_id": job_id, "role": conf["initiator"]["role"],
                                             "party_id": conf["initiator"]["party_id"]}).get("data") or []
        if rows and rows[0]["f_status"] in FINAL:
            return job_id, rows[0]["f_status"]
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id} did not finish within {timeout} s")


def component_call(server: ServerProcess, path: str, job_id: str, component: str, role: str, party_id: Any,
                   **extra: Any) -> dict:
    """POST ``/v1/tracking/component/<path>`` for one component at one party."""
    return server.post(f"/v1/tracking/component/{path}", {"job_id": job_id, "component_name": component,
                                                          "role": role, "party_id": party_id, **extra})


def summary(server: ServerProcess, job_id: str, component: str, role: str, party_id: Any) -> dict:
    """The component's summary (what ``flow component get-summary`` prints), ``{}`` when it has none."""
    response = requests.post(f"{server.url}/v1/tracking/component/summary/download",
                             json={"job_id": job_id, "component_name": component, "role": role,
                                   "party_id": party_id}, timeout=30)
    body = response.json()
    return body.get("data") or {}


def output_rows(server: ServerProcess, job_id: str, component: str, role: str, party_id: Any) -> list[dict]:
    """The component's output data as rows (dicts keyed by the downloaded CSV's header)."""
    response = requests.post(f"{server.url}/v1/tracking/component/output/data/download",
                             json={"job_id": job_id, "component_name": component, "role": role,
                                   "party_id": party_id}, timeout=60)
    assert response.status_code == 200, response.text
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".csv"))
        text = tar.extractfile(member).read().decode()
    return list(csv.DictReader(io.StringIO(text)))


def metric_data(server: ServerProcess, job_id: str, component: str, role: str, party_id: Any, namespace: str,
                name: str) -> list:
    """The points of one metric (``flow component metric-all`` reads the same)."""
    body = component_call(server, "metric_data", job_id, component, role, party_id, metric_namespace=namespace,
                          metric_name=name)
    data = body.get("data") or []
    return data.get("data") or [] if isinstance(data, dict) else data


def job_conf(guest: str, hosts: list[str], arbiter: str | None, params: dict, role_params: dict | None = None,
             job_parameters: dict | None = None) -> dict:
    """A runtime conf (DSL v2) for guest ``guest``, ``hosts`` and ``arbiter``."""
    roles: dict[str, list] = {"guest": [guest], "host": hosts}
    if arbiter:
        roles["arbiter"] = [arbiter]
    return {"dsl_version": 2, "initiator": {"role": "guest", "party_id": guest}, "role": roles,
            "job_parameters": {"common": {"task_cores": 2, **(job_parameters or {})}},
            "component_parameters": {"common": params, "role": role_params or {}}}


def reader_params(guest_table: str, host_tables: list[str], namespace: str = "experiment",
                  component: str = "reader_0") -> dict:
    """``component_parameters.role`` for a reader of ``guest_table`` at the guest and one table per host."""
    role = {"guest": {"0": {component: {"table": {"name": guest_table, "namespace": namespace}}}},
            "host": {str(i): {component: {"table": {"name": name, "namespace": namespace}}}
                     for i, name in enumerate(host_tables)}}
    return role


def dumps(obj: Any) -> str:
    """Compact JSON (for assertion messages)."""
    return json.dumps(obj, separators=(",", ":"))[:2000]
