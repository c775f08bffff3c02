"""The scheduler driven one pass at a time (no loops): what one pass starts, in what order, and what it
leaves behind. Executors are real; after every scenario the party's cores are all back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.inprocess import InProcessParty


@pytest.fixture
def party(tmp_path: Path) -> Iterator[InProcessParty]:
    party = InProcessParty(tmp_path / "home", run_loops=False).start()
    yield party
    party.stop()


def _conf(params: dict, parallelism: int = 1, **job_parameters) -> dict:
    return {"dsl_version": 2, "initiator": {"role": "guest", "party_id": 9999}, "role": {"guest": [9999]},
            "job_parameters": {"common": {"task_parallelism": parallelism, "task_cores": 1, **job_parameters}},
            "component_parameters": {"common": params}}


def _component(*upstream: str, output: bool = True) -> dict:
    body: dict = {"module": "TestModule"}
    if upstream:
        body["input"] = {"data": {"data": [f"{u}.data" for u in upstream]}}
    if output:
        body["output"] = {"data": ["data"]}
    return body


DIAMOND = {"components": {"root": _component(), "left": _component("root"), "right": _component("root"),
                          "join": _component("left", "right", output=False)}}


def _until(party: InProcessParty, job_id: str, predicate, timeout: float = 20) -> dict:
    """Run passes (as reports would wake the loop) until ``predicate(tasks)`` holds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        party.scheduler_pass()
        tasks = party.tasks(job_id)
        if predicate(tasks):
            return tasks
        time.sleep(0.05)
    raise TimeoutError({name: t.f_party_status for name, t in party.tasks(job_id).items()})


def _statuses(tasks) -> dict[str, str]:
    return {name: task.f_status for name, task in tasks.items()}


def test_one_pass_starts_the_job_and_its_root_only(party: InProcessParty):
    job_id = party.submit_dag(DIAMOND, _conf({"root": {"sleep": 0.3}}, parallelism=2))
    assert party.job(job_id).f_status == "waiting"
    party.scheduler_pass()
    assert party.job(job_id).f_status == "running"
    assert _statuses(party.tasks(job_id)) == {"root": "running", "left": "waiting", "right": "waiting",
                                              "join": "waiting"}


def test_independent_branches_run_in_parallel_within_task_parallelism(party: InProcessParty):
    params = {"left": {"sleep": 1}, "right": {"sleep": 1}}
    job_id = party.submit_dag(DIAMOND, _conf(params, parallelism=2))
    tasks = _until(party, job_id, lambda t: t["left"].f_status == "running")
    # the pass that saw root succeed started both branches together
    assert tasks["right"].f_status == "running" and tasks["join"].f_status == "waiting"
    tasks = _until(party, job_id, lambda t: t["join"].f_status == "success")
    assert abs(tasks["left"].f_start_time - tasks["right"].f_start_time) < 500
    party.scheduler_pass()
    assert party.job(job_id).f_status == "success" and party.job(job_id).f_progress == 100
    party.assert_cores_all_back()


def test_task_parallelism_one_runs_branches_one_after_the_other(party: InProcessParty):
    params = {"left": {"sleep": 0.5}, "right": {"sleep": 0.5}}
    job_id = party.submit_dag(DIAMOND, _conf(params, parallelism=1))
    tasks = _until(party, job_id, lambda t: "running" in {t["left"].f_status, t["right"].f_status})
    assert sorted([tasks["left"].f_status, tasks["right"].f_status]) == ["running", "waiting"]
    tasks = _until(party, job_id, lambda t: t["join"].f_status == "success")
    first, second = sorted((tasks["left"], tasks["right"]), key=lambda t: t.f_start_time)
    assert second.f_start_time >= first.f_end_time
    party.scheduler_pass()
    party.assert_cores_all_back()


def test_a_failed_branch_fails_the_job_and_stops_the_other(party: InProcessParty):
    params = {"left": {"fail": "left broke"}, "right": {"sleep": 30}}
    job_id = party.submit_dag(DIAMOND, _conf(params, parallelism=2))
    _until(party, job_id, lambda t: t["left"].f_party_status == "failed")
    right_pid = party.tasks(job_id)["right"].f_run_pid
    party.scheduler_pass()
    job = party.job(job_id)
    assert job.f_status == "failed" and "left broke" in job.f_error
    tasks = party.tasks(job_id)
    assert tasks["right"].f_status == "failed" and tasks["join"].f_status == "waiting"
    assert not _alive(right_pid)
    party.assert_cores_all_back()


def test_rerun_from_the_failed_component_keeps_what_succeeded(party: InProcessParty):
    dsl = {"components": {"a": _component(), "b": _component("a"), "c": _component("b", output=False)}}
    job_id = party.submit_dag(dsl, _conf({"a": {"output_rows": 3}, "b": {"fail": True, "pass_through": True}}))
    _until(party, job_id, lambda t: t["b"].f_party_status == "failed")
    party.scheduler_pass()
    assert party.job(job_id).f_status == "failed"
    a_before = party.tasks(job_id)["a"]
    rt = party.server.runtime
    from fate_flow.controller import initiator_controller
    from fate_flow.db.connection import connection

    with connection():
        initiator_controller.update_parameters(rt, job_id, {"component_parameters": {
            "common": {"b": {"fail": False}}}})
        answer = initiator_controller.rerun_job(rt, job_id, "b")
    assert answer["components"] == ["b", "c"]
    assert party.job(job_id).f_status == "waiting"
    tasks = _until(party, job_id, lambda t: t["c"].f_status == "success")
    assert tasks["a"].f_task_version == 0 and tasks["a"].f_end_time == a_before.f_end_time
    assert tasks["b"].f_task_version == 1 and tasks["c"].f_task_version == 1
    party.scheduler_pass()
    assert party.job(job_id).f_status == "success"
    assert rt is party.server.runtime
    party.assert_cores_all_back()


def test_waiting_job_that_cannot_get_cores_does_not_block_the_queue(party: InProcessParty):
    holder = party.submit_dag({"components": {"t": _component(output=False)}},
                              _conf({"t": {"sleep": 30}}, task_cores=10))
    party.scheduler_pass()
    big = party.submit_dag({"components": {"t": _component(output=False)}}, _conf({}, task_cores=20))
    small = party.submit_dag({"components": {"t": _component(output=False)}}, _conf({}, task_cores=4))
    party.scheduler_pass()
    assert party.job(big).f_status == "waiting" and party.job(small).f_status == "running"
    party.stop_job(holder)
    _until(party, small, lambda t: t["t"].f_status == "success")
    party.scheduler_pass()
    party.scheduler_pass()
    _until(party, big, lambda t: t["t"].f_status == "success")
    party.scheduler_pass()
    assert party.job(big).f_status == "success"
    party.assert_cores_all_back()


def test_stop_mid_run_then_the_detector_finds_nothing_to_do(party: InProcessParty):
    job_id = party.submit_dag(DIAMOND, _conf({"root": {"sleep": 30}}))
    party.scheduler_pass()
    pid = _until(party, job_id, lambda t: t["root"].f_run_pid is not None)["root"].f_run_pid
    party.stop_job(job_id)
    assert party.job(job_id).f_status == "canceled" and not _alive(pid)
    party.detector_pass()
    party.scheduler_pass()
    assert {t.f_status for t in party.tasks(job_id).values()} <= {"canceled", "waiting"}
    party.assert_cores_all_back()


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
