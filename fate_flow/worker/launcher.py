"""Starting executor processes: through the fork server when it runs, else a plain subprocess."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

logger = logging.getLogger("fate_flow.launcher")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXECUTOR_MODULE = "fate_flow.worker.task_executor"


def executor_env() -> dict[str, str]:
    """This process's environment with the project root first on PYTHONPATH, so executors import this ``fate_flow``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env


class ExecutorLauncher:
    """Starts executors; ``preload`` names the modules the fork server imports ahead (the registry's)."""

    def __init__(self, use_fork_server: bool = True, preload: list[str] | None = None):
        self.use_fork_server = use_fork_server
        self.preload = list(preload or [])
        self._fork_server: subprocess.Popen | None = None
        self._lock = threading.Lock()  # the fork server (held while it starts)
        self._children_lock = threading.Lock()  # a reap never waits for the fork server to come up
        self._children: dict[int, subprocess.Popen] = {}  # plain subprocesses not reaped yet

    def start(self) -> None:
        """Start the fork server in the background when wanted (the server answers meanwhile; the first
        spawn waits for it); if it cannot start, executors start as plain subprocesses."""
        if not self.use_fork_server:
            return
        self._lock.acquire()  # held until the fork server is up: a spawn waits for it rather than forking cold

        def start_then_release() -> None:
            try:
                self._start_fork_server()
            finally:
                self._lock.release()

        threading.Thread(target=start_then_release, name="fork-server-start", daemon=True).start()

    def _start_fork_server(self) -> None:
        try:
            command = [sys.executable, "-m", "fate_flow.worker.fork_server", "--preload", ",".join(self.preload)]
            process = subprocess.Popen(command, stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, env=executor_env(), text=True, bufsize=1,
                                       start_new_session=True)
            ready = json.loads(process.stdout.readline() or "{}")
        except (OSError, ValueError) as exc:
            logger.warning("executor fork server could not start (%s): executors start as plain processes", exc)
            return
        if not ready.get("ready"):
            logger.warning("executor fork server did not come up: executors start as plain processes")
            process.kill()
            return
        self._fork_server = process
        logger.info("executor fork server pid %s ready", process.pid)

    def spawn(self, config_path: Path, std_log: Path) -> tuple[int, list[str]]:
        """Start an executor for ``config_path``; returns its pid and a description of how."""
        with self._lock:
            if self._fork_server is not None and self._fork_server.poll() is None:
                try:
                    self._fork_server.stdin.write(json.dumps({"config": str(config_path),
                                                              "std_log": str(std_log)}) + "\n")
                    answer = json.loads(self._fork_server.stdout.readline() or "{}")
                    if "pid" in answer:
                        return int(answer["pid"]), ["fork_server", EXECUTOR_MODULE, "--config", str(config_path)]
                    logger.error("fork server refused to start an executor: %s", answer.get("error"))
                except (OSError, ValueError) as exc:
                    logger.error("fork server failed (%s); restarting it", exc)
                self._stop_fork_server()
                self._start_fork_server()
        return self._popen(config_path, std_log)

    def _popen(self, config_path: Path, std_log: Path) -> tuple[int, list[str]]:
        cmd = [sys.executable, "-m", EXECUTOR_MODULE, "--config", str(config_path)]
        with open(std_log, "ab") as std:
            # own session: a Ctrl-C at the server's terminal does not kill running tasks, and a stop
            # can signal the executor together with anything it started
            process = subprocess.Popen(cmd, stdout=std, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=executor_env(), start_new_session=True, close_fds=True)
        with self._children_lock:
            self._children[process.pid] = process
        return process.pid, cmd

    def reap(self) -> None:
        """Collect the exit status of ended plain subprocesses (the fork server reaps its own)."""
        with self._children_lock:
            for pid, process in list(self._children.items()):
                if process.poll() is not None:
                    del self._children[pid]

    def _stop_fork_server(self) -> None:
        if self._fork_server is None:
            return
        try:
            self._fork_server.stdin.close()
            self._fork_server.wait(3)
        except (OSError, subprocess.TimeoutExpired):
            self._fork_server.kill()
        self._fork_server = None

    def stop(self) -> None:
        """Stop the fork server (killed if it does not exit within 3 s); running executors live on."""
        with self._lock:
            self._stop_fork_server()
