"""One party's server process: HTTP (cheroot, threaded WSGI), gRPC, scheduler and detector loops."""

from __future__ import annotations

import logging
import threading
import time

from cheroot import wsgi

from fate_flow.app import bind_runtime, create_app
from fate_flow.controller import party_controller
from fate_flow.db import migrations
from fate_flow.db.connection import close_database, connection, open_database
from fate_flow.federation.grpc_service import bind_grpc_server
from fate_flow.log import setup_server_logging
from fate_flow.manager import resource_manager
from fate_flow.manager.mailbox import Mailbox
from fate_flow.runtime import Runtime
from fate_flow.scheduler.dag_scheduler import DAGScheduler
from fate_flow.scheduler.detector import Detector
from fate_flow.scheduler.loop import Loop
from fate_flow.settings import Settings

logger = logging.getLogger("fate_flow.server")


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
        self.detector: Detector | None = None

    def start(self) -> Server:
        """Bind both ports, build the Runtime, then serve and run the loops."""
        s = self.settings
        for directory in (s.home, s.jobs_dir, s.logs_dir, s.tables_dir):
            directory.mkdir(parents=True, exist_ok=True)
        setup_server_logging(s.logs_dir)
        open_database(s.database)
        with connection():
            found = migrations.migrate()
            resource_manager.register_engine(s.computing_engine, s.total_cores)
        app = create_app()
        mailbox = Mailbox(s.home / "mailbox")
        # bind both ports first: with port 0 the OS picks them, and everything advertises the real ones
        self.http_server = wsgi.Server((s.host, s.http_port), app, numthreads=s.http_threads,
                                       server_name="fate_flow", timeout=60, shutdown_timeout=3)
        self.http_server.prepare()
        self.grpc_server, grpc_port = bind_grpc_server(app, s.host, s.grpc_port, mailbox,
                                                       party_controller.push_authorizer())
        self.settings = s = s.with_ports(self.http_server.bind_addr[1], grpc_port)
        self.runtime = rt = Runtime.build(s, app, mailbox)
        bind_runtime(app, rt)
        rt.launcher.start()
        # one scheduler and one detector for the whole server: the views reach the shared state through rt
        self.dag_scheduler, self.detector = DAGScheduler(rt), Detector(rt)
        self.loops = [Loop("scheduler", self.dag_scheduler.run_pass, s.job.scheduler_interval, rt.scheduler_waker),
                      Loop("detector", self.detector.run_pass, s.job.detector_interval)]
        self.grpc_server.start()
        self._http_thread = threading.Thread(target=self.http_server.serve, name="http", daemon=True)
        self._http_thread.start()
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
        self.http_server.stop()
        if self._http_thread is not None:
            self._http_thread.join(5)
