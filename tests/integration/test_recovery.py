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

from fate_flow.controller import initiator_controller, job_controller
from fate_flow.db.connection import connection
from fate_flow.entity.ids import new_job_id
from tests.inprocess import InProcessParty


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
    # a first job warms the executors' fork server (it preloads every component's runner), so the second
    # job's task is running well within its 3 s timeout, even on a slow machine
    party.wait(party.submit(sleep=0), {"success"})
    job_id = party.submit(sleep=30, timeout=3)
    task = party.wait_task_running(job_id)
    job = party.wait(job_id, {"timeout"}, timeout=15)
    assert job.f_elapsed < 8000
    assert _gone(task.f_run_pid)
    party.assert_cores_all_back()


def test_fair_queue_small_jobs_pass_a_job_that_cannot_get_cores(party: InProcessParty):
    rt = party.server.runtime
    holder = party.submit(sleep=30)  # holds 4 of the 20 cores
    party.wait_task_running(holder)
    big = new_job_id()
    dsl, conf = job_controller.local_job_conf("test_0", "TestModule", {"sleep": 0}, job_parameters={"task_cores": 20})
    with connection():
        initiator_controller.submit_job(rt, dsl, conf, big)
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
