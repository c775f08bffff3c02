"""Running a testsuite's jobs on a real server as fate_test does, and explaining each failure from the server.

One standalone server (sqlite, party 9999) plays every party of a job, as fate_test's default config has
one flow service for parties 9999 and 10000: every upload and every submit goes to it.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import ServerProcess, upload_multipart
from tests.testsuites.suite import FATE_DEFAULT_KEY_LENGTH, SuiteJob, Testsuite, set_predict_model

FINAL = ("success", "failed", "canceled", "timeout")
# wall seconds one job may take here: the heaviest (hetero_poisson_regression/poisson-cv, 5 folds of Paillier
# training on 5,190 rows) takes about 7 min on an idle 2-core machine and half as long again on a busy one
JOB_TIMEOUT = float(os.environ.get("TESTSUITE_JOB_TIMEOUT", "1200"))
UPLOAD_TIMEOUT = 300.0
# the key length of components whose conf does not set one: FATE 1.11.2's default (``suite.with_default_key_length``);
# TESTSUITE_KEY_LENGTH=0 leaves the confs as they are (this server's default, 2048)
KEY_LENGTH = int(os.environ.get("TESTSUITE_KEY_LENGTH", str(FATE_DEFAULT_KEY_LENGTH))) or None
# FATE modules that later issues provide: a job that needs one is an expected failure until then, named
LATER_MODULES: dict[str, str] = {}
# jobs of the suites this server cannot run yet, said plainly (README "Not yet"): expected to fail with that message
KNOWN_GAPS: dict[tuple[str, str], str] = {}
STANDALONE_ENV = {"FATE_FLOW_DATABASE__ENGINE": "sqlite", "FATE_FLOW_PARTY_ID": "9999"}
TAIL_LINES = 40  # of a failed task's ERROR.log in a failure message


@dataclass
class JobResult:
    """What became of one job of a suite.

    ``status``: the job's final status (success, failed, canceled, timeout), or ``refused`` (the submit
    answered a retcode), ``not submitted`` (a dependency did not succeed or cannot be met), ``xfail``
    (needs what this server does not provide yet: ``error`` says what)."""

    suite: str
    job: str
    status: str
    seconds: float = 0.0
    job_id: str = "-"
    error: str = ""
    model_info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the job succeeded."""
        return self.status == "success"

    @property
    def first_error_line(self) -> str:
        """The first line of ``error`` (what the progress table shows)."""
        return next((line.strip() for line in self.error.splitlines() if line.strip()), "")


@contextmanager
def standalone_server(home: Path | None = None) -> Iterator[ServerProcess]:
    """A standalone server (every party of a job on one server, sqlite) for one suite; stopped after."""
    home = home or Path(tempfile.mkdtemp(prefix="testsuite-")) / "party"
    server = ServerProcess(home, STANDALONE_ENV).start()
    try:
        yield server
    finally:
        server.stop()


def upload_suite_data(server: ServerProcess, suite: Testsuite) -> dict[str, str]:
    """Upload every table of the suite with the suite's upload options (as ``flow data upload --drop``).
    Like fate_test, a failed upload does not stop the suite: the answer is table -> why its upload failed."""
    failures: dict[str, str] = {}
    for entry in suite.data:
        conf = entry.upload_conf()
        where = f"upload of {entry.table} ({entry.file.name} at {entry.role_str})"
        answer = upload_multipart(server, conf, entry.file).json()
        if answer.get("retcode") != 0:
            failures[entry.table] = f"{where} refused: {answer.get('retmsg')} (conf {conf})"
            continue
        row = server.wait_job(answer["jobId"], timeout=UPLOAD_TIMEOUT)
        if row["f_status"] != "success":
            failures[entry.table] = f"{where} {row['f_status']}: {explain_failure(server, answer['jobId'])}"
    return failures


