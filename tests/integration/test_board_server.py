"""The board's server side on real servers: who may see it (login, sessions, CSRF, other sites' pages, a
server others can reach), the live log tail, and the APIs the board added (tables, routes, wait reasons)."""

from __future__ import annotations

import csv
import json
import threading
import time
from pathlib import Path

import pytest
import requests

from fate_flow.settings import SettingsError, load_settings
from fate_flow.utils.passwords import hash_password, verify_password
from tests.inprocess import InProcessParty
from tests.support import DATA, free_port, make_party_key, upload_multipart

PASSWORD = "correct horse battery staple"
HASH = hash_password(PASSWORD)


def test_password_hashes_are_salted_and_checked():
    assert hash_password(PASSWORD) != HASH  # a fresh salt each time
    assert verify_password(PASSWORD, HASH)
    assert not verify_password(PASSWORD + " ", HASH)
    assert not verify_password(PASSWORD, "scrypt$2$1$1$AAAA$AAAA")  # malformed: refused, never an exception
    with pytest.raises(SettingsError, match="board.auth.password_hash"):
        load_settings(home=Path("/tmp/unused"), environ={"FATE_FLOW_BOARD__AUTH__USER": "admin",
                                                         "FATE_FLOW_BOARD__AUTH__PASSWORD_HASH": "secret"})
    with pytest.raises(SettingsError, match="board.enabled"):
        load_settings(home=Path("/tmp/unused"), environ={"FATE_FLOW_BOARD__ENABLED": "maybe"})


def test_the_board_is_served_with_a_strict_policy(shared_server):
    root = requests.get(shared_server.url + "/", allow_redirects=False, timeout=10)
    assert root.status_code == 302 and root.headers["Location"].endswith("/board/")
    page = requests.get(shared_server.url + "/board/", timeout=10)
    assert page.status_code == 200 and "<html" in page.text.lower()
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    for escape in ("/board/../fate_flow/settings.py", "/board/%2e%2e/settings.py", "/board/..%2fapp.py"):
        assert requests.get(shared_server.url + escape, timeout=10).status_code == 404, escape
    session = requests.get(shared_server.url + "/board/session", timeout=10).json()
    assert session == {"auth_required": False, "logged_in": False, "user": None, "csrf_token": None, "locked": False}


def test_pages_of_other_sites_may_not_call_the_server(shared_server):
    foreign = requests.post(shared_server.url + "/v1/job/stop", json={"job_id": "x"}, timeout=10,
                            headers={"Origin": "http://attacker.example"})
    assert foreign.json()["retcode"] == 109 and "another site" in foreign.json()["retmsg"]
    fetched = requests.post(shared_server.url + "/v1/job/list/job", json={}, timeout=10,
                            headers={"Sec-Fetch-Site": "cross-site"})
    assert fetched.json()["retcode"] == 109
    same = requests.post(shared_server.url + "/v1/job/list/job", json={}, timeout=10,
                         headers={"Origin": shared_server.url})
    assert same.json()["retcode"] == 0


def test_a_disabled_board_is_not_there(server_factory):
    server = server_factory(env={"FATE_FLOW_BOARD__ENABLED": "false"})
    assert requests.get(server.url + "/board/", timeout=10).status_code == 404
    assert requests.get(server.url + "/", timeout=10, allow_redirects=False).status_code == 404


def test_a_server_others_can_reach_shows_no_board_without_a_login(server_factory):
    server = server_factory(env={"FATE_FLOW_FATEFLOW__HOST": "0.0.0.0"})
    url = f"http://127.0.0.1:{server.http_port}"
    page = requests.get(url + "/board/", timeout=10)
    assert page.status_code == 403 and "board.auth" in page.text and "hash-password" in page.text
    assert requests.get(url + "/board/js/main.js", timeout=10).status_code == 404
    assert requests.get(url + "/board/session", timeout=10).json()["locked"] is True


