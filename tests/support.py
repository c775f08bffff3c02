"""Test support: real servers as subprocesses, the real fate-client CLI, database selection."""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "examples" / "data"
LISTENING = re.compile(r"listening: http://([\d.]+):(\d+) grpc [\d.]+:(\d+)")
FATE_CLIENT_VENV = Path(os.environ.get("FATE_CLIENT_VENV", REPO / ".venv-fate-client"))
MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "passwd": ""}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mysql_reachable() -> bool:
    try:
        import pymysql

        pymysql.connect(host=MYSQL["host"], port=MYSQL["port"], user=MYSQL["user"], password=MYSQL["passwd"],
                        connect_timeout=2).close()
        return True
    except Exception:  # noqa: BLE001
        return False


def require_mysql() -> None:
    """Skip with a clear message where there is no MySQL; in CI a missing MySQL is a failure."""
    if mysql_reachable():
        return
    message = f"MySQL/MariaDB not reachable at {MYSQL['host']}:{MYSQL['port']} as {MYSQL['user']}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run the MySQL tests)")
    pytest.skip(message)


def database_env(engine: str) -> dict[str, str]:
    if engine == "sqlite":
        return {"FATE_FLOW_DATABASE__ENGINE": "sqlite"}
    require_mysql()
    return {
        "FATE_FLOW_DATABASE__ENGINE": "mysql",
        "FATE_FLOW_DATABASE__NAME": f"fate_flow_test_{uuid.uuid4().hex[:10]}",
        "FATE_FLOW_DATABASE__HOST": MYSQL["host"],
        "FATE_FLOW_DATABASE__PORT": str(MYSQL["port"]),
        "FATE_FLOW_DATABASE__USER": MYSQL["user"],
        "FATE_FLOW_DATABASE__PASSWD": '""',
    }


def drop_mysql_database(name: str) -> None:
    import pymysql

    connection = pymysql.connect(host=MYSQL["host"], port=MYSQL["port"], user=MYSQL["user"],
                                 password=MYSQL["passwd"])
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    connection.close()


class ServerProcess:
    """A real ``fate_flow server`` subprocess with its own home directory."""

    def __init__(self, home: Path, env: dict[str, str] | None = None, http_port: int = 0, grpc_port: int = 0,
                 config: Path | None = None):
        self.home = home
        self.config = config
        self.env = {**os.environ, **(env or {}), "FATE_FLOW_FATEFLOW__HTTP_PORT": str(http_port),
                    "FATE_FLOW_FATEFLOW__GRPC_PORT": str(grpc_port), "PYTHONUNBUFFERED": "1"}
        self.env.setdefault("FATE_FLOW_JOB_DEFAULT__DETECTOR_INTERVAL", "1")
        self.process: subprocess.Popen | None = None
        self.http_port = self.grpc_port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 30) -> ServerProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        self.stderr_path = self.home / f"server-{time.time_ns()}.err"
        with open(self.stderr_path, "wb") as stderr:
            config = ["--config", str(self.config)] if self.config else []
            self.process = subprocess.Popen([sys.executable, "-m", "fate_flow", "server", "--home", str(self.home),
                                             *config], cwd=REPO, env=self.env, stdout=subprocess.DEVNULL,
                                            stderr=stderr)
        deadline = time.time() + timeout
        while time.time() < deadline:
            match = LISTENING.search(self.stderr_path.read_text())
            if match:
                self.http_port, self.grpc_port = int(match.group(2)), int(match.group(3))
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"server did not start:\n{self.stderr_path.read_text()}")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait for the exit code. The server's own watchdog ends it within ``STOP_DEADLINE_S``
        (8 s); the rest is slack for a loaded machine (a CI run once saw 15 s pass). If it does not exit, the
        error carries the end of its stderr."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            tail = self.stderr_path.read_text(errors="replace")[-4000:] if self.stderr_path else ""
            raise AssertionError(f"the server did not stop within {timeout} s of SIGTERM; its stderr ends:\n{tail}") \
                from None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> dict:
        response = requests.post(self.url + path, json=body if body is not None else {}, timeout=30, **kwargs)
        return response.json()

    def wait_job(self, job_id: str, statuses: tuple[str, ...] = ("success", "failed", "canceled", "timeout"),
                 timeout: float = 30) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            rows = self.post("/v1/job/query", {"job_id": job_id}).get("data") or []
            if rows and rows[0]["f_status"] in statuses:
                return rows[0]
            time.sleep(0.05)
        raise TimeoutError(f"job {job_id} did not reach {statuses}: {rows}")


