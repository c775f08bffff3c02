"""Bad input gets the right retcode and a message naming what is wrong, and nothing is created."""

from __future__ import annotations

import json
import time
from pathlib import Path

import requests

from tests.support import DATA, ServerProcess, upload_multipart

CONF = {"id_delimiter": ",", "head": 1, "partition": 4, "namespace": "experiment", "table_name": "t1"}


def _job_count(server: ServerProcess) -> int:
    return server.post("/v1/job/list/job", {})["data"]["count"]


def _jobs_dir_entries(server: ServerProcess) -> list[str]:
    jobs = server.home / "jobs"
    return sorted(p.name for p in jobs.iterdir()) if jobs.exists() else []


def test_upload_without_file_part(server: ServerProcess):
    answer = upload_multipart(server, {**CONF, "file": "x.csv"}, None).json()
    assert answer["retcode"] == 101 and "file" in answer["retmsg"]
    assert _job_count(server) == 0 and _jobs_dir_entries(server) == []


def test_upload_missing_required_keys(server: ServerProcess):
    conf = {k: v for k, v in CONF.items() if k != "namespace"}
    answer = upload_multipart(server, conf, DATA / "breast_hetero_guest.csv").json()
    assert answer["retcode"] == 101 and "namespace" in answer["retmsg"]
    assert _job_count(server) == 0 and _jobs_dir_entries(server) == []


def test_upload_malformed_values(server: ServerProcess):
    for bad, field in (({"partition": "many"}, "partition"), ({"head": 3}, "head"),
                       ({"id_delimiter": "::"}, "id_delimiter"), ({"table_name": "../etc"}, "table_name")):
        answer = upload_multipart(server, {**CONF, **bad}, DATA / "breast_hetero_guest.csv").json()
        assert answer["retcode"] == 101, (bad, answer)
        assert field in answer["retmsg"], (bad, answer)
    assert _job_count(server) == 0 and _jobs_dir_entries(server) == []


def test_upload_malformed_json_body(server: ServerProcess):
    response = requests.post(f"{server.url}/v1/data/upload", data="{not json", timeout=10,
                             headers={"Content-Type": "application/json"})
    answer = response.json()
    assert answer["retcode"] == 101, answer
    assert _job_count(server) == 0


def test_server_side_file_must_exist_and_be_allowed(server: ServerProcess, tmp_path: Path):
    missing = server.home / "nothing.csv"
    answer = server.post("/v1/data/upload", {**CONF, "file": str(missing), "use_local_data": 0})
    assert answer["retcode"] == 101 and "does not exist" in answer["retmsg"]
    outside = tmp_path / "outside.csv"
    outside.write_text("id,x\n1,2\n")
    answer = server.post("/v1/data/upload", {**CONF, "file": str(outside), "use_local_data": 0})
    assert answer["retcode"] == 101 and "allowed_dirs" in answer["retmsg"]
    assert _job_count(server) == 0


def test_server_side_file_upload(server: ServerProcess):
    local = server.home / "local.csv"
    local.write_text("id,x0,x1\na,1,2\nb,3,4\n")
    answer = server.post("/v1/data/upload", {**CONF, "file": str(local), "use_local_data": 0})
    assert answer["retcode"] == 0, answer
    assert server.wait_job(answer["jobId"])["f_status"] == "success"
    info = server.post("/v1/table/table_info", {"namespace": "experiment", "table_name": "t1"})["data"]
    assert info["count"] == 2 and info["schema"] == {"header": "x0,x1", "sid": "id"}


def test_existing_table_without_drop_is_refused_and_kept(server: ServerProcess):
    first = upload_multipart(server, CONF, DATA / "breast_hetero_guest.csv").json()
    assert server.wait_job(first["jobId"])["f_status"] == "success"
    jobs_before = _job_count(server)
    again = upload_multipart(server, CONF, DATA / "breast_hetero_guest.csv").json()
    assert again["retcode"] == 100 and "already exists" in again["retmsg"] and "--drop" in again["retmsg"]
    assert _job_count(server) == jobs_before
    info = server.post("/v1/table/table_info", {"namespace": "experiment", "table_name": "t1"})["data"]
    assert info["count"] == 569


def test_ragged_csv_fails_the_job_with_the_line_and_keeps_the_old_table(server: ServerProcess, tmp_path: Path):
    good = upload_multipart(server, CONF, DATA / "breast_hetero_guest.csv").json()
    assert server.wait_job(good["jobId"])["f_status"] == "success"
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("id,a,b\n1,2,3\n4,5,6\n7,8\n9,10,11\n")
    answer = upload_multipart(server, {**CONF, "drop": 1}, ragged).json()
    assert answer["retcode"] == 0
    job = server.wait_job(answer["jobId"])
    assert job["f_status"] == "failed"
    assert "line 4" in job["f_error"] and "2 fields" in job["f_error"] and "header has 3" in job["f_error"]
    task = server.post("/v1/job/task/query", {"job_id": answer["jobId"]})["data"][0]
    assert "line 4" in task["f_error_report"]
    info = server.post("/v1/table/table_info", {"namespace": "experiment", "table_name": "t1"})["data"]
    assert info["count"] == 569, "a failed upload with drop must not destroy the table it would replace"
    table_dirs = list((server.home / "data" / "tables" / "experiment" / "t1").iterdir())
    assert len(table_dirs) == 1, f"the failed upload's files must be removed: {table_dirs}"
    error_log = server.post("/v1/log/cat", {"job_id": answer["jobId"], "log_type": "partyError",
                                            "role": "local", "party_id": 0})["data"]
    assert any("line 4" in line["content"] for line in error_log)


