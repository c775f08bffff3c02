"""Signed party-to-party calls (both transports), refused unsigned, mis-signed and replayed calls, and
fate-client's optional request signing."""

from __future__ import annotations

import json

import pytest
import requests

from fate_flow.federation.signing import sign_site
from tests.support import FlowCLI, start_parties

KEYS = {"9999": {"10000": "s3cret-9999-10000"}, "10000": {"9999": "s3cret-9999-10000"}}
CHAIN = {"components": {"a": {"module": "TestModule", "output": {"data": ["data"]}},
                        "b": {"module": "TestModule", "input": {"data": {"data": ["a.data"]}}}}}
CONF = {"dsl_version": 2, "initiator": {"role": "guest", "party_id": 9999}, "role": {"guest": [9999], "host": [10000]},
        "component_parameters": {"common": {"a": {"output_rows": 3}, "b": {"pass_through": True}}}}


def _party_call(host, path: str, body: dict, headers: dict) -> dict:
    return requests.post(host.url + path, data=json.dumps(body).encode(), timeout=10,
                         headers={"Content-Type": "application/json", **headers}).json()


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_signed_parties_run_a_job(server_factory, protocol: str):
    parties = start_parties(server_factory, ["9999", "10000"], protocol=protocol, keys=KEYS)
    submitted = parties["9999"].post("/v1/job/submit", {"job_dsl": CHAIN, "job_runtime_conf": CONF})
    assert submitted["retcode"] == 0, submitted
    assert parties["9999"].wait_job(submitted["jobId"])["f_status"] == "success"
    assert parties["10000"].wait_job(submitted["jobId"])["f_status"] == "success"


def test_unsigned_missigned_and_replayed_calls_are_refused(server_factory):
    parties = start_parties(server_factory, ["9999", "10000"], keys=KEYS)
    host = parties["10000"]
    path, body = "/v1/party/20990101000000000000/host/10000/resource/apply", {}
    unsigned = _party_call(host, path, body, {})
    assert unsigned["retcode"] == 109 and "unsigned" in unsigned["retmsg"]
    wrong = sign_site("not-the-key", "POST", path, json.dumps(body).encode(), "9999")
    assert _party_call(host, path, body, wrong)["retcode"] == 109
    signed = sign_site(KEYS["9999"]["10000"], "POST", path, json.dumps(body).encode(), "9999")
    first = _party_call(host, path, body, signed)
    assert first["retcode"] != 109, first  # authenticated (the job does not exist: a data error)
    replay = _party_call(host, path, body, signed)
    assert replay["retcode"] == 109 and "replayed" in replay["retmsg"]
    tampered = _party_call(host, path, {"extra": 1}, sign_site(KEYS["9999"]["10000"], "POST", path, b"{}", "9999"))
    assert tampered["retcode"] == 109 and "signature" in tampered["retmsg"]
    stranger = sign_site(KEYS["9999"]["10000"], "POST", path, b"{}", "12345")
    assert _party_call(host, path, body, stranger)["retcode"] == 109
    # executors' paths are not open to other parties either
    tracker = _party_call(host, "/v1/tracker/j/c/t/0/host/10000/summary/save", {}, {})
    assert tracker["retcode"] == 109
    # the public API is unaffected by site authentication
    assert requests.post(host.url + "/v1/job/list/job", json={}, timeout=10).json()["retcode"] == 0


def test_client_signing_with_the_real_flow_cli(server_factory, flow_cli: FlowCLI):
    server = server_factory("sqlite", env={"FATE_FLOW_AUTHENTICATION__CLIENT__SWITCH": "true",
                                           "FATE_FLOW_AUTHENTICATION__CLIENT__HTTP_APP_KEY": "app1",
                                           "FATE_FLOW_AUTHENTICATION__CLIENT__HTTP_SECRET_KEY": "secret1"})
    flow_cli.run("init", "--reset")
    assert flow_cli.run("init", "--ip", "127.0.0.1", "--port", str(server.http_port))["retcode"] == 0
    refused = flow_cli.run("job", "list")
    assert refused["retcode"] == 109, refused
    assert flow_cli.run("init", "--ip", "127.0.0.1", "--port", str(server.http_port), "--app-key", "app1",
                        "--secret-key", "secret1")["retcode"] == 0
    try:
        assert flow_cli.run("job", "list")["retcode"] == 0
        assert flow_cli.run("job", "query", "-j", "123")["retcode"] == 0
        assert flow_cli.run("table", "info", "-n", "x", "-t", "y")["retcode"] == 0
        flow_cli.run("init", "--ip", "127.0.0.1", "--port", str(server.http_port), "--app-key", "app1",
                     "--secret-key", "wrong")
        assert flow_cli.run("job", "list")["retcode"] == 109
    finally:
        flow_cli.run("init", "--reset")
