"""Shared helpers of the benchmarks: a server in a fresh home, a private fate-client, polling, RSS sampling."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
RESULTS = BENCH / "results"
DATA = BENCH / "data"
SERVER_BIN = REPO / ".venv" / "bin" / "fate_flow"
CLIENT_VENV = REPO / ".venv-fate-client"
POLL_S = 0.02
LISTENING = re.compile(r"listening: http://([\d.]+):(\d+) grpc")


@dataclass
class Server:
    """One ``fate_flow server`` subprocess in its own temporary home, on free ports."""

    home: Path
    proc: subprocess.Popen
    url: str
    start_to_http_s: float
    session: requests.Session = field(default_factory=requests.Session)

    def stop(self) -> None:
        stop_process(self.proc)
        self.session.close()

    def job_status(self, job_id: str) -> str | None:
        reply = self.session.post(f"{self.url}/v1/job/query", json={"job_id": job_id}, timeout=10).json()
        rows = reply.get("data") or []
        return rows[0]["f_status"] if rows else None

    def wait_job(self, job_id: str, timeout_s: float = 600.0, poll_s: float = POLL_S) -> str:
        """Poll /v1/job/query every ``poll_s`` (20 ms) until the job ends; return its final status."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.job_status(job_id)
            if status in ("success", "failed", "canceled", "timeout"):
                return status
            time.sleep(poll_s)
        raise TimeoutError(f"job {job_id} did not end within {timeout_s} s")


def stop_process(proc: subprocess.Popen, grace_s: float = 30) -> None:
    """SIGTERM, then SIGKILL if the server has not exited within ``grace_s``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (its own threads, not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def new_home() -> Path:
    return Path(tempfile.mkdtemp(prefix="ffbench-home-"))


def start_server(timeout_s: float = 60.0, home: Path | None = None, env: dict[str, str] | None = None) -> Server:
    """Start a server in ``home`` (default: a fresh temp home); time from spawning it until HTTP answers.

    ``env``: extra environment (settings overrides such as ``FATE_FLOW_PARTY_ID``).
    """
    home = home or new_home()
    env = dict(os.environ, FATE_FLOW_FATEFLOW__HTTP_PORT="0", FATE_FLOW_FATEFLOW__GRPC_PORT="0", **(env or {}))
    stderr_path = home / "server.stderr"
    t0 = time.perf_counter()
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen([str(SERVER_BIN), "server", "--home", str(home)], env=env, cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.monotonic() + timeout_s
    url = None
    session = requests.Session()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {stderr_path.read_text()[-2000:]}")
        if url is None:
            match = LISTENING.search(stderr_path.read_text(errors="replace"))
            if match:
                url = f"http://{match.group(1)}:{match.group(2)}"
        if url is not None:
            try:
                if session.get(f"{url}/v1/version/get", timeout=2).status_code == 200:
                    return Server(home, proc, url, time.perf_counter() - t0, session)
            except requests.ConnectionError:
                pass
        time.sleep(0.005)
    proc.kill()
    raise TimeoutError("server did not answer HTTP in time")


def cleanup(server: Server) -> None:
    server.stop()
    shutil.rmtree(server.home, ignore_errors=True)


class FlowCli:
    """The real fate-client 1.11.3 ``flow`` command, with a private copy of its package.

    ``flow init`` writes its settings into the installed package, which other people's tests
    also do concurrently; a copy on PYTHONPATH (ahead of site-packages) keeps ours apart.
    """

    def __init__(self, server_url: str) -> None:
        site = next((CLIENT_VENV / "lib").glob("python*/site-packages"))
        self.root = Path(tempfile.mkdtemp(prefix="ffbench-client-"))
        shutil.copytree(site / "flow_client", self.root / "flow_client",
                        ignore=shutil.ignore_patterns("__pycache__"))
        self.env = dict(os.environ, PYTHONPATH=str(self.root))
        ip, port = server_url.rsplit("/", 1)[-1].split(":")
        out = self.run("init", "--ip", ip, "--port", port)
        if out.get("retcode") != 0:
            raise RuntimeError(f"flow init failed: {out}")

    def run(self, *args: str) -> dict:
        proc = subprocess.run([str(CLIENT_VENV / "bin" / "flow"), *args], env=self.env,
                              capture_output=True, text=True, check=False)
        text = proc.stdout
        start = text.find("{")
        if proc.returncode != 0 or start < 0:
            raise RuntimeError(f"flow {' '.join(args)} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
        return json.loads(text[start:])

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class RssSampler:
    """Peak summed RSS of a process and all its descendants, sampled every ``interval_s``; with ``pss`` also
    their peak summed PSS (proportional set size: a page shared by k processes counts 1/k in each, so the sum
    is the physical memory they take together; summed RSS counts the fork server's shared pages once per
    executor)."""

    def __init__(self, pid: int, interval_s: float = POLL_S, pss: bool = False) -> None:
        self.root = psutil.Process(pid)
        self.interval_s = interval_s
        self.pss = pss
        self.peak_pss_bytes = 0
        self.peak_bytes = 0
        self.peak_server_bytes = 0
        self.peak_children_bytes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        server = self.root.memory_info().rss
        children = 0
        processes = self.root.children(recursive=True)
        for proc in processes:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                children += proc.memory_info().rss
        if self.pss:
            pss = 0
            for proc in [self.root, *processes]:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    pss += proc.memory_full_info().pss
            self.peak_pss_bytes = max(self.peak_pss_bytes, pss)
        self.peak_bytes = max(self.peak_bytes, server + children)
        self.peak_server_bytes = max(self.peak_server_bytes, server)
        self.peak_children_bytes = max(self.peak_children_bytes, children)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._sample()
                self.samples += 1
            except psutil.NoSuchProcess:
                return
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def summary(values: list[float]) -> dict:
    """Median, p90 and p99 (linear interpolation between ranks), min and max of the runs."""
    p90 = statistics.quantiles(values, n=10, method="inclusive")[8] if len(values) > 1 else values[0]
    p99 = statistics.quantiles(values, n=100, method="inclusive")[98] if len(values) > 1 else values[0]
    return {"n": len(values), "median": statistics.median(values), "p90": p90, "p99": p99,
            "min": min(values), "max": max(values)}


def save_result(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
