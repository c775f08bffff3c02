"""The FATE 1.5-style ``fate_flow_client -f <function>`` CLI, run as a subprocess against a real server."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fate_flow.client.archive import safe_extract
from fate_flow.client.common import ClientError
from tests.support import DATA, REPO, ServerProcess, free_port

pytestmark = pytest.mark.compat

CSV = DATA / "breast_hetero_guest.csv"
TABLE = {"namespace": "experiment", "table_name": "breast_hetero_guest"}


def client(*args: str, port: int | None = None, cwd: Path | None = None) -> tuple[int, dict]:
    """Run the real CLI; returns its exit status and the one JSON object it printed."""
    command = [sys.executable, "-m", "fate_flow.client.fate_flow_client", *args]
    if port is not None:
        command += ["--ip", "127.0.0.1", "--port", str(port)]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=cwd or REPO, timeout=60)
    try:
        answer = json.loads(completed.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"no JSON printed: {completed.stdout!r} {completed.stderr!r}") from None
    assert (completed.returncode == 0) == (answer.get("retcode") == 0), (completed.returncode, answer)
    return completed.returncode, answer


def wait_ended(port: int, job_id: str, timeout: float = 20) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        _, answer = client("-f", "query_job", "-j", job_id, port=port)
        assert answer["retcode"] == 0, answer
        row = answer["data"][0]
        if row["f_status"] in ("success", "failed", "canceled", "timeout"):
            return row
        time.sleep(0.1)
    raise TimeoutError(job_id)


def write_json(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_upload_query_info_log_download(server_factory, tmp_path: Path):
    server: ServerProcess = server_factory("sqlite", env={"FATE_FLOW_DATA_ACCESS__ALLOWED_DIRS": f"[{tmp_path}]"})
    port = server.http_port
    # the conf names the CSV relative to the client's working directory
    conf = write_json(tmp_path / "upload_guest.json", {"file": f"data/{CSV.name}", "id_delimiter": ",", "head": 1,
                                                       "partition": 4, **TABLE})
    status, submitted = client("-f", "upload", "-c", str(conf), "--drop", port=port, cwd=CSV.parent.parent)
    assert status == 0 and submitted["retcode"] == 0, submitted
    job_id = submitted["jobId"]
    assert submitted["data"]["job_id"] == job_id
    assert submitted["data"]["table_name"] == TABLE["table_name"] and submitted["data"]["namespace"] == "experiment"
    assert submitted["data"]["job_dsl_path"] == submitted["data"]["dsl_path"]  # FATE 1.5's key names too
    assert submitted["data"]["job_runtime_conf_path"] == submitted["data"]["runtime_conf_path"]

    job = wait_ended(port, job_id)
    assert job["f_status"] == "success" and "f_runtime_conf" not in job and "f_dsl" not in job
    _, filtered = client("-f", "query_job", "-j", job_id, "-r", "local", "-p", "0", "-s", "success", port=port)
    assert [row["f_job_id"] for row in filtered["data"]] == [job_id]

    _, info = client("-f", "table_info", "-n", "experiment", "-t", TABLE["table_name"], port=port)
    assert info["retcode"] == 0 and info["data"]["count"] == 569 and info["data"]["exist"] == 1

    _, tasks = client("-f", "query_task", "-j", job_id, "-cpn", "upload_0", "-r", "local", "-p", "0", port=port)
    assert tasks["retcode"] == 0 and [t["f_status"] for t in tasks["data"]] == ["success"]

    _, logs = client("-f", "job_log", "-j", job_id, "-o", "logs", port=port, cwd=tmp_path)
    log_dir = tmp_path / "logs" / f"job_{job_id}_log"
    assert logs["retcode"] == 0 and logs["directory"] == str(log_dir), logs
    assert logs["retmsg"] == f"download successfully, please check {log_dir} directory"
    assert (log_dir / "fate_flow_schedule.log").stat().st_size > 0
    assert "569 rows" in (log_dir / "local" / "0" / "INFO.log").read_text()

    _, config = client("-f", "job_config", "-j", job_id, "-r", "local", "-p", "0", "-o", str(tmp_path), port=port)
    config_dir = tmp_path / f"job_{job_id}_config"
    assert config["retcode"] == 0 and config["directory"] == str(config_dir), config
    assert "dsl" not in config["data"] and "runtime_conf" not in config["data"]
    assert json.loads((config_dir / "runtime_conf.json").read_text()) is not None
    assert (config_dir / "dsl.json").exists()

    status, stopped = client("-f", "stop_job", "-j", job_id, port=port)
    answer = server.post("/v1/job/stop", {"job_id": job_id})
    assert status == 1 and stopped["retcode"] == answer["retcode"] != 0
    assert stopped["retmsg"] == answer["retmsg"] and "already ended" in stopped["retmsg"]

    status, refused = client("-f", "upload", "-c", str(conf), port=port, cwd=CSV.parent.parent)
    assert status == 1 and refused["retcode"] == 100 and "already exists" in refused["retmsg"]

    download_conf = write_json(tmp_path / "download.json", {**TABLE, "output_path": "out/guest.csv"})
    _, downloaded = client("-f", "download", "-c", str(download_conf), port=port, cwd=tmp_path)
    assert downloaded["retcode"] == 0, downloaded
    assert wait_ended(port, downloaded["jobId"])["f_status"] == "success"
    assert (tmp_path / "out" / "guest.csv").read_text().splitlines() == CSV.read_text().splitlines()

    # use_local_data 0: a plain JSON request, the server reads the file from its own (allowed) disk
    server_side = write_json(tmp_path / "server_side.json", {"file": str(tmp_path / "out" / "guest.csv"), "head": 1,
                                                             "partition": 2, "namespace": "experiment",
                                                             "table_name": "copy", "use_local_data": 0})
    _, copied = client("-f", "upload", "-c", str(server_side), port=port)
    assert copied["retcode"] == 0, copied
    assert wait_ended(port, copied["jobId"])["f_status"] == "success"
    _, copy_info = client("-f", "table_info", "-n", "experiment", "-t", "copy", port=port)
    assert copy_info["data"]["count"] == 569

    _, history = client("-f", "upload_history", "-j", job_id, port=port)
    assert history["retcode"] == 0 and history["data"][0][job_id]["upload_info"]["upload_count"] == 569

    _, deleted = client("-f", "delete_table", "-n", "experiment", "-t", TABLE["table_name"], port=port)
    assert deleted["retcode"] == 0, deleted
    _, gone = client("-f", "table_info", "-n", "experiment", "-t", TABLE["table_name"], port=port)
    assert gone["data"]["exist"] == 0, gone


def test_server_answers_are_passed_through(server: ServerProcess, tmp_path: Path):
    port = server.http_port
    _, unknown = client("-f", "query_job", "-j", "20990101000000000000", port=port)
    assert unknown == {"retcode": 0, "retmsg": "no job could be found", "data": []}
    status, no_log = client("-f", "job_log", "-j", "20990101000000000000", "-o", str(tmp_path), port=port)
    assert status == 1 and no_log["retcode"] == 404 and "no log directory" in no_log["retmsg"]
    assert not (tmp_path / "job_20990101000000000000_log").exists()
    conf = write_json(tmp_path / "conf.json", {"initiator": {"role": "guest", "party_id": 9999}})
    dsl = write_json(tmp_path / "dsl.json", {"components": {}})
    _, submitted = client("-f", "submit_job", "-c", str(conf), "-d", str(dsl), port=port)
    assert isinstance(submitted.get("retcode"), int) and "retmsg" in submitted


@pytest.mark.parametrize(("args", "message"), [
    (("-f", "upload", "-c", "missing.json"), "conf file not found"),
    (("-f", "upload", "-c", "bad.json"), "is not valid JSON"),
    (("-f", "frobnicate"), "invalid choice: 'frobnicate'"),
    (("-j", "1"), "the following arguments are required: -f/--function"),
    (("-f", "job_log", "-j", "1"), "-o/--output_path"),
    (("-f", "table_info", "-n", "experiment"), "-t/--table_name"),
    (("-f", "submit_job", "-c", "bad.json"), "is not valid JSON"),
    (("-f", "submit_job",), "-c/--config"),
    (("-f", "upload", "-c", "no_file.json"), "does not exist, please check the path"),
])
def test_client_side_errors(tmp_path: Path, args: tuple[str, ...], message: str):
    (tmp_path / "bad.json").write_text('{"file": "x.csv",')
    write_json(tmp_path / "no_file.json", {"file": "nowhere.csv", **TABLE})
    status, answer = client(*args, port=free_port(), cwd=tmp_path)
    assert status == 1 and answer["retcode"] == 100 and message in answer["retmsg"], answer


def test_unreachable_server_names_the_url(tmp_path: Path):
    port = free_port()
    status, answer = client("-f", "query_job", "-j", "1", port=port)
    assert status == 1 and answer["retcode"] == 100
    assert f"http://127.0.0.1:{port}/v1/job/query" in answer["retmsg"] and "Connection refused" in answer["retmsg"]


def _tar(*members: tuple[str, bytes | None, bytes]) -> bytes:
    """A gzip tar of (name, content, type) members; a symlink's content is its target."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content, kind in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.SYMTYPE:
                info.linkname = (content or b"").decode()
                tar.addfile(info)
            else:
                info.size = len(content or b"")
                tar.addfile(info, io.BytesIO(content or b""))
    return buffer.getvalue()


