"""What a partner may make this party do, on two real servers (guest 9999 initiates, host 10000 decides) with
the real ``flow privilege`` CLI: a Reader at the host needs the table granted (refused at submit, naming the
host, the component and the table, with nothing left running; runs once granted; refused again once the
grant is deleted); components that write tables or files at the host are refused whatever is granted; a
parameter update is checked like a submit; a standalone server (every party its own) needs no grant."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import DATA, FlowCLI, ServerProcess, database_env, start_parties, upload_multipart

GUEST, HOST = 9999, 10000
HOST_TABLE = {"namespace": "experiment", "name": "breast_hetero_host"}
GUEST_TABLE = {"namespace": "experiment", "name": "breast_hetero_guest"}
READER_DSL = {"components": {"reader_0": {"module": "Reader", "output": {"data": ["data"]}}}}
EVERYTHING = {"party_id": GUEST, "component": "*", "dataset": "*", "role": "*"}


def _conf(host_params: dict, guest_params: dict | None = None) -> dict:
    return {"dsl_version": 2, "initiator": {"role": "guest", "party_id": GUEST},
            "role": {"guest": [GUEST], "host": [HOST]},
            "component_parameters": {"role": {"guest": {"0": guest_params or {"reader_0": {"table": GUEST_TABLE}}},
                                              "host": {"0": host_params}}}}


READER_CONF = _conf({"reader_0": {"table": HOST_TABLE}})


def _upload(server: ServerProcess, table: dict) -> None:
    conf = {"namespace": table["namespace"], "table_name": table["name"], "head": 1, "partition": 1}
    answer = upload_multipart(server, conf, DATA / f"{table['name']}.csv").json()
    assert answer["retcode"] == 0, answer
    assert server.wait_job(answer["jobId"])["f_status"] == "success"


@pytest.fixture(scope="module")
def module_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """The conftest's server_factory for a whole module: one guest and one host serve every test here."""
    root = tmp_path_factory.mktemp("permissions")
    started: list[ServerProcess] = []

    def start(engine: str = "sqlite", name: str = "party", env: dict | None = None, **options) -> ServerProcess:
        server = ServerProcess(root / name, {**database_env(engine), **(env or {})}, **options).start()
        started.append(server)
        return server

    start.root = root  # where the servers' homes are (start_parties puts each party's keys there)
    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def parties(module_servers) -> tuple[ServerProcess, ServerProcess]:
    servers = start_parties(module_servers, [str(GUEST), str(HOST)])
    guest, host = servers[str(GUEST)], servers[str(HOST)]
    _upload(guest, GUEST_TABLE)
    _upload(host, HOST_TABLE)
    return guest, host


@pytest.fixture(autouse=True)
def no_grants_left(parties) -> Iterator[None]:
    """Each test starts from the host's defaults (nothing granted to the guest)."""
    _, host = parties
    yield
    answer = host.post("/v1/permission/delete", EVERYTHING)
    assert answer["retcode"] == 0 and answer["data"] == {"component": [], "dataset": [], "role": []}, answer


def _flow(cli: FlowCLI, server: ServerProcess, *args: str) -> dict:
    # the CLI keeps its server in one settings file: point it at this server right before each command
    cli.init(server)
    return cli.run(*args)


def _conf_file(tmp_path: Path, name: str, content: dict) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(content))
    return str(path)


def _refused(guest: ServerProcess, host: ServerProcess, dsl: dict, conf: dict) -> tuple[str, str]:
    """Submit at the guest, expect the host's refusal; nothing of the job runs anywhere. The job id and the
    message."""
    submitted = guest.post("/v1/job/submit", {"job_dsl": dsl, "job_runtime_conf": conf})
    assert submitted["retcode"] == 103, submitted
    message = submitted["retmsg"]
    assert f"host {HOST}: permission denied: party {GUEST} may not make host {HOST}" in message, message
    job_id = submitted["data"]["job_id"]
    assert host.post("/v1/job/query", {"job_id": job_id})["data"] == []  # the host created nothing
    assert host.post("/v1/job/task/query", {"job_id": job_id}).get("data") in (None, [])
    # the guest's own row, if its create went through, is failed and none of its tasks started
    rows = guest.post("/v1/job/query", {"job_id": job_id})["data"]
    assert all(row["f_status"] == "failed" for row in rows), rows
    tasks = guest.post("/v1/job/task/query", {"job_id": job_id}).get("data") or []
    assert all(t["f_party_status"] == "waiting" and not t["f_run_pid"] for t in tasks), tasks
    return job_id, message


