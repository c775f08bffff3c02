"""Where a job's files live under the home directory (FATE's layout), every part checked."""

from __future__ import annotations

from pathlib import Path

from fate_flow.utils.paths import check_name, confine


class JobPaths:
    def __init__(self, jobs_dir: Path, logs_dir: Path):
        self.jobs_dir = jobs_dir
        self.logs_dir = logs_dir

    def job_dir(self, job_id: str) -> Path:
        """``<jobs_dir>/<job_id>``; UnsafePathError (101) when the id is not a safe name."""
        return confine(self.jobs_dir, check_name("job_id", job_id))

    def upload_tmp_dir(self, job_id: str) -> Path:
        """Where an upload job receives the client's file: ``fate_upload_tmp`` in the job directory."""
        return self.job_dir(job_id) / "fate_upload_tmp"

    def task_dir(self, job_id: str, role: str, party_id: str, component: str, task_version: int) -> Path:
        """A task version's working directory, ``<jobs_dir>/<job>/<role>/<party>/<component>/<version>``."""
        parts = [check_name("job_id", job_id), check_name("role", role), check_name("party_id", party_id)]
        parts += [check_name("component_name", component), str(int(task_version))]
        return confine(self.jobs_dir, *parts)

    def job_log_dir(self, job_id: str) -> Path:
        """``<logs_dir>/<job_id>``: the job's logs, for every party this server serves."""
        return confine(self.logs_dir, check_name("job_id", job_id))

    def party_log_dir(self, job_id: str, role: str, party_id: str) -> Path:
        """``<logs_dir>/<job>/<role>/<party>``: one party's logs of the job."""
        parts = [check_name("job_id", job_id), check_name("role", role), check_name("party_id", party_id)]
        return confine(self.logs_dir, *parts)

    def component_log_dir(self, job_id: str, role: str, party_id: str, component: str) -> Path:
        """One component's log directory, inside its party's (``party_log_dir``)."""
        return confine(self.party_log_dir(job_id, role, party_id), check_name("component_name", component))