@pytest.mark.parametrize(("name", "kind", "reason"), [
    ("../evil.log", tarfile.REGTYPE, "outside the output directory"),
    ("local/../../evil.log", tarfile.REGTYPE, "outside the output directory"),
    ("/tmp/evil.log", tarfile.REGTYPE, "absolute path"),
    ("link", tarfile.SYMTYPE, "not a regular file"),
])
def test_safe_extract_refuses_unsafe_members(tmp_path: Path, name: str, kind: bytes, reason: str):
    archive = _tar(("ok.log", b"fine", tarfile.REGTYPE), (name, b"/etc/passwd", kind))
    with pytest.raises(ClientError, match=reason):
        safe_extract(io.BytesIO(archive), tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.log").exists()


@pytest.fixture
def evil_server() -> Iterator[int]:
    """A fake flow server whose job/log/download answers a tar with a member escaping the directory."""
    archive = _tar(("fate_flow_schedule.log", b"ok", tarfile.REGTYPE), ("../../escaped.log", b"x", tarfile.REGTYPE))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/gzip")
            self.send_header("Content-Length", str(len(archive)))
            self.end_headers()
            self.wfile.write(archive)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_job_log_refuses_escaping_archive(evil_server: int, tmp_path: Path):
    status, answer = client("-f", "job_log", "-j", "1", "-o", str(tmp_path / "a" / "b"), port=evil_server)
    assert status == 1 and answer["retcode"] == 100 and "'../../escaped.log'" in answer["retmsg"], answer
    assert not list(tmp_path.rglob("*.log"))


def test_submit_job_and_component_functions(server_factory, tmp_path: Path):
    """-f submit_job / query_task / component_* / stop_job / rerun_job against a DSL job."""
    server: ServerProcess = server_factory("sqlite", env={"FATE_FLOW_PARTY_ID": "9999"})
    port = server.http_port
    dsl = write_json(tmp_path / "dsl.json", {"components": {
        "test_0": {"module": "TestModule", "output": {"data": ["data"], "model": ["model"]}}}})
    conf = write_json(tmp_path / "conf.json", {
        "dsl_version": 2, "initiator": {"role": "guest", "party_id": 9999}, "role": {"guest": [9999]},
        "component_parameters": {"common": {"test_0": {"output_rows": 5, "metrics": True}}}})
    _, submitted = client("-f", "submit_job", "-c", str(conf), "-d", str(dsl), port=port)
    assert submitted["retcode"] == 0 and submitted["jobId"] == submitted["data"]["job_id"]
    job_id = submitted["jobId"]
    assert wait_ended(port, job_id)["f_status"] == "success"
    who = ["-j", job_id, "-r", "guest", "-p", "9999", "-cpn", "test_0"]
    _, tasks = client("-f", "query_task", "-j", job_id, port=port)
    assert [t["f_component_name"] for t in tasks["data"]] == ["test_0"]
    _, metrics = client("-f", "component_metrics", *who, port=port)
    assert metrics["data"] == {"train": ["loss", "auc"]}
    _, metric_all = client("-f", "component_metric_all", *who, port=port)
    assert metric_all["data"]["train"]["loss"]["data"] == [[0, 0.9], [1, 0.6], [2, 0.4]]
    _, params = client("-f", "component_parameters", *who, port=port)
    assert params["data"]["TestModuleParam"] == {"output_rows": 5, "metrics": True}
    _, model = client("-f", "component_output_model", *who, port=port)
    assert model["data"]["intercept"] == 0.3 and model["meta"]["module_name"] == "TestModule"
    _, tables = client("-f", "component_output_data_table", *who, port=port)
    assert tables["data"][0]["data_name"] == "data"
    status, data = client("-f", "component_output_data", *who, "-o", str(tmp_path / "out"), port=port)
    assert status == 0, data
    csv_lines = (Path(data["directory"]) / "data.csv").read_text().splitlines()
    assert csv_lines[0] == "id,x0,x1" and len(csv_lines) == 6
    status, stopped = client("-f", "stop_job", "-j", job_id, port=port)
    assert status != 0 and "already ended" in stopped["retmsg"]
    status, rerun = client("-f", "rerun_job", "-j", job_id, port=port)
    assert status != 0 and "nothing to rerun" in rerun["retmsg"]