def _runs(guest: ServerProcess, host: ServerProcess, dsl: dict, conf: dict) -> str:
    submitted = guest.post("/v1/job/submit", {"job_dsl": dsl, "job_runtime_conf": conf})
    assert submitted["retcode"] == 0, submitted
    job_id = submitted["jobId"]
    assert guest.wait_job(job_id, timeout=60)["f_status"] == "success"
    assert host.wait_job(job_id, timeout=30)["f_status"] == "success"
    return job_id


def test_a_table_the_host_reads_for_the_guest_must_be_granted(parties, flow_cli: FlowCLI, tmp_path: Path):
    guest, host = parties
    job_id, message = _refused(guest, host, READER_DSL, READER_CONF)
    assert "read table experiment.breast_hetero_host in component reader_0 (Reader): not granted" in message
    # the guest had created its part: it is failed (tagged submit_failed), its Reader never started
    assert [row["f_status"] for row in guest.post("/v1/job/query", {"job_id": job_id})["data"]] == ["failed"]
    assert "flow privilege grant -c conf.json" in message
    hint = json.loads(message.split("(conf.json: ", 1)[1].rstrip(")"))
    assert hint == {"party_id": GUEST, "dataset": [HOST_TABLE]}

    grant = {"party_id": GUEST, "component": "reader,hetero_feature_binning", "dataset": [HOST_TABLE]}
    answer = _flow(flow_cli, host, "privilege", "grant", "-c", _conf_file(tmp_path, "grant.json", grant))
    assert answer["retcode"] == 101 and "component 'hetero_feature_binning' is not provided" in answer["retmsg"], answer
    grant["component"] = "Reader"
    answer = _flow(flow_cli, host, "privilege", "grant", "-c", _conf_file(tmp_path, "grant.json", grant))
    assert answer["retcode"] == 0, answer
    granted = {"component": ["reader"], "dataset": [HOST_TABLE], "role": []}
    assert _flow(flow_cli, host, "privilege", "query", "-p", str(GUEST))["data"] == granted
    # a grant is idempotent
    assert _flow(flow_cli, host, "privilege", "grant", "-c", str(tmp_path / "grant.json"))["data"] == granted

    job_id = _runs(guest, host, READER_DSL, READER_CONF)
    tables = host.post("/v1/tracking/component/output/data/table",
                       {"job_id": job_id, "role": "host", "party_id": HOST, "component_name": "reader_0"})
    assert tables["retcode"] == 0 and tables["data"], tables

    # the component list is explicit now: a TestModule at the host is no longer among what the guest may run
    dsl = {"components": {**READER_DSL["components"], "test_0": {"module": "TestModule"}}}
    _, message = _refused(guest, host, dsl, READER_CONF)
    assert "run component test_0 (TestModule): not among the components granted (reader)" in message

    answer = _flow(flow_cli, host, "privilege", "delete", "-c", str(tmp_path / "grant.json"))
    assert answer["retcode"] == 0, answer
    assert _flow(flow_cli, host, "privilege", "query", "-p", str(GUEST))["data"] == {
        "component": [], "dataset": [], "role": []}
    assert "read table experiment.breast_hetero_host" in _refused(guest, host, READER_DSL, READER_CONF)[1]


@pytest.mark.parametrize(("dsl", "host_params", "access"), [
    ({"components": {"upload_0": {"module": "Upload"}}},
     {"upload_0": {"file": "/etc/hostname", "namespace": "experiment", "name": "planted"}},
     "run component upload_0 (Upload): it would write table experiment.planted"),
    ({"components": {"download_0": {"module": "Download"}}},
     {"download_0": {"output_path": "/tmp/exfiltrated.csv", **HOST_TABLE}},
     "run component download_0 (Download): it would write the file /tmp/exfiltrated.csv"),
    ({"components": {**READER_DSL["components"],
                     "writer_0": {"module": "Writer", "input": {"data": {"data": ["reader_0.data"]}}}}},
     {"reader_0": {"table": HOST_TABLE},
      "writer_0": {"output_namespace": "experiment", "output_name": "breast_hetero_host"}},
     "run component writer_0 (Writer): it would write table experiment.breast_hetero_host"),
], ids=["upload", "download", "writer"])
def test_components_writing_at_the_host_are_refused_whatever_is_granted(parties, dsl: dict, host_params: dict,
                                                                         access: str):
    guest, host = parties
    assert host.post("/v1/permission/grant", EVERYTHING)["retcode"] == 0
    guest_params = {name: {"need_run": False, **params} for name, params in host_params.items()}
    _, message = _refused(guest, host, dsl, _conf(host_params, guest_params))
    assert access in message and "whatever is granted" in message, message
    assert "flow privilege grant" not in message  # no grant would allow it


