"""One party's server process: HTTP (cheroot, threaded WSGI), gRPC, scheduler and detector loops."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

from cheroot import wsgi

from fate_flow.app import bind_runtime, create_app
from fate_flow.controller import party_controller
from fate_flow.db import migrations
from fate_flow.db.connection import close_database, connection, open_database
from fate_flow.federation.grpc_service import bind_grpc_server
from fate_flow.http_server import connection_deadlines, grow_when_busy, make_server
from fate_flow.log import setup_server_logging
from fate_flow.manager import resource_manager
from fate_flow.manager.mailbox import Mailbox
from fate_flow.runtime import Runtime
from fate_flow.scheduler.dag_scheduler import DAGScheduler
from fate_flow.scheduler.detector import Detector
from fate_flow.scheduler.loop import Loop
from fate_flow.settings import Settings

logger = logging.getLogger("fate_flow.server")


class StartupError(RuntimeError):
    """The server cannot start; the message is one sentence naming the setting to change."""


@contextlib.contextmanager
def startup_step(problem: str) -> Iterator[None]:
    """Turn any failure of the step into a StartupError: ``problem``, then the cause in a few words."""
    try:
        yield
    except StartupError:
        raise
    except Exception as exc:  # noqa: BLE001 (whatever failed, the operator gets one sentence, not a traceback)
        cause = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise StartupError(f"{problem}: {cause}") from exc


class Server:
    """Start and stop everything one party runs; ``start()`` returns once it serves."""

    def __init__(self, settings: Settings, run_loops: bool = True):
        """``run_loops=False`` leaves the scheduler and detector to the caller (tests drive single passes)."""
        self.settings = settings
        self.run_loops = run_loops
        self.http_server: wsgi.Server | None = None
        self.grpc_server = None
        self.loops: list[Loop] = []
        self._http_thread: threading.Thread | None = None
        self.runtime: Runtime | None = None
        self.dag_scheduler: DAGScheduler | None = None
        self._stopping = threading.Event()
        self.detector: Detector | None = None

    def start(self) -> Server:
        """Bind both ports, build the Runtime, then serve and run the loops. A start that fails half-way
        releases what it took (ports, threads, the database) before it raises, so the process can exit."""
        try:
            return self._start()
        except BaseException:
            self._abandon()
            raise

    def _abandon(self) -> None:
        self._stopping.set()
        with contextlib.suppress(Exception):
            if self.http_server is not None:
                self.http_server.stop()  # its worker threads are not daemons: they would keep the process
        with contextlib.suppress(Exception):
            if self.grpc_server is not None:
                self.grpc_server.stop(grace=0)
        with contextlib.suppress(Exception):
            if self.runtime is not None:
                self.runtime.launcher.stop()
        with contextlib.suppress(Exception):
            close_database()

    def _start(self) -> Server:
        s = self.settings
        with startup_step(f"the home directory {s.home} cannot be used (--home, FATE_FLOW_HOME)"):
            for directory in (s.home, s.jobs_dir, s.logs_dir, s.tables_dir):
                directory.mkdir(parents=True, exist_ok=True)
            setup_server_logging(s.logs_dir)
        where = (f"{s.database.sqlite_path}" if s.database.engine == "sqlite"
                 else f"{s.database.user}@{s.database.host}:{s.database.port}/{s.database.name}")
        with startup_step(f"the database {where} cannot be opened (settings database.*)"):
            open_database(s.database)
            with connection():
                found = migrations.migrate()
                resource_manager.register_engine(s.computing_engine, s.total_cores)
        app = create_app()
        mailbox = Mailbox(s.home / "mailbox")
        # bind both ports first: with port 0 the OS picks them, and everything advertises the real ones
        watchdog = connection_deadlines()
        with startup_step(f"cannot listen on {s.host}:{s.http_port} (settings fateflow.host, fateflow.http_port)"):
            self.http_server = make_server(s, app, watchdog)
        with startup_step(f"cannot listen on {s.host}:{s.grpc_port} (settings fateflow.host, fateflow.grpc_port)"):
            self.grpc_server, grpc_port = bind_grpc_server(app, s.host, s.grpc_port, mailbox, s.limits,
                                                           party_controller.push_authorizer())
        self.settings = s = s.with_ports(self.http_server.bind_addr[1], grpc_port)
        self.runtime = rt = Runtime.build(s, app, mailbox)
        bind_runtime(app, rt)
        # one scheduler and one detector for the whole server: the views reach the shared state through rt
        self.dag_scheduler, self.detector = DAGScheduler(rt), Detector(rt)
        self.loops = [Loop("scheduler", self.dag_scheduler.run_pass, s.job.scheduler_interval, rt.scheduler_waker),
                      Loop("detector", self.detector.run_pass, s.job.detector_interval)]
        self.grpc_server.start()
        self._http_thread = threading.Thread(target=self.http_server.serve, name="http", daemon=True)
        self._http_thread.start()
        rt.launcher.start()  # in the background, once the server answers (the first spawn waits for it)
        threading.Thread(target=grow_when_busy, args=(self.http_server, self._stopping), name="http-pool",
                         daemon=True).start()
        threading.Thread(target=watchdog.run, args=(self._stopping,), name="http-watchdog", daemon=True).start()
        # reconcile before scheduling: the detector's first pass fails tasks whose executors died
        # while the server was down, and the pool is recomputed from the jobs that hold cores
        if self.run_loops:
            with connection():
                self.detector.run_pass()
            for loop in self.loops:
                loop.start()
        logger.info("server %s started: http %s, grpc %s, home %s (schema %s -> %s)", s.instance_id,
                    s.http_port, s.grpc_port, s.home, found, migrations.SCHEMA_VERSION)
        return self

    def stop(self) -> None:
        """Stop accepting requests, stop the loops, close the database. Executors keep running:
        a restarted server re-attaches to them (their reports retry until it is back)."""
        steps = [("loops", lambda: [loop.stop() for loop in self.loops])]
        if self.http_server is not None:
            steps.append(("http", self._stop_http))
        if self.grpc_server is not None:
            steps.append(("grpc", lambda: self.grpc_server.stop(grace=1).wait(3)))
        if self.runtime is not None:
            steps.append(("federation", self.runtime.federation.close))
            steps.append(("executor launcher", self.runtime.launcher.stop))
        steps.append(("database", close_database))
        for name, step in steps:
            started = time.monotonic()
            step()
            logger.info("stopped %s in %.2f s", name, time.monotonic() - started)
        logger.info("server %s stopped", self.settings.instance_id)

    def _stop_http(self) -> None:
        self._stopping.set()
        self.http_server.stop()
        if self._http_thread is not None:
            self._http_thread.join(5)
