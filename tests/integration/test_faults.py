"""Faults a party lives through: its server killed mid-job and restarted after the task ended, its database
restarted mid-job, its disk full during an upload, its home turned read-only. Every job reaches an end
status, a finished task's success is not lost, cores come back, no half table is visible, and the server
answers clear errors meanwhile."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import DATA, ServerProcess, free_port, upload_multipart

MARIADBD = Path("/usr/sbin/mariadbd")


def _local_job(params: dict) -> dict:
    return {"job_dsl": {"components": {"test_0": {"module": "TestModule"}}},
            "job_runtime_conf": {"dsl_version": 2, "initiator": {"role": "local", "party_id": 0},
                                 "role": {"local": [0]},
                                 "component_parameters": {"role": {"local": {"0": {"test_0": params}}}}}}


def _wait_status(server: ServerProcess, job_id: str, wanted: str, timeout: float = 30) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = server.post("/v1/job/task/query", {"job_id": job_id}).get("data") or []
        if rows and rows[0]["f_party_status"] == wanted:
            return rows[0]
        time.sleep(0.1)
    raise TimeoutError(f"task of {job_id} never {wanted}")


def _assert_cores_back(server: ServerProcess) -> None:
    deadline = time.time() + 15
    while time.time() < deadline:
        engine = server.post("/v1/resource/query", {})["data"]["computing_engine_resource"]
        if engine["f_remaining_cores"] == engine["f_cores"]:
            return
        time.sleep(0.2)
    raise AssertionError(f"cores not back: {engine}")


def test_a_task_that_finished_while_its_server_was_down_succeeds(server_factory):
    """The server is killed while the task runs and comes back only after the task ended: the executor kept
    retrying its reports (the start one too, when the kill came first), and the success lands."""
    server = server_factory(http_port=free_port(), grpc_port=free_port())  # the same address after the restart
    job_id = server.post("/v1/job/submit", _local_job({"sleep": 2}))["jobId"]
    _wait_status(server, job_id, "running")
    server.kill()
    time.sleep(9)  # the task ended ~7 s ago; the old executor gave up after ~6 s
    server.start()
    assert server.wait_job(job_id, timeout=60)["f_status"] == "success"
    _assert_cores_back(server)


# -- a private MariaDB, to restart under the server ------------------------------------------------------------
class PrivateMariaDB:
    def __init__(self, root: Path):
        self.root, self.port = root, free_port()
        self.process: subprocess.Popen | None = None

    def install(self) -> PrivateMariaDB:
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.root / 'data'}", "--user=root",
                        "--auth-root-authentication-method=normal", "--skip-test-db"], check=True,
                       capture_output=True, timeout=120)
        return self

    def start(self) -> PrivateMariaDB:
        self.process = subprocess.Popen(
            [str(MARIADBD), "--no-defaults", f"--datadir={self.root / 'data'}", f"--socket={self.root / 'sock'}",
             f"--port={self.port}", "--bind-address=127.0.0.1", "--user=root", "--skip-name-resolve"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the private MariaDB did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def private_mariadb(tmp_path: Path) -> Iterator[PrivateMariaDB]:
    if not MARIADBD.exists() or shutil.which("mariadb-install-db") is None:
        if os.environ.get("CI"):
            pytest.fail("mariadbd and mariadb-install-db are needed (Debian's mariadb-server)")
        pytest.skip("no mariadbd on this machine: the database-restart test needs Debian's mariadb-server")
    database = PrivateMariaDB(tmp_path / "mariadb").install().start()
    yield database
    database.kill()


def test_a_database_restarted_mid_job(server_factory, private_mariadb: PrivateMariaDB):
    """MariaDB dies while a task runs (its end report then fails on the server's side) and restarts: the
    report is retried until it lands, the job succeeds, the cores come back."""
    env = {"FATE_FLOW_DATABASE__ENGINE": "mysql", "FATE_FLOW_DATABASE__NAME": "fate_flow_fault",
           "FATE_FLOW_DATABASE__HOST": "127.0.0.1", "FATE_FLOW_DATABASE__PORT": str(private_mariadb.port),
           "FATE_FLOW_DATABASE__USER": "root", "FATE_FLOW_DATABASE__PASSWD": '""'}
    server = server_factory("sqlite", env=env, http_port=free_port(), grpc_port=free_port())
    job_id = server.post("/v1/job/submit", _local_job({"sleep": 3}))["jobId"]
    _wait_status(server, job_id, "running")
    private_mariadb.kill()
    time.sleep(5)  # the task ends with the database down
    down = server.post("/v1/job/query", {"job_id": job_id})
    assert down["retcode"] == 100 and "Traceback" not in down["retmsg"], down
    private_mariadb.start()
    assert server.wait_job(job_id, timeout=60)["f_status"] == "success"
    _assert_cores_back(server)


# -- a full disk, a read-only home ------------------------------------------------------------------------------
@pytest.fixture
def small_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "small"
    home.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(home)], capture_output=True)
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs (needs root): {mounted.stderr.decode()}")
        pytest.skip("cannot mount a tmpfs here (needs root): the disk-full and read-only tests need one")
    yield home
    subprocess.run(["umount", "-l", str(home)], capture_output=True)


def test_an_upload_that_fills_the_disk_fails_cleanly(small_home: Path, tmp_path: Path):
    big = tmp_path / "big.csv"
    row = ",".join(f"{i * 0.001:.6f}" for i in range(20))
    with big.open("w") as out:
        out.write("id," + ",".join(f"x{i}" for i in range(20)) + "\n")
        for i in range(400_000):
            out.write(f"{i},{row}\n")
    server = ServerProcess(small_home / "party", {"FATE_FLOW_DATABASE__ENGINE": "sqlite"}).start()
    try:
        response = upload_multipart(server, {"namespace": "experiment", "table_name": "big", "head": 1}, big)
        answer = response.json()
        assert answer["retcode"] != 0 or server.wait_job(answer["jobId"], timeout=60)["f_status"] == "failed"
        if answer["retcode"] != 0:
            assert "No space left" in answer["retmsg"], answer
        info = server.post("/v1/table/table_info", {"namespace": "experiment", "table_name": "big"})
        assert info["retcode"] == 0 and info["data"]["exist"] == 0  # no half table
        for leftover in (small_home / "party" / "jobs").rglob("*.csv"):
            leftover.unlink()  # make room: the party must work again
        small = upload_multipart(server, {"namespace": "experiment", "table_name": "small", "head": 1},
                                 DATA / "breast_hetero_guest.csv").json()
        assert server.wait_job(small["jobId"], timeout=30)["f_status"] == "success"
        _assert_cores_back(server)
    finally:
        server.stop()


def test_a_read_only_home_answers_a_clear_error(small_home: Path):
    """The jobs directory turns read-only under the server (a bind mount: a file system cannot be remounted
    read-only while the server's database and logs are open in it): a submit answers what failed and where."""
    server = ServerProcess(small_home / "party", {"FATE_FLOW_DATABASE__ENGINE": "sqlite"}).start()
    jobs = small_home / "party" / "jobs"
    try:
        subprocess.run(["mount", "--bind", str(jobs), str(jobs)], check=True)
        subprocess.run(["mount", "-o", "remount,ro,bind", str(jobs)], check=True)
        answer = server.post("/v1/job/submit", _local_job({"sleep": 0}))
        # the party's create failed: the submit says so (103), with the party's reason
        assert answer["retcode"] == 103 and "read-only file system" in answer["retmsg"].lower(), answer
        assert str(jobs) in answer["retmsg"] and "Traceback" not in answer["retmsg"]
        subprocess.run(["umount", str(jobs)], check=True)
        answer = server.post("/v1/job/submit", _local_job({"sleep": 0}))
        assert answer["retcode"] == 0 and server.wait_job(answer["jobId"])["f_status"] == "success"
    finally:
        subprocess.run(["umount", str(jobs)], capture_output=True)
        server.stop()