def test_a_parameter_update_is_checked_like_a_submit(parties):
    guest, host = parties
    assert host.post("/v1/permission/grant", {"party_id": GUEST, "dataset": [HOST_TABLE]})["retcode"] == 0
    job_id = _runs(guest, host, READER_DSL, READER_CONF)
    update = {"job_id": job_id, "component_parameters": {"role": {"host": {"0": {"reader_0": {"table": GUEST_TABLE}}}}}}
    answer = guest.post("/v1/job/parameter/update", update)
    assert answer["retcode"] == 103, answer
    assert f"host {HOST}: permission denied: party {GUEST}" in answer["retmsg"], answer
    assert "read table experiment.breast_hetero_guest in component reader_0 (Reader)" in answer["retmsg"], answer
    [row] = host.post("/v1/job/query", {"job_id": job_id, "role": "host"})["data"]
    host_conf = row["f_runtime_conf"]["component_parameters"]["role"]["host"]["0"]
    assert host_conf["reader_0"]["table"] == HOST_TABLE  # the host kept what it had
    [row] = guest.post("/v1/job/query", {"job_id": job_id, "role": "guest"})["data"]
    guest_view = row["f_runtime_conf"]["component_parameters"]["role"]["host"]["0"]
    assert guest_view["reader_0"]["table"] == HOST_TABLE  # and so did the guest: every party checks first
    # the same update with the table granted is taken
    assert host.post("/v1/permission/grant", {"party_id": GUEST, "dataset": [GUEST_TABLE]})["retcode"] == 0
    assert guest.post("/v1/job/parameter/update", update)["retcode"] == 0


def test_bad_grants_answer_101_naming_the_field_and_store_nothing(parties):
    _, host = parties
    for body, field in (({"party_id": "nine", "component": "*"}, "party_id"),
                        ({"party_id": GUEST, "dataset": [{"namespace": "../etc", "name": "x"}]},
                         "dataset[0].namespace"),
                        ({"party_id": GUEST, "dataset": [HOST_TABLE], "role": "boss"}, "role 'boss'")):
        answer = host.post("/v1/permission/grant", body)
        assert answer["retcode"] == 101 and field in answer["retmsg"], answer
    assert host.post("/v1/permission/query", {"party_id": str(GUEST)})["data"] == {
        "component": [], "dataset": [], "role": []}


def test_a_role_the_host_did_not_agree_to_play_is_refused(parties):
    guest, host = parties
    assert host.post("/v1/permission/grant", {"party_id": GUEST, "role": "guest", "dataset": "*"})["retcode"] == 0
    _, message = _refused(guest, host, READER_DSL, READER_CONF)
    assert "play host (it agreed to play only guest)" in message and '"role": "host"' in message, message


def test_a_standalone_server_needs_no_grants(server_factory):
    server = server_factory()  # the shipped configuration: one server plays every party
    _upload(server, GUEST_TABLE)
    _upload(server, HOST_TABLE)
    dsl = {"components": {**READER_DSL["components"], "test_0": {"module": "TestModule"}}}
    submitted = server.post("/v1/job/submit", {"job_dsl": dsl, "job_runtime_conf": READER_CONF})
    assert submitted["retcode"] == 0, submitted
    assert server.wait_job(submitted["jobId"], timeout=60)["f_status"] == "success"


def test_a_rerun_is_checked_like_a_submit(parties):
    """A grant taken back after a job ran: rerunning that job is refused at the host, naming the table."""
    guest, host = parties
    assert host.post("/v1/permission/grant", {"party_id": GUEST, "dataset": [HOST_TABLE]})["retcode"] == 0
    job_id = _runs(guest, host, READER_DSL, READER_CONF)
    assert host.post("/v1/permission/delete", {"party_id": GUEST, "dataset": [HOST_TABLE]})["retcode"] == 0
    answer = guest.post("/v1/job/rerun", {"job_id": job_id, "force": True})
    assert answer["retcode"] == 103 and "breast_hetero_host" in answer["retmsg"], answer
    [row] = host.post("/v1/job/query", {"job_id": job_id, "role": "host"})["data"]
    assert row["f_status"] == "success"  # nothing ran again at the host

