"""Nothing stays running without an owner: dead executors, stops, timeouts, server restarts.

The server runs in this process (so a test can drive it and stop it mid-job); executors are real
subprocesses. After every scenario the party's cores are all back in the pool.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from fate_flow.controller import job_controller
from fate_flow.db.connection import connection
from fate_flow.db.models import Job, Task
from fate_flow.entity.ids import new_job_id
from fate_flow.entity.status import JobStatus
from fate_flow.manager import resource_manager
from fate_flow.scheduler.dag_scheduler import DAGScheduler
from fate_flow.server import Server
from fate_flow.settings import load_settings
from tests.support import free_port


class InProcessParty:
    def __init__(self, home: Path):
        self.home = home
        self.http_port = free_port()
        self.server: Server | None = None

    def start(self) -> InProcessParty:
        env = {"FATE_FLOW_FATEFLOW__HTTP_PORT": str(self.http_port), "FATE_FLOW_FATEFLOW__GRPC_PORT": "0",
               "FATE_FLOW_JOB_DEFAULT__DETECTOR_INTERVAL": "0.3", "FATE_FLOW_JOB_DEFAULT__SCHEDULER_INTERVAL": "1"}
        self.server = Server(load_settings(home=self.home, environ=env)).start()
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
            self.server.runtime.submit_job(dsl, conf, job_id)
        return job_id

    def stop_job(self, job_id: str) -> None:
        with connection():
            DAGScheduler(self.server.runtime).stop_job(job_id, JobStatus.CANCELED)

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


@pytest.fixture
def party(tmp_path: Path) -> Iterator[InProcessParty]:
    party = InProcessParty(tmp_path / "home").start()
    yield party
    party.stop()


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_job_runs_to_success(party: InProcessParty):
    job_id = party.submit(sleep=0)
    assert party.wait(job_id, {"success"}).f_progress == 100
    party.assert_cores_all_back()


def test_killed_executor_fails_the_task(party: InProcessParty):
    job_id = party.submit(sleep=30)
    task = party.wait_task_running(job_id)
    os.kill(task.f_run_pid, signal.SIGKILL)
    job = party.wait(job_id, {"failed"}, timeout=10)
    assert "gone" in job.f_error
    assert "gone" in party.task(job_id).f_error_report
    party.assert_cores_all_back()


def test_component_failure_is_reported(party: InProcessParty):
    job_id = party.submit(sleep=0, fail="the data is not what I expected")
    job = party.wait(job_id, {"failed"})
    assert "the data is not what I expected" in job.f_error
    party.assert_cores_all_back()


def test_stop_kills_the_executor(party: InProcessParty):
    job_id = party.submit(sleep=30)
    task = party.wait_task_running(job_id)
    party.stop_job(job_id)
    assert party.job(job_id).f_status == "canceled"
    assert party.task(job_id).f_status == "canceled"
    assert _gone(task.f_run_pid)
    party.assert_cores_all_back()


def test_timeout_counts_from_start(party: InProcessParty):
    job_id = party.submit(sleep=30, timeout=1)
    task = party.wait_task_running(job_id)
    job = party.wait(job_id, {"timeout"}, timeout=10)
    assert job.f_elapsed < 5000
    assert _gone(task.f_run_pid)
    party.assert_cores_all_back()


def test_fair_queue_small_jobs_pass_a_job_that_cannot_get_cores(party: InProcessParty):
    rt = party.server.runtime
    holder = party.submit(sleep=30)  # holds 4 of the 20 cores
    party.wait_task_running(holder)
    big = new_job_id()
    dsl, conf = job_controller.local_job_conf("test_0", "TestModule", {"sleep": 0}, job_parameters={"task_cores": 20})
    with connection():
        rt.submit_job(dsl, conf, big)
    small = party.submit(sleep=0)  # submitted after the big one, fits in what is left
    party.wait(small, {"success"})
    assert party.job(big).f_status == "waiting"
    party.stop_job(holder)
    party.wait(big, {"success"})  # gets its cores once the holder is gone
    party.assert_cores_all_back()


def test_restart_with_a_dead_executor_fails_the_job(party: InProcessParty):
    job_id = party.submit(sleep=30)
    task = party.wait_task_running(job_id)
    party.stop()
    os.kill(task.f_run_pid, signal.SIGKILL)
    party.start()
    job = party.wait(job_id, {"failed"}, timeout=10)
    assert "gone" in job.f_error
    party.assert_cores_all_back()


def test_restart_keeps_a_live_executor_whose_report_lands_later(party: InProcessParty):
    job_id = party.submit(sleep=2)
    party.wait_task_running(job_id)
    party.stop()
    time.sleep(0.5)
    party.start()  # same port: the executor's retried report reaches the new server
    assert party.wait(job_id, {"success"}, timeout=20).f_status == "success"
    party.assert_cores_all_back()