def tables_read(conf: dict[str, Any]) -> set[str]:
    """``namespace.name`` of every table a job conf has its readers read."""
    found: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            table = node.get("table")
            if isinstance(table, dict) and "name" in table:
                found.add(f"{table.get('namespace')}.{table['name']}")
            for value in node.values():
                visit(value)

    visit(conf.get("component_parameters") or {})
    return found


class SuiteRun:
    """The jobs of one suite on one server (its tables uploaded); each job is run at most once."""

    def __init__(self, suite: Testsuite, server: ServerProcess, timeout: float = JOB_TIMEOUT,
                 upload_failures: dict[str, str] | None = None,
                 on_result: Callable[[JobResult], None] | None = None):
        self.suite = suite
        self.server = server
        self.timeout = timeout
        self.upload_failures = upload_failures or {}  # table -> why its upload failed
        self.on_result = on_result  # told of each job's result as soon as it is known (progress)
        self.results: dict[str, JobResult] = {}

    def run_all(self) -> list[JobResult]:
        """Every job, in fate_test's order; the jobs fate_test would not submit (a dependency failed) last."""
        order = self.suite.jobs_after(lambda name: self.run(name).ok)
        skipped = [name for name in self.suite.jobs if name not in order]
        return [self.run(name) for name in order + skipped]

    def run(self, name: str) -> JobResult:
        """Run job ``name`` (its dependency first) unless it has run; its result."""
        if name not in self.results:
            job = self.suite.jobs[name]
            result = self._run(job)
            gap = self._known_gap(job, result)
            if gap:
                result.status, result.error = "xfail", f"{gap}\n{result.error}"
            if not result.ok and result.status != "xfail":
                # a job reading a table whose upload failed: that failure comes first
                failed = [self.upload_failures[t] for t in sorted(tables_read(job.conf)) if t in self.upload_failures]
                result.error = "\n".join([*failed, result.error])
            self.results[name] = result
            if self.on_result:
                self.on_result(result)
        return self.results[name]

    def _known_gap(self, job: SuiteJob, result: JobResult) -> str | None:
        """Why a job that did not succeed is an expected failure (a later issue's module, a stated gap), or None."""
        if result.ok:
            return None
        later = sorted({module for module in job.modules().values() if module in LATER_MODULES})
        if later:
            return f"needs {', '.join(later)} ({LATER_MODULES[later[0]]})"
        return KNOWN_GAPS.get((self.suite.folder, job.name))

    def _run(self, job: SuiteJob) -> JobResult:
        if job.other_deps:
            return self._result(job, "not submitted", error=f"uses {sorted(job.other_deps)}, which this harness "
                                                            "does not provide (no suite of tests/testsuites uses them)")
        conf = job.submit_conf(timeout=int(self.timeout), key_length=KEY_LENGTH)
        if job.model_deps:
            conf, reason = self._predict_conf(job, conf)
            if reason:
                return reason
        return self._submit_and_wait(job, conf)

    def _predict_conf(self, job: SuiteJob, conf: dict) -> tuple[dict, JobResult | None]:
        """The predict job's conf on its training job's deployed model, as fate_test builds it; or why not."""
        parent = self.run(job.model_deps)
        if not parent.ok:
            return conf, self._result(job, "not submitted", error=f"its training job {parent.job} did not succeed "
                                                                  f"({parent.status}): {parent.first_error_line}")
        answer = self.server.post("/v1/model/deploy", {"model_id": parent.model_info.get("model_id"),
                                                       "model_version": parent.model_info.get("model_version"),
                                                       "predict_dsl": job.dsl})
        if answer.get("retcode") != 0:
            return conf, self._result(job, "not submitted", error=f"model/deploy of {parent.job}'s model "
                                                                  f"{parent.model_info} refused: {answer}")
        model = answer["data"]
        return set_predict_model(conf, model["model_id"], model["model_version"]), None

    def _submit_and_wait(self, job: SuiteJob, conf: dict) -> JobResult:
        start = time.monotonic()
        answer = self.server.post("/v1/job/submit", {"job_dsl": job.dsl, "job_runtime_conf": conf})
        if answer.get("retcode") != 0:
            return self._result(job, "refused", time.monotonic() - start,
                                error=f"submit refused ({answer.get('retcode')}): {answer.get('retmsg')}")
        job_id = answer["data"]["job_id"]
        model_info = answer["data"].get("model_info") or {}
        status = self._wait(job_id, conf, start)
        seconds = time.monotonic() - start
        error = "" if status == "success" else explain_failure(self.server, job_id)
        if seconds >= self.timeout:
            error = f"did not finish within {self.timeout:g} s here (stopped)\n{error}"
        return self._result(job, status, seconds, job_id=job_id, error=error, model_info=model_info)

    def _wait(self, job_id: str, conf: dict, start: float) -> str:
        """The job's final status as its initiator sees it (fate_test polls job/query as guest); a job that
        outlives ``timeout`` is stopped and reported ``timeout``."""
        initiator = conf["initiator"]
        try:
            while time.monotonic() - start < self.timeout:
                rows = self.server.post("/v1/job/query", {"job_id": job_id, "role": initiator["role"],
                                                          "party_id": initiator["party_id"]}).get("data") or []
                if rows and rows[0]["f_status"] in FINAL:
                    return rows[0]["f_status"]
                time.sleep(0.3)
        except BaseException:  # interrupted: stop the job, or its executors outlive the server
            self.server.post("/v1/job/stop", {"job_id": job_id, "stop_status": "canceled"})
            raise
        self.server.post("/v1/job/stop", {"job_id": job_id, "stop_status": "failed"})
        return "timeout"

    def _result(self, job: SuiteJob, status: str, seconds: float = 0.0, **details: Any) -> JobResult:
        return JobResult(suite=self.suite.folder, job=job.name, status=status, seconds=seconds, **details)


