"""Fuzz every route the server serves, from its own OpenAPI description (``/v1/openapi.json``), with
schemathesis: valid and invalid bodies, path parts and content. Bounded to a few minutes.

Every answer must be FATE's envelope with an integer retcode, never a 5xx (but the 4xx FATE answers with
real HTTP statuses, and 413 for an oversized body), never a traceback or a raw Python exception; no
request may reach the catch-all handler (the server logs those as "request failed"); and the server is
alive and answering afterwards.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.support import ServerProcess

# executors' own routes: a peer or a client is refused there before any body is read
EXECUTOR_ONLY = re.compile(r"^/v1/(mailbox|tracker)/")
PYTHON_ERROR = re.compile(r"Traceback|File \"|\b[A-Z]\w*(Error|Exception): ")
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    server = ServerProcess(tmp_path_factory.mktemp("fuzz") / "party", {"FATE_FLOW_DATABASE__ENGINE": "sqlite"}).start()
    yield server
    server.stop()


def test_the_description_covers_every_route(fuzz_server: ServerProcess):
    document = requests.get(fuzz_server.url + "/v1/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.1") and len(document["paths"]) >= 70
    assert "/v1/job/submit" in document["paths"] and "/v1/party/{job_id}/{role}/{party_id}/create" in document["paths"]
    submit = document["paths"]["/v1/job/submit"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "job_runtime_conf" in submit["properties"]


def _check(case) -> None:
    response = case.call(timeout=30)
    assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text[:500])
    headers = {name.lower(): values[0] for name, values in response.headers.items()}
    if headers.get("content-type", "").startswith("application/json"):
        answer = response.json()
        assert isinstance(answer, dict) and isinstance(answer.get("retcode"), int), response.text[:500]
        assert not PYTHON_ERROR.search(str(answer.get("retmsg", ""))), (case.formatted_path, answer)
    else:  # a file download (tar.gz, json attachment)
        assert response.status_code == 200 and "attachment" in headers.get("content-disposition", ""), headers


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzz_every_route(fuzz_server: ServerProcess, mode: GenerationMode):
    schema = schemathesis.openapi.from_url(fuzz_server.url + "/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    fuzzed = [op for op in operations if not EXECUTOR_ONLY.match(op.path)]
    assert len(fuzzed) >= 60
    for operation in fuzzed:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, phases=[Phase.generate], database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case) -> None:
            _check(case)

        try:
            fuzz()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE  # nothing invalid to send (no parameters, a free-form body)


def test_nothing_reached_the_catch_all_and_the_server_lives(fuzz_server: ServerProcess):
    """Runs after the fuzz (file order): the server log has no unexpected failure, and it still answers."""
    log = Path(fuzz_server.home / "logs" / "fate_flow")
    failures = [line for path in log.glob("*.log") for line in path.read_text(errors="replace").splitlines()
                if "request failed" in line]
    assert not failures, "\n".join(failures[:20])
    assert fuzz_server.post("/v1/version/get", {})["retcode"] == 0
    assert json.dumps(fuzz_server.post("/v1/job/list/job", {"limit": 5}))
