"""The board on a running two-party hetero LR job (many iterations): the running-jobs panel, the live log tail
(lines appended to the log file after the page opened show up, markup in them as text), then stop from the
board, which cancels the job at every party. The tests run in this order and share the job."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psutil
import pytest

from tests.board.conftest import ENDED, GUEST, XSS_MARKUP, Board, api, lr_conf, lr_dsl, submit_job, wait_until
from tests.support import ServerProcess

pytestmark = pytest.mark.browser
COMPONENT = "hetero_lr_0"
LIVE_DELAY_S = 5  # "within a few seconds" (the server polls its file every 0.2 s)


@pytest.fixture(scope="module")
def long_job(guest: ServerProcess, host: ServerProcess) -> Iterator[str]:
    """A hetero LR of 1,000 iterations in batches of 32 (about a second each): it runs until stopped. Its id,
    once its hetero_lr_0 task runs at the guest."""
    conf = lr_conf(1000, evaluation=False)
    conf["component_parameters"]["common"]["hetero_lr_0"].update(batch_size=32, tol=1e-12)
    job_id = submit_job(guest, lr_dsl(evaluation=False), conf)

    def lr_running() -> bool:
        tasks = guest.post("/v1/job/task/query", {"job_id": job_id, "component_name": COMPONENT}).get("data") or []
        return any(t["f_status"] == "running" for t in tasks)

    try:
        wait_until(lr_running, timeout=120, message=f"{COMPONENT} of {job_id} never ran at the guest")
        yield job_id
    finally:
        for server in (guest, host):
            rows = server.post("/v1/job/query", {"job_id": job_id}).get("data") or []
            if any(row["f_status"] not in ENDED for row in rows):
                server.post("/v1/job/stop", {"job_id": job_id})


def _line_texts(board: Board) -> list[str]:
    return board.js("return [...document.querySelectorAll('[data-testid=log-line]')].map(l => l.textContent)")


def test_running_jobs_panel_lists_the_running_job(board: Board, guest: ServerProcess, long_job: str):
    board.open(guest, "#/jobs")
    board.ready("jobsReady")
    panel = board.visible("running-jobs")
    board.wait(lambda d: long_job in " ".join(e.get_attribute("textContent") for e in board.find_all("running-job")),
               message=lambda: f"{long_job} not among the running jobs: {panel.text!r}")
    board.shot("jobs-running")


def test_log_tail_shows_lines_written_after_the_page_opened(board: Board, guest: ServerProcess, long_job: str):
    log_file = guest.home / "logs" / long_job / "guest" / GUEST / COMPONENT / "INFO.log"
    assert log_file.exists(), log_file
    board.open(guest, f"#/logs/{long_job}/guest/{GUEST}?component={COMPONENT}&type=componentInfo")
    board.wait(lambda d: board.find_all("log-line"), message="no log line shown")
    board.visible("log-live")
    opened = time.time()
    board.shot("logs")

    marker = f"board-test live line {time.time_ns()}"
    with open(log_file, "a") as log:
        log.write(f"[INFO] [{time.strftime('%Y-%m-%d %H:%M:%S')}] {marker}\n")
    written = time.monotonic()
    board.wait(lambda d: any(marker in text for text in _line_texts(board)), timeout=LIVE_DELAY_S,
               message=f"the appended line did not show within {LIVE_DELAY_S} s")
    delay = time.monotonic() - written
    assert board.find_all("log-live"), "the live marker went away while the job runs"

    with open(log_file, "a") as log:
        log.write(f"[INFO] {XSS_MARKUP}\n")
    board.wait(lambda d: any(XSS_MARKUP in text for text in _line_texts(board)), timeout=LIVE_DELAY_S,
               message=f"the markup line did not show as text within {LIVE_DELAY_S} s")
    assert board.js("return typeof window.__xss") == "undefined"
    assert board.js("return document.querySelectorAll('img[src=x], [onerror]').length") == 0
    numbers = board.js("return [...document.querySelectorAll('[data-testid=log-line]')].map(l => +l.dataset.lineNum)")
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), numbers[-20:]
    board.shot("logs-appended")
    print(f"live line shown {delay:.2f} s after it was written (page open {time.time() - opened:.1f} s)")


def _tasks(server: ServerProcess, job_id: str) -> list[dict]:
    return server.post("/v1/job/task/query", {"job_id": job_id}).get("data") or []


def _statuses(server: ServerProcess, job_id: str) -> list[tuple[str, str]]:
    return [(r["f_role"], r["f_status"]) for r in server.post("/v1/job/query", {"job_id": job_id}).get("data") or []]


def test_stop_from_the_board_cancels_the_job_on_every_party(board: Board, guest: ServerProcess,
                                                           host: ServerProcess, long_job: str):
    pids = [t["f_run_pid"] for server in (guest, host) for t in _tasks(server, long_job)
            if t["f_run_pid"] and t["f_status"] == "running"]
    assert pids, "no executor runs the job"
    board.open(guest, f"#/job/{long_job}/guest/{GUEST}")
    board.ready("dagReady")
    board.wait(lambda d: "running" in board.find("job-status").text.lower(),
               message=lambda: f"job status shows {board.find('job-status').text!r}, not running")
    board.shot("job-running")
    board.click(board.visible("stop-job"))
    ok = board.visible("confirm-ok")
    board.shot("job-stop-confirm")
    board.click(ok)

    for server, name in ((guest, "guest"), (host, "host")):
        def ended(server=server) -> list[dict] | None:
            rows = server.post("/v1/job/query", {"job_id": long_job}).get("data") or []
            return rows if rows and all(row["f_status"] in ENDED for row in rows) else None
        rows = wait_until(ended, timeout=60, message=lambda server=server, name=name: (
            f"the job has not ended at the {name}: {_statuses(server, long_job)}"))
        assert {row["f_role"] for row in rows} == ({"guest"} if server is guest else {"host", "arbiter"})
        assert all(row["f_status"] == "canceled" for row in rows), (
            f"stopped from the board, the job is not canceled at the {name}: "
            f"{[(row['f_role'], row['f_status'], row['f_error']) for row in rows]}")
        wait_until(lambda server=server: not any(t["f_status"] in ("running", "waiting")
                                                 for t in _tasks(server, long_job)),
                   timeout=30, message=lambda server=server, name=name: (
                       f"tasks still running at the {name}: {_tasks(server, long_job)}"))
        # the task the stop cut off was stopped: it did not fail (even where a peer stopped first)
        stopped = [(t["f_component_name"], t["f_role"], t["f_status"], t["f_party_status"])
                   for t in _tasks(server, long_job) if t["f_party_status"] not in ("success", "pass")]
        assert stopped and all(s == p == "canceled" for _, _, s, p in stopped), stopped

    def gone(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_until(lambda: all(gone(pid) for pid in pids), timeout=30, message=f"executors still alive: {pids}")
    board.wait(lambda d: "canceled" in board.find("job-status").text.lower(),
               message=lambda: f"the board shows {board.find('job-status').text!r}, not canceled")
    board.shot("job-canceled")
    assert api(guest, "/v1/job/query", {"job_id": long_job})["data"][0]["f_status"] == "canceled"