def explain_failure(server: ServerProcess, job_id: str) -> str:
    """Why a job did not succeed, from the server: first line the error of the task that failed first (its
    error report, else the last error in its logs), then the other failed tasks, the tail of the first one's
    ERROR.log (the traceback) and where its logs are; the job's schedule log when no task failed."""
    tasks = server.post("/v1/job/task/query", {"job_id": job_id}).get("data") or []
    logs = server.home / "logs" / job_id
    failed = []
    for task in tasks:
        if task.get("f_status") not in ("failed", "timeout", "canceled"):
            continue
        directory = logs / task["f_role"] / str(task["f_party_id"]) / task["f_component_name"]
        error = task.get("f_error_report") or _last_error(directory)
        failed.append((task["f_status"] != "failed", not error, task.get("f_end_time") or 0, task, directory, error))
    if not failed:
        tail = _tail(logs / "fate_flow_schedule_error.log") or _tail(logs / "fate_flow_schedule.log")
        return f"no task failed; the job's schedule log:\n{tail}\nlogs: {logs}"
    failed.sort(key=lambda item: item[:3])
    lines = []
    for *_, task, _directory, error in failed:
        where = f"{task['f_component_name']} ({task['f_component_module']}) at {task['f_role']} {task['f_party_id']}"
        status = "" if task["f_status"] == "failed" else f" [{task['f_status']}]"
        lines.append(f"{where}{status}: {error or '(no error of its own: its peer failed)'}")
    directory = failed[0][4]
    lines.append(_tail(directory / "ERROR.log") or _tail(directory / "std.log"))
    lines.append(f"logs: {directory}")
    return "\n".join(line for line in lines if line)


def _last_error(directory: Path) -> str:
    """The last exception line (``Error: ...``) or ERROR record of a task's logs."""
    for name in ("ERROR.log", "std.log"):
        path = directory / name
        lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
        for line in reversed(lines):
            if "Error" in line or "Exception" in line or line.startswith("[ERROR]"):
                return line.strip()
    return ""


def _tail(path: Path, lines: int = TAIL_LINES) -> str:
    if not path.is_file():
        return ""
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])
