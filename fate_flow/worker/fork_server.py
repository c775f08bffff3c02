"""The executor fork server: a process that has already imported what executors need and forks one
child per task, so a task starts in milliseconds instead of paying a Python start and the imports
(pyarrow alone costs ~0.1 s) every time.

Protocol, one JSON object per line: the server writes ``{"config": path, "std_log": path}`` on
stdin, this process answers ``{"pid": n}`` (or ``{"error": text}``) on stdout. When the server goes
away (stdin closes) this process exits; running executors live on in their own sessions.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback


def _preload(modules: list[str]) -> None:
    """Import what executors need (the components' runners and their libraries, from the registry);
    the forked children inherit it already loaded. A module that fails to import is left to the
    executor that needs it, which reports the error."""
    import importlib

    # every executor builds a context: the standalone engine (pyarrow, ~0.14 s to import) and the framework;
    # and reads a stored table: pyarrow.parquet's read_table imports pyarrow.dataset, which imports pandas
    # when installed (0.25-0.33 s per executor, measured: a breast hetero LR job paid it in every task)
    base = ["psutil", "pyarrow", "pyarrow.dataset", "fate_flow.engine.standalone", "fate_flow.engine.federation",
            "cryptography.hazmat.primitives.asymmetric.ed25519", "fate_flow.worker.task_executor"]
    for module in [*base, *modules]:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001
            print(f"fork server: cannot preload {module}: {exc}", file=sys.stderr)


def _reap(_signum: int, _frame: object) -> None:
    """Collect ended executors at once, so none lingers as a zombie (the server checks liveness by pid)."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _child(config: str, std_log: str) -> None:
    """In the forked child: become an executor in a session of its own, output to std.log."""
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    log = os.open(std_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    code = 1
    try:
        from fate_flow.worker import task_executor

        code = task_executor.main(["--config", config])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 (the child must never return into the fork server's loop)
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(requests, answers) -> None:
    """One JSON request per line: fork an executor for it and answer its pid."""
    for line in requests:
        try:
            request = json.loads(line)
            pid = os.fork()
        except (OSError, ValueError) as exc:
            answers.write(json.dumps({"error": str(exc)}) + "\n")
            answers.flush()
            continue
        if pid == 0:
            _child(str(request["config"]), str(request["std_log"]))
        answers.write(json.dumps({"pid": pid}) + "\n")
        answers.flush()


def main(argv: list[str] | None = None) -> None:
    """Preload, answer ready, then fork an executor per request until stdin closes."""
    args = sys.argv[1:] if argv is None else argv
    modules = args[args.index("--preload") + 1].split(",") if "--preload" in args else []
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when this process ends
    _preload([m for m in modules if m])
    signal.signal(signal.SIGCHLD, _reap)
    answers = os.fdopen(os.dup(1), "w")
    sys.stdout = sys.stderr
    answers.write(json.dumps({"ready": True}) + "\n")
    answers.flush()
    serve(sys.stdin, answers)


if __name__ == "__main__":
    main()
