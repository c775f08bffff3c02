"""A party server running inside the test process, to drive it directly (single passes, stops)."""

from __future__ import annotations

import time
from pathlib import Path

from fate_flow.controller import initiator_controller, job_controller
from fate_flow.db.connection import connection
from fate_flow.db.models import Job, Task
from fate_flow.entity.ids import new_job_id
from fate_flow.entity.status import JobStatus
from fate_flow.manager import resource_manager
from fate_flow.server import Server
from fate_flow.settings import load_settings
from tests.support import free_port


class InProcessParty:
    def __init__(self, home: Path, run_loops: bool = True, party_id: str = "9999", grpc_port: int = 0,
                 env: dict[str, str] | None = None):
        """``env``: settings overrides (e.g. a route table to parties on other servers)."""
        self.home = home
        self.http_port = free_port()
        self.grpc_port = grpc_port
        self.run_loops = run_loops
        self.party_id = party_id
        self.extra_env = dict(env or {})
        self.server: Server | None = None

    def start(self) -> InProcessParty:
        env = {"FATE_FLOW_FATEFLOW__HTTP_PORT": str(self.http_port),
               "FATE_FLOW_FATEFLOW__GRPC_PORT": str(self.grpc_port),
               "FATE_FLOW_JOB_DEFAULT__DETECTOR_INTERVAL": "0.3", "FATE_FLOW_JOB_DEFAULT__SCHEDULER_INTERVAL": "1",
               "FATE_FLOW_PARTY_ID": self.party_id, **self.extra_env}
        self.server = Server(load_settings(home=self.home, environ=env), run_loops=self.run_loops).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def submit(self, **params) -> str:
        job_id = new_job_id()
        timeout = params.pop("timeout", None)
        dsl, conf = job_controller.local_job_conf("test_0", "TestModule", params,
                                                  job_parameters={"timeout": timeout} if timeout else None)
        with connection():
            initiator_controller.submit_job(self.server.runtime, dsl, conf, job_id)
        return job_id

    def submit_dag(self, dsl: dict, conf: dict) -> str:
        with connection():
            return initiator_controller.submit_job(self.server.runtime, dsl, conf)["job_id"]

    def scheduler_pass(self) -> None:
        with connection():
            self.server.dag_scheduler.run_pass()

    def detector_pass(self) -> None:
        with connection():
            self.server.detector.run_pass()

    def tasks(self, job_id: str) -> dict[str, Task]:
        """The latest version of each component's task (this party's rows)."""
        with connection():
            latest: dict[str, Task] = {}
            for task in Task.select().where(Task.f_job_id == job_id).order_by(Task.f_task_version):
                latest[task.f_component_name] = task
            return latest

    def stop_job(self, job_id: str) -> None:
        with connection():
            initiator_controller.stop_job(self.server.runtime, job_id, JobStatus.CANCELED)

    def job(self, job_id: str) -> Job:
        with connection():
            return Job.get(Job.f_job_id == job_id)

    def task(self, job_id: str) -> Task:
        with connection():
            return Task.get(Task.f_job_id == job_id)

    def wait(self, job_id: str, statuses: set[str], timeout: float = 20) -> Job:
        deadline = time.time() + timeout
        while time.time() < deadline:
            job = self.job(job_id)
            if job.f_status in statuses:
                return job
            time.sleep(0.05)
        raise TimeoutError(f"{job_id}: {self.job(job_id).f_status}, wanted {statuses}")

    def wait_task_running(self, job_id: str) -> Task:
        deadline = time.time() + 20
        while time.time() < deadline:
            task = self.task(job_id)
            if task.f_party_status == "running" and task.f_run_pid:
                return task
            time.sleep(0.05)
        raise TimeoutError(job_id)

    def assert_cores_all_back(self) -> None:
        settings = self.server.settings
        with connection():
            assert resource_manager.remaining_cores(settings.computing_engine) == settings.total_cores
            assert not Job.select().where(Job.f_resource_in_use == True).exists()  # noqa: E712
