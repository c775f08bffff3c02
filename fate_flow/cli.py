"""``fate_flow server [--config FILE] [--home DIR]``: run one party until Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import click

from fate_flow.settings import SettingsError, load_settings

STOP_DEADLINE_S = 8


@click.group()
def main() -> None:
    """FATE-Flow compatible job-scheduling server."""


@main.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="service_conf.yaml (default: the repository's conf/service_conf.yaml)")
@click.option("--home", type=click.Path(path_type=Path), default=None,
              help="directory for the database, tables, jobs and logs (default: $FATE_FLOW_HOME or ./home)")
def server(config_path: Path | None, home: Path | None) -> None:
    """Start one party's server in the foreground."""
    from fate_flow.server import Server

    try:
        settings = load_settings(config_path, home)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    flow_server = Server(settings).start()
    s = flow_server.settings
    click.echo(f"fate_flow server {s.instance_id} (party {s.party_id}) listening: "
               f"http://{s.host}:{s.http_port} grpc {s.host}:{s.grpc_port}, home {s.home}", err=True)
    sys.stderr.flush()
    stopping.wait()
    click.echo("stopping ...", err=True)
    # a second signal, or a stop that hangs, ends the process at once rather than never
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: os._exit(1))
    watchdog = threading.Timer(STOP_DEADLINE_S, lambda: (click.echo("stop took too long", err=True), os._exit(1)))
    watchdog.daemon = True
    watchdog.start()
    flow_server.stop()
    watchdog.cancel()


if __name__ == "__main__":
    main()