def test_unknown_job_ids(server: ServerProcess):
    assert server.post("/v1/job/query", {"job_id": "20990101"}) == {"retcode": 0, "retmsg": "no job could be found",
                                                                    "data": []}
    answer = server.post("/v1/job/task/query", {"job_id": "20990101"})
    assert answer["retcode"] == 101
    answer = server.post("/v1/job/stop", {"job_id": "20990101"})
    assert answer["retcode"] == 102 and "20990101" in answer["retmsg"]
    answer = server.post("/v1/job/config", {"job_id": "20990101"})
    assert answer["retcode"] == 101
    response = requests.post(f"{server.url}/v1/job/log/download", json={"job_id": "20990101"}, timeout=10)
    assert response.status_code == 404 and response.json()["retcode"] == 404


def test_table_delete(server: ServerProcess):
    first = upload_multipart(server, CONF, DATA / "breast_hetero_guest.csv").json()
    server.wait_job(first["jobId"])
    answer = server.post("/v1/table/delete", {"namespace": "experiment", "table_name": "t1"})
    assert answer["retcode"] == 0
    assert server.post("/v1/table/table_info", {"namespace": "experiment", "table_name": "t1"})["data"]["exist"] == 0
    assert not (server.home / "data" / "tables" / "experiment" / "t1").exists()
    again = server.post("/v1/table/delete", {"namespace": "experiment", "table_name": "t1"})
    assert again["retcode"] == 101 and again["retmsg"] == "no find table"  # FATE's exact answer


def test_upload_options_extend_sid_and_no_head(server: ServerProcess, tmp_path: Path):
    csv = tmp_path / "plain.csv"
    csv.write_text("a;1.50;x\nb;2;y\n")
    conf = {**CONF, "head": 0, "id_delimiter": ";", "extend_sid": 1, "auto_increasing_sid": 1,
            "table_name": "plain", "partition": 2}
    answer = upload_multipart(server, conf, csv).json()
    assert server.wait_job(answer["jobId"])["f_status"] == "success"
    info = server.post("/v1/table/table_info", {"namespace": "experiment", "table_name": "plain"})["data"]
    assert info["count"] == 2 and info["extend_sid"] is True and info["partition"] == 2
    assert info["schema"]["sid"] == "sid"
    out = tmp_path / "plain_out.csv"
    env_allows = server.post("/v1/data/download", {"namespace": "experiment", "table_name": "plain",
                                                   "output_path": str(out)})
    assert env_allows["retcode"] == 101 and "allowed_dirs" in env_allows["retmsg"]
    # downloads go to the home's downloads/ folder (a relative path lands there), never elsewhere in the home
    home_root = server.post("/v1/data/download", {"namespace": "experiment", "table_name": "plain",
                                                  "output_path": str(server.home / "out.csv")})
    assert home_root["retcode"] == 101 and "allowed_dirs" in home_root["retmsg"], home_root
    inside = server.home / "downloads" / "out.csv"
    answer = server.post("/v1/data/download", {"namespace": "experiment", "table_name": "plain",
                                               "output_path": "out.csv"})
    assert server.wait_job(answer["jobId"])["f_status"] == "success"
    assert inside.read_text().splitlines() == ["0;a;1.50;x", "1;b;2;y"]  # no header: the file had none


def test_query_string_conf_is_json(server: ServerProcess):
    """The CLI sends the conf as URL-encoded JSON with the file as typed; the server's copy is used."""
    conf = {**CONF, "file": "relative/as/typed.csv", "verbose": 0, "conf_path": "upload.json", "drop": 0}
    answer = upload_multipart(server, conf, DATA / "breast_hetero_guest.csv").json()
    assert answer["retcode"] == 0
    job_conf = server.post("/v1/job/config", {"job_id": answer["jobId"]})["data"]
    params = job_conf["runtime_conf"]["component_parameters"]["role"]["local"]["0"]["upload_0"]
    assert params["file"].startswith(str(server.home)), json.dumps(params)


def test_interrupted_upload_fails_its_job_and_creates_no_table(server: ServerProcess):
    """The job starts converting while the file arrives; a client that breaks off fails it cleanly."""
    import socket
    from urllib.parse import quote

    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.csv\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    rows = b"id,x0,x1\n" + b"".join(f"{i},{i}.5,{i % 7}\n".encode() for i in range(20000))
    request = (f"POST /v1/data/upload?{quote(json.dumps({**CONF, 'table_name': 'cut'}))} HTTP/1.1\r\n"
               f"Host: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
               f"Content-Length: {len(head) + len(rows) * 10}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.http_port)) as sock:
        sock.sendall(request + head + rows)  # a tenth of what was announced, then the client is gone
    deadline = time.time() + 20
    jobs = []
    while time.time() < deadline and not jobs:
        jobs = server.post("/v1/job/list/job", {})["data"]["jobs"]
    assert len(jobs) == 1, jobs
    job = server.wait_job(jobs[0]["job_id"])
    assert job["f_status"] == "failed" and "did not complete" in job["f_error"], job
    assert server.post("/v1/table/table_info", {"namespace": "experiment", "table_name": "cut"})["data"]["exist"] == 0
    assert not (server.home / "data" / "tables" / "experiment" / "cut").exists()
