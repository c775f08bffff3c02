"""A Spark standalone cluster (one master, any number of workers) on this machine, run from the pyspark package.

Every daemon is ``$SPARK_HOME/bin/spark-class <Master|Worker> ...`` started without a shell, in its own process
group (session), so that killing the group also ends the executor JVMs (and their Python workers) a worker
spawned. Everything the cluster writes (logs, the workers' work and local dirs) lives under its directory.
The master's state is read from its web UI's JSON (``/json/``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0
LOG_TAIL_LINES = 40
PORT_ATTEMPTS = 3  # an automatically picked port can be taken before the JVM binds it: try fresh ones


def _valid_home(path: Path) -> bool:
    return (path / "bin" / "spark-class").is_file() and (path / "jars").is_dir()


def spark_home() -> Path:
    """Spark's home: ``$SPARK_HOME`` when it is set and holds ``bin/spark-class`` and ``jars/``, else the
    installed pyspark package's directory (RuntimeError when neither is there)."""
    env_home = os.environ.get("SPARK_HOME")
    if env_home and _valid_home(Path(env_home)):
        return Path(env_home)
    spec = importlib.util.find_spec("pyspark")
    if spec is not None and spec.origin:
        home = Path(spec.origin).parent
        if _valid_home(home):
            return home
    raise RuntimeError("no Spark home: install pyspark (make spark) or set SPARK_HOME to a Spark distribution")


def pyspark_available() -> bool:
    """Whether a Spark home is found (``$SPARK_HOME`` or the pyspark package with its jars)."""
    try:
        spark_home()
    except RuntimeError:
        return False
    return True


def _java() -> str | None:
    java_home = os.environ.get("JAVA_HOME")  # what spark-class runs
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        return str(candidate) if candidate.is_file() else None
    return shutil.which("java")