def test_login_sessions_and_csrf(server_factory):
    server = server_factory(env={"FATE_FLOW_BOARD__AUTH__USER": "admin",
                                 "FATE_FLOW_BOARD__AUTH__PASSWORD_HASH": HASH})
    browser = requests.Session()
    assert browser.get(server.url + "/board/session", timeout=10).json()["auth_required"] is True
    wrong = browser.post(server.url + "/board/login", json={"user": "admin", "password": "guess"}, timeout=10)
    assert wrong.json() == {"retcode": 109, "retmsg": "wrong user or password"} and not browser.cookies
    logged = browser.post(server.url + "/board/login", json={"user": "admin", "password": PASSWORD}, timeout=10)
    assert logged.json()["retcode"] == 0
    cookie = logged.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    csrf = logged.json()["data"]["csrf_token"]
    assert browser.get(server.url + "/board/session", timeout=10).json()["logged_in"] is True
    # the cookie alone does not change anything: another site's form could send it
    without = browser.post(server.url + "/v1/job/list/job", json={}, timeout=10)
    assert without.json()["retcode"] == 109 and "CSRF" in without.json()["retmsg"]
    listed = browser.post(server.url + "/v1/job/list/job", json={}, headers={"X-CSRF-Token": csrf}, timeout=10)
    assert listed.json()["retcode"] == 0
    forged = browser.post(server.url + "/v1/job/list/job", json={}, headers={"X-CSRF-Token": csrf[:-1]}, timeout=10)
    assert forged.json()["retcode"] == 109
    browser.post(server.url + "/board/logout", headers={"X-CSRF-Token": csrf}, timeout=10)
    assert browser.get(server.url + "/board/session", timeout=10).json()["logged_in"] is False


def test_failed_logins_are_throttled(server_factory):
    server = server_factory(env={"FATE_FLOW_BOARD__AUTH__USER": "admin",
                                 "FATE_FLOW_BOARD__AUTH__PASSWORD_HASH": HASH})
    for _ in range(5):
        requests.post(server.url + "/board/login", json={"user": "admin", "password": "guess"}, timeout=10)
    throttled = requests.post(server.url + "/board/login", json={"user": "admin", "password": PASSWORD}, timeout=10)
    assert throttled.json()["retcode"] == 109 and "too many failed logins" in throttled.json()["retmsg"]
    assert int(throttled.headers["Retry-After"]) > 0
    bad = requests.post(server.url + "/board/login", json={"user": "admin", "password": ["x"]}, timeout=10)
    assert bad.json()["retcode"] == 109 and "password" in bad.json()["retmsg"]


def _read_events(response: requests.Response, events: list, stop: threading.Event) -> None:
    name = None
    try:
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:]), time.monotonic()))
                if name == "end" or stop.is_set():
                    return
    except (AttributeError, requests.RequestException):
        return  # the test closed the response while this thread read it


