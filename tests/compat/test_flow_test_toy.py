"""`flow test toy -gid 9999 -hid 10000`, unchanged, against two servers and against one standalone server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support import FlowCLI, ServerProcess, start_parties

pytestmark = pytest.mark.compat


def _toy(flow: FlowCLI, server: ServerProcess, cwd: Path) -> str:
    flow.init(server)
    completed = subprocess.run([str(flow.flow), "test", "toy", "-gid", "9999", "-hid", "10000", "--timeout", "60"],
                               capture_output=True, text=True, cwd=cwd, timeout=120, env=flow.env)
    return completed.stdout


def _assert_toy_passed(output: str) -> None:
    assert "is success" in output, output
    guest_lines = [line for line in output.splitlines() if "secure_add_guest" in line]
    assert any("success to calculate secure_sum" in line for line in guest_lines), output


def test_toy_on_two_servers(server_factory, flow_cli: FlowCLI, tmp_path: Path):
    parties = start_parties(server_factory, ["9999", "10000"], protocol="grpc")
    _assert_toy_passed(_toy(flow_cli, parties["9999"], tmp_path))
    host_rows = parties["10000"].post("/v1/job/list/job", {"role": "host"})["data"]["jobs"]
    assert host_rows and host_rows[0]["status"] == "success"
    host_log = next((parties["10000"].home / "logs").glob("*/host/10000/INFO.log")).read_text()
    assert "secure_add_host" in host_log


def test_toy_on_one_standalone_server(server_factory, flow_cli: FlowCLI, tmp_path: Path):
    server = server_factory("sqlite", env={"FATE_FLOW_PARTY_ID": "9999"})  # the shipped conf: standalone
    _assert_toy_passed(_toy(flow_cli, server, tmp_path))
    rows = server.post("/v1/job/list/job", {})["data"]["jobs"]
    assert {(r["role"], r["party_id"], r["status"]) for r in rows} == {("guest", 9999, "success"),
                                                                        ("host", 10000, "success")}
