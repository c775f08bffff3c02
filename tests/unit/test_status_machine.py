"""One table of transitions; every write a compare-and-set that says whether it took effect."""

from __future__ import annotations

import threading

import pytest

from fate_flow.db.connection import DB
from fate_flow.db.models import Job, Task
from fate_flow.entity.keys import JobKey, TaskKey
from fate_flow.entity.status import JOB_TRANSITIONS, TASK_TRANSITIONS, JobStatus, job_status_from_tasks
from fate_flow.operation import job_saver

S = JobStatus
J1 = JobKey("j1", "guest", "9999")
T1 = TaskKey("j1", "c", "j1_c", 0, "guest", "9999")


def _job(job_id: str = "j1", status: str = "waiting") -> None:
    job_saver.create_job(f_job_id=job_id, f_role="guest", f_party_id="9999", f_initiator_role="guest",
                         f_initiator_party_id="9999", f_status=status, f_dsl={}, f_runtime_conf={},
                         f_runtime_conf_on_party={}, f_roles={})


def _task(job_id: str = "j1", status: str = "waiting") -> None:
    job_saver.create_task(f_job_id=job_id, f_task_id=f"{job_id}_c", f_task_version=0, f_role="guest",
                          f_party_id="9999", f_component_name="c", f_component_module="M",
                          f_initiator_role="guest", f_initiator_party_id="9999", f_status=status,
                          f_party_status=status)


def _status(job_id: str = "j1") -> str:
    return Job.get(Job.f_job_id == job_id).f_status


def test_end_statuses_are_final_except_through_rerun():
    for end in (S.SUCCESS, S.FAILED, S.CANCELED):
        assert JOB_TRANSITIONS[end] <= {S.WAITING}
    assert not TASK_TRANSITIONS[S.SUCCESS] and not TASK_TRANSITIONS[S.PASS]


def test_job_status_from_tasks():
    assert job_status_from_tasks(["success", "pass"]) == S.SUCCESS
    assert job_status_from_tasks(["success", "running"]) == S.RUNNING
    assert job_status_from_tasks(["success", "waiting"], has_next=True) == S.RUNNING
    assert job_status_from_tasks(["failed", "canceled", "success"]) == S.FAILED
    assert job_status_from_tasks(["timeout", "canceled"]) == S.TIMEOUT
    assert job_status_from_tasks(["success", "waiting"], has_next=False) == S.CANCELED


def test_guarded_writes_report_effect(database: str):
    _job()
    assert job_saver.update_job_status(J1, S.RUNNING)
    assert _status() == "running"
    assert not job_saver.update_job_status(J1, S.WAITING), "running -> waiting is not allowed"
    assert job_saver.update_job_status(J1, S.SUCCESS)
    assert not job_saver.update_job_status(J1, S.FAILED), "an end status is final"
    job = Job.get(Job.f_job_id == "j1")
    assert job.f_status == "success" and job.f_tag == "job_end"
    assert job.f_start_time and job.f_end_time and job.f_elapsed == job.f_end_time - job.f_start_time
    assert not job_saver.update_job_status(JobKey("missing", "guest", "9999"), S.RUNNING)


def test_pending_rerun_blocks_failing(database: str):
    _job(status="running")
    job_saver.update_job(J1, f_rerun_signal=True)
    assert not job_saver.update_job_status(J1, S.FAILED)
    assert job_saver.update_job_status(J1, S.CANCELED)


def test_progress_only_grows(database: str):
    _job()
    job_saver.update_job(J1, f_progress=50)
    job_saver.update_job(J1, f_progress=20)
    assert Job.get(Job.f_job_id == "j1").f_progress == 50
    with pytest.raises(ValueError):
        job_saver.update_job(J1, f_status="success")


def test_task_status_and_party_status_move_together(database: str):
    _task()
    assert job_saver.update_task_status(T1, status=S.RUNNING, party_status=S.RUNNING)
    assert not job_saver.update_task_status(T1, status=S.WAITING,
                                            party_status=S.SUCCESS)
    task = Task.get(Task.f_task_id == "j1_c")
    assert (task.f_status, task.f_party_status) == ("running", "running")


def _race(writers: list, target) -> list:
    """Run ``target(arg)`` for every arg in ``writers`` at the same instant; the results in order."""
    barrier = threading.Barrier(len(writers))
    results: list = [None] * len(writers)

    def run(index: int, arg) -> None:
        with DB.connection_context():
            barrier.wait()
            results[index] = target(arg)

    threads = [threading.Thread(target=run, args=(i, arg)) for i, arg in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_racing_writers_exactly_one_end_status_wins(database: str):
    """Executors, the detector and stop race to end the same running task: one end status wins
    (a timeout may still be followed by failed or success, as the transition table allows)."""
    for round_number in range(5):
        job_id = f"race{round_number}"
        _task(job_id, status="running")
        statuses = [S.SUCCESS, S.FAILED, S.CANCELED, S.TIMEOUT] * 3
        effects = _race(statuses, lambda status, j=job_id: job_saver.update_task_status(
            TaskKey(j, "c", f"{j}_c", 0, "guest", "9999"), status=status, party_status=status))
        winners = [status for status, effective in zip(statuses, effects, strict=True) if effective]
        final = Task.get(Task.f_task_id == f"{job_id}_c").f_status
        assert len(winners) == 1 or (len(winners) == 2 and S.TIMEOUT in winners), winners
        assert final in {w.value for w in winners}


def test_racing_job_starts_exactly_one_wins(database: str):
    _job()
    results = _race([S.RUNNING] * 10, lambda status: job_saver.update_job_status(J1, status))
    assert results.count(True) == 1
