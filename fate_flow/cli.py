"""``fate_flow server [--config FILE] [--home DIR]``: run one party until Ctrl-C or SIGTERM.
``fate_flow keys init [--home DIR] [--config FILE] [--force]``: make this party's signing key pair.
``fate_flow spark-cluster start --dir DIR [--workers N] [--cores C] [--memory M] [--master-port P] [--webui-port P]``:
run a Spark standalone cluster from the pyspark package on loopback until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import click

from fate_flow.settings import SettingsError, load_raw, load_settings, private_key_path, resolve_home

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
    from fate_flow.server import Server, StartupError

    try:
        settings = load_settings(config_path, home)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        flow_server = Server(settings).start()
    except (SettingsError, StartupError) as exc:  # a key that cannot be used is found when the server loads it
        raise click.ClickException(str(exc)) from None
    if settings.federation.site_auth_disabled:
        from fate_flow.runtime import UNAUTHENTICATED_WARNING

        click.echo(f"WARNING: {UNAUTHENTICATED_WARNING}", err=True)
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


@main.group()
def keys() -> None:
    """This party's signing key pair (party-to-party authentication)."""


@keys.command("init")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="service_conf.yaml (default: the repository's conf/service_conf.yaml)")
@click.option("--home", type=click.Path(path_type=Path), default=None,
              help="the party's home directory (default: $FATE_FLOW_HOME or ./home)")
@click.option("--force", is_flag=True, help="replace an existing key pair (every partner must then update the "
                                               "public key in its route table)")
def keys_init(config_path: Path | None, home: Path | None, force: bool) -> None:
    """Make this party's Ed25519 key pair under its home; print the public key and the route_table entry
    partners add."""
    from fate_flow.federation.keys import create_key_pair, public_key_text, public_path

    try:
        raw = load_raw(config_path)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    path = private_key_path(raw, resolve_home(home, dict(os.environ)))
    try:
        key = create_key_pair(path, force=force)
    except FileExistsError:
        raise click.ClickException(f"{path} already exists (its public key is in {public_path(path)}): it is kept; "
                                   "--force replaces it, and every partner must then update its route table") from None
    public_key = public_key_text(key.public_key())
    flow = raw.get("fateflow") or {}
    entry = (f'"{raw.get("party_id")}": {{host: {flow.get("host")}, http_port: {flow.get("http_port")}, '
             f'grpc_port: {flow.get("grpc_port")}, public_key: "{public_key}"}}')
    click.echo(f"private key: {path} (mode 0600: keep it to this server's user)")
    click.echo(f"public key:  {public_key}")
    click.echo("partners add this entry to route_table in their service_conf.yaml:")
    click.echo(f"  {entry}")


@main.group()
def board() -> None:
    """The board served under /board/."""


@board.command("hash-password")
@click.option("--password-stdin", is_flag=True, help="read the password from the standard input (one line)")
def board_hash_password(password_stdin: bool) -> None:
    """Print a hash of the board's password, for board.auth.password_hash in service_conf.yaml."""
    from fate_flow.utils.passwords import hash_password

    if password_stdin:
        password = click.get_text_stream("stdin").readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        click.echo(hash_password(password))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@main.group("spark-cluster")
def spark_cluster() -> None:
    """A Spark standalone cluster on loopback, run from the pyspark package (make spark) with Java 17."""


@spark_cluster.command("start")
@click.option("--dir", "directory", type=click.Path(path_type=Path), required=True,
              help="directory for the daemons' logs and the workers' work dirs")
@click.option("--workers", type=click.IntRange(min=0), default=1, show_default=True, help="how many workers")
@click.option("--cores", type=click.IntRange(min=1), default=2, show_default=True, help="cores each worker offers")
@click.option("--memory", default="2g", show_default=True, help="memory each worker offers (512m, 2g, ...)")
@click.option("--master-port", type=click.IntRange(min=0, max=65535), default=7077, show_default=True,
              help="the master's port (0: a free one)")
@click.option("--webui-port", type=click.IntRange(min=0, max=65535), default=8080, show_default=True,
              help="the master's web UI port (0: a free one)")
def spark_cluster_start(directory: Path, workers: int, cores: int, memory: str, master_port: int,
                        webui_port: int) -> None:
    """Start a master and its workers on 127.0.0.1 and keep them until Ctrl-C or SIGTERM, then stop them all."""
    from fate_flow.utils.spark_cluster import LocalSparkCluster, java_available, pyspark_available

    if not pyspark_available():
        raise click.ClickException("no Spark: install pyspark (make spark) or set SPARK_HOME")
    if not java_available():
        raise click.ClickException("no Java: Spark needs Java 17 (java on PATH or $JAVA_HOME)")
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    cluster = LocalSparkCluster(directory)
    try:
        cluster.start_master(port=master_port, webui_port=webui_port)
        click.echo(f"master {cluster.master_url}, web UI {cluster.web_ui} (log {cluster.master_log})", err=True)
        for _ in range(workers):
            if stopping.is_set():
                break
            worker = cluster.start_worker(cores, memory)
            click.echo(f"worker {worker.worker_id}: {cores} cores, {memory}, web UI {worker.web_ui}", err=True)
        if not stopping.is_set():
            click.echo(cluster.master_url)
            sys.stdout.flush()
            stopping.wait()
        click.echo("stopping ...", err=True)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
