"""``fate_flow server [--config FILE] [--home DIR]``: run one party until Ctrl-C or SIGTERM.
``fate_flow keys init [--home DIR] [--config FILE] [--force]``: make this party's signing key pair.
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


if __name__ == "__main__":
    main()
