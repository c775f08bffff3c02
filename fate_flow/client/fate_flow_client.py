"""``fate_flow_client -f <function> [options]``: the FATE 1.5 command-line client, against fate_flow's HTTP API.

Every run prints one JSON object (indent 4): the server's answer, or ``{"retcode": 100, "retmsg": ...}``
for a failure on the client side; the exit status is 0 only when ``retcode`` is 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence

from fate_flow.client.common import EXCEPTION_ERROR, ClientError, FlowServer, load_json_file
from fate_flow.client.functions import FUNCTIONS, Call

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = "9380"
DEFAULT_TIMEOUT = 300.0
# options that configure the client itself and are never sent to the server
CLIENT_OPTIONS = ("ip", "port", "timeout")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as a ClientError (printed as a JSON envelope)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ClientError(message)


def build_parser() -> argparse.ArgumentParser:
    """FATE 1.5's client options; a usage error raises ClientError instead of exiting."""
    parser = _Parser(prog="fate_flow_client", allow_abbrev=False,
                     description="FATE-Flow 1.5 style client; prints the server's JSON answer.")
    parser.add_argument("-f", "--function", required=True, choices=sorted(FUNCTIONS), metavar="FUNCTION",
                        help="one of: " + ", ".join(sorted(FUNCTIONS)))
    parser.add_argument("-c", "--config", help="JSON conf file (upload, download, submit_job runtime conf)")
    parser.add_argument("-d", "--dsl", help="DSL JSON file (submit_job)")
    parser.add_argument("-j", "--job_id", help="job id")
    parser.add_argument("-r", "--role", help="role")
    parser.add_argument("-p", "--party_id", help="party id")
    parser.add_argument("-cpn", "--component_name", help="component name")
    parser.add_argument("-s", "--status", help="job status")
    parser.add_argument("-n", "--namespace", help="table namespace")
    parser.add_argument("-t", "--table_name", help="table name")
    parser.add_argument("-o", "--output_path", help="output directory (job_log, job_config)")
    parser.add_argument("-limit", "--limit", type=int, help="limit (upload_history)")
    parser.add_argument("-drop", "--drop", type=int, nargs="?", const=1, choices=(0, 1),
                        help="upload: replace an existing table (--drop alone means 1)")
    parser.add_argument("--ip", default=os.environ.get("FATE_FLOW_HOST") or DEFAULT_HOST,
                        help="server host (default: $FATE_FLOW_HOST or 127.0.0.1)")
    parser.add_argument("--port", default=os.environ.get("FATE_FLOW_PORT") or DEFAULT_PORT,
                        help="server HTTP port (default: $FATE_FLOW_PORT or 9380)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds to wait for an answer (default: 300)")
    return parser


def build_call(args: argparse.Namespace) -> Call:
    """FATE 1.5's request conf: the -c file updated with every option given, plus ``local``."""
    conf_file: dict = {}
    if args.config:
        args.config = os.path.abspath(args.config)
        conf_file = load_json_file(args.config, "conf")
        if not isinstance(conf_file, dict):
            raise ClientError(f"conf file {args.config} must hold a JSON object, not {type(conf_file).__name__}")
    conf = json.loads(json.dumps(conf_file))
    conf.update({k: v for k, v in vars(args).items() if v is not None and k not in CLIENT_OPTIONS})
    if args.role or args.party_id:
        local = conf.get("local") if isinstance(conf.get("local"), dict) else {}
        local.update({k: getattr(args, k) for k in ("role", "party_id") if getattr(args, k)})
        conf["local"] = local
    if conf.get("output_path"):
        conf["output_path"] = os.path.abspath(os.path.expanduser(str(conf["output_path"])))
    server = FlowServer(args.ip, args.port, args.timeout)
    return Call(args.function, server, conf, conf_file, args.config, args.dsl)


def run(argv: Sequence[str] | None = None) -> dict:
    """Parse ``argv``, call the function and return the envelope to print."""
    try:
        args = build_parser().parse_args(argv)
        call = build_call(args)
        return FUNCTIONS[call.function](call)
    except ClientError as exc:
        return exc.envelope()
    except Exception as exc:  # noqa: BLE001 (FATE's client reports every failure as retcode 100)
        return {"retcode": EXCEPTION_ERROR, "retmsg": repr(exc),
                "traceback": traceback.format_exception(type(exc), exc, exc.__traceback__)}


def main(argv: Sequence[str] | None = None) -> int:
    """The console entry point: prints the answer as JSON; exit status 0 only when its retcode is 0."""
    response = run(argv)
    try:
        print(json.dumps(response, indent=4, ensure_ascii=False), flush=True)
    except BrokenPipeError:  # e.g. piped into head: not an error of the call
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0 if response.get("retcode") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
