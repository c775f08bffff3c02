"""Helpers of the federation benchmarks: two real servers (guest 9999, host 10000) on loopback with the
``direct`` federation engine, or one standalone server playing both; submit; wait for success on all parties.

The environment is the one of tests/support.py ``start_parties``: fixed free ports, a route table naming
both parties with their public keys (each party's key pair made in its home, as ``fate_flow keys init``
makes it: every call and every object between them is signed), ``FATE_FLOW_FATEFLOW__PROTOCOL`` http or
grpc for the party-to-party calls.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from benchlib import stop_process

REPO = Path(__file__).resolve().parent.parent
PYTHON = REPO / ".venv" / "bin" / "python"
GUEST, HOST = "9999", "10000"
POLL_S = 0.01
ENDED = ("success", "failed", "canceled", "timeout")


@dataclass
class Party:
    """One ``python -m fate_flow server`` subprocess in its own temporary home."""

    party_id: str
    home: Path
    proc: subprocess.Popen
    url: str
    session: requests.Session = field(default_factory=requests.Session)

    def post(self, path: str, payload: dict, timeout: float = 30) -> dict:
        return self.session.post(f"{self.url}{path}", json=payload, timeout=timeout).json()

    def statuses(self, job_id: str) -> list[str]:
        return [row["f_status"] for row in self.post("/v1/job/query", {"job_id": job_id}, timeout=10).get("data") or []]

    def tasks(self, job_id: str) -> list[dict]:
        return self.post("/v1/job/task/query", {"job_id": job_id})["data"]

    def stop(self) -> None:
        stop_process(self.proc)
        self.session.close()

    def engine_registry(self) -> list[tuple]:
        """(engine name, total cores, remaining cores, total memory, remaining memory) from the SQLite DB."""
        db = self.home / "fate_flow_sqlite.db"
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute("SELECT * FROM t_engine_registry").fetchall()
        return [dict(r) for r in rows]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _new_home(party_id: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"ffbench-party{party_id}-"))


def _make_key(home: Path) -> str:
    """The party's key pair in its home; its public key's text (for the partners' route tables)."""
    from fate_flow.federation.keys import create_key_pair, public_key_text

    return public_key_text(create_key_pair(home / "keys" / "site_ed25519.key").public_key())


def _spawn(party_id: str, env: dict[str, str], http_port: int, home: Path | None = None) -> Party:
    home = home or _new_home(party_id)
    stderr = (home / "server.stderr").open("wb")
    proc = subprocess.Popen([str(PYTHON), "-m", "fate_flow", "server", "--home", str(home)],
                            env=dict(os.environ, **env), cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr)
    stderr.close()
    return Party(party_id, home, proc, f"http://127.0.0.1:{http_port}")


def _wait_up(party: Party, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if party.proc.poll() is not None:
            tail = (party.home / "server.stderr").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"party {party.party_id} exited with {party.proc.returncode}: {tail}")
        try:
            if party.session.get(f"{party.url}/v1/version/get", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"party {party.party_id} did not answer HTTP in time")


def start_parties(protocol: str = "http", party_ids: tuple[str, ...] = (GUEST, HOST),
                  env: dict[str, str] | None = None) -> dict[str, Party]:
    """One server per party, each with the route table of all of them (public keys included: calls and
    objects are signed); ``protocol``: http or grpc; ``env``: more settings for every server (engines)."""
    ports = {p: (free_port(), free_port()) for p in party_ids}
    homes = {p: _new_home(p) for p in party_ids}
    keys = {p: _make_key(home) for p, home in homes.items()}
    routes = json.dumps({p: {"host": "127.0.0.1", "http_port": h, "grpc_port": g, "public_key": keys[p]}
                         for p, (h, g) in ports.items()})
    parties = {}
    for party_id, (http_port, grpc_port) in ports.items():
        # the repository's service_conf.yaml says switch: false; a federation signs, as deployed
        party_env = {"FATE_FLOW_PARTY_ID": party_id, "FATE_FLOW_DEFAULT_ENGINES__FEDERATION": "direct",
                     "FATE_FLOW_ROUTE_TABLE": routes, "FATE_FLOW_FATEFLOW__PROTOCOL": protocol,
                     "FATE_FLOW_AUTHENTICATION__SITE__SWITCH": "true",
                     "FATE_FLOW_FATEFLOW__HTTP_PORT": str(http_port), "FATE_FLOW_FATEFLOW__GRPC_PORT": str(grpc_port),
                     **(env or {})}
        parties[party_id] = _spawn(party_id, party_env, http_port, homes[party_id])
    try:
        for party in parties.values():
            _wait_up(party)
    except Exception:
        stop_all(parties)
        raise
    return parties


def start_standalone() -> dict[str, Party]:
    """One server (party 9999, standalone federation) that plays guest 9999 and host 10000."""
    http_port, grpc_port = free_port(), free_port()
    party = _spawn(GUEST, {"FATE_FLOW_PARTY_ID": GUEST, "FATE_FLOW_FATEFLOW__HTTP_PORT": str(http_port),
                           "FATE_FLOW_FATEFLOW__GRPC_PORT": str(grpc_port)}, http_port)
    try:
        _wait_up(party)
    except Exception:
        stop_all({GUEST: party})
        raise
    return {GUEST: party}


def stop_all(parties: dict[str, Party], keep_homes: bool = False) -> None:
    for party in parties.values():
        party.stop()
        if not keep_homes:
            shutil.rmtree(party.home, ignore_errors=True)


def submit(party: Party, dsl: dict, conf: dict) -> str:
    reply = party.post("/v1/job/submit", {"job_dsl": dsl, "job_runtime_conf": conf}, timeout=60)
    if reply.get("retcode") != 0:
        raise RuntimeError(f"submit refused: {reply}")
    return reply["jobId"]


def wait_all(parties: dict[str, Party], job_id: str, rows_expected: int = 2, timeout_s: float = 300.0) -> str:
    """Poll /v1/job/query on every server every ``POLL_S`` until all rows of the job (``rows_expected``
    party rows over all servers) have ended; return "success" if all succeeded, else the first other status."""
    deadline = time.monotonic() + timeout_s
    ended: dict[str, list[str]] = {}
    while time.monotonic() < deadline:
        for pid, party in parties.items():
            if pid not in ended:
                statuses = party.statuses(job_id)
                if statuses and all(s in ENDED for s in statuses):
                    ended[pid] = statuses
        if len(ended) == len(parties):
            statuses = [s for ss in ended.values() for s in ss]
            if len(statuses) >= rows_expected:
                bad = [s for s in statuses if s != "success"]
                return bad[0] if bad else "success"
            ended.clear()  # not every party row exists yet
        time.sleep(POLL_S)
    raise TimeoutError(f"job {job_id} did not end on every party within {timeout_s} s")


def all_tasks(parties: dict[str, Party], job_id: str) -> list[dict]:
    """Every party-task row of the job, each from the server that ran it (the initiator also keeps copies of
    the other parties' rows, without f_component_elapsed: skipped when there are several servers)."""
    if len(parties) == 1:
        return next(iter(parties.values())).tasks(job_id)
    return [t for pid, party in parties.items() for t in party.tasks(job_id) if str(t["f_party_id"]) == pid]


def two_party_conf(components: list[str], params: dict | None = None, parallelism: int = 1,
                   cores: int = 1) -> dict:
    """A guest 9999 + host 10000 job, initiated by the guest, every component with ``params`` (default sleep 0)."""
    return {
        "dsl_version": 2,
        "initiator": {"role": "guest", "party_id": int(GUEST)},
        "role": {"guest": [int(GUEST)], "host": [int(HOST)]},
        "job_parameters": {"common": {"task_parallelism": parallelism, "task_cores": cores}},
        "component_parameters": {"common": {name: dict(params or {"sleep": 0}) for name in components}},
    }


def chain_dsl(n: int) -> dict:
    components = {"test_0": {"module": "TestModule", "output": {"data": ["data"]}}}
    for i in range(1, n):
        components[f"test_{i}"] = {"module": "TestModule", "input": {"data": {"data": [f"test_{i - 1}.data"]}},
                                   "output": {"data": ["data"]}}
    return {"components": components}


def fanout_dsl(n: int) -> dict:
    components = {"test_0": {"module": "TestModule", "output": {"data": ["data"]}}}
    for i in range(1, n):
        components[f"test_{i}"] = {"module": "TestModule", "input": {"data": {"data": ["test_0.data"]}}}
    return {"components": components}
