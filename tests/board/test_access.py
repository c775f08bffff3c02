"""Who may see the board: a server with ``board.auth`` shows a login form and no data (a wrong password says so,
the right one shows the jobs, a POST without the session's CSRF token is refused); a server listening beyond
loopback without ``board.auth`` shows how to set it and no data; ``board.enabled: false`` is a 404; ``/``
redirects to ``/board/``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from tests.board.conftest import ENDED, GUEST, Board
from tests.support import REPO, ServerProcess, database_env

pytestmark = pytest.mark.browser
USER, PASSWORD = "admin", "correct horse battery staple"
SLOW = {"job_dsl": {"components": {"slow_0": {"module": "TestModule"}}},
        "job_runtime_conf": {"dsl_version": 2, "initiator": {"role": "guest", "party_id": int(GUEST)},
                             "role": {"guest": [int(GUEST)]},
                             "component_parameters": {"common": {"slow_0": {"sleep": 120}}}}}
QUICK = {"job_dsl": {"components": {"quick_0": {"module": "TestModule"}}},
         "job_runtime_conf": {**SLOW["job_runtime_conf"], "component_parameters": {"common": {"quick_0": {}}}}}


def _hash(password: str) -> str:
    """The hash as an operator makes it: ``fate_flow board hash-password``, the password on stdin."""
    done = subprocess.run([sys.executable, "-m", "fate_flow", "board", "hash-password", "--password-stdin"],
                          input=password + "\n", capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def _standalone(board_factory, name: str, env: dict[str, str]) -> ServerProcess:
    return board_factory(name=name, env={"FATE_FLOW_PARTY_ID": GUEST, **database_env("sqlite"), **env})


def _submit(server: ServerProcess, job: dict) -> str:
    answer = server.post("/v1/job/submit", job)
    assert answer["retcode"] == 0, answer
    return answer["jobId"]


@pytest.fixture(scope="module")
def auth_server(board_factory) -> Iterator[tuple[ServerProcess, str, str]]:
    """A standalone server with a board login; a finished job and a running one (sleeping) on it."""
    server = _standalone(board_factory, "auth", {"FATE_FLOW_BOARD__AUTH__USER": USER,
                                                 "FATE_FLOW_BOARD__AUTH__PASSWORD_HASH": _hash(PASSWORD)})
    done = _submit(server, QUICK)
    assert server.wait_job(done, ENDED, timeout=60)["f_status"] == "success"
    running = _submit(server, SLOW)
    server.wait_job(running, ("running",), timeout=60)
    yield server, done, running
    server.post("/v1/job/stop", {"job_id": running})


def _no_job_data(board: Board, *job_ids: str) -> None:
    source = board.driver.page_source
    for job_id in job_ids:
        assert job_id not in source, f"job {job_id} shown before login"
    assert not board.find_all("job-row")


def test_login_is_required_and_a_wrong_password_refused(board: Board, auth_server):
    server, done, running = auth_server
    board.open(server, "#/jobs")
    user = board.visible("login-user")
    board.shot("login")
    _no_job_data(board, done, running)

    board.set_value(user, USER)
    board.set_value(board.find("login-password"), "not the password")
    board.click(board.find("login-submit"))
    # the error line is laid out (empty) from the start: wait for the server's answer in it, else the next
    # click would land on the still-disabled button while the first login is being checked
    board.wait(lambda d: "wrong user or password" in board.visible("login-error").text,
               message=lambda: f"no refusal shown: {board.find('login-error').text!r}")
    board.shot("login-error")
    _no_job_data(board, done, running)

    board.set_value(board.find("login-user"), USER)
    board.set_value(board.find("login-password"), PASSWORD)
    board.click(board.find("login-submit"))
    board.ready("jobsReady")
    board.wait(lambda d: {done, running} <= {r.get_attribute("data-job-id") for r in board.find_all("job-row")},
               message=lambda: "after login the jobs are not listed: "
                               + str([r.get_attribute("data-job-id") for r in board.find_all("job-row")]))
    board.shot("jobs")

    board.click(board.visible("logout"))
    board.visible("login-user")
    board.open(server, "#/jobs")  # a reload after logout: the session is gone
    board.visible("login-user")
    _no_job_data(board, done, running)


def test_a_post_without_the_csrf_token_is_refused(auth_server):
    server, _, running = auth_server
    session = requests.Session()
    login = session.post(server.url + "/board/login", json={"user": USER, "password": PASSWORD}, timeout=30)
    assert login.status_code == 200 and login.json()["retcode"] == 0, login.text
    token = login.json()["data"]["csrf_token"]
    assert session.cookies, "the login set no session cookie"

    refused = session.post(server.url + "/v1/job/stop", json={"job_id": running}, timeout=30)
    assert refused.status_code == 403 or refused.json()["retcode"] != 0, refused.text
    assert server.post("/v1/job/query", {"job_id": running})["data"][0]["f_status"] == "running"

    accepted = session.post(server.url + "/v1/job/stop", json={"job_id": running}, timeout=30,
                            headers={"X-CSRF-Token": token})
    assert accepted.status_code == 200 and accepted.json()["retcode"] == 0, accepted.text
    assert server.wait_job(running, ENDED, timeout=60)["f_status"] == "canceled"


# the page is the answer 403 (Forbidden) on purpose: Chromium logs that status of the document itself
@pytest.mark.console_allows(r"/board/#/jobs - Failed to load resource: the server responded with a status of 403")
def test_beyond_loopback_without_auth_the_board_says_how_to_set_it(board: Board, board_factory):
    server = _standalone(board_factory, "open", {"FATE_FLOW_FATEFLOW__HOST": "0.0.0.0"})
    job_id = _submit(server, QUICK)
    assert server.wait_job(job_id, ENDED, timeout=60)["f_status"] == "success"
    board.open(server, "#/jobs")
    board.wait(lambda d: "board.auth" in d.find_element("tag name", "body").text,
               message=lambda: f"the page does not say how to set board.auth: {board.driver.page_source[:500]!r}")
    board.shot("locked")
    _no_job_data(board, job_id)
    for path in ("/board/index.html", "/board/js/app.js"):
        assert requests.get(server.url + path, timeout=30).status_code in (403, 404), path


def test_a_disabled_board_is_not_found(board_factory):
    server = _standalone(board_factory, "disabled", {"FATE_FLOW_BOARD__ENABLED": "false"})
    for path in ("/board/", "/board/index.html", "/board/session"):
        assert requests.get(server.url + path, timeout=30).status_code == 404, path
    assert server.post("/v1/job/list/job", {})["retcode"] == 0  # the API is not the board


def test_the_root_redirects_to_the_board(board: Board, guest: ServerProcess, lr_job: str):
    answer = requests.get(guest.url + "/", allow_redirects=False, timeout=30)
    assert answer.status_code in (301, 302, 303, 307, 308) and answer.headers["Location"].endswith("/board/")
    board.open(guest, path="/")
    board.wait(lambda d: "/board/" in d.current_url, message=lambda: f"at {board.driver.current_url}")
    board.ready("jobsReady")
    board.shot("root")
    assert lr_job in {r.get_attribute("data-job-id") for r in board.find_all("job-row")}
