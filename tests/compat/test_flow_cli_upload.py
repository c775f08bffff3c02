"""The real `flow` CLI of fate-client 1.11.3 against a real server, on SQLite and on MariaDB."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support import DATA, FlowCLI, ServerProcess

pytestmark = pytest.mark.compat


def _wait_success(flow: FlowCLI, job_id: str, timeout: float = 30) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        answer = flow.run("job", "query", "-j", job_id)
        assert answer["retcode"] == 0, answer
        status = answer["data"][0]["f_status"]
        if status in ("success", "failed", "canceled", "timeout"):
            return answer["data"][0]
        time.sleep(0.2)
    raise TimeoutError(job_id)


def test_upload_query_info_log_download(server_factory, db_engine: str, flow_cli: FlowCLI, tmp_path: Path):
    server: ServerProcess = server_factory(db_engine, env={"FATE_FLOW_DATA_ACCESS__ALLOWED_DIRS": f"[{tmp_path}]"})
    flow_cli.init(server)
    conf = tmp_path / "upload_guest.json"
    conf.write_text(json.dumps({"file": str(DATA / "breast_hetero_guest.csv"), "id_delimiter": ",", "head": 1,
                                "partition": 4, "namespace": "experiment", "table_name": "breast_hetero_guest"}))

    submitted = flow_cli.run("data", "upload", "-c", str(conf), "--drop")
    assert submitted["retcode"] == 0, submitted
    job_id = submitted["jobId"]
    assert submitted["data"]["job_id"] == job_id and submitted["data"]["table_name"] == "breast_hetero_guest"

    job = _wait_success(flow_cli, job_id)
    assert job["f_status"] == "success", job
    assert job["f_role"] == "local" and job["f_party_id"] == "0"

    info = flow_cli.run("table", "info", "-n", "experiment", "-t", "breast_hetero_guest")
    assert info["retcode"] == 0 and info["data"]["exist"] == 1
    assert info["data"]["count"] == 569 and info["data"]["partition"] == 4
    assert info["data"]["schema"] == {"header": "y,x0,x1,x2,x3,x4,x5,x6,x7,x8,x9", "sid": "id"}

    tasks = flow_cli.run("task", "query", "-j", job_id)
    assert tasks["retcode"] == 0 and tasks["data"][0]["f_component_name"] == "upload_0"
    assert tasks["data"][0]["f_status"] == "success"

    logs = flow_cli.run("job", "log", "-j", job_id, "-o", str(tmp_path / "logs"))
    assert logs["retcode"] == 0, logs
    log_dir = tmp_path / "logs" / f"job_{job_id}_log"
    assert "job started" in (log_dir / "fate_flow_schedule.log").read_text().replace(job_id + " started", "job started")
    assert "569 rows" in (log_dir / "local" / "0" / "INFO.log").read_text()
    assert (log_dir / "local" / "0" / "upload_0" / "INFO.log").exists()
    assert (log_dir / "local" / "0" / "upload_0" / "std.log").exists()

    # upload again without --drop: refused, the existing table untouched
    refused = flow_cli.run("data", "upload", "-c", str(conf))
    assert refused["retcode"] == 100 and "already exists" in refused["retmsg"]

    out = tmp_path / "out" / "guest.csv"
    download_conf = tmp_path / "download.json"
    download_conf.write_text(json.dumps({"namespace": "experiment", "table_name": "breast_hetero_guest",
                                         "output_path": str(out)}))
    downloaded = flow_cli.run("data", "download", "-c", str(download_conf))
    assert downloaded["retcode"] == 0, downloaded
    assert _wait_success(flow_cli, downloaded["jobId"])["f_status"] == "success"
    assert out.read_text().splitlines() == (DATA / "breast_hetero_guest.csv").read_text().splitlines()

    history = flow_cli.run("data", "upload-history", "-j", job_id)
    assert history["retcode"] == 0
    assert history["data"][0][job_id]["upload_info"]["upload_count"] == 569


def test_job_query_unknown_id(server: ServerProcess, flow_cli: FlowCLI):
    flow_cli.init(server)
    answer = flow_cli.run("job", "query", "-j", "20990101000000000000")
    assert answer["retcode"] == 0 and answer["data"] == [] and "no job" in answer["retmsg"]


def test_resource_query_and_return(server: ServerProcess, flow_cli: FlowCLI):
    flow_cli.init(server)
    answer = flow_cli.run("resource", "query")
    assert answer["retcode"] == 0, answer
    engine = answer["data"]["computing_engine_resource"]
    assert engine["f_cores"] == 20 and engine["f_remaining_cores"] == 20
    assert answer["data"]["use_resource_job"] == []
    unknown = flow_cli.run("resource", "return", "-j", "20990101000000000000")
    assert unknown["retcode"] == 102 and "20990101000000000000" in unknown["retmsg"]
