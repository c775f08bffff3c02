"""The executor's line to its own server: status reports and tracker calls, JSON over HTTP.

Kept on the standard library (no requests) so that an executor starts fast.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from fate_flow.entity.keys import TaskKey
from fate_flow.entity.table_meta import TableMeta

# answers that mean "try again later": the server failed on this call (its database, a bug), not the request
TRANSIENT_RETCODES = frozenset({100, 500})


class ServerCallError(RuntimeError):
    """The server refused a call (``retcode``) or could not be reached (``retcode`` None)."""

    def __init__(self, message: str, retcode: int | None = None):
        super().__init__(message)
        self.retcode = retcode

    @property
    def transient(self) -> bool:
        """Worth retrying: the server was unreachable or failed on its side."""
        return self.retcode is None or self.retcode in TRANSIENT_RETCODES


class ServerClient:
    """Implements the framework's ``Tracker`` for one task, plus the executor's status reports."""

    def __init__(self, base_url: str, task: TaskKey, timeout: float = 30.0, retries: int = 5, local_token: str = ""):
        self.base_url = base_url.rstrip("/")
        self.local_token = local_token
        self.task_path = task.path
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
                raise ServerCallError(f"{path}: {result.get('retmsg')}", result.get("retcode"))
            return result
        raise ServerCallError(f"{path}: server unreachable: {last_error}")

    def report(self, **fields: Any) -> dict:
        """The task's own status (running, success, failed) to this party's server."""
        return self._post(f"/v1/party/{self.task_path}/report", fields)

    def save_table_meta(self, meta: TableMeta, replace: bool) -> None:
        """Publish ``meta`` through the server (replacing a table of that name only when ``replace``);
        ServerCallError, like every call here, when the server refuses or stays unreachable."""
        self._post(f"/v1/tracker/{self.task_path}/table/meta", {**meta.to_dict(), "replace": replace})

    def save_output_data_info(self, data_name: str, namespace: str, name: str) -> None:
        """Record the table as the task's output ``data_name``."""
        self._post(f"/v1/tracker/{self.task_path}/output_data_info/save",
                   {"data_name": data_name, "table_namespace": namespace, "table_name": name})

    def save_metric_data(self, namespace: str, name: str, points: list[list[Any]]) -> None:
        """Append points ``[key, value]`` to the task's metric ``name`` in ``namespace``."""
        self._post(f"/v1/tracker/{self.task_path}/metric_data/save",
                   {"metric_namespace": namespace, "metric_name": name, "metrics": points})

    def save_metric_meta(self, namespace: str, name: str, meta: dict[str, Any]) -> None:
        """Add to the meta of the task's metric ``name`` in ``namespace``."""
        self._post(f"/v1/tracker/{self.task_path}/metric_meta/save",
                   {"metric_namespace": namespace, "metric_name": name, "metric_meta": meta})

    def save_summary(self, summary: dict[str, Any]) -> None:
        """Set the task's summary, replacing one saved before."""
        self._post(f"/v1/tracker/{self.task_path}/summary/save", {"summary": summary})

    def register_model(self, alias: str, module: str, directory: str) -> None:
        """Register the model files written to ``directory`` under ``alias``."""
        self._post(f"/v1/tracker/{self.task_path}/model/register",
                   {"model_alias": alias, "module_name": module, "directory": directory})
