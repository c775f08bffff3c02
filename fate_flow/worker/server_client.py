"""The executor's line to its own server: status reports and tracker calls, JSON over HTTP.

Kept on the standard library (no requests) so that an executor starts fast.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any


class ServerCallError(RuntimeError):
    pass


class ServerClient:
    def __init__(self, base_url: str, job_id: str, component: str, task_id: str, task_version: int,
                 role: str, party_id: str, timeout: float = 30.0, retries: int = 5, local_token: str = ""):
        self.base_url = base_url.rstrip("/")
        self.local_token = local_token
        self.task_path = f"{job_id}/{component}/{task_id}/{task_version}/{role}/{party_id}"
        self.timeout = timeout
        self.retries = retries

    def _post(self, path: str, body: dict[str, Any]) -> dict:
        data = json.dumps(body).encode()
        last_error: Exception | None = None
        for attempt in range(self.retries):
            request = urllib.request.Request(
                self.base_url + path, data=data, method="POST",
                headers={"Content-Type": "application/json", "X-Flow-Local-Token": self.local_token}
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    result = json.loads(response.read() or b"{}")
            except (urllib.error.URLError, OSError, json.JSONDecodeError) as exc:
                last_error = exc
                time.sleep(min(0.2 * 2**attempt, 3))  # the server may be restarting
                continue
            if result.get("retcode") != 0:
                raise ServerCallError(f"{path}: {result.get('retmsg')}")
            return result
        raise ServerCallError(f"{path}: server unreachable: {last_error}")

    def report(self, **fields: Any) -> dict:
        return self._post(f"/v1/party/{self.task_path}/report", fields)

    def save_table_meta(self, meta: dict[str, Any]) -> None:
        self._post(f"/v1/tracker/{self.task_path}/table/meta", meta)

    def save_output_data_info(self, data_name: str, namespace: str, name: str) -> None:
        self._post(f"/v1/tracker/{self.task_path}/output_data_info/save",
                   {"data_name": data_name, "table_namespace": namespace, "table_name": name})

    def save_metric_data(self, namespace: str, name: str, points: list[list[Any]]) -> None:
        self._post(f"/v1/tracker/{self.task_path}/metric_data/save",
                   {"metric_namespace": namespace, "metric_name": name, "metrics": points})

    def save_metric_meta(self, namespace: str, name: str, meta: dict[str, Any]) -> None:
        self._post(f"/v1/tracker/{self.task_path}/metric_meta/save",
                   {"metric_namespace": namespace, "metric_name": name, "metric_meta": meta})

    def save_summary(self, summary: dict[str, Any]) -> None:
        self._post(f"/v1/tracker/{self.task_path}/summary/save", {"summary": summary})

    def save_model(self, alias: str, module_name: str, param: dict[str, Any], meta: dict[str, Any]) -> None:
        self._post(f"/v1/tracker/{self.task_path}/model/save",
                   {"model_alias": alias, "module_name": module_name, "param": param, "meta": meta})
