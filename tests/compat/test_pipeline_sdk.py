"""The pipeline SDK of fate-client 1.11.3 (its own virtualenv, as a subprocess) against a real server.

`pipeline init` writes the server address into the installed package (like `flow init`), so these
tests must not run in parallel with other runs of the same fate-client installation.

The SDK has a class per FATE algorithm (DataTransform, HeteroLR, ...) but none for this server's
`TestModule`. A component class is all the SDK needs to express one: the scripts below define
`TestModule` on the SDK's own base `FateFlowComponent`, with the SDK's `Input`/`Output` (exactly how
`pipeline.component.Reader` is written), so the DSL and conf come from the SDK unchanged.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import DATA, FATE_CLIENT_VENV, FlowCLI, ServerProcess, database_env

pytestmark = [pytest.mark.compat, pytest.mark.xdist_group("pipeline-config")]  # see the docstring

ALLOWED_STATUSES = {"waiting", "running", "success", "failed", "canceled", "timeout"}

PRELUDE = textwrap.dedent('''
    import json
    import sys

    import flow_sdk.client.api.job as job_api
    from pipeline.backend.pipeline import PipeLine
    from pipeline.component import Reader
    from pipeline.component.component_base import FateFlowComponent
    from pipeline.interface import Data, Input, Output

    # every job/query answer the SDK polls, to check the polling contract afterwards
    POLLS = []
    _query = job_api.Job.query

    def recording_query(self, *args, **kwargs):
        answer = _query(self, *args, **kwargs)
        rows = answer.get("data") or []
        POLLS.append({"job_id": kwargs.get("job_id"), "role": kwargs.get("role"),
                      "party_id": kwargs.get("party_id"), "retcode": answer.get("retcode"),
                      "rows": len(rows), "status": rows[0].get("f_status") if rows else None})
        return answer

    job_api.Job.query = recording_query


    class TestModule(FateFlowComponent):
        def __init__(self, **kwargs):
            FateFlowComponent.__init__(self, **kwargs)
            for key, value in self.erase_component_base_param(**kwargs).items():
                setattr(self, key, value)
            self.input = Input(self.name)
            self.output = Output(self.name, data_type="single", has_model=True)
            self._module_name = "TestModule"


    def report(**values):
        print("RESULT " + json.dumps({"polls": POLLS, **values}, default=str), flush=True)
''')


@pytest.fixture(scope="module")
def guest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    FlowCLI()  # skips (or fails in CI) without fate-client
    server = ServerProcess(tmp_path_factory.mktemp("sdk") / "party",
                           {**database_env("sqlite"), "FATE_FLOW_PARTY_ID": "9999"}).start()
    completed = subprocess.run([str(FATE_CLIENT_VENV / "bin" / "pipeline"), "init", "--ip", "127.0.0.1",
                                "--port", str(server.http_port)], capture_output=True, text=True, timeout=60)
    assert "succeeded" in completed.stdout, completed
    yield server
    server.stop()


def run_script(tmp_path: Path, body: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess, dict]:
    script = tmp_path / "script.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    completed = subprocess.run([str(FATE_CLIENT_VENV / "bin" / "python"), str(script)], capture_output=True,
                               text=True, timeout=timeout, cwd=tmp_path)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    return completed, (json.loads(lines[-1][len("RESULT "):]) if lines else {})


def assert_polling_contract(polls: list[dict], job_id: str, role: str, party_id: str) -> None:
    mine = [p for p in polls if p["job_id"] == job_id]
    assert mine, polls
    # the job row exists from the first poll right after submit, and only known statuses are shown
    assert all(p["retcode"] == 0 and p["rows"] >= 1 for p in mine), mine
    assert {p["status"] for p in mine} <= ALLOWED_STATUSES, mine
    assert {(p["role"], str(p["party_id"])) for p in mine} == {(role, party_id)}


def test_upload_and_fit_reader_and_component(guest: ServerProcess, tmp_path: Path):
    completed, result = run_script(tmp_path, f'''
        pipeline = PipeLine().set_initiator(role="guest", party_id=9999).set_roles(guest=9999)
        pipeline.add_upload_data(file={str(DATA / "breast_hetero_guest.csv")!r}, table_name="breast_hetero_guest",
                                 namespace="experiment", head=1, partition=4)
        pipeline.upload(drop=1)
        upload_polls = list(POLLS)

        reader_0 = Reader(name="reader_0")
        reader_0.get_party_instance(role="guest", party_id=9999).component_param(
            table={{"name": "breast_hetero_guest", "namespace": "experiment"}})
        test_0 = TestModule(name="test_0", pass_through=True, metrics=True, sleep=1.2)
        pipeline.add_component(reader_0)
        pipeline.add_component(test_0, data=Data(data=reader_0.output.data))
        pipeline.compile()
        pipeline.fit()

        component = pipeline.get_component("test_0")
        output = component.get_output_data()
        reader_output = pipeline.get_component("reader_0").get_output_data(limits=10)
        report(upload_polls=upload_polls, job_id=pipeline._train_job_id, model_info=vars(pipeline._model_info),
               summary=component.get_summary(), model=component.get_model_param(),
               table=component.get_output_data_table(),
               rows=len(output), columns=list(output.columns), first_id=str(output["id"].iloc[0]),
               reader_rows=len(reader_output), dsl=pipeline.get_train_dsl())
    ''')
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert result, completed.stdout[-3000:]

    upload_polls = result["upload_polls"]
    assert upload_polls and {p["status"] for p in upload_polls} <= ALLOWED_STATUSES
    assert upload_polls[-1]["status"] == "success" and {(p["role"], str(p["party_id"])) for p in upload_polls} == {
        ("local", "0")}

    job_id = result["job_id"]
    assert_polling_contract(result["polls"], job_id, "guest", "9999")
    statuses = [p["status"] for p in result["polls"] if p["job_id"] == job_id]
    assert statuses[-1] == "success" and "running" in statuses
    assert result["model_info"] == {"model_id": "guest-9999#model", "model_version": job_id}
    assert result["dsl"]["components"]["test_0"]["provider"] == "fate_flow"

    assert result["summary"] == {"loss": [0.9, 0.6, 0.4], "validation_metrics": {"train": {"auc": [0.97, 0.98]}}}
    assert result["model"] == {"weight": [0.1, 0.2], "intercept": 0.3}
    assert result["table"]["table_namespace"].startswith("output_data_") and result["table"]["table_name"]
    # the pass-through output is the uploaded table: 569 rows, id + y + x0..x9
    assert result["rows"] == 569
    assert result["columns"] == ["id", "y", *(f"x{i}" for i in range(10))]
    assert result["first_id"] == (DATA / "breast_hetero_guest.csv").read_text().splitlines()[1].split(",")[0]
    assert result["reader_rows"] == 9  # the SDK counts the header line in `limits`

    job = guest.post("/v1/job/query", {"job_id": job_id})["data"][0]
    assert job["f_status"] == "success" and job["f_runtime_conf"]["initiator"] == {"role": "guest", "party_id": 9999}


def test_fit_of_failing_component_raises(guest: ServerProcess, tmp_path: Path):
    """A failed job makes fit() raise; the SDK polled only statuses it knows."""
    completed, result = run_script(tmp_path, '''
        pipeline = PipeLine().set_initiator(role="guest", party_id=9999).set_roles(guest=9999)
        test_0 = TestModule(name="test_0", fail="broken on purpose")
        pipeline.add_component(test_0)
        pipeline.compile()
        try:
            pipeline.fit()
            report(raised=None)
        except ValueError as exc:
            report(raised=str(exc), job_id=pipeline._train_job_id)
    ''')
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert result["raised"] and "failed" in result["raised"], result
    assert_polling_contract(result["polls"], result["job_id"], "guest", "9999")
    assert [p["status"] for p in result["polls"]][-1] == "failed"


def test_reader_only_pipeline(guest: ServerProcess, tmp_path: Path):
    """A Reader-only pipeline (the SDK's own Reader class, nothing custom) fits, and its output reads back."""
    completed, result = run_script(tmp_path, f'''
        pipeline = PipeLine().set_initiator(role="guest", party_id=9999).set_roles(guest=9999)
        pipeline.add_upload_data(file={str(DATA / "breast_hetero_guest.csv")!r}, table_name="reader_only",
                                 namespace="sdk", head=1, partition=2)
        pipeline.upload(drop=1)
        reader_0 = Reader(name="reader_0")
        reader_0.get_party_instance(role="guest", party_id=9999).component_param(
            table={{"name": "reader_only", "namespace": "sdk"}})
        pipeline.add_component(reader_0)
        pipeline.compile()
        pipeline.fit()
        output = pipeline.get_component("reader_0").get_output_data()
        report(job_id=pipeline._train_job_id, rows=len(output),
               table=pipeline.get_component("reader_0").get_output_data_table())
    ''')
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert_polling_contract(result["polls"], result["job_id"], "guest", "9999")
    assert result["rows"] == 569 and result["table"]["table_name"], result