def upload_multipart(server: ServerProcess, conf: dict, file_path: Path | None) -> requests.Response:
    """POST data/upload exactly as fate-client 1.11.3 does: the conf as the URL-encoded JSON query string."""
    from urllib.parse import quote

    url = f"{server.url}/v1/data/upload?{quote(json.dumps(conf))}"
    if file_path is None:
        return requests.post(url, data=b"", timeout=30)
    with open(file_path, "rb") as stream:
        return requests.post(url, files={"file": (file_path.name, stream, "application/octet-stream")}, timeout=60)


class FlowCLI:
    """The real ``flow`` command of fate-client 1.11.3 (own virtualenv).

    ``flow init`` writes its settings into the installed package, so each FlowCLI runs a private copy
    of ``flow_client`` (first on PYTHONPATH): test runs side by side never see each other's server."""

    def __init__(self, venv: Path = FATE_CLIENT_VENV):
        self.flow = venv / "bin" / "flow"
        if not self.flow.exists():
            message = f"fate-client 1.11.3 not installed at {venv} (run: make fate-client)"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        installed = next((venv / "lib").glob("python3*/site-packages/flow_client"))
        private = Path(tempfile.mkdtemp(prefix="flow-cli-"))
        atexit.register(shutil.rmtree, private, True)
        shutil.copytree(installed, private / "flow_client", ignore=shutil.ignore_patterns("__pycache__"))
        self.env = {**os.environ, "PYTHONPATH": str(private)}

    def run(self, *args: str, cwd: Path | None = None) -> dict:
        completed = subprocess.run([str(self.flow), *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                                   env=self.env)
        text = completed.stdout
        start = text.find("{")
        if start < 0:
            raise AssertionError(f"flow {' '.join(args)} printed no JSON: {text!r} {completed.stderr!r}")
        return json.loads(text[start:])

    def init(self, server: ServerProcess) -> None:
        assert self.run("init", "--ip", "127.0.0.1", "--port", str(server.http_port))["retcode"] == 0


def make_party_key(home: Path) -> str:
    """This party's Ed25519 key pair in its home (as ``fate_flow keys init`` makes it); its public key's text."""
    from fate_flow.federation.keys import create_key_pair, public_key_text

    return public_key_text(create_key_pair(home / "keys" / "site_ed25519.key", force=True).public_key())


def start_parties(factory, party_ids: list[str], protocol: str = "http", engines: dict[str, str] | None = None,
                  env: dict[str, str] | None = None, keys: dict[str, dict[str, str]] | None = None,
                  party_env: dict[str, dict[str, str]] | None = None) -> dict:
    """One real server per party (``factory`` is the server_factory fixture), each with the route table of
    all of them, signing its calls: with its own Ed25519 key (made in its home, the public keys in every
    route table), or, given ``keys`` (a party id -> its HMAC site keys), in hmac mode. ``env`` is every
    server's extra environment, ``party_env`` one party's on top of it."""
    ports = {p: (free_port(), free_port()) for p in party_ids}
    public_keys = {p: make_party_key(factory.root / f"party-{p}") for p in party_ids} if keys is None else {}
    routes = json.dumps({p: {"host": "127.0.0.1", "http_port": h, "grpc_port": g,
                             **({"public_key": public_keys[p]} if p in public_keys else {})}
                         for p, (h, g) in ports.items()})
    servers = {}
    for party_id, (http_port, grpc_port) in ports.items():
        # the repository's service_conf.yaml says switch: false; these parties sign, as a real deployment does
        party_env = {"FATE_FLOW_PARTY_ID": party_id, "FATE_FLOW_DEFAULT_ENGINES__FEDERATION": "direct",
                     "FATE_FLOW_ROUTE_TABLE": routes, "FATE_FLOW_FATEFLOW__PROTOCOL": protocol,
                     "FATE_FLOW_AUTHENTICATION__SITE__SWITCH": "true", **(env or {}),
                     **(party_env or {}).get(party_id, {})}
        if keys is not None:
            party_env["FATE_FLOW_AUTHENTICATION__SITE__MODE"] = "hmac"
            party_env["FATE_FLOW_AUTHENTICATION__SITE__KEYS"] = json.dumps(keys.get(party_id, {}))
        servers[party_id] = factory((engines or {}).get(party_id, "sqlite"), name=f"party-{party_id}",
                                    env=party_env, http_port=http_port, grpc_port=grpc_port)
    return servers