def java_available() -> bool:
    """Whether the Java that spark-class would run (``$JAVA_HOME/bin/java``, else ``java`` on PATH) starts."""
    java = _java()
    if java is None:
        return False
    try:
        result = subprocess.run([java, "-version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class PortTaken(RuntimeError):
    """A port given to a daemon is in use (by another process, or another Spark master's web UI)."""


def _check_free(host: str, port: int) -> None:
    """PortTaken when something listens on ``host:port`` (as Spark binds: with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortTaken(f"{host}:{port} is in use ({exc.strerror})") from None


def _log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _port_taken(log: Path) -> bool:
    text = _log_tail(log, 200)
    return "BindException" in text or "Address already in use" in text or "Failed to bind" in text


def _kill_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)  # the process leads its own session: its pgid is its pid


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _end_groups(processes: list[subprocess.Popen], grace_s: float) -> None:
    """SIGTERM each process's group, SIGKILL whatever is left after ``grace_s``, reap the leaders."""
    for process in processes:
        if process.poll() is None:
            _kill_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        for process in processes:
            process.poll()
        if not any(_group_alive(p.pid) for p in processes):
            break
        time.sleep(0.1)
    for process in processes:
        _kill_group(process, signal.SIGKILL)
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


@dataclass
class WorkerHandle:
    """One worker daemon: its process (the leader of its process group), ports, directories and log."""

    index: int
    process: subprocess.Popen
    port: int
    webui_port: int
    cores: int
    memory: str
    work_dir: Path
    log_path: Path
    worker_id: str | None = None  # the master's id for it, once it registered

    @property
    def pid(self) -> int:
        """The worker JVM's pid (also its process group id)."""
        return self.process.pid

    @property
    def web_ui(self) -> str:
        """The worker's own web UI."""
        return f"http://127.0.0.1:{self.webui_port}"


@dataclass
class LocalSparkCluster:
    """A Spark standalone master and its workers on loopback, everything under ``directory``.

    Use ``start_master()``, then ``start_worker()`` as often as needed; ``stop()`` (or leaving a ``with`` block)
    ends every process group it started.
    """

    directory: Path
    host: str = "127.0.0.1"
    master_port: int = 0
    webui_port: int = 0
    worker_timeout_s: int = 60
    master: subprocess.Popen | None = field(default=None, init=False, repr=False)
    workers: list[WorkerHandle] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory).absolute()

    def __enter__(self) -> LocalSparkCluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def master_url(self) -> str:
        """``spark://host:port``, what a driver's ``--master`` takes."""
        return f"spark://{self.host}:{self.master_port}"

    @property
    def web_ui(self) -> str:
        """The master's web UI."""
        return f"http://{self.host}:{self.webui_port}"

    @property
    def master_log(self) -> Path:
        """The master's stdout and stderr."""
        return self.directory / "master.log"

    def _env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(SPARK_HOME=str(spark_home()), SPARK_LOCAL_IP=self.host, SPARK_LOG_DIR=str(self.directory / "logs"),
                   SPARK_WORKER_DIR=str(self.directory / "work"))
        env.update(extra)
        return env

    def _spawn(self, args: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "wb") as log:
            return subprocess.Popen([str(spark_home() / "bin" / "spark-class"), *args], env=env,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=self.directory, start_new_session=True)

    def start_master(self, host: str = "127.0.0.1", port: int = 0, webui_port: int = 0,
                     worker_timeout_s: int = 10, timeout: float = START_TIMEOUT_S) -> LocalSparkCluster:
        """Start the master on ``host:port`` with its web UI on ``webui_port`` (0: a free port) and wait until its
        JSON answers. ``worker_timeout_s`` is ``spark.worker.timeout``: a worker silent that long is marked
        dead (Spark's default is 60 s); the workers started later heartbeat at a quarter of it. RuntimeError with
        the log's tail when it does not come up."""
        if self.master is not None:
            raise RuntimeError(f"the master already runs: {self.master_url}")
        self.host = host
        self.worker_timeout_s = int(worker_timeout_s)
        self.directory.mkdir(parents=True, exist_ok=True)
        # a taken port is an error, not a silent move to the next one (the URL must be the one asked for)
        opts = f"-Dspark.worker.timeout={self.worker_timeout_s} -Dspark.port.maxRetries=0"
        env = self._env(SPARK_MASTER_OPTS=" ".join(filter(None, [os.environ.get("SPARK_MASTER_OPTS"), opts])))
        for attempt in range(PORT_ATTEMPTS):
            self.master_port = port or free_port(host)
            self.webui_port = webui_port or free_port(host)
            # a port given that is taken (say by another master on 7077/8080) fails here: its web UI would answer
            # for ours and our workers would join it
            for fixed in (port, webui_port):
                if fixed:
                    _check_free(host, fixed)
            self.master = self._spawn([MASTER_CLASS, "--host", host, "--port", str(self.master_port),
                                       "--webui-port", str(self.webui_port)], self.master_log, env)
            try:
                self._wait(self._master_ready, timeout, self.master, self.master_log, "the master")
                return self
            except PortTaken:
                _end_groups([self.master], 0)
                self.master = None
                if port or webui_port or attempt == PORT_ATTEMPTS - 1:  # retry only ports picked here
                    raise
            except RuntimeError:
                _end_groups([self.master], 0)
                self.master = None
                raise
        raise AssertionError("unreachable")

    def start_worker(self, cores: int, memory: str = "2g", timeout: float = START_TIMEOUT_S) -> WorkerHandle:
        """Start a worker offering ``cores`` cores and ``memory`` (Spark's notation: 512m, 2g) to the master, with
        its own work dir and web UI port, and wait until the master lists it ALIVE (RuntimeError otherwise)."""
        if self.master is None or self.master.poll() is not None:
            raise RuntimeError(f"no master runs: start it first (log {self.master_log})")
        index = len(self.workers) + 1
        work_dir = self.directory / f"worker-{index}"
        log_path = self.directory / f"worker-{index}.log"
        work_dir.mkdir(parents=True, exist_ok=True)
        # the worker heartbeats every spark.worker.timeout / 4: it must know the master's timeout
        opts = f"-Dspark.worker.timeout={self.worker_timeout_s} -Dspark.port.maxRetries=0"
        env = self._env(SPARK_WORKER_DIR=str(work_dir), SPARK_LOCAL_DIRS=str(work_dir / "local"),
                        SPARK_WORKER_OPTS=" ".join(filter(None, [os.environ.get("SPARK_WORKER_OPTS"), opts])))
        for attempt in range(PORT_ATTEMPTS):
            port, webui_port = free_port(self.host), free_port(self.host)
            process = self._spawn([WORKER_CLASS, "--host", self.host, "--port", str(port), "--webui-port",
                                   str(webui_port), "--cores", str(cores), "--memory", memory, "--work-dir",
                                   str(work_dir), self.master_url], log_path, env)
            handle = WorkerHandle(index, process, port, webui_port, cores, memory, work_dir, log_path)
            try:
                self._wait(lambda h=handle: self._worker_registered(h), timeout, process, log_path,
                           f"worker {index}")
            except PortTaken:
                _end_groups([process], 0)
                if attempt == PORT_ATTEMPTS - 1:
                    raise
                continue
            except RuntimeError:
                _end_groups([process], 0)
                raise
            self.workers.append(handle)
            return handle
        raise AssertionError("unreachable")

    def kill_worker(self, handle: WorkerHandle) -> None:
        """SIGKILL the worker's whole process group, its executors included, as a machine that is lost would."""
        _kill_group(handle.process, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            handle.process.wait(timeout=10)
        # the group's other members (executors) die asynchronously and are reaped by init: wait until none is left
        deadline = time.monotonic() + 10
        while _group_alive(handle.pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def status(self, timeout: float = 5.0) -> dict[str, Any]:
        """The master's state as its web UI's JSON gives it: ``aliveworkers``, ``cores``, ``coresused``,
        ``memory``, ``workers`` (each with ``id``, ``port``, ``state``, ``cores``...), ``activeapps``..."""
        with urllib.request.urlopen(f"{self.web_ui}/json/", timeout=timeout) as response:
            return json.loads(response.read())

    def wait_workers(self, n: int, timeout: float = START_TIMEOUT_S) -> dict[str, Any]:
        """Wait until the master counts exactly ``n`` alive workers; its status then (RuntimeError on timeout)."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | str = "no answer"
        while True:
            try:
                last = self.status()
                if last.get("aliveworkers") == n:
                    return last
            except (OSError, ValueError) as exc:
                last = repr(exc)
            if time.monotonic() > deadline:
                raise RuntimeError(f"the master at {self.web_ui} does not count {n} alive workers after "
                                   f"{timeout:.0f} s; last status: {last}")
            time.sleep(0.25)

    def pids(self) -> list[int]:
        """The pids of the master and every worker started (each the id of its process group)."""
        return ([self.master.pid] if self.master is not None else []) + [w.pid for w in self.workers]

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """End every process group started: workers (and their executors), then the master; SIGTERM first,
        SIGKILL what is still there after ``grace_s``."""
        processes = [w.process for w in self.workers]
        _end_groups(processes, grace_s)
        if self.master is not None:
            _end_groups([self.master], grace_s)
            self.master = None

    def _master_ready(self) -> bool:
        state = self.status(timeout=2)
        if state.get("url") != self.master_url:  # another master on that web UI port: not ours
            raise PortTaken(f"{self.web_ui} is the web UI of {state.get('url')}, not {self.master_url}")
        return True

    def _worker_registered(self, handle: WorkerHandle) -> bool:
        for worker in self.status(timeout=2).get("workers", []):
            if worker.get("port") == handle.port and worker.get("state") == "ALIVE":
                handle.worker_id = worker.get("id")
                return True
        return False

    @staticmethod
    def _wait(ready: Callable[[], bool], timeout: float, process: subprocess.Popen, log: Path, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                error = PortTaken if _port_taken(log) else RuntimeError
                raise error(f"{what} exited ({process.returncode}); {log}:\n{_log_tail(log)}")
            try:
                if ready():
                    return
            except (OSError, ValueError):
                pass  # not answering yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} is not up after {timeout:.0f} s; {log}:\n{_log_tail(log)}")
            time.sleep(0.25)