def test_the_log_tail_streams_lines_as_they_are_written(shared_server):
    job_id = shared_server.post("/v1/job/submit", {"job_dsl": {"components": {"t": {"module": "TestModule"}}},
                                                   "job_runtime_conf": SLEEPING_JOB})["jobId"]
    log = shared_server.home / "logs" / job_id / "guest" / "9999" / "t" / "INFO.log"
    _wait(log.is_file, 30)
    url = (f"{shared_server.url}/v1/log/stream?job_id={job_id}&role=guest&party_id=9999&component_name=t"
           "&log_type=componentInfo")
    events, stop = [], threading.Event()
    with requests.get(url, stream=True, timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        threading.Thread(target=_read_events, args=(response, events, stop), daemon=True).start()
        _wait(lambda: events, 5)  # what the executor wrote so far
        time.sleep(0.3)
        with log.open("a") as stream:
            stream.write("board <script>x</script>\nhalf a")
        written = time.monotonic()
        arrived = _wait(lambda: _line_arrival(events, "board <script>x</script>"), 5)
        with log.open("a") as stream:
            stream.write(" line\n")
        _wait(lambda: _line_arrival(events, "half a line"), 5)
        stop.set()
    assert arrived - written < 1.0  # the target: at most 1 s from the write to the reader
    contents = [line["content"] for name, lines, _ in events if name == "lines" for line in lines]
    assert "half a" not in contents  # a line is sent once complete
    numbers = [line["line_num"] for name, lines, _ in events if name == "lines" for line in lines]
    assert numbers == list(range(1, len(numbers) + 1))
    # resumed where the browser left off (EventSource sends Last-Event-ID), then ended with the job
    shared_server.post("/v1/job/stop", {"job_id": job_id})
    shared_server.wait_job(job_id)
    events = []
    with requests.get(url, stream=True, timeout=30, headers={"Last-Event-ID": str(numbers[-1])}) as response:
        _read_events(response, events, threading.Event())
    assert events[-1][0] == "end"
    resent = [line["line_num"] for name, lines, _ in events if name == "lines" for line in lines]
    assert not resent or resent[0] == numbers[-1] + 1


SLEEPING_JOB = {"dsl_version": 2, "initiator": {"role": "guest", "party_id": 9999}, "role": {"guest": [9999]},
                "job_parameters": {"common": {"task_parallelism": 1, "task_cores": 1}},
                "component_parameters": {"common": {"t": {"sleep": 30}}}}


def _line_arrival(events: list, content: str) -> float | None:
    return next((at for name, lines, at in events if name == "lines" for line in lines if line["content"] == content),
                None)


def _wait(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return value


def test_tables_are_listed_and_previewed(shared_server):
    uploaded = upload_multipart(shared_server, {"file": "breast_hetero_guest.csv", "head": 1, "partition": 2,
                                                "namespace": "board", "table_name": "breast_guest", "drop": 1},
                                DATA / "breast_hetero_guest.csv").json()
    assert shared_server.wait_job(uploaded["jobId"])["f_status"] == "success"
    listed = shared_server.post("/v1/table/list", {"namespace": "boa", "limit": 10})["data"]
    assert listed["count"] == 1
    table = listed["tables"][0]
    assert (table["namespace"], table["table_name"], table["count"], table["partitions"]) == (
        "board", "breast_guest", 569, 2)
    preview = shared_server.post("/v1/table/preview", {"namespace": "board", "table_name": "breast_guest",
                                                       "limit": 5})["data"]
    with (DATA / "breast_hetero_guest.csv").open() as stream:
        expected = list(csv.reader(stream))[:6]
    assert preview["header"] == expected[0] and preview["count"] == 569
    assert [[str(v) for v in row[:2]] for row in preview["rows"]] == [row[:2] for row in expected[1:]]
    assert [float(v) for v in preview["rows"][0][2:]] == [float(v) for v in expected[1][2:]]
    too_many = shared_server.post("/v1/table/preview", {"namespace": "board", "table_name": "breast_guest",
                                                        "limit": 1000})
    assert too_many["retcode"] == 101 and "limit" in too_many["retmsg"]
    missing = shared_server.post("/v1/table/preview", {"namespace": "board", "table_name": "nothing"})
    assert missing["retcode"] != 0


def test_routes_say_which_parties_answer(server_factory):
    closed = free_port()
    other = server_factory(name="other")
    server = server_factory(env={
        "FATE_FLOW_DEFAULT_ENGINES__FEDERATION": "direct", "FATE_FLOW_AUTHENTICATION__SITE__SWITCH": "false",
        "FATE_FLOW_ROUTE_TABLE": json.dumps({"10000": {"host": "127.0.0.1", "http_port": other.http_port,
                                                      "grpc_port": other.grpc_port},
                                            "10001": {"host": "127.0.0.1", "http_port": closed, "grpc_port": closed}})})
    routes = {r["party_id"]: r for r in server.post("/v1/server/routes", {})["data"]["routes"]}
    assert routes["10000"]["reachable"] is True and routes["10000"]["latency_ms"] is not None
    assert routes["10001"]["reachable"] is False and routes["10001"]["error"]


@pytest.fixture
def party(tmp_path: Path):
    party = InProcessParty(tmp_path / "home", run_loops=False).start()
    yield party
    party.stop()


def test_a_waiting_job_says_what_it_waits_for(party: InProcessParty):
    def conf(cores: int, sleep: float = 0) -> dict:
        return {"dsl_version": 2, "initiator": {"role": "guest", "party_id": 9999}, "role": {"guest": [9999]},
                "job_parameters": {"common": {"task_parallelism": 1, "task_cores": cores}},
                "component_parameters": {"common": {"t": {"sleep": sleep}}}}

    dsl = {"components": {"t": {"module": "TestModule"}}}
    holder = party.submit_dag(dsl, conf(16, sleep=30))
    party.scheduler_pass()
    big = party.submit_dag(dsl, conf(8))
    behind = party.submit_dag(dsl, conf(8))
    before = requests.post(f"http://127.0.0.1:{party.http_port}/v1/job/list/job", json={"job_id": behind},
                           timeout=10).json()["data"]["jobs"][0]
    assert before["wait_reason"].startswith("its turn") and before["queue_position"] == 2
    party.scheduler_pass()
    rows = {row["job_id"]: row for row in requests.post(
        f"http://127.0.0.1:{party.http_port}/v1/job/list/job", json={"status": "waiting"}, timeout=10,
    ).json()["data"]["jobs"]}
    assert rows[big]["wait_reason"] == "cores: needs 8, 4 free at party 9999"
    assert rows[big]["queue_position"] == 1
    assert rows[behind]["queue_position"] == 2 and "1 waiting job ahead" in rows[behind]["wait_reason"]
    queried = requests.post(f"http://127.0.0.1:{party.http_port}/v1/job/query", json={"job_id": big},
                            timeout=10).json()["data"][0]
    assert queried["f_wait_reason"] == rows[big]["wait_reason"]  # what `flow job query` prints
    running = requests.post(f"http://127.0.0.1:{party.http_port}/v1/job/list/job", json={"job_id": holder},
                            timeout=10).json()["data"]["jobs"][0]
    assert running["wait_reason"] is None and running["queue_position"] is None
    party.stop_job(holder)
    party.scheduler_pass()


def test_a_job_waits_while_a_party_is_briefly_unreachable_then_fails(tmp_path: Path, server_factory):
    """Its cores applied for while the host is down: the job waits, saying which party it waits for, and
    fails once the party has been unreachable for ``party_unreachable_after`` seconds."""
    guest_id, host_id = "9999", "10000"
    ports = {guest_id: (free_port(), free_port()), host_id: (free_port(), free_port())}
    keys = {guest_id: make_party_key(tmp_path / "guest"), host_id: make_party_key(server_factory.root / "host")}
    routes = json.dumps({p: {"host": "127.0.0.1", "http_port": h, "grpc_port": g, "public_key": keys[p]}
                         for p, (h, g) in ports.items()})
    common = {"FATE_FLOW_DEFAULT_ENGINES__FEDERATION": "direct", "FATE_FLOW_ROUTE_TABLE": routes,
              "FATE_FLOW_AUTHENTICATION__SITE__SWITCH": "true", "FATE_FLOW_JOB_DEFAULT__PARTY_UNREACHABLE_AFTER": "3"}
    guest = InProcessParty(tmp_path / "guest", run_loops=False, party_id=guest_id, grpc_port=ports[guest_id][1],
                           env=common)
    guest.http_port = ports[guest_id][0]
    guest.start()
    try:
        host = server_factory("sqlite", name="host", env={"FATE_FLOW_PARTY_ID": host_id, **common},
                              http_port=ports[host_id][0], grpc_port=ports[host_id][1])
        conf = {"dsl_version": 2, "initiator": {"role": "guest", "party_id": int(guest_id)},
                "role": {"guest": [int(guest_id)], "host": [int(host_id)]},
                "job_parameters": {"common": {"task_cores": 1}}, "component_parameters": {"common": {}}}
        job_id = guest.submit_dag({"components": {"t": {"module": "TestModule"}}}, conf)
        host.kill()
        guest.scheduler_pass()
        url = f"http://127.0.0.1:{guest.http_port}/v1/job/list/job"
        row = requests.post(url, json={"job_id": job_id}, timeout=10).json()["data"]["jobs"][0]
        assert row["status"] == "waiting" and row["queue_position"] == 1
        assert row["wait_reason"].startswith(f"party host {host_id} unreachable for "), row["wait_reason"]
        time.sleep(3.2)
        guest.scheduler_pass()
        job = guest.job(job_id)
        assert job.f_status == "failed" and "could not apply resources" in (job.f_error or ""), job.f_error
    finally:
        guest.stop()
